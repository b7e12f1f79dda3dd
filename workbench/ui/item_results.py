"""Showing one item's results in the window: layers over the image or video, result views ordered
strongest signal first, the triage summary, metadata tabs and the tabs plugins contribute for their
analyzers' results (`ResultTab`, e.g. the geolocation map), the analyst's findings drawn.

One heat map is shown at a time: on an image the strongest signal's by default, on a video none
(the frame stays visible; a chosen map is drawn faint).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.app.case import Finding, Run
from workbench.app.per_frame import box_labels
from workbench.app.triage import ranked_signals
from workbench.core import contributions
from workbench.core.calibration import score_context
from workbench.core.render import overlay_rgba
from workbench.core.results import Boxes, Facts, Heatmap, Series
from workbench.ui.hosting import call
from workbench.ui.layers_panel import Layer
from workbench.ui.result_views import (
    BoxesView,
    FactsTables,
    FramesView,
    HeatmapView,
    ResultView,
    analyzer_title,
    view_for,
)
from workbench.ui.viewer import FINDINGS_KEY, ImageView, region_path
from workbench.ui.wheel_guard import guard_wheel

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from workbench.core.preferences import Preferences
    from workbench.ui.main_window import MainWindow

IMAGE_OPACITY, VIDEO_OPACITY = 0.8, 0.4


class ItemResults:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.views: list[ResultView] = []
        self.runs: dict[str, Run] = {}
        """Layer key → the run whose map it is."""
        self.result_tabs: dict[str, QWidget] = {}
        """A contributed tab's factory → its widget, made on the first result it shows and kept (the
        geolocation map's web view starts a browser process)."""
        self.shown_id: int | None = None

    @property
    def video(self) -> bool:
        return self.window.video_viewer.media is not None

    @property
    def canvas(self) -> ImageView:
        return self.window.video_viewer.view if self.video else self.window.viewer.view

    def clear(self) -> None:
        for view in self.views:
            view.setParent(None)
            view.deleteLater()
        self.views.clear()
        self.runs.clear()
        tabs = self.window.tabs
        while tabs.count() > 1:
            tabs.removeTab(1)
        self.window.viewer.clear_layers()
        self.window.video_viewer.clear_results()
        for widget in self.result_tabs.values():
            widget.clear()
        self.window.layers.set_layers([], None, video=self.video)
        self.window.summary.show_item(None, [], [])

    def show(self, evidence_id: int | None) -> None:
        """Everything about this item, strongest signals first; shown again (new results, a finding),
        the item keeps the layer the analyst was looking at."""
        kept = self.window.layers.current_key() if evidence_id == self.shown_id else None
        self.shown_id = evidence_id
        self.clear()
        window = self.window
        if evidence_id is None:
            return
        case = window.case
        runs = case.latest_runs(evidence_id)
        findings = case.findings(evidence_id)
        choices = case.report_choices(evidence_id)
        order = {s.run.id: i for i, s in enumerate(ranked_signals(runs))}
        runs_by_rank = sorted(runs, key=lambda r: order.get(r.id, len(order)))
        layers = []
        for run in runs_by_rank:
            view = view_for(run, choices.get(run.result.analyzer))
            self._connect(view)
            self.views.append(view)
            window.results_layout.addWidget(view)
            layer = self._add_layer(run)
            if layer is not None:
                layers.append(layer)
            self._add_tab(run)
        if self.video:
            window.video_viewer.set_runs(runs_by_rank)
            window.video_viewer.set_findings(findings)
            for layer in layers:
                window.video_viewer.view.set_layer_opacity(layer.key, layer.opacity)
        else:
            window.viewer.view.set_findings([(f"F{f.id}", f.region) for f in findings if f.region is not None])
        guard_wheel(window.results_box)
        default = None if self.video or not layers else layers[0].key
        window.layers.set_layers(layers, kept if any(layer.key == kept for layer in layers) else default,
                                 video=self.video)
        window.summary.show_item(case.evidence(evidence_id), runs, findings, case.damaged_runs(evidence_id))

    def _connect(self, view: ResultView) -> None:
        window = self.window
        view.installRequested.connect(window.install_model)
        view.flagRequested.connect(window.flag_result)
        view.includeChanged.connect(
            lambda run, on: window.case.set_included(run.evidence_id, run.result.analyzer, on))
        if isinstance(view, HeatmapView):
            view.layerRequested.connect(window.show_layer)
            view.mapChosen.connect(lambda key, values: window.viewer.set_layer_pixmap(key, overlay_rgba(values)))
        if isinstance(view, FramesView):
            view.seekRequested.connect(window.video_viewer.seek_time)
        if isinstance(view, BoxesView):
            view.boxesToggled.connect(lambda key, on: self.canvas.set_layer_visible(key, on))

    def _add_layer(self, run: Run) -> Layer | None:
        """The run's map as a layer of the viewer (images) or of the video frames; boxes as annotations."""
        result, key = run.result, f"run{run.id}"
        if not result.ok:
            return None
        detail = "" if result.score is None else f"{result.score:.3g} — {score_context(result.calibration)}"
        title = analyzer_title(result.analyzer)
        if isinstance(result, Boxes) and result.boxes is not None and not self.video:
            self.window.viewer.view.set_boxes(key, result.boxes, box_labels(result))
        if isinstance(result, Heatmap) and result.map is not None and not self.video:
            if result.map.shape[:2] != self._image_shape():
                return None
            self.window.viewer.add_layer(key, overlay_rgba(result.map), IMAGE_OPACITY, result.pairs)
            self.runs[key] = run
            return Layer(key, title, detail, IMAGE_OPACITY)
        if isinstance(result, Series) and result.maps is not None and self.video:
            self.runs[key] = run
            return Layer(key, f"{title} (per frame)", result.label, VIDEO_OPACITY)
        return None

    def _add_tab(self, run: Run) -> None:
        result, tabs = run.result, self.window.tabs
        if isinstance(result, Facts) and result.ok:
            tabs.addTab(FactsTables(result), analyzer_title(result.analyzer))
        tab = contributions.result_tabs().get(result.analyzer) if result.ok else None
        if tab is not None:
            widget = self.result_tabs.get(tab.factory)
            if widget is None:
                try:  # imported only now: the map's module loads QtWebEngine
                    widget = self.result_tabs[tab.factory] = contributions.load(tab.factory)(self.window)
                except Exception as exc:  # noqa: BLE001 - a broken plugin tab must not hide the item
                    self.window.show_message(f"No {tab.title} tab", f"{tab.factory}: {type(exc).__name__}: {exc}")
                    return
            tabs.addTab(widget, tab.title)
            widget.show_result(run)

    def _image_shape(self) -> tuple[int, int]:
        w, h = self.window.viewer.view.image_size()
        return h, w

    # -- layers -----------------------------------------------------------------------------
    def show_layer(self, key: str | None) -> None:
        if self.video:
            self.window.video_viewer.view.show_only(key)
        else:
            self.window.viewer.show_layer(key)

    def set_opacity(self, key: str, opacity: float) -> None:
        if self.video:
            self.window.video_viewer.view.set_layer_opacity(key, opacity)
        else:
            self.window.viewer.set_layer_opacity(key, opacity)

    def shown_run(self) -> Run | None:
        """The run whose map is shown now (None: the original)."""
        return self.runs.get(self.window.layers.current_key() or "")

    def layer_title(self, run: Run | None) -> str:
        return analyzer_title(run.result.analyzer) if run is not None else "original"

    def reveal(self, finding: Finding) -> None:
        """Bring a finding into view: zoom to its region, or seek to its moment."""
        if finding.time_start is not None and self.video:
            self.window.video_viewer.seek_time(finding.time_start)
        if finding.region is not None:
            self.canvas.zoom_to(region_path(finding.region).boundingRect())
        self.window.tabs.setCurrentIndex(0)
        self.canvas.set_layer_visible(FINDINGS_KEY, True)

    def preferences_changed(self, prefs: Preferences) -> None:
        for widget in self.result_tabs.values():
            call(widget, "preferences_changed", prefs)

    def release(self) -> None:
        for widget in self.result_tabs.values():
            call(widget, "release")
