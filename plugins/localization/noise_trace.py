"""Learned noise-trace consistency: which windows' residual trace is far from the image's own?

The classical noise maps measure one number per window (a noise level) and Splicebuster a fixed
co-occurrence histogram; `TraceNet` (trained by the project on generated splices of the training
photos) describes each 32-px window by a learned 16-D vector of its high-pass residual, so a pasted
region that was resampled, compressed or shot differently stands out even at the same noise level.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from plugins.localization.common import map_score, model_store
from workbench.api import Analyzer, Heatmap, Media, ModelUnavailable, RunContext, param

MODEL_ID = "noise_trace_default"
MIN_SIDE = 64
SCORE_MEANING = (
    "heterogeneity of the map in [0, 1] (99th percentile minus median): higher means some windows' "
    "learned noise trace stands out more from the image's own; not a probability"
)


@dataclass
class NoiseTraceParams:
    tile: int = param(
        512, "Tile side", "pixels computed at once (memory per step); the map does not depend on it",
        min=64, max=4096,
    )


def load_net(device: str) -> Any:
    """The verified TraceNet of the store's manifest; ModelUnavailable otherwise."""
    from plugins.localization.trace_net import TraceConfig, TraceNet
    from workbench.api import loaded_model

    store = model_store()
    try:
        config = TraceConfig(**store.manifest(MODEL_ID).extra["network"])
    except (KeyError, TypeError) as exc:
        raise ModelUnavailable(f"model '{MODEL_ID}': the manifest lacks the network ({exc})") from exc
    return loaded_model(store, MODEL_ID, lambda: TraceNet(config), device)


class NoiseTraceAnalyzer(Analyzer):
    id = "noise_trace"
    title = "Noise trace (learned residual consistency)"
    version = "1.0"
    Params = NoiseTraceParams
    models = (MODEL_ID,)
    card_file = Path(__file__).with_name("noise_trace.md")
    cost_per_mp = 0.75

    def run(self, media: Media, params: NoiseTraceParams, ctx: RunContext) -> Heatmap:
        from plugins.localization.trace_net import window_map

        ctx.progress(0.02, "loading the noise-trace model")
        net = load_net(ctx.device)
        rgb = media.pixels()
        h, w = rgb.shape[:2]
        if min(h, w) < MIN_SIDE:
            raise ValueError(f"image too small for the noise trace: {w}×{h} pixels, needs {MIN_SIDE} on each side")

        def tile_done(fraction: float) -> None:
            ctx.check_cancelled()
            ctx.progress(0.05 + 0.85 * fraction, "describing each window's residual")

        heat, squared = window_map(net, rgb, ctx.device, params.tile, tile_done)
        mask = heat >= 0.5
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            score=map_score(heat),
            score_meaning=SCORE_MEANING,
            map=heat,
            mask=mask,
            stack={  # on the 4-px cells the distances were computed on (the viewer stretches it): a full-size
                # copy of a 100-MP image would take 400 MB
                "squared distance from the median trace (0–4, shown /4)": np.clip(squared / 4.0, 0.0, 1.0),
            },
            legend_low="residual trace like the rest of the image",
            legend_high="residual trace unlike the rest of the image",
            stats={
                "median_squared_distance": round(float(np.median(squared)), 4),
                "max_squared_distance": round(float(squared.max()), 4),
                "masked_fraction": round(float(mask.mean()), 4),
            },
        )
