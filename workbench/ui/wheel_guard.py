"""Scrolling a panel must not change the controls the pointer passes over.

A slider, spin box or combo box takes wheel events by default: scrolling down a list of results
silently changed opacities. Guarded controls take the wheel only once clicked (focused); otherwise
the event goes on to the scroll area around them.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSlider, QAbstractSpinBox, QComboBox, QScrollBar, QWidget

GUARDED = (QAbstractSlider, QAbstractSpinBox, QComboBox)


class _WheelGuard(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget) or watched.hasFocus():
            return False
        area = watched.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is not None:
            QCoreApplication.sendEvent(area.viewport(), event)
        return True


_GUARD = _WheelGuard()


def guard_wheel(root: QWidget) -> None:
    """Guard every slider, spin box and combo box inside `root` (call again after adding some)."""
    for widget in root.findChildren(QWidget):
        if isinstance(widget, GUARDED) and not isinstance(widget, QScrollBar) and not widget.property("wheelGuarded"):
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            widget.installEventFilter(_GUARD)
            widget.setProperty("wheelGuarded", True)
