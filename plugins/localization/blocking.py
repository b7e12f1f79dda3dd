"""JPEG blocking-grid inconsistency (BLK): where is the 8×8 block artifact grid missing or shifted?

Every JPEG save leaves weak discontinuities on its 8×8 grid. Li, Yuan and Yu (2009) extract this
block artifact grid (BAG) from second-order luma differences and score each block by how much
stronger the grid is inside the block than on its own borders: a region pasted from another image,
resized or retouched after the last save carries no grid, or a shifted one, and stands out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from plugins.localization.common import SCORE_MEANING, blocks, expand_blocks, map_score, media_luminance, normalize
from workbench.core.media import Media
from workbench.core.plugin import Analyzer, RunContext, param
from workbench.core.results import Heatmap

MIN_GRID_CONTRAST = 1.25
"""Below this, the image carries no usable JPEG grid (measured: PNG original 1.02, JPEG resized after
its last save 0.98, quality 95 1.09; quality 90 → 1.9, quality 60 → 2.2)."""

MEDIAN_GROUP = 6
"""Positions whose running medians are selected together (see `_median_along_rows`)."""

STUDIO_SWING = 219.0 / 255.0
"""The toolbox takes Y from MATLAB's rgb2ycbcr (studio swing); the edge threshold is on that scale."""


@dataclass
class BlkParams:
    accumulator: int = param(
        33,
        "Accumulator length",
        "pixels summed along each grid line (even values are rounded up); longer is steadier but blurs small regions",
        min=9,
        max=129,
    )
    edge_threshold: float = param(
        50.0,
        "Edge threshold",
        "second differences above this (studio-swing grey levels) are real edges and ignored",
        min=1.0,
        max=255.0,
    )


def _running_median(values: np.ndarray, length: int, axis: int, line_step: int = 1) -> np.ndarray:
    """Median over `length` consecutive values along `axis`, mirrored at the ends (MATLAB medfilt2
    'symmetric').

    With `line_step` > 1 the median is taken on every step-th line across `axis` only and
    interpolated linearly in between: exact enough where the values are already smoothed that way.
    """
    across = values.shape[1 - axis]
    picked = np.arange(across)
    if line_step > 1 and across > 2 * line_step:
        picked = np.unique(np.r_[0:across:line_step, across - 1])
    lines = np.take(values, picked, axis=1 - axis)
    sparse = _median_along_rows(np.ascontiguousarray(lines.T if axis == 0 else lines), length)
    sparse = sparse.T if axis == 0 else sparse
    return sparse if len(picked) == across else _interpolate(sparse, picked, across, 1 - axis)


