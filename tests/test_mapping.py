"""Offline maps of geolocation results: the bundled boundaries, the self-contained Leaflet page (no
network reference of any kind) and the static OpenCV rendering (projection, banner, land/ocean)."""

from __future__ import annotations

import importlib.util
import json
import re
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from plugins.geolocation import mapping
from plugins.geolocation.geo import haversine_km
from plugins.geolocation.mapping import (
    ESTIMATE,
    LAND,
    OCEAN,
    WORLD_GEOJSON,
    GeoView,
    GpsFix,
    MapPoint,
    ScaleCircle,
    content_extent,
    external_references,
    folium_html,
    geodesic_circle,
    map_projection,
    static_map,
    view_from_result,
    world_boundaries,
)
from workbench.core.results import Geolocation

ROOT = Path(__file__).resolve().parents[1]
WHEEL = Path("/tmp/pyo/pyogrio-0.13.0-cp311-abi3-manylinux_2_28_x86_64.whl")
PARIS = (48.8566, 2.3522)


def make_script():  # noqa: ANN201 - the scripts/ module
    spec = importlib.util.spec_from_file_location("make_world_boundaries", ROOT / "scripts/make_world_boundaries.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(sys.modules[spec.name])
    return sys.modules[spec.name]


def answered_view(**overrides: object) -> GeoView:
    """Answered at city scale near Paris, a GPS fix in Versailles, a few cells."""
    lat, lon = PARIS
    kwargs = dict(
        title="Localizable at city scale (25 km), not at street scale (1 km)",
        estimate=MapPoint(lat, lon, "Estimate: Paris, FR"),
        gps=GpsFix(48.8049, 2.1204, 30.0, 130.0, "2024:05:01 10:00:00", "GPS: Versailles, FR"),
        cells=[(lat + 0.2 * i, lon + 0.3 * i, 0.4 / (i + 1)) for i in range(8)],
        circles=[ScaleCircle(lat, lon, r, f"{r} km") for r in (25, 200, 750, 2500)],
    )
    kwargs.update(overrides)
    return GeoView(**kwargs)


def abstaining_view(**overrides: object) -> GeoView:
    kwargs = dict(title="Abstains at every scale", abstention="Abstains at every scale: no location evidence.",
                  cells=[(10.0 * i - 40, 35.0 * i - 170, 0.02) for i in range(10)])
    kwargs.update(overrides)
    return GeoView(**kwargs)


def signed_area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))


def inside(lat: float, lon: float, ring: np.ndarray) -> bool:
    x1, y1, x2, y2 = ring[:-1, 0], ring[:-1, 1], ring[1:, 0], ring[1:, 1]
    crosses = (y1 > lat) != (y2 > lat)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
    return bool(np.count_nonzero(crosses & (lon < x_at)) % 2)


# --------------------------------------------------------------------------------------- boundaries


def test_world_boundaries_are_valid_natural_earth_countries() -> None:
    assert WORLD_GEOJSON.stat().st_size < 1_000_000
    doc = world_boundaries()
    features = doc["features"]
    assert 170 <= len(features) <= 180  # Natural Earth 110m: 177
    by_iso = {f["properties"]["iso_a3"]: f for f in features}
    for iso in ("FRA", "NOR", "BRA", "USA", "AUS", "ZAF", "LSO", "RUS", "FJI", "ATA"):
        assert iso in by_iso, iso
    assert {f["properties"]["continent"] for f in features} >= {"Africa", "Europe", "Asia", "Oceania"}
    for f in features:
        assert set(f["properties"]) == {"name", "iso_a3", "continent"} and f["properties"]["name"]
        geom = f["geometry"]
        polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
        assert geom["type"] in ("Polygon", "MultiPolygon") and polys
        for poly in polys:
            for k, ring in enumerate(poly):
                r = np.asarray(ring, dtype=np.float64)
                assert r.shape[0] >= 4 and r.shape[1] == 2
                assert np.array_equal(r[0], r[-1]), "ring not closed"
                assert np.all(np.abs(r[:, 0]) <= 180) and np.all(np.abs(r[:, 1]) <= 90)
                assert np.all(np.round(r, 3) == r), "coordinates rounded to 3 decimals"
                # RFC 7946: exterior counter-clockwise, holes clockwise
                assert (signed_area(r) > 0) == (k == 0)
    # South Africa has Lesotho as a hole, and Paris is in France
    zaf = by_iso["ZAF"]["geometry"]
    assert zaf["type"] == "Polygon" and len(zaf["coordinates"]) == 2
    france = by_iso["FRA"]["geometry"]["coordinates"]
    assert any(inside(*PARIS, np.asarray(poly[0])) for poly in france)


