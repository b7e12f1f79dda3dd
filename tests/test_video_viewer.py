"""The video viewer (pytest-qt, offscreen): exact frames on step and seek, the timeline cursor
both ways, overlays of the current frame, playback, and the result views of per-frame results.

The test video's frames carry their own index, drawn as eight black/white squares, so what the
viewer shows can be checked against the frame number it claims."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPointF, QRectF, Qt  # noqa: E402
from PySide6.QtGui import QImage, QPixmap  # noqa: E402
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsSimpleTextItem, QLabel  # noqa: E402

from workbench.app.case import Case, Evidence  # noqa: E402
from workbench.app.per_frame import box_labels, highest, timecode, verdict_line  # noqa: E402
from workbench.core.results import Boxes, Series, Status, Verdict  # noqa: E402
from workbench.synthetic.videos import photo_clip, write_video  # noqa: E402
from workbench.ui.main_window import MainWindow  # noqa: E402
from workbench.ui.result_views import SeriesView, VerdictView  # noqa: E402
from workbench.ui.video_viewer import BoxTrack, VideoViewer, nearest_sample, sampling_step  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"
FPS, SECONDS, SIZE = 10.0, 3.0, (320, 240)
FRAMES = int(FPS * SECONDS)
BITS, SQUARE = 8, 24
SAMPLED = np.arange(0, FRAMES, int(FPS))  # 1 frame per second: 0, 10, 20


def stamp(rgb: np.ndarray, index: int) -> np.ndarray:
    """The frame with its index in binary along the top edge (white = 1), big enough to survive MPEG-4."""
    out = rgb.copy()
    for bit in range(BITS):
        out[:SQUARE, bit * SQUARE:(bit + 1) * SQUARE] = 255 if index >> bit & 1 else 0
    return out


def read_stamp(rgb: np.ndarray) -> int:
    levels = [rgb[4:SQUARE - 4, bit * SQUARE + 4:(bit + 1) * SQUARE - 4].mean() for bit in range(BITS)]
    return sum(1 << bit for bit, level in enumerate(levels) if level > 128)


def pixels(pixmap: QPixmap) -> np.ndarray:
    """RGBA array of a pixmap."""
    image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGBA8888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 4].reshape(image.height(), image.width(), 4).copy()  # before `image` goes


def shown_index(viewer: VideoViewer) -> int:
    """The index drawn in the frame the viewer displays now."""
    return read_stamp(pixels(viewer.view.base.pixmap())[..., :3])


def drawn_boxes(layer: QGraphicsItem) -> tuple[QRectF, list[str]]:
    """The outline (bounding rectangle of all boxes) and the captions a layer draws."""
    [outline] = [c for c in layer.childItems() if isinstance(c, QGraphicsPathItem)]
    captions = [t.text() for plate in outline.childItems() for t in plate.childItems()
                if isinstance(t, QGraphicsSimpleTextItem)]
    return outline.path().boundingRect(), captions


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s, 10 fps MPEG-4 clip (key frames apart, so a backward seek must decode from one)."""
    frames = [stamp(rgb, i) for i, rgb in enumerate(photo_clip(1, SECONDS, FPS, SIZE))]
    return write_video(tmp_path_factory.mktemp("evidence") / "street clip.mp4", frames, FPS)


def series(analyzer: str = "ela") -> Series:
    """A per-frame result as the frame runner makes it: a bright square in the middle frame's map."""
    maps = np.zeros((len(SAMPLED), 60, 80), np.float16)
    maps[1, 20:40, 30:50] = 1.0
    return Series(analyzer, score=0.9, score_meaning="highest per-frame value",
                  times=SAMPLED / FPS, values=np.array([0.2, 0.9, np.nan], np.float32), frames=SAMPLED,
                  maps=maps, images={"frame 10 at 1.00 s": np.full((30, 40, 3), 200, np.uint8)},
                  label="99th percentile of the frame's map, 0–1", source_analyzer=analyzer,
                  sampling="one frame every 1 s", skipped=2,
                  top=[{"frame": 10, "time": 1.0, "value": 0.9}, {"frame": 0, "time": 0.0, "value": 0.2}])


