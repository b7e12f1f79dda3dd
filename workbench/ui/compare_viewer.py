"""The image viewer of an item: one layer shown at a time, compared with any other layer side by side
or with a swipe, and regions marked for findings.

Every layer is added to both views (pixmaps are shared, not copied); the main view shows the chosen
layer, the partner view (side by side) or the swipe (left of its line) shows the compared one.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from PySide6.QtCore import QEvent, QLineF, QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QMouseEvent, QPixmap
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QLabel,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from workbench.ui.region_marking import FREEHAND, RECT, RegionMarker
from workbench.ui.viewer import ImageView, cosmetic_pen, zoom_toolbar

GRAB_PX = 8
"""How near the swipe line (screen pixels) a press must be to drag it."""


class CompareMode(StrEnum):
    OFF = "off"
    SIDE_BY_SIDE = "side by side"
    SWIPE = "swipe"


class Swipe(QObject):
    """Left of a vertical line, the image shows another layer (or the original); drag the line."""

    def __init__(self, view: ImageView) -> None:
        super().__init__(view)
        self.view = view
        self.fraction = 0.5
        self.clip = QGraphicsRectItem()
        self.clip.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape)
        self.clip.setPen(cosmetic_pen(QColor(0, 0, 0, 0), 0.0))
        self.clip.setZValue(900)  # above every map, below annotations
        self.base = QGraphicsPixmapItem(self.clip)
        self.overlay = QGraphicsPixmapItem(self.clip)
        self.line = QGraphicsLineItem()
        self.line.setPen(cosmetic_pen(QColor(255, 255, 255), 2.0))
        self.line.setZValue(950)
        for item in (self.clip, self.line):
            item.hide()
            view.scene().addItem(item)
        self._dragging = False
        view.viewport().installEventFilter(self)

    @property
    def active(self) -> bool:
        return self.clip.isVisible()

    def show(self, partner: QGraphicsPixmapItem | None) -> None:
        """Swipe against `partner` (a layer of the view), or against the original when None."""
        self.base.setPixmap(self.view.base.pixmap())
        self.overlay.setPixmap(partner.pixmap() if partner is not None else QPixmap())
        self.overlay.setOpacity(partner.opacity() if partner is not None else 1.0)
        self.clip.show()
        self.line.show()
        self.set_fraction(self.fraction)

    def hide(self) -> None:
        self.clip.hide()
        self.line.hide()

    def set_fraction(self, fraction: float) -> None:
        self.fraction = min(max(fraction, 0.0), 1.0)
        w, h = self.view.image_size()
        x = w * self.fraction
        self.clip.setRect(0, 0, x, h)
        self.line.setLine(QLineF(x, 0, x, h))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if not self.active or not isinstance(event, QMouseEvent):
            return False
        x = self.view.mapToScene(event.position().toPoint()).x()
        w = max(self.view.image_size()[0], 1)
        if event.type() == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
            line_x = self.view.mapFromScene(self.line.line().p1()).x()
            self._dragging = abs(event.position().x() - line_x) <= GRAB_PX
            return self._dragging
        if event.type() == QEvent.Type.MouseMove and self._dragging:
            self.set_fraction(x / w)
            return True
        if event.type() == QEvent.Type.MouseButtonRelease and self._dragging:
            self._dragging = False
            return True
        return False


class CompareViewer(QWidget):
    """The item's image with its layers; compare two layers; mark regions."""

    regionDrawn = Signal(object)  # {"kind", "points"} in image pixels

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = ImageView()
        self.partner = ImageView()
        self.partner.hide()
        self.swipe = Swipe(self.view)
        self.marker = RegionMarker(self.view)
        self.marker.regionDrawn.connect(self._region_drawn)
        self.mode = CompareMode.OFF
        self.partner_key: str | None = None
        self.caption = QLabel("Drop images or folders here, or use File ▸ Add files")
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        toolbar = zoom_toolbar(self.view)
        marking = QActionGroup(self)
        marking.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.mark_rect = self._mark_action("Mark ▭", RECT, "Drag a rectangle around what you want to note "
                                           "as a finding", marking)
        self.mark_freehand = self._mark_action("Mark ✎", FREEHAND, "Draw the outline of what you want to note "
                                               "as a finding", marking)
        toolbar.addActions([self.mark_rect, self.mark_freehand])
        toolbar.addSeparator()
        self.show_original = QAction("Original", self, checkable=True)
        self.show_original.setToolTip("The untouched image without any overlay (or hold Space)")
        self.show_original.toggled.connect(self.view.set_overlays_hidden)
        toolbar.addAction(self.show_original)

        self.splitter = QSplitter()
        self.splitter.addWidget(self.partner)
        self.splitter.addWidget(self.view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(toolbar)
        layout.addWidget(self.caption)
        layout.addWidget(self.splitter, 1)
        self.view.viewChanged.connect(lambda: self.partner.isVisible() and self.partner.follow(self.view))

    def _mark_action(self, text: str, mode: str, tip: str, group: QActionGroup) -> QAction:
        action = QAction(text, self, checkable=True)
        action.setToolTip(tip)
        action.toggled.connect(lambda on: self._set_marking(mode, on))
        group.addAction(action)
        return action

    def _set_marking(self, mode: str, on: bool) -> None:
        if on:
            self.marker.set_mode(mode)
        elif self.marker.mode == mode:
            self.marker.set_mode(None)

    def _region_drawn(self, region: dict) -> None:
        for action in (self.mark_rect, self.mark_freehand):
            action.setChecked(False)
        self.regionDrawn.emit(region)

    def set_image(self, rgb: np.ndarray | None, caption: str) -> None:
        self.swipe.hide()
        self.view.set_image(rgb)
        self.partner.set_image(rgb)
        self.caption.setText(caption)
        self.show_original.setChecked(False)
        self.set_compare(CompareMode.OFF, None)

    def clear_layers(self) -> None:
        self.swipe.hide()
        self.view.clear_layers()
        self.partner.clear_layers()

    def add_layer(self, key: str, rgba: np.ndarray, opacity: float, pairs: np.ndarray | None = None) -> None:
        """A heat-map layer, hidden until chosen; `pairs` are drawn as lines with it (copy-move)."""
        for view in (self.view, self.partner):
            view.set_layer(key, rgba, opacity, visible=False)
            if pairs is not None and len(pairs):
                view.set_pairs(key, pairs)

    def set_layer_pixmap(self, key: str, rgba: np.ndarray) -> None:
        for view in (self.view, self.partner):
            view.set_layer_pixmap(key, rgba)
        self._refresh_compare()

    def set_layer_opacity(self, key: str, opacity: float) -> None:
        for view in (self.view, self.partner):
            view.set_layer_opacity(key, opacity)
        self._refresh_compare()

    def show_layer(self, key: str | None) -> None:
        self.view.show_only(key)

    def set_compare(self, mode: CompareMode, partner_key: str | None) -> None:
        """Compare the shown layer with `partner_key` (None: the original)."""
        self.mode, self.partner_key = mode, partner_key
        self.partner.setVisible(mode is CompareMode.SIDE_BY_SIDE)
        if mode is CompareMode.SIDE_BY_SIDE:
            half = max(self.splitter.width() // 2, 1)
            self.splitter.setSizes([half, half])
            self.view.fit()
            self.partner.show_only(partner_key)
            self.partner.follow(self.view)
        self._refresh_compare()

    def _refresh_compare(self) -> None:
        if self.mode is CompareMode.SWIPE:
            self.swipe.show(self.view.layers.get(self.partner_key) if self.partner_key else None)
        else:
            self.swipe.hide()
