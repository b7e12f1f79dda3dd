"""Offline maps of geolocation results: an interactive Leaflet page and a static image. No network, ever.

A forensic workstation may be air-gapped, and a map that quietly fetches tiles would also tell a
tile server which place is under investigation. So both renderings draw on bundled Natural Earth
country boundaries only (resources/world/countries_110m.geojson, public domain):

* `folium_html` builds a folium map whose Leaflet JS/CSS are inlined from the xstatic-leaflet
  package (folium's CDN links for Leaflet, jQuery, Bootstrap and Font Awesome are dropped), with
  no tile layer unless the user names their own tile server. The page is checked for external
  references before it is returned.
* `static_map` draws the same content with OpenCV (and Pillow for text) into an RGB array for the
  PDF report and the CLI: equirectangular projection, auto-zoomed to what matters.

`GeoView` is what to draw; `view_from_result` builds one from a `Geolocation` result. Qt-free.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .geo import EARTH_RADIUS_KM, KM_PER_DEGREE

__all__ = [
    "WORLD_GEOJSON",
    "Extent",
    "GeoView",
    "GpsFix",
    "MapCell",
    "MapPoint",
    "MapProjection",
    "ScaleCircle",
    "cell_colour",
    "content_extent",
    "external_references",
    "folium_html",
    "geodesic_circle",
    "leaflet_assets",
    "map_projection",
    "static_map",
    "view_from_result",
    "world_boundaries",
]

WORLD_GEOJSON = Path(__file__).resolve().parents[2] / "resources" / "world" / "countries_110m.geojson"
"""Bundled boundaries; PyInstaller puts `resources/` at the same place relative to `plugins/`."""

MIN_SPAN_DEG = 3.0
"""Smallest latitude span of an auto-zoomed view (~330 km): the 1:110m coastlines say nothing finer,
and a street-scale answer still needs its surroundings to be recognisable."""

PADDING = 0.15
"""Margin around the content, as a fraction of its span on each side."""

# Colours (RGB). Cells use a yellow-orange-red ramp (ColorBrewer YlOrRd), light to dark = low to high.
OCEAN = (206, 226, 240)
LAND = (238, 236, 228)
BORDER = (150, 150, 150)
GRATICULE = (184, 204, 222)
ESTIMATE = (214, 39, 40)
GPS = (31, 119, 180)
CIRCLE = (117, 52, 168)
BANNER_BG = (255, 209, 102)
BANNER_FG = (70, 45, 0)
INK = (33, 33, 33)
CELL_RAMP = ((254, 217, 118), (253, 141, 60), (227, 26, 28), (128, 0, 38))


# --------------------------------------------------------------------------------------------- data


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


@cache
def _world_text() -> str:
    if not WORLD_GEOJSON.is_file():
        raise FileNotFoundError(f"world boundaries missing: {WORLD_GEOJSON} (run scripts/make_world_boundaries.py)")
    return WORLD_GEOJSON.read_text(encoding="utf-8")


@cache
def world_boundaries() -> dict[str, Any]:
    """The Natural Earth 110m countries as a GeoJSON FeatureCollection (cached: copy before mutating)."""
    doc = json.loads(_world_text())
    if doc.get("type") != "FeatureCollection" or not doc.get("features"):
        raise ValueError(f"{WORLD_GEOJSON} is not a FeatureCollection")
    return doc


@cache
def _land_rings() -> tuple[np.ndarray, ...]:
    """Every ring (N × 2 lon, lat float64) of every country, for the static renderer."""
    rings = []
    for feature in world_boundaries()["features"]:
        geom = feature["geometry"]
        polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
        for poly in polys:
            rings.extend(np.asarray(ring, dtype=np.float64) for ring in poly)
    return tuple(rings)


# --------------------------------------------------------------------------------------------- geometry


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


def _contains_pole(lat: float, radius_km: float) -> int:
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
        if _contains_pole(c.lat, c.radius_km):
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


# --------------------------------------------------------------------------------------------- colours


def cell_colour(t: float) -> tuple[int, int, int]:
    """RGB on the YlOrRd ramp for t in [0, 1] (probability relative to the top cell)."""
    t = min(max(float(t), 0.0), 1.0) * (len(CELL_RAMP) - 1)
    i = min(int(t), len(CELL_RAMP) - 2)
    f = t - i
    a, b = CELL_RAMP[i], CELL_RAMP[i + 1]
    return tuple(int(round(a[j] + (b[j] - a[j]) * f)) for j in range(3))  # type: ignore[return-value]


def _hex(rgb: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _relative(cells: Sequence[MapCell]) -> list[float]:
    top = max((c.probability for c in cells), default=0.0)
    return [c.probability / top if top > 0 else 0.0 for c in cells]


# --------------------------------------------------------------------------------------------- folium

_EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|data|poster)\s*=\s*["']?\s*|url\(\s*["']?\s*|@import\s+["']?)(?:https?:)?//""",
    re.IGNORECASE,
)


