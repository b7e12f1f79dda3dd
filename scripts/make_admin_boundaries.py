#!/usr/bin/env python3
"""Write resources/world/admin1_10m.json.gz: Natural Earth's 1:10m states and provinces (public domain)
as a small topology, so a map zoomed on a town shows coastlines, borders and provinces that fit.

The 1:110m countries of the world view are ~100 km off at city scale. The finer source here is the
`world_map.gpkg` GeoPackage of Debian's `qgis-common` package (QGIS 3.22), whose `states_provinces`
layer is Natural Earth 10m Admin 1 v4.1.0 generalised by the QGIS project (see its
README_world_map.md). It is read straight out of the .deb (an `ar` archive holding data.tar.xz)
with the standard library, so regenerating needs neither GDAL nor QGIS:

    apt-get download qgis-common=3.22.16+dfsg-1
    python scripts/make_admin_boundaries.py --deb qgis-common_3.22.16+dfsg-1_all.deb

Neighbouring provinces share their borders vertex for vertex (the source is topological), so the
rings are cut into arcs at the vertices where three or more borders meet, each arc is simplified
once (Douglas-Peucker) and stored once: borders stay seamless after simplification, and the file
is about a fifth of a per-polygon GeoJSON (and gzip halves it again). The format follows TopoJSON's idea, kept minimal:

    {"scale": 1000,                        # integer units per degree
     "arcs": [[x0, y0, dx1, dy1, ...]],   # lon/lat × scale, each point after the first as a delta
     "coast": [i, ...], "country": [i, ...], "admin1": [i, ...],   # arcs by what they separate
     "regions": [{"name", "country", "iso_a3", "polygons": [[ring, ...], ...]}]}

A ring is a list of arc references: i walks arc i forwards, ~i (= -i - 1) walks it backwards.
The first ring of a polygon is its outline, the others its holes. Coast arcs bound one region,
country arcs separate regions of two countries, admin1 arcs two regions of one country.

GeoPackage geometry: "GP", version, flags (bit 0 byte order, bits 1-3 envelope kind), srs_id,
envelope (0/32/48/48/64 bytes), then OGC WKB (MultiPolygon 6 of Polygon 3).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sqlite3
import struct
import sys
import tarfile
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "resources" / "world" / "admin1_10m.json.gz"
GPKG_MEMBER = "./usr/share/qgis/resources/data/world_map.gpkg"
TOLERANCE_DEG = 0.01
"""Douglas-Peucker tolerance (~1.1 km of latitude): the source is generalised to vertices several
kilometres apart, so this mostly thins the densest coasts and keeps the file small."""
SCALE = 1000
"""Integer units per degree (~110 m): finer than the tolerance, and short numbers in the file."""

WKB_POLYGON, WKB_MULTIPOLYGON = 3, 6
ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}

Polygon = list[np.ndarray]
"""Rings (N × 2 lon, lat; closed: first point repeated last), outline first."""


def gpkg_polygons(blob: bytes) -> list[Polygon]:
    """The polygons of one GeoPackage (Multi)Polygon geometry blob."""
    if blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry")
    pos = 8 + ENVELOPE_BYTES[(blob[3] >> 1) & 7]
    polygons: list[Polygon] = []

    def read(pos: int) -> int:
        order = "<" if blob[pos] == 1 else ">"
        kind, = struct.unpack_from(order + "I", blob, pos + 1)
        pos += 5
        if kind == WKB_MULTIPOLYGON:
            count, = struct.unpack_from(order + "I", blob, pos)
            pos += 4
            for _ in range(count):
                pos = read(pos)
            return pos
        if kind != WKB_POLYGON:
            raise ValueError(f"WKB geometry type {kind} is not a (Multi)Polygon")
        n_rings, = struct.unpack_from(order + "I", blob, pos)
        pos += 4
        rings = []
        for _ in range(n_rings):
            n, = struct.unpack_from(order + "I", blob, pos)
            rings.append(np.frombuffer(blob, order + "f8", 2 * n, pos + 4).reshape(n, 2).astype(np.float64))
            pos += 4 + 16 * n
        polygons.append(rings)
        return pos

    read(pos)
    return polygons


def simplify(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Douglas-Peucker: the subset of `points` (first and last kept) within `tolerance` of the line."""
    n = len(points)
    if n < 3:
        return points
    keep = np.zeros(n, dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        seg = points[b] - points[a]
        rel = points[a + 1:b] - points[a]
        length = float(np.hypot(*seg))
        if length == 0.0:
            dist = np.hypot(rel[:, 0], rel[:, 1])
        else:
            dist = np.abs(rel[:, 0] * seg[1] - rel[:, 1] * seg[0]) / length
        i = int(np.argmax(dist))
        if dist[i] > tolerance:
            keep[a + 1 + i] = True
            stack += [(a, a + 1 + i), (a + 1 + i, b)]
    return points[keep]


def simplify_arc(points: np.ndarray, tolerance: float) -> np.ndarray:
    """`simplify`, also for a closed arc (an island), which is split at its farthest point first."""
    if len(points) > 3 and np.array_equal(points[0], points[-1]):
        far = int(np.argmax(np.hypot(*(points - points[0]).T)))
        return np.vstack([simplify(points[:far + 1], tolerance)[:-1], simplify(points[far:], tolerance)])
    return simplify(points, tolerance)


@dataclass
class Topology:
    """Rings cut into shared arcs; `polygons[r]` of region r are lists of rings of arc references."""

    arcs: list[np.ndarray] = field(default_factory=list)
    polygons: list[list[list[list[int]]]] = field(default_factory=list)
    users: list[set[int]] = field(default_factory=list)
    """Regions each arc bounds."""


def build_topology(regions: list[list[Polygon]]) -> Topology:
    """Arcs between junctions (vertices with three or more neighbours), each stored once."""
    neighbours: dict[tuple[float, float], set[tuple[float, float]]] = defaultdict(set)
    for polygons in regions:
        for rings in polygons:
            for ring in rings:
                pts = list(map(tuple, ring[:-1]))
                for i, p in enumerate(pts):
                    neighbours[p].update((pts[i - 1], pts[(i + 1) % len(pts)]))
    junctions = {p for p, ns in neighbours.items() if len(ns) > 2}
    topo = Topology()
    index: dict[tuple, int] = {}

    def ref(key: tuple, region: int) -> int:
        if key in index:
            i = index[key]
        elif key[::-1] in index:
            i = ~index[key[::-1]]
        else:
            i = index[key] = len(topo.arcs)
            topo.arcs.append(np.array(key, dtype=np.float64))
            topo.users.append(set())
        topo.users[i if i >= 0 else ~i].add(region)
        return i

    for r, polygons in enumerate(regions):
        out = []
        for rings in polygons:
            refs = []
            for ring in rings:
                pts = list(map(tuple, ring[:-1]))
                if len(pts) < 3:
                    continue
                cuts = [i for i, p in enumerate(pts) if p in junctions]
                if not cuts:  # an island or an enclave: one closed arc, in a canonical rotation and direction
                    start = min(range(len(pts)), key=pts.__getitem__)
                    fwd = pts[start:] + pts[:start]
                    back = [fwd[0], *fwd[:0:-1]]
                    key = tuple(min(fwd, back)) + (fwd[0],)
                    i = ref(key, r)
                    refs.append([i if key[:-1] == tuple(fwd) else ~i])
                    continue
                pts = pts[cuts[0]:] + pts[:cuts[0]]
                cuts = [c - cuts[0] for c in cuts] + [len(pts)]
                pts.append(pts[0])
                refs.append([ref(tuple(pts[a:b + 1]), r) for a, b in zip(cuts[:-1], cuts[1:], strict=True)])
            out.append(refs)
        topo.polygons.append(out)
    return topo


def ring_points(arcs: list[np.ndarray], refs: list[int]) -> np.ndarray:
    """The closed ring that a list of arc references walks."""
    parts = [arcs[i] if i >= 0 else arcs[~i][::-1] for i in refs]
    return np.vstack([parts[0]] + [p[1:] for p in parts[1:]])


def encode(arc: np.ndarray) -> list[int]:
    """Quantised to 1/SCALE degree, delta-encoded, flat: x0, y0, dx1, dy1, ..."""
    q = np.round(arc * SCALE).astype(np.int64)
    q = q[np.r_[True, np.any(q[1:] != q[:-1], axis=1)]]
    d = np.vstack([q[:1], np.diff(q, axis=0)])
    return [int(v) for v in d.ravel()]


def decode(flat: list[int]) -> np.ndarray:
    """Inverse of `encode` (the map reads the file with the same arithmetic)."""
    return np.cumsum(np.asarray(flat, dtype=np.int64).reshape(-1, 2), axis=0) / SCALE


def _ring_ok(points: np.ndarray) -> bool:
    x, y = points[:, 0], points[:, 1]
    area = 0.5 * float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))
    return len(np.unique(points, axis=0)) >= 3 and area != 0.0


