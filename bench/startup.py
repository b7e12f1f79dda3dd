"""Time to window: from launching `workbench` (the sample case) to its window on screen.

    .venv/bin/python -m bench.startup [--repeat 5] [--out docs/startup.md]

Each run is a fresh process launched the way a double-click launches it (`python -m workbench`, no
file: the sample case, built once beforehand), offscreen; it prints the seconds since launch when
the window has been shown and the event loop has run once (`WORKBENCH_LAUNCHED_AT`, read in
`workbench.ui.app`). Baseline in the same bench, alternating with it: a bare PySide6 window (import
PySide6 and QtWebEngine, make a QApplication and a QMainWindow, show it), i.e. what Qt itself costs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import publish

BARE_WINDOW = """
import os, sys, time
import PySide6.QtWebEngineWidgets
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
window = QMainWindow()
window.resize(1366, 768)
window.show()
QTimer.singleShot(0, lambda: (print(f"window shown {time.time() - float(os.environ['WORKBENCH_LAUNCHED_AT']):.3f}",
                                    flush=True), app.quit()))
app.exec()
"""


def launch(command: list[str], env: dict[str, str]) -> float:
    """Seconds from launch to the child's 'window shown' line."""
    env = {**env, "WORKBENCH_LAUNCHED_AT": repr(time.time())}
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300).stdout
    line = next((x for x in out.splitlines() if x.startswith("window shown")), None)
    if line is None:
        raise RuntimeError(f"{command}: no 'window shown' line in {out!r}")
    return float(line.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QTWEBENGINE_DISABLE_SANDBOX": "1",
           "WORKBENCH_DATA_DIR": tempfile.mkdtemp(prefix="wb-startup-")}
    app = [sys.executable, "-m", "workbench", "--quit-after-ms", "1"]
    first = launch(app, env)  # builds the sample case (photos, videos) once, as a first start does
    ours, bare = [], []
    for _ in range(args.repeat):
        ours.append(launch(app, env))
        bare.append(launch([sys.executable, "-c", BARE_WINDOW], env))
    median_ours, median_bare = statistics.median(ours), statistics.median(bare)
    lines = [
        "# Time to window",
        "",
        f"`python -m bench.startup --repeat {args.repeat}` on {platform.machine()}, {os.cpu_count()} cores, "
        "offscreen; the sample case (built by the first launch).",
        "",
        "| launch | median s | min s | max s |",
        "|---|---:|---:|---:|",
        f"| Forensic Workbench, sample case | {median_ours:.2f} | {min(ours):.2f} | {max(ours):.2f} |",
        f"| bare PySide6 window (Qt + QtWebEngine import, QApplication, QMainWindow) | {median_bare:.2f} | "
        f"{min(bare):.2f} | {max(bare):.2f} |",
        "",
        f"Ratio to the bare window: {median_ours / median_bare:.2f} ×. Very first launch (builds the sample "
        f"case): {first:.2f} s.",
    ]
    publish("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
