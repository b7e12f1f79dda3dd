"""Where the image is clipped: pixels with a channel at 0 or 255, averaged over 8×8 blocks.

Clipped highlights and shadows carry no sensor noise or JPEG traces, so the noise and
compression maps say nothing there; this map shows where to distrust them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.api import Analyzer, Heatmap, Media, RunContext, param


@dataclass
class ClippingParams:
    margin: int = param(0, "Margin", "levels from 0 and 255 still counted as clipped", min=0, max=20)


def clipped(rgb: np.ndarray, margin: int) -> np.ndarray:
    """True where any channel is within `margin` levels of 0 or 255."""
    return ((rgb <= margin) | (rgb >= 255 - margin)).any(axis=2)


def block_share(mask: np.ndarray, block: int = 8) -> np.ndarray:
    """The share of clipped pixels of each block, spread back over the block's pixels."""
    h, w = mask.shape
    hb, wb = -(-h // block), -(-w // block)
    padded = np.zeros((hb * block, wb * block), np.float32)
    padded[:h, :w] = mask
    share = padded.reshape(hb, block, wb, block).mean(axis=(1, 3))
    return np.repeat(np.repeat(share, block, axis=0), block, axis=1)[:h, :w]


class ClippingAnalyzer(Analyzer):
    id = "lab.clipping"
    title = "Clipped pixels (lab plugin)"
    version = "0.1"
    Params = ClippingParams
    card_file = Path(__file__).with_name("clipping.md")

    def run(self, media: Media, params: ClippingParams, ctx: RunContext) -> Heatmap:
        rgb = media.pixels()
        ctx.check_cancelled()
        mask = clipped(rgb, params.margin)
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            score=None,
            score_meaning="no image-level score: a map of where other signals are blind",
            map=block_share(mask),
            legend_low="no clipped pixel in the block",
            legend_high="every pixel of the block clipped",
            stats={"clipped_fraction": round(float(mask.mean()), 4)},
        )
