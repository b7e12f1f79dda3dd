"""Two-sided deviation: how far a local level lies from the image's typical level, either way.

A level map (local noise σ, median-filter residue) is bright where the level is high. An edit can
lower the level as well as raise it — inpainting and smoothing leave too little noise, a paste from
a noisier camera too much — so a level map read as "bright = suspicious" ranks removed objects
below everything else. The heat map is therefore the distance from the typical level in robust
units, in the log domain (noise scales multiplicatively with exposure and gain): bright means
"unlike the rest of this image", whichever way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plugins.localization.common import percentiles

MAD_TO_SD = 1.4826
"""MAD × 1.4826 estimates σ of a Gaussian: the spread is in robust standard deviations."""

FULL_SCALE = 6.0
"""Robust standard deviations shown as 1 (brightest); 3 SD is 0.5. At 4, a quarter of unedited photos
had their noisiest 1 % saturated, which flattened the image-level score (p99 − median)."""

FLOOR_SHARE = 0.05
"""Levels are floored at 5 % of the median before the logarithm: a block with no noise at all
(clipped, flat) counts as 20× quieter than typical instead of infinitely."""

MIN_SPREAD = 0.05
"""Smallest spread of the log level used (about ±5 %): a uniform image must not blow tiny
fluctuations up to full scale."""


@dataclass(frozen=True)
class Deviation:
    heat: np.ndarray
    """|log(level / median)| / spread / FULL_SCALE, clipped to [0, 1], float32, shape of the level."""
    median: float
    """The typical level (same unit as the level)."""
    spread: float
    """Robust standard deviation of log(level)."""


def log_deviation(level: np.ndarray) -> Deviation:
    """The two-sided deviation of every value of `level` (≥ 0) from the median of them all."""
    level = np.asarray(level, dtype=np.float32)
    median = float(percentiles(level, 50))
    floor = max(FLOOR_SHARE * median, np.finfo(np.float32).tiny)
    logs = np.log(np.maximum(level, np.float32(floor)))
    logs -= np.float32(np.log(max(median, floor)))
    np.abs(logs, out=logs)
    spread = max(MAD_TO_SD * float(percentiles(logs, 50)), MIN_SPREAD)
    logs *= np.float32(1.0 / (spread * FULL_SCALE))
    return Deviation(np.minimum(logs, 1.0, out=logs), median, spread)
