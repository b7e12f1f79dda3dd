"""The main window: evidence list, viewer with overlays, analyses, results, report export."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench import __version__
from workbench.app.analysis import analyze
from workbench.app.case import Case, CaseError
from workbench.app.importing import ImportReport, import_paths
from workbench.app.jobs import Job
from workbench.app.per_frame import box_labels
from workbench.app.report import write_pdf
from workbench.core.device import resolve_device
from workbench.core.media import Media, MediaError
from workbench.core.plugin import RunContext
from workbench.core.render import overlay_rgba
from workbench.core.results import Boxes, Facts, Geolocation, Heatmap
from workbench.ui import settings
from workbench.ui.analyses_panel import AnalysesPanel
from workbench.ui.evidence_list import EvidenceList
from workbench.ui.model_manager import ModelManager
from workbench.ui.qt_jobs import QtJobs
from workbench.ui.result_views import FactsTables, FramesView, HeatmapView, ResultView, analyzer_title, view_for
from workbench.ui.search_panel import SearchPanel
from workbench.ui.video_viewer import VideoViewer
from workbench.ui.viewer import CompareViewer

if TYPE_CHECKING:
    from workbench.ui.map_panel import MapPanel


class MainWindow(QMainWindow):
    def __init__(self, case: Case, max_pixels: int | None = None) -> None:
        super().__init__()
        self.case = case
        self.max_pixels = max_pixels or settings.max_pixels()
        self.jobs = QtJobs(self)
        self.current_id: int | None = None
        self.result_views: list[ResultView] = []
        self.messages: list[QMessageBox] = []
        self.setAcceptDrops(True)
        self.resize(1400, 860)

        self.viewer = CompareViewer()
        self.video_viewer = VideoViewer()
        self.viewer_stack = QStackedWidget()  # the image viewer, or the video viewer for a video
        self.viewer_stack.addWidget(self.viewer)
        self.viewer_stack.addWidget(self.video_viewer)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.viewer_stack, "Viewer")
        self.setCentralWidget(self.tabs)
        self.map_panel: MapPanel | None = None
        """Made on the first geolocation result: the web view starts a browser process."""
        self.model_manager: ModelManager | None = None

        self.evidence = EvidenceList()
        self.evidence.itemSelectionChanged.connect(self._selection_changed)
        self._dock("Evidence", self.evidence, Qt.DockWidgetArea.LeftDockWidgetArea)

        self.analyses = AnalysesPanel()
        self.analyses.runRequested.connect(self.run_analyses)
        analyses_dock = self._dock("Analyses", self.analyses, Qt.DockWidgetArea.RightDockWidgetArea)

        self.results_box = QWidget()
        self.results_layout = QVBoxLayout(self.results_box)
        self.results_layout.setAlignment(Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.results_box)
        results_dock = self._dock("Results and layers", scroll, Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([analyses_dock, results_dock], [330, 530], Qt.Orientation.Vertical)
        self.resizeDocks([analyses_dock], [380], Qt.Orientation.Horizontal)
        self.search = SearchPanel(self.jobs, max_pixels=self.max_pixels)
        self.search.installRequested.connect(self.install_model)
        self.search_dock = self._dock("Similar images", self.search, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.search_dock.hide()

        self.jobs.started.connect(self.analyses.jobs.add)
        self.jobs.changed.connect(self.analyses.jobs.update_job)
        self.jobs.finished.connect(self.analyses.jobs.remove)

        self.device_label = QLabel("Device: detecting…")
        self.statusBar().addPermanentWidget(self.device_label)
        self._build_menu()
        self.jobs.submit("Detecting compute device", lambda job: resolve_device(),
                         on_done=self._device_found, listed=False)
        self._load_case(case)

    # -- layout -----------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&New case…", self.new_case, QKeySequence.StandardKey.New)
        self._action(file_menu, "&Open case…", self.open_case, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Case &details…", self.edit_case_details)
        file_menu.addSeparator()
        self._action(file_menu, "&Add files…", self.choose_files)
        self._action(file_menu, "Add &folder…", self.choose_folder)
        file_menu.addSeparator()
        self._action(file_menu, "&Export PDF report…", self.choose_report_path, "Ctrl+E")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        settings_menu = self.menuBar().addMenu("&Settings")
        self._action(settings_menu, "&Models…", self.open_model_manager)
        self._action(settings_menu, "&Pixel limit…", self.edit_pixel_limit)
        self._action(settings_menu, "Map &tile server…", self.edit_tile_url)
        search_menu = self.menuBar().addMenu("Sea&rch")
        search_menu.addAction(self.search_dock.toggleViewAction())
        self._action(search_menu, "Add selected &videos to the reference videos", self.add_reference_videos)
        self.search_dock.toggleViewAction().setShortcut(QKeySequence("Ctrl+Shift+F"))
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&About", lambda: QMessageBox.about(
            self, "Forensic Workbench",
            f"Forensic Workbench {__version__}\nOffline image forensics for investigators."))

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:  # noqa: ANN001 - Qt types
        action = menu.addAction(text, slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        return action

    def _device_found(self, job: Job) -> None:
        text = job.result[1] if job.error is None else f"CPU (device check failed: {job.error})"
        self.device_label.setText(f"Device: {text}")

    # -- case -------------------------------------------------------------------------------
    def _load_case(self, case: Case) -> None:
        self.case = case
        self.search.set_case(case)
        self.setWindowTitle(f"{case.name} — Forensic Workbench")
        self.statusBar().showMessage(f"Case folder: {case.root}")
        self.evidence.clear()
        self.current_id = None
        self.viewer.set_image(None, "Drop images or folders here, or use File ▸ Add files")
        self._show_video(None)
        self._clear_results()
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

    def edit_case_details(self) -> None:
        dialog = QDialog(self)
        dialog.setWindowTitle("Case details")
        name, analyst = QLineEdit(self.case.name), QLineEdit(self.case.analyst)
        form = QFormLayout(dialog)
        form.addRow("Case name", name)
        form.addRow("Analyst", analyst)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(dialog.accept)
        buttons.rejected.connect(dialog.reject)
        form.addRow(buttons)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.case.set_details(name.text().strip(), analyst.text().strip())
            self.setWindowTitle(f"{self.case.name} — Forensic Workbench")

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

    def edit_pixel_limit(self) -> None:
        """Images above the limit are refused at import (decompression-bomb guard)."""
        megapixels, ok = QInputDialog.getInt(
            self, "Pixel limit", "Refuse images larger than (megapixels):",
            max(1, self.max_pixels // 1_000_000), 1, 10_000)
        if ok:
            self.max_pixels = megapixels * 1_000_000
            self.search.max_pixels = self.max_pixels
            settings.set_max_pixels(self.max_pixels)
            self.statusBar().showMessage(f"Pixel limit: {megapixels} megapixels", 5000)

    def edit_tile_url(self) -> None:
        """Optional: the analyst's own tile server; without one, maps stay offline (boundaries only)."""
        url, ok = QInputDialog.getText(
            self, "Map tile server", "Tile URL template, e.g. http://tiles.lan/{z}/{x}/{y}.png (empty: offline only):",
            text=settings.tile_url())
        if ok:
            settings.set_tile_url(url)
            if self.map_panel is not None:  # the next map (a fresh web view) uses the new setting
                self.map_panel.release()
                self.map_panel.tile_url = url.strip() or None
            self.statusBar().showMessage("Map tiles: " + (url.strip() or "none (offline)"), 5000)

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
        if report.skipped:
            lines = "\n".join(reason for _, reason in report.skipped)
            self.show_message(f"{len(report.skipped)} file(s) could not be added", lines)

    def show_message(self, title: str, text: str) -> QMessageBox:
        """A non-blocking warning that keeps the case open behind it."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setModal(False)
        box.show()
        self.messages.append(box)
        box.finished.connect(lambda _r: self.messages.remove(box) if box in self.messages else None)
        return box

    def add_reference_videos(self) -> Job | None:
        """Selected videos become references of video copy detection (described now, in the background)."""
        from plugins.similarity.video_copy import default_sampling, store_for

        items = [self.case.evidence(i) for i in self.evidence.selected_ids()]
        paths = [e.path for e in items if e.kind == "video"]
        if not paths:
            self.show_message("No video selected", "Select one or more videos in the evidence list.")
            return None
        case = self.case

        def add(job: Job) -> str:
            report = store_for(case.root).add(paths, default_sampling(), RunContext(job.report, job.cancel_event))
            failed = "".join(f"\n{reason}" for reason in (report.failed or {}).values())
            summary = f"{report.added} reference video(s) added, {report.skipped} already there{failed}"
            case.log("index", summary)
            return summary

        return self.jobs.submit(f"Describing {len(paths)} reference video(s)", add,
                                on_done=lambda job: self.statusBar().showMessage(
                                    job.result if job.error is None else f"Failed: {job.error}", 10000))

    # -- analyses ---------------------------------------------------------------------------
    def run_analyses(self, on_all: bool = False) -> list[Job]:
        try:
            plan = self.analyses.plan()
        except ValueError as exc:
            self.show_message("Invalid parameters", str(exc))
            return []
        if not plan:
            self.show_message("Nothing to run", "Tick at least one analysis.")
            return []
        ids = [e.id for e in self.case.all_evidence()] if on_all else self.evidence.selected_ids()
        if not ids:
            self.show_message("No evidence selected", "Select an item in the evidence list (or drop files).")
            return []
        jobs = []
        for evidence_id in ids:
            item = self.case.evidence(evidence_id)
            case = self.case
            jobs.append(self.jobs.submit(
                f"{item.name}: {', '.join(p.analyzer.title for p in plan)}",
                lambda job, case=case, item=item, sampling=self.analyses.sampling(): analyze(
                    case, item, plan, job.report, job.cancel_event, self.max_pixels, sampling),
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
        self.search.set_evidence(item, rgb)
        self.refresh_results()

    def _show_video(self, media: Media | None) -> None:
        """The video viewer for a video (its decoder replaced), else the image viewer."""
        if media is None:
            self.video_viewer.close_video()
            self.viewer_stack.setCurrentWidget(self.viewer)
        else:
            self.video_viewer.open(media)
            self.viewer_stack.setCurrentWidget(self.video_viewer)

    def _clear_results(self) -> None:
        for view in self.result_views:
            view.setParent(None)
            view.deleteLater()
        self.result_views.clear()
        while self.tabs.count() > 1:
            self.tabs.removeTab(1)
        self.viewer.view.clear_layers()
        self.video_viewer.clear_results()
        if self.map_panel is not None:
            self.map_panel.clear()

    def refresh_results(self) -> None:
        self._clear_results()
        if self.current_id is None:
            return
        runs = self.case.latest_runs(self.current_id)
        video = self.video_viewer.media is not None
        canvas = self.video_viewer.view if video else self.viewer.view
        for run in runs:
            view = view_for(run)
            view.installRequested.connect(self.install_model)
            self.result_views.append(view)
            self.results_layout.addWidget(view)
            result = run.result
            if isinstance(view, HeatmapView) and isinstance(result, Heatmap) and result.map is not None:
                if self.viewer.view.has_image() and result.map.shape[:2] == self._image_shape():
                    self.viewer.view.set_layer(view.layer_key, overlay_rgba(result.map), 0.8)
                    if result.pairs is not None and len(result.pairs):
                        self.viewer.view.set_pairs(view.layer_key, result.pairs)
                view.visibilityChanged.connect(self.viewer.view.set_layer_visible)
                view.opacityChanged.connect(self.viewer.view.set_layer_opacity)
                view.mapChosen.connect(lambda key, values: self.viewer.view.set_layer_pixmap(key, overlay_rgba(values)))
            if isinstance(view, FramesView):
                view.seekRequested.connect(self.video_viewer.seek_time)
                view.visibilityChanged.connect(canvas.set_layer_visible)
                view.opacityChanged.connect(canvas.set_layer_opacity)
            if isinstance(result, Boxes) and result.ok and result.boxes is not None and not video:
                self.viewer.view.set_boxes(f"run{run.id}", result.boxes, box_labels(result))
            if isinstance(result, Facts) and result.ok:
                self.tabs.addTab(FactsTables(result), analyzer_title(result.analyzer))
            if isinstance(result, Geolocation) and result.ok:
                from plugins.geolocation.mapping import view_from_result  # only when there is a map to show
                from workbench.ui.map_panel import MapPanel

                self.map_panel = self.map_panel or MapPanel(tile_url=settings.tile_url() or None)
                self.tabs.addTab(self.map_panel, "Map")
                self.map_panel.show_view(view_from_result(result))
        if video:
            self.video_viewer.set_runs(runs)

    def _image_shape(self) -> tuple[int, int]:
        item = self.case.evidence(self.current_id) if self.current_id is not None else None
        return (item.height, item.width) if item else (0, 0)

    def install_model(self, model_id: str) -> None:
        """The model manager at this model: its card says where to get the file, and installing
        (hashing a file of hundreds of MB) runs in the background there."""
        self.open_model_manager().focus(model_id)

    # -- report -----------------------------------------------------------------------------
    def choose_report_path(self) -> None:
        default = str(Path.home() / f"{self.case.name or 'case'} report.pdf")
        path, _ = QFileDialog.getSaveFileName(self, "Export PDF report", default, "PDF (*.pdf)")
        if path:
            self.export_report(Path(path))

    def export_report(self, path: Path) -> Path | None:
        """Re-verify hashes and write the PDF (on the GUI thread: QTextDocument painting)."""
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            written = write_pdf(self.case, path)
        except OSError as exc:
            self.show_message("Report not written", str(exc))
            return None
        finally:
            QApplication.restoreOverrideCursor()
        self.statusBar().showMessage(f"Report written to {written}", 10000)
        return written

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if self.map_panel is not None:
            self.map_panel.release()
        self.video_viewer.close_video()
        self.jobs.shutdown()
        self.case.close()
        super().closeEvent(event)
