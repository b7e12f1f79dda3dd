"""The evidence list: thumbnail, name and size of every item in the case; videos are marked
(a play badge on the poster frame, "video" and the container in the text)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap, QPolygonF
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from workbench.app.case import Case, Evidence
from workbench.core.names import shown

ICON = 72


class EvidenceList(QListWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setIconSize(QSize(ICON, ICON))
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAcceptDrops(False)

    def add(self, case: Case, evidence: Evidence) -> QListWidgetItem:
        thumbnail = QPixmap(str(case.thumbnail_path(evidence.id)))
        size = f"{evidence.width}×{evidence.height} · {evidence.size / 1024:,.0f} KiB"
        if evidence.kind == "video":
            thumbnail, size = with_play_badge(thumbnail), f"▶ video · {evidence.format} · {size}"
        item = QListWidgetItem(QIcon(thumbnail), f"{evidence.name}\n{size}")
        item.setData(Qt.ItemDataRole.UserRole, evidence.id)
        tip = [shown(evidence.path), f"SHA-256 {evidence.sha256}", *evidence.warnings]
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


def with_play_badge(pixmap: QPixmap) -> QPixmap:
    """The poster frame with a play symbol in its corner, so a video reads as one at a glance."""
    if pixmap.isNull():
        return pixmap
    badged = QPixmap(pixmap)
    side = max(min(badged.width(), badged.height()) // 3, 12)
    painter = QPainter(badged)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(0, 0, 0, 170))
    x, y = 4, badged.height() - side - 4
    painter.drawEllipse(x, y, side, side)
    painter.setBrush(QColor(255, 255, 255))
    painter.drawPolygon(QPolygonF([QPointF(x + side * 0.38, y + side * 0.28), QPointF(x + side * 0.38, y + side * 0.72),
                                   QPointF(x + side * 0.75, y + side * 0.5)]))
    painter.end()
    return badged
