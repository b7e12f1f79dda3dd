"""Similar-image search bench: copy detection on transformed copies of real photos among ≥ 1,000
distractors (mAP and recall@k, global-only against SIFT re-ranked on full features and on the ≤ 1 KB
compact records), query latency at 1k / 10k / 100k indexed images (FAISS against a NumPy brute-force
baseline) and indexing throughput.

    .venv/bin/python -m bench.similarity --quick                                    # smoke run, ~3-5 min
    .venv/bin/python -m bench.similarity --threads 1 --out docs/similarity-bench.md # ~8 min on 2 cores

The image set is generated once from the photos that installed packages ship (no download) and
cached under the user cache folder with its collection (`--rebuild` indexes it again). The photos
are split: half give the queries and their positives, the other half the distractors, so no
distractor shares content with a query. Metrics come from `plugins.similarity.evaluation`; times
are medians in this process, compared with baselines run in the same process (brute force for the
index, global-only for re-ranking); nothing is asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import platformdirs
from PIL import Image

from bench import rerank_cost
from bench.report import publish
from plugins.similarity.collection import Collection, Item
from plugins.similarity.compact import KEYPOINTS as COMPACT_KEYPOINTS
from plugins.similarity.compact import KIND as COMPACT_KIND
from plugins.similarity.evaluation import compute_map, mean_reciprocal_rank, recall_at_k
from plugins.similarity.global_descriptor import l2_normalize
from plugins.similarity.index import FaissBackend, NumpyBackend, VectorBackend
from plugins.similarity.local import KIND as SIFT_KIND
from plugins.similarity.local import MIN_INLIERS, mirrored, sift_features, verify
from plugins.similarity.search import Query, Rerank, query_from_media, search
from workbench.core.device import usable_cores
from workbench.core.media import open_media
from workbench.core.plugin import RunContext
from workbench.synthetic.photos import OPENCV_DOC_DATA, load, package_dir, random_view, source_photos

GENERATOR_VERSION = 2
"""Bump when the generated images change for a given seed (invalidates the cache)."""
LONG_SIDE = 512
"""Source photos are first shrunk to this long side (never enlarged): the "originals"."""
FAMILIES = ("crop", "rotate", "scale", "jpeg", "overlay", "colour", "flip", "splice", "combo")
"""Query transformations; each query photo gets `--per-family` queries of each."""
MILD = ("crop", "rotate", "scale", "jpeg", "overlay", "colour", "flip")
"""Transformations of the positives stored in the database (milder settings)."""
EXTRA_DISTRACTOR_PHOTOS = ("cell.png", "clock_motion.png", "page.png", "text.png", "motorcycle_right.png")
"""More real photos of scikit-image, used as distractor sources only (too small or grey for queries)."""
SCENES = {"motorcycle_right": "motorcycle_left", "ela_modified": "ela", "ela_original": "ela",
          "left": "tsukuba", "right": "tsukuba"}
"""Photos of the same scene: one scene is never on both sides of the split, and gives one photo."""
_VIEW_SUFFIX = re.compile(r"(?:\d+|[LRAB])$")
"""opencv-doc's views of one scene: aloeL/aloeR, leuvenA/leuvenB, aero1/aero3, left01…right14."""
WORDS = ("BREAKING", "EXCLUSIVE", "#viral", "SHARE NOW", "(c) 2024 news24", "LIVE", "FAKE?", "source: web",
         "@user_1987", "MUST SEE")
KS = (1, 5, 10)
SIZES = (1_000, 10_000, 100_000)
GLOBAL_TARGET_MS = 50.0
"""A 10k-image index answers a global query in under this (the issue's target)."""
RERANK_TARGET_S = 2.0
"""A query re-ranking the top 100 by spatial verification answers in under this on the CPU."""


# -- photos and transformations -------------------------------------------------------------------


def scene_of(path: Path) -> str:
    """The scene a photo shows: stereo pairs, calibration series and before/after pairs share one."""
    stem = SCENES.get(path.stem, path.stem)
    if re.fullmatch(r"(left|right)\d+", stem):
        return "chessboard"
    return _VIEW_SUFFIX.sub("", stem)


def photo_sources() -> str:
    """Which packages gave this machine's photos: the bench's image set depends on them."""
    found = ["scikit-image's"]
    if package_dir("sklearn", "datasets", "images") is not None:
        found.append("scikit-learn's")
    if OPENCV_DOC_DATA.is_dir():
        found.append("Debian opencv-doc's")
    return ", ".join(found)


def photo_split() -> tuple[list[Path], list[Path]]:
    """(query photos, distractor photos): the first photo of each scene of `source_photos()`, scenes
    alternating between the sides, plus the extra scikit-image photos as distractors when their scene
    is not a query's. Views of one scene (a stereo pair, a calibration series) would share content
    across the split and count real matches as false ones."""
    first: dict[str, Path] = {}
    for photo in source_photos():
        first.setdefault(scene_of(photo), photo)
    photos = list(first.values())
    queries, distractors = photos[0::2], photos[1::2]
    query_scenes = {scene_of(p) for p in queries}
    folder = package_dir("skimage", "data")
    if folder is not None:
        distractors += [folder / n for n in EXTRA_DISTRACTOR_PHOTOS
                        if (folder / n).is_file() and scene_of(folder / n) not in query_scenes]
    return queries, distractors


@cache
def original(path: Path) -> np.ndarray:
    """The photo as RGB, shrunk to LONG_SIDE when larger: what the database holds as the original."""
    rgb = load(path)
    scale = LONG_SIDE / max(rgb.shape[:2])
    if scale >= 1:
        return np.ascontiguousarray(rgb)
    size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


@cache
def logo() -> np.ndarray:
    """An RGBA logo for overlays: scikit-image's, or a drawn disc when it is missing."""
    folder = package_dir("skimage", "data")
    if folder is not None and (folder / "logo.png").is_file():
        with Image.open(folder / "logo.png") as im:
            return np.asarray(im.convert("RGBA"))
    disc = np.zeros((200, 200, 4), np.uint8)
    cv2.circle(disc, (100, 100), 90, (220, 40, 40, 255), -1)
    cv2.putText(disc, "TV", (45, 130), cv2.FONT_HERSHEY_DUPLEX, 3, (255, 255, 255, 255), 6)
    return disc


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def crop(rgb: np.ndarray, rng: np.random.Generator, area: tuple[float, float]) -> tuple[np.ndarray, str]:
    """A random crop keeping a fraction `area` of the pixels, aspect ratio changed by up to ±20 %."""
    h, w = rgb.shape[:2]
    a, r = rng.uniform(*area), float(np.exp(rng.uniform(-0.2, 0.2)))
    ch, cw = min(h, max(32, round(h * np.sqrt(a) * r))), min(w, max(32, round(w * np.sqrt(a) / r)))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return np.ascontiguousarray(rgb[y0:y0 + ch, x0:x0 + cw]), f"crop {ch * cw / (h * w):.0%}"


