"""A small form built from an analyzer's parameter dataclass (no per-analyzer GUI code)."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any, get_type_hints

from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLineEdit, QSpinBox, QWidget


class ParamForm(QWidget):
    """One editor per dataclass field: spin boxes for numbers (bounded by min/max metadata),
    a check box for booleans, a combo box for enums, a line edit otherwise."""

    def __init__(self, params_type: type, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._hints = get_type_hints(params_type)
        self.editors: dict[str, QWidget] = {}
        layout = QFormLayout(self)
        layout.setContentsMargins(4, 0, 4, 4)
        defaults = params_type()
        for f in dataclasses.fields(params_type):
            editor = self._editor(f, self._hints[f.name], getattr(defaults, f.name))
            editor.setToolTip(f.metadata.get("help", ""))
            self.editors[f.name] = editor
            layout.addRow(f.metadata.get("label", f.name), editor)

    @staticmethod
    def _editor(f: dataclasses.Field, typ: Any, default: Any) -> QWidget:
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        if typ is bool:
            box = QCheckBox()
            box.setChecked(default)
            return box
        if typ is int:
            spin = QSpinBox()
            spin.setRange(int(lo if lo is not None else -(2**31)), int(hi if hi is not None else 2**31 - 1))
            spin.setValue(default)
            return spin
        if typ is float:
            dspin = QDoubleSpinBox()
            dspin.setDecimals(3)
            dspin.setRange(float(lo if lo is not None else -1e9), float(hi if hi is not None else 1e9))
            dspin.setValue(default)
            return dspin
        if isinstance(typ, type) and issubclass(typ, Enum):
            combo = QComboBox()
            for member in typ:
                combo.addItem(str(member.value), member)
            combo.setCurrentIndex(list(typ).index(default))
            return combo
        line = QLineEdit(str(default))
        return line

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, editor in self.editors.items():
            if isinstance(editor, QCheckBox):
                out[name] = editor.isChecked()
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                out[name] = editor.value()
            elif isinstance(editor, QComboBox):
                out[name] = editor.currentData()
            elif isinstance(editor, QLineEdit):
                out[name] = editor.text()
        return out
