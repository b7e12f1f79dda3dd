"""JPEG ghosts: a region once saved at a lower quality re-compresses with little loss at that quality."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from plugins.localization.common import jpeg_roundtrip, normalize
from workbench.core.media import Media
from workbench.core.plugin import Analyzer, RunContext, param
from workbench.core.results import Heatmap

_THIRD_SQUARES = (np.arange(256, dtype=np.float32) ** 2 / 3.0)[None, :]
"""Look-up table d → d² / 3: summing it over R, G, B gives the channel mean of the squared error."""

FLAT_RANGE = 5.0
"""Squared grey levels. A pixel whose difference varies by much less than this across qualities
(flat or clipped areas) carries no ghost information, so its ghost strength is damped by
range / (range + FLAT_RANGE)."""

MEDIAN_STRIDE = 4
"""The per-quality typical value is the median of every 4th pixel in each direction (fast, ample)."""


@dataclass
class GhostParams:
    q_min: int = param(50, "Lowest quality", "first re-save quality of the sweep", min=1, max=100)
    q_max: int = param(100, "Highest quality", "last re-save quality of the sweep", min=1, max=100)
    step: int = param(
        5, "Quality step", "the toolbox uses 51–100 in steps of 1: finer but 5× slower and 5× the memory",
        min=1, max=50,
    )
    window: int = param(16, "Averaging window (pixels)", "b: side of the box the difference is averaged over",
                        min=1, max=64)


def ghost_differences(
    rgb: np.ndarray, qualities: list[int], window: int, ctx: RunContext | None = None
) -> np.ndarray:
    """δ_q for each quality (Farid eq. 4): squared difference to the re-save at q, mean of R, G, B,
    averaged over a b×b window; shape (len(qualities), H, W), float32.

    Scratch planes are allocated once: on a 12-MP image, fresh arrays per quality cost more in
    page faults than the arithmetic itself.
    """
    ctx = ctx or RunContext()
    shape = rgb.shape[:2]
    out = np.empty((len(qualities), *shape), np.float32)
    planes = [np.empty(shape, np.uint8) for _ in range(3)]
    squares = [np.empty(shape, np.float32) for _ in range(3)]
    for i, quality in enumerate(qualities):
        ctx.check_cancelled()
        ctx.progress(0.85 * i / len(qualities), f"re-saving at quality {quality}")
        cv2.split(cv2.absdiff(rgb, jpeg_roundtrip(rgb, quality)), planes)
        for plane, square in zip(planes, squares, strict=True):
            cv2.LUT(plane, _THIRD_SQUARES, dst=square)
        cv2.add(squares[0], squares[1], dst=squares[0])
        cv2.add(squares[0], squares[2], dst=squares[0])
        cv2.blur(squares[0], (window, window), dst=out[i], borderType=cv2.BORDER_REFLECT)
    return out


def qualities_of(params: GhostParams) -> list[int]:
    if params.q_min > params.q_max:
        raise ValueError(f"q_min ({params.q_min}) must not exceed q_max ({params.q_max})")
    qualities = list(range(params.q_min, params.q_max + 1, params.step))
    if len(qualities) < 2:
        raise ValueError("JPEG ghosts need at least two qualities: widen q_min..q_max or lower the step")
    return qualities


def closeness(differences: np.ndarray) -> np.ndarray:
    """1 − Farid's per-pixel normalisation, in place: 1 at the quality where the pixel's own
    difference is lowest, 0 where it is highest. Texture (which scales all differences) cancels."""
    low = differences.min(axis=0)
    spread = differences.max(axis=0) - low
    scale = 1.0 / np.maximum(spread, 1e-6)
    for d in differences:
        np.subtract(d, low, out=d)
        np.multiply(d, scale, out=d)
        np.subtract(1.0, d, out=d)
    return spread


def ghost_strength(closeness_maps: np.ndarray, spread: np.ndarray, ctx: RunContext) -> tuple[np.ndarray, list[float]]:
    """Per pixel, the most that it re-compresses better than the typical pixel at any one quality
    (closeness minus that quality's median), damped in flat areas; and per quality the 99th
    percentile of that excess, i.e. how strong the strongest ghost at that quality is."""
    confidence = spread / (spread + FLAT_RANGE)
    strength = np.zeros(spread.shape, np.float32)
    peaks = []
    for ghost in closeness_maps:
        ctx.check_cancelled()
        excess = (ghost - np.median(ghost[::MEDIAN_STRIDE, ::MEDIAN_STRIDE])) * confidence
        np.maximum(strength, excess, out=strength)
        peaks.append(float(np.percentile(excess[::MEDIAN_STRIDE, ::MEDIAN_STRIDE], 99)))
    return strength, peaks


class JpegGhostAnalyzer(Analyzer):
    id = "jpeg_ghost"
    title = "JPEG ghosts"
    version = "1.0"
    Params = GhostParams
    card_file = Path(__file__).with_name("ghost.md")

    def run(self, media: Media, params: GhostParams, ctx: RunContext) -> Heatmap:
        qualities = qualities_of(params)
        rgb = media.pixels()
        if min(rgb.shape[:2]) < params.window:
            raise ValueError(
                f"image too small for JPEG ghosts: {rgb.shape[1]}×{rgb.shape[0]} pixels, "
                f"needs at least the {params.window}×{params.window} averaging window"
            )
        maps = ghost_differences(rgb, qualities, params.window, ctx)
        curve = maps.mean(axis=(1, 2))
        ctx.progress(0.9, "normalising")
        strength, peaks = ghost_strength(maps, closeness(maps), ctx)
        heat = normalize(strength, 0.0, 99.5)
        best, ghost_at = int(np.argmin(curve)), int(np.argmax(peaks))
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            score=float(np.clip(peaks[ghost_at], 0.0, 1.0)),
            score_meaning=(
                "uncalibrated ghost strength in [0, 1]: at the quality where it is largest, the 99th percentile of "
                "how much better pixels re-compress than the typical pixel; higher means a stronger ghost, "
                "not a probability"
            ),
            map=heat,
            stack={f"q={q}": ghost for q, ghost in zip(qualities, maps, strict=True)},
            legend_low="behaves like most of the image at every quality",
            legend_high="re-compresses unusually well at some quality (a ghost)",
            stats={
                "min_difference_quality": float(qualities[best]),
                "min_difference": round(float(curve[best]), 3),
                "ghost_quality": float(qualities[ghost_at]),
                "ghost_strength": round(peaks[ghost_at], 3),
            },
        )
