"""The interactive map: one self-contained Leaflet page (folium), every asset inlined, no network.

A forensic workstation may be air-gapped, and a map that quietly fetched tiles would also tell a
tile server which place is under investigation. So the page inlines Leaflet (from the
xstatic-leaflet package; folium's CDN links for Leaflet, jQuery, Bootstrap and Font Awesome are
dropped), draws the bundled base layers (`layers.py`, by `base_layers.js`) and has no tile layer
unless the user names their own tile server. It is checked for external references before it is
returned.
"""

from __future__ import annotations

import base64
import html
import re
from functools import cache
from pathlib import Path

from .geometry import content_extent
from .layers import CREDIT, DETAIL_ZOOM, admin1_text, places_text, world_text
from .style import (
    ADMIN1_BORDER,
    BANNER_BG,
    BANNER_FG,
    BORDER,
    CELL_RAMP,
    CIRCLE,
    COAST,
    COUNTRY_BORDER,
    ESTIMATE,
    GPS,
    LAND,
    OCEAN,
    PLACE,
    cell_colour,
    hex_colour,
    relative_probabilities,
)
from .view import GeoView

__all__ = ["external_references", "folium_html", "leaflet_assets"]

BASE_LAYERS_JS = Path(__file__).with_name("base_layers.js")
MAX_LABELS = 400
"""Place labels drawn at once (the spacing already limits them; this bounds a huge screen)."""

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
def _folium_types() -> tuple[type, type, type]:
    """(OfflineMap, FitView, BaseLayers): folium classes built on first use, so importing this module stays light."""
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

    class BaseLayers(MacroElement):
        """The bundled countries, provinces and place names (`base_layers.js`), data inlined as JSON.

        The script is a `header` macro (in <head>, before the map's script calls it). The 3.5 MB of
        data go in as tokens that `folium_html` replaces after rendering and checking the page:
        branca would compile them as a Jinja template, and the data are checked once (`_layer_data`).
        """

        _template = Template("""
            {% macro header(this, kwargs) %}<script>{{ this.code }}</script>{% endmacro %}
            {% macro script(this, kwargs) %}
            fwBaseLayers({{ this._parent.get_name() }}, {{ this.world }}, {{ this.detail }},
                         {{ this.places }}.places, {{ this.options|tojson }});
            {% endmacro %}
        """)

        def __init__(self, fill_opacity: float) -> None:
            super().__init__()
            self._name = "BaseLayers"
            self.code = BASE_LAYERS_JS.read_text(encoding="utf-8")
            if "</script" in self.code.lower():
                raise RuntimeError(f"{BASE_LAYERS_JS.name} cannot be inlined safely (contains a closing tag)")
            self.world, self.detail, self.places = _DATA_TOKENS  # replaced once the page is checked
            self.options = {
                "land": hex_colour(LAND), "border": hex_colour(BORDER), "fillOpacity": fill_opacity,
                "detailZoom": DETAIL_ZOOM, "maxLabels": MAX_LABELS,
                "lines": [{"name": "admin1", "color": hex_colour(ADMIN1_BORDER), "weight": 0.8, "dash": "4 3"},
                          {"name": "coast", "color": hex_colour(COAST), "weight": 0.9},
                          {"name": "country", "color": hex_colour(COUNTRY_BORDER), "weight": 1.6}],
            }

    return OfflineMap, FitView, BaseLayers


_DATA_TOKENS = ("__FW_WORLD_DATA__", "__FW_DETAIL_DATA__", "__FW_PLACES_DATA__")


