"""Memory and case bytes of 100-megapixel images, against another git revision in the same run.

    .venv/bin/python bench/big_image.py [--baseline main] [--only png,jpeg] [--plans triage,four] [--out FILE.md]

Two generated 10,000×10,000 images (cached under ~/.cache/forensic-workbench/bench/big): a PNG of flat
regions (a photo enlarged and posterised: a few hundred KB on disk, 100 MP decoded) and a JPEG of a
photo enlarged with grain (quality 90). For each, and for each tree (this one, and `--baseline`
checked out in a temporary git worktree), separate processes that start from a bare interpreter:

* **import**: `Case.add_evidence` of the file into a new case (hash, validate, thumbnail);
* **triage**: `workbench.app.analysis.analyze` with the Triage preset's analyzers for the file
  (`plan_ids("triage", …)`, models that are installed), as the app runs them;
* **four**: ELA, noise (wavelet), JPEG ghosts and BLK, the four signals of the issue;
* **two at once** (`--two`): two such files analysed (plan `four`) on two threads, as the GUI's two
  job workers do.

Each process reports its peak resident memory (`getrusage`: the high-water mark of the whole process,
interpreter and libraries included; `idle` is that of a process that only imported them), the
wall time, and the bytes the run added to the case folder. The processes run one at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIDE = 10_000
FOUR = ("ela", "noise_wavelet", "jpeg_ghost", "blk")
CACHE = Path.home() / ".cache" / "forensic-workbench" / "bench" / "big"
REPO = Path(__file__).resolve().parent.parent


# -- the measured process (imports only from the tree under test) -------------------------------
def child(mode: str, case_dir: Path, files: list[Path], plan: str) -> dict[str, Any]:
    """One measurement, in a fresh process whose `workbench` is the tree under test."""
    import resource
    import threading

    from workbench.core.memory import keep_freed_memory

    keep_freed_memory()  # as the app does at start-up (workbench/__main__.py)
    from workbench.app.analysis import Planned, analyze
    from workbench.app.case import Case
    from workbench.core import registry
    from workbench.core.media import MediaKind
    from workbench.core.presets import plan_ids

    registry.analyzers()
    before = folder_bytes(case_dir)
    t0 = time.perf_counter()
    statuses: list[str] = []
    if mode == "import":
        case = Case.create(case_dir)
        for path in files:
            case.add_evidence(path)
    elif mode != "idle":
        case = Case.open(case_dir)
        items = case.all_evidence()

        def run(item: Any) -> None:
            ids = FOUR if plan == "four" else plan_ids("triage", {MediaKind.IMAGE}, formats={item.format})[0]
            planned = [Planned(registry.get(i), registry.get(i).params_from({})) for i in ids]
            statuses.extend(f"{r.result.analyzer}:{r.result.status.value}" for r in analyze(case, item, planned))

        threads = [threading.Thread(target=run, args=(item,)) for item in items]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    seconds = time.perf_counter() - t0
    return {
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "seconds": seconds,
        "written_mb": (folder_bytes(case_dir) - before) / 1e6,
        "statuses": statuses,
    }


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


# -- the driver --------------------------------------------------------------------------------
def images() -> dict[str, Path]:
    """The two 100-MP test files, generated once."""
    import cv2
    import numpy as np

    from workbench.app.sample import load_photo

    CACHE.mkdir(parents=True, exist_ok=True)
    paths = {"png": CACHE / f"flat_{SIDE}.png", "jpeg": CACHE / f"grain_{SIDE}.jpg"}
    if all(p.is_file() for p in paths.values()):
        return paths
    photo = cv2.cvtColor(load_photo("astronaut.png"), cv2.COLOR_RGB2BGR)
    big = cv2.resize(photo, (SIDE, SIDE), interpolation=cv2.INTER_LINEAR)
    flat = (big // 64) * 64 + 32  # posterised: wide flat regions, as in a screenshot or a drawing
    cv2.imwrite(str(paths["png"]), flat, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    del flat
    rng = np.random.default_rng(0)
    for top in range(0, SIDE, 1000):  # grain, band by band (no image-sized float array)
        band = big[top : top + 1000]
        band[:] = np.clip(band + rng.normal(0.0, 3.0, band.shape), 0, 255).astype(np.uint8)
    cv2.imwrite(str(paths["jpeg"]), big, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return paths


def measure(tree: Path, mode: str, case_dir: Path, files: list[Path], plan: str = "") -> dict[str, Any]:
    """Run `child` in a fresh interpreter on `tree`'s code."""
    env = os.environ | {"PYTHONPATH": str(tree), "QT_QPA_PLATFORM": "offscreen"}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, str(case_dir), plan,
               *map(str, files)]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"{mode} on {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def checkout(revision: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(into), revision], check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="main", help="git revision to compare with (default main); '' for none")
    parser.add_argument("--only", default="png,jpeg", help="files: png, jpeg or both")
    parser.add_argument("--plans", default="triage,four", help="plans: triage, four or both")
    parser.add_argument("--two", action="store_true", help="also two JPEGs (a copy) analysed at once, plan four")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    files = images()
    chosen = [f for f in args.only.split(",") if f]
    plans = [p for p in args.plans.split(",") if p]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        trees = {"this tree": REPO}
        if args.baseline:
            trees = {f"baseline ({args.baseline})": checkout(args.baseline, tmp_path / "baseline")} | trees
        try:
            for label, tree in trees.items():
                idle = measure(tree, "idle", tmp_path / "none", [])
                rows.append(f"| {label} | – | idle process | {idle['peak_mb']:,.0f} | – | – |")
                for name in chosen:
                    for plan in plans:
                        case_dir = tmp_path / f"case-{len(rows)}"
                        rows.append(row(label, name, "import", measure(tree, "import", case_dir, [files[name]])))
                        print(rows[-1], flush=True)
                        rows.append(row(label, name, plan, measure(tree, "analyze", case_dir, [], plan)))
                        print(rows[-1], flush=True)
                if args.two:
                    twin = tmp_path / "twin.jpg"
                    twin.write_bytes(files["jpeg"].read_bytes() + b"\0")  # another SHA-256, the same pixels
                    case_dir = tmp_path / f"case-{len(rows)}"
                    measure(tree, "import", case_dir, [files["jpeg"], twin])
                    rows.append(row(label, "2 × jpeg", "four, at once", measure(tree, "analyze", case_dir, [], "four")))
                    print(rows[-1], flush=True)
        finally:
            if args.baseline:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tmp_path / "baseline")])
    sizes = ", ".join(f"{n} {files[n].stat().st_size / 1e6:.1f} MB" for n in chosen)
    report = "\n".join([
        f"# 100-megapixel images: memory and case bytes ({SIDE:,}×{SIDE:,}; {sizes})", "",
        f"Python {sys.version.split()[0]}, {platform.machine()}, {os.cpu_count()} cores. Peak RSS of a fresh "
        "process per step (`getrusage`); written: bytes the step added to the case folder.", "",
        "| tree | file | step | peak MB | written MB | s |", "| --- | --- | --- | ---: | ---: | ---: |", *rows])
    print("\n" + report)
    if args.out:
        args.out.write_text(report + "\n", encoding="utf-8")


def row(label: str, name: str, step: str, got: dict[str, Any]) -> str:
    failed = [s for s in got["statuses"] if not s.endswith(":ok")]
    note = f" ({', '.join(failed)})" if failed else ""
    return (f"| {label} | {name} | {step}{note} | {got['peak_mb']:,.0f} | {got['written_mb']:,.1f} | "
            f"{got['seconds']:.0f} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, case_dir, plan, *paths = sys.argv[2:]
        print(json.dumps(child(mode, Path(case_dir), [Path(p) for p in paths], plan)))
    else:
        main()