def external_references(page: str) -> list[str]:
    """Attributes, CSS url() and @import in `page` that point to another host (http:, https:, //)."""
    return [page[m.start():m.end() + 60] for m in _EXTERNAL.finditer(page)]


@cache
def leaflet_assets() -> tuple[str, str]:
    """(leaflet.js, leaflet.css) from the xstatic-leaflet package, with the CSS images as data: URIs.

    Inlined rather than linked: the page then needs no file access and no base URL to be complete,
    and the sourceMappingURL comment is dropped so developer tools do not try to fetch the map.
    Leaflet is BSD-2-Clause; its licence header comment is kept.
    """
    try:
        from xstatic.pkg import leaflet
    except ImportError as exc:
        raise RuntimeError("Leaflet is not installed (pip install xstatic-leaflet): no interactive map") from exc
    data = Path(leaflet.BASE_DIR)
    js = (data / "leaflet.js").read_text(encoding="utf-8")
    js = re.sub(r"//# sourceMappingURL=\S*\s*$", "", js)
    # The attribution prefix links to leafletjs.com; the page shows its own credit line instead
    # and must hold no outward link (a click would leave the offline page).
    js = js.replace('<a href="https://leafletjs.com" ', "<a ")
    css = (data / "leaflet.css").read_text(encoding="utf-8")

    def inline(m: re.Match[str]) -> str:
        png = (data / m.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(png).decode('ascii')})"

    css = re.sub(r"url\((images/[\w.-]+\.png)\)", inline, css)
    if "</script" in js.lower() or "</style" in css.lower():
        raise RuntimeError("leaflet.js/css cannot be inlined safely (contains a closing tag)")
    return js, css


def _js_text(text: str) -> str:
    """Escape for folium tooltips, which land unescaped inside a JS template literal of HTML."""
    return html.escape(text).replace("`", "&#96;").replace("$", "&#36;").replace("\\", "&#92;")


@cache
def _folium_types() -> tuple[type, type]:
    """(OfflineMap, FitView): folium classes built on first use, so importing this module stays light."""
    import folium
    from branca.element import MacroElement
    from jinja2 import Template

    class OfflineMap(folium.Map):
        """folium.Map without its CDN links (Leaflet, jQuery, Bootstrap, Font Awesome)."""

        default_js: list[tuple[str, str]] = []
        default_css: list[tuple[str, str]] = []

    class FitView(MacroElement):
        """Fits the content and keeps it fitted while the view is resized, until the user pans or zooms.

        Leaflet fits to the size the page had when it loaded; in a dock or tab that size changes
        (or is zero while hidden). `window.fwMap` is the map, for the panel and its tests.
        """

        _template = Template("""
            {% macro script(this, kwargs) %}
            (function (map) {
                var bounds = {{ this.bounds|tojson }}, touched = false;
                window.fwMap = map;
                function fit() { if (!touched) { map.fitBounds(bounds); } }
                ["mousedown", "wheel", "touchstart", "keydown"].forEach(function (name) {
                    map.getContainer().addEventListener(name, function () { touched = true; });
                });
                window.addEventListener("resize", function () { map.invalidateSize(); fit(); });
                fit();
            })({{ this._parent.get_name() }});
            {% endmacro %}
        """)

        def __init__(self, bounds: list[list[float]]) -> None:
            super().__init__()
            self._name = "FitView"
            self.bounds = bounds

    return OfflineMap, FitView


_PAGE_CSS = """
.leaflet-container, .fw-banner, .fw-legend { font-family: "Segoe UI", "Helvetica Neue", Arial, sans-serif; }
.leaflet-container { background: %(ocean)s; }
.fw-banner { position: fixed; top: 10px; left: 50%%; transform: translateX(-50%%); z-index: 1000;
  max-width: 70%%; padding: 8px 14px; background: %(banner_bg)s; color: %(banner_fg)s; font-weight: 600;
  border: 1px solid #c99a2e; border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3); font-size: 14px; }
.fw-legend { position: fixed; bottom: 10px; right: 10px; z-index: 1000; background: rgba(255,255,255,.92);
  padding: 8px 10px; border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3); font-size: 12px;
  color: #212121; max-width: 45%%; line-height: 1.5; }
.fw-legend b { font-size: 13px; }
.fw-dot { display: inline-block; width: 12px; height: 12px; border-radius: 50%%; vertical-align: middle;
  margin-right: 6px; border: 2px solid #fff; box-shadow: 0 0 0 1px #555; }
.fw-ring { display: inline-block; width: 12px; height: 12px; border-radius: 50%%; vertical-align: middle;
  margin-right: 6px; border: 2px solid %(circle)s; }
.fw-ramp { display: inline-block; width: 60px; height: 10px; vertical-align: middle; margin: 0 4px;
  background: linear-gradient(to right, %(ramp)s); border: 1px solid #999; }
"""


