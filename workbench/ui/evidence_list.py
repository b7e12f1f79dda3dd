"""The evidence list: thumbnail, name and size of every item in the case."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from workbench.app.case import Case, Evidence

ICON = 72


class EvidenceList(QListWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setIconSize(QSize(ICON, ICON))
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAcceptDrops(False)

    def add(self, case: Case, evidence: Evidence) -> QListWidgetItem:
        item = QListWidgetItem(
            QIcon(QPixmap(str(case.thumbnail_path(evidence.id)))),
            f"{evidence.name}\n{evidence.width}×{evidence.height} · {evidence.size / 1024:,.0f} KiB",
        )
        item.setData(Qt.ItemDataRole.UserRole, evidence.id)
        tip = [str(evidence.path), f"SHA-256 {evidence.sha256}", *evidence.warnings]
        item.setToolTip("\n".join(tip))
        self.addItem(item)
        return item

    def selected_ids(self) -> list[int]:
        return [item.data(Qt.ItemDataRole.UserRole) for item in self.selectedItems()]

    def select(self, evidence_id: int) -> None:
        for row in range(self.count()):
            if self.item(row).data(Qt.ItemDataRole.UserRole) == evidence_id:
                self.setCurrentRow(row)
                return
