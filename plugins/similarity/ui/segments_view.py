"""Video copy detection in the GUI: the similarity matrix, the matched segments as aligned timelines,
and the two videos side by side at a chosen match.

Contributed as the view of `similarity.video_copy` results (`plugins/similarity/manifest.py`). The
results panel's `SegmentsView` lists the segments and opens a `CopyDetectionWindow`: the matrix
(query time down, reference time across, segments outlined; a click in a segment's box opens it at
that query instant, a click elsewhere compares those two instants), the timelines (query bar above,
reference bar below, each segment a band between them; a click opens that segment) and two frame
views. Inside an open segment the reference follows the query through the segment's alignment (a
copy may be sped up or slowed down), so stepping or seeking keeps the two frames matched; outside a
segment both videos move by the same time.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from plugins.similarity.video_copy import store_for
from plugins.similarity.video_copy_figure import frame_step, matrix_rgb, segment_colour
from workbench.api import (
    Case,
    ImageView,
    Run,
    Segments,
    SegmentsTableView,
    VideoError,
    VideoReader,
    probe_video,
    time_ticks,
    timecode,
    to_qimage,
)

Locate = Callable[[str], Path | None]
"""A reference label (as in the result) → its video file, or None when it cannot be found."""


def _qcolour(index: int) -> QColor:
    return QColor(*segment_colour(index))


def reference_time(row: np.ndarray, query_time: float) -> float:
    """The reference instant matching `query_time` under the segment's linear alignment
    r = r0 + (q − q0)·(r1 − r0)/(q1 − q0), clamped to the segment's reference span."""
    q0, q1, r0, r1 = (float(v) for v in row[:4])
    if q1 <= q0:
        return r0
    r = r0 + (query_time - q0) * (r1 - r0) / (q1 - q0)
    return min(max(r, min(r0, r1)), max(r0, r1))


class SegmentsView(SegmentsTableView):
    """The copied segments in the results panel (coloured as in the full view; a double click opens
    the full view at that segment), and the button that opens the full view."""

    def __init__(self, run: Run, parent: QWidget | None = None, case: Case | None = None,
                 included: bool | None = None) -> None:
        super().__init__(run, parent, included)
        self.case = case
        self.copy_window: CopyDetectionWindow | None = None
        for n in range(self.table.topLevelItemCount()):
            self.table.topLevelItem(n).setForeground(0, _qcolour(n))
        self.table.itemDoubleClicked.connect(lambda item: self.open_window(self.table.indexOfTopLevelItem(item)))
        self.open_button = QPushButton("Open copy-detection view…")
        self.open_button.clicked.connect(lambda: self.open_window())
        self.body.insertWidget(self.body.count() - 1, self.open_button)  # above "How to read this"

    def open_window(self, segment: int | None = None) -> CopyDetectionWindow:
        """The full view (one per result), at `segment` when given (the best one otherwise)."""
        if self.copy_window is None:
            case = self.case or getattr(self.window(), "case", None)
            query, locate = videos_of(self.run, case)
            # owned by the main window: it stays open when the results panel is rebuilt
            self.copy_window = CopyDetectionWindow(self.run.result, query, locate, parent=self.window())
        self.copy_window.show()
        self.copy_window.raise_()
        if segment is not None or len(self.run.result.segment_rows()):
            self.copy_window.open_segment(segment or 0)
        return self.copy_window


def videos_of(run: Run, case: Case | None) -> tuple[Path | None, Locate]:
    """The query's evidence file and how to find a reference's file (the case's video store)."""
    if case is None:
        return None, lambda _label: None
    store = store_for(case.root)
    return case.evidence(run.evidence_id).path, store.locate


