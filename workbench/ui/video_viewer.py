"""The video viewer: frame-accurate scrubbing and playback, a timeline of per-frame results
(one pyqtgraph row per result, x in seconds, a cursor that follows the frame and seeks when
dragged or clicked) and the current frame's overlays (heat maps of the nearest analysed frame,
boxes).

Decoding a frame takes about a millisecond at 640×480, so the GUI thread decodes during playback;
no analysis ever runs here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QElapsedTimer, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProxyStyle,
    QPushButton,
    QScrollArea,
    QSlider,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from workbench.app.case import Finding, Run
from workbench.app.per_frame import box_labels, timecode, value_range
from workbench.core.media import Media, MediaError
from workbench.core.render import overlay_rgba
from workbench.core.results import Boxes, Series, Verdict
from workbench.core.video import VideoInfo, VideoReader
from workbench.ui.region_marking import RECT, RegionMarker
from workbench.ui.result_views import analyzer_title
from workbench.ui.viewer import ImageView, zoom_toolbar

ROW_HEIGHT = 110
ROWS_SHOWN = 3
TITLE_CHARS = 110
"""Timeline rows visible without scrolling when results arrive (the splitter can change it)."""
CURSOR_PEN = pg.mkPen((220, 30, 30), width=2)
CURVE_PEN = pg.mkPen((31, 119, 180), width=2)


def video_caption(media: Media) -> str:
    """Name and the container facts an investigator checks first, then the file's hash."""
    info = media.video
    assert info is not None
    rotation = f" · rotated {info.rotation}°" if info.rotation else " · no rotation"
    created = f" · created {info.creation_time} UTC" if info.creation_time else " · creation time not recorded"
    text = (f"{media.name} — {info.width}×{info.height} {info.container}, {info.codec or 'unknown codec'}, "
            f"{info.fps:.3f} fps, {timecode(info.duration)} ({info.frame_count} frames){rotation}{created}"
            f"\nSHA-256 {media.sha256}")
    return text + ("\n⚠ " + "; ".join(media.warnings) if media.warnings else "")


def sampling_step(times: np.ndarray, default: float) -> float:
    """Spacing of the analysed frames (median, so one scene cut does not change it)."""
    gaps = np.diff(np.unique(np.asarray(times, np.float64)))
    return float(np.median(gaps)) if gaps.size else default


def nearest_sample(times: np.ndarray, t: float, tolerance: float) -> int | None:
    """Index of the sample nearest `t`, or None when none lies within `tolerance`: a map or a box
    is only shown over frames it describes (at most half a sampling step away)."""
    if len(times) == 0:
        return None
    j = int(np.argmin(np.abs(np.asarray(times, np.float64) - t)))
    return j if abs(float(times[j]) - t) <= tolerance + 1e-9 else None


@dataclass
class MapTrack:
    """A Series' per-frame heat maps, shown as the layer `key` over the frames they belong to."""

    key: str
    times: np.ndarray
    maps: np.ndarray
    tolerance: float
    shown: int | None = -1

    def update(self, view: ImageView, time: float) -> None:
        j = nearest_sample(self.times, time, self.tolerance)
        if j != self.shown:
            self.shown = j
            heat = np.zeros(self.maps.shape[1:], np.float32) if j is None else self.maps[j].astype(np.float32)
            view.set_layer_pixmap(self.key, overlay_rgba(heat))


@dataclass
class BoxTrack:
    """Boxes on the frames they stand for: their `spans` (never across a scene cut) when the result
    has them, else the frames within `tolerance` of the nearest sampled frame; all at once when the
    boxes carry no frame."""

    key: str
    boxes: np.ndarray
    labels: list[str]
    frames: np.ndarray | None
    tolerance: float
    spans: np.ndarray | None = None
    sampled: np.ndarray = field(init=False)
    shown: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        self.sampled = np.unique(self.frames) if self.frames is not None else np.zeros(0)

    def visible(self, index: int) -> np.ndarray:
        """Indices of the boxes drawn on frame `index`."""
        if self.frames is None:
            return np.arange(len(self.boxes))
        if self.spans is not None:
            return np.flatnonzero((self.spans[:, 0] <= index) & (index <= self.spans[:, 1]))
        j = nearest_sample(self.sampled, index, self.tolerance)
        return np.zeros(0, np.int64) if j is None else np.flatnonzero(self.frames == self.sampled[j])

    def update(self, view: ImageView, index: int) -> None:
        on = self.visible(index)
        if tuple(on.tolist()) == self.shown:
            return
        self.shown = tuple(on.tolist())
        view.set_boxes(self.key, self.boxes[on].reshape(-1, 4), [self.labels[i] for i in on])


