"""Error level analysis: where does the image react differently to one more JPEG save?"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from plugins.localization.common import resave_error, weighted_percentiles
from workbench.api import Analyzer, Heatmap, Media, RunContext, param


@dataclass
class ElaParams:
    quality: int = param(90, "Re-save JPEG quality", "quality of the test re-compression", min=1, max=100)
    scale: float = param(
        20.0, "Amplification", "error × amplification / 255 gives the map value", min=0.1, max=255.0
    )


def error_levels(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Per-pixel absolute difference (max over R, G, B) between the image and its JPEG re-save.

    This is the standard ELA definition (Krawetz 2007): regions already compressed at this
    quality change little, while pasted or retouched regions change more.
    """
    return strongest_channel(resave_error(rgb, quality))


def strongest_channel(planes: np.ndarray) -> np.ndarray:
    """Per pixel, the largest of the three planes (3, H, W)."""
    return cv2.max(cv2.max(planes[0], planes[1]), planes[2])


def ela_map(errors: np.ndarray, scale: float) -> np.ndarray:
    """Error × scale / 255, clipped at 1, float32 (one table look-up per pixel)."""
    table = np.minimum(np.arange(256, dtype=np.float32) * (scale / 255.0), 1.0)
    return cv2.LUT(errors, table[None, :])


def level_percentile(levels: np.ndarray, q: float) -> float:
    """`np.percentile(levels, q)` of a uint8 image, the same value, from the counts of its 256
    levels (OpenCV counts bands of < 2²⁴ pixels, exact in its float32 output) instead of a
    selection among all its pixels."""
    counts = np.zeros(256, np.int64)
    rows = max(1, 2**24 // max(1, levels.shape[1]))
    for top in range(0, levels.shape[0], rows):
        counts += cv2.calcHist([levels[top : top + rows]], [0], None, [256], [0, 256])[:, 0].astype(np.int64)
    return float(weighted_percentiles(np.arange(256, dtype=np.uint8), counts, [q])[0])


class ElaAnalyzer(Analyzer):
    id = "ela"
    title = "Error level analysis"
    version = "1.0"
    Params = ElaParams
    card_file = Path(__file__).with_name("ela.md")
    cost_per_mp = 0.011

    def run(self, media: Media, params: ElaParams, ctx: RunContext) -> Heatmap:
        ctx.progress(0.1, "decoding")
        rgb = media.pixels()
        ctx.check_cancelled()
        ctx.progress(0.4, f"re-saving at quality {params.quality}")
        errors = error_levels(rgb, params.quality)
        ctx.check_cancelled()
        heat = ela_map(errors, params.scale)
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            score=None,
            score_meaning="no image-level score: ELA is a visual aid to read, not a detector",
            map=heat,
            legend_low="same error as a re-save (consistent)",
            legend_high=f"error ≥ {255.0 / params.scale:.0f} levels (reacts differently)",
            stats={
                "mean_error": round(cv2.mean(errors)[0], 3),
                "p99_error": level_percentile(errors, 99),
                "max_error": cv2.minMaxLoc(errors)[1],
            },
        )
