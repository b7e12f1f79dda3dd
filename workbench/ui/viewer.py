"""Zoom/pan image view with named overlay layers: heat maps (one shown at a time when flipping)
and annotations drawn above them (face boxes, matched pairs, the analyst's findings)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPolygonF, QWheelEvent
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QToolBar,
    QWidget,
)

from workbench.core.render import PAIR_COLOURS
from workbench.ui.images import to_pixmap

ZOOM_STEP = 1.25
BOX_COLOUR = QColor(0, 230, 118)
FINDING_COLOUR = QColor(255, 210, 0)
FINDINGS_KEY = "findings"
MAP, ANNOTATION = "map", "annotation"
"""Layer kinds: maps are flipped (one visible at a time); annotations stay on top of whichever is."""
_VISIBLE, _KIND = 0, 2  # QGraphicsItem data slots


def region_path(region: dict) -> QPainterPath:
    """A finding's region ({"kind": "rect"|"freehand", "points"}) as a path in image pixels."""
    points = [QPointF(float(x), float(y)) for x, y in region["points"]]
    path = QPainterPath()
    if region["kind"] == "rect":
        path.addRect(QRectF(points[0], points[1]).normalized())
    else:
        path.addPolygon(QPolygonF(points))
        path.closeSubpath()
    return path


