"""The triage summary of the shown item: what to look at first.

Its signals ranked by how unusual they are among authentic photos (`workbench.app.triage`), the
analyst's findings on it, what could not run and which stored runs are damaged; a click on a signal
shows its layer.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from workbench.app.case import Evidence, Finding, Run
from workbench.app.run_check import DamagedRun
from workbench.app.triage import failures, ranked_signals
from workbench.core.results import Heatmap

STRONG_COLOUR = "#b00000"


class SummaryPanel(QWidget):
    layerRequested = Signal(str)  # layer key of a heat-map signal
    findingRequested = Signal(object)  # Finding
    runTriageRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heading = QLabel("Select an item in the evidence list.")
        self.heading.setWordWrap(True)
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.signals = QListWidget()
        self.signals.setWordWrap(True)
        self.signals.itemClicked.connect(self._signal_clicked)
        self.findings = QListWidget()
        self.findings.setWordWrap(True)
        self.findings.setMaximumHeight(120)
        self.findings.itemDoubleClicked.connect(
            lambda item: self.findingRequested.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setTextFormat(Qt.TextFormat.PlainText)
        self.problems.setStyleSheet(f"color: {STRONG_COLOUR};")
        self.run_triage = QPushButton("Run Triage on this item")
        self.run_triage.clicked.connect(self.runTriageRequested)
        self.findings_title = QLabel("<b>Your findings</b>")
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.run_triage)
        layout.addWidget(QLabel("<b>Signals, most unusual first</b> (rank among authentic photos)"))
        layout.addWidget(self.signals, 1)
        layout.addWidget(self.findings_title)
        layout.addWidget(self.findings)
        layout.addWidget(self.problems)

    def show_item(self, item: Evidence | None, runs: list[Run], findings: list[Finding],
                  damaged: Sequence[DamagedRun] = ()) -> None:
        self.signals.clear()
        self.findings.clear()
        if item is None:
            self.heading.setText("Select an item in the evidence list.")
            self.problems.clear()
            return
        warnings = "".join(f"<br/>⚠ {html.escape(w)}" for w in item.warnings)
        self.heading.setText(f"<b>{html.escape(item.name)}</b> — {item.kind}, {item.width}×{item.height}, "
                             f"SHA-256 {item.sha256[:16]}…{warnings}")
        self.run_triage.setVisible(not runs)
        for signal in ranked_signals(runs):
            row = QListWidgetItem(("● " if signal.strong else "") + signal.text)
            if signal.strong:
                row.setForeground(Qt.GlobalColor.darkRed)
            if isinstance(signal.run.result, Heatmap):
                row.setData(Qt.ItemDataRole.UserRole, f"run{signal.run.id}")
                row.setToolTip("Click to show this map over the image")
            self.signals.addItem(row)
        if not runs:
            self.signals.addItem("No analysis has run on this item yet.")
        for finding in findings:
            row = QListWidgetItem(f"F{finding.id} · {finding.note}")
            row.setData(Qt.ItemDataRole.UserRole, finding)
            self.findings.addItem(row)
        self.findings_title.setText(f"<b>Your findings</b> ({len(findings)})" if findings else
                                    "<b>Your findings</b>: none yet — mark a region or flag a result")
        failed = failures(runs)
        lines = [f"{len(failed)} analysis(es) gave no result: " + "; ".join(
            f"{r.result.analyzer} ({r.result.status.value})" for r in failed)] if failed else []
        lines += [f"⚠ {d.describe()}" for d in damaged]
        self.problems.setText("\n".join(lines))

    def _signal_clicked(self, item: QListWidgetItem) -> None:
        key = item.data(Qt.ItemDataRole.UserRole)
        if key:
            self.layerRequested.emit(key)
