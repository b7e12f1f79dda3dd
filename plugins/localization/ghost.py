"""JPEG ghosts: a region once saved at a lower quality re-compresses with little loss at that quality.

The converse is as telling: in a JPEG saved twice, every original pixel carries the ghost of the first
save and a region pasted in between carries none. So the heat map is two-sided — how far a pixel's
closeness at some quality lies from the typical pixel's, either way — and the one-sided ghost (only
"closer than typical", Farid's reading) stays as a layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from plugins.localization.common import (
    MCU,
    bgr_resave_error,
    cell_counts,
    cell_sums,
    normalize,
    percentiles,
    resave_errors,
)
from workbench.api import Analyzer, Heatmap, Media, RunContext, param

FLAT_RANGE = 5.0
"""Squared grey levels. A pixel whose difference varies by much less than this across qualities
(flat or clipped areas) carries no ghost information, so its ghost strength is damped by
range / (range + FLAT_RANGE)."""

MEDIAN_STRIDE = 4
"""The per-quality typical value is the median of every 4th pixel in each direction (fast, ample)."""

STACK_SIDE = 1024
"""The browsable per-quality layers are means over step×step cells (the last row and column of
cells partial), the step chosen so that their longer side has at most this many values (but at
least 4 per averaging window, over which each difference is already a mean): 10 full-size layers
of a 12-MP image would take 480 MB and most of the analyzer's time."""


BAND_ROWS = 64
"""Rows per band of the second pass of `ghost_maps` (a multiple of the layers' step)."""

KEPT_BYTES = 640 << 20
"""The per-quality differences are kept between the two passes of `ghost_maps` while they take at
most this much memory (10 qualities of 12 MP: 480 MB; 11, up to quality 100: 528 MB), and recomputed
for larger images (`ResavedRows`)."""

CHUNK_BYTES = 128 << 20
"""Where the differences are recomputed, the re-save errors of a chunk of rows at every quality
take about this much (10 qualities of a 10,000-pixel-wide image: 416 rows), instead of 3 GB for
every quality of a 100-MP image."""


