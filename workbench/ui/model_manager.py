"""Settings ▸ Models: every model the store knows, its status, card and facts; install and remove files.

Checking a model hashes its weights file (hundreds of MB for some), so the list is filled by a
background survey on the window's job runner and refilled after each install or removal; the GUI
thread never hashes. An install is checked by loading the file the way analyzers will, so a wrong
file is refused now, with its reason, rather than at the next analysis.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QFont, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.app.jobs import Job
from workbench.core import registry
from workbench.core.models import Manifest, ModelState, ModelStatus, ModelStore, WrongFile
from workbench.core.plugin import ModelUnavailable
from workbench.ui.qt_jobs import QtJobs

TEST_MODEL_LABEL = "TEST MODEL - not for casework"
FAMILY_TITLES = {
    "deepfake": "Deepfake detection",
    "synthetic": "AI-generated image detection",
    "localization": "Forgery localisation",
    "similarity": "Similar images and video copies",
    "geolocation": "Geolocation",
    "metadata": "Metadata",
    "other": "Other",
}
STATE_COLOURS = {
    ModelState.INSTALLED: "#1b7f2a",
    ModelState.MISSING: "#6b6b6b",
    ModelState.HASH_MISMATCH: "#b00000",
}
COLUMNS = ("Model", "Id", "Status", "Size", "Licence", "Source", "Path")
ID_ROLE = Qt.ItemDataRole.UserRole


# -- what the background survey finds ----------------------------------------------------------------
@dataclass(frozen=True)
class Survey:
    """Every manifest of one store with its status, group and the analyzers that use it."""

    store: ModelStore
    manifests: dict[str, Manifest]
    statuses: dict[str, ModelStatus]
    families: dict[str, str]
    used_by: dict[str, list[str]]
    errors: dict[str, str]
    """Broken manifests: file name -> reason."""
    trained_here: frozenset[str]
    """Models trained on this machine: removing one deletes its weights and its manifest."""


def survey(store: ModelStore) -> Survey:
    """Check every model (hashing files: run it off the GUI thread)."""
    manifests = store.manifests()
    statuses = {model_id: _status(store, model_id) for model_id in manifests}
    used_by: dict[str, list[str]] = {}
    plugin_family: dict[str, str] = {}
    for analyzer in registry.analyzers().values():
        folder = _plugin_folder(type(analyzer).__module__.split("."))
        for model_id in (*analyzer.models, *getattr(analyzer, "optional_models", ())):
            used_by.setdefault(model_id, []).append(analyzer.title)
            if folder:
                plugin_family.setdefault(model_id, folder)
    families = {model_id: _family(m, plugin_family.get(model_id)) for model_id, m in manifests.items()}
    trained_here = frozenset(i for i in manifests if store.is_user_model(i))
    return Survey(store, manifests, statuses, families, used_by, store.manifest_errors(), trained_here)


def _status(store: ModelStore, model_id: str) -> ModelStatus:
    try:
        return store.status(model_id)
    except ModelUnavailable as exc:  # e.g. an unreadable registry: say so on the row, keep listing
        return ModelStatus(ModelState.MISSING, str(exc))


def _family(manifest: Manifest, plugin: str | None) -> str:
    """The manifest's "family", else the plugin folder of an analyzer using it, else its card's folder."""
    return str(manifest.extra.get("family") or plugin or _plugin_folder(PurePosixPath(manifest.card).parts) or "other")


def _plugin_folder(parts: tuple[str, ...] | list[str]) -> str:
    """'localization' from plugins/localization/... (a module path or a card path), else ''."""
    return parts[1] if len(parts) > 2 and parts[0] == "plugins" else ""


def size_text(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.2f} GiB"


def provider(store: ModelStore, manifest: Manifest, status: ModelStatus) -> str | None:
    """Who supplies the file when the user cannot remove it here (bundled, or a Python package)."""
    if status.path is None:
        return None
    folder = status.path.resolve().parent
    if folder == store.bundled_dir.resolve():
        return "bundled with the application"
    if manifest.package and folder.as_posix().endswith(manifest.package):
        return f"shipped by the installed Python package {manifest.package.split('/')[0]}"
    return None


def error_text(error: BaseException) -> str:
    if isinstance(error, (OSError, ValueError, ModelUnavailable)) and str(error):
        return str(error)
    return f"{type(error).__name__}: {error}"


# -- the details pane ----------------------------------------------------------------------------------
def _link(text: str) -> str:
    escaped = html.escape(text)
    return f'<a href="{escaped}">{escaped}</a>' if text.startswith(("http://", "https://")) else escaped


def _state_html(status: ModelStatus) -> str:
    return f'<b style="color:{STATE_COLOURS[status.state]}">{status.state.value}</b>'


def facts_html(found: Survey, model_id: str) -> str:
    """The manifest's facts as an HTML table: what the file must be, where it is, what it outputs."""
    m, status = found.manifests[model_id], found.statuses[model_id]
    network = m.extra.get("network") if isinstance(m.extra.get("network"), dict) else {}
    spec = m.extra.get("input") if isinstance(m.extra.get("input"), dict) else {}
    rows: list[tuple[str, str]] = [
        ("Id", html.escape(model_id)),
        ("Group", html.escape(FAMILY_TITLES.get(found.families[model_id], found.families[model_id]))),
        ("Status", f"{_state_html(status)}<br>{html.escape(status.reason)}"),
    ]
    if status.path is not None:
        file_size = size_text(status.path.stat().st_size) if status.path.is_file() else "?"
        source = provider(found.store, m, status)
        rows.append(("File", html.escape(f"{status.path} ({file_size}{', ' + source if source else ''})")))
    if model_id in found.trained_here:
        rows.append(("Origin", html.escape(f"trained on this machine (manifest in {found.store.user_manifest_dir})")))
    rows.append(("Expected file", html.escape(m.weights + (f" — {m.source_file}" if m.source_file else ""))))
    rows.extend(_set_rows(found, model_id))
    published = m.sha256 or "none published: the hash is recorded when the file is installed, and checked on every load"
    rows.append(("SHA-256 (published)", html.escape(published)))
    if status.sha256 and status.sha256 != m.sha256:
        label = "SHA-256 (recorded at install)" if status.installed else "SHA-256 (of the file found)"
        rows.append((label, html.escape(status.sha256)))
    rows.append(("Architecture", html.escape(m.architecture or str(network.get("arch", "")) or "—")))
    if network:
        rows.append(("Network", html.escape(json.dumps(network, separators=(", ", ": ")))))
    input_size = m.input_size or spec.get("size")
    if input_size:
        rows.append(("Input size", html.escape(" × ".join(str(v) for v in input_size))))
    input_rows = (("mean", "Input mean"), ("std", "Input std"), ("crop", "Face crop"), ("margin", "Face crop margin"))
    for key, label in input_rows:
        if key in spec:
            rows.append((label, html.escape(str(spec[key]))))
    if "output" in m.extra:
        rows.append(("Output", html.escape(str(m.extra["output"]))))
    rows.append(("Calibration", html.escape(m.calibration or "not stated")))
    rows.append(("Licence", html.escape(m.licence)))
    rows.append(("Source", _link(m.source) if m.source else "—"))
    for key, label in (("source_repo", "Source repository"), ("paper", "Paper")):
        if m.extra.get(key):
            rows.append((label, _link(str(m.extra[key]))))
    if found.used_by.get(model_id):
        rows.append(("Used by", html.escape(", ".join(found.used_by[model_id]))))
    table = "".join(f'<tr><td valign="top"><b>{label}</b></td><td>{value}</td></tr>' for label, value in rows)
    banner = (f'<p style="background:#ffd28a"><b>{TEST_MODEL_LABEL}</b>: trained by the project on a tiny '
              "generated set to test the pipeline; its scores say nothing about real evidence.</p>"
              if m.is_test_model else "")
    return f"<h3>{html.escape(m.title)}</h3>{banner}<table cellspacing='4'>{table}</table>"


