"""Aligned double JPEG compression (ADQ): which 8×8 blocks were NOT compressed twice on the same grid?

When a JPEG is decoded, edited and saved again, the untouched area is quantised twice and its
DCT coefficient histograms get a periodic comb; a pasted or repainted area is quantised once (or
on another grid) and lacks it. Two published detectors read that comb block by block, from the
coefficients re-estimated on the decoded luma plane (`common.decoded_luma`, `common.block_dct`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from plugins.localization.common import (
    COEFFICIENT_RANGE,
    JPEG_FORMATS,
    JpegLuma,
    bins_histogram,
    coefficient_bins,
    dct_bands,
    expand_blocks,
    jpeg_luma,
    luma_quantization,
    map_score,
    mode_planes,
    per_image,
    zigzag,
)
from workbench.api import Analyzer, Heatmap, Media, RunContext, browsing_copy, param

Q1_SEARCH_MAX = (20,) * 10 + (30,) * 5 + (40,) * 6 + (64,) * 7 + (80,) * 8 + (88,) * 28
"""Largest primary quantisation step tried per zig-zag mode (the reference implementation's limits)."""

STACK_LIN = "Lin 2009 (toolbox ADQ1)"
STACK_BIANCHI = "Bianchi 2011 (toolbox ADQ2)"


class AdqMethod(StrEnum):
    BIANCHI = "bianchi"
    LIN = "lin"


@dataclass
class AdqParams:
    method: AdqMethod = param(
        AdqMethod.BIANCHI,
        "Main map",
        "bianchi: model-based, uses the file's quantisation table (toolbox ADQ2); lin: histogram "
        "periodicity (toolbox ADQ1). Both maps are always in the stack.",
    )
    modes: int = param(15, "DCT modes", "low-frequency DCT modes (zig-zag order) that vote", min=1, max=64)


def _comb_period(hist: np.ndarray) -> int:
    """Period of the double-quantisation comb in a histogram: strongest spectral peak past the DC
    lobe, kept only if it is ≥ 1/5 of DC and stands out of the floor (1 = no comb), as in Lin 2009."""
    spectrum = np.abs(np.fft.fft(hist))
    n = spectrum.size
    valley = 0
    while valley < n - 2 and spectrum[valley] >= spectrum[valley + 1]:
        valley += 1
    tail = spectrum[valley : n // 2]
    if tail.size == 0:
        return 1
    peak = float(tail.max())
    frequency = valley + int(tail.argmax())
    if frequency == 0 or peak < spectrum[0] / 5 or tail.min() / peak > 0.9:
        return 1
    return int(np.floor(n / frequency + 0.5))


def _period_share(hist: np.ndarray, period: int) -> np.ndarray:
    """Per bin: its count over the count of the comb period it belongs to, P(value | double).

    Periods are anchored at the histogram's mode and, like the reference code, run upwards above
    the mode and downwards below it, wrapping at the histogram ends.
    """
    n = hist.size
    mode = int(hist.argmax())
    cum = np.concatenate(([0.0], np.cumsum(hist)))
    start = np.arange(n) - np.fmod(np.arange(n) - mode, period)
    end = start + period
    up = cum[np.minimum(end, n)] - cum[start] + np.where(end > n, cum[start] - cum[np.clip(n - period, 0, n)], 0)
    low = start - period + 1
    down = cum[start + 1] - cum[np.maximum(low, 0)] + np.where(
        low < 0, cum[np.clip(period, 0, n)] - cum[np.minimum(start + 1, n)], 0
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return hist / np.where(start >= mode, up, down)


def lin_map(coeffs: np.ndarray, modes: int) -> tuple[np.ndarray, list[int]]:
    """Per-block probability of NOT being double-compressed (Lin et al. 2009, toolbox ADQ1).

    Each mode votes with likelihood ratio P(value | double) / P(value | single), the latter
    uniform over a period (1 / period); votes multiply (naive Bayes with equal priors).
    Returns the map and the detected comb period per mode (1 = none).
    """
    log_ratio = np.zeros(coeffs.shape[:2])
    periods = []
    for plane in _planes(coeffs, zigzag(modes)):
        below = int(plane.min()) - 1
        bins = np.subtract(plane, below, dtype=np.intp)
        hist = np.bincount(bins.ravel(), minlength=int(plane.max()) - below + 2).astype(np.float64)
        period = _comb_period(hist)
        periods.append(period)
        if period > 1:
            with np.errstate(divide="ignore"):
                log_ratio += np.log(_period_share(hist, period) * period)[bins]
    return _from_log_ratio(log_ratio), periods


def _planes(coeffs: np.ndarray, positions: list[tuple[int, int]]) -> np.ndarray:
    """`mode_planes`, shared by both detectors when they read the file's shared coefficients."""
    return per_image(mode_planes, coeffs, tuple(positions))


def _from_log_ratio(log_ratio: np.ndarray) -> np.ndarray:
    """P(single) = 1 / (1 + ratio(double : single)), overflow-free."""
    return (0.5 * (1.0 - np.tanh(0.5 * log_ratio))).astype(np.float32)


def _floor2(x: np.ndarray) -> np.ndarray:
    """floor, but an exact integer k maps to k − ½ (a half-open interval bound)."""
    f = np.floor(x)
    np.subtract(x, 0.5, out=f, where=np.abs(x - f) < 1e-12)
    return f


def _ceil2(x: np.ndarray) -> np.ndarray:
    c = np.ceil(x)
    np.add(x, 0.5, out=c, where=np.abs(x - c) < 1e-12)
    return c


def _dq_gain(q1: np.ndarray, q2: float, bias: float, kernel: np.ndarray) -> np.ndarray:
    """Rows: for each candidate primary step q1, the gain of each bin of the double-compressed
    histogram over the single-compressed one (Bianchi et al. 2011: how many q1 bins fall into
    each q2 bin, times q1/q2), blurred by the rounding-error kernel."""
    x = np.arange(-COEFFICIENT_RANGE, COEFFICIENT_RANGE) + bias / q2
    ratio = (q2 / q1)[:, None]
    gain = _floor2(ratio * (x + 0.5))
    gain -= _ceil2(ratio * (x - 0.5))
    gain += 1
    gain *= q1[:, None] / q2
    return cv2.filter2D(gain, -1, kernel[None, :], borderType=cv2.BORDER_CONSTANT)


def _fit_primary_step(
    hist: np.ndarray, prior: np.ndarray, q2: float, bias: float, kernel: np.ndarray, q1_max: int
) -> tuple[int, float]:
    """Primary step q1 and mixing weight α that best explain the observed histogram as
    α × (double-compressed model) + (1 − α) × (single prior), zero bin excluded."""
    q1 = np.arange(1, q1_max + 1, dtype=np.float64)
    keep = np.arange(2 * COEFFICIENT_RANGE) != COEFFICIENT_RANGE
    a1 = _dq_gain(q1, q2, bias, kernel)
    a1 *= prior
    a1 -= prior
    a1 = a1[:, keep]
    a1 *= 0.5
    a2 = 0.5 * (prior - hist)[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.minimum(-(a1 @ a2) / np.einsum("ij,ij->i", a1, a1), 1.0)
    # The 0.5 weight is applied twice here, as in the reference implementation.
    residual = alpha[:, None] * a1
    residual += a2
    residual *= 0.5
    error = np.sum(np.square(residual, out=residual), axis=1)
    divides = np.fmod(q2, q1) == 0
    alpha[divides] = 1.0
    error[divides] = np.sum(a2**2)
    error[~(alpha > 0.25)] = np.inf
    best = int(np.argmin(error))
    return (best + 1, float(alpha[best])) if np.isfinite(error[best]) else (1, 1.0)


def bianchi_map(luma: JpegLuma, modes: int) -> tuple[np.ndarray, list[int]]:
    """Per-block probability of NOT being double-compressed (Bianchi, De Rosa, Piva 2011, toolbox ADQ2).

    The single-compression prior is the histogram of the image shifted by one pixel (which breaks
    the grid); the rounding error (float reconstruction minus the decoded pixels) sets the
    histogram blur. Returns the 5×5 median-filtered map and the estimated primary step per mode.
    """
    coeffs, qtable = luma.coefficients, luma.qtable
    rows, cols = coeffs.shape[:2]
    positions = zigzag(modes)
    priors = _shifted_histograms(luma, positions)
    sigma_e = max(float(np.sqrt(luma.error_variance())), 1e-3)
    log_ratio = np.zeros((rows, cols))
    primary = []
    for i, ((row, col), values) in enumerate(zip(positions, _planes(coeffs, positions), strict=True)):
        q2 = float(qtable[row, col])
        bins = coefficient_bins(values)
        hist = bins_histogram(bins)
        bias = float(luma.error_mean[0, 0]) if i == 0 else 0.0
        sigma = sigma_e / q2
        taps = np.arange(-np.ceil(6 * sigma), np.ceil(6 * sigma) + 1)
        kernel = np.exp(-(taps**2) / sigma**2 / 2)
        kernel /= kernel.sum()
        q1, alpha = _fit_primary_step(hist, priors[i], q2, bias, kernel, Q1_SEARCH_MAX[i])
        primary.append(q1)
        if np.fmod(q2, q1) == 0:
            continue  # no double-quantisation comb for this mode
        gain = alpha * _dq_gain(np.array([float(q1)]), q2, bias, kernel)[0] + 1 - alpha
        with np.errstate(divide="ignore"):
            vote = np.log(gain / gain.mean())
        vote[COEFFICIENT_RANGE] = 0.0  # zeros carry no information
        log_ratio += vote[bins]
    return _median5(_from_log_ratio(log_ratio)), primary


def _shifted_histograms(luma: JpegLuma, positions: list[tuple[int, int]]) -> np.ndarray:
    """Per DCT mode at `positions`, the histogram of the coefficients of the decoded luma shifted by
    one pixel down and right, quantised with the file's steps: (modes, bins) float64.

    Counted band by band from `dct_bands`, only the modes needed, binned in place as
    `coefficient_bins` bins (floor(x + ½), clipped): no full-size coefficient array.
    """
    rows, cols = (np.array(axis) for axis in zip(*positions, strict=True))
    steps = luma.qtable[rows, cols][:, None, None]
    first_bin = (2 * COEFFICIENT_RANGE * np.arange(len(positions)) + COEFFICIENT_RANGE)[:, None, None]
    counts = np.zeros(len(positions) * 2 * COEFFICIENT_RANGE, np.int64)
    for _, coefficients in dct_bands(luma.decoded[1:, 1:], int(max(rows.max(), cols.max())) + 1):
        values = coefficients[:, rows, :, cols]  # (modes, block rows, blocks)
        values /= steps
        values += 0.5
        np.floor(values, out=values)
        np.clip(values, -COEFFICIENT_RANGE, COEFFICIENT_RANGE - 1, out=values)
        values += first_bin
        counts += np.bincount(values.astype(np.intp).ravel(), minlength=counts.size)
    return counts.reshape(len(positions), -1).astype(np.float64)


def _median5(block_map: np.ndarray) -> np.ndarray:
    """5×5 median with zero padding (MATLAB's medfilt2), which joins scattered blocks into regions."""
    padded = np.pad(block_map.astype(np.float32), 2)
    return cv2.medianBlur(padded, 5)[2:-2, 2:-2]


class AdqAnalyzer(Analyzer):
    id = "adq"
    needs_file_encoding = "ADQ reads the DCT coefficients of a JPEG file; a decoded video frame has none"
    formats = JPEG_FORMATS
    title = "Aligned double JPEG compression (ADQ)"
    version = "1.0"
    Params = AdqParams
    card_file = Path(__file__).with_name("double_jpeg.md")
    cost_per_mp = 0.031

    def run(self, media: Media, params: AdqParams, ctx: RunContext) -> Heatmap:
        qtable = luma_quantization(media, "ADQ")
        if media.width < 8 or media.height < 8:
            raise ValueError(f"ADQ needs at least one whole 8×8 block; the image is {media.width}×{media.height}")
        ctx.progress(0.1, "re-estimating DCT coefficients")
        luma = jpeg_luma(media)
        ctx.check_cancelled()
        ctx.progress(0.3, "histogram periodicity (Lin 2009)")
        lin, periods = lin_map(luma.coefficients, params.modes)
        ctx.check_cancelled()
        ctx.progress(0.5, "primary quantisation fit (Bianchi 2011)")
        bianchi, primary = bianchi_map(luma, params.modes)
        ctx.check_cancelled()
        main = bianchi if params.method is AdqMethod.BIANCHI else lin
        shape = (media.height, media.width)
        heat = expand_blocks(main, 8, shape)
        stack = {name: browsing_copy(heat if layer is main else expand_blocks(layer, 8, shape))
                 for name, layer in ((STACK_BIANCHI, bianchi), (STACK_LIN, lin))}
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            score=map_score(main),
            score_meaning=(
                "99th percentile minus median of the per-block probability of single compression: near 0 "
                "when all blocks agree (no double compression found, or none left untouched); near 1 when most "
                "of the image is confidently double-compressed while some blocks are confidently not; "
                "not a calibrated probability"
            ),
            map=heat,
            stack=stack,
            legend_low="double-compressed on the same grid (consistent with a re-saved original)",
            legend_high="not double-compressed (candidate pasted or edited region); 0.5 = no evidence",
            stats={
                "blocks": float(main.size),
                "single_compressed_share": round(float(np.mean(main > 0.5)), 4),
                "lin_modes_with_comb": float(sum(p > 1 for p in periods)),
                "bianchi_modes_with_comb": float(
                    sum(qtable[r, c] % q1 != 0 for q1, (r, c) in zip(primary, zigzag(len(primary)), strict=True))
                ),
                "dc_primary_step": float(primary[0]),
                "dc_secondary_step": float(qtable[0, 0]),
            },
        )
