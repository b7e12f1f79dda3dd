"""The main window: evidence, the item's layers and results, its triage summary, findings, report.

The path it leads: drop files → Run (the Triage preset by default) → read the summary and flip the
layers → mark what you see as findings → export the report. Every panel scrolls or scales, so the
window fits a 1366×768 screen whatever the results.

Plugins add docks (`Panel`, e.g. the similar-image search) and result tabs (`ResultTab`, e.g. the
geolocation map); the window is their host (`workbench.ui.hosting.PanelHost`) and imports no plugin.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QStackedWidget,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from workbench import __version__
from workbench.app.analysis import analyze
from workbench.app.case import Case, CaseError, Run
from workbench.app.importing import ImportReport, import_paths
from workbench.app.jobs import Job
from workbench.app.report import ReportCancelled, write_pdf
from workbench.core import contributions, preferences
from workbench.core.device import resolve_device
from workbench.core.frames import applies_to
from workbench.core.media import Media, MediaError, MediaKind
from workbench.ui.analyses_panel import AnalysesPanel
from workbench.ui.compare_viewer import CompareViewer
from workbench.ui.evidence_list import EvidenceList
from workbench.ui.findings_panel import FindingDialog, FindingsPanel
from workbench.ui.help_cards import CardsDialog
from workbench.ui.hosting import call
from workbench.ui.item_results import ItemResults
from workbench.ui.layer_keys import LayerKeys
from workbench.ui.layers_panel import LayersPanel
from workbench.ui.messages import Messages
from workbench.ui.model_manager import ModelManager
from workbench.ui.preferences_dialog import CaseDetailsDialog, PreferencesDialog
from workbench.ui.qt_jobs import QtJobs
from workbench.ui.summary_panel import SummaryPanel
from workbench.ui.video_viewer import VideoViewer
from workbench.ui.wheel_guard import guard_wheel

if TYPE_CHECKING:
    from workbench.app.case import Evidence, Finding
    from workbench.core.contributions import Panel
    from workbench.ui.welcome import Welcome

DEVICE_CHECK_DELAY_MS = 1500
MIN_SCREEN = (1280, 720)
"""The window must fit this (laptop screens); no panel may force it larger."""


class MainWindow(QMainWindow):
    def __init__(self, case: Case, max_pixels: int | None = None) -> None:
        super().__init__()
        self.case = case
        self.max_pixels = max_pixels or preferences.load().max_pixels
        self.jobs = QtJobs(self)
        self.current_id: int | None = None
        self.messages = Messages(self)
        self.setAcceptDrops(True)
        self.resize(1366, 768)
        self.model_manager: ModelManager | None = None
        self.finding_dialog: FindingDialog | None = None
        self.welcome: Welcome | None = None

        self.viewer = CompareViewer()
        self.viewer.regionDrawn.connect(self.mark_finding)
        self.video_viewer = VideoViewer()
        self.video_viewer.regionDrawn.connect(self.mark_finding)
        self.viewer_stack = QStackedWidget()  # the image viewer, or the video viewer for a video
        self.viewer_stack.addWidget(self.viewer)
        self.viewer_stack.addWidget(self.video_viewer)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.viewer_stack, "Viewer")
        self.setCentralWidget(self.tabs)

        self.evidence = EvidenceList()
        self.evidence.itemSelectionChanged.connect(self._selection_changed)
        self._dock("Evidence", self.evidence, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.summary = SummaryPanel()
        self.layers = LayersPanel()
        self.results_box = QWidget()
        self.results_layout = QVBoxLayout(self.results_box)
        self.results_layout.setAlignment(Qt.AlignmentFlag.AlignTop)
        results_scroll = QScrollArea()
        results_scroll.setWidgetResizable(True)
        results_scroll.setWidget(self.results_box)
        self.findings = FindingsPanel()
        self.analyses = AnalysesPanel()
        docks = [self._dock(title, widget, Qt.DockWidgetArea.RightDockWidgetArea) for title, widget in (
            ("Summary", self.summary), ("Layers", self.layers), ("Results", results_scroll),
            ("Findings", self.findings), ("Analyses", self.analyses))]
        for dock in docks[1:]:
            self.tabifyDockWidget(docks[0], dock)
        self.summary_dock, self.layers_dock, self.results_dock, self.findings_dock, self.analyses_dock = docks
        self.summary_dock.raise_()
        self.resizeDocks([docks[0]], [400], Qt.Orientation.Horizontal)
        self.panels: dict[str, QWidget] = {}
        """Contributed panels by `Panel.id` (`workbench.ui.hosting.PanelWidget`), in plugin order."""
        self.panel_docks: dict[str, QDockWidget] = {}
        self._panel_specs: dict[str, Panel] = {}
        self._build_panels()
        self.item = ItemResults(self)

        self.analyses.runRequested.connect(self.run_analyses)
        self.summary.runTriageRequested.connect(self.run_triage)
        self.summary.layerRequested.connect(self.show_layer)
        self.summary.findingRequested.connect(self.go_to_finding)
        self.layers.layerChosen.connect(self.item.show_layer)
        self.layers.opacityChanged.connect(self.item.set_opacity)
        self.layers.compareChanged.connect(self.viewer.set_compare)
        self.findings.goToRequested.connect(self.go_to_finding)
        self.findings.changed.connect(self.refresh_results)
        self.jobs.started.connect(self.analyses.jobs.add)
        self.jobs.changed.connect(self.analyses.jobs.update_job)
        self.jobs.finished.connect(self.analyses.jobs.remove)
        self.jobs.started.connect(self._jobs_changed)
        self.jobs.finished.connect(self._jobs_changed)
        self.keys = LayerKeys(self, self.layers.choose_number, self.layers.step, self.viewer.view.set_overlays_hidden)

        self.device_label = QLabel("Device: detecting…")
        self.jobs_label = QLabel("")
        self.statusBar().addPermanentWidget(self.jobs_label)
        self.statusBar().addPermanentWidget(self.device_label)
        self._build_toolbar()
        self._build_menu()
        guard_wheel(self)
        # importing torch takes seconds and holds the GIL: only once the window is up
        QTimer.singleShot(DEVICE_CHECK_DELAY_MS, self, self._detect_device)
        self._load_case(case)

    @property
    def result_views(self) -> list:
        """The shown item's result views, strongest signal first."""
        return self.item.views

    # -- layout -----------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_panels(self) -> None:
        """A dock (bottom, hidden unless `Panel.visible`) for each panel a plugin contributes; a panel
        that fails to load is named in a message, the window opens without it."""
        failed = []
        for panel in contributions.panels():
            try:
                widget = contributions.load(panel.factory)(self)
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not keep the window from opening
                failed.append(f"{panel.title} ({panel.factory}): {type(exc).__name__}: {exc}")
                continue
            dock = self._dock(panel.title, widget, Qt.DockWidgetArea.BottomDockWidgetArea)
            dock.setVisible(panel.visible)
            self.panels[panel.id], self.panel_docks[panel.id], self._panel_specs[panel.id] = widget, dock, panel
        if failed:
            self.show_message("Plugin panels not loaded", "\n".join(failed))

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main")
        bar.setObjectName("Main")
        bar.addWidget(QLabel(" Analyses: "))
        bar.addWidget(self.analyses.preset)
        run = bar.addAction("▶ Run on selected", lambda: self.run_analyses(False))
        run.setShortcut(QKeySequence("Ctrl+R"))
        run.setToolTip("Run the chosen analyses on the selected items (Ctrl+R)")
        bar.addAction("Run on all", lambda: self.run_analyses(True))
        bar.addSeparator()
        bar.addAction("Flag item as finding…", self.flag_item)
        bar.addAction("Export report…", self.choose_report_path)
        self.addToolBar(bar)

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&New case…", self.new_case, QKeySequence.StandardKey.New)
        self._action(file_menu, "&Open case…", self.open_case, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Case &details…", lambda: CaseDetailsDialog(self.case, self).open())
        file_menu.addSeparator()
        self._action(file_menu, "&Add files…", self.choose_files)
        self._action(file_menu, "Add &folder…", self.choose_folder)
        file_menu.addSeparator()
        self._action(file_menu, "&Export PDF report…", self.choose_report_path, "Ctrl+E")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        settings_menu = self.menuBar().addMenu("&Settings")
        self._action(settings_menu, "&Preferences…", self.edit_preferences)
        self._action(settings_menu, "&Models…", self.open_model_manager)
        view_menu = self.menuBar().addMenu("&View")
        for dock in (self.summary_dock, self.layers_dock, self.results_dock, self.findings_dock,
                     self.analyses_dock, *self.panel_docks.values()):
            view_menu.addAction(dock.toggleViewAction())
        menus = {}
        for panel_id, spec in self._panel_specs.items():
            toggle = self.panel_docks[panel_id].toggleViewAction()
            if spec.shortcut:
                toggle.setShortcut(QKeySequence(spec.shortcut))
            if spec.menu:
                menu = menus.get(spec.menu) or menus.setdefault(spec.menu, self.menuBar().addMenu(spec.menu))
                menu.addAction(toggle)
                for action in call(self.panels[panel_id], "menu_actions") or []:
                    menu.addAction(action)
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&Getting started…", self.show_welcome)
        self._action(help_menu, "Analyzer &cards…", lambda: CardsDialog(self).show(), "F1")
        self._action(help_menu, "&About", lambda: QMessageBox.about(
            self, "Forensic Workbench",
            f"Forensic Workbench {__version__}\nOffline image and video forensics for investigators."))

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:  # noqa: ANN001 - Qt types
        action = menu.addAction(text, slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        return action

    def _detect_device(self) -> None:
        if not self.jobs.closed:
            self.jobs.submit("Detecting compute device", lambda job: resolve_device(), on_done=self._device_found,
                             listed=False)

    def _device_found(self, job: Job) -> None:
        text = job.result[1] if job.error is None else f"CPU (device check failed: {job.error})"
        self.device_label.setText(f"Device: {text}")

    def _jobs_changed(self, _job: Job) -> None:
        count = len([j for j in self.jobs.active.values() if j.id in self.analyses.jobs.rows])
        self.jobs_label.setText(f"{count} job(s) running — see Analyses" if count else "")

    def show_message(self, title: str, text: str) -> QMessageBox:
        """A non-blocking warning that keeps the case open; several collect in one box."""
        return self.messages.show(title, text)

    def show_status(self, text: str, timeout_ms: int = 10000) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def selected_evidence(self) -> list[Evidence]:
        """The items selected in the evidence list."""
        return [self.case.evidence(i) for i in self.evidence.selected_ids()]

    # -- case -------------------------------------------------------------------------------
    def _load_case(self, case: Case) -> None:
        self.case = case
        for panel in self.panels.values():
            call(panel, "set_case", case)
        self.findings.set_case(case)
        self.setWindowTitle(f"{case.name} — Forensic Workbench")
        self.statusBar().showMessage(f"Case folder: {case.root}")
        self.evidence.clear()
        self.current_id = None
        self.viewer.set_image(None, "Drop images or folders here, or use File ▸ Add files")
        self._show_video(None)
        self.item.clear()
        for item in case.all_evidence():
            self.evidence.add(case, item)
        if self.evidence.count():
            self.evidence.setCurrentRow(0)

    def new_case(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an empty folder for the new case")
        if folder:
            self._switch_case(lambda: Case.create(folder))

    def open_case(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a case folder")
        if folder:
            self._switch_case(lambda: Case.open(folder))

    def _switch_case(self, make) -> None:  # noqa: ANN001 - a zero-argument Case factory
        if self.jobs.active:
            self.show_message("Jobs are running", "Wait for the running jobs or cancel them first.")
            return
        try:
            case = make()
        except CaseError as exc:
            self.show_message("Cannot use this folder", str(exc))
            return
        self.case.close()
        self._load_case(case)

    def edit_preferences(self) -> PreferencesDialog:
        dialog = PreferencesDialog(self)
        dialog.accepted.connect(self._preferences_changed)
        dialog.open()
        return dialog

    def _preferences_changed(self) -> None:
        prefs = preferences.load()
        self.max_pixels = prefs.max_pixels
        for panel in self.panels.values():
            call(panel, "preferences_changed", prefs)
        self.item.preferences_changed(prefs)
        self._detect_device()

    def open_model_manager(self) -> ModelManager:
        """Settings ▸ Models; the analyses' readiness follows every install or removal."""
        if self.model_manager is None:
            self.model_manager = ModelManager(self.jobs, parent=self)
            self.model_manager.modelsChanged.connect(self.analyses.refresh_readiness)
        else:
            self.model_manager.refresh()
        self.model_manager.show()
        self.model_manager.raise_()
        return self.model_manager

    def install_model(self, model_id: str) -> None:
        """The model manager at this model: its card says where to get the file, and installing
        (hashing a file of hundreds of MB) runs in the background there."""
        self.open_model_manager().focus(model_id)

    def show_welcome(self) -> Welcome:
        from workbench.ui.welcome import welcome_for

        self.welcome = welcome_for(self)
        self.welcome.show()
        return self.welcome

    # -- importing --------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add evidence files")
        if files:
            self.add_paths(files)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of evidence")
        if folder:
            self.add_paths([folder])

    def add_paths(self, paths: list[str]) -> Job:
        """Import in the background: hashing large files must not freeze the window."""
        case = self.case
        return self.jobs.submit(
            f"Importing {len(paths)} item(s)",
            lambda job: import_paths(case, paths, self.max_pixels, job.report, job.cancelled),
            on_done=self._imported,
        )

    def _imported(self, job: Job) -> None:
        if job.error is not None:
            self.show_message("Import failed", f"{type(job.error).__name__}: {job.error}")
            return
        report: ImportReport = job.result
        for item in report.added:
            self.evidence.add(self.case, item)
        first = (report.added or report.already_present or [None])[0]
        if first is not None:
            self.evidence.clearSelection()
            self.evidence.select(first.id)
        self.statusBar().showMessage(report.summary(), 8000)
        if report.notes():
            self.show_message(f"Import: {report.summary()}", "\n".join(report.notes()))

    # -- analyses ---------------------------------------------------------------------------
    def run_triage(self) -> list[Job]:
        self.analyses.choose_preset("triage")
        return self.run_analyses(False)

    def run_analyses(self, on_all: bool = False) -> list[Job]:
        try:
            plan = self.analyses.plan()
        except ValueError as exc:
            self.show_message("Invalid parameters", str(exc))
            return []
        ids = [e.id for e in self.case.all_evidence()] if on_all else self.evidence.selected_ids()
        if not ids:
            self.show_message("No evidence selected", "Select an item in the evidence list (or drop files).")
            return []
        if not plan:
            self.show_message("Nothing to run", "Choose a preset or tick at least one analysis.")
            return []
        preset = self.analyses.current_preset()
        if preset is not None:
            for panel_id, panel in self.panels.items():
                if call(panel, "run_preset", preset, ids):  # e.g. the similar-image search of its preset
                    self.panel_docks[panel_id].show()
        jobs = []
        for evidence_id in ids:
            item = self.case.evidence(evidence_id)
            # only what applies to the item's kind: no red "does not accept" for a mixed selection
            chosen = [p for p in plan if applies_to(p.analyzer, MediaKind(item.kind), item.format)]
            if not chosen:
                continue
            case, sampling = self.case, self.analyses.sampling()
            jobs.append(self.jobs.submit(
                f"{item.name}: {', '.join(p.analyzer.title for p in chosen)}",
                lambda job, case=case, item=item, chosen=chosen, sampling=sampling: analyze(
                    case, item, chosen, job.report, job.cancel_event, self.max_pixels, sampling),
                on_done=lambda job, evidence_id=evidence_id: self._analysed(evidence_id, job),
            ))
        return jobs

    def _analysed(self, evidence_id: int, job: Job) -> None:
        if job.error is not None:
            self.show_message("Analysis failed", f"{type(job.error).__name__}: {job.error}")
        if evidence_id == self.current_id:
            self.refresh_results()

    # -- showing evidence and results --------------------------------------------------------
    def _selection_changed(self) -> None:
        ids = self.evidence.selected_ids()
        items = [self.case.evidence(i) for i in ids]
        self.analyses.set_kinds({MediaKind(e.kind) for e in items}, {e.format for e in items})
        if ids and ids[0] != self.current_id:
            self.show_evidence(ids[0])

    def show_evidence(self, evidence_id: int) -> None:
        self.current_id = evidence_id
        item = self.case.evidence(evidence_id)
        media = None
        try:
            media = self.case.open_media(item, self.max_pixels, recheck=False)
            rgb = media.pixels()
            caption = f"{item.name} — {item.width}×{item.height} {item.format} — SHA-256 {item.sha256}"
            if item.warnings:
                caption += "\n⚠ " + "; ".join(item.warnings)
        except MediaError as exc:
            rgb, caption = None, f"⚠ {exc}"
        self.viewer.set_image(rgb, caption)
        self._show_video(media if rgb is not None and media.video is not None else None)
        for panel in self.panels.values():
            call(panel, "set_evidence", item, rgb)
        self.refresh_results()

    def _show_video(self, media: Media | None) -> None:
        """The video viewer for a video (its decoder replaced), else the image viewer."""
        self.keys.set_space_enabled(media is None)
        if media is None:
            self.video_viewer.close_video()
            self.viewer_stack.setCurrentWidget(self.viewer)
        else:
            self.video_viewer.open(media)
            self.viewer_stack.setCurrentWidget(self.video_viewer)

    def refresh_results(self) -> None:
        self.item.show(self.current_id)

    def show_layer(self, key: str | None) -> None:
        """Show this layer (from the summary, a result or a finding) and say so in the Layers list."""
        self.layers.choose(key)

    # -- findings ---------------------------------------------------------------------------
    def mark_finding(self, region: dict | None) -> FindingDialog | None:
        """Write a finding about `region` (None: the whole item) on the layer shown now."""
        return self._finding_dialog(region, self.item.shown_run())

    def flag_result(self, run: Run) -> FindingDialog | None:
        self.show_layer(f"run{run.id}")
        return self._finding_dialog(None, run)

    def flag_item(self) -> FindingDialog | None:
        return self._finding_dialog(None, self.item.shown_run())

    def _finding_dialog(self, region: dict | None, run: Run | None) -> FindingDialog | None:
        if self.current_id is None:
            self.show_message("No evidence selected", "Select an item to write a finding about.")
            return None
        item, case = self.case.evidence(self.current_id), self.case
        layer = self.item.layer_title(run)
        video = self.video_viewer.info
        span = (self.video_viewer.time, self.video_viewer.time) if video is not None else None
        dialog = FindingDialog(self, item.name, layer, region, span=span, duration=video.duration if video else 0.0)

        def save() -> None:
            times = dialog.span() or (None, None)
            case.add_finding(item.id, dialog.text() or "(no note)", run.id if run else None, layer, region, *times)
            self.findings.refresh()
            self.refresh_results()
            self.findings_dock.raise_()

        dialog.accepted.connect(save)
        dialog.open()
        self.finding_dialog = dialog
        return dialog

    def go_to_finding(self, finding: Finding) -> None:
        """Its item, the layer it was seen on, its region (zoomed) or its moment in the video."""
        if finding.evidence_id != self.current_id:
            self.evidence.clearSelection()
            self.evidence.select(finding.evidence_id)
        self.show_layer(f"run{finding.run_id}" if finding.run_id is not None else None)
        self.item.reveal(finding)

    # -- report -----------------------------------------------------------------------------
    def choose_report_path(self) -> None:
        default = str(Path.home() / f"{self.case.name or 'case'} report.pdf")
        path, _ = QFileDialog.getSaveFileName(self, "Export PDF report", default, "PDF (*.pdf)")
        if path:
            self.export_report(Path(path))

    def export_report(self, path: Path) -> Job:
        """Re-verify hashes and write the PDF in the background (progress and cancel in Analyses)."""
        case = self.case
        return self.jobs.submit(f"Report {path.name}", lambda job: write_pdf(case, path, job.report, job.cancelled),
                                on_done=self._report_written)

    def _report_written(self, job: Job) -> None:
        if isinstance(job.error, ReportCancelled):
            self.statusBar().showMessage("Report cancelled: no file written", 10000)
        elif job.error is not None:
            self.show_message("Report not written", str(job.error))
        else:
            self.statusBar().showMessage(f"Report written to {job.result}", 10000)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.item.release()
        for panel in self.panels.values():
            call(panel, "release")
        self.video_viewer.close_video()
        self.jobs.shutdown()
        self.case.close()
        super().closeEvent(event)
