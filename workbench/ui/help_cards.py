"""Help ▸ Analyzer cards: every analyzer's card (what it shows, how to read it, limits, reference)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QHBoxLayout, QListWidget, QListWidgetItem, QSplitter, QTextBrowser, QWidget

from workbench.core import registry
from workbench.core.calibration import table_for


class CardsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, analyzer_id: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Analyzer cards")
        self.list = QListWidget()
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        for aid, analyzer in registry.analyzers().items():
            item = QListWidgetItem(analyzer.title)
            item.setData(Qt.ItemDataRole.UserRole, aid)
            self.list.addItem(item)
        self.list.currentItemChanged.connect(self._show)
        split = QSplitter()
        split.addWidget(self.list)
        split.addWidget(self.browser)
        split.setStretchFactor(1, 1)
        QHBoxLayout(self).addWidget(split)
        self.resize(900, 600)
        ids = list(registry.analyzers())
        self.list.setCurrentRow(ids.index(analyzer_id) if analyzer_id in ids else 0)

    def _show(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        analyzer = registry.get(item.data(Qt.ItemDataRole.UserRole))
        table = table_for(analyzer)
        calibration = (f"\n\n---\n*Calibration:* {table.count} {table.population} (`{table.command}`, "
                       f"{table.made_at})." if table else
                       "\n\n---\n*Calibration:* none for this version — its scores are not ranked against "
                       "authentic photos.")
        self.browser.setMarkdown(f"*{analyzer.id} v{analyzer.version}*\n\n{analyzer.card}{calibration}")
