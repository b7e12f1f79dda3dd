"""JPEG blocking-grid inconsistency (BLK): where is the 8×8 block artifact grid missing or shifted?

Every JPEG save leaves weak discontinuities on its 8×8 grid. Li, Yuan and Yu (2009) extract this
block artifact grid (BAG) from second-order luma differences and score each block by how much
stronger the grid is inside the block than on its own borders: a region pasted from another image,
resized or retouched after the last save carries no grid, or a shifted one, and stands out.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from plugins.localization.common import SCORE_MEANING, block_map_score, expand_blocks, media_luminance, normalize
from workbench.core.media import Media
from workbench.core.plugin import Analyzer, RunContext, param
from workbench.core.results import Heatmap

MIN_GRID_CONTRAST = 1.25
"""Below this, the image carries no usable JPEG grid (measured: PNG original 1.02, JPEG resized after
its last save 0.98, quality 95 1.09; quality 90 → 1.9, quality 60 → 2.2)."""

MEDIAN_GROUP = 6
"""Positions whose running medians are selected together (see `_median_along_rows`)."""

GRID_BAND = 64
"""Rows of the grid computed at once (a multiple of 8)."""

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


def _subtract_running_median(values: np.ndarray, length: int, axis: int, line_step: int = 1) -> None:
    """Subtract in place the median over `length` consecutive values along `axis`, mirrored at the
    ends (MATLAB medfilt2 'symmetric').

    With `line_step` > 1 the median is taken on every step-th line across `axis` only and
    interpolated linearly in between: exact enough where the values are already smoothed that way.
    """
    medians, picked = _line_medians(values, length, axis, line_step)
    for lines, median in _interpolated(medians, picked, values, axis):
        np.subtract(lines, median, out=lines)


def _line_medians(values: np.ndarray, length: int, axis: int, line_step: int) -> tuple[np.ndarray, np.ndarray]:
    """The running median along `axis` of every `line_step`-th line across it and of the last one:
    one row of medians per line, and the lines' indices."""
    across = values.shape[1 - axis]
    picked = np.arange(across)
    if line_step > 1 and across > 2 * line_step:
        picked = np.unique(np.r_[0:across:line_step, across - 1])
    lines = np.take(values, picked, axis=1 - axis)
    return _median_along_rows(cv2.transpose(lines) if axis == 0 else lines, length), picked


