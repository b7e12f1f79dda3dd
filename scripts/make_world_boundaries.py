#!/usr/bin/env python3
"""Write resources/world/countries_110m.geojson from Natural Earth's 110m countries (public domain).

The source is the `naturalearth_lowres` shapefile that the pyogrio wheel ships as a test fixture.
It is read straight out of the wheel (a zip file) with the small shapefile (.shp) and dBase III (.dbf)
readers below, so regenerating the map base layer needs neither GDAL nor pyogrio installed.

    python scripts/make_world_boundaries.py [--wheel PATH] [--out PATH]

Formats: "ESRI Shapefile Technical Description" (ESRI, July 1998): a 100-byte header, then records
of an 8-byte big-endian header (number, content length in 16-bit words) and little-endian content;
a Polygon (type 5) is bbox, numParts, numPoints, parts[numParts], points[numPoints] (x, y doubles).
Outer rings run clockwise, holes counter-clockwise. dBase III: a 32-byte header (record count,
header length, record length), 32-byte field descriptors ending with 0x0D, then fixed-width
records each led by a deletion flag byte.

GeoJSON written follows RFC 7946: Polygon or MultiPolygon, outer rings counter-clockwise, holes
clockwise and grouped under the outer ring that contains them; coordinates rounded to 3 decimals
(~110 m, far finer than the 1:110 million source) to keep the file small.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WHEEL = Path("/tmp/pyo/pyogrio-0.13.0-cp311-abi3-manylinux_2_28_x86_64.whl")
DEFAULT_OUT = ROOT / "resources" / "world" / "countries_110m.geojson"
FIXTURE = "pyogrio/tests/fixtures/naturalearth_lowres/naturalearth_lowres"
DECIMALS = 3

ISO_A3_FIXES = {"France": "FRA", "Norway": "NOR"}
"""Natural Earth sets ISO_A3 to -99 for these two (their overseas parts are separate ISO entries),
although the countries themselves have unambiguous codes. Other -99 entries (Kosovo, N. Cyprus,
Somaliland) have no ISO 3166 code and are written as null."""

SHP_NULL, SHP_POLYGON = 0, 5


@dataclass(frozen=True)
class DbfField:
    """One column of a dBase III table: its name, type letter and byte width in each record."""

    name: str
    kind: str
    length: int
    decimals: int


def read_shp_polygons(data: bytes) -> list[list[np.ndarray]]:
    """Rings (N×2 float64 arrays of lon, lat) of every record of a Polygon shapefile, in file order.

    A null-shape record gives an empty list, so the index still matches the .dbf row.
    """
    file_code, = struct.unpack_from(">i", data, 0)
    file_words, = struct.unpack_from(">i", data, 24)
    version, shape_type = struct.unpack_from("<ii", data, 28)
    if file_code != 9994 or version != 1000:
        raise ValueError(f"not a shapefile (file code {file_code}, version {version})")
    if shape_type != SHP_POLYGON:
        raise ValueError(f"shape type {shape_type} is not Polygon ({SHP_POLYGON})")
    end = min(len(data), 2 * file_words)
    records: list[list[np.ndarray]] = []
    pos = 100
    while pos + 8 <= end:
        _number, content_words = struct.unpack_from(">ii", data, pos)
        content = pos + 8
        pos = content + 2 * content_words
        rec_type, = struct.unpack_from("<i", data, content)
        if rec_type == SHP_NULL:
            records.append([])
            continue
        if rec_type != SHP_POLYGON:
            raise ValueError(f"record of shape type {rec_type} in a Polygon shapefile")
        n_parts, n_points = struct.unpack_from("<ii", data, content + 36)
        parts = np.frombuffer(data, "<i4", n_parts, content + 44).astype(np.int64)
        points = np.frombuffer(data, "<f8", 2 * n_points, content + 44 + 4 * n_parts).reshape(n_points, 2)
        bounds = np.append(parts, n_points)
        records.append([points[a:b].copy() for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    return records


def read_dbf(data: bytes, encoding: str = "utf-8") -> list[dict[str, object]]:
    """Rows of a dBase III table as dicts; numeric fields become int/float (None when blank)."""
    n_records, header_len, record_len = struct.unpack_from("<IHH", data, 4)
    fields: list[DbfField] = []
    pos = 32
    while data[pos] != 0x0D:
        name = data[pos:pos + 11].split(b"\0", 1)[0].decode("ascii")
        kind = chr(data[pos + 11])
        fields.append(DbfField(name, kind, data[pos + 16], data[pos + 17]))
        pos += 32
    rows: list[dict[str, object]] = []
    for i in range(n_records):
        rec = data[header_len + i * record_len:header_len + (i + 1) * record_len]
        if rec[:1] == b"*":  # deleted
            continue
        row: dict[str, object] = {}
        off = 1
        for f in fields:
            raw = rec[off:off + f.length].decode(encoding).strip()
            off += f.length
            if f.kind in "NF":
                if not raw or raw.startswith("*"):
                    row[f.name] = None
                elif f.decimals == 0 and "." not in raw:
                    row[f.name] = int(raw)
                else:
                    row[f.name] = float(raw)
            else:
                row[f.name] = raw
        rows.append(row)
    return rows


def signed_area(ring: np.ndarray) -> float:
    """Shoelace area in degrees²: positive when counter-clockwise (x east, y north)."""
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))


def point_in_ring(x: float, y: float, ring: np.ndarray) -> bool:
    """Even-odd ray casting; enough to tell which outer ring a hole belongs to."""
    xs, ys = ring[:, 0], ring[:, 1]
    x1, y1, x2, y2 = xs[:-1], ys[:-1], xs[1:], ys[1:]
    crosses = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    return bool(np.count_nonzero(crosses & (x < x_at)) % 2)


def clean_ring(ring: np.ndarray) -> np.ndarray | None:
    """Round, drop repeated vertices, close; None if fewer than 3 distinct corners remain."""
    r = np.round(ring, DECIMALS)
    keep = np.ones(len(r), dtype=bool)
    keep[1:] = np.any(r[1:] != r[:-1], axis=1)
    r = r[keep]
    if len(r) and np.any(r[0] != r[-1]):
        r = np.vstack([r, r[:1]])
    if len(r) < 4 or abs(signed_area(r)) == 0.0:
        return None
    return r


def to_geometry(rings: list[np.ndarray]) -> dict | None:
    """GeoJSON Polygon/MultiPolygon from shapefile rings (outer clockwise, holes counter-clockwise)."""
    cleaned = [r for r in (clean_ring(ring) for ring in rings) if r is not None]
    outers = [r for r in cleaned if signed_area(r) < 0]
    holes = [r for r in cleaned if signed_area(r) > 0]
    if not outers:  # badly wound source: treat everything as outer rings
        outers, holes = cleaned, []
    polygons: list[list[np.ndarray]] = [[o[::-1]] for o in outers]  # RFC 7946: outer counter-clockwise
    for hole in holes:
        x, y = hole[0]
        owner = next((i for i, o in enumerate(outers) if point_in_ring(x, y, o)), None)
        if owner is None:
            polygons.append([hole])  # orphan "hole": it is land on its own, already counter-clockwise
        else:
            polygons[owner].append(hole[::-1])  # holes clockwise
    if not polygons:
        return None

    def coords(poly: list[np.ndarray]) -> list:
        return [[[_num(x), _num(y)] for x, y in ring] for ring in poly]

    if len(polygons) == 1:
        return {"type": "Polygon", "coordinates": coords(polygons[0])}
    return {"type": "MultiPolygon", "coordinates": [coords(p) for p in polygons]}


def _num(v: float) -> float | int:
    """3-decimal value written without a trailing '.0' (integers) to save bytes."""
    r = round(float(v), DECIMALS)
    return int(r) if r == int(r) else r


def build_collection(wheel: Path) -> dict:
    """The FeatureCollection (name, iso_a3, continent) built from the fixture inside `wheel`."""
    with zipfile.ZipFile(wheel) as zf:
        shp = zf.read(FIXTURE + ".shp")
        dbf = zf.read(FIXTURE + ".dbf")
        try:
            encoding = zf.read(FIXTURE + ".cpg").decode("ascii").strip() or "utf-8"
        except KeyError:
            encoding = "utf-8"
    shapes = read_shp_polygons(shp)
    rows = read_dbf(dbf, encoding)
    if len(shapes) != len(rows):
        raise ValueError(f".shp has {len(shapes)} records but .dbf has {len(rows)}")
    features = []
    for rings, row in zip(shapes, rows, strict=True):
        geometry = to_geometry(rings)
        if geometry is None:
            continue
        name = str(row.get("name") or "")
        iso = str(row.get("iso_a3") or "")
        iso = ISO_A3_FIXES.get(name, iso)
        features.append({
            "type": "Feature",
            "properties": {"name": name, "iso_a3": None if iso in ("", "-99") else iso,
                           "continent": str(row.get("continent") or "")},
            "geometry": geometry,
        })
    features.sort(key=lambda f: f["properties"]["name"])
    return {"type": "FeatureCollection", "features": features}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, default=DEFAULT_WHEEL, help="pyogrio wheel holding the fixture")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="GeoJSON file to write")
    args = parser.parse_args(argv)
    if not args.wheel.is_file():
        print(f"no wheel at {args.wheel}: `pip download --no-deps pyogrio==0.13.0` and pass --wheel",
              file=sys.stderr)
        return 2
    collection = build_collection(args.wheel)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(collection, separators=(",", ":"), ensure_ascii=False)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(f"{args.out}: {len(collection['features'])} countries, {args.out.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
