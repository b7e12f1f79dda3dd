"""Per-condition localisation bench: every localisation map under one edit and one processing chain
at a time (`workbench.synthetic.CONDITIONS`), on natural photos the fusion was not trained on.

    .venv/bin/python -m bench.localization --conditions --out docs/localization-bench.md

The mixed set of `bench.localization` averages chains where a signal is decisive with chains that
erase it; this mode reports each condition apart: the mean pixel AUC of each analyzer's map on the
edited images, the image-level AUC of its score against the same samples left unedited (same host,
region and chain), and the centre-prior map for scale.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.localization import BASELINE, CONDITIONS_SECTION, Record, cached, evaluation_photos, fmt, group, run_all
from bench.report import publish_section
from workbench.core.metrics import image_auc, mean_defined
from workbench.synthetic import CONDITIONS, write_conditions
from workbench.synthetic.dataset import conditions_header


def chosen(names: str) -> list[str]:
    if names == "all":
        return list(CONDITIONS)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in CONDITIONS]
    if unknown:
        raise SystemExit(f"unknown condition(s): {', '.join(unknown)}; known: {', '.join(CONDITIONS)}")
    return wanted


def conditions_dataset(
    folder: Path | None, seed: int, n: int, names: list[str], workers: int
) -> tuple[Path, dict[str, Any]]:
    photos = evaluation_photos()
    if len(photos) < 2:
        raise SystemExit("fewer than two held-out photos: install opencv-doc (Debian) for the bench's photos")
    head = conditions_header(seed, n, names, photos)
    return cached(folder, f"cond-s{seed}-n{n}", head,
                  lambda out, progress: write_conditions(out, seed, n, names, photos, workers, progress))


# -- tables ----------------------------------------------------------------------------------------


def pixel_auc(records: list[Record]) -> str:
    """Mean pixel AUC over the edited images that gave a map; the count when some did not."""
    edited = [r for r in records if r.kind != "pristine"]
    mean, count = mean_defined(r.metrics.get("auc", float("nan")) for r in edited if r.status == "ok")
    return fmt(mean) + ("" if count in (0, len(edited)) else f" ({count}/{len(edited)})")


def score_auc(records: list[Record]) -> str:
    """Image-level AUC: edited against pristine images of the same condition, over runs that worked."""
    ok = [r for r in records if r.status == "ok"]
    return fmt(image_auc((r.score for r in ok), (r.kind != "pristine" for r in ok)))


def standard_errors(by_method: dict[str, list[Record]], names: list[str]) -> np.ndarray:
    """Per (method, condition) with two or more maps: the standard error of the mean pixel AUC."""
    errors = []
    for recs in by_method.values():
        for name in names:
            aucs = [r.metrics.get("auc", np.nan) for r in recs
                    if r.condition == name and r.kind != "pristine" and r.status == "ok"]
            aucs = np.array([a for a in aucs if np.isfinite(a)])
            if aucs.size > 1:
                errors.append(aucs.std(ddof=1) / np.sqrt(aucs.size))
    return np.array(errors)


def condition_table(
    by_method: dict[str, list[Record]], names: list[str], cell: Any, counts: str, what: str
) -> str:
    """Methods × conditions, then every condition pooled ("all"); the first header cell says `what` the
    cells are, so the table still reads right when bench/card_rows.py copies a method's row into its card."""
    lines = [f"| method ({what}) | " + " | ".join(names) + " | all |", "|---|" + "---:|" * (len(names) + 1)]
    for method, recs in by_method.items():
        cells = [cell([r for r in recs if r.condition == name]) for name in names]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {cell([r for r in recs if r.condition in names])} |")
    baseline = by_method[BASELINE]
    sizes = [sum(r.condition == name and (counts == "all" or r.kind != "pristine") for r in baseline) for name in names]
    lines.append("| images | " + " | ".join(map(str, sizes)) + f" | {sum(sizes)} |")
    return "\n".join(lines)


def report(
    index: dict[str, Any], folder: Path, names: list[str], by_method: dict[str, list[Record]], minutes: float,
    workers: int,
) -> str:
    items = index["items"]
    formats = Counter((item["condition"], Path(item["image"]).suffix) for item in items)
    described = [
        f"* `{name}` ({CONDITIONS[name].kind}): {CONDITIONS[name].description}; files "
        + ", ".join(f"{formats[(name, s)]} {s}" for s in (".jpg", ".png") if formats[(name, s)])
        for name in names
    ]
    methods = [m for m in by_method if m != BASELINE]
    errors = standard_errors(by_method, names)
    return "\n".join([
        "## Per condition",
        "",
        f"Dataset: `workbench.synthetic.CONDITIONS`, seed {index['seed']}: per condition {index['n']} edited "
        f"images and the same {index['n']} samples unedited (same host view, region and chain); every condition "
        f"draws the same hosts and regions; cached in `{folder}`.",
        f"Photos ({len(index['photos'])}): the natural photos of `bench/calibration.py` found here that "
        "`workbench/synthetic/splits.py` holds out from the fusion's training and validation (views of the "
        "others are never hosts nor donors): "
        f"{', '.join(index['photos'])}.",
        "",
        *described,
        "",
        f"Methods: {', '.join(methods)}, default parameters. Machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {workers} worker processes of one thread each; numpy {np.__version__}, "
        f"OpenCV {cv2.__version__}. Analysis time: {minutes:.1f} min.",
        "",
        "Reproduce: `.venv/bin/python -m bench.localization --conditions --out docs/localization-bench.md` "
        "(opencv-doc installed; scikit-learn's and matplotlib's photos join when importable).",
        "",
        "### Mean pixel AUC on the edited images",
        "",
        "Per image, the ROC AUC of the map against the exact mask, averaged over the condition's edited images "
        "(a count in brackets when only some gave a map: JPEG-only methods on PNGs). 0.5 is chance; below "
        "0.5 the map marks the edited region as *less* suspicious than the rest. Standard error of a cell "
        f"(spread of the per-image AUCs / √n): {errors.min():.3f}–{errors.max():.3f}, median "
        f"{np.median(errors):.3f}; conditions share hosts and regions, so differences between them are "
        "measured more precisely than that.",
        "",
        condition_table(by_method, names, pixel_auc, "edited", "mean pixel AUC"),
        "",
        "### Image AUC against the unedited images of the same condition",
        "",
        "The analyzer's score (the map's p99 − median when it has none), edited vs unedited: 0.5 is chance. "
        "\"all\" ranks every edited image against every unedited one, across conditions: one threshold for all.",
        "",
        condition_table(by_method, names, score_auc, "all", "image AUC vs unedited"),
    ])


def run_conditions(args: argparse.Namespace, methods: list[str], plugins: tuple[str, ...]) -> int:
    names = chosen(args.conditions)
    folder, index = conditions_dataset(args.data, args.seed, args.per_condition, names, args.workers)
    print(f"running {', '.join(methods)} on {len(index['items'])} images with {args.workers} workers", flush=True)
    t0 = time.perf_counter()
    records = run_all(folder, index, methods, plugins, args.workers)
    minutes = (time.perf_counter() - t0) / 60
    publish_section(report(index, folder, names, group(records, methods), minutes, args.workers), args.out,
                    CONDITIONS_SECTION)
    return 0
