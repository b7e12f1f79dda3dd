"""Localisation bench: every `plugins.localization` heat map against exact masks of generated
splices, copy-moves and removals (plus pristine images for the image-level AUC).

    .venv/bin/python -m bench.localization --quick
    .venv/bin/python -m bench.localization --per-kind --out docs/localization-bench.md
    .venv/bin/python -m bench.localization --conditions --out docs/localization-bench.md

The dataset (`workbench.synthetic`) is generated once and cached under the user cache folder
(or --data); each analyzer runs with its default parameters through `run_analyzer`, exactly as
in the app. Ratios are measured in the same run: pixel AUC against a centre-prior map on the
same images, time per megapixel against ELA.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import multiprocessing
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import platformdirs

from bench.calibration import collect
from bench.report import publish
from plugins.localization.common import map_score
from workbench.core import registry
from workbench.core.media import open_media
from workbench.core.metrics import image_auc, mean_defined, pixel_metrics
from workbench.core.plugin import Analyzer, RunContext, run_analyzer
from workbench.core.results import Heatmap, Status
from workbench.synthetic import KINDS, Recipe, packaged_photos, read_index, write_dataset
from workbench.synthetic.dataset import header, load_mask
from workbench.synthetic.splits import fusion_role

FAMILY = "plugins.localization"
BASELINE = "centre-prior"
REFERENCE = "ela"
METRICS = ("f1", "best_f1", "mcc", "iou", "auc")
MANIPULATED = tuple(k for k in KINDS if k != "pristine")
CONDITIONS_SECTION = "conditions"
"""The per-condition report's section in the --out file."""
KEPT_SECTIONS = (CONDITIONS_SECTION, "copy-move-dense", "calibration")
"""Sections of the --out file that other reports wrote (the per-condition mode's, bench/copy_move_dense.py's
and bench/false_alarms.py's figures), kept in this order after the mixed set's report when it rewrites the file."""


def evaluation_photos() -> list[Path]:
    """The calibration bench's natural photos found here (no drawings, charts, text or edited files;
    Debian's desktop backgrounds refused) that `workbench.synthetic.splits` holds out from the
    fusion: neither its training nor its validation photos, so the learned map is measured on
    scenes it has never seen, like the classical ones."""
    photos, _ = collect()
    return [p.path for p in photos if fusion_role(p.key) == "held_out"]


@dataclass
class Record:
    """One method on one image: status, metrics (NaN where undefined), image score, time."""

    method: str
    index: int
    kind: str
    status: str
    condition: str = ""
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    score: float = float("nan")
    seconds: float = 0.0
    megapixels: float = 0.0


# -- what to run ---------------------------------------------------------------------------------


@cache
def available(plugins: tuple[str, ...] = ()) -> dict[str, Analyzer]:
    """The registered localisation analyzers plus `plugins` ("module:Class" specs not registered
    yet, so a new analyzer can be benched before it joins the registry), by id."""
    found = {aid: a for aid, a in registry.analyzers().items() if type(a).__module__.startswith(FAMILY)}
    for spec in plugins:
        module, _, name = spec.partition(":")
        analyzer = getattr(importlib.import_module(module), name)()
        found[analyzer.id] = analyzer
    return found


def localization_methods(wanted: list[str] | None, plugins: tuple[str, ...]) -> list[str]:
    """Ids of the analyzers to run (all, or those asked for, in registry order)."""
    found = list(available(plugins))
    if wanted:
        unknown = sorted(set(wanted) - set(found))
        if unknown:
            raise SystemExit(f"unknown localisation method(s): {', '.join(unknown)}; available: {', '.join(found)}")
        found = [aid for aid in found if aid in wanted]
    return found


def dataset(
    folder: Path | None, seed: int, n: int, workers: int, photos: tuple[Path, ...]
) -> tuple[Path, dict[str, Any]]:
    """The cached dataset for (seed, n, recipe, photos), generated when missing or different."""
    head = header(seed, n, KINDS, Recipe(), photos)
    return cached(
        folder, f"loc-s{seed}-n{n}", head,
        lambda out, progress: write_dataset(out, seed, n, recipe=Recipe(), photos=photos, workers=workers,
                                            progress=progress),
    )


