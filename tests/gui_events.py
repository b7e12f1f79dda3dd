"""Input events as a user's hand and file manager send them, for the GUI tests."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeyEvent, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


def drop(widget, paths: list[Path]) -> None:
    """Send the drag-enter and drop events a file manager would send."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPoint(widget.width() // 2, widget.height() // 2)
    enter = QDragEnterEvent(pos.toPointF(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    widget.dragEnterEvent(enter)
    assert enter.isAccepted()
    widget.dropEvent(QDropEvent(pos.toPointF(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))


def key(window, qt_key: Qt.Key, press: bool = True, repeat: bool = False) -> None:
    """A key pressed (or released) over the image, as the keyboard sends it: window shortcuts see it."""
    target = QApplication.focusWidget() or window.viewer.view.viewport()
    if press and not repeat:  # through the shortcut map, as a real key press
        QTest.keyPress(target, qt_key, Qt.KeyboardModifier.NoModifier)
        return
    kind = QEvent.Type.KeyPress if press else QEvent.Type.KeyRelease
    QApplication.sendEvent(target, QKeyEvent(kind, qt_key, Qt.KeyboardModifier.NoModifier, "", repeat))


def drag(view, start: tuple[float, float], end: tuple[float, float]) -> None:  # noqa: ANN001 - an ImageView
    """A left-button drag between two image-pixel points, as the mouse would send it."""
    points = [view.mapFromScene(QPointF(*p)) for p in (start, end)]
    for kind, point, buttons in ((QEvent.Type.MouseButtonPress, points[0], Qt.MouseButton.LeftButton),
                                 (QEvent.Type.MouseMove, (points[0] + points[1]) / 2, Qt.MouseButton.LeftButton),
                                 (QEvent.Type.MouseMove, points[1], Qt.MouseButton.LeftButton),
                                 (QEvent.Type.MouseButtonRelease, points[1], Qt.MouseButton.NoButton)):
        QApplication.sendEvent(view.viewport(), QMouseEvent(kind, QPointF(point), QPointF(view.viewport().mapToGlobal(
            point)), Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier))


