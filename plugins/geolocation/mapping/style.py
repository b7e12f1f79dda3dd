"""Colours shared by the interactive page and the static image, so both read the same."""

from __future__ import annotations

from collections.abc import Sequence

from .view import MapCell

# Colours (RGB). Cells use a yellow-orange-red ramp (ColorBrewer YlOrRd), light to dark = low to high.
OCEAN = (206, 226, 240)
LAND = (238, 236, 228)
BORDER = (150, 150, 150)
COAST = (120, 140, 160)
COUNTRY_BORDER = (110, 110, 110)
ADMIN1_BORDER = (180, 170, 190)
PLACE = (60, 60, 60)
GRATICULE = (184, 204, 222)
ESTIMATE = (214, 39, 40)
GPS = (31, 119, 180)
CIRCLE = (117, 52, 168)
BANNER_BG = (255, 209, 102)
BANNER_FG = (70, 45, 0)
INK = (33, 33, 33)
CELL_RAMP = ((254, 217, 118), (253, 141, 60), (227, 26, 28), (128, 0, 38))


def cell_colour(t: float) -> tuple[int, int, int]:
    """RGB on the YlOrRd ramp for t in [0, 1] (probability relative to the top cell)."""
    t = min(max(float(t), 0.0), 1.0) * (len(CELL_RAMP) - 1)
    i = min(int(t), len(CELL_RAMP) - 2)
    f = t - i
    a, b = CELL_RAMP[i], CELL_RAMP[i + 1]
    return tuple(int(round(a[j] + (b[j] - a[j]) * f)) for j in range(3))  # type: ignore[return-value]


def hex_colour(rgb: Sequence[int]) -> str:
    """CSS #rrggbb of an RGB triple."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def relative_probabilities(cells: Sequence[MapCell]) -> list[float]:
    """Each cell's probability relative to the most probable one (what the colour ramp shows)."""
    top = max((c.probability for c in cells), default=0.0)
    return [c.probability / top if top > 0 else 0.0 for c in cells]