def verdict(**changes: object) -> Verdict:
    """A face-swap verdict with one face tracked over the sampled frames."""
    fields = dict(
        analyzer="deepfake", score=0.81, score_meaning="probability that a face is manipulated",
        boxes=np.array([[100, 60, 180, 160], [110, 62, 190, 162], [120, 64, 200, 164]], np.float32),
        frames=SAMPLED, tracks=np.array([1, 1, 1]), box_scores=np.array([0.7, 0.95, 0.8]),
        labels=["face"] * 3, probability=0.81, label="P(manipulated face)", calibrated=False,
        votes=[{"model": "effnet", "title": "EfficientNet-B4", "probability": 0.81, "status": "ok", "note": ""},
               {"model": "xception", "title": "Xception", "probability": None, "status": "unavailable",
                "note": "weights not installed"}],
        aggregation="mean over frames of the highest face probability",
        times=SAMPLED / FPS, values=np.array([0.7, 0.95, 0.8]))
    fields.update(changes)
    return Verdict(**fields)  # type: ignore[arg-type]


@pytest.fixture
def window(qtbot, tmp_path: Path):
    case = Case.create(tmp_path / "case", name="Video case", analyst="Tester")
    win = MainWindow(case)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.jobs.shutdown()


def add_video(window: MainWindow, clip: Path, *results: object) -> Evidence:
    item = window.case.add_evidence(clip)
    for result in results:
        window.case.save_result(item.id, result)
    window.evidence.add(window.case, item)
    window.show_evidence(item.id)
    return item


def test_step_seek_and_play_land_on_exact_frames(qtbot, window: MainWindow, clip: Path) -> None:
    item = add_video(window, clip)
    viewer = window.video_viewer
    assert window.viewer_stack.currentWidget() is viewer
    caption = viewer.caption.text()
    for fact in ("street clip.mp4", "MPEG-4", "320×240", "10.000 fps", "30 frames", "creation time not recorded",
                 item.sha256):
        assert fact in caption
    assert viewer.index == 0 and shown_index(viewer) == 0
    assert "video" in window.evidence.item(0).text()

    viewer.step(1)
    assert viewer.index == 1 and shown_index(viewer) == 1
    qtbot.keyClick(viewer.view, Qt.Key.Key_Right)
    assert shown_index(viewer) == 2
    qtbot.keyClick(viewer.view, Qt.Key.Key_Left)
    assert shown_index(viewer) == 1
    for index in (23, 5, 29, 0, 17, 16):  # forward jumps, backward seeks across key frames, the last frame
        viewer.slider.setValue(index)
        assert viewer.index == index and shown_index(viewer) == index
    assert "frame 16 / 29" in viewer.position.text() and timecode(1.6) in viewer.position.text()
    viewer.step(100)
    assert viewer.index == FRAMES - 1

    viewer.seek(20)
    qtbot.keyClick(viewer.view, Qt.Key.Key_Space)
    assert viewer.playing and viewer.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: viewer.index >= 22, timeout=3000)
    qtbot.keyClick(viewer.view, Qt.Key.Key_Space)
    assert not viewer.playing
    stopped = viewer.index
    qtbot.wait(150)
    assert viewer.index == stopped and shown_index(viewer) == stopped
    viewer.toggle_play()
    qtbot.waitUntil(lambda: not viewer.playing, timeout=3000)  # stops by itself at the end
    assert viewer.index == FRAMES - 1 and shown_index(viewer) == FRAMES - 1


