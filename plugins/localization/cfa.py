"""CFA demosaicing artefacts (Ferrara et al. 2012): where does the green channel lack the periodic
correlation that a camera's colour-filter-array interpolation leaves behind?"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from plugins.localization.common import cell_sums, expand_blocks, map_score
from workbench.core.media import Media
from workbench.core.plugin import Analyzer, RunContext, param
from workbench.core.results import Heatmap

BAYER_TILES: dict[str, np.ndarray] = {
    "GRBG": np.array([[1, 0], [2, 1]]),
    "GBRG": np.array([[1, 2], [0, 1]]),
    "BGGR": np.array([[2, 1], [1, 0]]),
    "RGGB": np.array([[0, 1], [1, 2]]),
}
"""The four Bayer arrangements as 2×2 tiles of channel indices (0 R, 1 G, 2 B), in the order the
reference toolbox tries them (a tie goes to the first)."""
DETECTION_BLOCK = 16
SMOOTH_STD = 5.0
"""Detection ignores 16×16 blocks whose channel standard deviation is at most this (toolbox value)."""
DETECTION_MAX_SIDE = 2048
"""The arrangement is global: larger images are detected on a central crop of this side."""
MINOR_KERNEL = np.array([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]], np.float32)
MAJOR_KERNEL = np.array([[0.0, 0.25, 0.0], [0.25, 1.0, 0.25], [0.0, 0.25, 0.0]], np.float32)
"""Bilinear demosaicing of the red/blue (minor) and green (major) samples."""
PREDICTOR = np.array([[0.0, 0.25, 0.0], [0.25, -1.0, 0.25], [0.0, 0.25, 0.0]], np.float32)
MEDIAN_SIZE = 5
"""The paper's median filter over the block log-likelihood map (Nm = 5)."""
LOG_FLOOR, LOG_CEIL = float(np.log(1e-320)), float(np.log(1e304))
"""Log of the clamps the reference code applies to a variance-product ratio that is 0 or ∞."""
EM_TOLERANCE = 1e-3
MIN_SIDE = 32


@dataclass
class CfaParams:
    block: int = param(
        8, "Block size", "side of the square blocks the feature is computed on (Nb); odd values are rounded up",
        min=2, max=64,
    )
    em_iterations: int = param(
        500, "EM iterations (max)", "upper bound on expectation–maximisation steps; it stops earlier when the "
        "mixture weight changes by less than 0.001", min=1, max=5000
    )
    toolbox_zeros: bool = param(
        False, "Toolbox handling of flat areas", "treat zero-variance (flat, clipped) pixels as the reference "
        "code does; flat areas then tend to dominate the fit and light up"
    )


BAND_ROWS = 256
"""Rows per band of the full-size passes (a multiple of DETECTION_BLOCK; the variance passes round
it to whole blocks): the float32 work stays in cache, and no image-sized planes are allocated
(fresh memory costs about as much as the arithmetic)."""


def channel_planes(rgb: np.ndarray) -> list[np.ndarray]:
    """R, G and B as contiguous float32 planes."""
    return [np.ascontiguousarray(rgb[..., c], dtype=np.float32) for c in range(3)]


def cell_counts(shape: tuple[int, ...], cell: int) -> np.ndarray:
    """Pixels per `cell`×`cell` cell, the last row/column partial (as `cell_sums` of ones)."""
    rows, cols = (np.minimum(cell, n - np.arange(0, n, cell)) for n in shape[:2])
    return np.outer(rows, cols).astype(np.float32)


