"""From many analyses to a finding (pytest-qt, offscreen): the window fits a laptop screen whatever it
shows, layers flip one at a time by key, presets offer what applies, findings are marked, kept and
reported, and the whole path from a dropped splice to a report within its budget."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from gui_events import drag, drop, key  # noqa: E402
from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QWidget  # noqa: E402

from workbench.app.case import Case, Evidence  # noqa: E402
from workbench.app.sample import load_photo, make_splice  # noqa: E402
from workbench.core.media import MediaKind  # noqa: E402
from workbench.core.results import Boxes, Facts, Geolocation, Heatmap, Segments, Series, Table  # noqa: E402
from workbench.synthetic.videos import photo_clip, write_video  # noqa: E402
from workbench.ui.compare_viewer import CompareMode  # noqa: E402
from workbench.ui.main_window import MIN_SCREEN, MainWindow  # noqa: E402
from workbench.ui.result_views import HeatmapView  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"
SCREEN = (1366, 768)
PAGES_BUDGET, BYTES_BUDGET = 30, 8 * 2**20


@pytest.fixture
def splice_path(tmp_path: Path) -> Path:
    folder = tmp_path / "evidence"
    folder.mkdir()
    data, _mask = make_splice(load_photo("astronaut.png"), load_photo("coffee.png")[90:230, 190:350], (300, 330))
    path = folder / "spliced.jpg"
    path.write_bytes(data)
    return path


@pytest.fixture
def window(qtbot, tmp_path: Path):
    win = MainWindow(Case.create(tmp_path / "case", name="Workflow case", analyst="Tester"))
    qtbot.addWidget(win)
    win.resize(*SCREEN)
    win.show()
    yield win
    win.jobs.shutdown()


def heat(shape: tuple[int, int], box: tuple[int, int, int, int], level: float = 1.0) -> np.ndarray:
    values = np.zeros(shape, np.float32)
    y0, y1, x0, x1 = box
    values[y0:y1, x0:x1] = level
    return values


def show(window: MainWindow, item: Evidence) -> None:
    window.evidence.add(window.case, item)
    window.evidence.clearSelection()
    window.evidence.select(item.id)


def within_screen(window: MainWindow) -> tuple[int, int]:
    hint = window.minimumSizeHint().expandedTo(window.layout().minimumSize())
    return hint.width(), hint.height()


def test_window_fits_1280x720_whatever_it_shows(qtbot, window: MainWindow, splice_path: Path, tmp_path: Path) -> None:
    """Every result kind on screen at once, item by item: the window never needs more than 1280×720."""
    case = window.case
    image = case.add_evidence(splice_path)
    shape = (512, 512)
    spectrum = np.full((1254, 658, 3), 90, np.uint8)  # the residual spectrum's figure size that broke the window
    for result in (
        Heatmap("ela", score=0.4, map=heat(shape, (300, 440, 330, 490))),
        Facts("metadata", tables=[Table("File", [("Name", "x" * 300)])], findings=["a finding " * 40],
              images={"EXIF thumbnail": np.zeros((120, 160, 3), np.uint8)}),
        Facts("synthetic.spectrum", score=0.2, images={"spectrum": spectrum}),
        Geolocation("geolocation", decision="GPS from the metadata",
                    gps={"lat": 50.87, "lon": 4.70, "place": "Leuven"}),
        Boxes("deepfake.faces", score=1.0, boxes=np.array([[200, 60, 300, 180]], np.float32), labels=["face 0"]),
    ):
        case.save_result(image.id, result)
    show(window, image)
    assert window.tabs.count() == 5  # Viewer, Metadata, Residual spectrum, Geolocation (facts), Map
    for tab in range(window.tabs.count()):
        window.tabs.setCurrentIndex(tab)
        qtbot.wait(50)
        width, height = within_screen(window)
        assert width <= MIN_SCREEN[0] and height <= MIN_SCREEN[1], window.tabs.tabText(tab)

    video = case.add_evidence(write_video(splice_path.parent / "clip.mp4", photo_clip(1, 2.0, 10.0, (320, 240)), 10.0))
    times = np.array([0.0, 1.0])
    case.save_result(video.id, Series("ela", score=0.5, times=times, values=np.array([0.2, 0.5]), frames=np.array(
        [0, 10]), maps=np.zeros((2, 30, 40), np.float16), label="p99 " * 60, source_analyzer="ela"))
    case.save_result(video.id, Segments("similarity.video_copy", rows=np.array([[0.0, 1.0, 3.0, 4.0, 0.9]]),
                                        references=["reference with a very long name " * 4],
                                        matrix=np.eye(20, dtype=np.float32), query_duration=2.0))
    show(window, video)
    width, height = within_screen(window)
    assert width <= MIN_SCREEN[0] and height <= MIN_SCREEN[1]
    window.resize(*MIN_SCREEN)
    qtbot.wait(50)
    assert window.width() <= MIN_SCREEN[0] and window.height() <= MIN_SCREEN[1]


def test_layers_flip_one_at_a_time_by_key(qtbot, window: MainWindow, splice_path: Path) -> None:
    case = window.case
    item = case.add_evidence(splice_path)
    for analyzer, box in (("ela", (0, 100, 0, 100)), ("noise_median", (200, 300, 200, 300)),
                          ("jpeg_ghost", (400, 500, 400, 500))):
        case.save_result(item.id, Heatmap(analyzer, score=0.5, map=heat((512, 512), box)))
    show(window, item)
    view, panel = window.viewer.view, window.layers
    keys = [layer.key for layer in panel.layers]
    assert len(keys) == 3 and view.shown_map() == keys[0]  # one overlay visible by default
    assert sum(view.layers[k].isVisible() for k in keys) == 1

    key(window, Qt.Key.Key_2)
    assert view.shown_map() == keys[1] and [view.layers[k].isVisible() for k in keys] == [False, True, False]
    key(window, Qt.Key.Key_PageDown)
    assert view.shown_map() == keys[2]
    key(window, Qt.Key.Key_PageDown)  # wraps to the original
    assert view.shown_map() is None and panel.current_key() is None
    key(window, Qt.Key.Key_PageUp)
    assert view.shown_map() == keys[2]

    key(window, Qt.Key.Key_Space)  # held: the original alone
    assert not view.layers[keys[2]].isVisible()
    key(window, Qt.Key.Key_Space, press=False, repeat=True)  # auto-repeat while held changes nothing
    key(window, Qt.Key.Key_Space, press=True, repeat=True)
    assert not view.layers[keys[2]].isVisible()
    key(window, Qt.Key.Key_Space, press=False)
    assert view.layers[keys[2]].isVisible()

    panel.opacity.setValue(30)  # each layer keeps its own opacity
    key(window, Qt.Key.Key_1)
    assert panel.opacity.value() == 80 and view.layers[keys[0]].opacity() == pytest.approx(0.8)
    key(window, Qt.Key.Key_3)
    assert panel.opacity.value() == 30 and view.layers[keys[2]].opacity() == pytest.approx(0.3)

    # swipe: left of the line, the compared layer (here ELA's), right of it the shown one
    panel.partner.setCurrentIndex(panel.partner.findData(keys[0]))
    panel.compare_mode.setCurrentIndex(panel.compare_mode.findData(CompareMode.SWIPE))
    swipe = window.viewer.swipe
    assert swipe.active and swipe.overlay.pixmap().cacheKey() == view.layers[keys[0]].pixmap().cacheKey()
    assert swipe.clip.rect().width() == pytest.approx(256)
    qtbot.wait(50)
    drag(view, (256, 250), (128, 250))  # the line follows a drag that starts on it
    assert swipe.clip.rect().width() == pytest.approx(128, abs=3)
    panel.compare_mode.setCurrentIndex(panel.compare_mode.findData(CompareMode.SIDE_BY_SIDE))
    assert not swipe.active and window.viewer.partner.isVisible()
    assert window.viewer.partner.shown_map() == keys[0]

    # typing in a text field is typing, not flipping
    window.analyses_dock.raise_()
    window.analyses.list.setCurrentRow(window.analyses.list.row(window.analyses.items["ela"]))
    editor = window.analyses.forms["ela"].editors["quality"]
    editor.setFocus()
    qtbot.keyClick(editor, Qt.Key.Key_1)
    assert view.shown_map() == keys[2]


def test_presets_offer_what_applies(qtbot, window: MainWindow, splice_path: Path, tmp_path: Path) -> None:
    panel = window.analyses
    assert panel.current_preset().name == "triage"
    for analyzer_id in ("metadata", "fusion", "ela", "copy_move", "deepfake.faces"):
        assert panel.is_checked(analyzer_id), analyzer_id
    assert not panel.is_checked("ela_sweep") and not panel.is_checked("synthetic.spectrum")  # in "full" only
    assert panel.items["similarity.video_copy"].isHidden()  # images are selected (none: images)

    panel.set_kinds({MediaKind.VIDEO})
    for hidden in ("adq", "nadq", "geolocation", "synthetic.spectrum"):
        assert panel.items[hidden].isHidden(), hidden
    assert not panel.items["similarity.video_copy"].isHidden() and not panel.is_checked("adq")
    assert panel.current_preset().name == "triage"
    panel.choose_preset("video")
    assert panel.is_checked("similarity.video_copy") and panel.is_checked("deepfake.faces")
    panel.choose_preset("triage")
    panel.set_kinds({MediaKind.IMAGE}, {"PNG"})  # ADQ and NADQ read a JPEG file's own coefficients
    assert panel.items["adq"].isHidden() and panel.items["nadq"].isHidden() and panel.is_checked("fusion")
    panel.set_kinds({MediaKind.IMAGE}, {"PNG", "JPEG"})
    assert not panel.items["adq"].isHidden() and panel.is_checked("adq")
    panel.set_kinds({MediaKind.IMAGE})
    panel.choose_preset("full")
    assert panel.is_checked("nadq") and panel.is_checked("splicebuster") and not panel.is_checked("msfusion_dct")

    panel.items["ela"].setCheckState(Qt.CheckState.Unchecked)  # ticking by hand makes it a custom choice
    assert panel.current_preset() is None and not panel.is_checked("ela") and panel.is_checked("nadq")
    [button] = [b for b in panel.findChildren(QWidget) if getattr(b, "text", lambda: "")() == "None"]
    button.click()
    assert panel.plan() == []


def test_marked_finding_is_kept_listed_and_reopened(qtbot, window: MainWindow, splice_path: Path,
                                                   tmp_path: Path) -> None:
    case = window.case
    item = case.add_evidence(splice_path)
    run = case.save_result(item.id, Heatmap("ela", score=0.6, map=heat((512, 512), (300, 440, 330, 490))))
    show(window, item)
    assert window.layers.current_key() == f"run{run.id}"
    window.viewer.mark_rect.setChecked(True)
    drag(window.viewer.view, (330, 300), (490, 440))
    dialog = window.finding_dialog
    assert dialog is not None and dialog.isVisible() and not window.viewer.mark_rect.isChecked()
    dialog.note.setPlainText("Pasted cup: higher error level than the suit around it")
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    [finding] = case.findings(item.id)
    assert finding.run_id == run.id and finding.layer == "Error level analysis"
    assert finding.region["kind"] == "rect"
    np.testing.assert_allclose(finding.region["points"], [[330, 300], [490, 440]], atol=3)
    assert window.findings.tree.topLevelItemCount() == 1
    assert "finding added" in [a.action for a in case.audit()]
    assert "findings" in window.viewer.view.layers  # outlined on the image

    window.result_views[0].flagRequested.emit(run)  # flagging a result: a finding about the whole item
    window.finding_dialog.note.setPlainText("ELA alone is not conclusive")
    window.finding_dialog.accept()
    assert len(case.findings(item.id)) == 2 and case.findings(item.id)[1].region is None
    window.summary.show_item(item, case.latest_runs(item.id), case.findings(item.id))
    assert window.summary.findings.count() == 2

    window.layers.choose(None)
    window.findings.goToRequested.emit(finding)  # back to its layer, zoomed on it
    assert window.layers.current_key() == f"run{run.id}"
    case.close()
    reopened = MainWindow(Case.open(tmp_path / "case"))
    qtbot.addWidget(reopened)
    assert [f.note for f in reopened.case.findings()][0].startswith("Pasted cup")
    assert reopened.findings.tree.topLevelItemCount() == 2
    reopened.jobs.shutdown()
    reopened.case.close()


def test_wheel_over_results_scrolls_instead_of_changing_controls(qtbot, window: MainWindow, splice_path: Path) -> None:
    case = window.case
    item = case.add_evidence(splice_path)
    stack = {f"q={q}": np.full((512, 512), q / 100, np.float32) for q in (60, 70, 80)}
    case.save_result(item.id, Heatmap("jpeg_ghost", score=0.5, map=heat((512, 512), (0, 9, 0, 9)), stack=stack))
    show(window, item)
    window.results_dock.raise_()
    [view] = [v for v in window.result_views if isinstance(v, HeatmapView)]
    for control in (view.chooser, window.layers.opacity):
        before = control.currentIndex() if hasattr(control, "currentIndex") else control.value()
        wheel = QWheelEvent(QPointF(5, 5), QPointF(5, 5), QPoint(0, 0), QPoint(0, -120), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(control, wheel)
        after = control.currentIndex() if hasattr(control, "currentIndex") else control.value()
        assert after == before


def test_warnings_collect_in_one_box(qtbot, window: MainWindow) -> None:
    window.show_message("Import failed", "first.jpg: empty file")
    window.show_message("Analysis failed", "ELA: out of memory")
    assert len(window.messages.visible_boxes()) == 1
    box = window.messages.box
    assert "2 messages" in box.windowTitle() and "first.jpg" in box.text() and "ELA" in box.text()
    box.done(0)
    window.show_message("Report not written", "disk full")
    assert window.messages.box.windowTitle() == "Report not written"


def test_welcome_walks_the_path_on_the_sample_case(qtbot, window: MainWindow, splice_path: Path) -> None:
    item = window.case.add_evidence(splice_path)
    window.evidence.add(window.case, item)
    welcome = window.show_welcome()
    welcome.analyst.setText("Jane Doe")
    welcome.organisation.setText("Verification desk")
    pages = welcome.pages.count()
    assert pages == 6
    welcome.go(1)
    from workbench.core import preferences

    assert preferences.load().analyst == "Jane Doe" and preferences.load().welcomed
    buttons = [b for b in welcome.pages.widget(1).findChildren(QWidget) if hasattr(b, "click")]
    buttons[0].click()  # "Select the sample splice"
    assert window.current_id == item.id
    welcome.go(3)
    [mark] = [b for b in welcome.pages.widget(4).findChildren(QWidget) if hasattr(b, "click")]
    mark.click()
    assert window.viewer.marker.mode == "rect"
    welcome.accept()


def pdf_pages(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def test_drop_triage_flip_mark_and_export(qtbot, window: MainWindow, splice_path: Path, tmp_path: Path) -> None:
    """The investigator's path on a generated splice, end to end, with the report within its budget."""
    from workbench.core import preferences

    preferences.update(analyst="Jane Doe", organisation="Verification desk")
    window.case.set_details("Workflow case", "Jane Doe", "Verification desk")
    before = splice_path.read_bytes()
    drop(window, [splice_path])
    qtbot.waitUntil(lambda: window.current_id is not None, timeout=10000)
    assert window.analyses.current_preset().name == "triage"
    jobs = window.run_analyses()
    qtbot.waitUntil(lambda: all(job.done for job in jobs), timeout=240000)
    qtbot.waitUntil(lambda: len(window.layers.layers) >= 8, timeout=10000)
    assert all(job.error is None for job in jobs)
    analyzers = {v.run.result.analyzer for v in window.result_views}
    assert {"metadata", "fusion", "ela", "adq", "deepfake.faces"} <= analyzers
    assert window.summary.signals.count() >= 8
    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS"):
        window.grab().save(str(DOCS / "screenshot-triage-summary.png"))

    window.layers_dock.raise_()
    for digit in (Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_3):
        key(window, digit)
        assert window.viewer.view.shown_map() == window.layers.layers[digit - Qt.Key.Key_1].key
    ela_key = next(v.layer_key for v in window.result_views if v.run.result.analyzer == "ela")
    window.show_layer(ela_key)
    assert window.viewer.view.shown_map() == ela_key
    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS"):
        window.grab().save(str(DOCS / "screenshot-layers.png"))

    window.viewer.mark_rect.setChecked(True)
    drag(window.viewer.view, (325, 295), (495, 445))
    window.finding_dialog.note.setPlainText("Pasted cup of coffee: its error level differs from the suit around it "
                                            "(ELA); a region pasted after the photo's JPEG compression.")
    window.finding_dialog.accept()
    assert window.findings.tree.topLevelItemCount() == 1
    assert window.case.findings()[0].layer == "Error level analysis"
    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS"):
        qtbot.wait(100)
        window.grab().save(str(DOCS / "screenshot-finding.png"))

    report = tmp_path / "out" / "case report.pdf"
    report.parent.mkdir()
    job = window.export_report(report)
    assert not job.done  # in the background: the window stays responsive meanwhile
    qtbot.waitUntil(lambda: job.done, timeout=120000)
    assert job.error is None and report.is_file()
    assert pdf_pages(report) <= PAGES_BUDGET and report.stat().st_size <= BYTES_BUDGET
    text = subprocess.run(["pdftotext", "-layout", str(report), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Pasted cup of coffee" in text and "Jane Doe" in text and "Verification desk" in text
    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS"):
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(report),
                        str(DOCS / "screenshot-report-summary")], check=True)
    assert splice_path.read_bytes() == before and sorted(p.name for p in splice_path.parent.iterdir()) == [
        splice_path.name]


def test_finding_on_a_video_frame_shows_on_its_span(qtbot, window: MainWindow, tmp_path: Path) -> None:
    clip = write_video(tmp_path / "clip.mp4", photo_clip(1, 2.0, 10.0, (320, 240)), 10.0)
    item = window.case.add_evidence(clip)
    show(window, item)
    viewer = window.video_viewer
    viewer.seek(5)
    viewer.mark_rect.setChecked(True)
    drag(viewer.view, (40, 30), (120, 90))
    dialog = window.finding_dialog
    assert dialog.span() == pytest.approx((0.5, 0.5))
    dialog.end.setValue(1.0)
    dialog.note.setPlainText("A sign appears from nowhere")
    dialog.accept()
    [finding] = window.case.findings(item.id)
    assert (finding.time_start, finding.time_end) == pytest.approx((0.5, 1.0))
    outline = viewer.view.layers["findings"]
    assert outline.childItems()  # drawn on the frame it was marked on
    viewer.seek(15)
    assert not outline.childItems()  # not outside its span
    viewer.seek(8)
    assert outline.childItems()
