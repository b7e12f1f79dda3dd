"""Indexing throughput: `Collection.add` (the pipeline of `plugins/similarity/image_pipeline.py`)
against the steps it replaced, one image at a time (full decode, CNN, RootSIFT, hashes, metadata,
one commit per image), in the same process and alternated, with each path's time per stage; then
how far the pipeline's descriptors, hashes and keypoints are from the one-at-a-time ones, and
optionally the global mAP of `bench.similarity`'s queries against its database enlarged ×8.

    .venv/bin/python -m bench.index_throughput                     # 200 of bench.similarity's images, ~3-7 min
    .venv/bin/python -m bench.index_throughput --set camera        # 60 JPEGs of 12 MP, ~5 min
    .venv/bin/python -m bench.index_throughput --set camera --map 300   # + mAP check, ~10 min more
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import platformdirs
from PIL import Image

from bench.report import publish_section
from plugins.similarity import global_descriptor, image_pipeline
from plugins.similarity.collection import Collection, image_files
from plugins.similarity.evaluation import compute_map
from plugins.similarity.facts import facts_of, image_facts
from plugins.similarity.global_descriptor import bf16_supported
from plugins.similarity.image_pipeline import COMPILE_FROM, CPU_BATCH, WORKING_SIDE, Prepared
from plugins.similarity.local import KIND as SIFT_KIND
from plugins.similarity.local import sift_features
from plugins.similarity.phash import dhash, hamming, phash
from workbench.core.device import usable_cores
from workbench.core.media import open_media, open_reduced
from workbench.core.plugin import RunContext
from workbench.synthetic.photos import load, packaged_photos

CAMERA_VERSION = 1
TARGET = 25.0
"""Images/s the issue asks of indexing on the 2-core machine."""
TODAY_STAGES = ("read, hash, full decode", "CNN (input + network)", "RootSIFT", "hashes", "metadata (decoded again)",
                "commit")
PIPELINE_STAGES = ("read, hash, reduced decode", "RootSIFT", "hashes", "metadata", "CNN input",
                   "CNN (compiled, per image)", "commit")


# -- image sets -------------------------------------------------------------------------------------


def camera_set(n: int, megapixels: float, seed: int) -> Path:
    """`n` camera-size JPEGs (quality 90, 4:3, a third of them portrait, EXIF date and camera software):
    views of the packaged photos enlarged with grain σ = 3, so they are not trivially smooth."""
    folder = _cache() / f"camera-v{CAMERA_VERSION}-s{seed}-n{n}-{megapixels:g}mp"
    if len(list(folder.glob("*.jpg"))) == n:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    photos, rng = packaged_photos(), np.random.default_rng(seed)
    width = round(math.sqrt(megapixels * 1e6 * 4 / 3))
    height = round(width * 3 / 4)
    for i in range(n):
        photo = load(photos[i % len(photos)])
        h, w = photo.shape[:2]
        ch, cw = (round(side * rng.uniform(0.7, 1.0)) for side in (h, w))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        size = (height, width) if i % 3 == 2 else (width, height)
        big = cv2.resize(photo[y : y + ch, x : x + cw], size, interpolation=cv2.INTER_CUBIC).astype(np.float32)
        big += rng.normal(0, 3, big.shape).astype(np.float32)
        exif = Image.Exif()
        exif[306], exif[305] = f"2024:05:{1 + i % 28:02d} 10:00:00", "Camera firmware 1.0"
        Image.fromarray(np.clip(big, 0, 255).astype(np.uint8)).save(folder / f"c{i:04d}.jpg", quality=90,
                                                                    exif=exif.tobytes())
    return folder


def similarity_set(seed: int) -> Path:
    """The database folder of `bench.similarity`'s default image set (generated when missing)."""
    from bench import similarity

    data, _ = similarity.default_set(seed)
    return data / "db"


def sample(files: list[Path], n: int, seed: int) -> list[Path]:
    """`n` of the files drawn at random, in their order: bench.similarity's PNG originals sort after
    its JPEG distractors, one in six of the query photos' files, so neither the first `n` nor an
    evenly spaced pick holds its share of them."""
    if n >= len(files):
        return files
    return [files[i] for i in sorted(np.random.default_rng(seed).choice(len(files), n, replace=False))]


def composition(files: list[Path]) -> str:
    """What the images are: count, format and long-side range of each format."""
    sides: dict[str, list[int]] = {}
    for f in files:
        with Image.open(f) as im:
            sides.setdefault(str(im.format), []).append(max(im.size))
    return ", ".join(f"{len(v)} {fmt} (long side {min(v)}–{max(v)} px, median {statistics.median(v):.0f})"
                     for fmt, v in sorted(sides.items(), key=lambda kv: -len(kv[1])))


