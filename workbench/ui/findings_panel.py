"""The analyst's findings: the dialog that writes one, and the panel that lists the case's findings.

A finding is the analyst's conclusion in their words, tied to a region (or the whole item), to the
layer it was seen on and the result it rests on; it is stored in the case with the audit log
(`workbench.app.case.Finding`) and leads the report.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.app.case import Case, Finding
from workbench.app.per_frame import timecode


def describe_region(region: dict | None) -> str:
    if region is None:
        return "the whole item"
    xs = [p[0] for p in region["points"]]
    ys = [p[1] for p in region["points"]]
    shape = "rectangle" if region["kind"] == "rect" else f"outline of {len(xs)} points"
    return f"{shape}, x {min(xs):.0f}–{max(xs):.0f}, y {min(ys):.0f}–{max(ys):.0f}"


class FindingDialog(QDialog):
    """Write (or edit) the note of a finding; on video, the time span it covers."""

    def __init__(self, parent: QWidget | None, item_name: str, layer: str, region: dict | None, note: str = "",
                 span: tuple[float, float] | None = None, duration: float = 0.0) -> None:
        super().__init__(parent)
        self.setWindowTitle("Finding")
        self.note = QPlainTextEdit(note)
        self.note.setPlaceholderText("What you see here and why it matters, in your words "
                                     "(e.g. 'pasted logo: its error level differs from the rest of the sign').")
        form = QFormLayout(self)
        form.addRow("Item", QLabel(item_name))
        form.addRow("Seen on", QLabel(layer or "the original"))
        form.addRow("Where", QLabel(describe_region(region)))
        self.start = self.end = None
        if span is not None:
            self.start, self.end = QDoubleSpinBox(), QDoubleSpinBox()
            for box, value in ((self.start, span[0]), (self.end, span[1])):
                box.setRange(0.0, max(duration, value))
                box.setDecimals(2)
                box.setSuffix(" s")
                box.setValue(value)
            form.addRow("From", self.start)
            form.addRow("To", self.end)
        form.addRow("Note", self.note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.resize(460, 320)

    def text(self) -> str:
        return self.note.toPlainText().strip()

    def span(self) -> tuple[float, float] | None:
        if self.start is None or self.end is None:
            return None
        return tuple(sorted((self.start.value(), self.end.value())))  # type: ignore[return-value]


class FindingsPanel(QWidget):
    """Every finding of the case; go to one (its item, layer and region), edit its note, remove it."""

    goToRequested = Signal(object)  # Finding
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.case: Case | None = None
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["#", "Item", "Note", "Seen on"])
        self.tree.setRootIsDecorated(False)
        self.tree.setWordWrap(True)
        self.tree.itemDoubleClicked.connect(
            lambda item: self.goToRequested.emit(item.data(0, Qt.ItemDataRole.UserRole)))
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.tree.currentItemChanged.connect(self._show_detail)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.empty = QLabel("No finding yet. Mark a region on the image (Mark ▭ / Mark ✎ in the viewer's "
                            "toolbar) or flag a result (“Flag as finding…”), then write what you see.")
        self.empty.setWordWrap(True)
        go, edit, remove = QPushButton("Go to"), QPushButton("Edit note…"), QPushButton("Remove")
        go.clicked.connect(lambda: self._with_selected(self.goToRequested.emit))
        edit.clicked.connect(lambda: self._with_selected(self.edit))
        remove.clicked.connect(lambda: self._with_selected(self.remove))
        buttons = QHBoxLayout()
        for button in (go, edit, remove):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.empty)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.detail)
        layout.addLayout(buttons)

    def set_case(self, case: Case) -> None:
        self.case = case
        self.refresh()

    def refresh(self) -> None:
        self.tree.clear()
        findings = self.case.findings() if self.case is not None else []
        names = {e.id: e.name for e in self.case.all_evidence()} if self.case is not None else {}
        for finding in findings:
            when = "" if finding.time_start is None else f" @ {timecode(finding.time_start)}"
            row = QTreeWidgetItem(self.tree, [f"F{finding.id}", names.get(finding.evidence_id, "?") + when,
                                              finding.note, finding.layer or "original"])
            row.setToolTip(2, f"{finding.note}\n— {finding.created_by}, {finding.created_at}")
            row.setData(0, Qt.ItemDataRole.UserRole, finding)
        self.empty.setVisible(not findings)
        for column in (0, 1, 3):
            self.tree.resizeColumnToContents(column)
        if findings:
            self.tree.setCurrentItem(self.tree.topLevelItem(len(findings) - 1))
        else:
            self.detail.clear()

    def _show_detail(self, item: QTreeWidgetItem | None) -> None:
        """The whole note of the chosen finding, where it is and who wrote it when."""
        if item is None:
            self.detail.clear()
            return
        finding: Finding = item.data(0, Qt.ItemDataRole.UserRole)
        when = "" if finding.time_start is None else (
            f", {timecode(finding.time_start)}–{timecode(finding.time_end or finding.time_start)}")
        self.detail.setText(f"<b>F{finding.id}</b> — {html.escape(finding.note)}<br/><span style='color:#555'>"
                            f"On {html.escape(finding.layer or 'the original')}: "
                            f"{html.escape(describe_region(finding.region))}{when}. "
                            f"{html.escape(finding.created_by)}, {html.escape(finding.created_at)}</span>")

    def _with_selected(self, action) -> None:  # noqa: ANN001 - a callable taking a Finding
        item = self.tree.currentItem()
        if item is not None:
            action(item.data(0, Qt.ItemDataRole.UserRole))

    def edit(self, finding: Finding) -> FindingDialog:
        """The note in a dialog (window-modal, not blocking); saved when accepted."""
        assert self.case is not None
        case = self.case
        dialog = FindingDialog(self, case.evidence(finding.evidence_id).name, finding.layer, finding.region,
                               finding.note)

        def save() -> None:
            if dialog.text():
                case.update_finding(finding.id, note=dialog.text())
                self.refresh()
                self.changed.emit()

        dialog.accepted.connect(save)
        dialog.open()
        self.dialog = dialog
        return dialog

    def remove(self, finding: Finding) -> None:
        assert self.case is not None
        self.case.remove_finding(finding.id)
        self.refresh()
        self.changed.emit()
