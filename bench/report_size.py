"""The PDF report of an 8-item case: pages, megabytes and export time, against a baseline report.

    .venv/bin/python -m bench.report_size [--case DIR] [--baseline main] [--out docs/report-size.md]

The case (`workbench.app.sample.write_case_evidence`: five camera-sized photos, a splice, two short
clips) is analysed with the Triage analyzers as the app runs them: metadata, ELA, noise residue,
JPEG ghosts, ADQ, BLK, CFA, copy-move, the fusion localiser, faces and the deepfake ensemble on the
images (the ensemble is unavailable without its weights); metadata, faces, the ensemble and ELA
per frame on the clips. Three findings with regions and one on a clip's span are added. `--case DIR`
keeps the analysed case there and re-uses it on the next run. The baseline is the report module
of another git revision (`--baseline`, default `main`), run on the same case in the same process.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from bench.report import publish
from workbench.app.analysis import Planned, analyze
from workbench.app.case import Case
from workbench.app.importing import import_paths
from workbench.app.report import write_pdf
from workbench.app.sample import CASE_LONG_SIDE, splice_box, write_case_evidence
from workbench.core import registry
from workbench.core.media import MediaKind

IMAGE_ANALYZERS = ("metadata", "ela", "noise_median", "jpeg_ghost", "adq", "blk", "cfa", "copy_move", "fusion",
                   "deepfake.faces", "deepfake.ensemble")
VIDEO_ANALYZERS = ("metadata", "deepfake.faces", "deepfake.ensemble", "ela")
PAINTER = "workbench.app.qt_paint"


def build_case(root: Path) -> Case:
    """Import and analyse the eight files, then record the analyst's findings."""
    case = Case.create(root / "case")
    case.set_details("Harbour fire 2024-031", "Dana Q. Examiner", "Regional Forensic Unit")
    import_paths(case, write_case_evidence(root / "evidence"))
    for item in case.all_evidence():
        ids = VIDEO_ANALYZERS if item.kind == MediaKind.VIDEO.value else IMAGE_ANALYZERS
        plan = [Planned(registry.get(i), registry.get(i).params_from({})) for i in ids]
        t0 = time.perf_counter()
        analyze(case, item, plan)
        print(f"  analysed #{item.id} {item.name} in {time.perf_counter() - t0:.1f} s", flush=True)
    by_name = {e.name: e for e in case.all_evidence()}
    splice = by_name["astronaut_spliced.jpg"]
    runs = {r.result.analyzer: r for r in case.latest_runs(splice.id)}
    x0, y0, x1, y1 = splice_box((splice.height, splice.width))
    case.add_finding(splice.id, "The cup area does not share the photo's compression history: pasted in.",
                     runs["fusion"].id, "Fusion localiser", {"kind": "rect", "points": [[x0, y0], [x1, y1]]})
    case.add_finding(splice.id, "ELA brighter along the cup's rim than anywhere else in the image.",
                     runs["ela"].id, "Error level analysis",
                     {"kind": "freehand", "points": [[x0, y0], [x1, y0 + 40], [x1 - 30, y1], [x0 + 20, y1 - 10]]})
    case.add_finding(by_name["astronaut.jpg"].id, "Camera original of the spliced copy (same scene, no paste).")
    clip = by_name["interview.mp4"]
    case.add_finding(clip.id, "The face is visible throughout; compare with the witness statement.", None,
                     "Original", {"kind": "rect", "points": [[150, 60], [330, 280]]}, time_start=1.0, time_end=2.5)
    return case


def git_module(revision: str, paths: tuple[str, ...], name: str) -> ModuleType:
    """The module at the first of `paths` that exists at `revision`, loaded under `name`."""
    for path in paths:
        shown = subprocess.run(["git", "show", f"{revision}:{path}"], capture_output=True, text=True)
        if shown.returncode == 0:
            break
    else:
        raise SystemExit(f"none of {paths} at {revision}")
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look it up
    exec(compile(shown.stdout, f"{revision}:{path}", "exec"), module.__dict__)  # noqa: S102 - our own git history
    return module


def baseline_writer(revision: str) -> Callable[[Case, Path], Path]:
    """`write_pdf` of the report at `revision`, painting with that revision's `qt_paint` too."""
    report = git_module(revision, ("workbench/app/report.py", "workbench/app/report/__init__.py"),
                        f"baseline_report_{revision}")
    painter = git_module(revision, ("workbench/app/qt_paint.py",), f"baseline_qt_paint_{revision}")

    def write(case: Case, pdf: Path) -> Path:
        current = sys.modules.get(PAINTER)
        sys.modules[PAINTER] = painter  # write_pdf imports it when called
        try:
            return report.write_pdf(case, pdf)
        finally:
            if current is None:
                del sys.modules[PAINTER]
            else:
                sys.modules[PAINTER] = current

    return write


def pages(pdf: Path) -> int:
    from PySide6.QtPdf import QPdfDocument

    doc = QPdfDocument()
    doc.load(str(pdf))
    return doc.pageCount()


def measure(write: Callable[[Case, Path], Path], case: Case, pdf: Path) -> tuple[int, float, float]:
    t0 = time.perf_counter()
    write(case, pdf)
    seconds = time.perf_counter() - t0
    return pages(pdf), pdf.stat().st_size / 1e6, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", type=Path, help="keep the analysed case here (re-used when present)")
    parser.add_argument("--baseline", default="main", help="git revision of the baseline report (default main)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.case or Path(tmp)
        if (root / "case" / "case.sqlite").is_file():
            case = Case.open(root / "case")
        else:
            print("Analysing the 8-item case…", flush=True)
            case = build_case(root)
        rows = []
        for label, write in ((f"baseline ({args.baseline})", baseline_writer(args.baseline)),
                             ("this tree", write_pdf)):
            count, mb, seconds = measure(write, case, Path(tmp) / f"{len(rows)}.pdf")
            rows.append(f"| {label} | {count} | {mb:.1f} | {seconds:.1f} |")
        runs = sum(len(case.latest_runs(e.id)) for e in case.all_evidence())
        findings = len(case.findings())
        case.close()
    report = "\n".join([
        "# Report size: 8-item case", "",
        f"{runs} results on 8 items (6 images at {CASE_LONG_SIDE} px long side, 2 clips of 4 s), {findings} "
        f"findings. Python {sys.version.split()[0]}, {platform.machine()}.", "",
        "| report | pages | MB | export s |", "| --- | ---: | ---: | ---: |", *rows])
    publish(report, args.out)


if __name__ == "__main__":
    main()
