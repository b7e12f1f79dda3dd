"""The GUI and report parts plugins contribute (`workbench.core.contributions`): result views by
analyzer, report figures, panels and result tabs (`tests/test_plugin_boundary.py`: `workbench/`
itself imports no plugin)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from workbench.app.case import Case  # noqa: E402
from workbench.core import contributions  # noqa: E402
from workbench.core.results import Segments  # noqa: E402


def segments(analyzer: str) -> Segments:
    return Segments(analyzer, rows=np.array([[2.0, 5.0, 3.0, 9.0, 0.9]]), references=["broadcast.mp4"],
                    matrix=np.zeros((10, 12), np.float32), matrix_reference="broadcast.mp4", query_duration=10.0,
                    reference_durations={"broadcast.mp4": 12.0}, method="test")


def saved(case: Case, jpeg_photo: Path, result: Segments):  # noqa: ANN201 - a Run
    item = next(iter(case.all_evidence()), None) or case.add_evidence(jpeg_photo)
    return case.save_result(item.id, result)


def test_contributed_view_wins_over_the_type_view(qtbot, case: Case, jpeg_photo: Path) -> None:  # noqa: ANN001
    from plugins.similarity.ui.segments_view import SegmentsView
    from workbench.ui.result_views import SegmentsTableView, view_for

    copy = view_for(saved(case, jpeg_photo, segments("similarity.video_copy")))
    qtbot.addWidget(copy)
    assert isinstance(copy, SegmentsView) and copy.open_button is not None
    other = view_for(saved(case, jpeg_photo, segments("some.other_matcher")))  # same type, no view of its own
    qtbot.addWidget(other)
    assert type(other) is SegmentsTableView and other.table.topLevelItemCount() == 1


def test_a_broken_view_falls_back_to_the_type_view(qtbot, monkeypatch, case: Case,  # noqa: ANN001
                                                   jpeg_photo: Path) -> None:
    from workbench.ui.result_views import SegmentsTableView, view_for

    monkeypatch.setattr(contributions, "contributed",
                        lambda kind: {"similarity.video_copy": "no_such_module:View"} if kind == "views" else {})
    view = view_for(saved(case, jpeg_photo, segments("similarity.video_copy")))
    qtbot.addWidget(view)
    assert type(view) is SegmentsTableView


def test_report_figures_come_from_the_analyzers_plugin(monkeypatch, case: Case, jpeg_photo: Path) -> None:  # noqa: ANN001
    from workbench.app.report.details import _plugin_figure

    run = saved(case, jpeg_photo, segments("similarity.video_copy"))
    figures: dict[str, np.ndarray] = {}
    html = _plugin_figure(run, figures)
    assert list(figures) == [f"run{run.id}-figure.png"] and "matched segments outlined" in html
    assert _plugin_figure(saved(case, jpeg_photo, segments("some.other_matcher")), figures) == ""
    monkeypatch.setattr(contributions, "contributed", lambda kind: {"similarity.video_copy": "no_such_module:f"})
    assert "Figure not drawn" in _plugin_figure(run, {})


def test_result_tab_is_made_once_and_follows_the_preferences(qtbot, case: Case, jpeg_photo: Path) -> None:  # noqa: ANN001
    from workbench.core import preferences
    from workbench.core.results import Geolocation
    from workbench.ui.main_window import MainWindow

    item = case.add_evidence(jpeg_photo)
    case.save_result(item.id, Geolocation("geolocation", decision="GPS from the metadata",
                                          gps={"lat": 50.88, "lon": 4.70, "accuracy_m": 5.0}))
    window = MainWindow(case)
    qtbot.addWidget(window)
    try:
        window.evidence.select(item.id)
        [panel] = window.item.result_tabs.values()
        assert [window.tabs.tabText(i) for i in range(window.tabs.count())][-1] == "Map"
        window.refresh_results()
        assert list(window.item.result_tabs.values()) == [panel]  # kept for the next result
        preferences.update(tile_url="http://tiles.lan/{z}/{x}/{y}.png")
        window._preferences_changed()
        assert panel.tile_url == "http://tiles.lan/{z}/{x}/{y}.png" and panel.web_view is None  # released
    finally:
        window.close()


def test_panels_are_docks_the_window_keeps_informed(qtbot, monkeypatch, case: Case, jpeg_photo: Path) -> None:  # noqa: ANN001
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QLabel

    from workbench.core.contributions import Panel
    from workbench.core.presets import PRESETS
    from workbench.ui.main_window import MainWindow

    calls: list[tuple] = []

    class Recorder(QLabel):  # only some of the optional methods
        def __init__(self, host: object) -> None:
            super().__init__("recorder")
            self.host = host

        def set_case(self, case: Case) -> None:
            calls.append(("case", case.root))

        def set_evidence(self, evidence: object, rgb: np.ndarray | None) -> None:
            calls.append(("evidence", evidence.id, rgb is not None))

        def run_preset(self, preset: object, ids: list[int]) -> bool:
            calls.append(("preset", preset.name, ids))
            return True

        def menu_actions(self) -> list[QAction]:
            return [QAction("Do the thing", self)]

        def release(self) -> None:
            calls.append(("release",))

    load = contributions.load
    monkeypatch.setattr(contributions, "panels", lambda: (
        Panel("test.recorder", "Recorder", "test:recorder", menu="&Tools", shortcut="Ctrl+Shift+T"),
        Panel("test.broken", "Broken", "no_such_module:panel", visible=True)))
    monkeypatch.setattr(contributions, "load", lambda ref: Recorder if ref == "test:recorder" else load(ref))
    item = case.add_evidence(jpeg_photo)
    window = MainWindow(case)
    qtbot.addWidget(window)
    try:
        recorder = window.panels["test.recorder"]
        assert list(window.panels) == ["test.recorder"] and recorder.host is window  # the broken one: a message
        [(title, text)] = window.messages.entries
        assert title == "Plugin panels not loaded" and "Broken (no_such_module:panel)" in text
        assert window.panel_docks["test.recorder"].isHidden()
        [menu] = [m.menu() for m in window.menuBar().actions() if m.text() == "&Tools"]
        assert [a.text() for a in menu.actions()] == ["Recorder", "Do the thing"]
        window.evidence.select(item.id)
        assert calls[:2] == [("case", case.root), ("evidence", item.id, True)]
        window.analyses.choose_preset("triage")
        monkeypatch.setattr(window.jobs, "submit", lambda *a, **k: None)  # the analyses themselves: not here
        window.run_analyses(False)
        assert ("preset", PRESETS["triage"].name, [item.id]) in calls
        assert not window.panel_docks["test.recorder"].isHidden()  # it did its share: its dock is shown
    finally:
        window.jobs.shutdown()
        window.close()
    assert calls[-1] == ("release",)
