"""Non-aligned double JPEG compression (NADQ): which blocks lack the trace of an earlier, shifted JPEG?

If a JPEG is cropped (or a region is pasted) and saved again, the first compression's 8×8 grid no
longer coincides with the file's grid. DCT coefficients computed on the *first* grid are still
clustered around multiples of its quantisation steps in the untouched area, not in a pasted one.
Bianchi & Piva (2012) find that grid and step by expectation-maximisation on a mixture of
"quantised" and "never quantised" histograms, and map the per-block log-likelihood ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from plugins.localization.common import (
    COEFFICIENT_RANGE,
    JpegLuma,
    bins_histogram,
    block_bands,
    block_idct,
    coefficient_bins,
    dct_matrix,
    jpeg_luma,
    luma_quantization,
    map_score,
)
from workbench.core.media import Media
from workbench.core.plugin import Analyzer, RunContext, param
from workbench.core.results import Heatmap

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


@dataclass
class NadqParams:
    modes: int = param(6, "DCT modes", "low-frequency DCT modes (DC first) whose evidence is summed", min=1, max=10)


@dataclass
class _Fit:
    step: int
    alpha: float
    log_likelihood: float


def _quantized_model(calibrated: np.ndarray, step: int, bias: float, sigma: float) -> np.ndarray:
    """P(value | quantised with `step` by the first compression), per bin.

    The never-quantised histogram (from a grid one pixel off) is integrated over each step-wide
    cell and put on the multiples of the step, then blurred by the second quantisation and the
    rounding noise (Gaussian, std `sigma`, offset `bias`); Laplace-corrected.
    """
    if step % 2:
        cell, half = np.ones(step), (step - 1) // 2
    else:
        cell, half = np.concatenate(([0.5], np.ones(step - 1), [0.5])), step // 2
    mass = np.convolve(calibrated, cell)
    model = np.zeros(BINS)
    model[CENTER::step] = mass[CENTER + half : mass.size - half : step]
    model[CENTER::-step] = mass[CENTER + half : half - 1 : -step]
    reach = int(np.ceil(3 * sigma))
    taps = np.arange(-reach, reach + 1)
    model = np.convolve(model, np.exp(-((taps + bias) ** 2) / sigma**2 / 2), mode="same")
    model /= model.sum()
    n = calibrated.sum()
    return (model * n + 1) / (n + BINS)


@dataclass
class _Calibration:
    """The models one calibration grid gives: never quantised, and quantised with each candidate step."""

    steps: np.ndarray
    single: np.ndarray
    quantized: np.ndarray
    """(len(steps), bins)"""

    @staticmethod
    def of(bins: np.ndarray, steps: np.ndarray, bias: float, sigma: float) -> _Calibration:
        calibrated = bins_histogram(bins)
        single = (calibrated + 1) / (calibrated.sum() + BINS)
        return _Calibration(steps, single, np.stack([_quantized_model(calibrated, int(q), bias, sigma) for q in steps]))


def _fit_first_step(counts: np.ndarray, models: _Calibration) -> tuple[_Fit, int]:
    """EM fit of α·P(never quantised) + (1 − α)·P(quantised with step q), for every candidate q.

    Returns the best fit (highest log-likelihood seen, as in the reference code: at most 20
    rounds, stopping once the best fit improves by less than 5) and the index of its step.
    """
    steps = models.steps
    used = np.flatnonzero(counts)
    weights = counts[used]
    h0 = models.single[used]
    h1 = models.quantized[:, used]
    alpha = np.full(len(steps), 0.95)
    previous = np.full(len(steps), -np.inf)
    best, best_index = _Fit(int(steps[0]), 0.95, -np.inf), 0
    improvement = np.inf
    for _ in range(20):
        if improvement <= 5:
            break
        a = alpha[:, None]
        alpha = (h0 * a / (h0 * a + h1 * (1 - a))) @ weights / weights.sum()
        a = alpha[:, None]
        likelihood = np.log(a * h0 + (1 - a) * h1) @ weights
        running = np.maximum.accumulate(np.concatenate(([best.log_likelihood], likelihood)))[:-1]
        new_best = likelihood > running
        if new_best.any():
            improvement = min(improvement, float(np.min((likelihood - previous)[new_best])))
            best_index = int(np.argmax(likelihood))
            best = _Fit(int(steps[best_index]), float(alpha[best_index]), float(likelihood[best_index]))
        previous = likelihood
    return best, best_index


def _calibration_phase(phase: int) -> int:
    """A grid one pixel off the candidate, toward the block's middle (never the aligned grid)."""
    return phase + 1 if phase < 4 else phase - 1


