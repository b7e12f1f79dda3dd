"""Zoom/pan image viewer with overlay layers, and a side-by-side comparison of two viewers."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QColor, QPainter, QPainterPath, QPen, QWheelEvent
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QLabel,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from workbench.core.render import PAIR_COLOURS
from workbench.ui.images import to_pixmap

ZOOM_STEP = 1.25
BOX_COLOUR = QColor(0, 230, 118)


class ImageView(QGraphicsView):
    """One image plus named RGBA overlay layers, each with its own opacity and visibility."""

    viewChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setAcceptDrops(False)
        self._base = QGraphicsPixmapItem()
        self.scene().addItem(self._base)
        self.layers: dict[str, QGraphicsPixmapItem] = {}
        self._overlays_hidden = False
        self.horizontalScrollBar().valueChanged.connect(self.viewChanged)
        self.verticalScrollBar().valueChanged.connect(self.viewChanged)

    def set_image(self, rgb: np.ndarray | None) -> None:
        self.clear_layers()
        if rgb is None:
            self._base.setPixmap(to_pixmap(np.zeros((1, 1, 3), np.uint8)))
            return
        self._base.setPixmap(to_pixmap(rgb))
        self.setSceneRect(self._base.boundingRect())
        self.fit()

    def set_frame(self, rgb: np.ndarray) -> None:
        """Replace the pixels only (video playback): layers, zoom and scroll stay as they are."""
        pixmap = self._base.pixmap()
        resized = (pixmap.width(), pixmap.height()) != (rgb.shape[1], rgb.shape[0])
        self._base.setPixmap(to_pixmap(rgb))
        if resized:
            self.setSceneRect(self._base.boundingRect())
            self.fit()

    def has_image(self) -> bool:
        return self._base.pixmap().width() > 1

    def _layer(self, key: str) -> QGraphicsPixmapItem:
        item = self.layers.get(key)
        if item is None:
            item = QGraphicsPixmapItem()
            item.setZValue(len(self.layers) + 1)
            self.scene().addItem(item)
            self.layers[key] = item
            self.set_layer_visible(key, True)
        return item

    def set_layer(self, key: str, rgba: np.ndarray, opacity: float = 0.7, visible: bool = True,
                  stretch: bool = False) -> None:
        """`stretch`: the layer is a reduced-size map, scaled to cover the whole image."""
        item = self._layer(key)
        pixmap = to_pixmap(rgba)
        if stretch:  # scale the picture, not the item: its children (lines, boxes) are in image pixels
            pixmap = pixmap.scaled(self._base.pixmap().size(), Qt.AspectRatioMode.IgnoreAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)
        item.setPixmap(pixmap)
        item.setOpacity(opacity)
        self.set_layer_visible(key, visible)

    def set_boxes(self, key: str, boxes: np.ndarray, labels: list[str]) -> None:
        """Rectangles (x0, y0, x1, y1 in image pixels) with their labels, in the layer `key` so
        they show and hide with it; replaces the boxes this layer had (one call per video frame)."""
        layer = self._layer(key)
        for child in layer.childItems():
            if child.data(1) == "boxes":
                self.scene().removeItem(child)
        path = QPainterPath()
        rects = np.asarray(boxes, dtype=float).reshape(-1, 4)
        for x0, y0, x1, y1 in rects:
            path.addRect(x0, y0, x1 - x0, y1 - y0)
        pen = QPen(BOX_COLOUR)
        pen.setCosmetic(True)
        pen.setWidthF(2.0)
        outline = QGraphicsPathItem(path, layer)
        outline.setPen(pen)
        outline.setData(1, "boxes")
        for (x0, y0, _x1, _y1), text in zip(rects, labels, strict=False):
            if not text:
                continue
            # screen-sized (readable at any zoom), on a dark plate just above the box's corner
            plate = QGraphicsRectItem(outline)
            plate.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            plate.setPos(x0, y0)
            label = QGraphicsSimpleTextItem(text, plate)
            label.setBrush(BOX_COLOUR)
            size = label.boundingRect()
            label.setPos(3, -size.height() - 2)
            plate.setRect(0, -size.height() - 3, size.width() + 6, size.height() + 3)
            plate.setBrush(QColor(0, 0, 0, 170))
            plate.setPen(QPen(Qt.PenStyle.NoPen))

    def set_pairs(self, key: str, pairs: np.ndarray, max_pairs: int = 5000) -> None:
        """Matched point pairs as lines above the layer `key`, shown and hidden with it."""
        path = QPainterPath()
        for x1, y1, x2, y2 in np.asarray(pairs, dtype=float)[:max_pairs]:
            path.moveTo(x1, y1)
            path.lineTo(x2, y2)
            path.addEllipse(x1 - 2, y1 - 2, 4, 4)
            path.addEllipse(x2 - 2, y2 - 2, 4, 4)
        pen = QPen(QColor(*PAIR_COLOURS[0]))
        pen.setCosmetic(True)
        pen.setWidthF(1.5)
        lines = QGraphicsPathItem(path, self.layers[key])
        lines.setPen(pen)

    def set_layer_pixmap(self, key: str, rgba: np.ndarray) -> None:
        """Replace a layer's picture; a smaller one (e.g. a reduced browsing map) is stretched over the image."""
        if key in self.layers:
            item = self.layers[key]
            stretch = rgba.shape[:2] != (self._base.pixmap().height(), self._base.pixmap().width())
            self.set_layer(key, rgba, item.opacity(), bool(item.data(0)), stretch=stretch)

    def set_layer_opacity(self, key: str, opacity: float) -> None:
        if key in self.layers:
            self.layers[key].setOpacity(opacity)

    def set_layer_visible(self, key: str, visible: bool) -> None:
        if key in self.layers:
            self.layers[key].setData(0, visible)
            self.layers[key].setVisible(visible and not self._overlays_hidden)

    def set_overlays_hidden(self, hidden: bool) -> None:
        """Show the original alone without forgetting each layer's own visibility."""
        self._overlays_hidden = hidden
        for item in self.layers.values():
            item.setVisible(bool(item.data(0)) and not hidden)

    def clear_layers(self) -> None:
        for item in self.layers.values():
            self.scene().removeItem(item)
        self.layers.clear()

    def fit(self) -> None:
        self.fitInView(self._base, Qt.AspectRatioMode.KeepAspectRatio)
        self.viewChanged.emit()

    def actual_size(self) -> None:
        self.resetTransform()
        self.viewChanged.emit()

    def zoom(self, factor: float) -> None:
        self.scale(factor, factor)
        self.viewChanged.emit()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        self.zoom(ZOOM_STEP ** (event.angleDelta().y() / 120.0))

    def follow(self, other: ImageView) -> None:
        """Copy another view's zoom and scroll position (side-by-side sync)."""
        self.setTransform(other.transform())
        self.horizontalScrollBar().setValue(other.horizontalScrollBar().value())
        self.verticalScrollBar().setValue(other.verticalScrollBar().value())