def cosmetic_pen(colour: QColor, width: float = 2.0, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    """A pen of constant screen width whatever the zoom."""
    pen = QPen(colour)
    pen.setCosmetic(True)
    pen.setWidthF(width)
    pen.setStyle(style)
    return pen


class ImageView(QGraphicsView):
    """One image plus named RGBA layers, each with its own opacity and visibility."""

    viewChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setAcceptDrops(False)
        self.setMinimumSize(120, 90)
        self.base = QGraphicsPixmapItem()
        self.scene().addItem(self.base)
        self.layers: dict[str, QGraphicsPixmapItem] = {}
        self._overlays_hidden = False
        self.horizontalScrollBar().valueChanged.connect(self.viewChanged)
        self.verticalScrollBar().valueChanged.connect(self.viewChanged)

    def set_image(self, rgb: np.ndarray | None) -> None:
        self.clear_layers()
        if rgb is None:
            self.base.setPixmap(to_pixmap(np.zeros((1, 1, 3), np.uint8)))
            return
        self.base.setPixmap(to_pixmap(rgb))
        self.setSceneRect(self.base.boundingRect())
        self.fit()

    def set_frame(self, rgb: np.ndarray) -> None:
        """Replace the pixels only (video playback): layers, zoom and scroll stay as they are."""
        pixmap = self.base.pixmap()
        resized = (pixmap.width(), pixmap.height()) != (rgb.shape[1], rgb.shape[0])
        self.base.setPixmap(to_pixmap(rgb))
        if resized:
            self.setSceneRect(self.base.boundingRect())
            self.fit()

    def has_image(self) -> bool:
        return self.base.pixmap().width() > 1

    def image_size(self) -> tuple[int, int]:
        """(width, height) of the image in pixels."""
        return self.base.pixmap().width(), self.base.pixmap().height()

    # -- layers ---------------------------------------------------------------------------------
    def _layer(self, key: str, kind: str) -> QGraphicsPixmapItem:
        item = self.layers.get(key)
        if item is None:
            item = QGraphicsPixmapItem()
            item.setData(_KIND, kind)
            item.setZValue(len(self.layers) + 1 + (1000 if kind == ANNOTATION else 0))
            self.scene().addItem(item)
            self.layers[key] = item
            self.set_layer_visible(key, True)
        return item

    def map_keys(self) -> list[str]:
        return [key for key, item in self.layers.items() if item.data(_KIND) == MAP]

    def set_layer(self, key: str, rgba: np.ndarray, opacity: float = 0.7, visible: bool = True,
                  stretch: bool = False) -> None:
        """A heat-map layer; `stretch`: a reduced-size map, scaled to cover the whole image."""
        item = self._layer(key, MAP)
        item.setData(_KIND, MAP)
        pixmap = to_pixmap(rgba)
        if stretch:  # scale the picture, not the item: its children (lines, boxes) are in image pixels
            pixmap = pixmap.scaled(self.base.pixmap().size(), Qt.AspectRatioMode.IgnoreAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)
        item.setPixmap(pixmap)
        item.setOpacity(opacity)
        self.set_layer_visible(key, visible)

    def set_boxes(self, key: str, boxes: np.ndarray, labels: list[str]) -> None:
        """Rectangles (x0, y0, x1, y1 in image pixels) with their labels, in the annotation layer `key`;
        replaces the boxes this layer had (one call per video frame)."""
        layer = self._layer(key, ANNOTATION)
        for child in layer.childItems():
            if child.data(1) == "boxes":
                self.scene().removeItem(child)
        path = QPainterPath()
        rects = np.asarray(boxes, dtype=float).reshape(-1, 4)
        for x0, y0, x1, y1 in rects:
            path.addRect(x0, y0, x1 - x0, y1 - y0)
        outline = QGraphicsPathItem(path, layer)
        outline.setPen(cosmetic_pen(BOX_COLOUR))
        outline.setData(1, "boxes")
        for (x0, y0, _x1, _y1), text in zip(rects, labels, strict=False):
            if text:
                label_plate(outline, QPointF(x0, y0), text, BOX_COLOUR)

    def set_pairs(self, key: str, pairs: np.ndarray, max_pairs: int = 5000) -> None:
        """Matched point pairs as lines above the layer `key`, shown and hidden with it."""
        path = QPainterPath()
        for x1, y1, x2, y2 in np.asarray(pairs, dtype=float)[:max_pairs]:
            path.moveTo(x1, y1)
            path.lineTo(x2, y2)
            path.addEllipse(x1 - 2, y1 - 2, 4, 4)
            path.addEllipse(x2 - 2, y2 - 2, 4, 4)
        lines = QGraphicsPathItem(path, self.layers[key])
        lines.setPen(cosmetic_pen(QColor(*PAIR_COLOURS[0]), 1.5))

    def set_findings(self, regions: list[tuple[str, dict]]) -> None:
        """The analyst's marked regions of this image: (label, region) each, dashed, numbered."""
        if not regions and FINDINGS_KEY not in self.layers:
            return
        layer = self._layer(FINDINGS_KEY, ANNOTATION)
        for child in layer.childItems():
            self.scene().removeItem(child)
        for label, region in regions:
            outline = QGraphicsPathItem(region_path(region), layer)
            outline.setPen(cosmetic_pen(FINDING_COLOUR, 2.0, Qt.PenStyle.DashLine))
            corner = outline.path().boundingRect().topLeft()
            label_plate(outline, corner, label, FINDING_COLOUR)

    def set_layer_pixmap(self, key: str, rgba: np.ndarray) -> None:
        """Replace a layer's picture; a smaller one (e.g. a reduced browsing map) is stretched over the image."""
        if key in self.layers:
            item = self.layers[key]
            stretch = rgba.shape[:2] != (self.base.pixmap().height(), self.base.pixmap().width())
            self.set_layer(key, rgba, item.opacity(), bool(item.data(_VISIBLE)), stretch=stretch)

    def set_layer_opacity(self, key: str, opacity: float) -> None:
        if key in self.layers:
            self.layers[key].setOpacity(opacity)

    def set_layer_visible(self, key: str, visible: bool) -> None:
        if key in self.layers:
            self.layers[key].setData(_VISIBLE, visible)
            self.layers[key].setVisible(visible and not self._overlays_hidden)

    def show_only(self, key: str | None) -> None:
        """One heat map at a time (None: the image alone); annotations keep their own visibility."""
        for map_key in self.map_keys():
            self.set_layer_visible(map_key, map_key == key)

    def shown_map(self) -> str | None:
        return next((k for k in self.map_keys() if self.layers[k].data(_VISIBLE)), None)

    def set_overlays_hidden(self, hidden: bool) -> None:
        """Show the original alone without forgetting each layer's own visibility."""
        self._overlays_hidden = hidden
        for item in self.layers.values():
            item.setVisible(bool(item.data(_VISIBLE)) and not hidden)

    def clear_layers(self) -> None:
        for item in self.layers.values():
            self.scene().removeItem(item)
        self.layers.clear()

    # -- zoom -----------------------------------------------------------------------------------
    def fit(self) -> None:
        self.fitInView(self.base, Qt.AspectRatioMode.KeepAspectRatio)
        self.viewChanged.emit()

    def actual_size(self) -> None:
        self.resetTransform()
        self.viewChanged.emit()

    def zoom(self, factor: float) -> None:
        self.scale(factor, factor)
        self.viewChanged.emit()

    def zoom_to(self, rect: QRectF, margin: float = 0.25) -> None:
        """Show `rect` (image pixels) with some context around it."""
        grown = rect.adjusted(-rect.width() * margin, -rect.height() * margin,
                              rect.width() * margin, rect.height() * margin)
        self.fitInView(grown, Qt.AspectRatioMode.KeepAspectRatio)
        self.viewChanged.emit()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        self.zoom(ZOOM_STEP ** (event.angleDelta().y() / 120.0))

    def follow(self, other: ImageView) -> None:
        """Copy another view's zoom and scroll position (side-by-side sync)."""
        self.setTransform(other.transform())
        self.horizontalScrollBar().setValue(other.horizontalScrollBar().value())
        self.verticalScrollBar().setValue(other.verticalScrollBar().value())


def label_plate(parent: QGraphicsItem, at: QPointF, text: str, colour: QColor) -> QGraphicsRectItem:
    """A screen-sized label (readable at any zoom) on a dark plate just above `at`."""
    plate = QGraphicsRectItem(parent)
    plate.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
    plate.setPos(at)
    label = QGraphicsSimpleTextItem(text, plate)
    label.setBrush(colour)
    size = label.boundingRect()
    label.setPos(3, -size.height() - 2)
    plate.setRect(0, -size.height() - 3, size.width() + 6, size.height() + 3)
    plate.setBrush(QColor(0, 0, 0, 170))
    plate.setPen(QPen(Qt.PenStyle.NoPen))
    return plate


def zoom_toolbar(view: ImageView) -> QToolBar:
    """Fit, 1:1, zoom in and out for one view, with a separator left for the caller's own actions."""
    toolbar = QToolBar()
    toolbar.addAction("Fit", view.fit)
    toolbar.addAction("1:1", view.actual_size)
    toolbar.addAction("Zoom in", lambda: view.zoom(ZOOM_STEP))
    toolbar.addAction("Zoom out", lambda: view.zoom(1 / ZOOM_STEP))
    toolbar.addSeparator()
    return toolbar
