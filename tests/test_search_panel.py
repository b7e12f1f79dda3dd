"""The similar-image search panel (pytest-qt, offscreen): index a case and a folder, search with the
original, find its cropped and flipped copy first, compare the two with match lines; and the
messages shown instead of errors (no case, empty collection, missing model, cancelled indexing)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtWidgets import QFileDialog, QGraphicsPathItem  # noqa: E402

from plugins.similarity.ui.search_panel import MATCH_LAYER, MAX_LINES, SearchPanel, side_by_side  # noqa: E402
from workbench.app.case import Case  # noqa: E402
from workbench.app.sample import jpeg_bytes, load_photo  # noqa: E402
from workbench.core import preferences  # noqa: E402
from workbench.core.plugin import ModelUnavailable  # noqa: E402
from workbench.ui.preferences_dialog import PreferencesDialog  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"
JOB_TIMEOUT = 60000


@pytest.fixture
def photos(tmp_path: Path) -> dict[str, Path]:
    """The original (case evidence) and, in another folder, its cropped + mirrored re-compressed copy,
    a smaller re-compressed copy (a near-duplicate), three unrelated photos and a text file named
    like a photo."""
    evidence, elsewhere = tmp_path / "evidence", tmp_path / "elsewhere"
    evidence.mkdir()
    elsewhere.mkdir()
    astronaut = load_photo("astronaut.png")
    paths = {"original": evidence / "astronaut.jpg", "copy": elsewhere / "shared copy.jpg"}
    paths["original"].write_bytes(jpeg_bytes(astronaut, 90))
    paths["copy"].write_bytes(jpeg_bytes(np.ascontiguousarray(astronaut[40:460, 30:480][:, ::-1]), 75))
    smaller = np.asarray(Image.fromarray(astronaut).resize((384, 384), Image.Resampling.LANCZOS))
    (elsewhere / "resized.jpg").write_bytes(jpeg_bytes(smaller, 70))
    for name in ("coffee.png", "chelsea.png", "rocket.jpg"):
        (elsewhere / f"{Path(name).stem}.jpg").write_bytes(jpeg_bytes(load_photo(name), 85))
    (elsewhere / "notes.jpg").write_text("case notes, not a photo\n", encoding="utf-8")
    paths["folder"] = elsewhere
    return paths


@pytest.fixture
def case_with_original(case: Case, photos: dict[str, Path]) -> Case:
    case.add_evidence(photos["original"])
    return case


@pytest.fixture
def panel(qtbot):
    widget = SearchPanel()
    qtbot.addWidget(widget)
    widget.resize(1500, 760)
    widget.show()
    yield widget
    widget.jobs.shutdown()


def select_first_evidence(panel: SearchPanel, case: Case) -> None:
    item = case.all_evidence()[0]
    panel.set_evidence(item, case.open_media(item).pixels())


def wait_idle(qtbot, panel: SearchPanel) -> None:
    qtbot.waitUntil(lambda: panel.job is None, timeout=JOB_TIMEOUT)


def click_result(qtbot, panel: SearchPanel, row: int) -> None:
    rect = panel.results.visualItemRect(panel.results.item(row))
    qtbot.mouseClick(panel.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_index_search_and_compare(qtbot, monkeypatch, panel: SearchPanel, case_with_original: Case,
                                  photos: dict[str, Path], tmp_path: Path) -> None:
    case = case_with_original
    panel.set_case(case)
    select_first_evidence(panel, case)
    assert "0 image(s) indexed" in panel.count_label.text()

    qtbot.mouseClick(panel.add_case_button, Qt.MouseButton.LeftButton)
    assert panel.job is not None and not panel.cancel_button.isHidden()
    assert not panel.search_button.isEnabled()
    wait_idle(qtbot, panel)
    assert panel.indexed == 1 and "1 image(s) indexed · vectors in its own FAISS index" in panel.count_label.text()
    assert panel.cancel_button.isHidden() and panel.search_button.isEnabled()

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(photos["folder"]))
    qtbot.mouseClick(panel.add_folder_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, panel)
    assert panel.indexed == 6
    message = panel.message.text()
    assert "5 image(s) added" in message and "1 file(s) could not be indexed" in message
    assert "notes.jpg" in message and "notes.jpg" in panel.message.toolTip()

    qtbot.mouseClick(panel.add_case_button, Qt.MouseButton.LeftButton)  # incremental: nothing new
    wait_idle(qtbot, panel)
    assert panel.indexed == 6 and "0 image(s) added, 1 already indexed" in panel.message.text()

    assert panel.k.value() == 20 and panel.rerank.currentText() == "spatial verification"
    qtbot.mouseClick(panel.search_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, panel)
    hits = panel.outcome.hits
    names = [Path(h.item.path).name for h in hits]
    assert len(hits) == panel.results.count() == 5  # the query's own file is not a hit of itself
    assert set(names[:2]) == {"shared copy.jpg", "resized.jpg"}  # both copies before the unrelated photos
    assert all(h.inliers > 0 and h.same_content for h in hits[:2])
    assert min(h.inliers for h in hits[:2]) > max(h.inliers for h in hits[2:])
    resized = hits[names.index("resized.jpg")]
    assert resized.near_duplicate and "near-duplicate" in panel.results.item(resized.rank - 1).text()
    row = names.index("shared copy.jpg")
    top, item = hits[row], panel.results.item(row)
    assert not top.near_duplicate and "near-duplicate" not in item.text()
    assert item.text().startswith(f"#{row + 1}") and f"{top.inliers} inliers" in item.text()
    assert str(photos["copy"].resolve()) in item.toolTip() and "not a probability" in item.toolTip()

    click_result(qtbot, panel, row)
    qtbot.waitUntil(lambda: panel.match.lines > 0, timeout=JOB_TIMEOUT)
    assert panel.match.lines == MAX_LINES < len(top.matches)  # a readable subset by default…
    panel.match.all_lines.trigger()
    assert MAX_LINES < panel.match.lines <= len(top.matches)  # …every distinct match on request
    panel.match.all_lines.trigger()
    layer = panel.match.view.layers[MATCH_LAYER]
    [lines] = [c for c in layer.childItems() if isinstance(c, QGraphicsPathItem)]
    assert lines.path().elementCount() > 0 and layer.isVisible()
    assert "shared copy.jpg" in panel.match.caption.text()
    hints = panel.match.hints.text()
    assert "the query has more pixels" in hints and "450×420" in hints
    assert "the query has the higher JPEG quality" in hints
    facts = {panel.match.facts.item(r, 0).text(): panel.match.facts.item(r, 2).text()
             for r in range(panel.match.facts.rowCount())}
    assert facts["Pixels"] == "450×420" and facts["Format"] == "JPEG"

    shot = panel.grab()
    assert shot.width() > 0
    shot.save(str(tmp_path / "search.png"))
    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS"):
        shot.save(str(DOCS / "screenshot-search.png"))

    # a rectangle drawn on the query: only that region is searched, match positions are in the crop
    qtbot.mouseClick(panel.draw_button, Qt.MouseButton.LeftButton)
    viewport, view = panel.preview.viewport(), panel.preview
    start, end = view.mapFromScene(QPointF(60, 40)), view.mapFromScene(QPointF(380, 360))
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    x0, y0, x1, y1 = panel.preview.selection
    assert abs(x0 - 60) <= 3 and abs(y0 - 40) <= 3 and abs(x1 - 380) <= 3 and abs(y1 - 360) <= 3
    assert "rectangle" in panel.query_label.text()
    qtbot.mouseClick(panel.search_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, panel)
    assert panel.outcome.rect == panel.preview.selection
    assert panel.outcome.query.rgb.shape[:2] == (y1 - y0, x1 - x0)
    top = next(h for h in panel.outcome.hits if Path(h.item.path).name == "shared copy.jpg")
    assert top.rank <= 2 and top.inliers > 0
    assert top.matches[:, 0].max() < x1 - x0 and top.matches[:, 1].max() < y1 - y0
    qtbot.mouseClick(panel.whole_button, Qt.MouseButton.LeftButton)
    assert panel.preview.selection is None

    panel.set_case(None)  # closing and reopening the case finds the collection where it was left
    assert "No case open" in panel.count_label.text() and panel.results.count() == 0
    panel.set_case(case)
    assert "Opening" in panel.count_label.text()
    wait_idle(qtbot, panel)
    assert panel.indexed == 6 and "6 image(s) indexed" in panel.count_label.text()


def test_the_index_uri_preference_puts_the_vectors_in_milvus(qtbot, panel: SearchPanel, case_with_original: Case,
                                                              tmp_path: Path) -> None:
    dialog = PreferencesDialog()  # Settings ▸ Preferences sets it
    qtbot.addWidget(dialog)
    dialog.index_uri.setText(f" {tmp_path / 'milvus.db'} ")
    dialog.accept()
    assert preferences.load().index_uri == str(tmp_path / "milvus.db")
    panel.set_case(case_with_original)
    qtbot.mouseClick(panel.add_case_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, panel)
    assert panel.indexed == 1 and panel.collection is not None
    assert f"1 image(s) indexed · vectors in Milvus at {tmp_path / 'milvus.db'}" in panel.count_label.text()
    assert len(panel.collection.index) == 1


def test_empty_collection_and_no_case(qtbot, panel: SearchPanel, case_with_original: Case) -> None:
    qtbot.mouseClick(panel.search_button, Qt.MouseButton.LeftButton)
    assert "No case is open" in panel.message.text() and panel.job is None
    qtbot.mouseClick(panel.add_case_button, Qt.MouseButton.LeftButton)
    assert "No case is open" in panel.message.text() and panel.job is None

    panel.set_case(case_with_original)
    qtbot.mouseClick(panel.search_button, Qt.MouseButton.LeftButton)
    assert "No evidence selected" in panel.message.text()
    select_first_evidence(panel, case_with_original)
    qtbot.mouseClick(panel.search_button, Qt.MouseButton.LeftButton)
    assert "collection is empty" in panel.message.text() and panel.job is None
    assert "the collection is empty" in panel.count_label.text()
    assert not (case_with_original.root / "similarity").exists()  # looking does not create it


def test_missing_model_message(qtbot, monkeypatch, panel: SearchPanel, case_with_original: Case) -> None:
    from plugins.similarity.global_descriptor import MODEL_ID, GlobalDescriptor

    def unavailable(self, inputs, compiled=False):  # noqa: ANN001, ANN202
        raise ModelUnavailable(f"model '{MODEL_ID}' is not installed: install it with Settings ▸ Models")

    monkeypatch.setattr(GlobalDescriptor, "describe_batch", unavailable)
    panel.set_case(case_with_original)
    qtbot.mouseClick(panel.add_case_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, panel)
    assert "model is missing" in panel.message.text() and "Settings ▸ Models" in panel.message.text()
    assert not panel.install_button.isHidden()
    with qtbot.waitSignal(panel.installRequested) as signal:
        qtbot.mouseClick(panel.install_button, Qt.MouseButton.LeftButton)
    assert signal.args == [MODEL_ID]


def test_add_folder_makes_its_videos_reference_videos(qtbot, monkeypatch, panel: SearchPanel, case: Case,
                                                     tmp_path: Path) -> None:
    """As `workbench index` does: the folder's images are indexed and its videos become the case's
    reference videos for video copy detection, in the same job; the summary counts both."""
    from plugins.similarity.video_copy import store_for
    from workbench.core.media import open_media
    from workbench.synthetic.videos import write_video

    folder = tmp_path / "mixed"
    (folder / "clips").mkdir(parents=True)
    for name in ("coffee.png", "rocket.jpg"):
        (folder / f"{Path(name).stem}.jpg").write_bytes(jpeg_bytes(load_photo(name), 85))
    frames = [np.ascontiguousarray(load_photo("chelsea.png")[::2, ::2])] * 10
    clip = write_video(folder / "clips" / "cat.avi", frames, fps=5.0)
    panel.set_case(case)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    qtbot.mouseClick(panel.add_folder_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, panel)
    assert panel.indexed == 2
    assert panel.message.text() == ("2 image(s) added, 0 already indexed; 1 reference video(s) added, "
                                    "0 already there.")
    assert [v.sha256 for v in store_for(case.root).references()] == [open_media(clip).sha256]

    qtbot.mouseClick(panel.add_folder_button, Qt.MouseButton.LeftButton)  # incremental for both kinds
    wait_idle(qtbot, panel)
    assert panel.message.text() == ("0 image(s) added, 2 already indexed; 0 reference video(s) added, "
                                    "1 already there.")


def test_cancel_indexing_keeps_the_panel_usable(qtbot, monkeypatch, panel: SearchPanel,
                                                case_with_original: Case, photos: dict[str, Path]) -> None:
    from plugins.similarity import image_pipeline

    entered, release = threading.Event(), threading.Event()

    def slow_prepare(path, descriptor, max_pixels, extractors):  # noqa: ANN001, ANN202
        entered.set()
        release.wait(10)
        raise OSError("not read: the test stands in for a slow file")

    monkeypatch.setattr(image_pipeline, "prepare", slow_prepare)
    panel.set_case(case_with_original)
    panel.add_paths([photos["folder"]])
    qtbot.waitUntil(entered.is_set, timeout=JOB_TIMEOUT)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    release.set()
    wait_idle(qtbot, panel)
    assert "Indexing cancelled" in panel.message.text()
    assert panel.add_case_button.isEnabled() and panel.cancel_button.isHidden()


def test_side_by_side_maps_matches_onto_the_canvas() -> None:
    left, right = np.zeros((100, 50, 3), np.uint8), np.zeros((200, 300, 3), np.uint8)
    canvas, lines = side_by_side(left, right, np.float32([[10, 20, 100, 40]]), gap=16)
    assert canvas.shape == (200, 100 + 16 + 300, 3)
    assert lines.tolist() == [[20, 40, 100 + 16 + 100, 40]]


def test_main_window_has_the_panel(qtbot, case_with_original: Case) -> None:
    from workbench.ui.main_window import MainWindow

    window = MainWindow(case_with_original)
    qtbot.addWidget(window)
    window.show()
    try:
        search, dock = window.panels["similarity.search"], window.panel_docks["similarity.search"]
        assert dock.isHidden() and dock.windowTitle() == "Similar images"
        [menu] = [m.menu() for m in window.menuBar().actions() if m.text() == "Sea&rch"]
        assert [a.text() for a in menu.actions()] == ["Similar images", "Add selected &videos to the reference videos"]
        assert dock.toggleViewAction().shortcut().toString() == "Ctrl+Shift+F"
        menu.actions()[0].trigger()
        assert dock.isVisible()
        assert search.case is case_with_original
        assert search.evidence is not None and search.evidence.id == window.current_id
        assert search.preview.has_image()
    finally:
        window.jobs.shutdown()


def test_locore_without_its_files_says_so(qtbot, monkeypatch, panel: SearchPanel, case_with_original: Case,
                                         photos: dict[str, Path]) -> None:
    from plugins.similarity.search import Rerank

    panel.set_case(case_with_original)
    select_first_evidence(panel, case_with_original)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(photos["folder"]))
    qtbot.mouseClick(panel.add_folder_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, panel)
    panel.rerank.setCurrentIndex(panel.rerank.findData(Rerank.LOCORE))
    assert "LOCORE" in panel.rerank.currentText()
    qtbot.mouseClick(panel.search_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, panel)
    message = panel.message.text()
    assert "Re-ranking is unavailable" in message and "'locore_base' not installed" in message
    assert panel.install_button.isHidden()  # not the global descriptor's model to install
