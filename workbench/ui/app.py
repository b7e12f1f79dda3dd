"""Starting the GUI: `workbench [FILES...] [--case DIR]`; no arguments opens the sample case."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime

from workbench.app.cli import positive_int


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="workbench", description="Forensic Workbench (GUI). "
                                     "Use `workbench analyze --help` for the command line.")
    parser.add_argument("files", nargs="*", help="images or folders to add to a new case")
    parser.add_argument("--case", help="open (or create) this case folder")
    parser.add_argument("--max-pixels", type=positive_int, help="refuse images above this many pixels")
    parser.add_argument("--quit-after-ms", type=int, help=argparse.SUPPRESS)  # smoke tests
    return parser.parse_args(argv)


def open_case(args: argparse.Namespace):  # noqa: ANN201 - returns workbench.app.case.Case
    from workbench.app.case import Case
    from workbench.app.sample import open_sample_case
    from workbench.core.paths import data_dir

    if args.case:
        return Case.open(args.case) if os.path.exists(os.path.join(args.case, "case.sqlite")) \
            else Case.create(args.case)
    if args.files:
        return Case.create(data_dir() / "cases" / datetime.now().strftime("case-%Y%m%d-%H%M%S"))
    return open_sample_case()


def collect_garbage_in_gui_thread() -> object:
    """Python's cyclic garbage collection, moved onto the GUI thread (a timer), and off everywhere else.

    A collection runs in whichever thread happens to allocate; when a job's worker thread collects a
    cycle that holds Qt widgets, Qt deletes them from the wrong thread and the process crashes.
    Keep the returned object alive as long as the application runs.
    """
    from pyqtgraph.util.garbage_collector import GarbageCollector

    return GarbageCollector(interval=1.0)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
    ):
        print("workbench: error: no display found (DISPLAY is not set). Run it in a desktop session, "
              "use `workbench analyze ...` for headless work, or set QT_QPA_PLATFORM=offscreen.",
              file=sys.stderr)
        return 2
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    try:
        import PySide6.QtWebEngineWidgets  # noqa: F401 - must be imported before the QApplication exists
    except ImportError:
        pass  # the map panel falls back to a static image
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from workbench.app.case import CaseError
    from workbench.core import preferences

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Forensic Workbench")
    collector = collect_garbage_in_gui_thread()  # noqa: F841 - alive until the event loop ends
    try:
        case = open_case(args)
    except (CaseError, OSError) as exc:
        QMessageBox.critical(None, "Forensic Workbench", f"Cannot open the case: {exc}")
        return 1
    from workbench.ui.main_window import MainWindow

    window = MainWindow(case, max_pixels=args.max_pixels)
    window.show()
    if os.environ.get("WORKBENCH_LAUNCHED_AT"):  # bench/startup.py: seconds from launch to a shown window
        QTimer.singleShot(0, lambda: print(
            f"window shown {time.time() - float(os.environ['WORKBENCH_LAUNCHED_AT']):.3f}", flush=True))
    if args.files:
        window.add_paths(args.files)
    elif not preferences.load().welcomed and not args.quit_after_ms:
        window.show_welcome()  # first run: the analyst's name, then drop → triage → layers → finding → report
    if args.quit_after_ms:
        QTimer.singleShot(args.quit_after_ms, window.close)
    return app.exec()
