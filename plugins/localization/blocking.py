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

from plugins.localization.common import (
    SCORE_MEANING,
    band_rows,
    block_map_score,
    expand_blocks,
    media_luminance,
    normalize,
)
from workbench.api import Analyzer, Heatmap, Media, RunContext, param

MIN_GRID_CONTRAST = 1.25
"""Below this, the image carries no usable JPEG grid (measured: PNG original 1.02, JPEG resized after
its last save 0.98, quality 95 1.09; quality 90 → 1.9, quality 60 → 2.2)."""

MEDIAN_GROUP = 16
"""Neighbouring windows whose running medians are found together (see `_median_program`)."""

MEDIAN_PLANE_BYTES = 1 << 18
"""Bytes per plane of positions in `_median_along_rows`: large enough that numpy's per-call cost is
small against the work, small enough that the network's planes stay in the shared cache."""

GRID_BAND = 64
"""Rows of the grid computed at once (a multiple of 8)."""

EXCESS_BAND_PIXELS = 1 << 18
"""Pixels per band of the filters in `_excess` (cache-sized; bands along the box filter, which read
rows around them, are as large as OpenCV runs serially). The box sums are exact, so bands do not
change them."""

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

    The positions are split by position mod `group` into contiguous planes, so that a group of
    consecutive windows is one column of every plane, and `_median_program`'s min/max network runs
    on whole planes at once (in chunks of rows that stay in cache): the same result as a partition
    of every window, ~12× faster.
    """
    half = length // 2
    group = min(MEDIAN_GROUP, length)
    n, size = rows.shape
    groups, reach = -(-size // group), -(-(length - 1) // group)
    padded = cv2.copyMakeBorder(rows, 0, 0, half, (groups + reach) * group - size - half, cv2.BORDER_REFLECT)
    steps, registers = _median_program(length, group)
    out = np.empty((n, groups, group), rows.dtype)
    chunk = max(1, MEDIAN_PLANE_BYTES // (groups * rows.itemsize))
    scratch = np.empty((registers + group, min(chunk, n), groups), rows.dtype)
    for top in range(0, n, chunk):
        block = padded[top : top + chunk]
        planes = np.ascontiguousarray(block.reshape(len(block), -1, group).transpose(2, 0, 1))
        wires = [planes[p % group, :, p // group : p // group + groups] for p in range(group + length - 1)]
        wires += list(scratch[:, : len(block)])  # the medians, then the registers
        for low, a, b, result in steps:
            (np.minimum if low else np.maximum)(wires[a], wires[b], out=wires[result])
        out[top : top + chunk] = scratch[:group, : len(block)].transpose(1, 2, 0)
    return out.reshape(n, -1)[:, :size]


_LOW, _HIGH = -1, -2
"""Symbolic −∞ and +∞ in `_median_program`'s networks."""