def cached(
    folder: Path | None, stem: str, head: dict[str, Any], write: Callable[[Path, Callable[[int, int], None]], dict]
) -> tuple[Path, dict[str, Any]]:
    """The dataset whose header is `head`: reused from `folder` (default: the cache folder named by
    `stem` and a digest of `head`) when its index carries that header, else written there by `write`."""
    if folder is None:
        digest = hashlib.sha256(json.dumps(head, sort_keys=True).encode()).hexdigest()[:10]
        folder = Path(platformdirs.user_cache_dir("forensic-workbench")) / "bench" / f"{stem}-{digest}"
    index = read_index(folder)
    if index is not None and {k: index.get(k) for k in head} == head:
        print(f"dataset: reusing {folder}", flush=True)
        return folder, index
    print(f"dataset: generating in {folder}", flush=True)

    def progress(done: int, total: int) -> None:
        if done % max(1, total // 10) == 0:
            print(f"  generated {done}/{total}", flush=True)

    return folder, write(folder, progress)


# -- one image (runs in a worker process) --------------------------------------------------------


def centre_prior(shape: tuple[int, int]) -> np.ndarray:
    """The trivial baseline: a Gaussian bump in the middle (σ = a quarter of each side)."""
    h, w = shape
    y = (np.arange(h) - (h - 1) / 2) / (h / 4)
    x = (np.arange(w) - (w - 1) / 2) / (w / 4)
    return np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2)).astype(np.float32)


def evaluate(job: tuple[Path, dict[str, Any], list[str], tuple[str, ...]]) -> list[Record]:
    """Every method on one image of the dataset, plus the centre-prior baseline."""
    folder, item, methods, plugins = job
    truth = load_mask(folder / item["mask"])
    media = open_media(folder / item["image"])
    media.pixels()  # decoded once, outside the timings
    condition = item.get("condition", "")
    base = Record(BASELINE, item["index"], item["kind"], Status.OK.value, condition,
                  metrics=pixel_metrics(centre_prior(truth.shape), truth), score=0.5)
    records = [base]
    for method in methods:
        analyzer = available(plugins)[method]
        t0 = time.perf_counter()
        result = run_analyzer(analyzer, media, analyzer.params_from({}), RunContext())
        rec = Record(method, item["index"], item["kind"], result.status.value, condition, result.message,
                     seconds=time.perf_counter() - t0, megapixels=media.megapixels)
        if result.ok and not (isinstance(result, Heatmap) and result.map is not None):
            rec.status, rec.message = "no-map", f"returned a {type(result).__name__} without a map"
        elif result.ok and result.map.shape != truth.shape:
            rec.status, rec.message = "bad-shape", f"map {result.map.shape} for an image of {truth.shape}"
        elif result.ok:
            rec.metrics = pixel_metrics(result.map, truth, mask=result.mask)
            rec.score = float(result.score) if result.score is not None else map_score(result.map)
        records.append(rec)
    return records


def _worker_init() -> None:
    cv2.setNumThreads(1)


def run_all(
    folder: Path, index: dict[str, Any], methods: list[str], plugins: tuple[str, ...], workers: int
) -> list[Record]:
    jobs = [(folder, item, methods, plugins) for item in index["items"]]
    records: list[Record] = []
    t0, step = time.perf_counter(), max(1, len(jobs) // 10)
    # one thread per worker (BLAS/OpenMP via the environment the workers inherit, OpenCV in
    # the initializer), so `workers` processes use `workers` cores and timings are per core
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_worker_init) as pool:
        for done, recs in enumerate(pool.imap_unordered(evaluate, jobs), start=1):
            records.extend(recs)
            if done % step == 0 or done == len(jobs):
                elapsed = time.perf_counter() - t0
                print(f"  [{done:>4}/{len(jobs)}] {elapsed:6.1f} s, about {elapsed / done * (len(jobs) - done):.0f} s "
                      "left", flush=True)
    return records


# -- tables ----------------------------------------------------------------------------------------


def fmt(value: float, digits: int = 3) -> str:
    return "–" if value is None or np.isnan(value) else f"{value:.{digits}f}"


def _auc_of(records: list[Record], kinds: tuple[str, ...]) -> float:
    """Image-level AUC of `kinds` against the pristine images, over runs that worked."""
    pool = [r for r in records if r.status == "ok" and r.kind in (*kinds, "pristine")]
    return image_auc((r.score for r in pool), (r.kind != "pristine" for r in pool))