def rotate(rgb: np.ndarray, rng: np.random.Generator, angles: tuple[float, float],
           right_angle: float) -> tuple[np.ndarray, str]:
    """A quarter turn (probability `right_angle`) or a rotation by ±`angles` degrees on an enlarged
    black canvas (nothing cut off)."""
    if rng.random() < right_angle:
        turns = int(rng.integers(1, 4))
        return np.ascontiguousarray(np.rot90(rgb, turns)), f"rotate {90 * turns}°"
    angle = float(rng.uniform(*angles) * rng.choice([-1, 1]))
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(round(h * sin + w * cos)), int(round(h * cos + w * sin))
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    out = cv2.warpAffine(rgb, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return out, f"rotate {angle:+.0f}°"


def scale(rgb: np.ndarray, rng: np.random.Generator, factors: tuple[float, float]) -> tuple[np.ndarray, str]:
    f = rng.uniform(*factors)
    h, w = rgb.shape[:2]
    size = (max(48, round(w * f)), max(48, round(h * f)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), f"scale ×{f:.2f}"


def overlay(rgb: np.ndarray, rng: np.random.Generator, lines: tuple[int, int], logo_p: float,
            banner_p: float = 0.0) -> tuple[np.ndarray, str]:
    """Caption text (white, black outline, `lines` lines at random heights), with probability `logo_p`
    a semi-transparent logo in a corner and with `banner_p` a dark news banner (12–20 % of the height)
    at the bottom; the description gives the share of pixels changed."""
    out = rgb.copy()
    h, w = out.shape[:2]
    what = []
    if rng.random() < banner_p:
        bh = round(h * rng.uniform(0.12, 0.2))
        out[h - bh:] = (0.25 * out[h - bh:] + 0.75 * np.array([20, 20, 90])).astype(np.uint8)
        cv2.putText(out, str(rng.choice(WORDS)), (bh // 4, h - bh // 3), cv2.FONT_HERSHEY_DUPLEX, bh / 45,
                    (255, 255, 255), max(1, bh // 20), cv2.LINE_AA)
        what.append("banner")
    n = int(rng.integers(lines[0], lines[1] + 1))
    for _ in range(n):
        text = str(rng.choice(WORDS))
        font_scale = w / 400 * rng.uniform(0.9, 1.8)
        thick = max(1, round(2 * font_scale))
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, font_scale, thick)
        x = int(rng.integers(0, max(1, w - tw)))
        y = int(rng.integers(th + 2, max(th + 3, h - 4)))
        cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_DUPLEX, font_scale, (0, 0, 0), thick + 3, cv2.LINE_AA)
        cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_DUPLEX, font_scale, (255, 255, 255), thick, cv2.LINE_AA)
    what.append(f"{n} caption{'s' if n != 1 else ''}")
    if rng.random() < logo_p:
        side = max(16, round(min(h, w) * rng.uniform(0.2, 0.35)))
        mark = cv2.resize(logo(), (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
        alpha = mark[..., 3:] / 255.0 * rng.uniform(0.6, 1.0)
        y0 = 0 if rng.random() < 0.5 else h - side
        x0 = 0 if rng.random() < 0.5 else w - side
        region = out[y0:y0 + side, x0:x0 + side].astype(np.float32)
        out[y0:y0 + side, x0:x0 + side] = np.clip(alpha * mark[..., :3] + (1 - alpha) * region, 0, 255).astype(np.uint8)
        what.append("logo")
    changed = float(np.any(out != rgb, axis=2).mean())
    return out, f"overlay {' + '.join(what)} ({changed:.0%} of pixels)"


def colour(rgb: np.ndarray, rng: np.random.Generator, strong: bool) -> tuple[np.ndarray, str]:
    """One (mild) or two (strong) of: hue shift, saturation, contrast/brightness, gamma, greyscale,
    per-channel tint."""
    ops = rng.choice(["hue", "saturation", "contrast", "gamma", "grey", "tint"], size=2 if strong else 1, replace=False)
    out = rgb
    done = []
    for op in ops:
        if op == "hue":
            shift = int(rng.integers(15, 75) if strong else rng.integers(4, 12))
            hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
            hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + shift) % 180).astype(np.uint8)
            out, text = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), f"hue +{2 * shift}°"
        elif op == "saturation":
            f = (rng.uniform(0.0, 0.4) if rng.random() < 0.5 else rng.uniform(1.6, 2.2)) if strong \
                else rng.uniform(0.7, 1.3)
            hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV).astype(np.float32)
            hsv[..., 1] = np.clip(hsv[..., 1] * f, 0, 255)
            out, text = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB), f"saturation ×{f:.2f}"
        elif op == "contrast":
            a = rng.uniform(0.55, 1.6) if strong else rng.uniform(0.8, 1.2)
            b = rng.uniform(-40, 40) if strong else rng.uniform(-15, 15)
            out, text = np.clip(out.astype(np.float32) * a + b, 0, 255).astype(np.uint8), f"contrast ×{a:.2f} {b:+.0f}"
        elif op == "gamma":
            g = float(np.exp(rng.uniform(-0.7, 0.7) if strong else rng.uniform(-0.25, 0.25)))
            lut = np.clip(255.0 * (np.arange(256) / 255.0) ** g, 0, 255).astype(np.uint8)
            out, text = lut[out], f"gamma {g:.2f}"
        elif op == "grey":
            grey = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
            out, text = np.dstack([grey] * 3), "greyscale"
        else:
            gains = rng.uniform(0.65, 1.35, 3) if strong else rng.uniform(0.9, 1.1, 3)
            out = np.clip(out.astype(np.float32) * gains, 0, 255).astype(np.uint8)
            text = "tint ×" + "/".join(f"{g:.2f}" for g in gains)
        done.append(text)
    return np.ascontiguousarray(out), "colour " + ", ".join(done)