def test_timeline_cursor_overlays_and_result_views(qtbot, window: MainWindow, clip: Path) -> None:
    add_video(window, clip, series(), verdict())
    viewer = window.video_viewer
    assert len(viewer.timeline.plots) == 2
    map_key, box_key = (v.layer_key for v in window.result_views)

    viewer.seek(10)
    assert all(cursor.value() == pytest.approx(1.0) for cursor in viewer.timeline.cursors)
    heat = pixels(viewer.view.layers[map_key].pixmap())[..., 3]
    # its square, stretched from the 80×60 map over the 320×240 frame
    assert heat.shape == (240, 320) and heat[84:156, 124:196].min() == 255
    assert heat[:72].max() == 0 and heat[:, :112].max() == 0
    assert viewer.view.layers[map_key].sceneBoundingRect().width() == pytest.approx(SIZE[0])  # stretched over it
    rect, captions = drawn_boxes(viewer.view.layers[box_key])
    assert rect.getCoords() == pytest.approx((110, 62, 190, 162)) and captions == ["face 0.95"]

    viewer.seek(14)  # 0.4 s from a sample, within half a step: the same map and box
    assert pixels(viewer.view.layers[map_key].pixmap())[120, 160, 3] == 255
    viewer.seek(25)  # half a step after the last sample: still frame 20's (dark) map and its box
    assert pixels(viewer.view.layers[map_key].pixmap())[..., 3].max() == 0
    assert drawn_boxes(viewer.view.layers[box_key])[0].left() == pytest.approx(120)
    viewer.seek(26)  # further: no analysed frame describes this one, nothing is drawn
    rect, captions = drawn_boxes(viewer.view.layers[box_key])
    assert rect.isEmpty() and not captions

    # dragging the cursor, or clicking a plot, seeks the video there
    viewer.timeline.cursors[0].setValue(0.7)
    viewer.timeline.cursors[0].sigDragged.emit(viewer.timeline.cursors[0])
    assert viewer.index == 7 and shown_index(viewer) == 7
    plot = viewer.timeline.plots[1]
    qtbot.waitUntil(lambda: plot.isVisible() and plot.width() > 100, timeout=3000)
    scene_point = plot.plotItem.vb.mapViewToScene(QPointF(2.2, 0.5))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=plot.mapFromScene(scene_point))
    assert abs(viewer.index - 22) <= 1 and shown_index(viewer) == viewer.index
    assert all(cursor.value() == pytest.approx(viewer.index / FPS) for cursor in viewer.timeline.cursors)

    # the result views: sampling, skipped frames, votes, and top frames that seek when clicked
    series_view = next(v for v in window.result_views if isinstance(v, SeriesView))
    verdict_view = next(v for v in window.result_views if isinstance(v, VerdictView))
    words = " ".join(label.text() for label in series_view.findChildren(QLabel))
    assert "one frame every 1 s; 3 analysed" in words and "2 frame(s) could not be decoded" in words
    assert "1 analysed frame(s) failed" in words
    assert series_view.frames.count() == 2 and not series_view.frames.item(0).icon().isNull()
    series_view.frames.itemClicked.emit(series_view.frames.item(0))
    assert viewer.index == 10
    assert "not calibrated" in verdict_view.verdict.text() and "0.810" in verdict_view.verdict.text()
    assert verdict_view.votes.topLevelItem(1).text(1) == "—"
    assert verdict_view.votes.topLevelItem(1).text(3) == "weights not installed"
    verdict_view.visible.setChecked(False)
    assert not viewer.view.layers[box_key].isVisible()
    viewer.show_original.setChecked(True)
    assert not viewer.view.layers[map_key].isVisible()

    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS"):
        viewer.show_original.setChecked(False)
        verdict_view.visible.setChecked(True)
        viewer.seek(10)
        window.resize(1400, 900)
        qtbot.wait(100)
        window.grab().save(str(DOCS / "screenshot-video-viewer.png"))


def test_switching_to_an_image_closes_the_decoder(qtbot, window: MainWindow, clip: Path, jpeg_photo: Path) -> None:
    video = add_video(window, clip, series())
    photo = window.case.add_evidence(jpeg_photo)
    window.case.save_result(photo.id, verdict(boxes=np.array([[50, 40, 200, 220]], np.float32), frames=None,
                                              tracks=None, box_scores=np.array([0.66]), labels=["face"],
                                              times=None, values=None))
    window.show_evidence(photo.id)
    assert window.viewer_stack.currentWidget() is window.viewer
    assert window.video_viewer.reader is None and not window.video_viewer.timeline.plots
    [layer] = window.viewer.view.layers.values()
    rect, captions = drawn_boxes(layer)
    assert rect.getCoords() == pytest.approx((50, 40, 200, 220)) and captions == ["face 0.66"]
    window.show_evidence(video.id)
    assert window.video_viewer.reader is not None and window.video_viewer.index == 0