def _legend_html(view: GeoView) -> str:
    rows = [f"<b>{html.escape(view.title)}</b>"]
    if view.estimate:
        rows.append(f'<span class="fw-dot" style="background:{_hex(ESTIMATE)}"></span>'
                    f"{html.escape(view.estimate.label)}")
    if view.gps:
        rows.append(f'<span class="fw-dot" style="background:{_hex(GPS)}"></span>{html.escape(view.gps.details())}')
    if view.circles:
        labels = ", ".join(html.escape(c.label or f"{c.radius_km:g} km") for c in reversed(view.circles))
        rows.append(f'<span class="fw-ring"></span>answered at: {labels}')
    if view.cells:
        rows.append(f"top {len(view.cells)} cells: low<span class=\"fw-ramp\"></span>high probability")
    rows.append('<span style="color:#777">Boundaries: Natural Earth (public domain). No tiles, offline.</span>')
    return '<div class="fw-legend" id="fw-legend">' + "<br>".join(rows) + "</div>"


def folium_html(view: GeoView, tile_url: str | None = None) -> str:
    """A self-contained Leaflet page of `view` (one HTML string, every asset inlined).

    tile_url: the user's own tile server (e.g. "http://tiles.lan/{z}/{x}/{y}.png"), the only
    network reference allowed in the page; by default there is none. Raises RuntimeError if
    anything else in the page points to a remote host.
    """
    import folium

    js, css = leaflet_assets()
    extent = content_extent(view)
    offline_map, fit_view = _folium_types()
    m = offline_map(location=None, tiles=None, control_scale=True, attribution_control=False,
                            zoom_control=True, prefer_canvas=False, zoom_snap=0.25)  # fractional: a tight fit
    root = m.get_root()
    root.title = html.escape(view.title)  # branca writes <title> unescaped
    # Leaflet first in <head>: folium's own scripts (in the body) call L.map(...).
    root.header.add_child(folium.Element(f"<style>{css}</style>"), name="leaflet_css", index=0)
    root.header.add_child(folium.Element(f"<script>{js}</script>"), name="leaflet_js", index=1)
    root.header.add_child(folium.Element("<style>" + _PAGE_CSS % {
        "ocean": _hex(OCEAN), "banner_bg": _hex(BANNER_BG), "banner_fg": _hex(BANNER_FG), "circle": _hex(CIRCLE),
        "ramp": ", ".join(_hex(c) for c in CELL_RAMP)} + "</style>"), name="workbench_css")

    if tile_url:
        folium.TileLayer(tiles=tile_url, attr="user tile server", name="Tiles", overlay=False).add_to(m)
    land_style = {"fillColor": _hex(LAND), "color": _hex(BORDER), "weight": 0.8, "fillOpacity": 0.55 if tile_url
                  else 1.0}
    folium.GeoJson(
        json.loads(_world_text()),  # a private copy: folium may add ids to the features
        name="Countries (Natural Earth 110m)",
        style_function=lambda _feature: land_style,
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False, sticky=False),
        control=False,
    ).add_to(m)

    for c, t in sorted(zip(view.cells, _relative(view.cells), strict=True), key=lambda ct: ct[1]):
        colour = _hex(cell_colour(t))
        folium.CircleMarker(
            [c.lat, c.lon], radius=7, stroke=True, weight=0.5, color=colour, fill=True, fill_color=colour,
            fill_opacity=0.35 + 0.55 * t, tooltip=_js_text(f"cell {c.lat:.2f}, {c.lon:.2f}: p = {c.probability:.4f}"),
        ).add_to(m)
    for i, c in enumerate(view.circles):  # coarsest first; only the answered (smallest) one is filled
        answered = i == len(view.circles) - 1
        folium.Circle(
            [c.lat, c.lon], radius=c.radius_km * 1000.0, color=_hex(CIRCLE), weight=2 if answered else 1.2,
            fill=answered, fill_color=_hex(CIRCLE) if answered else None, fill_opacity=0.1,  # a colour forces fill
            tooltip=_js_text(c.label or f"{c.radius_km:g} km"),
        ).add_to(m)
    if view.gps:
        g = view.gps
        if g.accuracy_m:
            folium.Circle([g.lat, g.lon], radius=g.accuracy_m, color=_hex(GPS), weight=1, fill=True,
                          fill_opacity=0.15, tooltip=_js_text(f"GPS accuracy {g.accuracy_m:g} m")).add_to(m)
        folium.CircleMarker([g.lat, g.lon], radius=7, color="#ffffff", weight=2, fill=True, fill_color=_hex(GPS),
                            fill_opacity=1.0, tooltip=_js_text(g.details())).add_to(m)
    if view.estimate:
        e = view.estimate
        folium.CircleMarker([e.lat, e.lon], radius=8, color="#ffffff", weight=2, fill=True,
                            fill_color=_hex(ESTIMATE), fill_opacity=1.0,
                            tooltip=_js_text(f"{e.label} ({e.lat:.4f}, {e.lon:.4f})")).add_to(m)

    if extent is None:
        fit_view([[-58.0, -170.0], [78.0, 170.0]]).add_to(m)
    else:
        fit_view([[extent.south, extent.west], [extent.north, extent.east]]).add_to(m)
    if view.abstention:
        root.html.add_child(folium.Element(
            f'<div class="fw-banner" id="fw-banner">&#9888; {html.escape(view.abstention)}</div>'))
    root.html.add_child(folium.Element(_legend_html(view)))

    page = root.render()
    allowed = _tile_host_refs(tile_url)
    bad = [ref for ref in external_references(page) if not any(a in ref for a in allowed)]
    if bad:
        raise RuntimeError(f"the offline map page references a remote host: {bad[0]!r}")
    return page