def _median_along_rows(rows: np.ndarray, length: int) -> np.ndarray:
    """Running median (odd `length`) along each row of a 2-D array, mirrored at the ends.

    The windows of `group` consecutive positions share length − group + 1 values: the smallest
    half − group + 1 of them lie below each of these windows' medians and the ones past the middle
    above, so each median is the group-th smallest of the shared values' `group` middle ones and
    the window's own group − 1 values, both sorted: min over splits of the larger end. Middle and
    own values come from min/max networks run on whole planes of positions at once (values split
    by position mod group, so every plane is contiguous): same result as a partition of every
    window, ~6× faster.
    """
    half = length // 2
    group = min(MEDIAN_GROUP, half + 1)
    n, size = rows.shape
    shared, own = length - group + 1, group - 1
    groups, reach = -(-size // group), -(-(length - 1) // group)
    padded = cv2.copyMakeBorder(rows, 0, 0, half, (groups + reach) * group - size - half, cv2.BORDER_REFLECT)
    others = [[p for p in range(j, j + length) if not own <= p < own + shared] for j in range(group)]
    middle_ranks = tuple(range(half - own, half + 1))
    out = np.empty((n, groups, group), rows.dtype)
    chunk = max(1, 2**18 // (groups * rows.itemsize))  # ~256 kB per plane
    for top in range(0, n, chunk):
        block = padded[top : top + chunk]
        planes = np.ascontiguousarray(block.reshape(len(block), -1, group).transpose(2, 0, 1))
        at = [planes[p % group, :, p // group : p // group + groups] for p in range(group + length - 1)]
        middle = _select(at[own : own + shared], middle_ranks)  # at[p]: position p of every group's span
        for j, positions in enumerate(others):
            mine = _select([at[p] for p in positions], tuple(range(own)))
            best = middle[own].copy()  # all shared: its group-th smallest
            for taken in range(1, group):  # `taken` from the shared run, group − taken of the window's own
                np.minimum(best, np.maximum(middle[taken - 1], mine[own - taken]), out=best)
            out[top : top + chunk, :, j] = best
    return out.reshape(n, -1)[:, :size]


def _select(values: list[np.ndarray], ranks: tuple[int, ...]) -> list[np.ndarray]:
    """Element-wise order statistics of a list of arrays: the arrays of `ranks` (in that order) of
    the values sorted at each position, by the min/max network of `_network`."""
    wires = list(values)
    for i, j, low, high in _network(len(values), ranks):
        a, b = wires[i], wires[j]
        if low:
            wires[i] = np.minimum(a, b)
        if high:
            wires[j] = np.maximum(a, b)
    return [wires[rank] for rank in ranks]


@functools.cache
def _network(size: int, ranks: tuple[int, ...]) -> list[tuple[int, int, bool, bool]]:
    """Compare-exchanges (i, j, keep the min on i, keep the max on j) that put the values of `ranks`
    on those wires: Batcher's odd-even merge sort for the next power of two (the wires past `size`
    hold +∞, so their exchanges do nothing), without what no wanted output depends on."""
    n = 1 << max(0, size - 1).bit_length()
    exchanges = []
    span = 1
    while span < n:
        k = span
        while k >= 1:
            for j in range(k % span, n - k, 2 * k):
                for i in range(j, j + min(k, n - j - k)):
                    if i // (2 * span) == (i + k) // (2 * span) and i + k < size:
                        exchanges.append((i, i + k))
            k //= 2
        span *= 2
    needed, kept = set(ranks), []
    for i, j in reversed(exchanges):
        if i in needed or j in needed:
            kept.append((i, j, i in needed, j in needed))
            needed |= {i, j}
    return kept[::-1]


def _interpolated(
    medians: np.ndarray, picked: np.ndarray, target: np.ndarray, axis: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(lines of `target` across `axis`, their linear interpolation between the nearest `picked`
    lines' `medians`) until every line is covered: the evenly spaced lines as one strided view per
    offset, cut along `axis` into pieces that stay in cache (no image-sized temporaries)."""
    if axis == 0:  # lines are columns: medians as columns too
        medians = cv2.transpose(medians)
    if len(picked) == target.shape[1 - axis]:
        yield target, medians
        return

    def line(array: np.ndarray, index: slice, along: slice) -> np.ndarray:
        return array[index, along] if axis == 1 else array[along, index]

    step = int(picked[1] - picked[0])
    uneven = np.diff(picked) != step
    even = int(np.argmax(uneven)) if uneven.any() else len(picked) - 1  # intervals of `step` lines
    piece = max(1, 2**16 // even)
    for start in range(0, target.shape[axis], piece):
        along = slice(start, start + piece)
        before, after = line(medians, slice(0, even), along), line(medians, slice(1, even + 1), along)
        for offset in range(step):
            yield line(target, slice(offset, step * even, step), along), _lerp(before, after, offset / step)
    for index in range(step * even, target.shape[1 - axis]):  # the last, shorter interval and the last line
        right = min(int(np.searchsorted(picked, index, side="right")), len(picked) - 1)
        t = (index - picked[right - 1]) / (picked[right] - picked[right - 1])
        every = slice(None)
        yield line(target, slice(index, index + 1), every), _lerp(
            line(medians, slice(right - 1, right), every), line(medians, slice(right, right + 1), every), t
        )


def _lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """a · (1 − t) + b · t in float32 (t rounded to float32 first)."""
    t = np.float32(t)
    out = a * (1 - t)
    out += b * t
    return out


def _excess(luma: np.ndarray, axis: int, accumulator: int, threshold: float) -> np.ndarray:
    """Grid lines across `axis` (0: horizontal lines, where a JPEG block border lies between rows)
    with the image content removed: second difference along `axis` (real edges above `threshold`
    dropped), summed across it over `accumulator` pixels, minus its running median along `axis`.
    """
    kernel = np.array([-1.0, 2.0, -1.0], np.float32)[:, None]
    second = cv2.filter2D(luma, -1, kernel if axis == 0 else kernel.T, borderType=cv2.BORDER_REPLICATE)
    cv2.threshold(np.abs(second, out=second), threshold, 0.0, cv2.THRESH_TOZERO_INV, dst=second)
    box = (accumulator, 1) if axis == 0 else (1, accumulator)
    summed = cv2.boxFilter(second, -1, box, normalize=False, borderType=cv2.BORDER_REFLECT)
    # `summed` is a box sum over `accumulator` pixels across `axis`, so its running median barely
    # changes between neighbouring lines: taking it on every 4th line (33-pixel accumulator) and
    # interpolating cuts the costliest step ~4× (toolbox SSIM 1.000 → 0.997)
    _subtract_running_median(summed, accumulator, axis, max(1, accumulator // 8))
    return summed


def _grid_bands(luma: np.ndarray, accumulator: int, threshold: float) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, rows of the BAG image) in bands of GRID_BAND rows: each line's excess keeps what
    repeats every 8 pixels, the median of the values 8 and 16 pixels before and after it across
    the line (mirrored at the image border); horizontal plus vertical lines. In bands, the five
    shifted copies and the median network stay in cache."""
    luma = np.asarray(luma, dtype=np.float32)
    rows, cols = _excess(luma, 0, accumulator, threshold), _excess(luma, 1, accumulator, threshold)
    h, w = luma.shape
    for top in range(0, h, GRID_BAND):
        bottom = min(h, top + GRID_BAND)
        reach = np.arange(top - 16, bottom + 16)
        around = rows[top - 16 : bottom + 16] if top >= 16 and bottom + 16 <= h else rows[_mirrored(reach, h)]
        band = _median5(*(around[k : k + bottom - top] for k in range(0, 33, 8)))
        around = cv2.copyMakeBorder(cols[top:bottom], 0, 0, 16, 16, cv2.BORDER_REFLECT)
        yield top, cv2.add(band, _median5(*(around[:, k : k + w] for k in range(0, 33, 8))), dst=band)


def _mirrored(index: np.ndarray, size: int) -> np.ndarray:
    """Indices past either end reflected back into 0 … size − 1, the edge repeated (numpy 'symmetric')."""
    index = index % (2 * size)
    return np.where(index < size, index, 2 * size - 1 - index)


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
    grid = np.empty(np.shape(luma), np.float32)
    for top, band in _grid_bands(luma, accumulator, threshold):
        grid[top : top + len(band)] = band
    return grid


def block_values(grid: np.ndarray) -> np.ndarray:
    """Per 8×8 block: strongest inner line minus weakest border line, rows plus columns.

    Aligned JPEG blocks have their grid lines on the block border, so the value is low (negative);
    a block without a grid, or with one shifted inside it, scores high. Partial blocks are zero-padded.
    """
    h, w = grid.shape
    padded = np.pad(grid, ((0, -h % 8), (0, -w % 8))) if h % 8 or w % 8 else grid
    rows, cols = padded.shape[0] // 8, padded.shape[1] // 8
    down = _inner_sum(padded.reshape(rows, 8, -1).transpose(1, 0, 2)).reshape(rows, cols, 8)  # column lines
    across = _inner_sum(padded.reshape(-1, cols, 8).transpose(2, 0, 1)).reshape(rows, 8, cols)  # row lines
    column_lines = down[..., 1:7].max(axis=-1) - np.minimum(down[..., 0], down[..., 7])
    row_lines = across[:, 1:7].max(axis=1) - np.minimum(across[:, 0], across[:, 7])
    return column_lines + row_lines


def _inner_sum(lines: np.ndarray) -> np.ndarray:
    """Sum of the inner six of eight stacked lines (1 … 6 along the first axis), added in order:
    what numpy's sum over that axis gives, without its slow loop over six values per output."""
    total = lines[1] + lines[2]
    for k in range(3, 7):
        total += lines[k]
    return total


class BlockingAnalyzer(Analyzer):
    id = "blk"
    title = "JPEG blocking-grid inconsistency (BLK)"
    version = "1.0"
    Params = BlkParams
    card_file = Path(__file__).with_name("blocking.md")
    cost_per_mp = 0.038

    def run(self, media: Media, params: BlkParams, ctx: RunContext) -> Heatmap:
        accumulator = params.accumulator | 1
        ctx.progress(0.1, "luma")
        luma = media_luminance(media) * STUDIO_SWING
        ctx.check_cancelled()
        ctx.progress(0.2, "extracting the block artifact grid")
        h, w = luma.shape
        values = np.empty((-(-h // 8), -(-w // 8)), np.float32)
        energy = _GridEnergy(w)
        for top, band in _grid_bands(luma, accumulator, params.edge_threshold):
            values[top // 8 : (top + len(band) + 7) // 8] = block_values(band)
            energy.add(top, band)
        ctx.check_cancelled()
        ctx.progress(0.9, "scoring blocks")
        shown = normalize(values, 0.1, 99.9)
        contrast = energy.contrast()
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            message=(
                f"no clear 8×8 JPEG grid (grid contrast {contrast:.2f}): never compressed, resized or saved "
                "at very high quality; this map is noise"
                if contrast < MIN_GRID_CONTRAST
                else ""
            ),
            score=block_map_score(shown, 8, (h, w)),
            score_meaning=f"{SCORE_MEANING}; grid_contrast says whether the image has a JPEG grid at all",
            map=expand_blocks(shown, 8, (h, w)),
            legend_low="strong 8×8 JPEG grid aligned with the file's blocks",
            legend_high="grid missing or shifted (candidate pasted, resized or retouched region)",
            stats={
                "grid_contrast": round(contrast, 3),
                "block_value_median": round(float(np.median(values)), 2),
                "block_value_p99": round(float(np.percentile(values, 99)), 2),
            },
        )


class _GridEnergy:
    """BAG magnitude per column, summed over the block-border rows (0 and 7 mod 8) and over all
    rows, accumulated band by band (float64)."""

    def __init__(self, width: int) -> None:
        self.on_rows = np.zeros(width)
        self.everywhere = np.zeros(width)
        self.height = 0

    def add(self, top: int, band: np.ndarray) -> None:
        """Rows top … top + len(band) − 1 of the grid (`top` a multiple of 8)."""
        energy = np.abs(band)
        self.on_rows += energy[np.arange(len(band)) % 8 % 7 == 0].sum(axis=0, dtype=np.float64)
        self.everywhere += energy.sum(axis=0, dtype=np.float64)
        self.height = max(self.height, top + len(band))

    def contrast(self) -> float:
        """Mean BAG magnitude on block-border rows/columns over that elsewhere: well above 1 when the
        image carries an aligned JPEG grid, about 1 when it has none."""
        h, w = self.height, len(self.everywhere)
        rows, cols = np.arange(h) % 8 % 7 == 0, np.arange(w) % 8 % 7 == 0
        if rows.all() or cols.all():
            return 1.0
        border = self.on_rows.sum() + (self.everywhere - self.on_rows)[cols].sum()
        count = rows.sum() * w + (h - rows.sum()) * cols.sum()
        return float(border / count) / max(float((self.everywhere.sum() - border) / (h * w - count)), 1e-9)
