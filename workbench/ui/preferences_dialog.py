"""Who the analyst is and how the app behaves: the preferences, and the case's own details."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QSpinBox, QWidget

from workbench.app.case import Case
from workbench.core import preferences


def _buttons(dialog: QDialog) -> QDialogButtonBox:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


class PreferencesDialog(QDialog):
    """Analyst name and organisation (the report and the audit log name them), pixel limit, map tiles."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        prefs = preferences.load()
        self.analyst = QLineEdit(prefs.analyst)
        self.analyst.setPlaceholderText("e.g. Jane Doe")
        self.organisation = QLineEdit(prefs.organisation)
        self.organisation.setPlaceholderText("e.g. Newsroom verification desk")
        self.megapixels = QSpinBox()
        self.megapixels.setRange(1, 10_000)
        self.megapixels.setSuffix(" MP")
        self.megapixels.setValue(max(1, prefs.max_pixels // 1_000_000))
        self.megapixels.setToolTip("Images larger than this are refused at import (decompression-bomb guard)")
        self.tile_url = QLineEdit(prefs.tile_url)
        self.tile_url.setPlaceholderText("empty: offline maps only (bundled data)")
        form = QFormLayout(self)
        form.addRow("Analyst name", self.analyst)
        form.addRow("Organisation", self.organisation)
        form.addRow("Pixel limit", self.megapixels)
        form.addRow("Map tile server", self.tile_url)
        form.addRow(_buttons(self))
        self.accepted.connect(self.save)

    def save(self) -> None:
        preferences.update(analyst=self.analyst.text().strip(), organisation=self.organisation.text().strip(),
                           max_pixels=self.megapixels.value() * 1_000_000, tile_url=self.tile_url.text().strip())


class CaseDetailsDialog(QDialog):
    """The case's name, analyst and organisation as the report prints them."""

    def __init__(self, case: Case, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.case = case
        self.setWindowTitle("Case details")
        self.name, self.analyst = QLineEdit(case.name), QLineEdit(case.analyst)
        self.organisation = QLineEdit(case.organisation)
        form = QFormLayout(self)
        form.addRow("Case name", self.name)
        form.addRow("Analyst", self.analyst)
        form.addRow("Organisation", self.organisation)
        form.addRow(_buttons(self))
        self.accepted.connect(self.save)

    def save(self) -> None:
        self.case.set_details(self.name.text().strip(), self.analyst.text().strip(), self.organisation.text().strip())