def _cache() -> Path:
    return Path(platformdirs.user_cache_dir("forensic-workbench")) / "bench"


# -- the two ways of indexing -----------------------------------------------------------------------


def one_at_a_time(coll: Collection, files: list[Path]) -> dict[str, list[float]]:
    """The steps `Collection.add` took before the pipeline, each image in turn on one thread, each
    committed alone; seconds per stage per image."""
    times: dict[str, list[float]] = {k: [] for k in TODAY_STAGES}
    for n, path in enumerate(files):
        marks = [time.perf_counter()]
        media = open_media(path)
        rgb = media.pixels()
        marks.append(time.perf_counter())
        vector = coll.descriptor.describe(rgb)
        marks.append(time.perf_counter())
        sift = sift_features(rgb)
        marks.append(time.perf_counter())
        hashes = phash(rgb), dhash(rgb)
        marks.append(time.perf_counter())
        facts = facts_of(media)
        marks.append(time.perf_counter())
        coll._store([Prepared(path, media, facts, *hashes, sift, {}, np.zeros(0), vector)])
        if (n + 1) % 50 == 0:  # the index was saved every 50 images
            coll.index.save()
        marks.append(time.perf_counter())
        for key, seconds in zip(times, np.diff(marks), strict=True):
            times[key].append(float(seconds))
    coll.index.save()
    return times