class CopyDetectionWindow(QWidget):
    """Matrix, timelines and the two videos side by side; one window per result."""

    def __init__(self, result: Segments, query: Path | None, locate: Locate, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.result, self.locate = result, locate
        self.segment: int | None = None
        """The open segment, whose alignment the reference follows; None: both move by the same time."""
        self.setWindowTitle("Video copy detection")
        self.matrix = MatrixWidget(result)
        self.timelines = TimelineWidget(result)
        self.query_pane = FramePane("Query")
        self.reference_pane = FramePane("Reference")
        self.query_pane.open(query, "query")
        self.matrix.segmentClicked.connect(self.open_segment)
        self.timelines.segmentClicked.connect(self.open_segment)
        self.matrix.pairClicked.connect(self.compare)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.timelines)
        scroll.setMinimumWidth(380)
        top = QSplitter()
        top.addWidget(self.matrix)
        top.addWidget(scroll)
        top.setSizes([1, 1])  # half each
        panes = QSplitter()
        panes.addWidget(self.query_pane)
        panes.addWidget(self.reference_pane)
        steps = QHBoxLayout()
        steps.addWidget(QLabel("Step:"))
        for text, seconds, frames in (("◀◀ 1 s", -1.0, 0), ("◀ 1 frame", 0.0, -1), ("1 frame ▶", 0.0, 1),
                                      ("1 s ▶▶", 1.0, 0)):
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, s=seconds, f=frames: self.step(s, f))
            steps.addWidget(button)
        self.times = QLabel()
        steps.addWidget(self.times, 1)
        self.caption = QLabel("Click a segment (box or band) to compare its frames; click the matrix "
                              "outside the boxes to compare those two instants.")
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        vertical = QSplitter(Qt.Orientation.Vertical)
        vertical.addWidget(top)
        vertical.addWidget(panes)
        layout.addWidget(self.caption)
        layout.addWidget(vertical, 1)
        layout.addLayout(steps)
        self.resize(1200, 860)

    def open_segment(self, index: int, query_time: float | None = None) -> None:
        """Query frame at `query_time` (the segment's query start by default) beside the reference
        frame its alignment maps it to; steps then follow that alignment."""
        rows = self.result.segment_rows()
        if not 0 <= index < len(rows):
            return
        row, label = rows[index], self.result.references[index]
        self.caption.setText(f"Segment {index + 1}: query {timecode(row[0])}–{timecode(row[1])} ↔ "
                             f"{html.escape(label)} {timecode(row[2])}–{timecode(row[3])}, score {row[4]:.3f}")
        if self.reference_pane.label != label:
            self.reference_pane.open(self.locate(label), label)
        self.segment = index
        self.seek(float(row[0]) if query_time is None else query_time)

    def compare(self, label: str, query_time: float, reference_time: float) -> None:
        """Two chosen instants, outside any segment: steps move both by the same time."""
        if self.reference_pane.label != label:
            self.reference_pane.open(self.locate(label), label)
        self.segment = None
        self.query_pane.show_time(query_time)
        self.reference_pane.show_time(reference_time)
        self._show_times()

    def seek(self, query_time: float) -> None:
        """The query at `query_time` and the reference at its instant under the open segment."""
        self.query_pane.show_time(query_time)
        if self.segment is not None:
            row = self.result.segment_rows()[self.segment]
            self.reference_pane.show_time(reference_time(row, self.query_pane.time))
        self._show_times()

    def step(self, seconds: float, frames: int) -> None:
        if self.segment is None:
            for pane in (self.query_pane, self.reference_pane):
                pane.step(seconds, frames)
            self._show_times()
        else:
            self.seek(self.query_pane.time + seconds + frames / self.query_pane.fps)

    def _show_times(self) -> None:
        link = ("not linked: both move by the same time" if self.segment is None
                else f"segment {self.segment + 1}'s alignment")
        self.times.setText(f"query {timecode(self.query_pane.time)} ↔ reference "
                           f"{timecode(self.reference_pane.time)} ({link})")

    def closeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        for pane in (self.query_pane, self.reference_pane):
            pane.close_video()
        super().closeEvent(event)