def _shifted_coefficients(pixels: np.ndarray, row: int, col: int) -> np.ndarray:
    """DCT coefficient (row, col) of the 8×8 block starting at every pixel (zeros beyond the edge)."""
    d = dct_matrix(8)
    basis = np.outer(d[row], d[col]).astype(np.float32)
    return cv2.filter2D(pixels, -1, basis, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)


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


def _phase_bins(coefficient: np.ndarray, offsets: list[tuple[int, int]]) -> dict[tuple[int, int], np.ndarray]:
    """Histogram bins of the coefficient on the grids at `offsets` and at their calibration phases."""
    phases = {*offsets, *map(_calibration_grid, offsets)}
    return {(k1, k2): coefficient_bins(coefficient[k1::8, k2::8]) for k1, k2 in phases}


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
    rows, cols = luma.coefficients.shape[:2]
    pixels = np.empty((8 * rows, 8 * cols), np.float32)
    for band in block_bands((rows, cols)):
        pixels[8 * band.start : 8 * band.stop] = block_idct(luma.coefficients[band] * qtable) - 128.0
    bias = float(luma.error_mean[0, 0])
    sigma = float(np.sqrt(qtable[0, 0] ** 2 / 12 + luma.error_var[0, 0]))
    steps = _step_range(qtable, 0, 0)
    offsets = [(k1, k2) for k1 in range(8) for k2 in range(8) if k1 or k2]  # (0, 0) is the aligned case: ADQ's
    dc = _phase_bins(_shifted_coefficients(pixels, 0, 0), offsets)
    calibrations: dict[tuple[int, int], _Calibration] = {}  # 36 calibration grids serve the 63 candidates
    best: tuple[_Fit, int, tuple[int, int]] | None = None
    for offset in offsets:
        grid = _calibration_grid(offset)
        if grid not in calibrations:
            calibrations[grid] = _Calibration.of(dc[grid], steps, bias, sigma)
        fit, index = _fit_first_step(bins_histogram(dc[offset]), calibrations[grid])
        if best is None or fit.log_likelihood > best[0].log_likelihood:
            best = (fit, index, offset)
        if ctx is not None and offset[1] == 7:
            ctx.check_cancelled()
            ctx.progress(0.2 + 0.5 * (offset[0] + 1) / 8, "searching the first compression's grid")
    assert best is not None
    fit, index, offset = best
    total = _log_ratio(dc[offset], calibrations[_calibration_grid(offset)], index)
    first_steps = [fit.step]
    for mode, (row, col) in enumerate(MODE_ORDER[1:modes], start=1):
        bias = float(luma.error_mean[row, col]) if mode == 1 else 0.0
        sigma = float(np.sqrt(qtable[row, col] ** 2 / 12 + luma.error_var[row, col]))
        bins = _phase_bins(_shifted_coefficients(pixels, row, col), [offset])
        models = _Calibration.of(bins[_calibration_grid(offset)], _step_range(qtable, row, col), bias, sigma)
        fit, index = _fit_first_step(bins_histogram(bins[offset]), models)
        first_steps.append(fit.step)
        total = total + _log_ratio(bins[offset], models, index)
    return total, offset, first_steps


def _on_image_grid(block_map: np.ndarray, offset: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """Blocks that start at `offset` pixels → full-resolution map (edges repeat)."""
    up = np.repeat(np.repeat(block_map, 8, axis=0), 8, axis=1)
    up = np.pad(up, ((offset[0], 0), (offset[1], 0)), mode="edge")
    h, w = shape
    up = np.pad(up, ((0, max(0, h - up.shape[0])), (0, max(0, w - up.shape[1]))), mode="edge")
    return up[:h, :w].astype(np.float32)


class NadqAnalyzer(Analyzer):
    id = "nadq"
    needs_file_encoding = "NADQ reads the DCT coefficients of a JPEG file; a decoded video frame has none"
    title = "Non-aligned double JPEG (NADQ)"
    version = "1.0"
    Params = NadqParams
    card_file = Path(__file__).with_name("nadq.md")

    def run(self, media: Media, params: NadqParams, ctx: RunContext) -> Heatmap:
        luma_quantization(media, "NADQ")
        if media.width < 16 or media.height < 16:
            raise ValueError(f"NADQ needs at least 2×2 blocks of 8×8 pixels; the image is {media.width}×{media.height}")
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
                "high when most blocks carry a shifted earlier JPEG and some do not; not calibrated"
            ),
            map=_on_image_grid(blocks_map, offset, (media.height, media.width)),
            legend_low="carries an earlier JPEG on a shifted grid (consistent with a cropped, re-saved original)",
            legend_high="no trace of the shifted earlier JPEG (candidate pasted region); 0.5 = no evidence",
            stats={
                "grid_row_offset": float(offset[0]),
                "grid_col_offset": float(offset[1]),
                "dc_first_step": float(first_steps[0]),
                "double_compressed_share": round(float(np.mean(blocks_map < 0.5)), 4),
            },
        )