def _tile_host_refs(tile_url: str | None) -> list[str]:
    if not tile_url:
        return []
    host = re.sub(r"^(?:https?:)?//", "", tile_url).split("/", 1)[0]
    return [host] if host else []


# --------------------------------------------------------------------------------------------- static


FONT_CANDIDATES = {
    False: ("DejaVuSans.ttf", "NotoSans-Regular.ttf", "LiberationSans-Regular.ttf", "segoeui.ttf", "arial.ttf",
            "Arial.ttf", "Helvetica.ttc"),
    True: ("DejaVuSans-Bold.ttf", "NotoSans-Bold.ttf", "LiberationSans-Bold.ttf", "segoeuib.ttf", "arialbd.ttf",
           "Arial Bold.ttf", "Helvetica.ttc"),
}
"""System fonts with wide Latin coverage (place names such as Zürich, Côte d'Ivoire), tried in order."""


@cache
def _font(size: int, bold: bool = False) -> Any:
    """A system TrueType font, else Pillow's built-in one (whose glyph set is small: see `_printable`)."""
    from PIL import ImageFont

    for name in FONT_CANDIDATES[bold]:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


@cache
def _has_glyph(font: Any, char: str) -> bool:
    """False when `font` would draw `char` as its missing-glyph box (compared with an unassigned code point)."""
    if char.isascii():
        return True
    try:
        return bytes(font.getmask(char)) != bytes(font.getmask("\U000f0000"))
    except Exception:  # noqa: BLE001 - bitmap fonts cannot even try: ASCII only
        return False


_FALLBACK_CHARS = {"…": "...", "·": "-", "°": " deg", "±": "+/-", "⚠": "!", "–": "-", "—": "-", "≥": ">=", "×": "x"}


def _printable(font: Any, text: str) -> str:
    """`text` with characters the font lacks replaced: accents dropped (é → e), symbols spelled out."""
    if all(_has_glyph(font, ch) for ch in text):
        return text
    out = []
    for ch in text:
        if _has_glyph(font, ch):
            out.append(ch)
        elif ch in _FALLBACK_CHARS:
            out.append(_FALLBACK_CHARS[ch])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and all(_has_glyph(font, c) for c in base) else "?")
    return "".join(out)


def _nice_step(span: float, target: int = 5) -> float:
    for step in (0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60):
        if span / step <= target:
            return float(step)
    return 90.0


def _fmt_deg(value: float, pos: str, neg: str) -> str:
    v = round(value, 2)
    hemi = pos if v > 0 else neg if v < 0 else ""
    return f"{abs(v):g}°{hemi}"


def _nice_km(max_km: float) -> float:
    exp = 10 ** math.floor(math.log10(max_km)) if max_km > 0 else 1
    for f in (5, 2, 1):
        if f * exp <= max_km:
            return f * exp
    return exp


