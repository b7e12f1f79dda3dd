"""The report's back matter: analyses that gave no result (one table), each method's card once,
and the case's audit log."""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.app.cards import card_sections, markdown_to_html
from workbench.app.case import AuditEntry, Run
from workbench.app.report.markup import e, heading, table
from workbench.app.run_check import DamagedRun
from workbench.app.triage import failures, title_of
from workbench.core import registry
from workbench.core.results import Heatmap, Result

CARD_SECTIONS = ("What it shows", "How to read it", "Limits")
MISSING_MODEL = re.compile(r"model '([^']+)' not installed")


def failures_html(runs: dict[int, list[Run]], damaged: dict[int, list[DamagedRun]]) -> str:
    """Failed, unavailable and cancelled analyses, one row per analyzer, status and reason (a model
    missing on every item is said once), with the models to install for unavailable ones; then the
    stored runs left out as damaged, with why and what is shown instead."""
    grouped: dict[tuple[str, str, str], list[int]] = {}
    for evidence_id, item_runs in runs.items():
        for run in failures(item_runs):
            r = run.result
            grouped.setdefault((r.analyzer, r.status.value, r.message), []).append(evidence_id)
    for evidence_id, item_damaged in damaged.items():
        for d in item_damaged:
            reason = f"Run {d.id} of {d.finished_at} is left out: {d.reason}; {d.instead}."
            grouped.setdefault((d.analyzer, "damaged", reason), []).append(evidence_id)
    if not grouped:
        return "<p>Every analysis that was run gave a result.</p>"
    rows = []
    for (analyzer, status, message), items in grouped.items():
        install = ", ".join(dict.fromkeys(MISSING_MODEL.findall(message))) if status == "unavailable" else ""
        rows.append((title_of(analyzer), ", ".join(f"#{i}" for i in items), status, message or "—", install or "—"))
    return table(("Analyzer", "Items", "Status", "Reason", "Model to install"), rows, "small",
                 widths=(14, 8, 9, 53, 16))


@dataclass(frozen=True)
class Method:
    """What the appendix says of one analyzer used in the report, kept without the result's arrays
    (a report of many camera photos cannot hold every map until the end)."""

    analyzer: str
    version: str
    score_meaning: str
    scale: tuple[str, str] | None
    """What low and high mean on its maps, None for results without a map."""
    calibration: str = ""
    """Against which authentic photos its scores are ranked, "" when they are not."""

    @staticmethod
    def of(result: Result) -> Method:
        scale = (result.legend_low, result.legend_high) if isinstance(result, Heatmap) else None
        cal = result.calibration
        calibration = (f"ranked against {cal['count']} {cal['population']} (table {cal['table']}, "
                       f"{cal['made_at']}, made by `{cal['command']}`)") if cal else ""
        return Method(result.analyzer, result.provenance.version if result.provenance else "", result.score_meaning,
                      scale, calibration)


def methods_html(methods: list[Method]) -> str:
    """Each method whose results the report shows, once: what its score means, its colour scale,
    and its card's "What it shows", "How to read it" and "Limits"."""
    parts = []
    for method in methods:
        analyzer = registry.analyzers().get(method.analyzer)
        version = f" v{method.version}" if method.version else ""
        parts.append(heading(3, title_of(method.analyzer), f"({method.analyzer}{version})"))
        if method.score_meaning:
            parts.append(f"<p><b>Score.</b> {e(method.score_meaning)}</p>")
        if method.scale:
            parts.append(f"<p><b>Colour scale.</b> Low: {e(method.scale[0])}. High: {e(method.scale[1])}.</p>")
        if method.score_meaning:
            parts.append(f"<p><b>Calibration.</b> {e(method.calibration)}.</p>" if method.calibration else
                         "<p><b>Calibration.</b> None for this version: its scores are not ranked against "
                         "authentic photos.</p>")
        sections = card_sections(analyzer.card) if analyzer else {}
        for name in CARD_SECTIONS:
            if sections.get(name):
                parts.append(f"<p><b>{name}.</b></p>{markdown_to_html(sections[name])}")
        if analyzer is None:
            parts.append("<p class='note'>This analyzer is not installed in this copy of the workbench: no card.</p>")
    return f"<div class='card'>{''.join(parts)}</div>" if parts else "<p>No result is shown in this report.</p>"


def audit_html(entries: list[AuditEntry]) -> str:
    return table(("Time (UTC)", "User", "Action", "Detail"),
                 [(a.at.replace("+00:00", ""), a.user, a.action, a.detail) for a in entries], "tiny",
                 widths=(14, 12, 12, 62))
