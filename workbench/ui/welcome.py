"""First run: who the analyst is, then the path from a dropped file to a report, one step at a time.

Each step says what to do and offers to do it on the sample case (the splice in it is there to be
found), so a new user has walked drop → triage → layers → finding → report once before a real case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.core import preferences

if TYPE_CHECKING:
    from workbench.ui.main_window import MainWindow


@dataclass
class Step:
    title: str
    text: str
    action: str = ""
    """Label of the button that does this step on the open case ("" = none)."""
    run: Callable[[], object] | None = None


class Welcome(QDialog):
    def __init__(self, steps: list[Step], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to Forensic Workbench")
        self.setModal(False)
        prefs = preferences.load()
        self.analyst = QLineEdit(prefs.analyst)
        self.analyst.setPlaceholderText("your name, as reports should print it")
        self.organisation = QLineEdit(prefs.organisation)
        self.pages = QStackedWidget()
        first = QWidget()
        form = QFormLayout(first)
        intro = QLabel("Everything runs on this computer, offline. Evidence files are opened read-only and "
                       "hashed on import; nothing is written beside them.\n\nReports and the audit log name "
                       "the analyst:")
        intro.setWordWrap(True)
        form.addRow(intro)
        form.addRow("Analyst name", self.analyst)
        form.addRow("Organisation", self.organisation)
        self.pages.addWidget(first)
        for n, step in enumerate(steps, 1):
            self.pages.addWidget(self._page(n, len(steps), step))
        self.back, self.next = QPushButton("Back"), QPushButton("Next")
        close = QPushButton("Close")
        self.back.clicked.connect(lambda: self.go(-1))
        self.next.clicked.connect(lambda: self.go(1))
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.back)
        buttons.addStretch(1)
        buttons.addWidget(self.next)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addLayout(buttons)
        self.finished.connect(lambda _r: self._save())
        self.resize(520, 340)
        self.go(0)

    def _page(self, n: int, total: int, step: Step) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        title = QLabel(f"<h3>Step {n} of {total}: {step.title}</h3>")
        text = QLabel(step.text)
        text.setWordWrap(True)
        column.addWidget(title)
        column.addWidget(text)
        if step.run is not None:
            button = QPushButton(step.action)
            button.clicked.connect(step.run)
            column.addWidget(button)
        column.addStretch(1)
        return page

    def go(self, delta: int) -> None:
        if self.pages.currentIndex() == 0 and delta > 0:
            self._save()
        index = min(max(self.pages.currentIndex() + delta, 0), self.pages.count() - 1)
        self.pages.setCurrentIndex(index)
        self.back.setEnabled(index > 0)
        self.next.setEnabled(index < self.pages.count() - 1)

    def _save(self) -> None:
        preferences.update(analyst=self.analyst.text().strip(), organisation=self.organisation.text().strip(),
                           welcomed=True)


def welcome_for(window: MainWindow) -> Welcome:
    """The walk-through, its buttons acting on `window` (on the sample case when it is open)."""

    def select_splice() -> None:
        spliced = next((e for e in window.case.all_evidence() if "splice" in e.name), None)
        if spliced is not None:
            window.evidence.clearSelection()
            window.evidence.select(spliced.id)

    def raise_layers() -> None:
        window.layers_dock.raise_()
        window.layers.setFocus()

    return Welcome([
        Step("Drop evidence", "Drag images, videos or folders onto the window (or File ▸ Add files…). Each file is "
             "hashed (SHA-256) and opened read-only. The sample case holds real photos, a generated splice to find "
             "and two videos, one re-using part of the other.", "Select the sample splice", select_splice),
        Step("Triage", "With an item selected, ▶ Run on selected runs the chosen preset — Triage by default: "
             "metadata, the fusion localiser and the signals it fuses, faces. The Summary then lists the "
             "signals, most unusual among authentic photos first.", "Run Triage on the selected item",
             window.run_triage),
        Step("Flip the layers", "One map is shown at a time. Press 1–9 for a layer, PgUp/PgDn to flip, hold Space "
             "for the original; compare two layers side by side or with a swipe in the Layers panel.",
             "Show the Layers panel", raise_layers),
        Step("Write a finding", "Choose Mark ▭ (or ✎) in the viewer's toolbar, drag around what you see and write a "
             "note. Findings are kept in the case, listed in Findings, and lead the report.",
             "Start marking a rectangle", lambda: window.viewer.mark_rect.setChecked(True)),
        Step("Export the report", "Export report… writes a PDF: the evidence with re-verified hashes, your findings "
             "and the strongest signals first, details of the results you include, each method's card once.",
             "Export report…", window.choose_report_path),
    ], window)
