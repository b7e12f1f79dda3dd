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
    block_idct,
    coefficient_bins,
    coefficient_histogram,
    dct_matrix,
    decoded_luma,
    luma_quantization,
    luminance,
    map_score,
    quantized_coefficients,
    rounding_error_dct,
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


def _fit_first_step(
    counts: np.ndarray, calibrated: np.ndarray, steps: np.ndarray, bias: float, sigma: float
) -> tuple[_Fit, np.ndarray]:
    """EM fit of α·P(never quantised) + (1 − α)·P(quantised with step q), for every candidate q.

    Returns the best fit (highest log-likelihood seen, as in the reference code: at most 20
    rounds, stopping once the best fit improves by less than 5) and the never-quantised model.
    """
    single = (calibrated + 1) / (calibrated.sum() + BINS)
    used = np.flatnonzero(counts)
    weights = counts[used]
    h0 = single[used]
    h1 = np.stack([_quantized_model(calibrated, int(q), bias, sigma)[used] for q in steps])
    alpha = np.full(len(steps), 0.95)
    previous = np.full(len(steps), -np.inf)
    best = _Fit(int(steps[0]), 0.95, -np.inf)
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
            k = int(np.argmax(likelihood))
            best = _Fit(int(steps[k]), float(alpha[k]), float(likelihood[k]))
        previous = likelihood
    return best, single


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


def _fit_on_grid(
    coefficient: np.ndarray, offset: tuple[int, int], steps: np.ndarray, bias: float, sigma: float
) -> tuple[_Fit, np.ndarray]:
    """Fit the first compression on the grid at `offset` (pixels); per-block log-likelihood ratio
    log P(value | first-quantised) / P(value | never quantised) on that grid (> 0: double JPEG)."""
    k1, k2 = offset
    calibrated = coefficient_histogram(coefficient[_calibration_phase(k1) :: 8, _calibration_phase(k2) :: 8])
    poly = coefficient[k1::8, k2::8]
    fit, single = _fit_first_step(coefficient_histogram(poly), calibrated, steps, bias, sigma)
    table = np.log(_quantized_model(calibrated, fit.step, bias, sigma) / single)
    return fit, table[coefficient_bins(poly)]


def nadq_log_ratio(
    pixels: np.ndarray, error: np.ndarray, qtable: np.ndarray, modes: int, ctx: RunContext | None = None
) -> tuple[np.ndarray, tuple[int, int], list[int]]:
    """Per-block log-likelihood ratio (double : single compression) on the first compression's grid.

    `pixels` is the level-shifted, unrounded decompressed luma; `error` the block DCT of the
    rounding error on the file's grid. The grid is the one where the DC fit is most likely; the
    AC modes are then fitted on it. Returns the summed ratio (blocks on the found grid), the
    grid's (row, col) offset in pixels and the first-compression step found for each mode.
    """
    dc = _shifted_coefficients(pixels, 0, 0)
    dc_error = error[:, :, 0, 0]
    bias, sigma = float(dc_error.mean()), float(np.sqrt(qtable[0, 0] ** 2 / 12 + dc_error.var()))
    steps = _step_range(qtable, 0, 0)
    best: tuple[_Fit, tuple[int, int], np.ndarray] | None = None
    for k1 in range(8):
        for k2 in range(1 if k1 == 0 else 0, 8):  # (0, 0) is the aligned case: ADQ's
            fit, ratio = _fit_on_grid(dc, (k1, k2), steps, bias, sigma)
            if best is None or fit.log_likelihood > best[0].log_likelihood:
                best = (fit, (k1, k2), ratio)
        if ctx is not None:
            ctx.check_cancelled()
            ctx.progress(0.2 + 0.5 * (k1 + 1) / 8, "searching the first compression's grid")
    assert best is not None
    fit, offset, total = best
    first_steps = [fit.step]
    for index, (row, col) in enumerate(MODE_ORDER[1:modes], start=1):
        mode_error = error[:, :, row, col]
        bias = float(mode_error.mean()) if index == 1 else 0.0
        sigma = float(np.sqrt(qtable[row, col] ** 2 / 12 + mode_error.var()))
        coefficient = _shifted_coefficients(pixels, row, col)
        fit, ratio = _fit_on_grid(coefficient, offset, _step_range(qtable, row, col), bias, sigma)
        first_steps.append(fit.step)
        total = total + ratio
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
    title = "Non-aligned double JPEG (NADQ)"
    version = "1.0"
    Params = NadqParams
    card_file = Path(__file__).with_name("nadq.md")

    def run(self, media: Media, params: NadqParams, ctx: RunContext) -> Heatmap:
        qtable = luma_quantization(media, "NADQ")
        if media.width < 16 or media.height < 16:
            raise ValueError(f"NADQ needs at least 2×2 blocks of 8×8 pixels; the image is {media.width}×{media.height}")
        ctx.progress(0.1, "re-estimating DCT coefficients")
        coeffs = quantized_coefficients(decoded_luma(media), qtable)
        pixels = (block_idct(coeffs * qtable) - 128.0).astype(np.float32)
        error = rounding_error_dct(coeffs, qtable, luminance(media.pixels()))
        ctx.check_cancelled()
        ratio, offset, first_steps = nadq_log_ratio(pixels, error, qtable, params.modes, ctx)
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
