"""Who the analyst is and how the app behaves: the preferences, and the case's own details."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from workbench.app.case import Case
from workbench.core import preferences
from workbench.core.device import DEVICES

DEVICE_LABELS = {
    "auto": "Automatic (CUDA GPU, else Apple GPU, else CPU)",
    "cpu": "CPU",
    "cuda": "NVIDIA GPU (CUDA)",
    "mps": "Apple GPU (MPS)",
}


def _buttons(dialog: QDialog) -> QDialogButtonBox:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


class PreferencesDialog(QDialog):
    """Analyst name and organisation (the report and the audit log name them), pixel limit, map tiles,
    the C2PA trust list (a local PEM file: whose Content Credentials signers the analyst trusts), the
    device learned models run on (the status bar shows the one in use, each result records it), and where
    search collections keep their vectors (the search panel's status line shows it)."""

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
        self.trust_list = QLineEdit(prefs.c2pa_trust_list)
        self.trust_list.setPlaceholderText("none: signatures are checked, every signer is reported as untrusted")
        choose = QPushButton("Choose…")
        choose.clicked.connect(self.choose_trust_list)
        trust_row = QHBoxLayout()
        trust_row.addWidget(self.trust_list, 1)
        trust_row.addWidget(choose)
        self.device = QComboBox()
        for value in DEVICES:
            self.device.addItem(DEVICE_LABELS[value], value)
        self.device.setCurrentIndex(max(0, self.device.findData(prefs.device)))
        self.device.setToolTip("Where the learned models run; a device that is absent falls back to the CPU, "
                               "and the status bar says why")
        self.index_uri = QLineEdit(prefs.index_uri)
        self.index_uri.setPlaceholderText("empty: a FAISS index in each collection's folder")
        self.index_uri.setToolTip("A Milvus server or cluster (http://host:19530) or a Milvus Lite database (a path "
                                  "ending in .db) for the cases opened from now on; see docs/scale.md")
        form = QFormLayout(self)
        form.addRow("Analyst name", self.analyst)
        form.addRow("Organisation", self.organisation)
        form.addRow("Pixel limit", self.megapixels)
        form.addRow("Map tile server", self.tile_url)
        form.addRow("C2PA trust list (PEM)", trust_row)
        form.addRow("Compute device", self.device)
        form.addRow("Search index (Milvus URI)", self.index_uri)
        form.addRow(_buttons(self))
        self.accepted.connect(self.save)

    def choose_trust_list(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "C2PA trust list", self.trust_list.text(),
                                              "PEM certificates (*.pem *.crt);;All files (*)")
        if path:
            self.trust_list.setText(path)

    def save(self) -> None:
        preferences.update(analyst=self.analyst.text().strip(), organisation=self.organisation.text().strip(),
                           max_pixels=self.megapixels.value() * 1_000_000, tile_url=self.tile_url.text().strip(),
                           c2pa_trust_list=self.trust_list.text().strip(),
                           device=self.device.currentData(), index_uri=self.index_uri.text().strip())


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
