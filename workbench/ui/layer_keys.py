"""Keys that flip layers anywhere in the window: 0–9 choose a layer, PgUp/PgDn flip, Space held shows
the original (images; on video Space plays).

Window shortcuts, not an application-wide event filter (one on the application crashes QtWebEngine's
map view): a text field or spin box that takes the key keeps it, so typing "1" is still typing. Space's
release goes to the focused widget, which is watched only while the key is held.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QWidget


class LayerKeys(QObject):
    def __init__(self, window: QWidget, choose: Callable[[int], None], step: Callable[[int], None],
                 hold_original: Callable[[bool], None]) -> None:
        """`hold_original(on)` shows (on) or hides the original alone."""
        super().__init__(window)
        self.window = window
        self.hold_original = hold_original
        self._watched: QWidget | None = None
        for number in range(10):
            self._shortcut(Qt.Key(Qt.Key.Key_0 + number), lambda n=number: choose(n))
        self._shortcut(Qt.Key.Key_PageDown, lambda: step(1))
        self._shortcut(Qt.Key.Key_PageUp, lambda: step(-1))
        self.space = self._shortcut(Qt.Key.Key_Space, self._space_pressed)
        self.space.setAutoRepeat(False)

    def _shortcut(self, key: Qt.Key, slot: Callable[[], None]) -> QShortcut:
        shortcut = QShortcut(QKeySequence(key), self.window, slot)
        shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        return shortcut

    def set_space_enabled(self, on: bool) -> None:
        """Off while a video is shown: there Space plays and pauses."""
        self.space.setEnabled(on)

    def _space_pressed(self) -> None:
        self.hold_original(True)
        self._watched = QApplication.focusWidget() or self.window
        self._watched.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if (event.type() == QEvent.Type.KeyRelease and isinstance(event, QKeyEvent)
                and event.key() == Qt.Key.Key_Space):
            if not event.isAutoRepeat():  # holding the key repeats release/press pairs: ignore them
                watched.removeEventFilter(self)
                self._watched = None
                self.hold_original(False)
            return True
        return False
