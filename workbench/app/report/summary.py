"""The summary of one item, the part of the report most readers stop at: the analyst's findings
first, then the strongest signals in words that say how unusual each score is."""

from __future__ import annotations

import numpy as np
from PIL import Image

from workbench.app.case import Case, Run
from workbench.app.report.evidence import Item
from workbench.app.report.figures import fit, print_size
from workbench.app.report.findings import findings_html
from workbench.app.report.markup import TEXT_WIDTH, e, grid, heading, img, table
from workbench.app.run_check import DamagedRun
from workbench.app.triage import failures, ranked_signals

TOP_SIGNALS = 6
THUMB_WIDTH = 120


def summary_html(case: Case, item: Item, runs: list[Run], damaged: list[DamagedRun],
                 figures: dict[str, np.ndarray]) -> str:
    ev = item.evidence
    parts = [heading(3, f"#{ev.id} {ev.name}")]
    if not item.check.ok:
        parts.append(f"<p class='bad'>{e(item.check.text)}</p>")
    facts = [f"{ev.kind}, {ev.width}×{ev.height}, {ev.format}", f"{len(runs)} analyses"]
    failed = len(failures(runs))
    if failed:
        facts.append(f"{failed} without a result (section 4)")
    if damaged:
        facts.append(f"{len(damaged)} damaged stored run(s) left out (section 4)")
    about = _thumbnail(case, ev.id, figures) + "<br/>" + "<br/>".join(e(f) for f in facts)
    parts.append("<h4>Findings</h4>")
    parts.append(findings_html(case, item, case.findings(ev.id), figures))
    parts.append("<h4>Strongest signals</h4>")
    signals = signals_html(runs) if runs else "<p>No analysis was run on this item.</p>"
    parts.append(grid([about, signals], 2, [THUMB_WIDTH + 10, TEXT_WIDTH - THUMB_WIDTH - 10]))
    return "\n".join(parts)


def signals_html(runs: list[Run]) -> str:
    """The item's signals ranked by their rank among authentic photos; uncalibrated ones said so."""
    signals = ranked_signals(runs)
    if not signals:
        return "<p class='note'>No analysis gave a score or a finding.</p>"
    shown = signals[:TOP_SIGNALS]
    rest = len(signals) - len(shown)
    more = f" {rest} more in the details." if rest > 0 else ""
    order = ("Most unusual among authentic photos first; signals without calibration follow in the order they "
             "were run: their scores are not comparable across analyzers." if any(s.rank is not None for s in shown)
             else "No calibration yet for these analyzer versions: the scores are raw, not comparable across "
                  "analyzers, listed in the order they were run.")
    rows = [(s.title, s.reading) for s in shown]
    return table(("Signal", "Reading"), rows, widths=(30, 70)) + f"<p class='note'>{e(order + more)}</p>"


def _thumbnail(case: Case, evidence_id: int, figures: dict[str, np.ndarray]) -> str:
    """The thumbnail made at import: it identifies the item even if the file has changed since."""
    path = case.thumbnail_path(evidence_id)
    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    except OSError:
        return ""
    name = f"thumb{evidence_id}.png"
    figures[name] = fit(rgb, print_size(THUMB_WIDTH))
    return img(name, THUMB_WIDTH, "Thumbnail made at import")
