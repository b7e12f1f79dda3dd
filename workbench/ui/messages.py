"""Warnings for the analyst without a pile of boxes: one non-modal box collects what happened.

Several failures at once (an import with bad files, then an analysis error) used to open one box
each, stacked on top of each other; now the open box grows a list and its title counts them.
"""

from __future__ import annotations

import html

from PySide6.QtWidgets import QMessageBox, QWidget

MAX_SHOWN = 12
"""Messages listed in the box; older ones are summarised as a count."""


class Messages:
    def __init__(self, parent: QWidget) -> None:
        self.parent = parent
        self.box: QMessageBox | None = None
        self.entries: list[tuple[str, str]] = []

    def show(self, title: str, text: str) -> QMessageBox:
        """Add a warning; the one box shows it (opened if needed), never blocking the window."""
        self.entries.append((title, text))
        if self.box is None:
            self.box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self.parent)
            self.box.setModal(False)
            self.box.finished.connect(self._closed)
        shown = self.entries[-MAX_SHOWN:]
        if len(self.entries) == 1:
            self.box.setWindowTitle(title)
            self.box.setText(text)
        else:
            self.box.setWindowTitle(f"{len(self.entries)} messages")
            older = len(self.entries) - len(shown)
            lines = [f"<b>{html.escape(t)}</b><br/>{html.escape(m).replace(chr(10), '<br/>')}" for t, m in shown]
            self.box.setText((f"<i>…and {older} earlier</i><br/>" if older else "") + "<br/><br/>".join(lines))
        self.box.show()
        return self.box

    def _closed(self, _result: int) -> None:
        self.box, self.entries = None, []

    def visible_boxes(self) -> list[QMessageBox]:
        return [self.box] if self.box is not None and self.box.isVisible() else []

