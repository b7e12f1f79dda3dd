"""What a map shows, validated once so every renderer can trust it: the analyzer's estimate, the GPS
fix from the metadata, the most probable cells, the scales it answers at and its abstention."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["GeoView", "GpsFix", "MapCell", "MapPoint", "ScaleCircle", "view_from_result"]


@dataclass(frozen=True)
class MapPoint:
    """The analyzer's point estimate."""

    lat: float
    lon: float
    label: str = "Estimate"


@dataclass(frozen=True)
class GpsFix:
    """A GPS position from the metadata; accuracy (metres) is drawn as a circle when known."""

    lat: float
    lon: float
    accuracy_m: float | None = None
    altitude_m: float | None = None
    time: str | None = None
    label: str = "GPS (metadata)"

    def details(self) -> str:
        """One line: label, accuracy, altitude, time (what is known)."""
        parts = [self.label, f"{self.lat:.5f}, {self.lon:.5f}"]
        if self.accuracy_m is not None:
            parts.append(f"accuracy {self.accuracy_m:g} m")
        if self.altitude_m is not None:
            parts.append(f"altitude {self.altitude_m:.0f} m")
        if self.time:
            parts.append(str(self.time))
        return " · ".join(parts)


@dataclass(frozen=True)
class MapCell:
    """One of the most probable geo-cells."""

    lat: float
    lon: float
    probability: float


@dataclass(frozen=True)
class ScaleCircle:
    """A scale at which the analyzer answers: the truth should lie within radius_km of the centre."""

    lat: float
    lon: float
    radius_km: float
    label: str = ""


def _lat_lon(lat: float, lon: float, what: str) -> tuple[float, float]:
    lat, lon = float(lat), float(lon)
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90:
        raise ValueError(f"{what}: invalid position ({lat}, {lon})")
    return lat, (lon + 180.0) % 360.0 - 180.0


@dataclass(frozen=True)
class GeoView:
    """What a map shows: estimate, GPS fix, top cells, answered-scale circles, abstention banner.

    Positions are validated and longitudes normalised to [-180, 180) here, so both renderers
    can trust them. `cells` also accepts an N × 3 array (lat, lon, probability).
    """

    title: str = "Where was this taken?"
    estimate: MapPoint | None = None
    gps: GpsFix | None = None
    cells: Sequence[MapCell] = ()
    circles: Sequence[ScaleCircle] = ()
    abstention: str | None = None
    """Banner text when the analyzer abstains (e.g. at every scale); None: no banner."""

    def __post_init__(self) -> None:
        if self.estimate is not None:
            lat, lon = _lat_lon(self.estimate.lat, self.estimate.lon, "estimate")
            object.__setattr__(self, "estimate", MapPoint(lat, lon, self.estimate.label))
        if self.gps is not None:
            g = self.gps
            lat, lon = _lat_lon(g.lat, g.lon, "GPS")
            acc = float(g.accuracy_m) if g.accuracy_m is not None and math.isfinite(g.accuracy_m) else None
            object.__setattr__(self, "gps", GpsFix(lat, lon, acc if acc and acc > 0 else None,
                                                   g.altitude_m, g.time, g.label))
        cells = []
        for c in self.cells:
            c = c if isinstance(c, MapCell) else MapCell(*(float(v) for v in c))
            lat, lon = _lat_lon(c.lat, c.lon, "cell")
            p = float(c.probability)
            if not math.isfinite(p) or p < 0:
                raise ValueError(f"cell probability {p} is not a probability")
            cells.append(MapCell(lat, lon, p))
        object.__setattr__(self, "cells", tuple(cells))
        circles = []
        for c in self.circles:
            lat, lon = _lat_lon(c.lat, c.lon, "circle")
            if not (c.radius_km > 0 and math.isfinite(c.radius_km)):
                raise ValueError(f"circle radius {c.radius_km} km is not positive")
            circles.append(ScaleCircle(lat, lon, float(c.radius_km), c.label))
        object.__setattr__(self, "circles", tuple(sorted(circles, key=lambda c: -c.radius_km)))

    @property
    def abstains_everywhere(self) -> bool:
        """Abstention banner and no answered scale: nothing to zoom to but the GPS fix, if any."""
        return self.abstention is not None and not self.circles


def view_from_result(result: Any) -> GeoView:
    """A GeoView from a `workbench.core.results.Geolocation` (duck-typed: estimate, gps, cells, scales).

    Circles: one per answered scale, centred on the estimate. Banner: when the visual estimate
    abstains at every scale, so the map cannot be read as "the picture was taken here".
    """
    estimate = gps = None
    if result.estimate:
        e = result.estimate
        estimate = MapPoint(e["lat"], e["lon"], f"Estimate: {e['place']}" if e.get("place") else "Estimate")
    if result.gps:
        g = result.gps
        gps = GpsFix(g["lat"], g["lon"], g.get("accuracy_m"), g.get("altitude_m"), g.get("time"),
                     f"GPS: {g['place']}" if g.get("place") else "GPS (metadata)")
    circles = []
    if estimate is not None:
        for s in result.scales or ():
            if s.get("answered"):
                name = f"{s['name']} scale " if s.get("name") else ""
                circles.append(ScaleCircle(estimate.lat, estimate.lon, float(s["scale_km"]),
                                           f"{name}{float(s['scale_km']):g} km"))
    cells = np.asarray(result.cells, dtype=np.float64).reshape(-1, 3) if result.cells is not None else ()
    abstention = None
    if result.scales and result.answered_scale_km is None:
        abstention = ("Abstains at every scale: the picture alone does not tell where it was taken. "
                      "The cells show how spread out the model's guesses are.")
    title = result.decision or getattr(result, "message", "") or "Where was this taken?"
    return GeoView(title=title, estimate=estimate, gps=gps, cells=cells, circles=circles, abstention=abstention)
