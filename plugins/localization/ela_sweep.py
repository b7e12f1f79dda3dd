"""Error level analysis at several re-save qualities, with the most telling one up front."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from plugins.localization.common import crop_to_blocks, percentiles, resave_errors
from plugins.localization.ela import ela_map, strongest_channel
from workbench.api import Analyzer, Heatmap, Media, RunContext, param

BLOCK = 16
"""Errors are averaged over 16×16 blocks before measuring heterogeneity, so single edge pixels
do not decide which quality is shown."""

ERROR_FLOOR = 0.5
"""Grey levels added to the median in the heterogeneity ratio, so a near-lossless re-save
(median error ≈ 0) does not win by division by zero."""


@dataclass
class ElaSweepParams:
    q_min: int = param(60, "Lowest quality", "first re-save quality of the sweep", min=1, max=100)
    q_max: int = param(95, "Highest quality", "last re-save quality of the sweep", min=1, max=100)
    step: int = param(5, "Quality step", "distance between the re-save qualities", min=1, max=50)
    scale: float = param(
        20.0, "Amplification", "error × amplification / 255 gives the map value (as in ELA)", min=0.1, max=255.0
    )


def heterogeneity(errors: np.ndarray) -> float:
    """99th percentile over median of the block-mean errors (uint8): how far the most reactive
    blocks stand out from a typical block, independent of the overall error level (which just
    grows as the quality drops)."""
    p99, median = percentiles(block_means(errors), [99, 50])
    return float(p99 / (median + ERROR_FLOOR))


def block_means(errors: np.ndarray) -> np.ndarray:
    """Means of the uint8 `errors` over BLOCK×BLOCK blocks (smaller on a smaller image; partial
    blocks dropped), float32: exact integer sums times the reciprocal of the block area, which is
    what OpenCV's area reduction of the errors as float32 gives, without that image-sized copy."""
    block = max(1, min(BLOCK, *errors.shape))
    whole = crop_to_blocks(errors, block)
    rows, cols = whole.shape[0] // block, whole.shape[1] // block
    down = whole.reshape(rows, block, -1).sum(axis=1, dtype=np.uint16)  # ≤ 16 · 255
    sums = down.reshape(rows, cols, block).sum(axis=-1, dtype=np.int32)
    return sums.astype(np.float32) * (np.float32(1) / np.float32(block * block))


class ElaSweepAnalyzer(Analyzer):
    id = "ela_sweep"
    title = "Error level analysis (quality sweep)"
    version = "1.0"
    Params = ElaSweepParams
    card_file = Path(__file__).with_name("ela_sweep.md")
    cost_per_mp = 0.06

    def run(self, media: Media, params: ElaSweepParams, ctx: RunContext) -> Heatmap:
        if params.q_min > params.q_max:
            raise ValueError(f"q_min ({params.q_min}) must not exceed q_max ({params.q_max})")
        qualities = list(range(params.q_min, params.q_max + 1, params.step))
        rgb = media.pixels()
        stack: dict[str, np.ndarray] = {}
        spread: dict[int, float] = {}
        mean_error: dict[int, float] = {}
        for i, (quality, planes) in enumerate(resave_errors(rgb, qualities)):
            ctx.check_cancelled()
            ctx.progress(i / len(qualities), f"re-saving at quality {quality}")
            errors = strongest_channel(planes)
            spread[quality] = heterogeneity(errors)
            mean_error[quality] = cv2.mean(errors)[0]
            stack[f"q={quality}"] = ela_map(errors, params.scale)
        stack = {f"q={quality}": stack[f"q={quality}"] for quality in qualities}
        best = max(qualities, key=spread.__getitem__)
        closest = min(qualities, key=mean_error.__getitem__)
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            score=None,
            score_meaning="no image-level score: ELA is a visual aid to read, not a detector",
            map=stack[f"q={best}"],
            stack=stack,
            legend_low=f"same error as a re-save at quality {best} (consistent)",
            legend_high=f"error ≥ {255.0 / params.scale:.0f} levels (reacts differently)",
            stats={
                "shown_quality": float(best),
                "shown_heterogeneity": round(spread[best], 3),
                "least_change_quality": float(closest),
                "least_mean_error": round(mean_error[closest], 3),
            },
        )
