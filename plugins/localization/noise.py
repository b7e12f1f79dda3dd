"""Local noise level: spliced-in regions often carry a different amount of sensor/processing noise.

Two views: the wavelet estimate of Mahdian & Saic (the toolbox's NOI1), and a simple median-filter
residue (as in Forensically's noise analysis). Each heat map is the two-sided deviation of the local
level from the image's typical level (`deviation.py`): a region with too little noise (inpainted,
smoothed) is as inconsistent as one with too much. The level itself stays as the "noise level" layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from plugins.localization.common import (
    SCORE_MEANING,
    block_map_score,
    blocks,
    expand_blocks,
    map_score,
    media_luminance,
    normalize,
    percentiles,
    stretch,
    ycbcr_luma,
)
from plugins.localization.deviation import FULL_SCALE, log_deviation
from workbench.api import Analyzer, Heatmap, Media, RunContext, browsing_copy, param

DB8_REC_LO = np.array([
    0.05441584224308161, 0.3128715909144659, 0.6756307362980128, 0.5853546836548691,
    -0.015829105256023893, -0.2840155429624281, 0.00047248457399797254, 0.128747426620186,
    -0.01736930100202211, -0.04408825393106472, 0.013981027917015516, 0.008746094047015655,
    -0.00487035299301066, -0.0003917403729959771, 0.0006754494059985568, -0.00011747678400228192,
])
"""Daubechies 'db8' reconstruction low-pass filter (16 taps), as in PyWavelets and MATLAB."""

DB8_REC_HI = (-1.0) ** np.arange(16) * DB8_REC_LO[::-1]
"""The quadrature-mirror high-pass. Correlating with it equals convolving with the decomposition
high-pass, which is what `dwt` does."""

MAD_TO_SIGMA = 0.6745
"""median(|x|) / 0.6745 estimates σ of zero-mean Gaussian noise (Donoho's robust estimator)."""

STUDIO_TO_FULL = 255.0 / 219.0
"""Y of rgb2ycbcr spans 16–235: multiply by this to express a σ in 8-bit grey levels."""


def diagonal_detail(channel: np.ndarray) -> np.ndarray:
    """HH1: the diagonal detail subband of a one-level 2-D db8 DWT, float32.

    Same conventions as MATLAB's `dwt2(Y, 'db8')` and `pywt.dwt2(Y, 'db8')` (half-sample
    symmetric extension, output size ⌊(N + 15) / 2⌋, odd samples of the full convolution), so
    the toolbox's block map is reproduced (to float32 precision). Rows are filtered and decimated first, so the
    column pass runs on half the data.
    """
    taps = len(DB8_REC_HI)
    h, w = channel.shape
    padded = cv2.copyMakeBorder(
        np.asarray(channel, dtype=np.float32), taps - 1, taps - 1, taps - 1, taps - 1, cv2.BORDER_REFLECT
    )
    kernel = DB8_REC_HI.astype(np.float32)[None, :]
    # anchor (0, 0): output[p] = Σ_k kernel[k] · input[p + k]; sample p = 2·o + 1 is output o.
    rows = cv2.filter2D(padded, -1, kernel, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    rows = np.ascontiguousarray(rows[:, 1 : 2 * ((w + taps - 1) // 2) : 2])
    both = cv2.filter2D(rows, -1, kernel.T, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    return both[1 : 2 * ((h + taps - 1) // 2) : 2]


def block_noise_sigma(channel: np.ndarray, block: int) -> np.ndarray:
    """Per-block noise σ: median(|HH1|) / 0.6745 over `block`×`block` subband tiles (toolbox NOI1).

    The magnitudes are written tile by tile into one buffer and sorted in place: numpy's
    vectorised sort of such short rows is ~5× faster than the partition of np.median, and the
    mean of the middle value(s) is then the same median."""
    tiles = blocks(diagonal_detail(channel), block)
    magnitude = np.abs(tiles, out=np.empty(tiles.shape, np.float32)).reshape(*tiles.shape[:2], -1)
    magnitude.sort(axis=-1)
    count = magnitude.shape[-1]
    return np.mean(magnitude[..., (count - 1) // 2 : count // 2 + 1], axis=-1) / MAD_TO_SIGMA


def subband_grid_offset() -> tuple[int, int]:
    """Where the first subband block starts in image pixels (rows, columns): a subband block of b
    samples covers 2·b image pixels, shifted up/left by the 16-tap filter's delay."""
    delay = (len(DB8_REC_HI) - 1) // 2
    return -delay, -delay


@dataclass
class NoiseWaveletParams:
    block: int = param(
        8, "Block size (wavelet samples)",
        "side of the blocks in which σ is estimated, in subband samples (one sample = 2 pixels); "
        "smaller localises better but estimates worse", min=2, max=64,
    )


LEVEL_LAYER = "noise level"
"""The stack layer holding the level map (what the toolbox computes, and versions 1.0's map)."""
HIGH_LEGEND = f"{FULL_SCALE:g} robust SDs or more from the typical level, too quiet or too noisy"


class NoiseWaveletAnalyzer(Analyzer):
    id = "noise_wavelet"
    title = "Local noise level (wavelet, NOI1)"
    version = "2.0"
    earlier_maps = {"1.0": LEVEL_LAYER}
    Params = NoiseWaveletParams
    card_file = Path(__file__).with_name("noise.md")
    cost_per_mp = 0.012

    def run(self, media: Media, params: NoiseWaveletParams, ctx: RunContext) -> Heatmap:
        rgb = media.pixels()
        h, w = rgb.shape[:2]
        if min(h, w) < 2 * params.block:
            raise ValueError(
                f"image too small for noise estimation: {w}×{h} pixels, needs at least "
                f"{2 * params.block}×{2 * params.block} (one block)"
            )
        ctx.progress(0.2, "wavelet transform")
        sigma = block_noise_sigma(ycbcr_luma(rgb), params.block)
        ctx.check_cancelled()
        ctx.progress(0.8, "building the map")
        deviation = log_deviation(sigma)
        grey = sigma * STUDIO_TO_FULL
        on_image = (2 * params.block, (h, w), subband_grid_offset())  # block side in pixels, shape, origin
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            score=block_map_score(deviation.heat, *on_image),
            score_meaning=SCORE_MEANING,
            map=expand_blocks(deviation.heat, *on_image),
            stack={
                LEVEL_LAYER: browsing_copy(expand_blocks(normalize(sigma), *on_image)),
                "noise level clipped at 99th percentile": browsing_copy(
                    expand_blocks(normalize(sigma, 0.0, 99.0), *on_image)),
            },
            legend_low=f"typical noise level of this image (σ ≈ {deviation.median * STUDIO_TO_FULL:.2f} grey levels)",
            legend_high=HIGH_LEGEND,
            stats={
                "median_sigma": round(float(np.median(grey)), 3),
                "p99_sigma": round(float(np.percentile(grey, 99)), 3),
                "max_sigma": round(float(grey.max()), 3),
                "spread_log_sigma": round(deviation.spread, 3),
                "blocks": float(sigma.size),
            },
        )


@dataclass
class NoiseMedianParams:
    window: int = param(
        16, "Averaging window (pixels)", "side of the box over which the residue is averaged", min=1, max=256
    )


def median_residue(channel: np.ndarray) -> np.ndarray:
    """|Y − median3×3(Y)|: mostly noise and fine texture, since a 3×3 median keeps edges."""
    channel = np.asarray(channel, dtype=np.float32)
    return cv2.absdiff(channel, cv2.medianBlur(channel, 3))


class NoiseMedianAnalyzer(Analyzer):
    id = "noise_median"
    title = "Noise residue (median filter)"
    version = "2.0"
    earlier_maps = {"1.0": LEVEL_LAYER}
    Params = NoiseMedianParams
    card_file = Path(__file__).with_name("noise_median.md")
    cost_per_mp = 0.016

    def run(self, media: Media, params: NoiseMedianParams, ctx: RunContext) -> Heatmap:
        ctx.progress(0.2, "median filter")
        residue = median_residue(media_luminance(media))
        ctx.check_cancelled()
        ctx.progress(0.7, "local average")
        local = cv2.blur(residue, (params.window, params.window), borderType=cv2.BORDER_REFLECT)
        p1, p99 = (float(v) for v in percentiles(local, [1, 99]))
        deviation = log_deviation(local)
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            score=map_score(deviation.heat),
            score_meaning=SCORE_MEANING,
            map=deviation.heat,
            stack={LEVEL_LAYER: browsing_copy(stretch(local, p1, p99))},
            legend_low=f"typical residue of this image ({deviation.median:.2f} grey levels)",
            legend_high=HIGH_LEGEND,
            stats={
                "mean_residue": round(cv2.mean(residue)[0], 3),
                "p1_local_residue": round(float(p1), 3),
                "median_local_residue": round(deviation.median, 3),
                "p99_local_residue": round(float(p99), 3),
                "spread_log_residue": round(deviation.spread, 3),
            },
        )
