"""Non-aligned double JPEG compression (NADQ): which blocks lack the trace of an earlier, shifted JPEG?

If a JPEG is cropped (or a region is pasted) and saved again, the first compression's 8×8 grid no
longer coincides with the file's grid. DCT coefficients computed on the *first* grid are still
clustered around multiples of its quantisation steps in the untouched area, not in a pasted one.
Bianchi & Piva (2012) find that grid and step by expectation-maximisation on a mixture of
"quantised" and "never quantised" histograms, and map the per-block log-likelihood ratio.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from plugins.localization.common import (
    BLAS_MULTIPLY_ADDS,
    COEFFICIENT_RANGE,
    JPEG_FORMATS,
    JpegLuma,
    band_rows,
    bins_histogram,
    block_bands,
    coefficient_bins,
    dct_matrix,
    expand_blocks,
    idct_bands,
    jpeg_luma,
    luma_quantization,
    map_score,
)
from workbench.api import Analyzer, Heatmap, Media, RunContext, param

CENTER = COEFFICIENT_RANGE
BINS = 2 * COEFFICIENT_RANGE

STANDARD_LUMA_Q50 = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.float64,
)
"""JPEG Annex K luminance table (quality 50): the largest first-compression step tried, unless
the file's own step is larger."""

LLR_SPAN = 64.0
"""Summed 3×3 log-likelihood ratio that saturates the map (≈ 7 nats per block)."""

MODE_ORDER = ((0, 0), (1, 0), (0, 1), (0, 2), (1, 1), (2, 0), (3, 0), (2, 1), (1, 2), (0, 3))
"""Zig-zag order as the reference code indexes it (transposed); the set of modes is the same."""

MAX_STEP = 255
"""The coarsest second-compression step NADQ fits (baseline JPEG's largest): coarser steps, legal only
in 16-bit tables, leave a handful of histogram values to fit, and the models' cost grows with the
step squared (a step of 1000 takes minutes on a thumbnail)."""


@dataclass
class NadqParams:
    modes: int = param(6, "DCT modes", "low-frequency DCT modes (DC first) whose evidence is summed", min=1, max=10)


@dataclass
class _Fit:
    step: int
    alpha: float
    log_likelihood: float


def _quantized_models(calibrated: np.ndarray, steps: np.ndarray, bias: float, sigma: float) -> np.ndarray:
    """P(value | quantised with step q by the first compression), per bin, for each q in `steps`:
    (len(steps), bins).

    The never-quantised histogram (from a grid one pixel off) is integrated over each step-wide
    cell and put on the multiples of the step, then blurred by the second quantisation and the
    rounding noise (Gaussian, std `sigma`, offset `bias`); Laplace-corrected. All steps at once: the
    cell sums from cumulative sums (exact: counts and halves), the blur in one filter.
    """
    n = calibrated.sum()
    row, center, half, even = _cells(tuple(int(step) for step in steps))
    span = int(half.max()) + 1
    padded = np.zeros(BINS + 2 * span)
    padded[span:-span] = calibrated
    cumulative = np.zeros(padded.size + 1)
    np.cumsum(padded, out=cumulative[1:])
    at = center + span
    mass = cumulative[at + half + 1] - cumulative[at - half]  # the counts in [bin − half, bin + half]
    mass -= np.where(even, 0.5 * (padded[at - half] + padded[at + half]), 0.0)  # even steps: half the ends
    models = np.zeros((len(steps), BINS))
    models[row, center] = mass
    reach = int(np.ceil(3 * sigma))
    taps = np.arange(reach, -reach - 1, -1)  # reversed: OpenCV correlates
    blur = np.exp(-((taps + bias) ** 2) / sigma**2 / 2)
    models = cv2.sepFilter2D(models, -1, blur, np.ones(1), anchor=(reach, 0), borderType=cv2.BORDER_CONSTANT)
    models /= models.sum(axis=1, keepdims=True)
    return (models * n + 1) / (n + BINS)