def _fixed(x: np.ndarray, y: np.ndarray, shift: int = 4) -> np.ndarray:
    """Sub-pixel points for cv2 drawing with `shift` fractional bits."""
    pts = np.stack([x, y], axis=1) * (1 << shift)
    return np.clip(np.round(pts), -(2**28), 2**28).astype(np.int32).reshape(-1, 1, 2)


def _blend(canvas: np.ndarray, colour_layer: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return (canvas * (1.0 - a) + colour_layer * a + 0.5).astype(np.uint8)


def _draw_land(canvas: np.ndarray, proj: MapProjection) -> None:
    """Countries filled and outlined; each ring drawn at the longitude offset(s) that make it visible."""
    half_w = proj.width / 2.0 / (proj.k * proj.s)
    view_w, view_e = proj.lon0 - half_w, proj.lon0 + half_w
    half_h = proj.height / 2.0 / proj.s
    view_s, view_n = proj.lat0 - half_h, proj.lat0 + half_h
    polys = []
    for ring in _land_rings():
        lo, la = ring[:, 0], ring[:, 1]
        if la.max() < view_s or la.min() > view_n:
            continue
        for offset in (-360.0, 0.0, 360.0):
            if lo.max() + offset < view_w or lo.min() + offset > view_e:
                continue
            x, y = proj.to_pixel(la, lo + offset, wrap=False)
            polys.append(_fixed(x, y))
    if polys:
        cv2.fillPoly(canvas, polys, LAND, lineType=cv2.LINE_AA, shift=4)
        thickness = max(1, proj.width // 1200)
        cv2.polylines(canvas, polys, True, BORDER, thickness, lineType=cv2.LINE_AA, shift=4)


def _graticule(proj: MapProjection) -> tuple[float, list[float], list[float]]:
    lat_top, lon_left = proj.to_latlon(0, 0)
    lat_bottom, lon_right = proj.to_latlon(proj.width, proj.height)
    step = _nice_step(max(float(lat_top - lat_bottom), float(lon_right - lon_left) / 2.0))
    lats = [v for v in np.arange(math.ceil(float(lat_bottom) / step) * step, float(lat_top), step) if abs(v) < 90]
    lons = list(np.arange(math.ceil(float(lon_left) / step) * step, float(lon_right), step))
    return step, [float(v) for v in lats], [float(v) for v in lons]


def _circle_polys(proj: MapProjection, lat: float, lon: float, radius_km: float) -> tuple[np.ndarray, np.ndarray]:
    """(outline, fill) polygons of a geodesic circle in fixed-point pixels (fill closes via a pole)."""
    clat, clon = geodesic_circle(lat, lon, radius_km, 240)
    lon_c = proj.lon0 + ((lon - proj.lon0 + 180.0) % 360.0 - 180.0)  # centre's copy nearest the view
    clon = clon + (lon_c - lon)
    x, y = proj.to_pixel(clat, clon, wrap=False)
    outline = _fixed(x, y)
    pole = _contains_pole(lat, radius_km)
    if not pole:
        return outline, outline
    order = np.argsort(clon)
    flat, flon = clat[order], clon[order]
    plat = 90.0 * pole
    fx, fy = proj.to_pixel(np.r_[plat, flat, plat], np.r_[flon[0], flon, flon[-1]], wrap=False)
    return _fixed(x[order], y[order]), _fixed(fx, fy)


def _size(font: Any) -> int:
    return int(getattr(font, "size", 11))


def _text(draw: Any, xy: tuple[float, float], text: str, font: Any, fill: Sequence[int],
          halo: Sequence[int] | None = (255, 255, 255), anchor: str = "la") -> None:
    """Text (characters the font lacks replaced); a white halo keeps it legible over land and cells."""
    halo_kw = {"stroke_width": max(1, _size(font) // 7), "stroke_fill": tuple(halo)} if halo else {}
    draw.text(xy, _printable(font, text), font=font, fill=tuple(fill), anchor=anchor, **halo_kw)


def _wrap(draw: Any, text: str, font: Any, width: float) -> list[str]:
    """Greedy word wrap to `width` pixels."""
    lines: list[str] = []
    for word in _printable(font, text).split():
        if lines and draw.textlength(lines[-1] + " " + word, font=font) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _fit(draw: Any, text: str, font: Any, width: float) -> str:
    """`text` on one line of at most `width` pixels, cut at a word with an ellipsis."""
    text = _printable(font, text)
    if draw.textlength(text, font=font) <= width:
        return text
    ell = _printable(font, " …")
    words, out = text.split(), ""
    for word in words:
        trial = f"{out} {word}".strip()
        if draw.textlength(trial + ell, font=font) > width:
            break
        out = trial
    return out + ell


Box = tuple[float, float, float, float]


class _Labels:
    """Places text where it overlaps nothing placed before (title, legend, markers, other labels)."""

    def __init__(self, draw: Any, width: int, height: int) -> None:
        self.draw, self.width, self.height = draw, width, height
        self.occupied: list[Box] = []

    def free(self, box: Box) -> bool:
        x0, y0, x1, y1 = box
        if x0 < 0 or y0 < 0 or x1 > self.width or y1 > self.height:
            return False
        return all(x1 <= a or x0 >= c or y1 <= b or y0 >= d for a, b, c, d in self.occupied)

    def place(self, candidates: Sequence[tuple[float, float, str]], text: str, font: Any, fill: Sequence[int],
              halo: Sequence[int] | None = (255, 255, 255), force: bool = False) -> bool:
        """Draw at the first free candidate (x, y, anchor); with force, at the first one anyway."""
        text = _printable(font, text)
        stroke = max(1, _size(font) // 7) if halo else 0
        for x, y, anchor in candidates:
            box = self.draw.textbbox((x, y), text, font=font, anchor=anchor, stroke_width=stroke)
            if self.free(box):
                break
        else:
            if not force or not candidates:
                return False
            x, y, anchor = candidates[0]
            box = self.draw.textbbox((x, y), text, font=font, anchor=anchor, stroke_width=stroke)
        _text(self.draw, (x, y), text, font, fill, halo, anchor)
        self.occupied.append(tuple(float(v) for v in box))  # type: ignore[arg-type]
        return True


def static_map(view: GeoView, size: tuple[int, int] = (1200, 600)) -> np.ndarray:
    """An RGB uint8 image (height × width × 3) of `view`, for reports and the CLI.

    Geometry is drawn at 2× and reduced with area averaging (clean edges at print size); markers
    and text are drawn at 1×. The projection is `map_projection(view, size)`, so a test or a caller
    can find where any position lands.
    """
    from PIL import Image, ImageDraw

    width, height = int(size[0]), int(size[1])
    if width < 200 or height < 120:
        raise ValueError(f"map size {width}×{height} is too small (at least 200×120)")
    proj = map_projection(view, (width, height))
    canvas = _draw_geometry(view, proj)
    r = max(5, min(width, height) // 85)
    markers = _draw_markers(canvas, view, proj, r)

    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image, "RGBA")
    base = max(11, min(width, height) // 40)
    small, normal, large = _font(base - 2), _font(base), _font(base + 4, bold=True)
    pad = max(4, base // 3)
    labels = _Labels(draw, width, height)

    # title strip and abstention banner
    title_h = _size(large) + 2 * pad
    draw.rectangle([0, 0, width, title_h], fill=(255, 255, 255, 255))
    draw.line([0, title_h, width, title_h], fill=(200, 200, 200, 255), width=1)
    _text(draw, (pad, title_h / 2), _fit(draw, view.title, large, width - 2 * pad), large, INK, halo=None,
          anchor="lm")
    top = title_h
    if view.abstention:
        lines = _wrap(draw, "⚠ " + view.abstention, normal, width - 4 * pad)
        line_h = _size(normal) + pad
        banner_h = len(lines) * line_h + 2 * pad
        draw.rectangle([0, title_h, width, title_h + banner_h], fill=(*BANNER_BG, 245))
        draw.line([0, title_h + banner_h, width, title_h + banner_h], fill=(201, 154, 46), width=2)
        for i, line in enumerate(lines):
            _text(draw, (width / 2, title_h + pad + i * line_h), line, normal, BANNER_FG, halo=None, anchor="ma")
        top = title_h + banner_h + 2
    labels.occupied.append((0.0, 0.0, float(width), float(top)))
    labels.occupied.extend(_draw_legend(draw, view, proj, small, normal, pad))

    # marker labels first (they matter most), then circle labels, then graticule labels where room is left
    for x, y, _ in markers:
        labels.occupied.append((x - r - 2, y - r - 2, x + r + 2, y + r + 2))
    step = _size(normal) + 2
    for x, y, (label, colour) in markers:
        dx = r + 6
        candidates = [(x + dx, y, "lm"), (x - dx, y, "rm"), (x + dx, y + step, "lm"), (x + dx, y - step, "lm"),
                      (x - dx, y + step, "rm"), (x - dx, y - step, "rm"), (x, y + dx, "mt"), (x, y - dx, "mb")]
        labels.place(candidates, label, normal, colour, force=0 <= x < width and top <= y < height)
    for c in view.circles:
        x, y = (float(v) for v in proj.to_pixel(c.lat, c.lon))
        r_px = c.radius_km / proj.km_per_px
        if r_px < r + 3:  # hidden under the marker: the legend lists it
            continue
        text = c.label or f"{c.radius_km:g} km"
        labels.place([(x, y - r_px - 3, "mb"), (x, y + r_px + 3, "mt")], text, small, CIRCLE)
    grey = (90, 110, 130)
    for lat in _graticule(proj)[1]:
        _, y = proj.to_pixel(lat, proj.lon0)
        labels.place([(4, float(y) - 2, "lb")], _fmt_deg(lat, "N", "S"), small, grey)
    for lon in _graticule(proj)[2]:
        x, _ = proj.to_pixel(0.0, lon, wrap=False)
        labels.place([(float(x) + 3, height - 4, "lb")], _fmt_deg((lon + 180) % 360 - 180, "E", "W"), small, grey)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _draw_geometry(view: GeoView, proj: MapProjection, ss: int = 2) -> np.ndarray:
    """Ocean, graticule, land, cells and circles at `ss`× resolution, reduced to the image size."""
    big = proj.scaled(ss)
    canvas = np.empty((big.height, big.width, 3), np.uint8)
    canvas[:] = OCEAN
    _, grat_lats, grat_lons = _graticule(proj)
    for lat in grat_lats:
        y = int(round(float(big.to_pixel(lat, proj.lon0)[1])))
        cv2.line(canvas, (0, y), (big.width, y), GRATICULE, ss)
    for lon in grat_lons:
        x = int(round(float(big.to_pixel(0.0, lon, wrap=False)[0])))
        cv2.line(canvas, (x, 0), (x, big.height), GRATICULE, ss)
    _draw_land(canvas, big)

    # cells: disks, darker and more opaque for more probable cells (most probable drawn last, on top)
    if view.cells:
        layer = canvas.copy()
        alpha = np.zeros(canvas.shape[:2], np.float32)
        radius = max(3, min(proj.width, proj.height) // 110) * ss
        for c, t in sorted(zip(view.cells, _relative(view.cells), strict=True), key=lambda ct: ct[1]):
            x, y = big.to_pixel(c.lat, c.lon)
            centre = (int(round(float(x))), int(round(float(y))))
            colour = cell_colour(t)
            cv2.circle(layer, centre, radius, tuple(int(v * 0.7) for v in colour), -1, cv2.LINE_AA)
            cv2.circle(layer, centre, radius - ss, colour, -1, cv2.LINE_AA)
            cv2.circle(alpha, centre, radius, 0.45 + 0.5 * t, -1, cv2.LINE_AA)
        canvas = _blend(canvas, layer, alpha)

    # circles: the answered (smallest) one and the GPS accuracy get a faint fill; coarser ones a thinner line
    rings = [(c.lat, c.lon, c.radius_km, CIRCLE, 2 if i == len(view.circles) - 1 else 1,
              i == len(view.circles) - 1) for i, c in enumerate(view.circles)]
    if view.gps and view.gps.accuracy_m:
        rings.append((view.gps.lat, view.gps.lon, view.gps.accuracy_m / 1000.0, GPS, 1, True))
    for lat, lon, radius_km, colour, weight, filled in rings:
        if radius_km / big.km_per_px < 2 * ss:
            continue
        outline, fill = _circle_polys(big, lat, lon, radius_km)
        if filled:
            layer = canvas.copy()
            cv2.fillPoly(layer, [fill], colour, cv2.LINE_AA, shift=4)
            canvas = cv2.addWeighted(layer, 0.12, canvas, 0.88, 0)
        cv2.polylines(canvas, [outline], not _contains_pole(lat, radius_km), colour, weight * ss, cv2.LINE_AA,
                      shift=4)
    return cv2.resize(canvas, (proj.width, proj.height), interpolation=cv2.INTER_AREA)


def _draw_markers(canvas: np.ndarray, view: GeoView, proj: MapProjection,
                  r: int) -> list[tuple[float, float, tuple[str, tuple[int, int, int]]]]:
    """GPS (blue diamond) and estimate (red disk) with white rims, in place; returns their pixels and labels."""
    out = []
    if view.gps:
        x, y = (float(v) for v in proj.to_pixel(view.gps.lat, view.gps.lon))
        for rr, colour in ((r + 3, (255, 255, 255)), (r + 1, GPS)):
            diamond = np.array([[x, y - rr], [x + rr, y], [x, y + rr], [x - rr, y]])
            cv2.fillPoly(canvas, [_fixed(diamond[:, 0], diamond[:, 1])], colour, cv2.LINE_AA, shift=4)
        out.append((x, y, (view.gps.label, GPS)))
    if view.estimate:
        x, y = (float(v) for v in proj.to_pixel(view.estimate.lat, view.estimate.lon))
        centre = (int(round(x)), int(round(y)))
        cv2.circle(canvas, centre, r + 2, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(canvas, centre, r, ESTIMATE, -1, cv2.LINE_AA)
        out.append((x, y, (view.estimate.label, ESTIMATE)))
    return out


def _draw_legend(draw: Any, view: GeoView, proj: MapProjection, small: Any, normal: Any, pad: int) -> list[Box]:
    """Legend box (bottom left), scale bar and source credit (bottom right); returns the boxes drawn."""
    width, height = proj.width, proj.height
    size = _size(normal)
    line_h = size + pad
    boxes: list[Box] = []
    rows: list[tuple[str, str, tuple[int, int, int]]] = []
    if view.estimate:
        rows.append(("dot", view.estimate.label, ESTIMATE))
    if view.gps:
        rows.append(("diamond", view.gps.details(), GPS))
    if view.circles:
        labels = ", ".join(c.label or f"{c.radius_km:g} km" for c in reversed(view.circles))
        rows.append(("ring", f"answered at: {labels}", CIRCLE))
    if view.cells:
        rows.append(("ramp", f"top {len(view.cells)} cells, low to high probability", CELL_RAMP[2]))
    bottom = height - pad - _size(small) - pad  # room for the longitude labels below
    if rows:
        texts = [_fit(draw, t, normal, width * 0.55) for _, t, _ in rows]
        sym_w = 3 * size if any(kind == "ramp" for kind, _, _ in rows) else size
        box_w = int(max(draw.textlength(t, font=normal) for t in texts) + sym_w + 3 * pad)
        box_h = len(rows) * line_h + 2 * pad
        x0, y1 = pad, bottom
        y0 = y1 - box_h
        draw.rectangle([x0, y0, x0 + box_w, y1], fill=(255, 255, 255, 235), outline=(170, 170, 170, 255))
        boxes.append((x0, y0, x0 + box_w, y1))
        for i, ((kind, _, colour), text) in enumerate(zip(rows, texts, strict=True)):
            cy = y0 + pad + i * line_h + line_h / 2
            h = size * 0.4
            sx = x0 + pad + (0 if kind == "ramp" else (sym_w - 2 * h) / 2)
            if kind == "dot":
                draw.ellipse([sx, cy - h, sx + 2 * h, cy + h], fill=colour, outline=(255, 255, 255), width=1)
            elif kind == "diamond":
                draw.polygon([(sx + h, cy - h), (sx + 2 * h, cy), (sx + h, cy + h), (sx, cy)], fill=colour)
            elif kind == "ring":
                draw.ellipse([sx, cy - h, sx + 2 * h, cy + h], outline=colour, width=2)
            else:
                steps = 12
                for j in range(steps):
                    draw.rectangle([sx + j * sym_w / steps, cy - h, sx + (j + 1) * sym_w / steps, cy + h],
                                   fill=cell_colour(j / (steps - 1)))
            _text(draw, (x0 + 2 * pad + sym_w, cy), text, normal, INK, halo=None, anchor="lm")

    # scale bar (true along the standard parallel) and the credit line, in one box at the bottom right
    km = _nice_km(proj.km_per_px * width * 0.18)
    bar = km / proj.km_per_px
    where = "equator" if abs(proj.lat0) < 0.5 else _fmt_deg(proj.lat0, "N", "S")
    caption = _printable(small, f"{km:g} km (at {where})")
    credit = _printable(small, "Boundaries: Natural Earth · offline")
    inner_w = max(bar, draw.textlength(caption, font=small), draw.textlength(credit, font=small))
    x1 = width - pad
    x0 = x1 - inner_w - 2 * pad
    y0 = bottom - 3 * _size(small) - 5 * pad
    draw.rectangle([x0, y0, x1, bottom], fill=(255, 255, 255, 225), outline=(170, 170, 170, 255))
    boxes.append((x0, y0, x1, bottom))
    cx = (x0 + x1) / 2
    ty = y0 + pad
    draw.text((cx, ty), caption, font=small, fill=INK, anchor="ma")
    by = ty + _size(small) + pad + 4
    draw.line([cx - bar / 2, by, cx + bar / 2, by], fill=INK, width=3)
    draw.line([cx - bar / 2, by - 5, cx - bar / 2, by + 2], fill=INK, width=2)
    draw.line([cx + bar / 2, by - 5, cx + bar / 2, by + 2], fill=INK, width=2)
    draw.text((cx, bottom - pad), credit, font=small, fill=(110, 110, 110), anchor="mb")
    return boxes
