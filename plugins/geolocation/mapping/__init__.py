"""Offline maps of geolocation results: an interactive Leaflet page and a static image. No network, ever.

A forensic workstation may be air-gapped, and a map that quietly fetches tiles would also tell a
tile server which place is under investigation. So both renderings draw on bundled data only:

* `view`: `GeoView`, what to draw (estimate, GPS fix, cells, answered scales, abstention), and
  `view_from_result`, which builds one from a `Geolocation` result.
* `layers`: the bundled base layers — Natural Earth countries (1:110m) and provinces (1:10m),
  GeoNames place names with their label zoom levels.
* `geometry`: geodesic circles, the auto-zoomed extent and the static map's projection.
* `page`: `folium_html`, the self-contained Leaflet page (every asset inlined).
* `static`: `static_map`, the RGB image for the PDF report and the CLI (base map in `basemap`,
  text in `text`, colours shared by both renderings in `style`).

Qt-free. This package's names below are its public API.
"""

from .geometry import Extent, MapProjection, content_extent, geodesic_circle, map_projection, web_zoom
from .layers import WORLD_GEOJSON, detail_layer, place_names, world_boundaries
from .page import external_references, folium_html, leaflet_assets
from .static import static_map
from .style import cell_colour
from .view import GeoView, GpsFix, MapCell, MapPoint, ScaleCircle, view_from_result

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
    "detail_layer",
    "external_references",
    "folium_html",
    "geodesic_circle",
    "leaflet_assets",
    "map_projection",
    "place_names",
    "static_map",
    "view_from_result",
    "web_zoom",
    "world_boundaries",
]