@functools.lru_cache(maxsize=64)
def _cells(steps: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """The cells of `_quantized_models`, flattened over the steps: the row (step) and centre bin of
    every multiple of each step within the bins, its half width, whether the step is even."""
    centers = [np.arange(CENTER % step, BINS, step) for step in steps]
    row = np.repeat(np.arange(len(steps)), [c.size for c in centers])
    step = np.asarray(steps)[row]
    cells = row, np.concatenate(centers), step // 2, step % 2 == 0
    for array in cells:
        array.setflags(write=False)
    return cells


@dataclass
class _Calibration:
    """The models one calibration grid gives: never quantised, and quantised with each candidate step."""

    steps: np.ndarray
    single: np.ndarray
    quantized: np.ndarray
    """(len(steps), bins)"""

    @staticmethod
    def of(calibrated: np.ndarray, steps: np.ndarray, bias: float, sigma: float) -> _Calibration:
        """From the calibration grid's histogram."""
        single = (calibrated + 1) / (calibrated.sum() + BINS)
        return _Calibration(steps, single, _quantized_models(calibrated, steps, bias, sigma))


def _fit_first_step(counts: np.ndarray, models: _Calibration) -> tuple[_Fit, int]:
    """EM fit of α·P(never quantised) + (1 − α)·P(quantised with step q), for every candidate q.

    Returns the best fit (highest log-likelihood seen, as in the reference code: at most 20
    rounds, stopping once the best fit improves by less than 5) and the index of its step.
    """
    steps = models.steps
    used = np.flatnonzero(counts)
    weights = counts[used]
    h0 = models.single[used]
    h1 = np.take(models.quantized, used, axis=1)
    alpha = np.full(len(steps), 0.95)
    previous = np.full(len(steps), -np.inf)
    best, best_index = _Fit(int(steps[0]), 0.95, -np.inf), 0
    improvement = np.inf
    single, mixture, logs = np.empty(h1.shape), np.empty(h1.shape), np.empty(h1.shape)
    _mix(h0, h1, alpha, single, mixture)
    for _ in range(20):
        if improvement <= 5:
            break
        alpha = np.divide(single, mixture, out=single) @ weights / weights.sum()
        _mix(h0, h1, alpha, single, mixture)
        likelihood = cv2.log(mixture, logs) @ weights  # OpenCV's log: 5× faster than numpy's, within an ulp
        running = np.maximum.accumulate(np.concatenate(([best.log_likelihood], likelihood)))[:-1]
        new_best = likelihood > running
        if new_best.any():
            improvement = min(improvement, float(np.min((likelihood - previous)[new_best])))
            best_index = int(np.argmax(likelihood))
            best = _Fit(int(steps[best_index]), float(alpha[best_index]), float(likelihood[best_index]))
        previous = likelihood
    return best, best_index


def _mix(h0: np.ndarray, h1: np.ndarray, alpha: np.ndarray, single: np.ndarray, mixture: np.ndarray) -> None:
    """α·h0 into `single` and α·h0 + (1 − α)·h1 into `mixture`, per step: the EM update's numerator and
    denominator, the latter also the mixture whose likelihood the round reports (computed once)."""
    a = alpha[:, None]
    np.multiply(a, h0, out=single)
    np.multiply(1 - a, h1, out=mixture)
    mixture += single


def _calibration_phase(phase: int) -> int:
    """A grid one pixel off the candidate, toward the block's middle (never the aligned grid)."""
    return phase + 1 if phase < 4 else phase - 1


def _shifted_coefficients(padded: np.ndarray, row: int, col: int) -> np.ndarray:
    """DCT coefficient (row, col) of the 8×8 block starting at every pixel of the image in `padded`
    (`_decompressed`: its zeros stand beyond the edge), float32, the image's shape.

    filter2D in bands of rows below OpenCV's threading threshold (SERIAL_PIXELS): the same values
    as one filter2D of the image with a zero border, for less CPU time.
    """
    height = padded.shape[0] - 8
    out = np.empty(padded.shape, np.float32)
    rows = band_rows(padded.shape[1], 8, 4)
    for top in range(0, height, rows):
        end = min(top + rows, height) + 7  # the band's last block reaches 7 rows further
        cv2.filter2D(padded[top:end], -1, _basis(row, col), dst=out[top:end], anchor=(0, 0),
                     borderType=cv2.BORDER_CONSTANT)  # its last 7 rows: overwritten by the next band
    return out[:height, :-8]


def _basis(row: int, col: int) -> np.ndarray:
    d = dct_matrix(8)
    return np.outer(d[row], d[col]).astype(np.float32)


KERNELS_PER_PRODUCT = 7
"""At most this many kernels (and at least 2) per matrix product in `_phase_coefficients`: the
product shapes for which OpenBLAS's sgemm kernels add as filter2D does (8 to 12 columns do so only
for some row counts, 16 and more never, 1 goes to another routine)."""


def _phase_coefficients(padded: np.ndarray, phase: tuple[int, int], modes: Sequence[tuple[int, int]]) -> np.ndarray:
    """`_shifted_coefficients` of each of `modes` on one grid only, the 8×8 blocks starting at
    `phase` + 8·(i, j): (len(modes), rows, cols) float32, for 1/64 of filter2D's work. `padded`:
    the pixels (8·rows × 8·cols) followed by 8 rows and columns of zeros, where blocks reach past.

    The same values up to float32 rounding, bit for bit with the OpenBLAS kernels measured: filter2D
    adds the 64 products of a pixel one after another with fused multiply-adds, in kernel order, and
    so do OpenBLAS's sgemm kernels for the product of the blocks (one per row, 64 pixels in that
    order) with the flattened kernels (KERNELS_PER_PRODUCT); another CPU's kernels may add in
    another order.
    """
    rows, cols = padded.shape[0] // 8 - 1, padded.shape[1] // 8 - 1
    if not modes:
        return np.empty((0, rows, cols), np.float32)
    kernels = {}  # by the index of their first mode
    for start in range(0, len(modes), KERNELS_PER_PRODUCT):
        group = modes[start : start + KERNELS_PER_PRODUCT]
        kernels[start] = np.zeros((64, max(2, len(group))), np.float32)
        for column, (row, col) in enumerate(group):
            kernels[start][:, column] = _basis(row, col).ravel()
    per_product = BLAS_MULTIPLY_ADDS // (64 * KERNELS_PER_PRODUCT)
    out = np.empty((len(modes), rows * cols), np.float32)
    bands = list(block_bands((rows, cols)))
    band_blocks = max(min(band.stop, rows) - band.start for band in bands) * cols
    blocks = np.zeros((-(-band_blocks // per_product) * per_product, 64), np.float32)
    for band in bands:
        r = min(band.stop, rows) - band.start
        for i in range(r):  # a block row's blocks, each one row of `blocks`: 32-byte rows of 8 pixels transposed
            top = phase[0] + 8 * (band.start + i)
            window = padded[top : top + 8, phase[1] : phase[1] + 8 * cols].reshape(8, cols, 8)
            cv2.transpose(window, dst=blocks[i * cols : (i + 1) * cols].reshape(cols, 8, 8))
        used = -(-r * cols // per_product) * per_product
        for start, columns in kernels.items():
            count = min(KERNELS_PER_PRODUCT, len(modes) - start)
            products = np.matmul(blocks[:used].reshape(-1, per_product, 64), columns).reshape(used, -1)
            out[start : start + count, band.start * cols : band.stop * cols] = products[: r * cols, :count].T
    return out.reshape(len(modes), rows, cols)


def _step_range(qtable: np.ndarray, row: int, col: int) -> np.ndarray:
    q2 = qtable[row, col]
    low = max(2, int(np.floor(q2 / np.sqrt(3))))
    return np.arange(low, int(max(STANDARD_LUMA_Q50[row, col], q2)) + 1)


def _calibration_grid(offset: tuple[int, int]) -> tuple[int, int]:
    return _calibration_phase(offset[0]), _calibration_phase(offset[1])


def _log_ratio(poly: np.ndarray, models: _Calibration, index: int) -> np.ndarray:
    """Per block on the grid, log P(value | first-quantised with step `index`) / P(value | never
    quantised) (> 0: double JPEG), from the values' histogram bins `poly`."""
    return np.log(models.quantized[index] / models.single)[poly]


def _phase_histograms(coefficient: np.ndarray) -> np.ndarray:
    """`bins_histogram(coefficient_bins(coefficient[k1::8, k2::8]))` for every grid (k1, k2): (8, 8, bins).

    The grids of one row phase are the channels of an 8-channel view of its rows: one cv2.split
    gathers them, then each is rounded in place as `coefficient_bins` does (in float32).
    """
    smallest, largest, _, _ = cv2.minMaxLoc(coefficient)
    if smallest < -COEFFICIENT_RANGE or largest > COEFFICIENT_RANGE - 1:  # into the end bins, as there
        coefficient = np.clip(coefficient, -COEFFICIENT_RANGE, COEFFICIENT_RANGE - 1)
    histograms = np.empty((8, 8, BINS))
    for k1 in range(8):
        for k2, values in enumerate(cv2.split(coefficient[k1::8].reshape(-1, coefficient.shape[1] // 8, 8))):
            values += np.float32(0.5)
            np.floor(values, out=values)
            histograms[k1, k2] = np.bincount(values.astype(np.int32).ravel() + CENTER, minlength=BINS)
    return histograms


def nadq_log_ratio(
    luma: JpegLuma, modes: int, ctx: RunContext | None = None
) -> tuple[np.ndarray, tuple[int, int], list[int]]:
    """Per-block log-likelihood ratio (double : single compression) on the first compression's grid.

    The DCT of every 8×8 window is taken on the level-shifted, unrounded decompressed luma; the
    rounding error's statistics on the file's grid set the models' blur. The grid is the one
    where the DC fit is most likely; the AC modes are then fitted on it. Returns the summed ratio
    (blocks on the found grid), the grid's (row, col) offset in pixels and the first-compression
    step found for each mode.
    """
    qtable = luma.qtable
    padded = _decompressed(luma)
    bias = float(luma.error_mean[0, 0])
    sigma = float(np.sqrt(qtable[0, 0] ** 2 / 12 + luma.error_var[0, 0]))
    steps = _step_range(qtable, 0, 0)
    offsets = [(k1, k2) for k1 in range(8) for k2 in range(8) if k1 or k2]  # (0, 0) is the aligned case: ADQ's
    dc = _shifted_coefficients(padded, 0, 0)
    histograms = _phase_histograms(dc)
    calibrations: dict[tuple[int, int], _Calibration] = {}  # 36 calibration grids serve the 63 candidates
    best: tuple[_Fit, int, tuple[int, int]] | None = None
    for offset in offsets:
        grid = _calibration_grid(offset)
        if grid not in calibrations:
            calibrations[grid] = _Calibration.of(histograms[grid], steps, bias, sigma)
        fit, index = _fit_first_step(histograms[offset], calibrations[grid])
        if best is None or fit.log_likelihood > best[0].log_likelihood:
            best = (fit, index, offset)
        if ctx is not None and offset[1] == 7:
            ctx.check_cancelled()
            ctx.progress(0.2 + 0.5 * (offset[0] + 1) / 8, "searching the first compression's grid")
    assert best is not None
    fit, index, offset = best
    grid = _calibration_grid(offset)
    total = _log_ratio(coefficient_bins(dc[offset[0] :: 8, offset[1] :: 8]), calibrations[grid], index)
    first_steps = [fit.step]
    ac_modes = MODE_ORDER[1:modes]
    on_grid, on_calibration = (_phase_coefficients(padded, phase, ac_modes) for phase in (offset, grid))
    for mode, (row, col) in enumerate(ac_modes, start=1):
        bias = float(luma.error_mean[row, col]) if mode == 1 else 0.0
        sigma = float(np.sqrt(qtable[row, col] ** 2 / 12 + luma.error_var[row, col]))
        calibrated = bins_histogram(coefficient_bins(on_calibration[mode - 1]))
        models = _Calibration.of(calibrated, _step_range(qtable, row, col), bias, sigma)
        bins = coefficient_bins(on_grid[mode - 1])
        fit, index = _fit_first_step(bins_histogram(bins), models)
        first_steps.append(fit.step)
        total = total + _log_ratio(bins, models, index)
    return total, offset, first_steps


def _decompressed(luma: JpegLuma) -> np.ndarray:
    """The level-shifted, unrounded decompressed luma (float32), followed by 8 rows and columns of
    zeros, where blocks on a shifted grid reach past the edge (`_phase_coefficients`)."""
    rows, cols = luma.coefficients.shape[:2]
    padded = np.empty((8 * rows + 8, 8 * cols + 8), np.float32)
    padded[8 * rows :], padded[:, 8 * cols :] = 0.0, 0.0
    for band, pixels in idct_bands(luma.coefficients, luma.qtable):
        pixels -= 128.0  # then to float32: 2× faster than subtracting into the float32 array
        np.copyto(padded[8 * band.start : 8 * band.stop, : 8 * cols].reshape(pixels.shape), pixels, casting="same_kind")
    return padded


class NadqAnalyzer(Analyzer):
    id = "nadq"
    needs_file_encoding = "NADQ reads the DCT coefficients of a JPEG file; a decoded video frame has none"
    formats = JPEG_FORMATS
    title = "Non-aligned double JPEG (NADQ)"
    version = "1.0"
    Params = NadqParams
    card_file = Path(__file__).with_name("nadq.md")
    cost_per_mp = 0.025

    def run(self, media: Media, params: NadqParams, ctx: RunContext) -> Heatmap:
        qtable = luma_quantization(media, "NADQ")
        if media.width < 16 or media.height < 16:
            raise ValueError(f"NADQ needs at least 2×2 blocks of 8×8 pixels; the image is {media.width}×{media.height}")
        coarsest = max(qtable[mode] for mode in MODE_ORDER[: params.modes])
        if coarsest > MAX_STEP:
            raise ValueError(f"NADQ fits quantisation steps up to {MAX_STEP} (baseline JPEG); {media.name}'s luma "
                             f"table has a step of {coarsest:g} in the DCT modes analysed: compressed that coarsely, "
                             "the coefficients leave too few values to tell a first compression apart")
        ctx.progress(0.1, "re-estimating DCT coefficients")
        luma = jpeg_luma(media)
        ctx.check_cancelled()
        ratio, offset, first_steps = nadq_log_ratio(luma, params.modes, ctx)
        ctx.progress(0.9, "smoothing")
        smoothed = cv2.boxFilter(ratio, -1, (3, 3), normalize=False, borderType=cv2.BORDER_REFLECT)
        blocks_map = np.clip(0.5 - smoothed / (2 * LLR_SPAN), 0.0, 1.0).astype(np.float32)
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            score=map_score(blocks_map),
            score_meaning=(
                "99th percentile minus median of the per-block probability of no shifted double compression: "
                "high when most blocks carry a shifted earlier JPEG and some do not; not a probability"
            ),
            map=expand_blocks(blocks_map, 8, (media.height, media.width), offset),
            legend_low="carries an earlier JPEG on a shifted grid (consistent with a cropped, re-saved original)",
            legend_high="no trace of the shifted earlier JPEG (candidate pasted region); 0.5 = no evidence",
            stats={
                "grid_row_offset": float(offset[0]),
                "grid_col_offset": float(offset[1]),
                "dc_first_step": float(first_steps[0]),
                "double_compressed_share": round(float(np.mean(blocks_map < 0.5)), 4),
            },
        )