def _mean(records: list[Record], key: str) -> float:
    return mean_defined(r.metrics.get(key, float("nan")) for r in records if r.status == "ok")[0]


def _seconds_per_mp(records: list[Record]) -> float:
    ok = [r for r in records if r.status == "ok"]
    mp = sum(r.megapixels for r in ok)
    return sum(r.seconds for r in ok) / mp if mp else float("nan")


def summary_table(by_method: dict[str, list[Record]]) -> str:
    base_auc = {r.index: r.metrics["auc"] for r in by_method[BASELINE]}
    ref_speed = _seconds_per_mp(by_method.get(REFERENCE, []))
    lines = [
        "| method | pixel F1@0.5 | best-F1 | MCC | IoU | pixel AUC | ΔAUC vs centre prior | image AUC "
        "| mask F1 | mask IoU | s/MP | time × ELA | n ok / n |",
        "|---|" + "---:|" * 12,
    ]
    for method, recs in by_method.items():
        ok = [r for r in recs if r.status == "ok"]
        # paired on the images this method handled, so a JPEG-only method is not compared with
        # the baseline's figure over PNGs it never saw
        delta = mean_defined(r.metrics["auc"] - base_auc[r.index] for r in ok)[0]
        speed = _seconds_per_mp(recs) if method != BASELINE else float("nan")
        cells = [fmt(_mean(recs, k)) for k in METRICS]
        cells += [fmt(delta) if method != BASELINE else "0 (baseline)", fmt(_auc_of(recs, MANIPULATED))]
        cells += [fmt(_mean(recs, "mask_f1")), fmt(_mean(recs, "mask_iou"))]
        cells += [fmt(speed, 4), fmt(speed / ref_speed, 2)]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {len(ok)} / {len(recs)} |")
    return "\n".join(lines)


def per_kind_table(by_method: dict[str, list[Record]]) -> str:
    lines = [
        "| method | kind | pixel F1@0.5 | best-F1 | MCC | IoU | pixel AUC | image AUC (vs pristine) | n ok / n |",
        "|---|---|" + "---:|" * 7,
    ]
    for method, recs in by_method.items():
        for kind in MANIPULATED:
            mine = [r for r in recs if r.kind == kind]
            cells = [fmt(_mean(mine, k)) for k in METRICS] + [fmt(_auc_of(recs, (kind,)))]
            n_ok = sum(r.status == "ok" for r in mine)
            lines.append(f"| {method} | {kind} | " + " | ".join(cells) + f" | {n_ok} / {len(mine)} |")
    return "\n".join(lines)


def failures(by_method: dict[str, list[Record]]) -> list[str]:
    """One line per method that did not run on every image: counts by status, first messages."""
    out = []
    for method, recs in by_method.items():
        bad = [r for r in recs if r.status != "ok"]
        if bad:
            counts = ", ".join(f"{s} {c}" for s, c in Counter(r.status for r in bad).items())
            out.append(f"* `{method}`: {counts} (first: {bad[0].message})")
    return out