def build_layer(rows: list[tuple[str, str, str, bytes]], tolerance: float = TOLERANCE_DEG) -> dict:
    """The admin1 document from (name, country, iso_a3, geometry blob) rows."""
    regions = [gpkg_polygons(blob) for *_, blob in rows]
    topo = build_topology(regions)
    country = [iso for _, _, iso, _ in rows]
    encoded = [encode(simplify_arc(arc, tolerance)) for arc in topo.arcs]
    arcs = [decode(e) for e in encoded]
    # rings that the simplification collapsed (islets smaller than the tolerance) are dropped
    used: set[int] = set()
    features = []
    for (name, admin, iso, _), polygons in zip(rows, topo.polygons, strict=True):
        polys = []
        for rings in polygons:
            if not rings or not _ring_ok(ring_points(arcs, rings[0])):
                continue
            kept = [rings[0]] + [h for h in rings[1:] if _ring_ok(ring_points(arcs, h))]
            polys.append(kept)
            used.update(i if i >= 0 else ~i for ring in kept for i in ring)
        if polys:
            features.append({"name": name, "country": admin, "iso_a3": iso, "polygons": polys})
    kinds: dict[str, list[int]] = {"coast": [], "country": [], "admin1": []}
    for i in sorted(used):
        users = topo.users[i]
        if len(users) == 1:
            kinds["coast"].append(i)
        elif len({country[u] for u in users}) > 1:
            kinds["country"].append(i)
        else:
            kinds["admin1"].append(i)
    # renumber the arcs that are still used, in order
    new = {old: k for k, old in enumerate(sorted(used))}

    def renumber(i: int) -> int:
        return new[i] if i >= 0 else ~new[~i]

    for f in features:
        f["polygons"] = [[[renumber(i) for i in ring] for ring in poly] for poly in f["polygons"]]
    features.sort(key=lambda f: (f["country"], f["name"]))
    return {"scale": SCALE, "arcs": [encoded[i] for i in sorted(used)],
            **{kind: [new[i] for i in ids] for kind, ids in kinds.items()}, "regions": features}


