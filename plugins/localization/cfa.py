"""CFA demosaicing artefacts (Ferrara et al. 2012): where does the green channel lack the periodic
correlation that a camera's colour-filter-array interpolation leaves behind?"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from plugins.localization.common import band_rows, block_map_score, cell_counts, cell_sums, expand_blocks
from workbench.api import Analyzer, Heatmap, Media, RunContext, browsing_copy, param

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


ROUND_HALF_UP = 1.0 / 64
"""Added before OpenCV's rounding to the nearest integer: re-demosaiced values are multiples of ¼, so
this rounds their halves up, as the reference's floor(x + ½) does, and creates no ties."""


def channel_bands(rgb: np.ndarray) -> Iterator[tuple[list[np.ndarray], slice]]:
    """The R, G and B planes (uint8) of bands of whole 16×16 blocks (`band_rows`), each with the 2
    rows around it that the 3×3 filters read (an even margin keeps the mosaic phase), and where the
    band lies in them."""
    h = rgb.shape[0]
    rows = band_rows(rgb.shape[1], DETECTION_BLOCK, 2)
    for top in range(0, h, rows):
        bottom = min(h, top + rows)
        lo, hi = max(0, top - 2), min(h, bottom + 2)
        yield list(cv2.split(rgb[lo:hi])), slice(top - lo, bottom - lo)


def prediction_kernel(c: int, phases: tuple[tuple[int, int], ...], at: tuple[int, int]) -> np.ndarray:
    """The 3×3 filter that gives, at the mosaic phase `at` (not sampled), channel `c`'s bilinear
    re-demosaicing from the samples at `phases` minus the pixel itself: the bilinear kernel without
    the taps that fall on other phases, −1 at the centre. It reads the unmasked channel, so keys with
    the same neighbour layout (beside, above and below, diagonal or around) share one filter."""
    kernel = (MAJOR_KERNEL if c == 1 else MINOR_KERNEL).copy()
    for dy in range(3):
        for dx in range(3):
            if ((at[0] + dy - 1) % 2, (at[1] + dx - 1) % 2) not in phases:
                kernel[dy, dx] = 0.0
    kernel[1, 1] = -1.0
    return kernel