class _JumpToClick(QProxyStyle):
    """A left click on a slider's groove moves the handle there (and it can be dragged on);
    Qt's default moves it one page towards the click, which is no way to scrub a video."""

    def styleHint(self, hint, option=None, widget=None, data=None) -> int:  # noqa: ANN001, N802 - Qt override
        if hint == QStyle.StyleHint.SH_Slider_AbsoluteSetButtons:
            return Qt.MouseButton.LeftButton.value
        return super().styleHint(hint, option, widget, data)


def seek_slider() -> QSlider:
    """The frame slider: a click seeks to the clicked position, dragging scrubs."""
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setStyle(_JumpToClick(slider.style().name()))
    slider.style().setParent(slider)  # the slider does not own a style set on it
    return slider


class SecondsAxis(pg.AxisItem):
    """Time ticks that say their unit, without an axis label taking a line of each row."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802 - pyqtgraph
        return [f"{v:g} s" for v in values]


class Timeline(QWidget):
    """One plot per per-frame result, sharing the x axis (seconds), each with the frame cursor."""

    seekRequested = Signal(float)  # seconds

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows = QVBoxLayout(self)
        self.rows.setContentsMargins(0, 0, 0, 0)
        self.rows.setSpacing(2)
        self.hint = QLabel("Per-frame results of analyses run on this video appear here, one row each.")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.rows.addWidget(self.hint)
        self.plots: list[pg.PlotWidget] = []
        self.cursors: list[pg.InfiniteLine] = []

    def clear(self) -> None:
        for plot in self.plots:
            plot.setParent(None)
            plot.deleteLater()
        self.plots.clear()
        self.cursors.clear()
        self.hint.show()

    def add_row(self, title: str, times: np.ndarray, values: np.ndarray, duration: float) -> None:
        plot = pg.PlotWidget(background="w", axisItems={"bottom": SecondsAxis("bottom")})
        plot.setFixedHeight(ROW_HEIGHT)
        plot.setTitle(title if len(title) <= TITLE_CHARS else title[:TITLE_CHARS - 1] + "…", size="8pt", color="#222")
        plot.setToolTip(title)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=True, y=False)
        for side in ("left", "bottom"):
            plot.getAxis(side).setTextPen("#333")
            plot.getAxis(side).setPen("#888")
        values = np.asarray(values, np.float64)
        lo, hi = value_range(values)
        plot.getAxis("left").setTicks([[(v, f"{v:.3g}") for v in (lo, (lo + hi) / 2, hi)]])
        plot.plotItem.vb.disableAutoRange()
        plot.setYRange(lo, hi, padding=0.08)
        plot.setXRange(0, duration, padding=0)
        plot.setLimits(xMin=0, xMax=max(duration, 1e-3))
        symbol = "o" if len(times) <= 120 else None
        plot.plot(np.asarray(times, np.float64), values, pen=CURVE_PEN, connect="finite",
                  symbol=symbol, symbolSize=5, symbolBrush=CURVE_PEN.color(), symbolPen=None)
        cursor = pg.InfiniteLine(0.0, angle=90, movable=True, pen=CURSOR_PEN, bounds=(0, duration))
        cursor.sigDragged.connect(lambda line: self.seekRequested.emit(float(line.value())))
        plot.addItem(cursor)
        plot.scene().sigMouseClicked.connect(lambda event, p=plot: self._clicked(p, event))
        if self.plots:
            plot.setXLink(self.plots[0])
        self.plots.append(plot)
        self.cursors.append(cursor)
        self.rows.addWidget(plot)
        self.hint.hide()

    def set_time(self, seconds: float) -> None:
        for cursor in self.cursors:
            cursor.setValue(seconds)

    def _clicked(self, plot: pg.PlotWidget, event) -> None:  # noqa: ANN001 - pyqtgraph's click event
        box = plot.plotItem.vb
        if event.button() == Qt.MouseButton.LeftButton and box.sceneBoundingRect().contains(event.scenePos()):
            self.seekRequested.emit(float(box.mapSceneToView(event.scenePos()).x()))


class VideoViewer(QWidget):
    """One video: its frames (zoom/pan/overlays as for images), transport controls, timeline.

    Owns one decoder (`media.reader()`), closed when another evidence item is shown."""

    regionDrawn = Signal(object)  # a region marked on the current frame, in frame pixels

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.media: Media | None = None
        self.reader: VideoReader | None = None
        self.index = -1
        self.tracks: list[MapTrack | BoxTrack] = []
        self.findings: list[Finding] = []
        self.view = ImageView()
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.timeline = Timeline()
        self.timeline.seekRequested.connect(self.seek_time)

        toolbar = zoom_toolbar(self.view)
        self.marker = RegionMarker(self.view)
        self.marker.regionDrawn.connect(self._region_drawn)
        self.mark_rect = QAction("Mark ▭", self, checkable=True)
        self.mark_rect.setToolTip("Drag a rectangle on this frame around what you want to note as a finding")
        self.mark_rect.toggled.connect(lambda on: self.marker.set_mode(RECT if on else None))
        toolbar.addAction(self.mark_rect)
        self.show_original = QAction("Original only", self, checkable=True)
        self.show_original.setToolTip("Hide every overlay to look at the untouched frame")
        self.show_original.toggled.connect(self.view.set_overlays_hidden)
        toolbar.addAction(self.show_original)

        self.play_button = self._button("Play", self.toggle_play, "Play / pause (Space)")
        back = self._button("◀ 1", lambda: self.step(-1), "Previous frame (Left)")
        forward = self._button("1 ▶", lambda: self.step(1), "Next frame (Right)")
        self.slider = seek_slider()
        self.slider.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.slider.valueChanged.connect(self.seek)
        self.position = QLabel()
        self.position.setMinimumWidth(260)
        transport = QHBoxLayout()
        for widget in (self.play_button, back, forward):
            transport.addWidget(widget)
        transport.addWidget(self.slider, 1)
        transport.addWidget(self.position)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.timeline)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(scroll)
        self.splitter.setStretchFactor(0, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(toolbar)
        layout.addWidget(self.caption)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(transport)

        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self._clock = QElapsedTimer()
        self._play_from = 0
        for key, slot in ((Qt.Key.Key_Left, lambda: self.step(-1)), (Qt.Key.Key_Right, lambda: self.step(1)),
                          (Qt.Key.Key_Space, self.toggle_play)):
            QShortcut(QKeySequence(key), self, slot, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)

    def _region_drawn(self, region: dict) -> None:
        self.pause()
        self.mark_rect.setChecked(False)
        self.regionDrawn.emit(region)

    def _button(self, text: str, slot, tip: str) -> QPushButton:  # noqa: ANN001 - a Qt slot
        button = QPushButton(text)
        button.setToolTip(tip)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space plays, it does not click the focused button
        button.clicked.connect(slot)
        return button

    @property
    def info(self) -> VideoInfo | None:
        return self.media.video if self.media is not None else None

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    # -- evidence ---------------------------------------------------------------------------
    def open(self, media: Media) -> None:
        """Show `media` (a video) from its first frame; a decoder that fails leaves a message."""
        self.close_video()
        try:
            self.reader = media.reader()
        except MediaError as exc:
            self.caption.setText(f"⚠ {exc}")
            return
        self.media = media
        info = media.video
        assert info is not None
        self.caption.setText(video_caption(media))
        self.view.set_image(media.pixels())  # the poster: shown if frame 0 itself does not decode
        self.slider.blockSignals(True)
        self.slider.setRange(0, info.frame_count - 1)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.seek(0)

    def close_video(self) -> None:
        self.pause()
        if self.reader is not None:
            self.reader.close()
        self.reader, self.media, self.index = None, None, -1
        self.clear_results()
        self.view.set_image(None)
        self.caption.clear()
        self.position.clear()

    # -- results ----------------------------------------------------------------------------
    def clear_results(self) -> None:
        self.tracks.clear()
        self.findings = []
        self.timeline.clear()
        self.view.clear_layers()

    def set_runs(self, runs: list[Run]) -> None:
        """Timeline rows for results with per-frame values, overlays for maps and boxes."""
        self.clear_results()
        info = self.info
        if info is None:
            return
        for run in runs:
            result, key = run.result, f"run{run.id}"
            if not result.ok:
                continue
            if isinstance(result, (Series, Verdict)) and result.times is not None and result.values is not None:
                what = result.label or ("probability" if isinstance(result, Verdict) else "value")
                self.timeline.add_row(f"{analyzer_title(result.analyzer)} — {what}", result.times, result.values,
                                      info.duration)
            if isinstance(result, Series) and result.maps is not None and result.times is not None:
                tolerance = sampling_step(result.times, 1.0) / 2
                # hidden until chosen in Layers: the frame itself stays visible
                self.view.set_layer(key, overlay_rgba(np.zeros(result.maps.shape[1:], np.float32)), 0.4,
                                    visible=False, stretch=True)
                self.tracks.append(MapTrack(key, result.times, result.maps, tolerance))
            if isinstance(result, Boxes) and result.boxes is not None and len(result.boxes):
                frames = None if result.frames is None else np.asarray(result.frames)
                tolerance = sampling_step(frames, info.fps) / 2 if frames is not None else 0.0
                spans = None if result.spans is None else np.asarray(result.spans)
                self.tracks.append(BoxTrack(key, np.asarray(result.boxes), box_labels(result), frames, tolerance,
                                            spans))
        self._update_overlays()
        self.timeline.set_time(self.time)
        self._fit_timeline()

    def _fit_timeline(self) -> None:
        """Room for the first rows under the frame, the frame keeping at least half the height."""
        total = sum(self.splitter.sizes()) or self.height()  # not laid out yet: its default height
        wanted = max(len(self.timeline.plots), 0.4) * (ROW_HEIGHT + self.timeline.rows.spacing())
        timeline = round(min(wanted, ROWS_SHOWN * (ROW_HEIGHT + 2), total / 2)) + 4
        self.splitter.setSizes([total - timeline, timeline])

    def set_findings(self, findings: list[Finding]) -> None:
        """The analyst's marked regions, drawn on the frames of their time span."""
        self.findings = [f for f in findings if f.region is not None and f.time_start is not None]
        self._update_overlays()

    def _update_overlays(self) -> None:
        half_frame = 0.5 / self.info.fps if self.info is not None else 0.0
        self.view.set_findings([(f"F{f.id}", f.region) for f in self.findings
                                if f.time_start - half_frame <= self.time <= (f.time_end or f.time_start) + half_frame])
        for track in self.tracks:
            if isinstance(track, MapTrack):
                track.update(self.view, self.time)
            else:
                track.update(self.view, self.index)

    # -- navigation -------------------------------------------------------------------------
    @property
    def time(self) -> float:
        info = self.info
        return max(self.index, 0) / info.fps if info is not None else 0.0

    def seek(self, index: int) -> None:
        """Show frame `index` exactly (clamped to the video), with its overlays and cursor."""
        info = self.info
        if info is None or self.reader is None:
            return
        index = min(max(int(index), 0), info.frame_count - 1)
        if index == self.index:
            return
        rgb = self.reader.frame(index)
        self.index = index
        if rgb is not None:
            self.view.set_frame(rgb)
        broken = "" if rgb is not None else " — this frame does not decode (previous one shown)"
        self.position.setText(f"frame {index} / {info.frame_count - 1} · {timecode(self.time)} / "
                              f"{timecode(info.duration)}{broken}")
        self.slider.blockSignals(True)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.timeline.set_time(self.time)
        self._update_overlays()

    def seek_time(self, seconds: float) -> None:
        if self.info is not None:
            self.seek(round(seconds * self.info.fps))

    def step(self, delta: int) -> None:
        self.pause()
        self.seek(self.index + delta)

    # -- playback ---------------------------------------------------------------------------
    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        info = self.info
        if info is None:
            return
        if self.index >= info.frame_count - 1:
            self.seek(0)
        self._play_from = self.index
        self._clock.start()
        self.timer.start(max(1, round(1000 / info.fps)))
        self.play_button.setText("Pause")

    def pause(self) -> None:
        self.timer.stop()
        self.play_button.setText("Play")

    def _tick(self) -> None:
        """Follow the clock, not the tick count: a late tick skips ahead instead of slowing down."""
        info = self.info
        if info is None:
            self.pause()
            return
        target = self._play_from + int(self._clock.elapsed() * info.fps / 1000)
        self.seek(min(target, info.frame_count - 1))
        if target >= info.frame_count - 1:
            self.pause()
