"""Copy-move bench: the dense-field detector against the keypoint one, in the same run, on rotated
(5–20°) and scaled (0.9–1.15) copy-moves of real photos saved once as JPEG (q85–95), on the same
made on smooth or repetitive texture photos, and on pristine images of both (false alarms).

    .venv/bin/python -m bench.copy_move_dense --n 60 --out /tmp/copy-move-dense.md

Images are generated in memory (`workbench.synthetic.make_sample`, nothing written). Pixel AUC is
computed twice: against the generator's mask (the copy only, as `bench/localization.py` does) and
against copy ∪ source (the source region rebuilt from the map the generator records).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bench.report import publish
from workbench.core.media import open_media
from workbench.core.metrics import image_auc, mean_defined, pixel_metrics
from workbench.core.plugin import RunContext, run_analyzer
from workbench.synthetic import Recipe, make_sample, source_photos

METHODS = {
    "copy_move": "plugins.localization.copy_move:CopyMoveAnalyzer",
    "copy_move_dense": "plugins.localization.copy_move_dense:CopyMoveDenseAnalyzer",
}
RECIPE = Recipe(
    p_rotate_scale=1.0, rotation_deg=(5.0, 20.0), scale=(0.9, 1.15), p_double_jpeg=0.0, p_resize=0.0,
    p_blur=0.0, p_noise=0.0, p_jpeg=1.0, jpeg_quality=(85, 95),
)
TEXTURES = ("brick.png", "grass.png", "gravel.png", "moon.png")
"""scikit-image's smooth or repetitive photos: bricks, grass and gravel repeat, the moon is smooth."""


@dataclass
class Record:
    method: str
    condition: str
    kind: str
    auc: float
    auc_both: float
    f1: float
    score: float
    flagged: float
    seconds: float
    megapixels: float
    label: str


