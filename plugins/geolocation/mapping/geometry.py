"""Where things land on a map: geodesic circles, the auto-zoomed extent of a view and the
equirectangular projection of the static map."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..geo import EARTH_RADIUS_KM, KM_PER_DEGREE
from .view import GeoView

MIN_SPAN_DEG = 0.75
"""Smallest latitude span of an auto-zoomed view (~80 km, about web zoom 9 in a report-sized image):
the 1:10m provinces and the town names say nothing finer, and a street-scale answer still needs its
surroundings (the neighbouring towns) to be recognisable."""

WEB_TILE_KM = 2 * math.pi * 6378.137
"""Width of the web Mercator world (256 pixels at zoom 0) at the equator, in km (WGS 84 semi-major axis)."""

PADDING = 0.15
"""Margin around the content, as a fraction of its span on each side."""


def geodesic_circle(lat: float, lon: float, radius_km: float, n: int = 180) -> tuple[np.ndarray, np.ndarray]:
    """n points (lat, lon in degrees) at radius_km from the centre, by the spherical destination formula.

    Longitudes are continuous around the circle (centre ± up to 180°, not wrapped to ±180), so a
    circle across the antimeridian draws as one ring; a circle around a pole sweeps a full 360°.
    """
    delta = min(radius_km / EARTH_RADIUS_KM, math.pi)
    theta = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    phi1 = math.radians(lat)
    sin_phi2 = math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * np.cos(theta)
    phi2 = np.arcsin(np.clip(sin_phi2, -1.0, 1.0))
    dlam = np.arctan2(np.sin(theta) * math.sin(delta) * math.cos(phi1), math.cos(delta) - math.sin(phi1) * sin_phi2)
    return np.degrees(phi2), lon + np.degrees(np.unwrap(dlam))


def contains_pole(lat: float, radius_km: float) -> int:
    """+1 / -1 when the circle covers the north / south pole, else 0."""
    reach = math.degrees(radius_km / EARTH_RADIUS_KM)
    if reach >= 90.0 - lat:
        return 1
    if reach >= 90.0 + lat:
        return -1
    return 0


def _lon_interval(lons: Iterable[float]) -> tuple[float, float]:
    """Shortest longitude interval (west, east), east ≥ west, east may exceed 180, covering all lons."""
    vals = np.sort((np.asarray(list(lons), dtype=np.float64) + 180.0) % 360.0 - 180.0)
    if len(vals) == 1:
        return float(vals[0]), float(vals[0])
    gaps = np.diff(np.append(vals, vals[0] + 360.0))
    i = int(np.argmax(gaps))
    if i == len(vals) - 1:
        return float(vals[0]), float(vals[-1])
    return float(vals[i + 1]), float(vals[i] + 360.0)


@dataclass(frozen=True)
class Extent:
    """A lat/lon box; `east` may exceed 180 when the box crosses the antimeridian."""

    west: float
    east: float
    south: float
    north: float


def _focus_points(view: GeoView) -> list[tuple[float, float]]:
    """Points the auto-zoom must show: estimate, GPS (with its accuracy), the answered (smallest) circle.

    Coarser circles only frame the answer and would zoom out to a continent, so they may run off
    the image; cells count only when nothing else does and the analyzer does not abstain.
    """
    pts: list[tuple[float, float]] = []
    if view.estimate and not view.abstains_everywhere:
        pts.append((view.estimate.lat, view.estimate.lon))
    if view.gps:
        pts.append((view.gps.lat, view.gps.lon))
        if view.gps.accuracy_m:
            pts.extend(zip(*geodesic_circle(view.gps.lat, view.gps.lon, view.gps.accuracy_m / 1000.0, 36),
                           strict=True))
    if view.circles:
        c = view.circles[-1]
        if contains_pole(c.lat, c.radius_km):
            pts.extend([(-90.0, -180.0), (90.0, 179.999)])
        else:
            pts.extend(zip(*geodesic_circle(c.lat, c.lon, c.radius_km, 72), strict=True))
    if not pts and not view.abstains_everywhere:
        pts.extend((c.lat, c.lon) for c in view.cells)
    return pts


def content_extent(view: GeoView) -> Extent | None:
    """The padded box around the focus points (at least MIN_SPAN_DEG); None: show the whole world."""
    pts = _focus_points(view)
    if not pts:
        return None
    lats = np.array([p[0] for p in pts])
    west, east = _lon_interval(p[1] for p in pts)
    south, north = float(lats.min()), float(lats.max())
    lat_mid = (south + north) / 2.0
    k = max(math.cos(math.radians(lat_mid)), 0.2)
    lat_span = max(north - south, MIN_SPAN_DEG) * (1 + 2 * PADDING)
    lon_span = max(east - west, MIN_SPAN_DEG / k) * (1 + 2 * PADDING)
    lon_mid = (west + east) / 2.0
    if lon_span >= 300 or lat_span >= 150:
        return None
    south, north = lat_mid - lat_span / 2, lat_mid + lat_span / 2
    if north > 90:
        south, north = south - (north - 90), 90.0
    if south < -90:
        south, north = -90.0, north + (-90 - south)
    return Extent(lon_mid - lon_span / 2, lon_mid + lon_span / 2, max(south, -90.0), min(north, 90.0))


@dataclass(frozen=True)
class MapProjection:
    """Equirectangular projection (standard parallel through the view's centre) onto a W × H image.

    x = W/2 + Δlon · cos(φ0) · s,  y = H/2 − (lat − lat0) · s, with s pixels per degree of latitude.
    At world view φ0 = 0 (plate carrée); zoomed in, cos(φ0) keeps circles round at the centre.
    """

    width: int
    height: int
    lat0: float
    lon0: float
    k: float
    """cos of the standard parallel: horizontal pixels per degree of longitude = k · s."""
    s: float
    """Pixels per degree of latitude."""

    def to_pixel(self, lat: Any, lon: Any, wrap: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Pixel (x, y) floats; with wrap, longitudes are taken within ±180° of the centre."""
        dlon = np.asarray(lon, dtype=np.float64) - self.lon0
        if wrap:
            dlon = (dlon + 180.0) % 360.0 - 180.0
        x = self.width / 2.0 + dlon * self.k * self.s
        y = self.height / 2.0 - (np.asarray(lat, dtype=np.float64) - self.lat0) * self.s
        return x, y

    def to_latlon(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of to_pixel (longitude not wrapped)."""
        lon = self.lon0 + (np.asarray(x, dtype=np.float64) - self.width / 2.0) / (self.k * self.s)
        lat = self.lat0 - (np.asarray(y, dtype=np.float64) - self.height / 2.0) / self.s
        return lat, lon

    @property
    def km_per_px(self) -> float:
        """Along the standard parallel (and along every meridian)."""
        return KM_PER_DEGREE / self.s

    def scaled(self, factor: int) -> MapProjection:
        return MapProjection(self.width * factor, self.height * factor, self.lat0, self.lon0, self.k, self.s * factor)


def web_zoom(km_per_px: float, lat: float) -> float:
    """The Leaflet zoom level whose scale at latitude `lat` is `km_per_px`: label density and layer
    choice then follow the same rules in the static image as in the interactive page."""
    return math.log2(WEB_TILE_KM * max(math.cos(math.radians(lat)), 1e-6) / (256.0 * km_per_px))


def map_projection(view: GeoView, size: tuple[int, int] = (1200, 600)) -> MapProjection:
    """The projection `static_map(view, size)` draws with (size = width, height)."""
    width, height = int(size[0]), int(size[1])
    extent = content_extent(view)
    if extent is None:
        return MapProjection(width, height, 0.0, 0.0, 1.0, min(width / 360.0, height / 180.0))
    lat0 = (extent.south + extent.north) / 2.0
    lon0 = ((extent.west + extent.east) / 2.0 + 180.0) % 360.0 - 180.0
    k = max(math.cos(math.radians(lat0)), 0.2)
    s = min(width / ((extent.east - extent.west) * k), height / (extent.north - extent.south))
    # keep the poles at or beyond the image edges: nothing to draw past them
    half = height / 2.0 / s
    if half < 90:
        lat0 = min(max(lat0, -90 + half), 90 - half)
    else:
        lat0 = 0.0
    return MapProjection(width, height, lat0, lon0, k, s)