class ResavedRows:
    """The `resave_error` planes of an image at each quality, re-saved a chunk of rows at a time.

    A chunk starting on a macroblock row and re-saved with one more macroblock row on each side has
    exactly the pixels the whole image's re-save has there: the encoder codes each macroblock alone,
    and the decoder's chroma upsampling reads only the neighbouring macroblock row.
    """

    def __init__(self, rgb: np.ndarray, qualities: list[int], margin: int, chunk_rows: int) -> None:
        self._rgb, self._qualities, self._margin, self._chunk_rows = rgb, qualities, margin, chunk_rows
        self._planes: dict[int, np.ndarray] = {}
        self._origin = self._top = self._bottom = 0
        """First image row of the planes, and the rows [top, bottom) in which they are exact."""

    def planes(self, quality: int, rows: slice) -> tuple[np.ndarray, slice]:
        """Planes holding `rows` and `margin` rows around them (as far as the image goes), and where
        `rows` are in them."""
        height = self._rgb.shape[0]
        top, bottom = max(0, rows.start - self._margin), min(height, rows.stop + self._margin)
        if not self._top <= top < bottom <= self._bottom:
            self._resave(top, min(height, max(bottom, top + self._chunk_rows)))
        return self._planes[quality], slice(rows.start - self._origin, rows.stop - self._origin)

    def _resave(self, top: int, bottom: int) -> None:
        height = self._rgb.shape[0]
        first = max(0, (top - MCU) // MCU * MCU)
        last = min(height, -(-(bottom + MCU) // MCU) * MCU)
        self._planes = {}  # the previous chunk's go first
        bgr = cv2.cvtColor(self._rgb[first:last], cv2.COLOR_RGB2BGR)
        self._planes = {q: bgr_resave_error(bgr, q) for q in self._qualities}
        self._origin = first
        self._top = first + MCU if first > 0 else 0
        self._bottom = last - MCU if last < height else height


@dataclass
class GhostParams:
    q_min: int = param(50, "Lowest quality", "first re-save quality of the sweep", min=1, max=100)
    q_max: int = param(
        95, "Highest quality",
        "last re-save quality of the sweep; 100 shows no ghost (nothing can have been saved at a lower quality "
        "than 100 and then at 100 differently) and its re-save is the costliest",
        min=1, max=100,
    )
    step: int = param(
        5, "Quality step", "the toolbox uses 51–100 in steps of 1: finer but 5× slower and 5× the memory",
        min=1, max=50,
    )
    window: int = param(16, "Averaging window (pixels)", "b: side of the box the difference is averaged over",
                        min=1, max=64)


def summed_squares(planes: np.ndarray, window: int, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """3·δ_q (Farid eq. 4) into `out`: the squared re-save difference summed over the three planes of
    `resave_error` and averaged over a b×b window (`scratch`: a float32 plane of the same size)."""
    cv2.multiply(planes[0], planes[0], dst=scratch, dtype=cv2.CV_32F)
    cv2.accumulateSquare(planes[1], scratch)
    cv2.accumulateSquare(planes[2], scratch)
    return cv2.blur(scratch, (window, window), dst=out, borderType=cv2.BORDER_REFLECT)


def ghost_differences(rgb: np.ndarray, qualities: list[int], window: int) -> np.ndarray:
    """δ_q for each quality: squared difference to the re-save at q, mean of R, G, B, averaged over
    a b×b window; shape (len(qualities), H, W), float32 (the reference the tests and bench check)."""
    out = np.empty((len(qualities), *rgb.shape[:2]), np.float32)
    scratch = np.empty(rgb.shape[:2], np.float32)
    for quality, planes in resave_errors(rgb, qualities):
        i = qualities.index(quality)
        summed_squares(planes, window, out[i], scratch)
        out[i] *= np.float32(1.0 / 3.0)
    return out


def summed_squares_rows(planes: np.ndarray, rows: slice, window: int, out: np.ndarray) -> np.ndarray:
    """`summed_squares` for `rows` only, into `out` (those rows' shape), from those rows and the
    window//2 rows around them: the same values (box sums of integers below 2²⁴ are exact)."""
    height, margin = planes.shape[1], window // 2
    top, bottom = max(0, rows.start - margin), min(height, rows.stop + margin)
    squares = np.empty((bottom - top, planes.shape[2]), np.float32)
    summed_squares(planes[:, top:bottom], window, squares, np.empty_like(squares))
    np.copyto(out, squares[rows.start - top : rows.stop - top])
    return out


def qualities_of(params: GhostParams) -> list[int]:
    if params.q_min > params.q_max:
        raise ValueError(f"q_min ({params.q_min}) must not exceed q_max ({params.q_max})")
    qualities = list(range(params.q_min, params.q_max + 1, params.step))
    if len(qualities) < 2:
        raise ValueError("JPEG ghosts need at least two qualities: widen q_min..q_max or lower the step")
    return qualities


def sampling_step(shape: tuple[int, int], window: int) -> int:
    """Side of the pixel squares the browsable layers average (see STACK_SIDE)."""
    return max(1, min(window // 4, -(-max(shape) // STACK_SIDE)))


@dataclass
class GhostMaps:
    strength: np.ndarray
    """Full size, per pixel: the most it re-compresses better than the typical pixel at any one
    quality (closeness minus that quality's median), damped in flat areas; never below 0."""
    deviation: np.ndarray
    """Full size, per pixel: the most its closeness differs from the typical pixel's at any one
    quality, either way (|closeness − median|), damped in flat areas."""
    peaks: list[float]
    """Per quality, the 99th percentile of that excess: how strong the strongest ghost there is."""
    deviation_peaks: list[float]
    """Per quality, the 99th percentile of the two-sided difference."""
    layers: list[np.ndarray]
    """Per quality, the closeness (1 − Farid's per-pixel normalisation), area-averaged over
    step×step pixels."""
    curve: list[float]
    """Per quality, the image mean of δ_q."""


def ghost_maps(rgb: np.ndarray, qualities: list[int], window: int, step: int, ctx: RunContext) -> GhostMaps:
    """All maps of the analyzer, at full resolution.

    Closeness is 1 at the quality where a pixel's own difference is lowest and 0 where it is
    highest (texture, which scales all differences, cancels). A first pass over the qualities
    computes each difference and keeps the samples the typical values (median of every
    MEDIAN_STRIDE-th pixel) and the peaks need; a second pass, in bands of rows, takes every
    difference of a band again (kept from the first pass within KEPT_BYTES, recomputed beyond),
    normalises it by the band's lowest and highest and gives the layers, the strength
    max_q (closeness_q − median_q) · damping and the deviation max_q |closeness_q − median_q| · damping.
    Differences are taken as 3·δ_q: the normalisation is scale-free, and FLAT_RANGE is scaled to match.
    """
    shape = rgb.shape[:2]
    at_typical, curve, kept = {}, {}, {}
    keep = len(qualities) * shape[0] * shape[1] * 4 <= KEPT_BYTES
    summed = None if keep else np.empty(shape, np.float32)
    scratch = np.empty(shape, np.float32)
    typical = (slice(None, None, MEDIAN_STRIDE),) * 2
    for quality, error in resave_errors(rgb, qualities):  # not enumerate(): it would hold on to the last error
        ctx.check_cancelled()
        ctx.progress(0.45 * len(curve) / len(qualities), f"re-saving at quality {quality}")
        if keep:
            summed = kept[quality] = np.empty(shape, np.float32)
        summed_squares(error, window, summed, scratch)
        del error  # not kept: a 100-MP image's take 300 MB per quality
        at_typical[quality] = summed[typical].copy()
        curve[quality] = cv2.mean(summed)[0] / 3.0
    low, damping, scale = normalisation([at_typical[q] for q in qualities])
    medians, peaks, deviation_peaks = [], [], []
    for quality in qualities:
        near = 1.0 - (at_typical[quality] - low) * scale
        medians.append(float(percentiles(near, 50)))
        peaks.append(float(percentiles((near - medians[-1]) * damping, 99)))
        deviation_peaks.append(float(percentiles(np.abs(near - medians[-1]) * damping, 99)))
    # Second pass in bands of rows, every quality per band: the band's planes stay in the CPU cache,
    # and the scratch plane, free again, takes the result (no fresh 48 MB at 12 MP).
    strength, deviation = scratch, np.empty(shape, np.float32)
    layers = [np.empty((-(-shape[0] // step), -(-shape[1] // step)), np.float32) for _ in qualities]
    rows = max(1, BAND_ROWS // step) * step
    work = np.empty((min(rows, shape[0]), shape[1]), np.float32)
    nearest_work = np.empty_like(work)
    recomputed = None if keep else np.empty((len(qualities), *work.shape), np.float32)
    chunk_rows = max(1, CHUNK_BYTES // (3 * len(qualities) * shape[1]) // rows) * rows
    errors = None if keep else ResavedRows(rgb, qualities, window // 2, chunk_rows)
    for top in range(0, shape[0], rows):
        ctx.check_cancelled()
        ctx.progress(0.45 + 0.45 * top / shape[0], "ghost strength")
        band = slice(top, min(top + rows, shape[0]))
        far, farthest, nearest = work[: band.stop - top], strength[band], nearest_work[: band.stop - top]
        differences = [
            kept[q][band] if errors is None
            else summed_squares_rows(*errors.planes(q, band), window, recomputed[i, : band.stop - top])
            for i, q in enumerate(qualities)
        ]
        low, damping, scale = normalisation(differences)
        farthest.fill(np.inf)
        nearest.fill(-np.inf)
        for layer, difference, median in zip(layers, differences, medians, strict=True):
            cv2.multiply(cv2.subtract(difference, low, dst=far), scale, dst=far)  # 1 − closeness
            np.subtract(1.0, cell_means(far, step), out=layer[top // step : -(-band.stop // step)])
            cv2.add(far, median, dst=far)  # 1 − (closeness − median)
            cv2.min(farthest, far, dst=farthest)
            cv2.max(nearest, far, dst=nearest)
        cv2.subtract(1.0, farthest, dst=farthest)  # max_q (closeness − median)
        cv2.subtract(nearest, 1.0, dst=nearest)  # max_q (median − closeness)
        cv2.multiply(cv2.max(farthest, nearest, dst=deviation[band]), damping, dst=deviation[band])
        cv2.multiply(farthest, damping, dst=farthest)
    return GhostMaps(
        np.maximum(strength, 0.0, out=strength), deviation, peaks, deviation_peaks, layers,
        [curve[q] for q in qualities],
    )


def normalisation(differences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel of the same-shaped `differences` (one per quality): the lowest, the flat-area damping
    spread / (spread + FLAT_RANGE) and 1 / spread (spread = highest − lowest, at least 10⁻⁶)."""
    low, high = differences[0].copy(), differences[0].copy()
    for difference in differences[1:]:
        cv2.min(low, difference, dst=low)
        cv2.max(high, difference, dst=high)
    spread = cv2.subtract(high, low, dst=high)
    damping = np.divide(spread, np.add(spread, np.float32(3.0 * FLAT_RANGE)))
    return low, damping, np.divide(1.0, np.maximum(spread, np.float32(1e-6), out=spread), out=spread)


def cell_means(values: np.ndarray, cell: int) -> np.ndarray:
    """Means over `cell`×`cell` cells (the last row/column of cells partial)."""
    if cell == 1:
        return values
    return cell_sums(values, cell) / cell_counts(values.shape, cell)


GHOST_LAYER = "ghost (closer than typical)"
"""The one-sided ghost map: Farid's reading, and version 1.0's map."""


class JpegGhostAnalyzer(Analyzer):
    id = "jpeg_ghost"
    title = "JPEG ghosts"
    version = "2.0"
    earlier_maps = {"1.0": GHOST_LAYER}
    Params = GhostParams
    card_file = Path(__file__).with_name("ghost.md")
    cost_per_mp = 0.12

    def run(self, media: Media, params: GhostParams, ctx: RunContext) -> Heatmap:
        qualities = qualities_of(params)
        rgb = media.pixels()
        if min(rgb.shape[:2]) < params.window:
            raise ValueError(
                f"image too small for JPEG ghosts: {rgb.shape[1]}×{rgb.shape[0]} pixels, "
                f"needs at least the {params.window}×{params.window} averaging window"
            )
        step = sampling_step(rgb.shape[:2], params.window)
        maps = ghost_maps(rgb, qualities, params.window, step, ctx)
        ctx.progress(0.9, "normalising")
        ghost_layer = cell_means(normalize(maps.strength, 0.0, 99.5), step)
        heat = normalize(maps.deviation, 0.0, 99.5)
        curve, peaks, deviation_peaks = maps.curve, maps.peaks, maps.deviation_peaks
        best, ghost_at, deviation_at = int(np.argmin(curve)), int(np.argmax(peaks)), int(np.argmax(deviation_peaks))
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            score=float(np.clip(deviation_peaks[deviation_at], 0.0, 1.0)),
            score_meaning=(
                "ghost deviation in [0, 1]: at the quality where it is largest, the 99th percentile of how much "
                "pixels re-compress better or worse than the typical pixel; higher means a region with another "
                "compression history, not a probability"
            ),
            map=heat,
            stack={
                GHOST_LAYER: ghost_layer,
                **{f"q={q}": layer for q, layer in zip(qualities, maps.layers, strict=True)},
            },
            legend_low="behaves like most of the image at every quality",
            legend_high="re-compresses unusually well or badly at some quality (another history)",
            stats={
                "min_difference_quality": float(qualities[best]),
                "min_difference": round(float(curve[best]), 3),
                "ghost_quality": float(qualities[ghost_at]),
                "ghost_strength": round(peaks[ghost_at], 3),
                "deviation_quality": float(qualities[deviation_at]),
                "deviation_strength": round(deviation_peaks[deviation_at], 3),
            },
        )