def error_sums(rgb: np.ndarray, keys: list[tuple[int, tuple[tuple[int, int], ...]]]) -> dict[tuple, np.ndarray]:
    """Per 16×16 block and (channel, sample phases) key: the summed squared difference between the
    channel and its bilinear re-demosaicing from the samples at those phases (rounded like pixels).

    Each key sums, over the phases it does not sample, the squares of a `prediction_kernel` filter
    (the other phases add 0). In bands of rows, on the 8-bit planes: every value is an integer or a
    multiple of ¼ and every sum below 2²⁴, so 16-bit filtering and float32 sums are exact."""
    filters: dict[tuple[int, bytes], tuple[np.ndarray, set[tuple[int, int]]]] = {}  # kernel, phases read
    terms: dict[tuple, list[tuple[tuple[int, bytes], tuple[int, int]]]] = {key: [] for key in keys}
    for c, phases in keys:
        for at in ((y, x) for y in range(2) for x in range(2) if (y, x) not in phases):
            kernel = prediction_kernel(c, phases, at)
            name = (c, kernel.tobytes())
            filters.setdefault(name, (kernel, set()))[1].add(at)
            terms[c, phases].append((name, at))
    cols = -(-rgb.shape[1] // DETECTION_BLOCK)
    parts: dict[tuple, list[np.ndarray]] = {key: [] for key in keys}
    for planes, inner in channel_bands(rgb):
        grid = (-(-(inner.stop - inner.start) // DETECTION_BLOCK), cols)
        sums = {}
        for name, (kernel, read) in filters.items():
            negated = cv2.filter2D(planes[name[0]], cv2.CV_16S, kernel, delta=ROUND_HALF_UP,
                                   borderType=cv2.BORDER_CONSTANT)[inner]
            sums |= {(name, at): phase_square_sums(negated, at, grid) for at in read}
        for key, key_terms in terms.items():
            parts[key].append(sum(sums[term] for term in key_terms))
    return {key: np.concatenate(part) for key, part in parts.items()}


def phase_square_sums(values: np.ndarray, at: tuple[int, int], grid: tuple[int, int]) -> np.ndarray:
    """Per 16×16 block of `values` (`grid` blocks, the last ones partial), the sum of the squares of
    its pixels at the mosaic phase `at` (float32)."""
    out = np.zeros(grid, np.float32)
    squares = np.square(values[at[0] :: 2, at[1] :: 2], dtype=np.float32)
    if squares.size:
        found = cell_sums(squares, DETECTION_BLOCK // 2)
        out[: found.shape[0], : found.shape[1]] = found
    return out


def sample_phases(tile: np.ndarray, c: int) -> tuple[tuple[int, int], ...]:
    """Where the arrangement `tile` samples channel `c`."""
    return tuple((y, x) for y in range(2) for x in range(2) if tile[y, x] == c)


def reinterpolation_mse(sums: dict[tuple, np.ndarray], tile: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Per 16×16 block and channel, the mean squared re-demosaicing error for the arrangement `tile`,
    from the `error_sums` of an image of `shape`."""
    mse = np.stack([sums[c, sample_phases(tile, c)] for c in range(3)], axis=-1)
    return mse / cell_counts(shape, DETECTION_BLOCK)[..., None]


def textured_blocks(rgb: np.ndarray) -> np.ndarray:
    """Per 16×16 block and channel: sample standard deviation above SMOOTH_STD (exact float32 sums,
    in bands of rows)."""
    sums: list[list[np.ndarray]] = [[], [], []]
    squares: list[list[np.ndarray]] = [[], [], []]
    for planes, inner in channel_bands(rgb):
        for c, plane in enumerate(planes):
            values = plane[inner].astype(np.float32)
            sums[c].append(cell_sums(values, DETECTION_BLOCK))
            squares[c].append(cell_sums(np.square(values, out=values), DETECTION_BLOCK))
    counts = cell_counts(rgb.shape, DETECTION_BLOCK).astype(np.float64)
    out = []
    for c in range(3):
        total, energy = np.concatenate(sums[c]).astype(np.float64), np.concatenate(squares[c]).astype(np.float64)
        out.append((energy - total**2 / counts) / np.maximum(counts - 1, 1) > SMOOTH_STD**2)
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
    textured = textured_blocks(crop)
    if not textured.any():
        return next(iter(BAYER_TILES)), dict.fromkeys(BAYER_TILES, float("inf"))
    keys = list(dict.fromkeys((c, sample_phases(tile, c)) for tile in BAYER_TILES.values() for c in range(3)))
    sums = error_sums(crop, keys)  # the arrangements with the same green lattice share its sums
    errors = {
        name: float(reinterpolation_mse(sums, tile, crop.shape)[textured].mean()) for name, tile in BAYER_TILES.items()
    }
    return min(errors, key=errors.get), errors


def arrangement_margin(errors: dict[str, float]) -> float:
    """How much better the best arrangement re-demosaics than the runner-up (relative; 0 if untextured)."""
    best, second = sorted(errors.values())[:2]
    return round((second - best) / second, 6) if np.isfinite(second) and second > 0 else 0.0


def green_share(rgb: np.ndarray, tile: np.ndarray) -> np.ndarray:
    """Per 16×16 block: green's share of the re-demosaicing error (the toolbox's CFA2 / Dirik–Memon F1
    map; 0 where no channel has any error)."""
    mse = reinterpolation_mse(error_sums(rgb, [(c, sample_phases(tile, c)) for c in range(3)]), tile, rgb.shape)
    total = mse.sum(axis=-1)
    return np.divide(mse[..., 1], total, out=np.zeros_like(total), where=total > 0)


def green_pattern(tile: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """1.0 at the positions where the sensor measured green, 0.0 elsewhere (float32)."""
    h, w = shape
    return np.tile((tile == 1).astype(np.float32), ((h + 1) // 2, (w + 1) // 2))[:h, :w]


def _quincunx_taps() -> tuple[np.ndarray, np.ndarray]:
    """1-D taps whose two separable products sum to the paper's 7×7 Gaussian window (σ = 1, sampled
    over ±2σ) restricted to one quincunx and normalised to sum 1:
    g(x)g(y)·[x + y even] = (g(x)g(y) + g(x)(−1)^x · g(y)(−1)^y) / 2."""
    g = np.exp(-0.5 * np.linspace(-2.0, 2.0, 7) ** 2)
    s = g * (-1.0) ** np.arange(7)
    scale = 1.0 / np.sqrt(g.sum() ** 2 + s.sum() ** 2)
    return (g * scale).astype(np.float32), (s * scale).astype(np.float32)


QUINCUNX_TAPS = _quincunx_taps()


def quincunx_mean(values: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local mean over the pixels of each pixel's own quincunx (its CFA lattice)."""
    (g, s), border = QUINCUNX_TAPS, cv2.BORDER_REPLICATE
    mean = cv2.sepFilter2D(values, -1, g, g, borderType=border)
    return cv2.add(mean, cv2.sepFilter2D(values, -1, s, s, borderType=border), dst=mean)


def local_variance(green: np.ndarray) -> np.ndarray:
    """Local variance of the bilinear prediction error among same-lattice pixels, from 8-bit green.

    The error is (almost) zero where the camera interpolated green and sensor noise where it
    measured green. Computed in float32 (OpenCV's fast path; the reference uses float64) and, unlike
    the reference, without masking the other lattice, which only matters within 3 pixels of the border.
    """
    error = cv2.filter2D(green, cv2.CV_32F, PREDICTOR, borderType=cv2.BORDER_REPLICATE)
    mean = quincunx_mean(error)
    variance = quincunx_mean(np.square(error, out=error))
    variance -= np.square(mean, out=mean)
    return np.maximum(variance, 0.0, out=variance)


@dataclass
class BlockFeature:
    """Per whole block: the CFA feature, which blocks the mixture is fitted on, which carry evidence."""

    value: np.ndarray
    fit: np.ndarray
    informative: np.ndarray


def lattice_sums(variance: np.ndarray, lattices: tuple[np.ndarray, np.ndarray], block: int) -> np.ndarray:
    """Per block (whole blocks of `variance`): the summed log variance over the acquired and over the
    interpolated lattice (`lattices`: 1.0 on each, else 0.0), and how many positive variances each has
    (last axis, in that order). The counts are a constant where every variance is positive, as in most
    bands."""
    acquired_lattice, interpolated_lattice = lattices
    positive = variance > 0.0
    everywhere = bool(positive.all())
    logs = cv2.log(variance if everywhere else np.where(positive, variance, np.float32(1.0)))
    acquired = cell_sums(cv2.multiply(logs, acquired_lattice), block)
    interpolated = cell_sums(cv2.multiply(logs, interpolated_lattice), block)
    if everywhere:
        n_acquired = n_interpolated = np.full(acquired.shape, block * block / 2, np.float32)
    else:
        n_positive = positive.astype(np.float32)
        n_acquired = cell_sums(cv2.multiply(n_positive, acquired_lattice), block)
        n_interpolated = cell_sums(n_positive, block) - n_acquired
    return np.stack([acquired, interpolated, n_acquired, n_interpolated], axis=-1)


def green_lattice_sums(rgb: np.ndarray, tile: np.ndarray, block: int) -> np.ndarray:
    """`lattice_sums` of the green channel's local variance over the whole blocks of `rgb`,
    computed in bands of rows (each with the 4 rows around it that the filters read)."""
    h, w = rgb.shape[:2]
    whole_h, whole_w = h - h % block, w - w % block
    rows = band_rows(w, block, 4)
    acquired = green_pattern(tile, (min(rows, whole_h), whole_w))
    interpolated = 1.0 - acquired
    parts = []
    for top in range(0, whole_h, rows):
        bottom = min(whole_h, top + rows)
        lo, hi = max(0, top - 4), min(h, bottom + 4)  # an even margin keeps the mosaic phase
        variance = local_variance(cv2.extractChannel(rgb[lo:hi], 1))[top - lo : bottom - lo, :whole_w]
        parts.append(lattice_sums(variance, (acquired[: bottom - top], interpolated[: bottom - top]), block))
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
    cost_per_mp = 0.04

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
        share = browsing_copy(expand_blocks(np.clip(green_share(rgb, tile), 0.0, 1.0), DETECTION_BLOCK, (h, w)))
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            message=f"Bayer arrangement {arrangement} (the closest bilinear re-demosaicing)",
            score=block_map_score(probability, block, (h, w)),
            score_meaning=(
                "heterogeneity of the map in [0, 1] (99th percentile minus median): higher means some blocks "
                "lose the CFA trace that the rest has; not a probability"
            ),
            map=heat,
            stack={
                "CFA feature (0.5: no trace, brighter: stronger trace)": browsing_copy(expand_blocks(
                    np.clip(0.5 + feature.value / 8.0, 0.0, 1.0), block, (h, w)
                )),
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