def source_mask(sample_chain: Sequence[str], target: np.ndarray) -> np.ndarray:
    """The copied region's source, rebuilt from the generator's record (centre shift, rotation,
    scale: dst(p) = src(M p) with M p = source + scale·R·(p − target centre))."""
    step = next(s for s in sample_chain if s.startswith("copy_move:"))
    values = dict(re.findall(r"(\w+)=(-?[\d.]+)", step))
    ys, xs = np.nonzero(target)
    centre = np.array([(xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2])
    source = centre + [float(values["from_dx"]), float(values["from_dy"])]
    linear = cv2.getRotationMatrix2D((0.0, 0.0), float(values.get("rot", 0)), float(values.get("scale", 1)))[:, :2]
    matrix = np.hstack([linear, (source - linear @ centre)[:, None]])
    h, w = target.shape
    return cv2.warpAffine(target.astype(np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST).astype(bool)


def evaluate(job: tuple[str, str, int, int, tuple[Path, ...], Path, dict[str, dict[str, str]]]) -> list[Record]:
    """Both methods on one generated image (written to a scratch file, read back as evidence)."""
    condition, kind, seed, index, photos, scratch, overrides = job
    sample = make_sample(seed, index, kind, RECIPE, photos)
    data, suffix = sample.encoded()
    path = scratch / f"{condition}-{kind}-{index}{suffix}"
    path.write_bytes(data)
    media = open_media(path)
    media.pixels()
    both = sample.mask | source_mask(sample.chain, sample.mask) if sample.mask.any() else sample.mask
    out = []
    for method, spec in METHODS.items():
        module, _, name = spec.partition(":")
        analyzer = getattr(__import__(module, fromlist=[name]), name)()
        t0 = time.process_time()  # CPU time of this one-thread worker: fair on a shared machine
        result = run_analyzer(analyzer, media, analyzer.params_from(overrides.get(method, {})), RunContext())
        seconds = time.process_time() - t0
        assert result.ok, result.message
        target, union = pixel_metrics(result.map, sample.mask), pixel_metrics(result.map, both)
        out.append(Record(method, condition, kind, target["auc"], union["auc"], union["best_f1"],
                          float(result.score), float(result.mask.mean()), seconds, media.megapixels,
                          f"{index} {sample.sources[0]} {sample.image.shape[:2]} {' '.join(sample.chain)}"))
    path.unlink()
    return out


def jobs(n: int, seed: int, scratch: Path, overrides: dict[str, dict[str, str]]) -> list[tuple]:
    photos = source_photos()
    real = tuple(p for p in photos if p.name not in TEXTURES)
    texture = tuple(p for p in photos if p.name in TEXTURES)
    todo = []
    for condition, chosen, count in (("real photos", real, n), ("texture", texture, max(4, n // 2))):
        for kind in ("copy_move", "pristine"):
            todo += [(condition, kind, seed, i, chosen, scratch, overrides) for i in range(count)]
    return todo


def table(records: list[Record]) -> str:
    lines = [
        "| method | condition | pixel AUC (copy) | pixel AUC (copy ∪ source) | best-F1 (copy ∪ source) "
        "| image AUC vs pristine | pristine flagged (score > 0) | pristine area flagged | CPU s/MP | n |",
        "|---|---|" + "---:|" * 8,
    ]
    for method in METHODS:
        for condition in ("real photos", "texture"):
            mine = [r for r in records if r.method == method and r.condition == condition]
            cm = [r for r in mine if r.kind == "copy_move"]
            pristine = [r for r in mine if r.kind == "pristine"]
            mp = sum(r.megapixels for r in mine)
            cells = [mean_defined(getattr(r, key) for r in cm)[0] for key in ("auc", "auc_both", "f1")]
            cells.append(image_auc((r.score for r in mine), (r.kind == "copy_move" for r in mine)))
            cells.append(float(np.mean([r.score > 0 for r in pristine])))
            cells.append(float(np.mean([r.flagged for r in pristine])))
            cells.append(sum(r.seconds for r in mine) / mp)
            lines.append(f"| {method} | {condition} | " + " | ".join(f"{c:.3f}" for c in cells)
                         + f" | {len(cm)} + {len(pristine)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=60, help="copy-moves and pristine images of real photos each "
                        "(half as many of each on textures)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/copy-move-dense-bench"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="METHOD.PARAM=VALUE",
                        help="a parameter other than the default (repeatable)")
    parser.add_argument("--details", action="store_true", help="also print one line per image and method")
    args = parser.parse_args(argv)
    args.scratch.mkdir(parents=True, exist_ok=True)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    overrides: dict[str, dict[str, str]] = {}
    for item in args.set:
        name, _, value = item.partition("=")
        method, _, key = name.partition(".")
        overrides.setdefault(method, {})[key] = value
    todo = jobs(args.n, args.seed, args.scratch, overrides)
    records: list[Record] = []
    with multiprocessing.get_context("spawn").Pool(args.workers, initializer=cv2.setNumThreads, initargs=(1,)) as pool:
        for done, recs in enumerate(pool.imap_unordered(evaluate, todo), start=1):
            records.extend(recs)
            if done % 20 == 0:
                print(f"  {done}/{len(todo)}", flush=True)
    if args.details:
        for r in sorted(records, key=lambda r: (r.condition, r.kind, r.label, r.method)):
            print(f"{r.method:16} {r.condition:11} {r.kind:9} AUC {r.auc:.3f} score {r.score:.3f} "
                  f"flagged {r.flagged:.3f} {r.seconds / r.megapixels:.2f} s/MP  {r.label}")
    report = "\n".join([
        f"Seed {args.seed}; recipe: copy-move rotated {RECIPE.rotation_deg[0]:g}–{RECIPE.rotation_deg[1]:g}°, "
        f"scaled {RECIPE.scale[0]:g}–{RECIPE.scale[1]:g}, region {RECIPE.copy_move_area[0]:.0%}–"
        f"{RECIPE.copy_move_area[1]:.0%} of the image, hard or feathered edge, one JPEG save "
        f"q{RECIPE.jpeg_quality[0]}–{RECIPE.jpeg_quality[1]}; images {RECIPE.size_range[0]}–{RECIPE.size_range[1]} px. "
        f"Texture photos: {', '.join(TEXTURES)}. {args.workers} worker processes of one thread each"
        + (f"; parameters: {', '.join(args.set)}." if args.set else ", default parameters."),
        "",
        table(records),
    ]) + "\n"
    publish(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