def test_shapefile_reader_on_a_hand_made_polygon_with_a_hole() -> None:
    """The .shp/.dbf readers of scripts/make_world_boundaries.py on a file written here by the spec."""
    script = make_script()
    outer = [(0, 0), (0, 10), (10, 10), (10, 0), (0, 0)]  # clockwise (shapefile exterior)
    hole = [(2, 2), (4, 2), (4, 4), (2, 4), (2, 2)]  # counter-clockwise (shapefile hole)
    points = outer + hole
    content = struct.pack("<i4d2i", 5, 0, 0, 10, 10, 2, len(points)) + struct.pack("<2i", 0, len(outer))
    content += b"".join(struct.pack("<2d", x, y) for x, y in points)
    header = struct.pack(">i5ii", 9994, 0, 0, 0, 0, 0, (100 + 8 + len(content)) // 2)
    header += struct.pack("<2i4d4d", 1000, 5, 0, 0, 10, 10, 0, 0, 0, 0)
    shp = header + struct.pack(">2i", 1, len(content) // 2) + content
    fields = [(b"name", b"C", 12), (b"iso_a3", b"C", 3), (b"pop_est", b"N", 8)]
    dbf_header = struct.pack("<B3BIHH20x", 3, 24, 1, 1, 1, 32 + 32 * len(fields) + 1, 1 + 12 + 3 + 8)
    for name, kind, length in fields:
        dbf_header += name.ljust(11, b"\0") + kind + b"\0" * 4 + bytes([length, 0]) + b"\0" * 14
    record = b" " + "Côte".encode("latin-1").ljust(12) + b"CIV" + b"123".rjust(8)
    dbf = dbf_header + b"\r" + record + b"\x1a"

    rings = script.read_shp_polygons(shp)
    assert len(rings) == 1 and [len(r) for r in rings[0]] == [5, 5]
    rows = script.read_dbf(dbf, "ISO-8859-1")
    assert rows == [{"name": "Côte", "iso_a3": "CIV", "pop_est": 123}]
    geom = script.to_geometry(rings[0])
    assert geom["type"] == "Polygon" and len(geom["coordinates"]) == 2
    ext, hol = (np.asarray(r, dtype=float) for r in geom["coordinates"])
    assert signed_area(ext) > 0 > signed_area(hol)


@pytest.mark.skipif(not WHEEL.is_file(), reason=f"the pyogrio wheel is not at {WHEEL}")
def test_regenerating_gives_the_bundled_file(tmp_path: Path) -> None:
    out = tmp_path / "countries.geojson"
    assert make_script().main(["--wheel", str(WHEEL), "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == world_boundaries()


# --------------------------------------------------------------------------------------- view model


def test_view_validates_and_normalises() -> None:
    view = GeoView(estimate=MapPoint(10, 190), cells=np.array([[0.0, -181.0, 0.5]]))
    assert view.estimate.lon == pytest.approx(-170) and view.cells[0].lon == pytest.approx(179)
    with pytest.raises(ValueError):
        GeoView(estimate=MapPoint(91, 0))
    with pytest.raises(ValueError):
        GeoView(cells=[(0, 0, float("nan"))])
    with pytest.raises(ValueError):
        GeoView(circles=[ScaleCircle(0, 0, 0)])


def test_view_from_a_geolocation_result() -> None:
    scales = [{"scale_km": s, "name": n, "score": 0.5, "threshold": 0.4, "passed": s >= 25, "answered": s >= 25}
              for s, n in ((1, "street"), (25, "city"), (200, "region"))]
    result = Geolocation(analyzer="geolocation", scales=scales, answered_scale_km=25,
                         decision="localizable at city scale (25 km), not at street scale (1 km)",
                         estimate={"lat": 48.85, "lon": 2.35, "place": "Paris, FR"},
                         gps={"lat": 48.8, "lon": 2.1, "accuracy_m": 10.0, "altitude_m": None, "time": None,
                              "place": "Versailles, FR"},
                         cells=np.array([[48.85, 2.35, 0.6], [45.0, 5.0, 0.1]]))
    view = view_from_result(result)
    assert view.abstention is None and view.title == result.decision
    assert [c.radius_km for c in view.circles] == [200, 25]  # coarsest first: drawn underneath
    assert view.estimate.label == "Estimate: Paris, FR" and view.gps.accuracy_m == 10.0 and len(view.cells) == 2

    abstained = Geolocation(analyzer="geolocation", scales=[dict(s, passed=False, answered=False) for s in scales],
                            answered_scale_km=None, decision="abstains at every scale",
                            cells=np.array([[0.0, 0.0, 0.01]]))
    view = view_from_result(abstained)
    assert view.abstention and view.abstains_everywhere and view.estimate is None and not view.circles
    assert content_extent(view) is None  # world view


def test_geodesic_circle_points_are_at_the_radius() -> None:
    for lat, lon, radius in ((*PARIS, 25.0), (-17.7, 178.5, 750.0), (78.2, 15.6, 2500.0)):
        clat, clon = geodesic_circle(lat, lon, radius, 90)
        assert np.allclose(haversine_km(lat, lon, clat, clon), radius, rtol=1e-9)
        assert np.all(np.abs(np.diff(clon)) < 90)  # continuous: one ring even across the antimeridian


def test_extent_zooms_to_the_answer_and_handles_the_antimeridian() -> None:
    paris = content_extent(answered_view())
    assert paris is not None and paris.south < PARIS[0] < paris.north and paris.west < PARIS[1] < paris.east
    assert 3.0 <= paris.north - paris.south < 6.0  # the 25 km answer with the minimum extent, not the 2500 km ring
    fiji = content_extent(GeoView(estimate=MapPoint(-17.7, 179.5), gps=GpsFix(-17.0, -179.5)))
    assert fiji.east > 180 > fiji.west and fiji.east - fiji.west < 20


# --------------------------------------------------------------------------------------- folium page

_REMOTE = [
    re.compile(r"<script[^>]*\bsrc\s*=", re.I),  # nothing is loaded by reference at all
    re.compile(r"<link[^>]*\bhref\s*=", re.I),
    re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I),
    re.compile(r"""url\(\s*["']?\s*(?:https?:)?//""", re.I),
    re.compile(r"@import", re.I),
]


def test_folium_page_is_self_contained_and_offline() -> None:
    page = folium_html(answered_view(abstention="Abstains at street scale (1 km)."))
    for pattern in _REMOTE:
        assert not pattern.search(page), pattern.pattern
    assert external_references(page) == []
    for cdn in ("cdn.jsdelivr", "code.jquery", "cdnjs", "bootstrapcdn", "fontawesome", "unpkg", "openstreetmap"):
        assert cdn not in page.lower(), cdn
    assert "L.tileLayer" not in page  # no tiles
    # Leaflet inlined (JS and CSS, images as data: URIs) before the map script runs
    assert 't.version="1.9.3"' in page and ".leaflet-container" in page
    assert page.index('t.version="1.9.3"') < page.index("L.map(")
    assert "url(data:image/png;base64," in page and "sourceMappingURL" not in page
    assert "$(" not in page.split('t.version="1.9.3"')[1]  # no jQuery calls in folium's part
    # the drawn elements
    assert page.count("L.circleMarker(") == 8 + 2  # cells + estimate + GPS
    assert page.count("L.circle(") == 4 + 1  # scale circles + GPS accuracy
    assert "L.geoJson(" in page and '"iso_a3":"FRA"' in page.replace(" ", "")
    assert 'id="fw-banner"' in page and "Abstains at street scale (1 km)." in page
    assert 'id="fw-legend"' in page and "Natural Earth" in page
    assert "window.fwMap = map" in page


def test_folium_page_escapes_labels_and_allows_only_the_users_tile_server() -> None:
    evil = "<script>alert(1)</script>`${document.cookie}`"
    page = folium_html(GeoView(title=evil, estimate=MapPoint(*PARIS, evil)),
                       tile_url="http://tiles.lan:8080/{z}/{x}/{y}.png")
    assert "<script>alert(1)" not in page
    assert "${document.cookie}" not in page[page.index("L.map("):]  # tooltips are JS template literals
    assert "L.tileLayer" in page and "tiles.lan:8080" in page
    assert all("tiles.lan" in ref for ref in external_references(page))


def test_external_references_finds_remote_assets() -> None:
    page = ('<script src="https://cdn.example/x.js"></script><link href="//cdn.example/x.css">'
            "<style>a{background:url('http://x/y.png')}</style><img src=https://x/y.png>")
    assert len(external_references(page)) == 4
    assert external_references('<a href="#x"></a><img src="data:image/png;base64,AAAA">') == []


# --------------------------------------------------------------------------------------- static map


def test_static_map_shape_and_the_estimate_at_its_projected_pixel() -> None:
    view = answered_view()
    img = static_map(view)
    assert img.shape == (600, 1200, 3) and img.dtype == np.uint8
    proj = map_projection(view, (1200, 600))
    x, y = (float(v) for v in proj.to_pixel(*PARIS))
    assert abs(x - 600) < 1 and abs(y - 300) < 1  # auto-zoom centres the answer
    assert tuple(img[int(round(y)), int(round(x))]) == ESTIMATE
    small = static_map(view, (640, 400))
    assert small.shape == (400, 640, 3)


def test_static_world_view_projection_land_and_ocean() -> None:
    """Abstaining everywhere gives plate carrée of the whole world: exact pixels are known."""
    view = abstaining_view(estimate=MapPoint(45.0, 90.0, "somewhere"), cells=())
    proj = map_projection(view, (1200, 600))
    assert (proj.lat0, proj.lon0, proj.k) == (0.0, 0.0, 1.0)
    assert [float(v) for v in proj.to_pixel(45.0, 90.0)] == [900.0, 150.0]
    img = static_map(view)
    assert tuple(img[150, 900]) == ESTIMATE
    assert tuple(img[300 + 33, 600 - 183]) == LAND  # 10°S 55°W, central Brazil
    assert tuple(img[300 - 33, 600 - 500]) == OCEAN  # 10°N 150°W, Pacific (0° is a graticule line)


def test_abstention_banner_changes_the_image() -> None:
    plain = static_map(abstaining_view(abstention=None))
    banner = static_map(abstaining_view())
    top = slice(30, 70)
    assert np.abs(plain[top].astype(int) - banner[top].astype(int)).mean() > 20
    # the banner's amber fills the strip under the title
    assert np.linalg.norm(banner[45, 20].astype(int) - np.array(mapping.BANNER_BG)) < 20


def test_static_map_draws_non_latin_labels_and_rejects_tiny_sizes() -> None:
    img = static_map(GeoView(estimate=MapPoint(5.35, -4.0, "Estimate: Abidjan, Côte d'Ivoire — Zürich ±5 km")))
    assert img.shape == (600, 1200, 3)
    with pytest.raises(ValueError):
        static_map(GeoView(), (100, 50))