class FramePane(QWidget):
    """One video's frame at a time, decoded on demand (frame-accurate)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.label = ""
        self.reader: VideoReader | None = None
        self.time = 0.0
        self.heading = QLabel(f"<b>{title}</b>")
        self.heading.setWordWrap(True)
        self.view = ImageView()
        self.position = QLabel("")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.position)

    def open(self, path: Path | None, label: str) -> None:
        self.close_video()
        self.label = label
        if path is None:
            self.heading.setText(f"<b>{self.title}</b>: ⚠ {html.escape(label)}: the video file was not found")
            return
        try:  # frames to look at: no hash needed (the analysis verified it), so no full read of the file
            self.reader = VideoReader(path, probe_video(path))
        except (VideoError, OSError) as exc:
            self.heading.setText(f"<b>{self.title}</b>: ⚠ {html.escape(str(exc))}")
            return
        self.heading.setText(f"<b>{self.title}</b>: {html.escape(path.name)}")

    def show_time(self, seconds: float) -> None:
        if self.reader is None:
            return
        info = self.reader.info
        index = min(max(round(seconds * info.fps), 0), info.frame_count - 1)
        self.time = index / info.fps
        rgb = self.reader.frame(index)
        if rgb is None:
            self.view.set_image(None)
            self.position.setText(f"{timecode(self.time)} (frame {index}): ⚠ this frame does not decode")
        else:
            self.view.set_frame(rgb) if self.view.has_image() else self.view.set_image(rgb)
            self.position.setText(f"{timecode(self.time)} (frame {index} of {info.frame_count})")

    @property
    def fps(self) -> float:
        return self.reader.info.fps if self.reader is not None else 25.0

    def step(self, seconds: float, frames: int) -> None:
        if self.reader is not None:
            self.show_time(self.time + seconds + frames / self.fps)

    def close_video(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


class MatrixWidget(QWidget):
    """The similarity matrix as an image, each segment of the shown reference outlined."""

    segmentClicked = Signal(int, float)  # row of the result, query time clicked inside its box
    pairClicked = Signal(str, float, float)  # reference label, query time, reference time

    MARGIN_LEFT, MARGIN_TOP = 56, 34

    def __init__(self, result: Segments, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = result
        self.step = frame_step(result)
        matrix = result.matrix if result.matrix is not None else np.zeros((1, 1), np.float32)
        self.image = to_qimage(matrix_rgb(matrix))
        self.setMinimumSize(320, 320)
        self.setToolTip("Frame-to-frame similarity: query time down, reference time across")

    def cell(self) -> float:
        """Pixels per matrix cell: the image fits the widget with square cells."""
        free_w, free_h = self.width() - self.MARGIN_LEFT - 8, self.height() - self.MARGIN_TOP - 8
        return max(min(free_w / self.image.width(), free_h / self.image.height()), 1e-3)

    def segment_rects(self) -> list[tuple[int, QRectF]]:
        """(row of the result, rectangle in widget pixels) of each segment of the shown reference."""
        scale = self.cell() / self.step
        return [(n, QRectF(self.MARGIN_LEFT + row[2] * scale, self.MARGIN_TOP + row[0] * scale,
                           (row[3] - row[2]) * scale, (row[1] - row[0]) * scale))
                for n, (row, label) in enumerate(zip(self.result.segment_rows(), self.result.references, strict=True))
                if label == self.result.matrix_reference]

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        cell = self.cell()
        target = QRectF(self.MARGIN_LEFT, self.MARGIN_TOP, self.image.width() * cell, self.image.height() * cell)
        painter.drawImage(target, self.image)
        painter.drawText(QPointF(self.MARGIN_LEFT, 12), f"reference → {self.result.matrix_reference}")
        painter.drawText(QPointF(2, 12), "query ↓")
        for seconds in time_ticks(self.image.width() * self.step, 5):
            painter.drawText(QPointF(self.MARGIN_LEFT + seconds / self.step * cell - 4, self.MARGIN_TOP - 6),
                             f"{seconds:g}")
        for seconds in time_ticks(self.image.height() * self.step, 5):
            painter.drawText(QPointF(6, self.MARGIN_TOP + seconds / self.step * cell + 4), f"{seconds:g} s")
        for n, rect in self.segment_rects():
            painter.setPen(QPen(_qcolour(n), 2))
            painter.drawRect(rect)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        point = event.position()
        cell = self.cell()
        col = (point.x() - self.MARGIN_LEFT) / cell
        row = (point.y() - self.MARGIN_TOP) / cell
        for n, rect in self.segment_rects():
            if rect.contains(point):
                self.segmentClicked.emit(n, row * self.step)
                return
        if 0 <= col < self.image.width() and 0 <= row < self.image.height():
            self.pairClicked.emit(self.result.matrix_reference, int(row) * self.step, int(col) * self.step)


class TimelineWidget(QWidget):
    """Per reference: the query bar above, the reference bar below, both on one time scale, and a
    band from each segment's query span to its reference span."""

    segmentClicked = Signal(int)

    BLOCK, BAR, LEFT = 96, 14, 80

    def __init__(self, result: Segments, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = result
        self.labels = list(dict.fromkeys(result.references))
        self.setMinimumSize(360, max(1, len(self.labels)) * self.BLOCK + 8)

    def shapes(self) -> list[tuple[int, QPolygonF, QRectF, QRectF]]:
        """(row, band, query bar rectangle, reference bar rectangle) of every segment, in widget pixels."""
        out = []
        rows = self.result.segment_rows()
        for block, label in enumerate(self.labels):
            top_q, top_r, per_second = self._geometry(block, label)
            for n, (row, name) in enumerate(zip(rows, self.result.references, strict=True)):
                if name != label:
                    continue
                q0, q1, r0, r1 = (self.LEFT + v * per_second for v in row[:4])
                band = QPolygonF([QPointF(q0, top_q + self.BAR), QPointF(q1, top_q + self.BAR),
                                  QPointF(r1, top_r), QPointF(r0, top_r)])
                out.append((n, band, QRectF(q0, top_q, max(q1 - q0, 2), self.BAR),
                            QRectF(r0, top_r, max(r1 - r0, 2), self.BAR)))
        return out

    def _geometry(self, block: int, label: str) -> tuple[float, float, float]:
        duration = max(self.result.query_duration, self.result.reference_durations.get(label, 0.0), 1e-6)
        top_q = block * self.BLOCK + 22
        return top_q, top_q + self.BAR + 40, (self.width() - self.LEFT - 12) / duration

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if not self.labels:
            painter.drawText(QPointF(self.LEFT, 30), "no copied segment found")
        grey = QColor(200, 200, 200)
        for block, label in enumerate(self.labels):
            top_q, top_r, per_second = self._geometry(block, label)
            painter.setPen(Qt.GlobalColor.black)
            painter.drawText(QPointF(self.LEFT, top_q - 6), label)
            painter.drawText(QPointF(4, top_q + 11), "query")
            painter.drawText(QPointF(4, top_r + 11), "reference")
            reference = self.result.reference_durations.get(label, 0.0)
            painter.fillRect(QRectF(self.LEFT, top_q, self.result.query_duration * per_second, self.BAR), grey)
            painter.fillRect(QRectF(self.LEFT, top_r, reference * per_second, self.BAR), grey)
            longest = max(self.result.query_duration, reference)
            painter.drawText(QPointF(self.LEFT, top_r + self.BAR + 14), "0 s")
            painter.drawText(QPointF(self.LEFT + longest * per_second - 44, top_r + self.BAR + 14),
                             timecode(longest))
        for n, band, query_bar, reference_bar in self.shapes():
            colour = _qcolour(n)
            translucent = QColor(colour)
            translucent.setAlpha(90)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(translucent)
            painter.drawPolygon(band)
            painter.fillRect(query_bar, colour)
            painter.fillRect(reference_bar, colour)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        point = event.position()
        for n, band, query_bar, reference_bar in self.shapes():
            if query_bar.contains(point) or reference_bar.contains(point) or band.containsPoint(
                    point, Qt.FillRule.OddEvenFill):
                self.segmentClicked.emit(n)
                return