def zoom_toolbar(view: ImageView) -> QToolBar:
    """Fit, 1:1, zoom in and out for one view, with a separator left for the caller's own actions."""
    toolbar = QToolBar()
    toolbar.addAction("Fit", view.fit)
    toolbar.addAction("1:1", view.actual_size)
    toolbar.addAction("Zoom in", lambda: view.zoom(ZOOM_STEP))
    toolbar.addAction("Zoom out", lambda: view.zoom(1 / ZOOM_STEP))
    toolbar.addSeparator()
    return toolbar


class CompareViewer(QWidget):
    """The analysed view with overlays, optionally beside the untouched original, kept in sync."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = ImageView()
        self.original = ImageView()
        self.original.hide()
        self.caption = QLabel("Drop images or folders here, or use File ▸ Add files")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)

        toolbar = zoom_toolbar(self.view)
        self.side_by_side = QAction("Side by side", self, checkable=True)
        self.side_by_side.toggled.connect(self._toggle_side_by_side)
        toolbar.addAction(self.side_by_side)
        self.show_original = QAction("Original only", self, checkable=True)
        self.show_original.setToolTip("Hide every overlay to look at the untouched image")
        self.show_original.toggled.connect(self._toggle_original)
        toolbar.addAction(self.show_original)

        self.splitter = QSplitter()
        self.splitter.addWidget(self.original)
        self.splitter.addWidget(self.view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(toolbar)
        layout.addWidget(self.caption)
        layout.addWidget(self.splitter, 1)
        self.view.viewChanged.connect(lambda: self.original.isVisible() and self.original.follow(self.view))

    def set_image(self, rgb: np.ndarray | None, caption: str) -> None:
        self.view.set_image(rgb)
        self.original.set_image(rgb)
        self.caption.setText(caption)
        self.show_original.setChecked(False)

    def _toggle_side_by_side(self, on: bool) -> None:
        self.original.setVisible(on)
        if on:
            half = max(self.splitter.width() // 2, 1)
            self.splitter.setSizes([half, half])
            self.view.fit()
            self.original.follow(self.view)

    def _toggle_original(self, on: bool) -> None:
        self.view.set_overlays_hidden(on)