@functools.cache
def _median_program(length: int, group: int) -> tuple[tuple[tuple[bool, int, int, int], ...], int]:
    """The running medians of `group` consecutive windows of odd `length` as min/max steps: (keep the
    minimum?, operand, operand, result) on wires numbered as positions 0 … group + length − 2 of
    their span, then the medians, then the registers; and how many registers.

    A separable sorting network (Adams 2021, in 1-D): m consecutive windows share length − m + 1
    values, of which only the m ranks around the middle can be one of their medians (the ones below
    become −∞, above +∞); each half of the windows merges these with its own extra values, sorted,
    down to single windows. Batcher's odd-even merges; exchanges with ±∞ fold away and what no
    median depends on is dropped: ~33 min/max per median for length 33 (70 with a shared sort of
    6 windows, ~230 for a partition).
    """
    half = length // 2
    ops: dict[tuple[bool, int, int], int] = {}  # (minimum?, operand, operand) → value number

    def op(low: bool, a: int, b: int) -> int:
        identity, absorbing = (_HIGH, _LOW) if low else (_LOW, _HIGH)
        if absorbing in (a, b):
            return absorbing
        if a in (b, identity):
            return b
        if b == identity:
            return a
        return ops.setdefault((low, min(a, b), max(a, b)), group + length - 1 + len(ops))

    def merge(wires: list[int]) -> None:  # Batcher's odd-even merge of the sorted halves, in place
        def exchanges(first: int, count: int, step: int) -> Iterator[tuple[int, int]]:
            if 2 * step < count:
                yield from exchanges(first, count, 2 * step)
                yield from exchanges(first + step, count, 2 * step)
                yield from ((i, i + step) for i in range(first + step, first + count - step, 2 * step))
            else:
                yield first, first + step

        for i, j in exchanges(0, len(wires), 1):
            wires[i], wires[j] = op(True, wires[i], wires[j]), op(False, wires[i], wires[j])

    def merged(first: list[int], second: list[int]) -> list[int]:
        side = 1 << max(0, max(len(first), len(second)) - 1).bit_length()
        wires = first + [_HIGH] * (side - len(first)) + second + [_HIGH] * (side - len(second))
        merge(wires)
        return wires[: len(first) + len(second)]

    def ordered(values: list[int]) -> list[int]:
        if len(values) < 2:
            return values
        return merged(ordered(values[: len(values) // 2]), ordered(values[len(values) // 2 :]))

    def kept(values: list[int], windows: int) -> list[int]:  # the ranks that can be a median
        low, high = half - windows + 1, length - windows
        return [_LOW if rank < low else _HIGH if rank > min(half, high) else v for rank, v in enumerate(values)]

    medians = [0] * group

    def split(first: int, last: int, shared: list[int]) -> None:  # windows first … last − 1
        if last - first == 1:
            medians[first] = shared[half]
            return
        middle = (first + last) // 2
        split(first, middle, kept(merged(shared, ordered(list(range(middle - 1, last - 1)))), middle - first))
        split(middle, last, kept(merged(shared, ordered(list(range(first + length, middle + length)))), last - middle))

    split(0, group, kept(ordered(list(range(group - 1, length))), group))
    return _compiled(ops, medians, group + length - 1)


def _compiled(ops: dict[tuple[bool, int, int], int], results: list[int], inputs: int) -> tuple[
        tuple[tuple[bool, int, int, int], ...], int]:
    """`ops` (values numbered from `inputs` on, in the order made) as the steps that compute `results`
    only: wires 0 … inputs − 1 are the inputs, the next len(results) the results, then registers,
    each reused once the last step that reads its value has run."""
    by_value = {value: key for key, value in ops.items()}
    needed, pending = set(), list(results)
    while pending:
        value = pending.pop()
        if value >= inputs and value not in needed:
            needed.add(value)
            pending += by_value[value][1:]
    last_read = {operand: value for value in sorted(needed) for operand in by_value[value][1:]}
    wire = {value: inputs + i for i, value in enumerate(results)}
    free: list[int] = []
    registers = 0
    steps = []
    for value in sorted(needed):
        low, a, b = by_value[value]
        operands = [wire.get(operand, operand) for operand in (a, b)]
        for operand in {a, b}:
            if last_read.get(operand) == value and operand >= inputs and operand not in results:
                free.append(wire.pop(operand))
        if value not in wire:
            if not free:
                free.append(inputs + len(results) + registers)
                registers += 1
            wire[value] = free.pop()
        steps.append((low, *operands, wire[value]))
    return tuple(steps), registers


def _interpolated(
    medians: np.ndarray, picked: np.ndarray, target: np.ndarray, axis: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(lines of `target` across `axis`, their linear interpolation between the nearest `picked`
    lines' `medians`) until every line is covered. The evenly spaced lines come in runs of whole
    rows of `target` that stay in cache (no image-sized temporaries): along rows, all the rows
    between two median rows at once; along columns, one strided view per offset."""
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
    t = (np.arange(step) / step).astype(np.float32)
    rows = max(1, 2**18 // target.shape[1])  # per run of whole rows (~1 MB)
    if axis == 0:  # every step-th column, one strided view per offset
        for start in range(0, target.shape[0], rows):
            run = slice(start, start + rows)
            before, after = medians[run, :even], medians[run, 1 : even + 1]
            for offset in range(step):
                lines = target[run, offset : step * even : step]
                yield lines, before if offset == 0 else _lerp(before, after, t[offset])  # the same values
    else:  # the rows between two median rows at once, as (intervals, step, width)
        for start in range(0, even, max(1, rows // step)):
            run = slice(start, min(even, start + max(1, rows // step)))
            lines = target[step * run.start : step * run.stop].reshape(-1, step, target.shape[1])
            yield lines, _lerp(medians[run, None], medians[run.start + 1 : run.stop + 1, None], t[:, None])
    for index in range(step * even, target.shape[1 - axis]):  # the last, shorter interval and the last line
        right = min(int(np.searchsorted(picked, index, side="right")), len(picked) - 1)
        t = (index - picked[right - 1]) / (picked[right] - picked[right - 1])
        every = slice(None)
        yield line(target, slice(index, index + 1), every), _lerp(
            line(medians, slice(right - 1, right), every), line(medians, slice(right, right + 1), every), t
        )


def _lerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """a · (1 − t) + b · t in float32 (t rounded to float32 first; an array broadcasts)."""
    t = np.asarray(t, np.float32)
    out = a * (1 - t)
    out += b * t
    return out


def _excess(luma: np.ndarray, axis: int, accumulator: int, threshold: float, scale: float = 1.0) -> np.ndarray:
    """Grid lines across `axis` (0: horizontal lines, where a JPEG block border lies between rows)
    with the image content removed: second difference along `axis` of `luma` × `scale` (real edges
    above `threshold` dropped), summed across it over `accumulator` pixels, minus its running median
    along `axis`. The filters run in bands of rows that stay in cache, each with the rows around it
    that they read: no image-sized temporaries.
    """
    h, w = luma.shape
    kernel = np.array([-1.0, 2.0, -1.0], np.float32)[:, None]
    kernel, box, reach = (kernel, (accumulator, 1), 1) if axis == 0 else (kernel.T, (1, accumulator), accumulator // 2)
    summed = np.empty((h, w), np.float32)
    # bands along the box read `reach` rows around them: fewer, larger ones
    rows = max(1, EXCESS_BAND_PIXELS // w) if reach == 1 else band_rows(w, 1, reach)
    for top in range(0, h, rows):
        bottom = min(h, top + rows)
        lo, hi = max(0, top - reach), min(h, bottom + reach)
        second = cv2.filter2D(luma[lo:hi] * scale, -1, kernel, borderType=cv2.BORDER_REPLICATE)
        cv2.threshold(np.abs(second, out=second), threshold, 0.0, cv2.THRESH_TOZERO_INV, dst=second)
        summed[top:bottom] = cv2.boxFilter(second, -1, box, normalize=False, borderType=cv2.BORDER_REFLECT)[
            top - lo : bottom - lo]
    # `summed` is a box sum over `accumulator` pixels across `axis`, so its running median barely
    # changes between neighbouring lines: taking it on every 4th line (33-pixel accumulator) and
    # interpolating cuts the costliest step ~4× (toolbox SSIM 1.000 → 0.997)
    _subtract_running_median(summed, accumulator, axis, max(1, accumulator // 8))
    return summed


def _grid_bands(
    luma: np.ndarray, accumulator: int, threshold: float, scale: float = 1.0
) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, rows of the BAG image of `luma` × `scale`) in bands of GRID_BAND rows: each line's
    excess keeps what repeats every 8 pixels, the median of the values 8 and 16 pixels before and
    after it across the line (mirrored at the image border); horizontal plus vertical lines. In
    bands, the five shifted copies and the median network stay in cache."""
    luma = np.asarray(luma, dtype=np.float32)
    rows, cols = (_excess(luma, axis, accumulator, threshold, scale) for axis in (0, 1))
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
        luma = media_luminance(media)
        ctx.check_cancelled()
        ctx.progress(0.2, "extracting the block artifact grid")
        h, w = luma.shape
        values = np.empty((-(-h // 8), -(-w // 8)), np.float32)
        energy = _GridEnergy(w)
        for top, band in _grid_bands(luma, accumulator, params.edge_threshold, STUDIO_SWING):
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
