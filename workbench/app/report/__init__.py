"""The PDF case report: what an investigator files, built from the very Results the GUI shows.

Order: title and case facts; 1. the evidence with hashes re-verified now; 2. a summary per item
(the analyst's findings drawn on their layer, then the strongest signals with their calibrated
wording); 3. details of the results the analyst includes; 4. one table of the analyses that gave
no result; appendix A, each method's card once; appendix B, the audit log.

`build_report` makes HTML plus figures (numpy, no Qt), one item at a time so a case of camera photos
never holds every map at once; `write_pdf` paints them with QTextDocument onto a QPdfWriter,
offscreen, on whichever thread calls it, so the CLI and the GUI (as a background job) share one
report.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from workbench import __version__
from workbench.app.case import Case, Run, RunDamaged
from workbench.app.report.appendix import Method, audit_html, failures_html, methods_html
from workbench.app.report.details import details_html, split_included
from workbench.app.report.evidence import HashCheck, Item, evidence_table, key_metadata, verify_hash
from workbench.app.report.markup import CSS, e, heading, kv_table
from workbench.app.report.summary import summary_html
from workbench.app.triage import failures
from workbench.core.hashing import sha256_file
from workbench.core.plugin import current_user

__all__ = ["HashCheck", "Report", "ReportCancelled", "build_report", "verify_hash", "write_pdf"]

Progress = Callable[[float, str], None]
Cancelled = Callable[[], bool]

HASHING, ITEMS, PAINTING = 0.3, 0.9, 1.0
"""Where each stage of the export ends, as a fraction of the progress bar."""


class ReportCancelled(Exception):
    """The export was cancelled; no file was written at the report's path."""


@dataclass
class Report:
    html: str
    figures: dict[str, np.ndarray] = field(default_factory=dict)


class _Steps:
    """Progress to the caller, and the place where a cancel request stops the export."""

    def __init__(self, progress: Progress | None, cancelled: Cancelled | None) -> None:
        self._progress, self._cancelled = progress, cancelled

    def __call__(self, fraction: float, message: str) -> None:
        if self._cancelled is not None and self._cancelled():
            raise ReportCancelled("report export cancelled")
        if self._progress is not None:
            self._progress(min(max(fraction, 0.0), 1.0), message)


def build_report(case: Case, progress: Progress | None = None, cancelled: Cancelled | None = None) -> Report:
    step = _Steps(progress, cancelled)
    evidence = case.all_evidence()
    total = max(1, sum(ev.size for ev in evidence))
    items, hashed = [], 0
    for ev in evidence:
        step(HASHING * hashed / total, f"Verifying the hash of {ev.name}")
        items.append(Item(ev, verify_hash(ev)))
        hashed += ev.size
    figures: dict[str, np.ndarray] = {}
    summaries, details, metadata, failed, damaged = [], [], {}, {}, {}
    methods: dict[str, Method] = {}
    for i, item in enumerate(items):
        ev = item.evidence
        step(HASHING + (ITEMS - HASHING) * i / max(len(items), 1), f"Drawing the figures of {ev.name}")
        runs = case.latest_runs(ev.id)  # the maps of one item at a time: released after its sections
        metadata[ev.id], failed[ev.id] = key_metadata(runs), failures(runs)
        damaged[ev.id] = case.damaged_runs(ev.id)
        included, left_out = split_included(case, ev.id, runs)
        summaries.append(summary_html(case, item, runs, damaged[ev.id], figures))
        details.append(details_html(item, included, left_out, figures))
        for run in _shown(case, ev.id, included):
            methods.setdefault(run.result.analyzer, Method.of(run.result))
    step(ITEMS, "Writing the appendix")
    parts = [
        f"<html><head><style>{CSS}</style></head><body>",
        f"<h1>Forensic report: {e(case.name)}</h1>",
        kv_table([
            ("Case", case.name),
            ("Analyst", case.analyst),
            ("Organisation", case.organisation or "—"),
            ("Report date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
            ("Tool", f"Forensic Workbench {__version__}"),
            ("Exported by", current_user()),
            ("Case folder", str(case.root)),
        ]),
        "<p class='note'>Contents: 1 Evidence · 2 Summary (findings and strongest signals per item) · 3 Details of "
        "the results included · 4 Analyses without a result · Appendix A Methods · Appendix B Audit log.</p>",
        heading(2, "1. Evidence"),
        evidence_table(items, metadata),
        heading(2, "2. Summary"),  # on the first page, under the evidence: what a reader reads first
        *summaries,
        heading(2, "3. Details", new_page=True),
        "<p class='note'>The results the analyst included (by default every analysis that gave a result).</p>",
        *details,
        heading(2, "4. Analyses without a result"),
        failures_html(failed, damaged),
        heading(2, "Appendix A. Methods", new_page=True),
        methods_html(list(methods.values())),
        heading(2, "Appendix B. Audit log"),
        audit_html(case.audit()),
        "</body></html>",
    ]
    return Report("\n".join(parts), figures)


def _shown(case: Case, evidence_id: int, included: list[Run]) -> list[Run]:
    """The results whose method the appendix explains: those included, and those findings rest on."""
    ids = {r.id for r in included}
    extra = []
    for finding in case.findings(evidence_id):
        if finding.run_id is not None and finding.run_id not in ids:
            try:
                extra.append(case.run(finding.run_id))
            except (KeyError, RunDamaged):
                continue
    return included + extra


def write_pdf(case: Case, path: str | Path, progress: Progress | None = None,
              cancelled: Cancelled | None = None) -> Path:
    """Paint the report to a PDF (A4) and record it, with its SHA-256, in the audit log.

    Safe on a worker thread (with the application's QGuiApplication on the main thread), reporting
    `progress(fraction, message)`; when `cancelled()` turns true it stops, raises ReportCancelled,
    and leaves no file at `path`: the PDF is painted to a temporary file beside it, then renamed.
    """
    from workbench.app.qt_paint import paint_pdf

    path = Path(path)
    if not path.parent.is_dir():
        raise OSError(f"cannot write the report: folder {path.parent} does not exist")
    step = _Steps(progress, cancelled)
    partial = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.part")
    try:
        report = build_report(case, progress, cancelled)
        step(ITEMS, "Painting the PDF")
        title = f"Forensic report: {case.name}"

        def painted(page: int, pages: int) -> None:
            step(ITEMS + (PAINTING - ITEMS) * page / pages, f"Painted page {page} of {pages}")

        paint_pdf(report.html, report.figures, partial, title, f"{title} · {case.analyst}", painted)
        os.replace(partial, path)
    except ReportCancelled:
        partial.unlink(missing_ok=True)
        case.log("report export cancelled", str(path))
        raise
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    case.log("report exported", f"{path} sha256={sha256_file(path)}")
    return path