def channel_error_sums(rgb: np.ndarray, c: int, phases: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Per 16×16 block, the summed squared difference between channel `c` and its bilinear
    re-demosaicing from the samples at `phases` (rounded like pixels); computed in bands of rows."""
    h = rgb.shape[0]
    kernel = MAJOR_KERNEL if c == 1 else MINOR_KERNEL
    parts = []
    for top in range(0, h, BAND_ROWS):
        bottom = min(h, top + BAND_ROWS)
        lo, hi = max(0, top - 2), min(h, bottom + 2)  # an even margin keeps the mosaic phase
        plane = rgb[lo:hi, :, c].astype(np.float32)
        layer = np.zeros_like(plane)
        for y, x in phases:
            layer[y::2, x::2] = plane[y::2, x::2]
        interp = cv2.filter2D(layer, -1, kernel, borderType=cv2.BORDER_CONSTANT)
        np.floor(interp + np.float32(0.5), out=interp)
        for y, x in phases:
            interp[y::2, x::2] = layer[y::2, x::2]
        np.subtract(plane, interp, out=interp)
        inner = np.square(interp, out=interp)[top - lo : bottom - lo]
        parts.append(cell_sums(inner, DETECTION_BLOCK))
    return np.concatenate(parts)


def reinterpolation_mse(
    rgb: np.ndarray, tile: np.ndarray, computed: dict[tuple, np.ndarray] | None = None
) -> np.ndarray:
    """Per 16×16 block and channel, the mean squared difference between the image and its bilinear
    re-demosaicing from the samples the arrangement `tile` would have kept (rounded like pixels).
    `computed` keeps each channel's sums by sample phases, for arrangements that share them."""
    computed = {} if computed is None else computed
    out = []
    for c in range(3):
        phases = tuple((y, x) for y in range(2) for x in range(2) if tile[y, x] == c)
        if (c, phases) not in computed:
            computed[c, phases] = channel_error_sums(rgb, c, phases)
        out.append(computed[c, phases])
    return np.stack(out, axis=-1) / cell_counts(rgb.shape, DETECTION_BLOCK)[..., None]


def textured_blocks(planes: list[np.ndarray]) -> np.ndarray:
    """Per 16×16 block and channel: sample standard deviation above SMOOTH_STD."""
    counts = cell_counts(planes[0].shape, DETECTION_BLOCK).astype(np.float64)
    out = []
    for plane in planes:
        sums = cell_sums(plane, DETECTION_BLOCK).astype(np.float64)
        squares = cell_sums(plane * plane, DETECTION_BLOCK).astype(np.float64)
        out.append((squares - sums**2 / counts) / np.maximum(counts - 1, 1) > SMOOTH_STD**2)
    return np.stack(out, axis=-1)


def central_crop(rgb: np.ndarray, side: int, align: int) -> np.ndarray:
    """At most side×side pixels from the centre, the corner on a multiple of `align` (keeps the mosaic phase)."""
    h, w = rgb.shape[:2]
    y0 = max(0, (h - side) // 2) // align * align
    x0 = max(0, (w - side) // 2) // align * align
    return rgb[y0 : y0 + side, x0 : x0 + side]


def detect_bayer(rgb: np.ndarray) -> tuple[str, dict[str, float]]:
    """The most likely Bayer arrangement (Dirik & Memon 2009, the toolbox's choice for CFA1): the one
    whose bilinear re-demosaicing reproduces the image best over textured blocks. Also returns each
    candidate's mean squared error."""
    crop = central_crop(rgb, DETECTION_MAX_SIDE, DETECTION_BLOCK)
    textured = textured_blocks(channel_planes(crop))
    computed: dict[tuple, np.ndarray] = {}
    errors = {
        name: float(reinterpolation_mse(crop, tile, computed)[textured].mean()) if textured.any() else float("inf")
        for name, tile in BAYER_TILES.items()
    }
    return min(errors, key=errors.get), errors


def arrangement_margin(errors: dict[str, float]) -> float:
    """How much better the best arrangement re-demosaics than the runner-up (relative; 0 if untextured)."""
    best, second = sorted(errors.values())[:2]
    return round((second - best) / second, 6) if np.isfinite(second) and second > 0 else 0.0


def green_share(rgb: np.ndarray, tile: np.ndarray) -> np.ndarray:
    """Per 16×16 block: green's share of the re-demosaicing error (the toolbox's CFA2 / Dirik–Memon F1
    map; 0 where no channel has any error)."""
    mse = reinterpolation_mse(rgb, tile)
    total = mse.sum(axis=-1)
    return np.divide(mse[..., 1], total, out=np.zeros_like(total), where=total > 0)


def green_pattern(tile: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean map of the positions where the sensor measured green."""
    h, w = shape
    return np.tile(tile == 1, ((h + 1) // 2, (w + 1) // 2))[:h, :w]


def _quincunx_taps() -> tuple[np.ndarray, np.ndarray]:
    """1-D taps whose two separable products sum to the paper's 7×7 Gaussian window (σ = 1, sampled
    over ±2σ) restricted to one quincunx and normalised to sum 1:
    g(x)g(y)·[x + y even] = (g(x)g(y) + g(x)(−1)^x · g(y)(−1)^y) / 2."""
    g = np.exp(-0.5 * np.linspace(-2.0, 2.0, 7) ** 2)
    s = g * (-1.0) ** np.arange(7)
    scale = 1.0 / np.sqrt(g.sum() ** 2 + s.sum() ** 2)
    return (g * scale).astype(np.float32), (s * scale).astype(np.float32)


def quincunx_mean(values: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local mean over the pixels of each pixel's own quincunx (its CFA lattice)."""
    g, s = _quincunx_taps()
    border = cv2.BORDER_REPLICATE
    return cv2.sepFilter2D(values, -1, g, g, borderType=border) + cv2.sepFilter2D(values, -1, s, s, borderType=border)


def local_variance(green: np.ndarray) -> np.ndarray:
    """Local variance of the bilinear prediction error among same-lattice pixels.

    The error is (almost) zero where the camera interpolated green and sensor noise where it
    measured green. Computed in float32 (OpenCV's fast path; the reference uses float64) and, unlike
    the reference, without masking the other lattice, which only matters within 3 pixels of the border.
    """
    error = cv2.filter2D(green, -1, PREDICTOR, borderType=cv2.BORDER_REPLICATE)
    mean = quincunx_mean(error)
    return np.maximum(quincunx_mean(error * error) - mean * mean, 0.0)


@dataclass
class BlockFeature:
    """Per whole block: the CFA feature, which blocks the mixture is fitted on, which carry evidence."""

    value: np.ndarray
    fit: np.ndarray
    informative: np.ndarray


def lattice_sums(variance: np.ndarray, pattern: np.ndarray, block: int) -> np.ndarray:
    """Per block (whole blocks of `variance`): the summed log variance over the acquired and over the
    interpolated lattice, and how many positive variances each has (last axis, in that order)."""
    positive = variance > 0.0
    logs = cv2.log(np.where(positive, variance, np.float32(1.0)))
    return np.stack([
        cell_sums(np.where(pattern, logs, 0.0), block),
        cell_sums(np.where(pattern, 0.0, logs), block),
        cell_sums((positive & pattern).astype(np.float32), block),
        cell_sums((positive & ~pattern).astype(np.float32), block),
    ], axis=-1)


def green_lattice_sums(rgb: np.ndarray, tile: np.ndarray, block: int) -> np.ndarray:
    """`lattice_sums` of the green channel's local variance over the whole blocks of `rgb`,
    computed in bands of rows (each with the 4 rows around it that the filters read)."""
    h, w = rgb.shape[:2]
    whole_h, whole_w = h - h % block, w - w % block
    rows = block * max(1, BAND_ROWS // block)
    parts = []
    for top in range(0, whole_h, rows):
        bottom = min(whole_h, top + rows)
        lo, hi = max(0, top - 4), min(h, bottom + 4)  # an even margin keeps the mosaic phase
        variance = local_variance(rgb[lo:hi, :, 1].astype(np.float32))[top - lo : bottom - lo, :whole_w]
        parts.append(lattice_sums(variance, green_pattern(tile, variance.shape), block))
    return np.concatenate(parts)


def cfa_feature(sums: np.ndarray, block: int, toolbox_zeros: bool) -> BlockFeature:
    """Per whole block: log of the geometric-mean ratio of local variance, acquired over interpolated,
    from its `lattice_sums`.

    Clearly positive where green was demosaiced (measured pixels vary more), near 0 where the trace is
    missing. Zero variances (flat or clipped areas) carry no CFA evidence: by default they are left out
    of the means, and a block with fewer than a quarter of either lattice left is uninformative. With
    `toolbox_zeros` they are treated as the reference code does: a zero on one lattice only gives a
    ratio of 0 or ∞ (clamped, not fitted), zeros on both give a ratio of 1 (fitted as a feature of 0).
    """
    sum_acquired, sum_interpolated = sums[..., 0].astype(np.float64), sums[..., 1].astype(np.float64)
    n_acquired, n_interpolated = np.rint(sums[..., 2]), np.rint(sums[..., 3])
    per_lattice = block * block / 2
    if not toolbox_zeros:
        informative = (n_acquired >= per_lattice / 4) & (n_interpolated >= per_lattice / 4)
        value = sum_acquired / np.maximum(n_acquired, 1) - sum_interpolated / np.maximum(n_interpolated, 1)
        return BlockFeature(np.where(informative, value, 0.0), informative, informative)
    zeros_acquired, zeros_interpolated = n_acquired < per_lattice, n_interpolated < per_lattice
    value = sum_acquired - sum_interpolated
    value[zeros_acquired] = LOG_FLOOR
    value[zeros_interpolated] = LOG_CEIL
    value[zeros_acquired & zeros_interpolated] = 0.0
    fit = (value > LOG_FLOOR) & (value < LOG_CEIL)
    return BlockFeature(value / per_lattice, fit, np.ones_like(fit))


@dataclass
class Mixture:
    """α·N(0, v1) + (1 − α)·N(μ2, v2): the 'no CFA trace' and the 'CFA trace' components."""

    alpha: float
    v1: float
    mu2: float
    v2: float
    iterations: int

    def log_likelihood_ratio(self, x: np.ndarray) -> np.ndarray:
        """log p(x | CFA trace) − log p(x | no trace)."""
        return 0.5 * np.log(self.v1 / self.v2) - 0.5 * ((x - self.mu2) ** 2 / self.v2 - x**2 / self.v1)


def em_zero_mean(x: np.ndarray, max_iterations: int) -> Mixture:
    """EM fit of the paper's two-Gaussian mixture with the first mean fixed at 0 (initialised and
    stopped as in the reference: α = ½, v1 = v2 / 10; until α moves by less than EM_TOLERANCE)."""
    alpha, mu2, v2 = 0.5, float(x.mean()), float(x.var())
    v1 = v2 / 10.0
    x2 = x * x
    for k in range(1, max_iterations + 1):
        f1 = alpha * np.exp(-x2 / (2 * v1)) / np.sqrt(v1)
        f2 = (1 - alpha) * np.exp(-((x - mu2) ** 2) / (2 * v2)) / np.sqrt(v2)
        r1 = f1 / np.maximum(f1 + f2, np.finfo(np.float64).tiny)
        r2 = 1.0 - r1
        previous, alpha = alpha, float(r1.mean())
        if not 0.0 < alpha < 1.0:
            return Mixture(alpha, v1, mu2, v2, k)
        v1 = float((r1 * x2).sum() / r1.sum())
        mu2 = float((r2 * x).sum() / r2.sum())
        v2 = float((r2 * (x - mu2) ** 2).sum() / r2.sum())
        if abs(alpha - previous) < EM_TOLERANCE or v1 <= 0.0 or v2 <= 0.0:
            return Mixture(alpha, v1, mu2, v2, k)
    return Mixture(alpha, v1, mu2, v2, max_iterations)


def median_symmetric(values: np.ndarray) -> np.ndarray:
    """5×5 median with half-sample symmetric borders (MATLAB medfilt2 'symmetric')."""
    pad = MEDIAN_SIZE // 2
    padded = np.pad(values.astype(np.float32), pad, mode="symmetric")
    return cv2.medianBlur(padded, MEDIAN_SIZE)[pad:-pad, pad:-pad]


def no_trace_probability(feature: BlockFeature, max_iterations: int) -> tuple[np.ndarray, Mixture]:
    """Per block, the posterior (equal priors) that the block has no CFA trace, after the paper's 5×5
    median filtering of the log-likelihood ratio; uninformative blocks enter the median as even odds.
    All zeros if the mixture cannot be fitted."""
    samples = feature.value[feature.fit]
    mixture = em_zero_mean(samples, max_iterations) if samples.size >= 2 else Mixture(0.0, 0.0, 0.0, 0.0, 0)
    if not (mixture.v1 > 0.0 and mixture.v2 > 0.0):
        return np.zeros(feature.value.shape, np.float32), mixture
    llr = np.where(feature.informative, mixture.log_likelihood_ratio(feature.value), 0.0)
    llr = median_symmetric(np.clip(llr, -1e30, 1e30)).astype(np.float64)
    probability = 1.0 / (1.0 + np.exp(np.clip(llr, -700.0, 700.0)))
    return probability.astype(np.float32), mixture


class CfaAnalyzer(Analyzer):
    id = "cfa"
    title = "CFA demosaicing artefacts"
    version = "1.0"
    Params = CfaParams
    card_file = Path(__file__).with_name("cfa.md")

    def run(self, media: Media, params: CfaParams, ctx: RunContext) -> Heatmap:
        ctx.progress(0.05, "decoding")
        rgb = media.pixels()
        h, w = rgb.shape[:2]
        block = params.block + params.block % 2
        smallest = max(MIN_SIDE, 4 * block)
        if min(h, w) < smallest:
            raise ValueError(f"image too small for CFA analysis: {w}×{h} pixels, needs {smallest} on each side")
        rgb = rgb[: h - h % 2, : w - w % 2]
        ctx.progress(0.1, "detecting the Bayer arrangement")
        arrangement, errors = detect_bayer(rgb)
        tile = BAYER_TILES[arrangement]
        ctx.check_cancelled()
        ctx.progress(0.4, f"green-channel interpolation trace ({arrangement})")
        feature = cfa_feature(green_lattice_sums(rgb, tile, block), block, params.toolbox_zeros)
        ctx.check_cancelled()
        ctx.progress(0.7, "fitting the two-component mixture")
        probability, mixture = no_trace_probability(feature, params.em_iterations)
        heat = expand_blocks(probability, block, (h, w))
        ctx.check_cancelled()
        ctx.progress(0.85, "Dirik–Memon green error share")
        share = expand_blocks(np.clip(green_share(rgb, tile), 0.0, 1.0), DETECTION_BLOCK, (h, w))
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            message=f"Bayer arrangement {arrangement} (the closest bilinear re-demosaicing)",
            score=map_score(heat),
            score_meaning=(
                "uncalibrated heterogeneity of the map in [0, 1] (99th percentile minus median): higher "
                "means some blocks lose the CFA trace that the rest has; not a probability"
            ),
            map=heat,
            stack={
                "CFA feature (0.5: no trace, brighter: stronger trace)": expand_blocks(
                    np.clip(0.5 + feature.value / 8.0, 0.0, 1.0), block, (h, w)
                ),
                "green share of re-demosaicing error (Dirik–Memon)": share,
            },
            legend_low="CFA interpolation trace present",
            legend_high="no CFA trace (suspicious where the rest has one)",
            stats={
                "arrangement_margin": arrangement_margin(errors),
                "mixture_weight_no_trace": round(mixture.alpha, 4),
                "trace_mean_feature": round(mixture.mu2, 4),
                "trace_std_feature": round(float(np.sqrt(max(mixture.v2, 0.0))), 4),
                "no_trace_std_feature": round(float(np.sqrt(max(mixture.v1, 0.0))), 4),
                "em_iterations": float(mixture.iterations),
                "no_trace_fraction": round(float((probability > 0.5).mean()), 4),
                "uninformative_fraction": round(float(1.0 - feature.informative.mean()), 4),
            },
        )
