"""GUI tests (pytest-qt, offscreen): drop files, run ELA, see the overlay, export the report."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")


from gui_events import drop  # noqa: E402

from workbench.app.case import Case  # noqa: E402
from workbench.app.sample import load_photo, make_splice  # noqa: E402
from workbench.core.results import Status  # noqa: E402
from workbench.ui.compare_viewer import CompareMode  # noqa: E402
from workbench.ui.main_window import MainWindow  # noqa: E402
from workbench.ui.result_views import HeatmapView  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture
def spliced(tmp_path: Path) -> Path:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    host, donor = load_photo("astronaut.png"), load_photo("coffee.png")
    data, _mask = make_splice(host, donor[90:230, 190:350], (300, 330))
    path = evidence / "spliced photo é.jpg"
    path.write_bytes(data)
    return path


@pytest.fixture
def window(qtbot, tmp_path: Path):
    case = Case.create(tmp_path / "case", name="GUI test case", analyst="Tester")
    win = MainWindow(case)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.jobs.shutdown()


def test_drop_run_ela_and_see_overlay(qtbot, window: MainWindow, spliced: Path, tmp_path: Path) -> None:
    before = spliced.read_bytes()
    drop(window, [spliced])
    qtbot.waitUntil(lambda: window.evidence.count() == 1, timeout=10000)
    qtbot.waitUntil(lambda: window.current_id is not None, timeout=5000)
    assert window.viewer.view.has_image()

    window.analyses.set_only({"metadata", "ela"})
    [job] = window.run_analyses()
    qtbot.waitUntil(lambda: any(isinstance(v, HeatmapView) for v in window.result_views), timeout=20000)
    assert job.error is None
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Viewer", "Metadata"]
    view = next(v for v in window.result_views if isinstance(v, HeatmapView))
    layer = window.viewer.view.layers[view.layer_key]
    assert layer.isVisible() and layer.pixmap().width() == 512  # the only map is shown at once

    window.layers.opacity.setValue(35)
    assert layer.opacity() == pytest.approx(0.35)
    window.layers.choose(None)
    assert not layer.isVisible()
    window.layers.choose(view.layer_key)
    window.viewer.show_original.setChecked(True)
    assert not layer.isVisible()
    window.viewer.show_original.setChecked(False)
    window.layers.compare_mode.setCurrentIndex(window.layers.compare_mode.findData(CompareMode.SIDE_BY_SIDE))
    partner = window.viewer.partner
    assert partner.isVisible() and not any(item.isVisible() for item in partner.layers.values())  # the original
    window.layers.opacity.setValue(100)
    qtbot.waitUntil(lambda: window.device_label.text() != 'Device: detecting…', timeout=20000)

    shot = window.grab()
    assert shot.width() > 0
    shot.save(str(tmp_path / "main-window.png"))

    job = window.export_report(tmp_path / "report.pdf")
    qtbot.waitUntil(lambda: job.done, timeout=60000)
    assert job.error is None and (tmp_path / "report.pdf").stat().st_size > 10000
    assert spliced.read_bytes() == before
    assert sorted(p.name for p in spliced.parent.iterdir()) == [spliced.name]


def test_bad_drop_shows_message_and_keeps_case(qtbot, window: MainWindow, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    good = tmp_path / "good.png"
    Image.fromarray(np.full((40, 60, 3), 128, np.uint8)).save(good)
    drop(window, [empty, good])
    qtbot.waitUntil(lambda: bool(window.messages.visible_boxes()), timeout=10000)
    assert "empty" in window.messages.box.text()
    assert window.evidence.count() == 1
    assert [e.name for e in window.case.all_evidence()] == ["good.png"]


def test_import_names_odd_names_escaped_and_lists_copies(qtbot, window: MainWindow, tmp_path: Path) -> None:
    folder = tmp_path / "evidence"
    folder.mkdir()
    odd = os.path.join(os.fsencode(folder), b"caf\xe9.png")  # a Latin-1 name: not UTF-8
    Image.fromarray(np.full((40, 60, 3), 128, np.uint8)).save(odd, format="PNG")
    with open(odd, "rb") as source, open(folder / "copy.jpg", "wb") as copy:
        copy.write(source.read())
    drop(window, [folder])
    qtbot.waitUntil(lambda: bool(window.messages.visible_boxes()), timeout=10000)
    assert window.evidence.count() == 1
    item = window.evidence.item(0)
    assert item.text().startswith("caf\\xe9.png\n") and str(folder / "caf\\xe9.png") in item.toolTip()
    text = window.messages.box.text()
    assert "copy.jpg: same content as #1 'caf\\xe9.png'" in text and "does not match the content (PNG)" in text


def test_cancel_reaches_the_analysis(qtbot, window: MainWindow) -> None:
    started = []

    def slow(job):
        started.append(True)
        while not job.cancelled():
            job.report(0.5, "waiting")
            time.sleep(0.01)
        return "stopped"

    job = window.jobs.submit("slow job", slow)
    qtbot.waitUntil(lambda: job.id in window.analyses.jobs.rows and bool(started), timeout=5000)
    window.analyses.jobs.rows[job.id].cancel.click()
    qtbot.waitUntil(lambda: job.done, timeout=5000)
    assert job.result == "stopped"
    qtbot.waitUntil(lambda: job.id not in window.analyses.jobs.rows, timeout=5000)


def test_reopened_case_shows_stored_results(qtbot, tmp_path: Path, spliced: Path) -> None:
    from workbench.app.analysis import Planned, analyze
    from workbench.core import registry

    case = Case.create(tmp_path / "case2")
    item = case.add_evidence(spliced)
    ela = registry.get("ela")
    [run] = analyze(case, item, [Planned(ela, ela.params_from({}))])
    assert run.result.status is Status.OK
    case.close()

    win = MainWindow(Case.open(tmp_path / "case2"))
    qtbot.addWidget(win)
    assert win.evidence.count() == 1
    assert len(win.viewer.view.map_keys()) == 1
    assert any(a.action == "analysis run" for a in win.case.audit())
    win.jobs.shutdown()


def test_stack_browsing_and_matched_pairs(qtbot, tmp_path: Path, spliced: Path) -> None:
    """A heat map with further maps gets a chooser; matched pairs are drawn as lines, also in the report."""
    from PySide6.QtWidgets import QGraphicsPathItem

    from workbench.core.results import Heatmap

    case = Case.create(tmp_path / "case3")
    item = case.add_evidence(spliced)
    base = np.zeros((512, 512), np.float32)
    stack = {"q=70": np.full((512, 512), 0.2, np.float32), "q=90": np.full((512, 512), 0.9, np.float32),
             "reduced": np.full((128, 128), 0.5, np.float32)}  # large images keep smaller browsing maps
    pairs = np.array([[10, 20, 300, 400], [30, 40, 320, 420]], np.float32)
    case.save_result(item.id, Heatmap("ela", map=base, stack=stack, pairs=pairs))

    win = MainWindow(case)
    qtbot.addWidget(win)
    [view] = [v for v in win.result_views if isinstance(v, HeatmapView)]
    layer = win.viewer.view.layers[view.layer_key]
    assert any(isinstance(child, QGraphicsPathItem) for child in layer.childItems())
    before = layer.pixmap().toImage().pixelColor(5, 5)
    view.chooser.setCurrentText("q=90")
    assert layer.pixmap().toImage().pixelColor(5, 5) != before
    assert layer.mapRectToScene(layer.boundingRect()).width() == 512
    view.chooser.setCurrentText("reduced")
    assert layer.mapRectToScene(layer.boundingRect()).width() == 512
    [lines] = [c for c in layer.childItems() if isinstance(c, QGraphicsPathItem)]  # still in image pixels
    assert lines.mapRectToScene(lines.boundingRect()).right() < 330

    job = win.export_report(tmp_path / "stack.pdf")
    qtbot.waitUntil(lambda: job.done, timeout=60000)
    assert job.error is None and (tmp_path / "stack.pdf").is_file()
    win.jobs.shutdown()


def test_copy_move_lines_over_the_image(qtbot, window: MainWindow, tmp_path: Path) -> None:
    """A synthetic rotated+scaled copy-move: its matched pairs are drawn as lines over the heat map."""
    from PySide6.QtWidgets import QGraphicsPathItem

    from workbench.synthetic import CLEAN, make_sample, packaged_photos

    sample = make_sample(7, 7, "copy_move", CLEAN, packaged_photos())  # fixed inputs, whatever else is installed
    path = tmp_path / "copy_move.png"
    Image.fromarray(sample.image).save(path)
    drop(window, [path])
    qtbot.waitUntil(lambda: window.current_id is not None, timeout=10000)
    window.analyses.set_only({"copy_move", "ela"})
    window.run_analyses()
    qtbot.waitUntil(lambda: sum(isinstance(v, HeatmapView) for v in window.result_views) == 2, timeout=30000)
    copy_move = next(v for v in window.result_views if v.run.result.analyzer == "copy_move")
    layer = window.viewer.view.layers[copy_move.layer_key]
    assert any(isinstance(child, QGraphicsPathItem) for child in layer.childItems())
    assert len(copy_move.run.result.pairs) >= 20
    qtbot.waitUntil(lambda: window.device_label.text() != "Device: detecting…", timeout=20000)
    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS"):
        window.grab().save(str(DOCS / "screenshot-copy-move.png"))


def test_dense_copy_move_shows_source_and_copy(qtbot, window: MainWindow, tmp_path: Path) -> None:
    """A rotated, scaled copy on a real photo: the dense detector's map paints the copy and its source
    in two colours (legend under the map) and its source → copy vectors are drawn as lines."""
    from PySide6.QtWidgets import QGraphicsPathItem
    from test_copy_move import forge

    from plugins.localization.copy_move_dense import SOURCE, TARGET

    forged, source, target, _ = forge(load_photo("astronaut.png"), (30, 160, 110, 110), (440, 420), 15.0, 1.1)
    path = tmp_path / "rotated_copy.png"
    Image.fromarray(forged).save(path)
    drop(window, [path])
    qtbot.waitUntil(lambda: window.current_id is not None, timeout=10000)
    window.analyses.set_only({"copy_move_dense"})
    window.run_analyses()
    qtbot.waitUntil(lambda: any(isinstance(v, HeatmapView) for v in window.result_views), timeout=30000)
    [view] = [v for v in window.result_views if isinstance(v, HeatmapView)]
    result = view.run.result
    assert np.mean(result.map[target] == TARGET) > 0.8 and np.mean(result.map[source] == SOURCE) > 0.8
    layer = window.viewer.view.layers[view.layer_key]
    assert any(isinstance(child, QGraphicsPathItem) for child in layer.childItems())
    assert {"copies", "their sources"} <= set(result.stack)
    qtbot.waitUntil(lambda: window.device_label.text() != "Device: detecting…", timeout=20000)
    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS"):
        window.results_dock.raise_()  # the colour legend: copy at the top of the scale, source mid-scale
        qtbot.wait(200)
        window.grab().save(str(DOCS / "screenshot-copy-move-dense.png"))


def test_unavailable_result_offers_to_install_the_model(qtbot, monkeypatch, window: MainWindow, spliced: Path,
                                                        tmp_path: Path) -> None:
    import torch
    from PySide6.QtWidgets import QFileDialog, QPushButton

    from workbench.core.models import ModelStore

    assert not window.analyses.is_checked("msfusion_dct")
    assert "model not installed" in window.analyses.items["msfusion_dct"].text()
    drop(window, [spliced])
    qtbot.waitUntil(lambda: window.current_id is not None, timeout=10000)
    window.analyses.set_only({"msfusion_dct"})
    window.run_analyses()
    qtbot.waitUntil(lambda: bool(window.result_views), timeout=30000)
    [view] = window.result_views
    assert view.run.result.status is Status.UNAVAILABLE and view.run.result.score is None
    [button] = [b for b in view.findChildren(QPushButton) if b.text().startswith("Install model file")]
    weights = tmp_path / "ckpt.pth"
    torch.save({"model": {"weight": torch.zeros(2)}}, weights)  # wrapped as the authors' file (loads, not used)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(weights), ""))
    button.click()  # the model manager opens at this model…
    manager = window.model_manager
    qtbot.waitUntil(lambda: manager.selected_id() == "msfusion_dct", timeout=30000)
    manager.install_button.click()  # …where the file is hashed and checked in the background
    qtbot.waitUntil(lambda: ModelStore().status("msfusion_dct").installed, timeout=30000)