def pipeline_stages(coll: Collection, files: list[Path]) -> dict[str, list[float]]:
    """The pipeline's steps for each image, timed one after another on one thread (the CNN on batches
    of `CPU_BATCH` with the pipeline's torch threads, compiled, graph built beforehand): what each
    costs, not how they overlap."""
    with image_pipeline.torch_threads(max(1, usable_cores() // 2)):
        return _pipeline_stages(coll, files)


def _pipeline_stages(coll: Collection, files: list[Path]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in PIPELINE_STAGES}
    coll.descriptor.describe_batch(coll.descriptor.input_of(np.zeros((384, 512, 3), np.uint8)), True)
    for start in range(0, len(files), CPU_BATCH):
        inputs = []
        for path in files[start : start + CPU_BATCH]:
            marks = [time.perf_counter()]
            opened = open_reduced(path, WORKING_SIDE)
            marks.append(time.perf_counter())
            sift_features(opened.pixels)
            marks.append(time.perf_counter())
            _ = phash(opened.pixels), dhash(opened.pixels)
            marks.append(time.perf_counter())
            image_facts(opened.image)
            marks.append(time.perf_counter())
            inputs.append(coll.descriptor.input_of(opened.pixels))
            marks.append(time.perf_counter())
            for key, seconds in zip(PIPELINE_STAGES[:5], np.diff(marks), strict=True):
                times[key].append(float(seconds))
        for shape in {x.shape for x in inputs}:
            same = [x for x in inputs if x.shape == shape]
            t0 = time.perf_counter()
            coll.descriptor.describe_batch(np.concatenate(same), True)
            times["CNN (compiled, per image)"] += [(time.perf_counter() - t0) / len(same)] * len(same)
    times["commit"] = [commit_seconds(coll, files[: 2 * CPU_BATCH]) / (2 * CPU_BATCH)] * len(files)
    return times


def commit_seconds(coll: Collection, files: list[Path]) -> float:
    """Committing already-described images as the pipeline does, a batch per transaction."""
    prepared = [image_pipeline.prepare(p, coll.descriptor, 10**9, {}) for p in files]
    for p in prepared:
        p.vector = np.zeros(coll.descriptor.dim, np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Collection(tmp, coll.descriptor)
        t0 = time.perf_counter()
        for start in range(0, len(prepared), CPU_BATCH):
            scratch._store(prepared[start : start + CPU_BATCH])
        seconds = time.perf_counter() - t0
        scratch.close()
    return seconds


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, process CPU seconds)."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


# -- agreement --------------------------------------------------------------------------------------


def agreement(today: Collection, new: Collection) -> dict[str, float]:
    """Per image of both collections (matched by path): cosine of the global descriptors, Hamming
    distance of pHash and dHash, share of today's RootSIFT keypoints with a pipeline keypoint within
    one analysis pixel (the image's long side / 1024)."""
    ours = {item.path: item for item in new.items()}
    cosines, bits, kept = [], [], []
    for item in today.items():
        other = ours[item.path]
        a, b = today.global_vectors([item.id])[0], new.global_vectors([other.id])[0]
        cosines.append(float(a @ b))
        bits.append(max(hamming(item.phash, other.phash), hamming(item.dhash, other.dhash)))
        ka, kb = today.local_features(item.id, SIFT_KIND), new.local_features(other.id, SIFT_KIND)
        if ka is not None and kb is not None and len(ka) and len(kb):
            tolerance = max(item.width, item.height) / WORKING_SIDE
            near = np.linalg.norm(ka.xy[:, None] - kb.xy[None], axis=2).min(axis=1) <= tolerance
            kept.append(float(near.mean()))
    return {"images": len(cosines), "cos_min": min(cosines), "cos_median": statistics.median(cosines),
            "bits_max": max(bits), "bits_nonzero": sum(b > 0 for b in bits),
            "keypoints_median": statistics.median(kept) if kept else float("nan"),
            "keypoints_min": min(kept) if kept else float("nan")}


def enlarged_map(distractors: int, seed: int, factor: int = 8) -> list[str]:
    """Global mAP of bench.similarity's queries (as is and mirrored, the better similarity, the whole
    database ranked) against its positives and `distractors` distractors enlarged ×`factor` (JPEG q92,
    PNG originals stay PNG), described one at a time from the full decode and by the pipeline."""
    from bench import similarity

    data, manifest = similarity.default_set(seed)
    entries = [e for e in manifest["db"] if e["role"] != "distractor"]
    entries += [e for e in manifest["db"] if e["role"] == "distractor"][:distractors]
    manifest = {**manifest, "db": entries}
    folder = _cache() / f"enlarged-x{factor}-s{seed}-d{distractors}"
    for e in entries:
        target = folder / e["file"]
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            rgb = open_media(data / e["file"]).pixels()
            big = cv2.resize(rgb, (rgb.shape[1] * factor, rgb.shape[0] * factor), interpolation=cv2.INTER_CUBIC)
            Image.fromarray(big).save(target, **({"quality": 92} if target.suffix == ".jpg" else {}))
    truth = similarity.truth_of(manifest)
    queries = [open_media(data / q["file"]).pixels() for q in manifest["queries"]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        new = Collection(Path(tmp) / "pipeline")
        new.add([folder / e["file"] for e in entries])
        by_path = {item.path: item.id for item in new.items()}
        ways = {
            "one at a time, full decode": np.stack([new.descriptor.describe(open_media(folder / e["file"]).pixels())
                                                    for e in entries]),
            "pipeline (reduced decode)": new.global_vectors([by_path[str((folder / e["file"]).resolve())]
                                                             for e in entries]),
        }
        qv = [np.stack([new.descriptor.describe(q), new.descriptor.describe(np.ascontiguousarray(q[:, ::-1]))])
              for q in queries]
        for name, db in ways.items():
            ranks = np.stack([np.argsort(-(v @ db.T).max(axis=0), kind="stable") for v in qv])
            gnd = [{"ok": ok, "junk": junk} for ok, junk in zip(truth.ok, truth.junk, strict=True)]
            score = compute_map(ranks, gnd, n_db=len(entries)).mean_ap
            rows.append(f"| {name} | {score:.4f} |")
        new.close()
    return [f"{len(queries)} queries against {len(entries)} images enlarged ×{factor} (long side "
            f"{256 * factor}–{512 * factor} px), global descriptors only:", "",
            "| database described | mAP |", "|---|---:|", *rows]


# -- report -----------------------------------------------------------------------------------------


def stage_table(today: dict[str, list[float]], ours: dict[str, list[float]]) -> list[str]:
    lines = ["| one image at a time (before) | median ms | | pipeline step (one thread) | median ms |",
             "|---|---:|---|---|---:|"]
    left, right = list(today.items()), list(ours.items())
    for i in range(max(len(left), len(right))):
        a = f"{left[i][0]} | {1000 * statistics.median(left[i][1]):.1f}" if i < len(left) else " | "
        b = f"{right[i][0]} | {1000 * statistics.median(right[i][1]):.1f}" if i < len(right) else " | "
        lines.append(f"| {a} | | {b} |")
    total = [sum(1000 * statistics.median(v) for v in d.values()) for d in (today, ours)]
    lines.append(f"| **sum** | **{total[0]:.0f}** | | **sum** | **{total[1]:.0f}** |")
    return lines


ONE_DEFAULT, ONE_THREAD, PIPELINE = ("one at a time, torch's default threads (as before)",
                                     "one at a time, 1 torch thread", "pipeline")


@dataclass
class Measured:
    rates: dict[str, list[float]] = field(default_factory=dict)
    """Images/s per round of each path run."""
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)
    """Process CPU milliseconds per image."""
    today_stages: dict[str, list[float]] = field(default_factory=dict)
    """The 1-thread one-at-a-time path's seconds per stage and image."""
    pipeline_stages: dict[str, list[float]] = field(default_factory=dict)
    agreement: dict[str, float] = field(default_factory=dict)
    main_ms: list[float] = field(default_factory=list)
    """The pipeline's main thread (CNN, commits): CPU milliseconds per image, the graph build left out."""
    build: list[tuple[float, float]] = field(default_factory=list)
    """(wall, CPU) seconds the pipeline spent building the CNN's compiled graph, once per collection."""


@contextlib.contextmanager
def graph_builds(spent: list[float]) -> Iterator[None]:
    """Appends to `spent` the (wall, main-thread CPU) seconds of each build of the CNN's compiled
    CPU graph during the block: a one-off cost per collection opened, which a few hundred images
    do not amortise."""
    build = global_descriptor.cpu_inference_graph

    def timed_build(*args: Any, **kwargs: Any) -> Any:
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return build(*args, **kwargs)
        finally:
            spent.append((time.perf_counter() - t0, time.thread_time() - c0))

    global_descriptor.cpu_inference_graph = timed_build
    try:
        yield
    finally:
        global_descriptor.cpu_inference_graph = build


def measure(files: list[Path], rounds: int, with_default_threads: bool) -> Measured:
    """Each path in turn per round (so they share the machine's load alike), each into a new collection.
    One image at a time with torch's default threads only when asked: on a busy machine its OpenMP
    threads wait for each other at every layer, and it ran 5-10 times slower than with one thread."""
    import torch

    out, default_threads = Measured(), torch.get_num_threads()
    paths = [*([(ONE_DEFAULT, default_threads)] if with_default_threads else []), (ONE_THREAD, 1),
             (PIPELINE, default_threads)]
    with tempfile.TemporaryDirectory() as tmp:
        Collection(Path(tmp) / "warm").descriptor.describe(np.zeros((384, 512, 3), np.uint8))  # model loaded once
        for r in range(rounds):
            made = {}
            for name, threads in paths:
                coll = made[name] = Collection(Path(tmp) / f"{r}-{len(made)}")
                torch.set_num_threads(threads)
                if name == PIPELINE:
                    builds: list[tuple[float, float]] = []
                    with graph_builds(builds):
                        c0 = time.thread_time()
                        report, seconds, cpu = timed(lambda coll=coll: coll.add(files, RunContext()))
                        main_cpu = time.thread_time() - c0
                    assert report.added == len(files), report.failed
                    out.build.append((sum(b[0] for b in builds), sum(b[1] for b in builds)))
                    out.main_ms.append(1000 * (main_cpu - sum(b[1] for b in builds)) / len(files))
                else:
                    stages, seconds, cpu = timed(lambda coll=coll: one_at_a_time(coll, files))
                    if threads == 1:
                        out.today_stages = {k: out.today_stages.get(k, []) + v for k, v in stages.items()}
                out.rates.setdefault(name, []).append(len(files) / seconds)
                out.cpu_ms.setdefault(name, []).append(1000 * cpu / len(files))
            torch.set_num_threads(default_threads)
            print(f"round {r + 1}: " + ", ".join(f"{n} {v[-1]:.2f} images/s" for n, v in out.rates.items()), flush=True)
            if r == 0:
                out.agreement = agreement(made[ONE_THREAD], made[PIPELINE])
                out.pipeline_stages = pipeline_stages(made[PIPELINE], files[: min(len(files), 24)])
            for coll in made.values():
                coll.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=["similarity", "camera"], default="similarity",
                        help="bench.similarity's database (default; real photos, long side ≤ 512 px) or "
                             "camera-size JPEGs made from the same photos")
    parser.add_argument("--n", type=int, help="images indexed per round (default 200; camera: 60)")
    parser.add_argument("--mp", type=float, default=12.0, help="megapixels of the camera JPEGs (default 12)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the three paths, alternated (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--default-threads", action="store_true",
                        help="also one image at a time with torch's default threads, as the app ran it (slow "
                             "on a busy machine)")
    parser.add_argument("--map", type=int, default=0, metavar="DISTRACTORS",
                        help="also the mAP check on bench.similarity's set enlarged ×8 with this many distractors")
    parser.add_argument("--out", type=Path, help="also write the Markdown report to this file")
    args = parser.parse_args(argv)
    started, load_start = time.perf_counter(), os.getloadavg()
    args.n = args.n or (60 if args.set == "camera" else 200)
    folder = camera_set(args.n, args.mp, args.seed) if args.set == "camera" else similarity_set(args.seed)
    files = sample(image_files([folder]), args.n, args.seed)
    print(f"{len(files)} images from {folder}", flush=True)
    measured = measure(files, args.rounds, args.default_threads)
    mapped = enlarged_map(args.map, args.seed) if args.map else []
    lines = report_lines(args, files, measured, load_start)
    lines += [*mapped, *([""] if mapped else []), f"Bench run time {time.perf_counter() - started:.0f} s."]
    publish_section("\n".join(lines) + "\n", args.out, "index-throughput")
    return 0


def report_lines(args: argparse.Namespace, files: list[Path], m: Measured, load_start: tuple[float, ...]) -> list[str]:
    import torch

    cores, load_end, n = usable_cores(), os.getloadavg(), len(files)
    kind = "camera-size JPEGs, quality 90" if args.set == "camera" else "bench.similarity's database"
    steady = [n / (n / rate - wall) for rate, (wall, _) in zip(m.rates[PIPELINE], m.build, strict=True)]
    steady_cpu = [ms - 1000 * c / n for ms, (_, c) in zip(m.cpu_ms[PIPELINE], m.build, strict=True)]
    build = statistics.median(w for w, _ in m.build)
    rows = [*((name, m.rates[name], m.cpu_ms[name]) for name in m.rates),
            *([("pipeline, the graph build left out", steady, steady_cpu)] if build else [])]
    median = {name: statistics.median(v) for name, v, _ in rows}
    cpu, main_ms = statistics.median(steady_cpu), statistics.median(m.main_ms)
    bound = min(cores * 1000 / cpu, 1000 / main_ms)
    built = (f"Building the CNN's compiled graph took {build:.1f} s per collection (once per run of "
             "`Collection.add`; a large folder amortises it)." if build else
             f"The CNN ran uncompiled: the pipeline compiles it from {COMPILE_FROM} images.")
    best = max(median[PIPELINE], median[rows[-1][0]])
    a = m.agreement
    return [
        "## Indexing throughput: the pipeline against one image at a time", "",
        f"`python -m bench.index_throughput {' '.join(sys.argv[1:])}`: {n} images ({kind}: "
        f"{composition(files)}), {args.rounds} round{'s' if args.rounds > 1 else ''} of each path alternated, "
        f"each into a new collection; {platform.machine()}, "
        f"{cores} usable cores, torch {torch.__version__}, OpenCV {cv2.__version__}; load average "
        f"{load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end (above {cores} the paths competed "
        "for the cores with other work: process CPU time per image is the steadier figure).", "",
        "| path | images/s (per round) | median | process CPU ms per image |", "|---|---|---:|---:|",
        *(f"| {name} | {', '.join(f'{v:.2f}' for v in rates)} | **{median[name]:.2f}** | "
          f"{statistics.median(ms):.0f} |" for name, rates, ms in rows), "",
        f"Pipeline against one at a time: **×{median[PIPELINE] / median[ONE_THREAD]:.1f}** (1 torch thread)"
        + (f", **×{median[PIPELINE] / median[ONE_DEFAULT]:.1f}** (torch's default threads)" if ONE_DEFAULT in median
           else "") + f". {built}",
        "",
        f"Bound: the main thread (the CNN on {max(1, cores // 2)} torch thread(s), then each batch's commit) used "
        f"{main_ms:.0f} ms of CPU per image, so it cannot pass {1000 / main_ms:.0f} images/s whatever the other "
        f"threads do; all threads used {cpu:.0f} ms per image, {cores * 1000 / cpu:.0f} images/s on {cores} idle "
        f"cores. On an idle machine: about {bound:.0f} images/s at most. The issue's target, at least "
        f"{TARGET:g} images/s on 2 cores: **{'met' if best >= TARGET else 'not met'}** here ({best:.1f}).", "",
        "Per image, median over the images (one-at-a-time steps with 1 torch thread; the pipeline's steps "
        f"one after another on one thread, the CNN compiled ({'bfloat16' if bf16_supported() else 'float32'} "
        f"on this CPU), in batches of {CPU_BATCH}):", "",
        *stage_table(m.today_stages, m.pipeline_stages), "",
        f"Agreement on {a['images']} images (pipeline against one at a time): global descriptor cosine "
        f"min {a['cos_min']:.5f}, median {a['cos_median']:.6f}; perceptual hashes differ on "
        f"{a['bits_nonzero']} images, by at most {a['bits_max']} of 64 bits (near-duplicate: ≤ 8); "
        f"RootSIFT keypoints found again within one analysis pixel: median {a['keypoints_median']:.1%}, "
        f"min {a['keypoints_min']:.1%}.", "",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