@cache
def _layer_data() -> tuple[str, ...]:
    """The layers' JSON texts, each unable to end the <script> it is inlined into ("<\\/" is "</" in a JS
    string) and checked for remote references once (they are bundled files, but the page promises none)."""
    texts = tuple(text.replace("</", "<\\/") for text in (world_text(), admin1_text(), places_text()))
    for text in texts:
        if external_references(text):
            raise RuntimeError(f"map data reference a remote host: {external_references(text)[0]!r}")
    return texts


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
.fw-place { white-space: nowrap; font-size: 11px; line-height: 16px; color: %(place)s;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff, 0 0 3px #fff; }
.fw-place i { display: inline-block; width: 5px; height: 5px; border-radius: 50%%; background: %(place)s;
  margin-right: 3px; vertical-align: middle; box-shadow: 0 0 0 1px #fff; }
.fw-place-1 { font-size: 12px; }
.fw-place-2 { font-size: 12px; font-weight: 600; }
.fw-place-3 { font-size: 13px; font-weight: 700; }
.fw-ramp { display: inline-block; width: 60px; height: 10px; vertical-align: middle; margin: 0 4px;
  background: linear-gradient(to right, %(ramp)s); border: 1px solid #999; }
"""


def _legend_html(view: GeoView) -> str:
    rows = [f"<b>{html.escape(view.title)}</b>"]
    if view.estimate:
        rows.append(f'<span class="fw-dot" style="background:{hex_colour(ESTIMATE)}"></span>'
                    f"{html.escape(view.estimate.label)}")
    if view.gps:
        rows.append(f'<span class="fw-dot" style="background:{hex_colour(GPS)}"></span>'
                    f"{html.escape(view.gps.details())}")
    if view.circles:
        labels = ", ".join(html.escape(c.label or f"{c.radius_km:g} km") for c in reversed(view.circles))
        rows.append(f'<span class="fw-ring"></span>answered at: {labels}')
    if view.cells:
        rows.append(f"top {len(view.cells)} cells: low<span class=\"fw-ramp\"></span>high probability")
    rows.append(f'<span style="color:#777">{html.escape(CREDIT)}. No tiles, offline.</span>')
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
    offline_map, fit_view, base_layers = _folium_types()
    m = offline_map(location=None, tiles=None, control_scale=True, attribution_control=False,
                            zoom_control=True, prefer_canvas=False, zoom_snap=0.25)  # fractional: a tight fit
    root = m.get_root()
    root.title = html.escape(view.title)  # branca writes <title> unescaped
    # Leaflet first in <head>: folium's own scripts (in the body) call L.map(...).
    root.header.add_child(folium.Element(f"<style>{css}</style>"), name="leaflet_css", index=0)
    root.header.add_child(folium.Element(f"<script>{js}</script>"), name="leaflet_js", index=1)
    colours = {name: hex_colour(rgb) for name, rgb in (("ocean", OCEAN), ("banner_bg", BANNER_BG),
                                                        ("banner_fg", BANNER_FG), ("circle", CIRCLE), ("place", PLACE))}
    colours["ramp"] = ", ".join(hex_colour(c) for c in CELL_RAMP)
    root.header.add_child(folium.Element(f"<style>{_PAGE_CSS % colours}</style>"), name="workbench_css")

    if tile_url:
        folium.TileLayer(tiles=tile_url, attr="user tile server", name="Tiles", overlay=False).add_to(m)
    base_layers(0.55 if tile_url else 1.0).add_to(m)

    for c, t in sorted(zip(view.cells, relative_probabilities(view.cells), strict=True), key=lambda ct: ct[1]):
        colour = hex_colour(cell_colour(t))
        folium.CircleMarker(
            [c.lat, c.lon], radius=7, stroke=True, weight=0.5, color=colour, fill=True, fill_color=colour,
            fill_opacity=0.35 + 0.55 * t, tooltip=_js_text(f"cell {c.lat:.2f}, {c.lon:.2f}: p = {c.probability:.4f}"),
        ).add_to(m)
    for i, c in enumerate(view.circles):  # coarsest first; only the answered (smallest) one is filled
        answered = i == len(view.circles) - 1
        folium.Circle(
            [c.lat, c.lon], radius=c.radius_km * 1000.0, color=hex_colour(CIRCLE), weight=2 if answered else 1.2,
            fill=answered, fill_color=hex_colour(CIRCLE) if answered else None,  # a colour forces fill
            fill_opacity=0.1,
            tooltip=_js_text(c.label or f"{c.radius_km:g} km"),
        ).add_to(m)
    if view.gps:
        g = view.gps
        if g.accuracy_m:
            folium.Circle([g.lat, g.lon], radius=g.accuracy_m, color=hex_colour(GPS), weight=1, fill=True,
                          fill_opacity=0.15, tooltip=_js_text(f"GPS accuracy {g.accuracy_m:g} m")).add_to(m)
        folium.CircleMarker([g.lat, g.lon], radius=7, color="#ffffff", weight=2, fill=True, fill_color=hex_colour(GPS),
                            fill_opacity=1.0, tooltip=_js_text(g.details())).add_to(m)
    if view.estimate:
        e = view.estimate
        folium.CircleMarker([e.lat, e.lon], radius=8, color="#ffffff", weight=2, fill=True,
                            fill_color=hex_colour(ESTIMATE), fill_opacity=1.0,
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
    for token, data in zip(_DATA_TOKENS, _layer_data(), strict=True):
        page = page.replace(token, data, 1)
    return page


def _tile_host_refs(tile_url: str | None) -> list[str]:
    if not tile_url:
        return []
    host = re.sub(r"^(?:https?:)?//", "", tile_url).split("/", 1)[0]
    return [host] if host else []