def splice(rgb: np.ndarray, rng: np.random.Generator, host_photo: Path) -> tuple[np.ndarray, str]:
    """A crop of `rgb` (25–50 % of it) pasted over 30–50 % of a view of another photo."""
    part, _ = crop(rgb, rng, (0.25, 0.5))
    host = random_view(original(host_photo), rng, (384, LONG_SIDE)).copy()
    hh, hw = host.shape[:2]
    f = np.sqrt(rng.uniform(0.3, 0.5) * hh * hw / (part.shape[0] * part.shape[1]))
    f = min(f, hh / part.shape[0], hw / part.shape[1])
    ph, pw = max(16, int(part.shape[0] * f)), max(16, int(part.shape[1] * f))
    part = cv2.resize(part, (pw, ph), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    y0, x0 = int(rng.integers(0, hh - ph + 1)), int(rng.integers(0, hw - pw + 1))
    host[y0:y0 + ph, x0:x0 + pw] = part
    return host, f"splice into {host_photo.stem} ({ph * pw / (hh * hw):.0%} of the image)"


@dataclass
class Transformed:
    rgb: np.ndarray
    text: str
    quality: int
    """JPEG quality of the final save."""
    host: str = ""
    """Scene of the photo a splice was pasted into."""


def transform(family: str, rgb: np.ndarray, rng: np.random.Generator, mild: bool,
              hosts: Sequence[Path]) -> Transformed:
    """One draw of a transformation family (`mild`: the settings of the database positives)."""
    host = ""
    quality = int(rng.integers(80, 96) if mild else rng.integers(75, 96))
    if family == "crop":
        out, text = crop(rgb, rng, (0.6, 0.9) if mild else (0.25, 0.6))
    elif family == "rotate":
        out, text = rotate(rgb, rng, (3, 12) if mild else (10, 45), 0.0 if mild else 0.3)
    elif family == "scale":
        out, text = scale(rgb, rng, (0.5, 0.8) if mild else (0.25, 0.5))
    elif family == "jpeg":
        first = int(rng.integers(60, 90))
        out = jpeg_roundtrip(rgb, first)
        quality = int(rng.integers(45, 70) if mild else rng.integers(12, 35))
        text = f"JPEG q{first} then q{quality}"
    elif family == "overlay":
        out, text = overlay(rgb, rng, (1, 1) if mild else (1, 3), 0.0 if mild else 0.8, 0.0 if mild else 0.5)
    elif family == "colour":
        out, text = colour(rgb, rng, strong=not mild)
    elif family == "flip":
        out, text = np.ascontiguousarray(rgb[:, ::-1]), "mirrored"
    elif family == "splice":
        photo = hosts[int(rng.integers(len(hosts)))]
        out, text, host = *splice(rgb, rng, photo), scene_of(photo)
    elif family == "combo":
        steps = []
        out, t = crop(rgb, rng, (0.4, 0.8))
        steps.append(t)
        out, t = scale(out, rng, (0.5, 0.9))
        steps.append(t)
        out, t = colour(out, rng, strong=False)
        steps.append(t)
        out, t = overlay(out, rng, (1, 2), 0.5)
        steps.append(t)
        quality = int(rng.integers(35, 70))
        text = " + ".join(steps) + f" + JPEG q{quality}"
    else:
        raise ValueError(f"unknown transformation {family!r}")
    return Transformed(np.ascontiguousarray(out), text, quality, host)


# -- the image set --------------------------------------------------------------------------------


def set_header(seed: int, distractors: int, positives: int) -> dict[str, Any]:
    """Everything that decides the database images (the queries add `per_family`)."""
    queries, others = photo_split()
    return {"generator": GENERATOR_VERSION, "seed": seed, "distractors": distractors, "positives": positives,
            "query_photos": [p.name for p in queries], "distractor_photos": [p.name for p in others]}


def save(path: Path, rgb: np.ndarray, quality: int | None) -> None:
    """PNG when `quality` is None, else JPEG at that quality."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if quality is None:
        Image.fromarray(rgb).save(path, "PNG")
    else:
        Image.fromarray(rgb).save(path, "JPEG", quality=quality)


def generate_db(folder: Path, head: dict[str, Any]) -> dict[str, Any]:
    """Write the database images and their manifest (last, so a half-written set is regenerated).
    Every image has its own random generator (seed, role, numbers)."""
    query_photos, distractor_photos = photo_split()
    seed = head["seed"]
    db: list[dict[str, Any]] = []
    for p, photo in enumerate(query_photos):
        base = original(photo)
        name = f"db/q{p:02d}-{photo.stem}-original.png"
        save(folder / name, base, None)
        db.append({"file": name, "role": "original", "scene": scene_of(photo), "recipe": "original (PNG)"})
        rng = np.random.default_rng([seed, 1, p])
        for j, family in enumerate(rng.choice(MILD, size=head["positives"], replace=False)):
            t = transform(str(family), base, rng, True, distractor_photos)
            name = f"db/q{p:02d}-{photo.stem}-positive{j}.jpg"
            save(folder / name, t.rgb, t.quality)
            db.append({"file": name, "role": "positive", "scene": scene_of(photo), "family": str(family),
                       "recipe": f"{t.text}, JPEG q{t.quality}"})
    for i in range(head["distractors"]):
        photo = distractor_photos[i % len(distractor_photos)]
        rng = np.random.default_rng([seed, 3, i])
        view = random_view(original(photo), rng, (256, LONG_SIDE))
        text = f"view {view.shape[1]}×{view.shape[0]}"
        if rng.random() < 0.5:
            family = str(rng.choice(["colour", "jpeg", "rotate", "overlay", "scale"]))
            t = transform(family, view, rng, True, distractor_photos)
            view, quality, text = t.rgb, t.quality, f"{text} + {t.text}"
        else:
            quality = int(rng.integers(70, 96))
        name = f"db/d{i:05d}-{photo.stem}.jpg"
        save(folder / name, view, quality)
        db.append({"file": name, "role": "distractor", "scene": scene_of(photo), "recipe": f"{text}, JPEG q{quality}"})
        if (i + 1) % 250 == 0:
            print(f"  generated {i + 1}/{head['distractors']} distractors", flush=True)
    manifest = {**head, "db": db}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def generate_queries(folder: Path, head: dict[str, Any], per_family: int) -> list[dict[str, Any]]:
    """Write `per_family` queries of each transformation per query photo (query r of a family is the
    same image whatever `per_family`) and their list."""
    query_photos, distractor_photos = photo_split()
    queries = []
    for p, photo in enumerate(query_photos):
        for f, family in enumerate(FAMILIES):
            for r in range(per_family):
                rng = np.random.default_rng([head["seed"], 2, p, f, r])
                t = transform(family, original(photo), rng, False, distractor_photos)
                name = f"queries-p{per_family}/{photo.stem}-{family}{r}.jpg"
                save(folder / name, t.rgb, t.quality)
                queries.append({"file": name, "scene": scene_of(photo), "family": family,
                                "recipe": f"{t.text}, JPEG q{t.quality}", "junk_scenes": [t.host] if t.host else []})
    (folder / f"queries-p{per_family}.json").write_text(json.dumps(queries, indent=1), encoding="utf-8")
    return queries


def default_set(seed: int) -> tuple[Path, dict[str, Any]]:
    """The bench's default image set (1000 distractors, 5 positives, 2 queries per family), cached."""
    return image_set(None, set_header(seed, 1000, 5), 2)


def image_set(data: Path | None, head: dict[str, Any], per_family: int) -> tuple[Path, dict[str, Any]]:
    """The cached set for this header (database and queries), generated when missing or different."""
    if data is None:
        digest = hashlib.sha256(json.dumps(head, sort_keys=True).encode()).hexdigest()[:10]
        data = (Path(platformdirs.user_cache_dir("forensic-workbench")) / "bench"
                / f"sim-s{head['seed']}-d{head['distractors']}-{digest}")
    path = data / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if {k: manifest.get(k) for k in head} == head:
        print(f"image set: reusing {data}", flush=True)
    else:
        print(f"image set: generating in {data}", flush=True)
        for old in (data / "db", data / "collection", data / "collection-whitened", *data.glob("queries-p*")):
            if old.is_dir():
                shutil.rmtree(old)
            elif old.exists():
                old.unlink()
        (data / "collection-build.json").unlink(missing_ok=True)
        manifest = generate_db(data, head)
    queries_path = data / f"queries-p{per_family}.json"
    if queries_path.is_file():
        queries = json.loads(queries_path.read_text(encoding="utf-8"))
    else:
        queries = generate_queries(data, head, per_family)
    return data, {**manifest, "per_family": per_family, "queries": queries}


# -- the collection -------------------------------------------------------------------------------


def collection_of(data: Path, manifest: dict[str, Any], rebuild: bool) -> tuple[Collection, dict[str, Any]]:
    """The collection of the database images (built and timed when missing, incomplete or `rebuild`),
    and the figures of the build that made it."""
    folder, stats_path = data / "collection", data / "collection-build.json"
    n = len(manifest["db"])
    if not rebuild and stats_path.is_file() and (folder / "collection.sqlite").is_file():
        coll = Collection(folder)
        if coll.count() == n:
            print(f"collection: reusing {folder} ({n} images)", flush=True)
            return coll, {**json.loads(stats_path.read_text(encoding="utf-8")), "cached": True}
        coll.close()
    shutil.rmtree(folder, ignore_errors=True)
    stats_path.unlink(missing_ok=True)
    coll = Collection(folder)
    coll.descriptor.describe(original(photo_split()[0][0]))  # load the network outside the timing
    step = max(1, n // 10)

    def progress(fraction: float, message: str) -> None:
        done = round(fraction * n)
        if done % step == 0 and "/" in message.split(" ")[0]:
            print(f"  indexing {message.split(' ')[0]}, {time.perf_counter() - t0:.0f} s", flush=True)

    print(f"collection: indexing {n} images in {folder}", flush=True)
    c0, t0 = time.process_time(), time.perf_counter()
    report = coll.add([data / "db"], RunContext(progress))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if report.failed:
        print(f"  {len(report.failed)} failed: {next(iter(report.failed.items()))}", file=sys.stderr)
    stats = {"images": report.added, "failed": len(report.failed or {}), "seconds": seconds, "cpu_seconds": cpu,
             "date": time.strftime("%Y-%m-%d %H:%M"), "torch_threads": _torch_threads()}
    stats_path.write_text(json.dumps(stats, indent=1), encoding="utf-8")
    return coll, {**stats, "cached": False}


def whitened_copy(data: Path, coll: Collection) -> Collection:
    """A second collection on the same stored descriptors (features hard-linked, table copied) with
    PCA-whitening learned on it; the first one is left untouched."""
    folder = data / "collection-whitened"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "features").mkdir(parents=True)
    shutil.copy2(coll.folder / "collection.sqlite", folder / "collection.sqlite")  # committed after every item
    for src in (coll.folder / "features").iterdir():
        try:
            os.link(src, folder / "features" / src.name)
        except OSError:
            shutil.copy2(src, folder / "features" / src.name)
    shutil.copy2(coll.folder / "global.faiss", folder / "global.faiss")
    white = Collection(folder)
    white.learn_whitening()
    return white


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


# -- running the queries --------------------------------------------------------------------------


@dataclass
class QueryRun:
    """One query through `search`: database indices best first, their global similarity, inliers and
    distinct candidate points among the inliers, the wall and process CPU time."""

    ranks: list[int]
    global_sims: list[float]
    inliers: list[int]
    distinct: list[int]
    seconds: float
    cpu_seconds: float


@dataclass
class Truth:
    ok: list[list[int]]
    junk: list[list[int]]
    families: list[str]
    names: list[str]
    db_names: list[str]


def truth_of(manifest: dict[str, Any]) -> Truth:
    """Positives of each query: the original and the transformed copies of its photo; junk: the
    distractors made from the host photo of a spliced query (they share content with it)."""
    by_scene: dict[str, list[int]] = {}
    distractors_of: dict[str, list[int]] = {}
    for i, entry in enumerate(manifest["db"]):
        target = distractors_of if entry["role"] == "distractor" else by_scene
        target.setdefault(entry["scene"], []).append(i)
    ok = [by_scene[q["scene"]] for q in manifest["queries"]]
    junk = [sorted(i for s in q["junk_scenes"] for i in distractors_of.get(s, [])) for q in manifest["queries"]]
    return Truth(ok, junk, [q["family"] for q in manifest["queries"]], [q["file"] for q in manifest["queries"]],
                 [e["file"] for e in manifest["db"]])


def run_queries(modes: dict[str, tuple[Collection, Rerank]], data: Path, manifest: dict[str, Any],
                shortlist: int) -> dict[str, list[QueryRun]]:
    """Every query through `search` in every mode (collection, re-ranking), the modes interleaved per
    query so that they share the machine's load alike; decoding not timed, hits mapped to database
    indices."""
    index_of = {str((data / e["file"]).resolve()): i for i, e in enumerate(manifest["db"])}
    paths = {name: {item.id: item.path for item in coll.items()} for name, (coll, _) in modes.items()}
    runs: dict[str, list[QueryRun]] = {name: [] for name in modes}
    first = query_from_media(open_media(data / manifest["queries"][0]["file"]))
    for coll, rerank in modes.values():
        search(coll, first, 1, 1, rerank)  # warm-up
    t_all, n = time.perf_counter(), len(manifest["queries"])
    for q, entry in enumerate(manifest["queries"]):
        query = query_from_media(open_media(data / entry["file"]))
        for name, (coll, rerank) in modes.items():
            c0, t0 = time.process_time(), time.perf_counter()
            hits = search(coll, query, k=shortlist, shortlist=shortlist, rerank=rerank)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            runs[name].append(QueryRun(
                [index_of[paths[name][h.item.id]] for h in hits], [h.global_sim for h in hits],
                [h.inliers for h in hits], [distinct_points(h.matches) for h in hits], seconds, cpu))
        if (q + 1) % max(1, n // 10) == 0:
            print(f"  queries: {q + 1}/{n}, {time.perf_counter() - t_all:.0f} s", flush=True)
    return runs


def distinct_points(matches: np.ndarray) -> int:
    """Distinct candidate positions (to the pixel) among inlier correspondences (K×4: query x, y,
    candidate x, y): a degenerate fit maps many query points onto a few candidate points."""
    return len(np.unique(np.round(matches[:, 2:4]), axis=0)) if len(matches) else 0


@dataclass
class Scores:
    """Per-query metrics (NaN-free: every query has positives)."""

    ap: list[float] = field(default_factory=list)
    recall: dict[int, list[float]] = field(default_factory=lambda: {k: [] for k in KS})
    rr: list[float] = field(default_factory=list)
    in_shortlist: list[float] = field(default_factory=list)


def score(runs: list[QueryRun], truth: Truth, n_db: int) -> Scores:
    """Revisited-Oxford AP (junk ignored) on each ranking, recall@k (hit rate) and reciprocal rank on
    the ranking without its junk, and the share of the positives inside the shortlist."""
    out = Scores()
    for run, ok, junk in zip(runs, truth.ok, truth.junk, strict=True):
        ranks = run.ranks
        out.ap.append(compute_map(np.array([ranks]), [{"ok": ok, "junk": junk}], n_db=n_db).mean_ap)
        junk_set = set(junk)
        clean = [i for i in ranks if i not in junk_set]
        if clean:
            rec = recall_at_k(np.array([clean]), [ok], KS, n_db=n_db)
            rr = mean_reciprocal_rank(np.array([clean]), [ok], n_db=n_db)
        else:
            rec, rr = dict.fromkeys(KS, 0.0), 0.0
        for k in KS:
            out.recall[k].append(rec[k])
        out.rr.append(rr)
        out.in_shortlist.append(len(set(ranks) & set(ok)) / len(ok))
    return out


def _mean(values: Iterable[float], keep: Sequence[bool] | None = None) -> float:
    vals = [v for i, v in enumerate(values) if keep is None or keep[i]]
    return float(np.mean(vals)) if vals else float("nan")


# -- index latency at scale -----------------------------------------------------------------------


class ScaledCollection:
    """The real collection with its vector index swapped for `index` (random unit vectors), so that
    `search` runs unchanged at any size: the table lookup of the shortlist maps the synthetic ids
    onto the real rows (same SQL query, same number of ids)."""

    def __init__(self, real: Collection, index: VectorBackend) -> None:
        self.descriptor, self.index, self._real = real.descriptor, index, real
        self._ids = [item.id for item in real.items()]

    def query_vector(self, vector: np.ndarray) -> np.ndarray:
        return self._real.query_vector(vector)

    def items(self, ids: Iterable[int]) -> list[Item]:
        wanted = [int(i) for i in ids]
        real = {item.id: item for item in self._real.items({self._ids[i % len(self._ids)] for i in wanted})}
        return [dataclasses.replace(real[self._ids[i % len(self._ids)]], id=i) for i in wanted]


def median_ms(fns: Sequence[Callable[[], Any]], repeat: int) -> list[float]:
    """Median milliseconds of each function, called in turn `repeat` times after a warm-up."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, out in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return [1000 * statistics.median(t) for t in times]


@dataclass
class ScaleRow:
    size: int
    faiss_ms: float
    numpy_ms: float
    end_to_end_ms: float
    same_top: bool
    compressed: bool


def index_latency(coll: Collection, queries: list[Query], sizes: Sequence[int], shortlist: int, repeat: int,
                  seed: int) -> list[ScaleRow]:
    """Index search (two query vectors, as `search` sends: as is and mirrored; shortlist + 1 results)
    in FAISS and NumPy brute force over `size` random unit vectors, and `search` end to end (global
    only) on the real collection with that index."""
    rng = np.random.default_rng([seed, 4])
    dim = coll.index.dim
    probe = np.stack([coll.query_vector(coll.descriptor.describe(queries[0].rgb)),
                      coll.query_vector(coll.descriptor.describe(np.ascontiguousarray(queries[0].rgb[:, ::-1])))])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            vectors = l2_normalize(rng.standard_normal((size, dim), dtype=np.float32))
            ids = np.arange(size, dtype=np.int64)
            fast, slow = FaissBackend(Path(tmp) / "bench.faiss", dim), NumpyBackend(dim)
            fast.add(ids, vectors)
            slow.add(ids, vectors)
            del vectors
            faiss_ms, numpy_ms = median_ms(
                [lambda b=fast: b.search(probe, shortlist + 1), lambda b=slow: b.search(probe, shortlist + 1)], repeat)
            same = bool(np.array_equal(fast.search(probe, 10)[1], slow.search(probe, 10)[1]))
            del slow
            scaled = ScaledCollection(coll, fast)
            e2e = []
            for query in queries:
                t0 = time.perf_counter()
                search(scaled, query, k=shortlist, shortlist=shortlist, rerank=Rerank.NONE)  # type: ignore[arg-type]
                e2e.append(time.perf_counter() - t0)
            rows.append(ScaleRow(size, faiss_ms, numpy_ms, 1000 * statistics.median(e2e), same,
                                 fast.compressed is not None))
            print(f"  {size:>7} vectors: FAISS {faiss_ms:.2f} ms, NumPy {numpy_ms:.2f} ms, "
                  f"end to end {rows[-1].end_to_end_ms:.0f} ms", flush=True)
            del fast, scaled
    return rows


def set_threads(n: int) -> None:
    """Intra-op threads of torch and FAISS (both OpenMP)."""
    import faiss
    import torch

    torch.set_num_threads(n)
    faiss.omp_set_num_threads(n)


def thread_rows(coll: Collection, rgb: np.ndarray, run_threads: int, repeat: int, seed: int) -> list[str]:
    """One CNN pass and one FAISS search over 10k vectors with 1 thread and with all cores, interleaved so
    both see the same load; the run's setting is restored afterwards."""
    cores = usable_cores()
    settings = sorted({1, cores})
    vectors = l2_normalize(np.random.default_rng([seed, 5]).standard_normal((10_000, coll.index.dim), np.float32))
    with tempfile.TemporaryDirectory() as tmp:
        index = FaissBackend(Path(tmp) / "threads.faiss", coll.index.dim)
        index.add(np.arange(len(vectors)), vectors)
        probe = np.stack([coll.query_vector(coll.descriptor.describe(rgb))] * 2)
        times: dict[tuple[str, int], list[float]] = {}
        for _ in range(repeat + 1):  # the first round warms up
            for n in settings:
                set_threads(n)
                for step, fn in (("CNN descriptor, one pass", lambda: coll.descriptor.describe(rgb)),
                                 ("FAISS search, 10k vectors", lambda: index.search(probe, 101))):
                    t0 = time.perf_counter()
                    fn()
                    times.setdefault((step, n), []).append(time.perf_counter() - t0)
    set_threads(run_threads)
    lines = ["| step | " + " | ".join(f"{n} thread{'s' if n > 1 else ''} ms" for n in settings) + " |",
             "|---|" + "---:|" * len(settings)]
    for step in ("CNN descriptor, one pass", "FAISS search, 10k vectors"):
        lines.append(f"| {step} | " + " | ".join(f"{1000 * statistics.median(times[step, n][1:]):.1f}"
                                                 for n in settings) + " |")
    return lines


# -- report ---------------------------------------------------------------------------------------


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def _f(value: float, digits: int = 3) -> str:
    return "–" if value is None or np.isnan(value) else f"{value:.{digits}f}"


def _ms(seconds: Sequence[float]) -> tuple[float, float]:
    """Median and 90th percentile in milliseconds."""
    return 1000 * statistics.median(seconds), 1000 * float(np.percentile(seconds, 90))


def header_lines(data: Path, manifest: dict[str, Any], args: argparse.Namespace,
                 load_start: tuple[float, float, float]) -> list[str]:
    import faiss
    import torch

    roles = Counter(e["role"] for e in manifest["db"])
    dscenes = Counter(e["scene"] for e in manifest["db"] if e["role"] == "distractor")
    load_avg = os.getloadavg()
    cores = usable_cores()
    return [
        "# Similar-image search bench",
        "",
        f"- Image set (`bench/similarity.py`, seed {manifest['seed']}, generator {manifest['generator']}), cached in "
        f"`{data}`: {len(manifest['db'])} database images = {roles['original']} originals + {roles['positive']} "
        f"transformed copies (the positives) + {roles['distractor']} distractors; {len(manifest['queries'])} "
        f"queries ({manifest['per_family']} per transformation per query photo). Originals: the photo with its long "
        f"side shrunk to ≤ {LONG_SIDE} px, stored as PNG; everything else JPEG.",
        f"- Query photos ({len(manifest['query_photos'])}, each with its original and {manifest['positives']} "
        f"copies in the database): {', '.join(manifest['query_photos'])}.",
        f"- Distractor photos ({len(manifest['distractor_photos'])}; distractors per photo: "
        f"{', '.join(f'{s} {c}' for s, c in dscenes.items())}): {', '.join(manifest['distractor_photos'])}. "
        "No distractor photo shows a query photo's scene (a stereo pair or a calibration series is one scene); a "
        "distractor is a random view (crop of 256–512 px long side at a random scale, mirrored half of the "
        "time; `workbench.synthetic.photos.random_view`), half of them also given one mild transformation "
        "(colour, JPEG, rotation, caption, scale). Views of one photo are each other's near copies: the "
        "distractors hold only as many different scenes as there are distractor photos, an easier set than "
        "real collections.",
        f"- Photos found on this machine: {photo_sources()} (`workbench.synthetic.photos.source_photos`: "
        "scikit-image's, then scikit-learn's and Debian opencv-doc's when installed); one photo per scene.",
        f"- Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, {cores} usable; torch "
        f"{torch.__version__} ({_n(torch.get_num_threads(), 'thread')}), FAISS {faiss.__version__} "
        f"({_n(faiss.omp_get_max_threads(), 'OpenMP thread')}), OpenCV {cv2.__version__}, numpy {np.__version__}, "
        f"Python {platform.python_version()}; load average (1 / 5 / 15 min) {load_start[0]:.1f} / "
        f"{load_start[1]:.1f} / {load_start[2]:.1f} at the start, {load_avg[0]:.1f} / {load_avg[1]:.1f} / "
        f"{load_avg[2]:.1f} at the end (the machine is shared: above {cores} the bench competed for the cores, "
        "and wall times grow; process CPU time is given beside them).",
        f"- Search: `plugins.similarity.search.search`, default descriptor (MobileNetV2 GeM, 1280-d), shortlist "
        f"{args.shortlist} from the global index, `k` = shortlist (the whole shortlist is ranked); re-ranking = "
        "RootSIFT ratio-test matches verified by a RANSAC affine fit, query also mirrored.",
    ]


def transform_lines() -> list[str]:
    return [
        "Query transformations (each query is a new random draw; the database positives are milder draws of "
        "the first seven, each photo with a different subset):",
        "",
        "| family | query | positive in the database |",
        "|---|---|---|",
        "| crop | keep 25–60 % of the pixels, aspect ±20 % | 60–90 % |",
        "| rotate | ±10–45° on an enlarged black canvas, or a quarter turn (30 %) | ±3–12° |",
        "| scale | ×0.25–0.5 | ×0.5–0.8 |",
        "| jpeg | JPEG q60–89, then q12–34 | q60–89, then q45–69 |",
        "| overlay | 1–3 captions, logo in a corner (80 %), news banner over the bottom 12–20 % (50 %) | one caption |",
        "| colour | two of hue shift, saturation, contrast, gamma, greyscale, tint (strong) | one, mild |",
        "| flip | horizontal mirror | same |",
        "| splice | 25–50 % of the photo pasted over 30–50 % of a distractor photo's view (that photo's "
        "distractors are junk: ignored by the metrics) | – |",
        "| combo | crop 40–80 % + scale ×0.5–0.9 + mild colour + 1–2 captions (logo 50 %) + JPEG q35–69 | – |",
        "",
        "All queries and positives are saved as JPEG (q75–95 unless the family sets it).",
    ]


def metrics_table(rows: list[tuple[str, Scores, list[QueryRun] | None]]) -> list[str]:
    lines = ["| ranking | mAP | R@1 | R@5 | R@10 | MRR | positives in shortlist | query median ms (p90) | "
             "median CPU ms |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, sc, runs in rows:
        med, p90 = _ms([r.seconds for r in runs]) if runs else (float("nan"), float("nan"))
        cpu = _ms([r.cpu_seconds for r in runs])[0] if runs else float("nan")
        lines.append(f"| {name} | {_f(_mean(sc.ap))} | " + " | ".join(_f(_mean(sc.recall[k])) for k in KS)
                     + f" | {_f(_mean(sc.rr))} | {_f(_mean(sc.in_shortlist))} | {_f(med, 0)} ({_f(p90, 0)}) | "
                     f"{_f(cpu, 0)} |")
    return lines


def family_table(truth: Truth, glob: Scores, white: Scores | None, rer: Scores, small: Scores) -> list[str]:
    head = "| query transform | n | mAP global |" + (" mAP whitened |" if white else "") + \
        " mAP re-ranked | mAP compact | R@1 global | R@1 re-ranked | R@10 global | R@10 re-ranked | " \
        "positives in shortlist |"
    lines = [head, "|---|" + "---:|" * (head.count("|") - 2)]
    for family in (*FAMILIES, None):
        keep = [f == family or family is None for f in truth.families]
        cells = [_f(_mean(glob.ap, keep))] + ([_f(_mean(white.ap, keep))] if white else []) + [
            _f(_mean(rer.ap, keep)), _f(_mean(small.ap, keep)), _f(_mean(glob.recall[1], keep)),
            _f(_mean(rer.recall[1], keep)),
            _f(_mean(glob.recall[10], keep)), _f(_mean(rer.recall[10], keep)), _f(_mean(glob.in_shortlist, keep))]
        name = family or "**all**"
        lines.append(f"| {name} | {sum(keep)} | " + " | ".join(cells) + " |")
    return lines


def inlier_lines(runs: list[QueryRun], truth: Truth) -> list[str]:
    """Inliers and global similarity of positives against those of unrelated shortlisted images: does
    MIN_INLIERS separate them? Inliers also counted once per distinct candidate point (degenerate fits)."""
    groups: dict[str, dict[str, list[float]]] = {g: {"n": [], "d": [], "sim": []} for g in ("positives", "unrelated")}
    degenerate = []
    worst = (0, 0, "", "")
    for q, run in enumerate(runs):
        ok, junk = set(truth.ok[q]), set(truth.junk[q])
        for i, n, d, sim in zip(run.ranks, run.inliers, run.distinct, run.global_sims, strict=True):
            if i not in ok and i in junk:
                continue
            group = groups["positives" if i in ok else "unrelated"]
            group["n"].append(n)
            group["d"].append(d)
            group["sim"].append(sim)
            if i not in ok:
                if n >= MIN_INLIERS:
                    degenerate.append(d < MIN_INLIERS)
                if n > worst[0]:
                    worst = (n, d, truth.names[q], truth.db_names[i])
    lines = [
        f"Over the re-ranked shortlists (`MIN_INLIERS` = {MIN_INLIERS}; an unrelated image is one neither "
        "positive nor junk; distinct: inliers counted once per candidate point, to the pixel):",
        "",
        "| shortlisted images | n | median inliers | 99th percentile | max | share ≥ MIN_INLIERS | same, distinct "
        "points | global similarity: median (5th–95th percentile) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, g in groups.items():
        n, d, sim = (np.array(g[k]) for k in ("n", "d", "sim"))
        lines.append(f"| {name} | {len(n)} | {np.median(n):.0f} | {np.percentile(n, 99):.0f} | {n.max()} | "
                     f"{(n >= MIN_INLIERS).mean():.2%} | {(d >= MIN_INLIERS).mean():.2%} | {np.median(sim):.3f} "
                     f"({np.percentile(sim, 5):.3f}–{np.percentile(sim, 95):.3f}) |")
    top = [bool(r.ranks) and r.ranks[0] in set(truth.ok[q]) and r.inliers[0] >= MIN_INLIERS for q, r in enumerate(runs)]
    return [
        *lines,
        "",
        f"Most inliers on an unrelated image: {worst[0]} (on {worst[1]} distinct candidate points), query "
        f"`{worst[2]}` against `{worst[3]}`. Of the unrelated images verified (≥ {MIN_INLIERS} inliers), "
        f"{np.mean(degenerate) if degenerate else 0:.0%} are degenerate fits: many query points mapped onto "
        f"fewer than {MIN_INLIERS} distinct candidate points (a collapsed affine). Queries whose first hit is a "
        f"verified positive: {np.mean(top):.1%}.",
    ]


def stored_bytes(coll: Collection) -> tuple[float, float, int]:
    """Median bytes per image of the full RootSIFT arrays and of the compact record, and the largest
    compact record (array payloads, as an .npz holds them uncompressed)."""
    full, small = [], []
    for item in coll.items():
        with np.load(coll.folder / "features" / f"{item.id}.npz") as data:
            full.append(sum(data[k].nbytes for k in data.files if k.startswith(f"{SIFT_KIND}.")))
            small.append(data[COMPACT_KIND].nbytes if COMPACT_KIND in data.files else 0)
    return float(np.median(full)), float(np.median(small)), max(small)


def compact_lines(coll: Collection, glob: list[QueryRun], rer: list[QueryRun], small: list[QueryRun],
                  scores: dict[str, Scores], truth: Truth) -> list[str]:
    """What the compact records cost against full features: stored bytes, mAP, re-ranking time, and
    how often positives and unrelated images verify."""
    full_b, small_b, small_max = stored_bytes(coll)
    g, r, c = (statistics.median(x.seconds for x in runs) for runs in (glob, rer, small))
    g_cpu, r_cpu, c_cpu = (statistics.median(x.cpu_seconds for x in runs) for runs in (glob, rer, small))

    def verified(runs: list[QueryRun], positives: bool) -> float:
        flags = [n >= MIN_INLIERS for q, run in enumerate(runs) for i, n in zip(run.ranks, run.inliers, strict=True)
                 if (i in set(truth.ok[q])) == positives and i not in set(truth.junk[q])]
        return float(np.mean(flags))

    m_full, m_small, m_glob = (_mean(scores[k].ap) for k in ("re-ranked", "compact", "global"))
    return [
        f"Each image also stores a compact record (`plugins/similarity/compact.py`): its {COMPACT_KEYPOINTS} largest "
        "RootSIFT keypoints, position to 1/4096 of each side and descriptor as 32 sign-random-projection bits, "
        "7 bytes each, plus a 9-byte header. The query keeps all its keypoints; matches are Hamming nearest "
        "neighbours with the ratio test, verified by the same RANSAC as full features.",
        "",
        "| re-ranking data | stored per image (median) | mAP | mAP loss vs full | re-ranking per query, median ms "
        "(CPU) | positives verified | unrelated verified |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| full RootSIFT (up to 1,000 keypoints, float16; 600 matched) | {full_b / 1024:.0f} KB | {m_full:.3f} | – | "
        f"{1000 * (r - g):.0f} ({1000 * (r_cpu - g_cpu):.0f}) | {verified(rer, True):.1%} | "
        f"{verified(rer, False):.2%} |",
        f"| compact RootSIFT (≤ 1 KB/image) | {small_b:.0f} B (max {small_max}) | {m_small:.3f} | "
        f"{m_full - m_small:.3f} | {1000 * (c - g):.0f} ({1000 * (c_cpu - g_cpu):.0f}) | {verified(small, True):.1%} | "
        f"{verified(small, False):.2%} |",
        f"| none (global only) | – | {m_glob:.3f} | {m_full - m_glob:.3f} | – | – | – |",
        "",
        f"Re-ranking per query: the query's median time minus the global-only median (the query's own RootSIFT, "
        f"as is and mirrored, included). Verified: share of shortlisted images with ≥ {MIN_INLIERS} inliers.",
    ]


def orientation_misses(coll: Collection, data: Path, manifest: dict[str, Any], truth: Truth,
                       runs: list[QueryRun]) -> tuple[int, int, int]:
    """Positives left unverified (< MIN_INLIERS) in the re-ranked shortlists, checked again here with
    the query as is and mirrored: (shortlisted positives, unverified, verified in either orientation)."""
    ids = {item.path: item.id for item in coll.items()}
    shortlisted = unverified = recovered = 0
    for q, run in enumerate(runs):
        ok = set(truth.ok[q])
        missed = [i for i, n in zip(run.ranks, run.inliers, strict=True) if i in ok and n < MIN_INLIERS]
        shortlisted += sum(i in ok for i in run.ranks)
        if not missed:
            continue
        rgb = open_media(data / manifest["queries"][q]["file"]).pixels()
        plain = sift_features(rgb)
        variants = (plain, mirrored(plain, rgb))
        for i in missed:
            stored = coll.local_features(ids[str((data / manifest["db"][i]["file"]).resolve())], SIFT_KIND)
            unverified += 1
            if stored is not None and max(verify(v, stored).inliers for v in variants) >= MIN_INLIERS:
                recovered += 1
    return shortlisted, unverified, recovered


def latency_lines(glob: list[QueryRun], rer: list[QueryRun], describe_ms: float, rows: list[ScaleRow],
                  n_db: int, shortlist: int) -> list[str]:
    g_med, g_p90 = _ms([r.seconds for r in glob])
    r_med, r_p90 = _ms([r.seconds for r in rer])
    g_cpu, r_cpu = _ms([r.cpu_seconds for r in glob])[0], _ms([r.cpu_seconds for r in rer])[0]
    lines = [
        f"On the bench collection ({n_db} images), `search` per query (decoding excluded): global only "
        f"median {g_med:.0f} ms (p90 {g_p90:.0f}; CPU {g_cpu:.0f} ms), of which describing the query (two CNN "
        f"passes: as is and mirrored) {describe_ms:.0f} ms; re-ranking the top {shortlist} by spatial "
        f"verification median {r_med:.0f} ms (p90 {r_p90:.0f}, max {1000 * max(r.seconds for r in rer):.0f}; "
        f"CPU {r_cpu:.0f} ms) → re-ranked / global = **{r_med / g_med:.1f}×** wall, {r_cpu / g_cpu:.1f}× CPU.",
        "",
        f"Index at scale: random unit vectors of the descriptor's dimension, two query vectors (as `search` sends) "
        f"for the {shortlist + 1} nearest; median of repeated searches. End to end: `search` (global only, "
        "query description included) on the collection with that index, median over the probe queries. The "
        "FAISS index is the collection's own (`FaissBackend`): exact while small, IVF-PQ past "
        "`EXACT_MAX_VECTORS` (50,000) vectors, whose top 10 may differ from the exact brute force (its recall: "
        "docs/scale.md).",
        "",
        "| indexed images | FAISS index | FAISS ms | NumPy brute force ms | NumPy / FAISS | same top 10 | "
        "global query end to end ms | index < 50 ms |",
        "|---:|---|---:|---:|---:|---|---:|---|",
    ]
    for row in rows:
        kind = "IVF-PQ" if row.compressed else "exact (flat IP)"
        lines.append(f"| {row.size:,} | {kind} | {row.faiss_ms:.2f} | {row.numpy_ms:.2f} | "
                     f"{row.numpy_ms / row.faiss_ms:.1f} | "
                     f"{'yes' if row.same_top else 'no'} | {row.end_to_end_ms:.0f} | "
                     f"{'yes' if row.faiss_ms < GLOBAL_TARGET_MS else 'no'} |")
    return lines


def target_lines(glob: list[QueryRun], rer: list[QueryRun], rows: list[ScaleRow]) -> list[str]:
    r_med = statistics.median(r.seconds for r in rer)
    at10k = next((r for r in rows if r.size == 10_000), None)
    out = []
    if at10k is not None:
        out.append(f"- A 10k-image index answers a global query in < {GLOBAL_TARGET_MS:.0f} ms: index search "
                   f"{at10k.faiss_ms:.1f} ms → **{'met' if at10k.faiss_ms < GLOBAL_TARGET_MS else 'NOT met'}** for "
                   f"the index; the whole global query, {at10k.end_to_end_ms:.0f} ms, is "
                   f"{'within' if at10k.end_to_end_ms < GLOBAL_TARGET_MS else 'above'} it: describing the "
                   "query with the CNN (as is and mirrored) dominates and does not depend on the index size.")
    out.append(f"- A re-ranked query of the top 100 in < {RERANK_TARGET_S:.0f} s on the CPU: median "
               f"{r_med:.2f} s, p90 {float(np.percentile([r.seconds for r in rer], 90)):.2f} s → "
               f"**{'met' if r_med < RERANK_TARGET_S else 'NOT met'}** (median).")
    return out


def throughput_lines(stats: dict[str, Any]) -> list[str]:
    rate = stats["images"] / stats["seconds"] if stats["seconds"] else float("nan")
    cached = f" (measured when the collection was built, {stats['date']}; `--rebuild` measures again)" \
        if stats.get("cached") else ""
    return [
        f"`Collection.add` of {stats['images']} images (long side ≤ 512 px) in {stats['seconds']:.0f} s: "
        f"**{rate:.1f} images/s** (`image_pipeline`: half the cores for torch, all for the other steps), "
        f"{stats['cpu_seconds'] / stats['seconds']:.2f} cores busy on average (process CPU / wall){cached}. "
        "Each stage's cost and the comparison with indexing one image at a time: `bench.index_throughput` "
        "(its section in docs/scale.md).",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--distractors", type=int, default=1000, help="distractor images (default 1000)")
    parser.add_argument("--per-family", type=int, default=2, help="queries per transformation per photo (default 2)")
    parser.add_argument("--positives", type=int, default=5, help="transformed copies per query photo (default 5)")
    parser.add_argument("--shortlist", type=int, default=100, help="global shortlist re-ranked (default 100)")
    parser.add_argument("--sizes", help="index sizes for the latency table (default 1000,10000,100000)")
    parser.add_argument("--repeat", type=int, default=30, help="repeats of each index timing (default 30)")
    parser.add_argument("--probes", type=int, help="queries timed end to end per index size (default 10)")
    parser.add_argument("--no-whitening", action="store_true", help="skip the PCA-whitened run")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads of torch and FAISS for the "
                        "whole run (default: their own, one per core, as the app runs)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 distractors, 1 query per "
                        "transformation, sizes 1k and 10k")
    parser.add_argument("--data", type=Path, help="image set folder (default: a cache folder per settings)")
    parser.add_argument("--rebuild", action="store_true", help="index the collection again (measures throughput)")
    parser.add_argument("--rerank-cost", action="store_true", help="also measure the cost of each re-ranker "
                        "(RootSIFT, AMES, LOCORE) on a 100-image shortlist: `bench.rerank_cost`, minutes more")
    parser.add_argument("--out", type=Path, help="also write the Markdown report to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.distractors, args.per_family = 200, 1
    sizes = [int(s) for s in (args.sizes or ("1000,10000" if args.quick else ",".join(map(str, SIZES)))).split(",")]
    args.probes = args.probes or (3 if args.quick else 10)
    started, load_start = time.perf_counter(), os.getloadavg()
    if args.threads:
        set_threads(args.threads)

    head = set_header(args.seed, args.distractors, args.positives)
    data, manifest = image_set(args.data, head, args.per_family)
    coll, coll_stats = collection_of(data, manifest, args.rebuild)
    truth, n_db = truth_of(manifest), len(manifest["db"])

    modes = {"global": (coll, Rerank.NONE), "re-ranked": (coll, Rerank.SIFT), "compact": (coll, Rerank.SIFT_COMPACT)}
    t_white = time.perf_counter()
    white = None if args.no_whitening else whitened_copy(data, coll)
    t_white = time.perf_counter() - t_white
    if white is not None:
        modes["whitened"] = (white, Rerank.NONE)
    print(f"{len(manifest['queries'])} queries: {', '.join(modes)}", flush=True)
    runs = run_queries(modes, data, manifest, args.shortlist)
    glob, rer, white_runs = runs["global"], runs["re-ranked"], runs.get("whitened")
    white_dim = white.index.dim if white is not None else 0
    if white is not None:
        white.close()
    small = runs["compact"]
    scores = {"global": score(glob, truth, n_db), "re-ranked": score(rer, truth, n_db),
              "compact": score(small, truth, n_db)}
    if white_runs is not None:
        scores["whitened"] = score(white_runs, truth, n_db)

    shortlisted, unverified, recovered = orientation_misses(coll, data, manifest, truth, rer)
    print("latency at scale", flush=True)
    probes = [query_from_media(open_media(data / q["file"]))
              for q in manifest["queries"][:: max(1, len(manifest["queries"]) // args.probes)]][: args.probes]
    describe_ms = statistics.median(
        1000 * _timed(lambda q=q: (coll.descriptor.describe(q.rgb),
                                   coll.descriptor.describe(np.ascontiguousarray(q.rgb[:, ::-1]))))
        for q in probes)
    rows = index_latency(coll, probes, sizes, args.shortlist, args.repeat, args.seed)
    threads = thread_rows(coll, probes[0].rgb, _torch_threads(), 5 if args.quick else 10, args.seed)

    rankings = [("global only", scores["global"], glob)]
    if white_runs is not None:
        rankings.append((f"global only, PCA-whitened ({coll.index.dim} → {white_dim}-d, learned on the "
                         f"collection in {t_white:.0f} s)", scores["whitened"], white_runs))
    rankings.append((f"re-ranked (SIFT, top {args.shortlist})", scores["re-ranked"], rer))
    rankings.append((f"compact RootSIFT (≤ 1 KB/image, top {args.shortlist})", scores["compact"], small))
    parts = [
        *header_lines(data, manifest, args, load_start), "",
        *transform_lines(), "",
        "## Copy detection", "",
        f"{len(manifest['queries'])} queries against {n_db} images. mAP: revisited-Oxford average precision "
        "(`evaluation.compute_map`; splice junk ignored) over the returned ranking, the whole shortlist — a "
        "positive outside it counts as not retrieved, for both rankings alike. R@k: share of queries with a "
        "positive in the first k (`evaluation.recall_at_k`, junk removed first). MRR: "
        "`evaluation.mean_reciprocal_rank`. Positives in shortlist: share of each query's positives among the "
        "global shortlist, the ceiling of re-ranking.", "",
        *metrics_table(rankings), "",
        "### Per query transformation", "",
        *family_table(truth, scores["global"], scores.get("whitened"), scores["re-ranked"], scores["compact"]), "",
        "### Compact re-ranking data", "",
        *compact_lines(coll, glob, rer, small, scores, truth), "",
        "### Spatial verification", "",
        *inlier_lines(rer, truth), "",
        f"Orientation: of the {shortlisted} positives in the re-ranked shortlists, {unverified} got fewer than "
        f"{MIN_INLIERS} inliers from `search`; matched again here with the query as is and mirrored (both "
        f"verified with `local.verify`), {recovered} of them reach {MIN_INLIERS} or more: verifications lost to "
        "the orientation `search` matched in.", "",
        "## Latency", "",
        *latency_lines(glob, rer, describe_ms, rows, n_db, args.shortlist), "",
        "Threads under this run's load (torch and FAISS use OpenMP; on a busy machine threads that wait for "
        "each other at every barrier lose far more than their share; medians, 1 thread and all cores "
        "interleaved):", "",
        *threads, "",
        "## Indexing throughput", "",
        *throughput_lines(coll_stats), "",
        "## Targets", "",
        *target_lines(glob, rer, rows), "",
        *(["## Re-ranker cost", "", *rerank_cost.section(2, args.seed), ""] if args.rerank_cost else []),
        f"Bench run time {time.perf_counter() - started:.0f} s.",
    ]
    report = "\n".join(parts) + "\n"
    publish(report, args.out, keep=("index-throughput",))
    coll.close()
    return 0


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    raise SystemExit(main())