def test_bad_input_is_told_not_fatal(qtbot, window: MainWindow, clip: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    viewer = window.video_viewer
    failed = Series("noise", Status.ERROR, "every analysed frame failed: out of memory")
    empty = Series("ela", times=np.zeros(0), values=np.zeros(0, np.float32))
    video = add_video(window, clip, failed, empty, verdict(analyzer="abstainer", abstained=True, probability=None,
                                                  explanation="no face large enough", boxes=None, frames=None,
                                                  tracks=None, box_scores=None, labels=[]))
    assert len(viewer.timeline.plots) == 2  # the failed run has no row; the empty one an empty plot
    abstained = next(v for v in window.result_views if isinstance(v, VerdictView))
    assert abstained.verdict.text() == "<b>Abstained: no answer is given (no face large enough).</b>"
    monkeypatch.setattr(viewer.reader, "frame", lambda index: None)  # a frame that does not decode
    viewer.seek(12)
    assert viewer.index == 12 and "does not decode" in viewer.position.text()

    (tmp_path / "evidence").mkdir(exist_ok=True)
    changed = write_video(tmp_path / "evidence" / "changed.mp4", photo_clip(2, 1.0, FPS, SIZE), FPS)
    item = window.case.add_evidence(changed)
    changed.write_bytes(changed.read_bytes()[: changed.stat().st_size // 2])  # its index (moov) is lost
    window.show_evidence(item.id)
    assert "not a readable video" in window.viewer.caption.text()
    assert window.viewer_stack.currentWidget() is window.viewer and viewer.reader is None
    write_video(changed, photo_clip(3, 1.0, FPS, SIZE), FPS)  # readable again, but not what was imported
    window.show_evidence(video.id)
    window.show_evidence(item.id)
    assert "changed since import" in window.viewer.caption.text() and viewer.reader is None


def test_nearest_sample_and_helpers() -> None:
    times = np.array([0.0, 1.0, 2.0, 5.0])
    assert sampling_step(times, 9.0) == 1.0 and sampling_step(np.array([3.0]), 9.0) == 9.0
    assert nearest_sample(times, 1.4, 0.5) == 1 and nearest_sample(times, 1.5, 0.5) in (1, 2)
    assert nearest_sample(times, 3.6, 0.5) is None and nearest_sample(np.zeros(0), 0.0, 1.0) is None
    assert timecode(3725.04) == "1:02:05.040" and timecode(0.1) == "0:00.100"
    assert highest(times, np.array([0.1, np.nan, 0.7, 0.3]), 2) == [(2.0, 0.7), (5.0, 0.3)]
    assert box_labels(Boxes("faces", boxes=np.zeros((2, 4)), labels=["a"])) == ["a", ""]
    assert box_labels(Boxes("faces", boxes=np.zeros((1, 4)), tracks=np.array([3]), box_scores=np.array([0.5]))) == [
        "#3 0.50"]
    assert verdict_line(verdict(calibrated=True)) == "P(manipulated face): 0.810 (calibrated probability)."


def test_real_analyses_on_the_timeline(qtbot, window: MainWindow, tmp_path: Path) -> None:
    """ELA and the noise map run on sampled frames by the frame runner, and faces found by the face
    detector: what real runs put on the timeline and over the frame (and the docs' screenshot)."""
    from workbench.app.analysis import Planned, analyze
    from workbench.app.sample import load_photo
    from workbench.core import registry
    from workbench.synthetic.videos import camera_move

    folder = tmp_path / "evidence"
    folder.mkdir()
    clip = write_video(folder / "interview.mp4", camera_move(load_photo("astronaut.png"), 4.0, FPS, (480, 360),
                                                             seed=5), FPS)
    item = window.case.add_evidence(clip)
    wanted = [registry.analyzers().get(name) for name in ("ela", "noise_wavelet", "deepfake.faces")]
    analyze(window.case, item, [Planned(a, a.params_from({})) for a in wanted if a is not None])
    window.evidence.add(window.case, item)
    window.show_evidence(item.id)
    viewer = window.video_viewer
    assert len(viewer.timeline.plots) == 2  # the two per-frame series; face boxes have no curve
    viewer.seek(20)
    maps = [viewer.view.layers[v.layer_key] for v in window.result_views if isinstance(v, SeriesView)]
    assert len(maps) == 2 and all(pixels(layer.pixmap())[..., 3].max() > 0 for layer in maps)
    assert not any(layer.isVisible() for layer in maps)  # on video the frame stays visible: maps off until chosen
    window.layers.choose_number(1)
    assert sum(layer.isVisible() for layer in maps) == 1 and max(layer.opacity() for layer in maps) < 0.5  # faint
    faces = [v for v in window.result_views if isinstance(v.run.result, Boxes)]
    for view in faces:
        rect, captions = drawn_boxes(viewer.view.layers[view.layer_key])
        assert not rect.isEmpty() and captions
    ela = next(v for v in window.result_views if v.run.result.analyzer == "ela")
    window.layers.choose(ela.layer_key)  # one heat map at a time
    assert [layer.isVisible() for layer in maps] == [m is viewer.view.layers[ela.layer_key] for m in maps]
    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS"):
        window.resize(1400, 900)
        qtbot.wait(200)
        window.grab().save(str(DOCS / "screenshot-video-viewer.png"))


def test_a_click_on_the_slider_seeks_there_and_dragging_scrubs(qtbot, clip: Path) -> None:  # noqa: ANN001
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionSlider

    from workbench.core.media import open_media

    viewer = VideoViewer()
    qtbot.addWidget(viewer)
    viewer.resize(800, 600)
    viewer.show()
    qtbot.waitExposed(viewer)
    viewer.open(open_media(clip))
    slider = viewer.slider
    option = QStyleOptionSlider()
    slider.initStyleOption(option)
    groove = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                           QStyle.SubControl.SC_SliderGroove, slider)
    handle = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                           QStyle.SubControl.SC_SliderHandle, slider)
    span = groove.width() - handle.width()

    def x_of(index: int) -> int:
        return round(groove.left() + handle.width() / 2 + span * index / (FRAMES - 1))

    y = groove.center().y()
    qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(x_of(22), y))
    assert abs(viewer.index - 22) <= 1 and shown_index(viewer) == viewer.index  # not one page (+10 frames)
    qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(x_of(3), y))
    assert abs(viewer.index - 3) <= 1

    def send(kind: QEvent.Type, index: int, buttons: Qt.MouseButton) -> None:
        point = QPointF(x_of(index), y)
        event = QMouseEvent(kind, point, slider.mapToGlobal(point), Qt.MouseButton.LeftButton, buttons,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(slider, event)

    send(QEvent.Type.MouseButtonPress, 10, Qt.MouseButton.LeftButton)
    assert abs(viewer.index - 10) <= 1
    send(QEvent.Type.MouseMove, 18, Qt.MouseButton.LeftButton)
    assert abs(viewer.index - 18) <= 1 and shown_index(viewer) == viewer.index
    send(QEvent.Type.MouseMove, 26, Qt.MouseButton.LeftButton)
    send(QEvent.Type.MouseButtonRelease, 26, Qt.MouseButton.NoButton)
    assert abs(viewer.index - 26) <= 1 and shown_index(viewer) == viewer.index and not slider.isSliderDown()
    viewer.close_video()


def test_boxes_are_drawn_only_on_the_frames_their_sample_stands_for() -> None:
    """A face found on frame 15 stands for frames 13–16 (a scene cut at 17), one on frame 30 for 28–32;
    without spans (an older result) a box is shown within the tolerance of its sample."""

    class Recorder:
        def __init__(self) -> None:
            self.drawn: list[tuple[int, list[str]]] = []

        def set_boxes(self, _key: str, boxes: np.ndarray, labels: list[str]) -> None:
            self.drawn.append((len(boxes), labels))

    boxes = np.array([[10, 10, 50, 50], [12, 10, 52, 50]], np.float32)
    track = BoxTrack("faces", boxes, ["face 0", "face 1"], np.array([15, 30]), 2.5, np.array([[13, 16], [28, 32]]))
    shown = {index: track.visible(index).tolist() for index in (12, 13, 16, 17, 27, 28, 32, 33)}
    assert shown == {12: [], 13: [0], 16: [0], 17: [], 27: [], 28: [1], 32: [1], 33: []}
    view = Recorder()
    for index in (13, 14, 17, 30):
        track.update(view, index)  # type: ignore[arg-type]
    assert view.drawn == [(1, ["face 0"]), (0, []), (1, ["face 1"])]  # frame 14: no change, no redraw
    older = BoxTrack("faces", boxes, ["face 0", "face 1"], np.array([15, 30]), 2.5)
    assert older.visible(17).tolist() == [0]
