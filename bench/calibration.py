"""Calibration tables: what every image-level score looks like on real, unedited photographs.

    .venv/bin/python -m bench.calibration                       # every analyzer that can run, ~1-3 min
    .venv/bin/python -m bench.calibration --analyzers splicebuster,fusion --out-dir /tmp/tables

A raw score (Splicebuster's 0.95) means little until one knows how often untouched photos score
that high. This bench runs every registered analyzer whose image-level score says "how suspicious"
(default parameters, through `run_analyzer`, exactly as the app) on the photographs that installed
packages ship — as shipped, in their own JPEG/PNG encoding, which is what an authentic file looks
like — and writes one table per analyzer version beside its card
(`plugins/<family>/calibration/<id>.json`, read by `workbench.core.calibration`). The photo list is
explicit below; a file absent on this machine is skipped and counted, never replaced.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import publish
from workbench.core import registry
from workbench.core.calibration import Calibration, percent, table_path
from workbench.core.media import MediaKind, open_media
from workbench.core.plugin import Analyzer, RunContext, run_analyzer
from workbench.synthetic.photos import OPENCV_DOC_DATA, package_dir
from workbench.synthetic.splits import fusion_role

COMMAND = "python -m bench.calibration"


@dataclass(frozen=True)
class Source:
    """Photos one package ships, by file name."""

    label: str
    """How the population text and the report name the package."""
    folder: Callable[[], Path | None]
    names: tuple[str, ...]


SOURCES: tuple[Source, ...] = (
    Source("opencv-doc", lambda: OPENCV_DOC_DATA if OPENCV_DOC_DATA.is_dir() else None, (
        "aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "basketball1.png", "board.jpg",
        "box_in_scene.png", "building.jpg", "butterfly.jpg", "chicky_512.png", "ela_original.jpg",
        "fruits.jpg", "graf1.png", "graf3.png", "home.jpg", "left.jpg", "leuvenA.jpg", "leuvenB.jpg",
        "messi5.jpg", "orange.jpg", "pca_test1.jpg", "rubberwhale1.png", "squirrel_cls.jpg", "stuff.jpg",
    )),
    Source("scikit-image", lambda: package_dir("skimage", "data"), (
        "astronaut.png", "brick.png", "chelsea.png", "coffee.png", "coins.png", "grass.png", "gravel.png",
        "motorcycle_left.png", "rocket.jpg",
    )),
    Source("scikit-learn", lambda: package_dir("sklearn", "datasets", "images"), ("china.jpg", "flower.jpg")),
    Source("matplotlib", lambda: package_dir("matplotlib", "mpl-data", "sample_data"), ("grace_hopper.jpg",)),
)
"""Natural photographs only, one file per near-identical pair (a stereo pair's left view, a video's
first frame). Left out of opencv-doc: renderings (Blender_Suzanne*, ml, blox), drawings, logos and
synthetic shapes (HappyFish, *Logo*, pic1-6, cards, detect_blob, ellipses, gradient, mask, templ,
tmpl, opencv-logo*, notes), charts (chessboard, left01-14 and right01-14 calibration shots, digits,
sudoku), text (imageText*, text_defocus, text_motion), edited files (ela_modified: a pasted logo;
licenseplate_motion: synthetic blur; smarties: cut out on white), a painting (starry_night), the
second view of a near-identical pair (aloeR, right, basketball2, rubberwhale2), a ground-truth map
(aloeGT), the scans of prints widely re-processed as test images (baboon; box, a crop of box_in_scene).
Left out of scikit-image: camera (a decades-old scan, as baboon), telescope, microscope and medical
images (hubble_deep_field, moon, ihc, cell, retina, microaneurysms), text, drawings and synthetic
images (text, page, horse, logo, color, phantom, chessboard_*, clock_motion: synthetic blur) and
motorcycle_right (motorcycle_left's stereo pair)."""

CONTRAST = ("opencv-doc", "ela_modified.jpg")
"""An edited photo the bench scores too, for the report only: a sanity check, never in a table."""

RESERVED = (Path("/usr/share/backgrounds"), Path("/usr/share/wallpapers"), Path("/usr/share/desktop-base"),
            Path("/usr/share/images/desktop-base"))
"""Where Debian's desktop-background packages put their photos: kept for held-out evaluation."""

NOT_SUSPICION = {
    "geolocation": "its score is how sure the place estimate is, not how suspicious the image is",
    "deepfake.faces": "face detection: a face count and detector confidences, not suspicion",
}
"""Analyzers with an image-level number that is not a "how suspicious" score."""

SPLIT_TRAINING: tuple[Callable[[str], bool], str] = (
    lambda key: fusion_role(key) == "train", "photos its training samples were made from")
TRAINED_ON: dict[str, tuple[Callable[[str], bool], str]] = {"fusion": SPLIT_TRAINING, "noise_trace": SPLIT_TRAINING}
"""Photos left out of one analyzer's table because its model was trained on views of them (for the
fusion and the noise trace: `workbench.synthetic.splits`, which the training script and the condition bench read too):
a learned analyzer scores its own training scenes lower, which would make real photos look unusual."""

MIN_SCORES = 10
"""Fewer scores than this give no table: "higher than all 3 photos" would be no calibration."""


@dataclass(frozen=True)
class Photo:
    source: str
    path: Path

    @property
    def key(self) -> str:
        return f"{self.source}/{self.path.name}"


def reserved(path: Path) -> bool:
    """True for a path inside (or linking into) the reserved desktop-background folders."""
    for candidate in {Path(path).absolute(), Path(path).resolve()}:
        if any(candidate.is_relative_to(folder) for folder in RESERVED):
            return True
        if any(part.endswith("-backgrounds") or part in ("backgrounds", "wallpapers") for part in candidate.parts):
            return True
    return False


def collect(sources: Iterable[Source] = SOURCES) -> tuple[list[Photo], Counter[str]]:
    """The listed photos found on this machine, in list order, and how many of each source were
    skipped: absent (a missing package counts all its names) or inside the reserved folders."""
    found: list[Photo] = []
    skipped: Counter[str] = Counter()
    for source in sources:
        folder = source.folder()
        for name in source.names:
            path = None if folder is None else folder / name
            if path is None or not path.is_file() or reserved(path):
                skipped[source.label] += 1
            else:
                found.append(Photo(source.label, path))
    return found, skipped


def contrast_photo() -> Photo | None:
    label, name = CONTRAST
    source = next(s for s in SOURCES if s.label == label)
    folder = source.folder()
    return Photo(label, folder / name) if folder is not None and (folder / name).is_file() else None


# -- what to run ---------------------------------------------------------------------------------


def candidates(only: Iterable[str] = ()) -> tuple[list[Analyzer], dict[str, str]]:
    """Registered image analyzers that can run here and whose score says "how suspicious", and why
    each other one is skipped."""
    wanted = set(only)
    chosen: list[Analyzer] = []
    skipped: dict[str, str] = {}
    for analyzer_id, analyzer in registry.analyzers().items():
        if wanted and analyzer_id not in wanted:
            continue
        if MediaKind.IMAGE not in analyzer.accepts:
            skipped[analyzer_id] = "does not analyse still images"
        elif analyzer_id in NOT_SUSPICION:
            skipped[analyzer_id] = NOT_SUSPICION[analyzer_id]
        elif not registry.ready(analyzer):
            skipped[analyzer_id] = "its models are not installed"
        else:
            chosen.append(analyzer)
    unknown = wanted - set(registry.analyzers())
    if unknown:
        raise SystemExit(f"unknown analyzer(s): {', '.join(sorted(unknown))}")
    return chosen, skipped


def excluded_for(analyzer_id: str) -> tuple[set[str], str]:
    """Keys ("source/name") of the photos left out of this analyzer's table, and why."""
    if analyzer_id not in TRAINED_ON:
        return set(), ""
    trained, why = TRAINED_ON[analyzer_id]
    return {f"{s.label}/{n}" for s in SOURCES for n in s.names if trained(f"{s.label}/{n}")}, why


def scores_of(analyzers: list[Analyzer], photos: list[Photo]) -> Iterator[tuple[Photo, str, float | None, str]]:
    """(photo, analyzer id, score or None, status message) for every pair, photo by photo so the
    analyzers share each photo's cached values as in the app."""
    for n, photo in enumerate(photos, 1):
        print(f"[{n}/{len(photos)}] {photo.key}", file=sys.stderr, flush=True)
        media = open_media(photo.path)
        for analyzer in analyzers:
            result = run_analyzer(analyzer, media, analyzer.params_from(), RunContext())
            score = result.score if result.ok and result.score is not None and math.isfinite(result.score) else None
            yield photo, analyzer.id, score, "" if result.ok else f"{result.status.value}: {result.message}"


# -- tables --------------------------------------------------------------------------------------


def population(photos: list[Photo], left_out: str = "") -> str:
    """The words after the count in "higher than 97 % of 36 …": the packages and the file formats."""
    labels = list(dict.fromkeys(p.source for p in photos))
    names = ", ".join(labels[:-1]) + f" and {labels[-1]}" if len(labels) > 1 else labels[0]
    formats = "/".join(sorted({"PNG" if p.path.suffix.lower() == ".png" else "JPEG" for p in photos}))
    text = f"unedited photos shipped by {names}, as their own {formats} files"
    return f"{text}, without {left_out}" if left_out else text


def noun(photos: list[Photo]) -> str:
    """The short words beside a score: "unedited photos", or "unedited JPEG photos" for a JPEG-only method."""
    return "unedited JPEG photos" if all(p.path.suffix.lower() in {".jpg", ".jpeg"} for p in photos) else \
        "unedited photos"


def versions() -> dict[str, str]:
    """Versions of the packages that shape the scores and the photo set, for the table's record."""
    found = {}
    for name in ("forensic-workbench", "numpy", "opencv-python-headless", "torch", "scikit-image", "scikit-learn",
                 "matplotlib"):
        try:
            found[name] = package_version(name)
        except PackageNotFoundError:
            continue
    return found


def table_doc(table: Calibration, photos: list[Photo], scores: dict[str, float]) -> dict[str, Any]:
    """The JSON written: the table `workbench.core.calibration` reads, plus what it was made from."""
    return {**table.to_json(), "sources": dict(Counter(p.source for p in photos)), "versions": versions(),
            "photos": {p.key: round(scores[p.key], 6) for p in photos}}


def percentiles(scores: Iterable[float]) -> dict[str, float]:
    values = np.asarray(list(scores), dtype=np.float64)
    return dict(zip(("median", "p90", "p95", "p99"), np.percentile(values, [50, 90, 95, 99]).tolist(), strict=True))


# -- report --------------------------------------------------------------------------------------


def report(made: list[tuple[Calibration, list[Photo]]], skipped: dict[str, str], photos: list[Photo],
           skipped_photos: Counter[str], contrast: dict[str, float], seconds: float) -> str:
    counts = Counter(p.source for p in photos)
    lines = [
        "# Calibration on unedited photos", "",
        f"Photos: {len(photos)} ({', '.join(f'{s} {c}' for s, c in counts.items())}); skipped (absent): "
        + (", ".join(f"{s} {c}" for s, c in skipped_photos.items()) or "none") + f". Run time {seconds:.0f} s.", "",
        "| analyzer | version | photos | median | p90 | p95 | p99 | max | "
        f"{CONTRAST[1]} (edited): score, rank |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for table, _ in made:
        p = percentiles(table.scores)
        edited = contrast.get(table.analyzer)
        cell = "—" if edited is None else f"{edited:.3f}, {percent(table.rank(edited))}"
        lines.append(f"| {table.analyzer} | {table.version} | {table.count} | {p['median']:.3f} | {p['p90']:.3f} | "
                     f"{p['p95']:.3f} | {p['p99']:.3f} | {table.scores[-1]:.3f} | {cell} |")
    if skipped:
        lines += ["", "Not calibrated:", ""] + [f"* {a}: {why}" for a, why in skipped.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--analyzers", default="", help="comma-separated ids (default: every one that qualifies)")
    parser.add_argument("--out-dir", type=Path, help="write the tables here instead of beside each card")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    command = " ".join([COMMAND, *(shlex.quote(a) for a in argv if a)])

    analyzers, skipped = candidates(a for a in args.analyzers.split(",") if a)
    photos, absent = collect()
    if not photos:
        raise SystemExit("no photos found: install scikit-image (and opencv-doc, scikit-learn, matplotlib)")
    started = time.perf_counter()
    scores: dict[str, dict[str, float]] = {a.id: {} for a in analyzers}
    failures: dict[str, Counter[str]] = {a.id: Counter() for a in analyzers}
    for photo, analyzer_id, score, message in scores_of(analyzers, photos):
        if score is not None:
            scores[analyzer_id][photo.key] = score
        elif message:
            failures[analyzer_id][message] += 1
    contrast: dict[str, float] = {}
    edited = contrast_photo()
    if edited is not None:
        contrast = {a: s for _, a, s, _ in scores_of(analyzers, [edited]) if s is not None}
    seconds = time.perf_counter() - started

    made_at = datetime.now(UTC).date().isoformat()
    made: list[tuple[Calibration, list[Photo]]] = []
    for analyzer in analyzers:
        left_out, why = excluded_for(analyzer.id)
        used = [p for p in photos if p.key in scores[analyzer.id] and p.key not in left_out]
        dropped = sum(p.key in left_out for p in photos)
        if len(used) < MIN_SCORES:
            reasons = "; ".join(f"{m} ({c}×)" for m, c in failures[analyzer.id].items())
            skipped[analyzer.id] = (f"a score on {len(used)} photo(s) only" if used else "no image-level score") + (
                f" ({reasons})" if reasons else "")
            continue
        table = Calibration(analyzer.id, analyzer.version, population(used, f"the {dropped} {why}" if dropped else ""),
                            tuple(sorted(scores[analyzer.id][p.key] for p in used)), command, made_at, noun(used))
        path = (args.out_dir / f"{analyzer.id}.json") if args.out_dir else table_path(analyzer.card_file, analyzer.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(table_doc(table, used, scores[analyzer.id]), indent=1) + "\n", encoding="utf-8")
        print(f"written {path}", file=sys.stderr)
        made.append((table, used))
    publish(report(made, skipped, photos, absent, contrast, seconds), args.out)


if __name__ == "__main__":
    main()
