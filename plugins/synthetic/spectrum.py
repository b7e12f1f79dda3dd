"""Periodic traces in the noise residual's spectrum: the marks that generator upsampling leaves.

Image generators build their output by repeated 2× upsampling (transposed convolutions, or nearest
upsampling followed by convolutions). That leaves a pattern repeating every 2, 4 or 8 pixels in the
fine detail of the image, invisible to the eye but a sharp peak in the Fourier spectrum of the
noise residual (the image minus a 3×3 median of it), at 1/2, 1/4 or 1/8 cycle per pixel (Zhang,
Karaman, Chang 2019; Durall et al. 2020; Corvi et al. 2023). Camera photos rarely have such peaks,
except the 8-pixel grid of JPEG compression, which lands on the very same frequencies and is
labelled as such here. This is an aid for the analyst, not a detector: no probability is given.

Spectra are averaged over overlapping tiles (Welch's method), so a peak must be present across the
image to stand out; peaks are searched at every multiple of 1/8 cycle per pixel, in the spectrum of
the residual (a fixed pattern added to the image) and in that of its magnitude (a pattern in how
strong the detail is, as interpolation leaves).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from plugins.localization.common import luminance
from plugins.synthetic.detector import center_crop
from plugins.synthetic.plot import line_plot
from workbench.api import Analyzer, Facts, Media, RunContext, Table, colorize, param

GRID = 8
"""Candidate frequencies are the multiples of 1/GRID cycle per pixel (periods of 2, 4 and 8 pixels)."""
MAX_TILES_PER_AXIS = 32
"""Welch tiles per axis at most (a 24-megapixel photo: 1,024 tiles, about a second)."""
PEAK_HALF_WIDTH = 1
"""A line falls within ±1 bin of its exact frequency (the Hann window's main lobe)."""
BASELINE_EXCLUDE = 3
"""Bins around a candidate left out of its baseline, so the peak's own skirt does not raise it."""
DISPLAY_SIDE = 384
MAX_SIDE = 4096
"""Larger images are analysed on their central MAX_SIDE × MAX_SIDE region (memory; the tiles are
spread over it anyway). Cropped, never resized: resizing moves the peaks."""
EPS = 1e-20
SPECTRA = {"residual": "residual spectrum", "magnitude": "residual-magnitude spectrum"}


@dataclass
class SpectrumParams:
    prominence_db: float = param(
        10.0, "Peak threshold (dB)",
        "how far above its local baseline (median of the surrounding frequencies) a candidate must rise to be "
        "reported; 10 dB = ten times the power", min=3.0, max=40.0,
    )
    tile: int = param(
        128, "Tile size (pixels)",
        "side of the tiles whose spectra are averaged; a multiple of 8. Larger tiles resolve frequencies "
        "more finely but average fewer tiles", min=32, max=512,
    )


@dataclass(frozen=True)
class Candidate:
    """One searched frequency (fy, fx in cycles per pixel) with its prominence in each spectrum."""

    fy: Fraction
    fx: Fraction
    residual_db: float
    magnitude_db: float

    @property
    def period(self) -> int:
        """Pixels after which the pattern repeats (2, 4 or 8)."""
        return math.lcm(self.fy.denominator, self.fx.denominator)

    @property
    def prominence_db(self) -> float:
        return max(self.residual_db, self.magnitude_db)

    @property
    def spectrum(self) -> str:
        return "residual" if self.residual_db >= self.magnitude_db else "magnitude"

    @property
    def on_axis(self) -> bool:
        return self.fy == 0 or self.fx == 0

    def name(self) -> str:
        return f"fx {_fraction(self.fx)}, fy {_fraction(self.fy)} cycle/px (period {self.period} px)"


@dataclass(frozen=True)
class SpectrumAnalysis:
    residual_power: np.ndarray
    """Mean power of the residual's tiles, tile × tile, unshifted (zero frequency at [0, 0])."""
    magnitude_power: np.ndarray
    candidates: list[Candidate]
    tiles: int
    tile: int


def noise_residual(luma: np.ndarray) -> np.ndarray:
    """Y − median3×3(Y), signed: the fine detail and noise, where generator traces live."""
    luma = luma.astype(np.float32)
    return luma - cv2.medianBlur(luma, 3)


def welch_power(field: np.ndarray, tile: int) -> tuple[np.ndarray, int]:
    """Mean Hann-windowed power spectrum of tile × tile windows spread over the field (half
    overlap, at most MAX_TILES_PER_AXIS per axis) and the number of tiles averaged."""
    h, w = field.shape
    window = np.hanning(tile).astype(np.float32)
    window = np.outer(window, window)
    rows, cols = (_positions(side, tile) for side in (h, w))
    total = np.zeros((tile, tile), np.float64)
    for y in rows:
        for x in cols:
            patch = field[y : y + tile, x : x + tile]
            total += np.abs(np.fft.fft2((patch - patch.mean()) * window)) ** 2
    return total / (len(rows) * len(cols)), len(rows) * len(cols)


def _positions(side: int, tile: int) -> list[int]:
    count = min(MAX_TILES_PER_AXIS, (side - tile) // (tile // 2) + 1)
    return sorted({round(v) for v in np.linspace(0, side - tile, count)})


def candidate_bins(tile: int) -> list[tuple[Fraction, Fraction, int, int]]:
    """(fy, fx, row bin, column bin) of every multiple of 1/GRID, one of each ±f pair (the
    spectrum of a real image is symmetric), zero frequency left out."""
    seen: set[tuple[int, int]] = set()
    found = []
    for i in range(GRID // 2 + 1):
        for j in range(GRID // 2, -GRID // 2, -1):  # positive fx first: it names each ±f pair
            ky, kx = (i * tile // GRID) % tile, (j * tile // GRID) % tile
            key = min((ky, kx), ((-ky) % tile, (-kx) % tile))
            if key == (0, 0) or key in seen:
                continue
            seen.add(key)
            found.append((Fraction(i, GRID), Fraction(j, GRID), ky, kx))
    return found


def prominence_db(power_db: np.ndarray, ky: int, kx: int) -> float:
    """Strongest bin within ±1 of (ky, kx) minus the median of its neighbourhood (dB); the
    neighbourhood wraps around, as the spectrum does."""
    tile = power_db.shape[0]
    radius = max(6, tile // 16)
    offsets = np.arange(-radius, radius + 1)
    patch = power_db[np.ix_((ky + offsets) % tile, (kx + offsets) % tile)]
    centre = slice(radius - PEAK_HALF_WIDTH, radius + PEAK_HALF_WIDTH + 1)
    ring = np.ones(patch.shape, bool)
    ring[radius - BASELINE_EXCLUDE : radius + BASELINE_EXCLUDE + 1,
         radius - BASELINE_EXCLUDE : radius + BASELINE_EXCLUDE + 1] = False
    return float(patch[centre, centre].max() - np.median(patch[ring]))


def analyse(luma: np.ndarray, tile: int) -> SpectrumAnalysis:
    """The averaged spectra of the residual and of its magnitude, and every candidate's prominence."""
    residual = noise_residual(luma)
    residual_power, tiles = welch_power(residual, tile)
    magnitude_power, _ = welch_power(np.abs(residual), tile)
    residual_db, magnitude_db = _db(residual_power), _db(magnitude_power)
    candidates = [
        Candidate(fy, fx, prominence_db(residual_db, ky, kx), prominence_db(magnitude_db, ky, kx))
        for fy, fx, ky, kx in candidate_bins(tile)
    ]
    return SpectrumAnalysis(residual_power, magnitude_power, candidates, tiles, tile)


def azimuthal_average(power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean power (dB) over rings of equal radial frequency, from 0 to 1/2 cycle per pixel."""
    tile = power.shape[0]
    freq = np.fft.fftfreq(tile)
    radius = np.hypot(*np.meshgrid(freq, freq, indexing="ij"))
    bins = np.round(radius * tile).astype(int)
    keep = bins <= tile // 2
    sums = np.bincount(bins[keep], weights=power[keep], minlength=tile // 2 + 1)
    counts = np.bincount(bins[keep], minlength=tile // 2 + 1)
    return np.arange(tile // 2 + 1) / tile, _db(sums / np.maximum(counts, 1))


def _db(power: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(power + EPS)


def _fraction(value: Fraction) -> str:
    return str(value) if value else "0"


# -- reading the peaks -----------------------------------------------------------------------
def block_grid_reason(media_format: str, peaks: list[Candidate]) -> str | None:
    """Why the 8-pixel JPEG grid explains peaks on multiples of 1/8, or None when nothing says so."""
    if media_format.upper() in ("JPEG", "MPO"):
        return "the file is a JPEG"
    if any(p.period == GRID and p.on_axis for p in peaks):
        return "the image shows an 8-pixel grid (JPEG compression before it was saved in this format?)"
    return None


def label(peak: Candidate, grid_reason: str | None) -> str:
    """What a peak at this frequency is typically left by, in words."""
    if grid_reason:
        return f"JPEG 8×8 block grid ({grid_reason})"
    if peak.period == 2:
        return "period 2 px: as left by 2× upsampling (e.g. a generator's transposed convolution)"
    if peak.period == 4:
        return "period 4 px: as left by 4× upsampling or two 2× upsampling stages"
    return "period 8 px: a block grid (earlier compression) or 8× upsampling"


def findings(peaks: list[Candidate], grid_reason: str | None, threshold: float) -> list[str]:
    upsampling = [] if grid_reason else peaks
    if not peaks:
        return [
            f"No periodic peak rises {threshold:g} dB above its surroundings at the frequencies generator "
            "upsampling leaves (periods of 2, 4 and 8 pixels). This does not show the image is a camera "
            "photo: many generators, resizing and re-compression leave no such peak."
        ]
    out = []
    if grid_reason:
        out.append(
            f"{len(peaks)} peak(s) on the 8-pixel grid, explained by JPEG block compression ({grid_reason}); "
            "they say nothing about how the picture was made, and may hide generator peaks at the same "
            "frequencies."
        )
    if upsampling:
        periods = sorted({p.period for p in upsampling})
        strongest = max(upsampling, key=lambda p: p.prominence_db)
        out.append(
            f"Periodic peak(s) with a period of {', '.join(map(str, periods))} pixels, the strongest "
            f"{strongest.prominence_db:.1f} dB above its surroundings at {strongest.name()}: the kind of trace "
            "upsampling in image generators leaves. Other causes: a resized (enlarged) image, colour "
            "demosaicing, a periodic texture or screen pattern in the scene. Look at the image and its history "
            "before drawing a conclusion."
        )
    return out


# -- figures ---------------------------------------------------------------------------------
def spectrum_image(power: np.ndarray, peaks: list[Candidate]) -> np.ndarray:
    """The centred log spectrum in colour (zero frequency in the middle, ±1/2 cycle/px at the
    edges), peaks ringed in cyan."""
    tile = power.shape[0]
    db = np.fft.fftshift(_db(power))
    low, high = np.percentile(db, [1.0, 99.9])
    image = colorize(np.clip((db - low) / max(high - low, 1e-6), 0.0, 1.0))
    scale = max(1, DISPLAY_SIDE // tile)
    image = np.ascontiguousarray(cv2.resize(image, (tile * scale, tile * scale), interpolation=cv2.INTER_NEAREST))
    for peak in peaks:
        for sign in (1, -1):
            y = (tile // 2 + sign * float(peak.fy) * tile + 0.5) * scale
            x = (tile // 2 + sign * float(peak.fx) * tile + 0.5) * scale
            cv2.circle(image, (round(x), round(y)), 3 * scale, (0, 255, 255), 1, cv2.LINE_AA)
    return image


def azimuthal_plot(power: np.ndarray, peaks: list[Candidate]) -> np.ndarray:
    freqs, values = azimuthal_average(power)
    ticks = [(k / GRID, _fraction(Fraction(k, GRID))) for k in range(GRID // 2 + 1)]
    marks = sorted({min(math.hypot(p.fx, p.fy), 0.5) for p in peaks})
    return line_plot(freqs, values, ticks, "Azimuthal average of the residual spectrum (cycle/px)", "dB", marks)


# -- analyzer --------------------------------------------------------------------------------
class SpectrumAnalyzer(Analyzer):
    id = "synthetic.spectrum"
    title = "Residual spectrum (upsampling traces)"
    version = "1.0"
    Params = SpectrumParams
    card_file = Path(__file__).with_name("spectrum.md")
    on_frames = False  # a decoded, re-encoded video frame's spectrum shows the codec, not the generator

    def run(self, media: Media, params: SpectrumParams, ctx: RunContext) -> Facts:
        if params.tile % GRID:
            raise ValueError(f"tile size must be a multiple of {GRID} pixels, got {params.tile}")
        full = media.pixels()
        rgb = center_crop(full, (min(full.shape[0], MAX_SIDE), min(full.shape[1], MAX_SIDE)))
        h, w = rgb.shape[:2]
        tile = params.tile
        if min(h, w) < tile:
            tile = min(h, w) // GRID * GRID
            if tile < 32:
                raise ValueError(f"image too small for a spectrum: {w}×{h} pixels, needs at least 32×32")
        ctx.progress(0.1, "noise residual and spectra")
        analysis = analyse(luminance(rgb), tile)
        ctx.check_cancelled()
        ctx.progress(0.8, "peaks and figures")
        peaks = sorted(
            (c for c in analysis.candidates if c.prominence_db >= params.prominence_db),
            key=lambda c: -c.prominence_db,
        )
        grid_reason = block_grid_reason(media.format, peaks)
        peak_rows = [
            (p.name(), f"+{p.prominence_db:.1f} dB in the {SPECTRA[p.spectrum]}: {label(p, grid_reason)}")
            for p in peaks
        ] or [("none", f"no candidate frequency rises {params.prominence_db:g} dB above its surroundings")]
        candidate_rows = [
            (c.name(), f"residual {c.residual_db:+.1f} dB, magnitude {c.magnitude_db:+.1f} dB")
            for c in analysis.candidates
        ]
        method_rows = [
            ("analysed", f"{w}×{h} pixels" + (" (central region)" if rgb.shape != full.shape else "")),
            ("residual", "luma minus its 3×3 median"),
            ("spectra", f"mean of {analysis.tiles} Hann-windowed tiles of {tile}×{tile} pixels (Welch)"),
            ("searched", f"every multiple of 1/{GRID} cycle/px (periods 2, 4, 8 px), both spectra"),
            ("threshold", f"{params.prominence_db:g} dB above the median of the surrounding frequencies"),
            ("file format", media.format),
        ]
        ctx.progress(1.0, "done")
        return Facts(
            analyzer=self.id,
            score_meaning="no score: a forensic aid for the analyst, not a detector (see the peak list)",
            tables=[
                Table("Spectral peaks", peak_rows),
                Table("All searched frequencies", candidate_rows),
                Table("Method", method_rows),
            ],
            findings=findings(peaks, grid_reason, params.prominence_db),
            images={
                SPECTRA["residual"]: spectrum_image(analysis.residual_power, peaks),
                SPECTRA["magnitude"]: spectrum_image(analysis.magnitude_power, peaks),
                "azimuthal average": azimuthal_plot(analysis.residual_power, peaks),
            },
        )
