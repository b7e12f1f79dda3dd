"""The layer list of the shown item: the original and each map, one shown at a time, flipped fast.

Layers are listed strongest signal first (by calibrated rank), numbered for the keys 0–9; each keeps
its own opacity. Compare the shown layer with any other, side by side or with a swipe.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from workbench.ui.compare_viewer import CompareMode
from workbench.ui.wheel_guard import guard_wheel

KEYS_HINT = "Keys: 0 original, 1–9 a layer, PgUp/PgDn flip, hold Space for the original."


@dataclass
class Layer:
    key: str
    title: str
    detail: str = ""
    """Score and how unusual it is, shown under the title."""
    opacity: float = 0.8


class LayersPanel(QWidget):
    layerChosen = Signal(object)  # layer key, None for the original
    opacityChanged = Signal(str, float)
    compareChanged = Signal(object, object)  # CompareMode, partner key (None: the original)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layers: list[Layer] = []
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.currentRowChanged.connect(self._row_changed)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.valueChanged.connect(self._opacity_changed)
        self.compare_mode = QComboBox()
        for mode in CompareMode:
            self.compare_mode.addItem(mode.value.capitalize() if mode is not CompareMode.OFF else "No comparison", mode)
        self.partner = QComboBox()
        self.compare_mode.currentIndexChanged.connect(self._compare_changed)
        self.partner.currentIndexChanged.connect(self._compare_changed)
        self.hint = QLabel(KEYS_HINT)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #555;")
        form = QFormLayout()
        form.addRow("Opacity", self.opacity)
        form.addRow("Compare", self.compare_mode)
        form.addRow("with", self.partner)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addLayout(form)
        layout.addWidget(self.hint)
        guard_wheel(self)
        self.set_layers([], None, video=False)

    def set_layers(self, layers: list[Layer], chosen: str | None, video: bool) -> None:
        """The item's layers; `chosen` is shown (None: the original). Video frames are not compared."""
        self.layers = layers
        self.list.blockSignals(True)
        self.list.clear()
        self.list.addItem(QListWidgetItem("0 · Original (no overlay)"))
        for n, layer in enumerate(layers, 1):
            number = f"{n} · " if n <= 9 else ""
            item = QListWidgetItem(f"{number}{layer.title}" + (f"\n    {layer.detail}" if layer.detail else ""))
            item.setToolTip(layer.detail)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.partner.blockSignals(True)
        self.partner.clear()
        self.partner.addItem("Original", None)
        for layer in layers:
            self.partner.addItem(layer.title, layer.key)
        self.partner.blockSignals(False)
        for widget in (self.compare_mode, self.partner):
            widget.setEnabled(not video)
        self.compare_mode.setCurrentIndex(0)
        self.choose(chosen)

    def current_key(self) -> str | None:
        row = self.list.currentRow()
        return self.layers[row - 1].key if row >= 1 else None

    def choose(self, key: str | None) -> None:
        row = next((i for i, layer in enumerate(self.layers, 1) if layer.key == key), 0)
        if row == self.list.currentRow():
            self._row_changed(row)
        else:
            self.list.setCurrentRow(row)

    def choose_number(self, number: int) -> None:
        """The key `number` (0 = the original) chooses that row, when there is one."""
        if 0 <= number <= len(self.layers):
            self.list.setCurrentRow(number)

    def step(self, delta: int) -> None:
        """Flip to the next (+1) or previous (−1) layer, wrapping around."""
        rows = len(self.layers) + 1
        self.list.setCurrentRow((max(self.list.currentRow(), 0) + delta) % rows)

    def _row_changed(self, row: int) -> None:
        layer = self.layers[row - 1] if row >= 1 else None
        self.opacity.blockSignals(True)
        self.opacity.setValue(round(100 * layer.opacity) if layer else 0)
        self.opacity.blockSignals(False)
        self.opacity.setEnabled(layer is not None)
        self.layerChosen.emit(layer.key if layer else None)

    def _opacity_changed(self, value: int) -> None:
        row = self.list.currentRow()
        if row >= 1:
            layer = self.layers[row - 1]
            layer.opacity = value / 100
            self.opacityChanged.emit(layer.key, layer.opacity)

    def _compare_changed(self) -> None:
        self.compareChanged.emit(CompareMode(self.compare_mode.currentData()), self.partner.currentData())
