"""Marking a region on an image view: a rectangle or a freehand outline, in image pixels.

Installed on an `ImageView`; while a mode is on, a left drag draws instead of panning and the
finished region is emitted as {"kind": "rect" | "freehand", "points": [[x, y], ...]} — the form
a finding stores (`workbench.app.case.Finding`).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QMouseEvent, QPainterPath, QPolygonF
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsView

from workbench.ui.viewer import FINDING_COLOUR, ImageView, cosmetic_pen

RECT, FREEHAND = "rect", "freehand"
MIN_SIDE = 3.0
"""Image pixels: a smaller drag is taken for a slip of the hand, not a region."""


class RegionMarker(QObject):
    regionDrawn = Signal(object)  # the region dict

    def __init__(self, view: ImageView) -> None:
        super().__init__(view)
        self.view = view
        self.mode: str | None = None
        self._points: list[QPointF] = []
        self._sketch = QGraphicsPathItem()
        self._sketch.setPen(cosmetic_pen(FINDING_COLOUR, 2.0, Qt.PenStyle.DashLine))
        self._sketch.setZValue(5000)
        view.scene().addItem(self._sketch)
        view.viewport().installEventFilter(self)

    def set_mode(self, mode: str | None) -> None:
        """RECT, FREEHAND, or None to pan again."""
        self.mode = mode
        self._points.clear()
        self._sketch.setPath(QPainterPath())
        self.view.setDragMode(QGraphicsView.DragMode.NoDrag if mode else QGraphicsView.DragMode.ScrollHandDrag)
        self.view.viewport().setCursor(Qt.CursorShape.CrossCursor if mode else Qt.CursorShape.OpenHandCursor)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if self.mode is None or not self.view.has_image() or not isinstance(event, QMouseEvent):
            return False
        point = self._clamped(self.view.mapToScene(event.position().toPoint()))
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
            self._points = [point]
        elif kind == QEvent.Type.MouseMove and self._points:
            if self.mode == RECT:
                self._points[1:] = [point]
            else:
                self._points.append(point)
            self._draw()
        elif kind == QEvent.Type.MouseButtonRelease and self._points:
            self._finish(point)
        else:
            return False
        return True

    def _clamped(self, point: QPointF) -> QPointF:
        w, h = self.view.image_size()
        return QPointF(min(max(point.x(), 0.0), float(w)), min(max(point.y(), 0.0), float(h)))

    def _draw(self) -> None:
        path = QPainterPath()
        if self.mode == RECT and len(self._points) == 2:
            path.addRect(QRectF(*self._points).normalized())
        elif len(self._points) > 1:
            path.addPolygon(QPolygonF(self._points))
        self._sketch.setPath(path)

    def _finish(self, point: QPointF) -> None:
        points, self._points = [*self._points, point], []
        self._sketch.setPath(QPainterPath())
        box = QPolygonF(points).boundingRect()
        if box.width() < MIN_SIDE or box.height() < MIN_SIDE:
            return
        if self.mode == RECT:
            corners = [[box.left(), box.top()], [box.right(), box.bottom()]]
            self.regionDrawn.emit({"kind": RECT, "points": [[round(x, 1), round(y, 1)] for x, y in corners]})
        else:
            self.regionDrawn.emit({"kind": FREEHAND, "points": [[round(p.x(), 1), round(p.y(), 1)] for p in points]})