def _median_along_rows(rows: np.ndarray, length: int) -> np.ndarray:
    """Running median (odd `length`) along each row of a 2-D array, mirrored at the ends.

    The windows of `group` consecutive positions share length − group + 1 values, sorted once per
    group: the smallest half − group + 1 of them lie below each of these windows' medians and the
    ones past the middle above, so each median is the middle of the shared run's `group` middle
    values (sorted) and the window's own group − 1 values (sorted by a small network): the
    group-th smallest of two sorted lists, min over splits of the larger end. Same result as a
    partition of every window, ~3× faster.
    """
    half = length // 2
    group = min(MEDIAN_GROUP, half + 1)
    n, size = rows.shape
    shared, own = length - group + 1, group - 1
    groups = -(-size // group)
    padded = np.pad(rows, ((0, 0), (half, half + groups * group - size)), mode="symmetric")
    others = np.array([[p for p in range(j, j + length) if not own <= p < own + shared] for j in range(group)])
    out = np.empty((n, groups, group), rows.dtype)
    chunk = max(1, 2**20 // (groups * group * rows.itemsize))  # ~1 MB per value plane
    for top in range(0, n, chunk):
        spans = sliding_window_view(padded[top : top + chunk], group + length - 1, axis=1)[:, ::group]
        middle = np.sort(spans[..., own : own + shared], axis=-1)[..., half - own : half + 1]
        mine = [spans[..., others[:, k]] for k in range(own)]
        for sweep in range(own):  # odd-even transposition sort of each window's own values
            for k in range(sweep % 2, own - 1, 2):
                low = np.minimum(mine[k], mine[k + 1])
                np.maximum(mine[k], mine[k + 1], out=mine[k + 1])
                mine[k] = low
        best = np.repeat(middle[..., own:], group, axis=-1)  # all shared: its group-th smallest
        for taken in range(1, group):  # `taken` from the shared run, group − taken of the window's own
            np.minimum(best, np.maximum(middle[..., taken - 1 : taken], mine[own - taken]), out=best)
        out[top : top + chunk] = best
    return out.reshape(n, -1)[:, :size]


def _interpolate(sparse: np.ndarray, picked: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Linear interpolation along `axis` from the lines `picked` (increasing, ending at size − 1)."""
    right = np.clip(np.searchsorted(picked, np.arange(size), side="right"), 1, len(picked) - 1)
    left = right - 1
    t = ((np.arange(size) - picked[left]) / (picked[right] - picked[left])).astype(np.float32)
    t = t[None, :] if axis == 1 else t[:, None]
    out = np.take(sparse, left, axis=axis)
    out *= 1 - t
    right_part = np.take(sparse, right, axis=axis)
    right_part *= t
    out += right_part
    return out


def _grid_lines(luma: np.ndarray, axis: int, accumulator: int, threshold: float) -> np.ndarray:
    """Block artifact grid of the lines across `axis` (0: horizontal lines, where a JPEG block
    border lies between rows): second difference along `axis` (real edges above `threshold`
    dropped), summed across it over `accumulator` pixels, minus its running median along `axis`
    (removes the image content), then the median of the values 8 and 16 pixels before and after
    along `axis` (keeps what repeats every 8 pixels).
    """
    kernel = np.array([-1.0, 2.0, -1.0], np.float32)[:, None]
    second = cv2.filter2D(luma, -1, kernel if axis == 0 else kernel.T, borderType=cv2.BORDER_REPLICATE)
    cv2.threshold(np.abs(second, out=second), threshold, 0.0, cv2.THRESH_TOZERO_INV, dst=second)
    box = (accumulator, 1) if axis == 0 else (1, accumulator)
    summed = cv2.boxFilter(second, -1, box, normalize=False, borderType=cv2.BORDER_REFLECT)
    # `summed` is a box sum over `accumulator` pixels across `axis`, so its running median barely
    # changes between neighbouring lines: taking it on every 4th line (33-pixel accumulator) and
    # interpolating cuts the costliest step ~4× (toolbox SSIM 1.000 → 0.997)
    excess = cv2.subtract(summed, _running_median(summed, accumulator, axis, max(1, accumulator // 8)), dst=summed)
    pad = [(0, 0), (0, 0)]
    pad[axis] = (16, 16)
    shifted = np.pad(excess, pad, mode="symmetric")
    n = luma.shape[axis]
    return _median5(*(shifted[k : k + n] if axis == 0 else shifted[:, k : k + n] for k in range(0, 33, 8)))


def _median5(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Element-wise median of five arrays with a min/max network (much faster than np.median), in
    three output-sized buffers."""
    low, high, out = cv2.min(a, b), cv2.max(a, b), cv2.min(c, d)
    cv2.max(low, out, dst=low)  # max(min(a, b), min(c, d))
    cv2.min(high, cv2.max(c, d, dst=out), dst=high)  # min(max(a, b), max(c, d))
    cv2.min(low, high, dst=out)
    cv2.min(cv2.max(low, high, dst=low), e, dst=low)
    return cv2.max(out, low, dst=out)


def block_artifact_grid(luma: np.ndarray, accumulator: int = 33, threshold: float = 50.0) -> np.ndarray:
    """The BAG image: horizontal plus vertical grid lines, same shape as `luma` (float32)."""
    luma = np.asarray(luma, dtype=np.float32)
    rows = _grid_lines(luma, 0, accumulator, threshold)
    return cv2.add(rows, _grid_lines(luma, 1, accumulator, threshold), dst=rows)


def block_values(grid: np.ndarray) -> np.ndarray:
    """Per 8×8 block: strongest inner line minus weakest border line, rows plus columns.

    Aligned JPEG blocks have their grid lines on the block border, so the value is low (negative);
    a block without a grid, or with one shifted inside it, scores high. Partial blocks are zero-padded.
    """
    h, w = grid.shape
    padded = np.pad(grid, ((0, -h % 8), (0, -w % 8)))
    tiles = blocks(padded, 8)
    inner = tiles[:, :, 1:7, 1:7]
    column_lines = inner.sum(axis=2).max(axis=-1) - tiles[:, :, 1:7, [0, 7]].sum(axis=2).min(axis=-1)
    row_lines = inner.sum(axis=3).max(axis=-1) - tiles[:, :, [0, 7], 1:7].sum(axis=3).min(axis=-1)
    return column_lines + row_lines


class BlockingAnalyzer(Analyzer):
    id = "blk"
    title = "JPEG blocking-grid inconsistency (BLK)"
    version = "1.0"
    Params = BlkParams
    card_file = Path(__file__).with_name("blocking.md")

    def run(self, media: Media, params: BlkParams, ctx: RunContext) -> Heatmap:
        accumulator = params.accumulator | 1
        ctx.progress(0.1, "luma")
        luma = media_luminance(media) * STUDIO_SWING
        ctx.check_cancelled()
        ctx.progress(0.2, "extracting the block artifact grid")
        grid = block_artifact_grid(luma, accumulator, params.edge_threshold)
        ctx.check_cancelled()
        ctx.progress(0.9, "scoring blocks")
        values = block_values(grid)
        heat = expand_blocks(normalize(values, 0.1, 99.9), 8, (media.height, media.width))
        contrast = grid_contrast(grid)
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            message=(
                f"no clear 8×8 JPEG grid (grid contrast {contrast:.2f}): never compressed, resized or saved "
                "at very high quality; this map is noise"
                if contrast < MIN_GRID_CONTRAST
                else ""
            ),
            score=map_score(heat),
            score_meaning=f"{SCORE_MEANING}; grid_contrast says whether the image has a JPEG grid at all",
            map=heat,
            legend_low="strong 8×8 JPEG grid aligned with the file's blocks",
            legend_high="grid missing or shifted (candidate pasted, resized or retouched region)",
            stats={
                "grid_contrast": round(contrast, 3),
                "block_value_median": round(float(np.median(values)), 2),
                "block_value_p99": round(float(np.percentile(values, 99)), 2),
            },
        )


def grid_contrast(grid: np.ndarray) -> float:
    """Mean BAG magnitude on block-border rows/columns (0 and 7 mod 8) over that elsewhere.

    Well above 1 when the image carries an aligned JPEG grid; about 1 when it has none.
    """
    h, w = grid.shape
    rows, cols = np.arange(h) % 8 % 7 == 0, np.arange(w) % 8 % 7 == 0
    if rows.all() or cols.all():
        return 1.0
    energy = np.abs(grid)
    on_rows = energy[rows].sum(axis=0, dtype=np.float64)  # per column, border rows only
    everywhere = energy.sum(axis=0, dtype=np.float64)
    border = on_rows.sum() + (everywhere - on_rows)[cols].sum()
    count = rows.sum() * w + (h - rows.sum()) * cols.sum()
    return float(border / count) / max(float((everywhere.sum() - border) / (h * w - count)), 1e-9)