def _set_rows(found: Survey, model_id: str) -> list[tuple[str, str]]:
    """Multi-file models: the other files this one needs (its manifest's "needs"), and who needs it."""

    def listed(ids: list[str]) -> str:
        return "<br>".join(
            f"{html.escape(i)}: {_state_html(found.statuses[i])}" if i in found.statuses
            else f"{html.escape(i)}: <b>no manifest</b>" for i in ids)

    needs = [str(i) for i in found.manifests[model_id].extra.get("needs") or []]
    needed_by = [i for i, m in found.manifests.items() if model_id in (m.extra.get("needs") or [])]
    rows = [("Needs also", listed(needs))] if needs else []
    return rows + ([("Needed by", listed(needed_by))] if needed_by else [])


# -- the dialog ----------------------------------------------------------------------------------------
class ModelManager(QDialog):
    """Lists the models by group; installs, removes and explains them. `modelsChanged` fires after an
    install or removal so the window can refresh which analyzers are ready."""

    modelsChanged = Signal()

    def __init__(self, jobs: QtJobs, store_factory: Callable[[], ModelStore] = ModelStore,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(1180, 780)
        self.jobs = jobs
        self.store_factory = store_factory
        """Called for every survey, so manifests written since (e.g. a newly trained model) show up."""
        self.found: Survey | None = None
        self._wanted: str | None = None
        """A model to select once the list is filled (`focus` before the check is done)."""
        self.messages: list[QMessageBox] = []
        self._survey_job: Job | None = None
        self._installs: set[int] = set()
        """Install jobs still running: no second install or removal meanwhile."""

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.tree.itemSelectionChanged.connect(self._show_selected)
        self.summary = QLabel("Checking model files…")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.broken = QLabel()
        self.broken.setWordWrap(True)
        self.broken.setStyleSheet("color: #b00000;")
        self.broken.hide()
        self.facts = QTextBrowser()
        self.facts.setOpenExternalLinks(True)
        self.card = QTextBrowser()
        self.card.setOpenExternalLinks(True)
        details = QSplitter(Qt.Orientation.Horizontal)
        details.addWidget(self.facts)
        details.addWidget(self.card)
        details.setSizes([560, 620])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tree)
        split.addWidget(details)
        split.setSizes([330, 450])

        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # indeterminate: hashing reports no fraction
        self.busy.setMaximumWidth(160)
        self.busy.hide()
        self.status_line = QLabel()
        self.status_line.setWordWrap(True)
        self.status_line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.install_button = self._button("Install from file…", self.choose_file,
                                           "Verify a weights file you have and record it for this model")
        self.remove_button = self._button("Remove…", self.confirm_remove,
                                          "Forget the installed file (the store's own copy is deleted)")
        self.folder_button = self._button("Open folder", self.open_folder, "Show the folder that holds the file")
        self.copy_path_button = self._button("Copy path", self.copy_path, "Copy the weights file's path")
        self.copy_source_button = self._button("Copy source", self.copy_source,
                                               "Copy where the file comes from (to fetch it on a connected machine)")
        refresh = self._button("Refresh", self.refresh, "Check every model file again")
        close = self._button("Close", self.close, "")
        buttons = QHBoxLayout()
        for button in (self.install_button, self.remove_button, self.folder_button, self.copy_path_button,
                       self.copy_source_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(refresh)
        buttons.addWidget(close)
        status_row = QHBoxLayout()
        status_row.addWidget(self.busy)
        status_row.addWidget(self.status_line, 1)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)
        layout.addWidget(self.broken)
        layout.addLayout(status_row)
        layout.addLayout(buttons)
        self._update_buttons()
        self.refresh()

    def _button(self, text: str, slot: Callable[[], object], tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.setAutoDefault(False)  # Enter in the dialog must not open a file chooser
        button.clicked.connect(lambda _=False: slot())
        return button

    # -- survey ------------------------------------------------------------------------------------
    def refresh(self) -> Job:
        """Check every model in the background; the list follows when the check is done."""
        factory = self.store_factory
        job = self.jobs.submit("Checking model files", lambda job: survey(factory()),
                               on_done=self._surveyed, listed=False)
        self._survey_job = job
        self.busy.show()
        return job

    def _surveyed(self, job: Job) -> None:
        if job is not self._survey_job:
            return  # a newer check is on its way
        self._survey_job = None
        self._show_busy()
        if job.error is not None:
            self.summary.setText(f"⚠ The models could not be checked: {error_text(job.error)}")
            return
        self.found = job.result
        self._fill()

    def _fill(self) -> None:
        assert self.found is not None
        selected, self._wanted = self._wanted or self.selected_id(), None
        self.tree.clear()
        by_family: dict[str, list[str]] = {}
        for model_id in sorted(self.found.manifests):
            by_family.setdefault(self.found.families[model_id], []).append(model_id)
        bold = QFont()
        bold.setBold(True)
        for family in sorted(by_family, key=lambda f: (f == "other", FAMILY_TITLES.get(f, f))):
            group = QTreeWidgetItem(self.tree, [FAMILY_TITLES.get(family, family.capitalize())])
            group.setFirstColumnSpanned(True)
            group.setFont(0, bold)
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            for model_id in by_family[family]:
                self._add_row(group, model_id)
            group.setExpanded(True)
        for column in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(column)
        self.tree.setColumnWidth(0, min(self.tree.columnWidth(0), 430))
        for column in (4, 5, 6):
            self.tree.setColumnWidth(column, min(self.tree.columnWidth(column), 260))
        if self.found.errors:
            self.broken.setText("⚠ Broken manifests (not listed): " + "; ".join(
                f"{name}: {reason}" for name, reason in self.found.errors.items()))
        self.broken.setVisible(bool(self.found.errors))
        counts = [s.state for s in self.found.statuses.values()]
        self.summary.setText(
            f"{len(counts)} models: {counts.count(ModelState.INSTALLED)} installed, "
            f"{counts.count(ModelState.MISSING)} missing, {counts.count(ModelState.HASH_MISMATCH)} with a wrong "
            f"hash. Installed files go to {self.found.store.user_dir}")
        if selected is not None and self.select(selected):
            return
        self._show_selected()

    def _add_row(self, group: QTreeWidgetItem, model_id: str) -> None:
        assert self.found is not None
        m, status = self.found.manifests[model_id], self.found.statuses[model_id]
        size = status.path.stat().st_size if status.path is not None and status.path.is_file() else None
        title = f"{m.title}   [{TEST_MODEL_LABEL}]" if m.is_test_model else m.title
        item = QTreeWidgetItem(group, [
            title, model_id, status.state.value, size_text(size) if size is not None else "", m.licence, m.source,
            str(status.path) if status.path is not None else "",
        ])
        item.setData(0, ID_ROLE, model_id)
        item.setForeground(2, QBrush(QColor(STATE_COLOURS[status.state])))
        item.setToolTip(2, status.reason)
        for column in (0, 4, 5, 6):
            item.setToolTip(column, item.text(column))
        if m.is_test_model:
            item.setBackground(0, QBrush(QColor("#ffd28a")))

    # -- selection ---------------------------------------------------------------------------------
    def selected_id(self) -> str | None:
        items = self.tree.selectedItems()
        return items[0].data(0, ID_ROLE) if items else None

    def focus(self, model_id: str) -> None:
        """Show this model (now, or once the running check has filled the list)."""
        if self._survey_job is not None or not self.select(model_id):
            self._wanted = model_id

    def select(self, model_id: str) -> bool:
        """Select a model's row (False when the list has no such model)."""
        for group in range(self.tree.topLevelItemCount()):
            parent = self.tree.topLevelItem(group)
            for row in range(parent.childCount()):
                if parent.child(row).data(0, ID_ROLE) == model_id:
                    self.tree.setCurrentItem(parent.child(row))
                    return True
        return False

    def _show_selected(self) -> None:
        model_id = self.selected_id()
        if model_id is None or self.found is None:
            self.facts.setHtml("<p>Select a model to see its card and facts.</p>")
            self.card.clear()
        else:
            self.facts.setHtml(facts_html(self.found, model_id))
            self.card.setMarkdown(self.found.store.card(model_id) or "_This model has no card._")
        self._update_buttons()

    def _update_buttons(self) -> None:
        model_id = self.selected_id()
        found = self.found
        status = found.statuses[model_id] if found and model_id else None
        installing = bool(self._installs)
        self.install_button.setEnabled(status is not None and not installing)
        self.remove_button.setEnabled(
            status is not None and status.path is not None and not installing
            and provider(found.store, found.manifests[model_id], status) is None)
        for button in (self.folder_button, self.copy_path_button):
            button.setEnabled(status is not None)
        self.copy_source_button.setEnabled(status is not None and bool(found.manifests[model_id].source))

    # -- install and remove -------------------------------------------------------------------------
    def choose_file(self) -> None:
        model_id = self.selected_id()
        if model_id is None or self.found is None:
            return
        manifest = self.found.manifests[model_id]
        path, _ = QFileDialog.getOpenFileName(self, f"Weights file for {manifest.title} (expected: {manifest.weights})")
        if path:
            self.install_file(model_id, Path(path))

    def install_file(self, model_id: str, path: Path) -> Job:
        """Hash, install and load-check `path` in the background; a refusal is shown, never raised."""
        assert self.found is not None
        store = self.found.store
        job = self.jobs.submit(f"Installing model {model_id}", lambda job: store.install_checked(model_id, path),
                               on_done=lambda job: self._installed(model_id, job))
        self._installs.add(job.id)
        self.status_line.setText(f"Installing {model_id}: hashing and checking {path.name}…")
        self._show_busy()
        return job

    def _installed(self, model_id: str, job: Job) -> None:
        self._installs.discard(job.id)
        self._show_busy()
        if job.error is not None:
            self.show_message("Model not installed", error_text(job.error))
        else:
            self.status_line.setText(f"Installed {model_id}: {job.result}")
        if job.error is None or isinstance(job.error, WrongFile):
            self.modelsChanged.emit()
        self.refresh()

    def confirm_remove(self) -> None:
        model_id = self.selected_id()
        if model_id is None or self.found is None:
            return
        what = (f"Delete the model '{model_id}' trained on this machine (its weights and its manifest)?"
                if model_id in self.found.trained_here else
                f"Forget the installed file for '{model_id}'? Its copy in the models folder is deleted; a file "
                "you kept elsewhere stays where it is.")
        answer = QMessageBox.question(
            self, "Remove model", f"{what} Analyses that need it will report it as not installed.")
        if answer == QMessageBox.StandardButton.Yes:
            self.remove_model(model_id)

    def remove_model(self, model_id: str) -> None:
        assert self.found is not None
        try:
            self.found.store.remove(model_id)
        except (OSError, ModelUnavailable) as exc:
            self.show_message("Model not removed", error_text(exc))
            return
        self.status_line.setText(f"Removed {model_id}")
        self.modelsChanged.emit()
        self.refresh()

    # -- files and clipboard ------------------------------------------------------------------------
    def _selected_folder(self) -> Path | None:
        model_id = self.selected_id()
        if model_id is None or self.found is None:
            return None
        path = self.found.statuses[model_id].path
        return path.parent if path is not None else self.found.store.user_dir

    def open_folder(self) -> None:
        folder = self._selected_folder()
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def copy_path(self) -> None:
        """The file's path when there is one, else where an install will put it."""
        model_id, folder = self.selected_id(), self._selected_folder()
        if model_id is None or folder is None or self.found is None:
            return
        path = self.found.statuses[model_id].path or folder / self.found.manifests[model_id].weights
        QGuiApplication.clipboard().setText(str(path))
        self.status_line.setText(f"Copied {path}")

    def copy_source(self) -> None:
        model_id = self.selected_id()
        if model_id is not None and self.found is not None:
            QGuiApplication.clipboard().setText(self.found.manifests[model_id].source)
            self.status_line.setText(f"Copied {self.found.manifests[model_id].source}")

    # -- busy state and messages --------------------------------------------------------------------
    def _show_busy(self) -> None:
        self.busy.setVisible(bool(self._installs) or self._survey_job is not None)
        self._update_buttons()

    def show_message(self, title: str, text: str) -> QMessageBox:
        """A non-blocking warning: the list stays usable behind it."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setModal(False)
        box.show()
        self.messages.append(box)
        box.finished.connect(lambda _r: self.messages.remove(box) if box in self.messages else None)
        self.status_line.setText(f"⚠ {title}: {text}")
        return box