def recipe_header(index: dict[str, Any], folder: Path, methods: list[str], workers: int, packaged: bool) -> str:
    steps = Counter(step.split(":")[0] for item in index["items"] for step in item["chain"])
    formats = Counter(Path(item["image"]).suffix for item in index["items"])
    kinds = Counter(item["kind"] for item in index["items"])
    recipe = ", ".join(f"{k}={v}" for k, v in index["recipe"].items())
    return "\n".join([
        "# Localisation bench",
        "",
        f"Dataset: `workbench.synthetic`, seed {index['seed']}, n {index['n']} "
        f"({', '.join(f'{k} {c}' for k, c in kinds.items())}); files: "
        f"{', '.join(f'{c} {s}' for s, c in sorted(formats.items()))}; cached in `{folder}`.",
        f"Source photos ({len(index['photos'])}): {', '.join(index['photos'])}.",
        f"Post-processing steps applied (images carrying each): "
        f"{', '.join(f'{s} {steps[s]}' for s in ('jpeg1', 'crop', 'resize', 'blur', 'noise', 'jpeg'))}.",
        f"Recipe: {recipe}.",
        f"Methods: {', '.join(methods) or 'none'}, default parameters. "
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {workers} worker processes "
        f"of one thread each; Python {platform.python_version()}, numpy {np.__version__}, OpenCV {cv2.__version__}.",
        ("Photos: scikit-image's (`--packaged-photos`), which the fusion was trained on: its rows flatter it."
         if packaged else "Photos: those `workbench/synthetic/splits.py` holds out from the fusion's training "
         "and validation (opencv-doc's among them)."),
        "Reproduce: `.venv/bin/python -m bench.localization --per-kind --out docs/localization-bench.md` "
        "(its section only; the other sections of the file are kept).",
        "",
        "Pixel metrics are means over manipulated images (undefined on pristine ones); a map is "
        "binarised as map ≥ 0.5. Image AUC: the analyzer's score, or the map's p99 − median when it "
        "gives none, manipulated vs pristine. ΔAUC: pixel AUC minus that of a centre-prior map on the "
        "same images. s/MP: analyzer time per megapixel (decoding excluded), one thread; × ELA: its "
        "ratio to ELA's in this run. Definitions: `workbench/core/metrics.py`.",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="images in the dataset (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: n = 30")
    parser.add_argument("--methods", help="comma-separated analyzer ids (default: every localisation analyzer)")
    parser.add_argument("--data", type=Path, help="dataset folder (default: a cache folder per seed/n/recipe)")
    parser.add_argument("--out", type=Path, help="also write the Markdown report to this file")
    parser.add_argument("--per-kind", action="store_true", help="add a table per manipulation kind")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE:CLASS",
                        help="also bench an analyzer not registered yet (repeatable)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--packaged-photos", action="store_true",
                        help="mixed set from the Python packages' photos (scikit-image's, which trained the fusion), "
                             "instead of the photos held out from the fusion's training (opencv-doc's among them)")
    parser.add_argument("--conditions", nargs="?", const="all", metavar="NAMES",
                        help="instead: the named conditions of workbench.synthetic.CONDITIONS (comma-separated, "
                             "default all) on photos held out from the fusion's training; --out then writes its "
                             "section of the file")
    parser.add_argument("--per-condition", type=int, default=30,
                        help="edited images per condition, and as many pristine ones (default 30)")
    args = parser.parse_args(argv)
    n = 30 if args.quick else args.n
    plugins = tuple(args.plugin)

    methods = localization_methods(args.methods.split(",") if args.methods else None, plugins)
    if REFERENCE in available(plugins) and REFERENCE not in methods:
        methods.append(REFERENCE)  # the time ratio needs it; cheap
    broken = {spec: err for spec, err in registry.load_errors().items() if spec.startswith(FAMILY)}
    for spec, err in broken.items():
        print(f"not loaded: {spec}: {err}", file=sys.stderr)

    if args.conditions:
        from bench.localization_conditions import run_conditions  # it builds on this module

        return run_conditions(args, methods, plugins)
    photos = packaged_photos() if args.packaged_photos else evaluation_photos()
    if len(photos) < 2:
        raise SystemExit("fewer than two held-out photos: install opencv-doc (Debian), or use --packaged-photos")
    folder, index = dataset(args.data, args.seed, n, args.workers, photos)
    print(f"running {', '.join(methods)} on {n} images with {args.workers} workers", flush=True)
    records = run_all(folder, index, methods, plugins, args.workers)
    by_method = group(records, methods)

    parts = [recipe_header(index, folder, methods, args.workers, args.packaged_photos), "", summary_table(by_method)]
    if args.per_kind:
        parts += ["", "## Per manipulation kind", "", per_kind_table(by_method)]
    notes = failures(by_method) + [f"* not loaded: `{spec}`: {err}" for spec, err in broken.items()]
    if notes:
        parts += ["", "## Runs that did not give a map", "", *notes]
    report = "\n".join(parts) + "\n"
    publish(report, args.out, keep=KEPT_SECTIONS)
    return 0


def group(records: list[Record], methods: list[str]) -> dict[str, list[Record]]:
    """Records by method (the baseline first), each list in image order."""
    return {m: sorted((r for r in records if r.method == m), key=lambda r: r.index) for m in (BASELINE, *methods)}


if __name__ == "__main__":
    raise SystemExit(main())