def read_rows(gpkg: Path) -> list[tuple[str, str, str, bytes]]:
    with sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True) as db:
        query = "SELECT COALESCE(name, ''), admin, adm0_a3, geom FROM states_provinces ORDER BY fid"
        return db.execute(query).fetchall()


def gpkg_from_deb(deb: Path, folder: Path) -> Path:
    """Extract world_map.gpkg from the .deb (ar archive → data.tar.xz) into `folder`."""
    data = deb.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise ValueError(f"{deb} is not a Debian package")
    pos = 8
    while pos + 60 <= len(data):
        name = data[pos:pos + 16].decode("ascii").strip().rstrip("/")
        size = int(data[pos + 48:pos + 58].decode("ascii"))
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(data[pos + 60:pos + 60 + size])) as tar:
                member = tar.extractfile(GPKG_MEMBER)
                if member is None:
                    raise ValueError(f"{GPKG_MEMBER} not in {deb}")
                out = folder / "world_map.gpkg"
                out.write_bytes(member.read())
                return out
        pos += 60 + size + (size & 1)
    raise ValueError(f"no data.tar member in {deb}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--deb", type=Path, help="qgis-common .deb holding world_map.gpkg")
    source.add_argument("--gpkg", type=Path, help="world_map.gpkg itself")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="gzip JSON file to write")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        gpkg = args.gpkg or gpkg_from_deb(args.deb, Path(tmp))
        if not gpkg.is_file():
            print(f"no GeoPackage at {gpkg}", file=sys.stderr)
            return 2
        doc = build_layer(read_rows(gpkg))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n"
    args.out.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
    points = sum(len(a) // 2 for a in doc["arcs"])
    print(f"{args.out}: {len(doc['regions'])} regions, {len(doc['arcs'])} arcs, {points} points, "
          f"{args.out.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
