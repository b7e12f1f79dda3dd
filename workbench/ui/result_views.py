"""One widget per Result type: the GUI picks the view by type, so a new analyzer with an
existing result type needs no GUI code. A plugin may contribute its own view for an analyzer's
results (`Plugin.views`, e.g. video copy detection's matrix and timelines), which `view_for` prefers."""

from __future__ import annotations

import html
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.app.case import Run
from workbench.app.per_frame import highest, timecode, verdict_line
from workbench.core import contributions, registry
from workbench.core.calibration import score_context
from workbench.core.render import legend_bar
from workbench.core.results import Boxes, Facts, Heatmap, Result, Segments, Series, Status, Verdict
from workbench.ui.images import to_pixmap
from workbench.ui.provenance_view import ProvenanceView

FIGURE_WIDTH = 480
"""Widest a metadata figure is shown in its tab (px); larger ones are scaled down."""


def analyzer_title(analyzer_id: str) -> str:
    analyzer = registry.analyzers().get(analyzer_id)
    return analyzer.title if analyzer else analyzer_id


def show_card(parent: QWidget, analyzer_id: str) -> QDialog:
    """A non-modal window with the analyzer's card (what it shows, how to read it, limits)."""
    analyzer = registry.analyzers().get(analyzer_id)
    dialog = QDialog(parent)
    dialog.setWindowTitle(f"About: {analyzer_title(analyzer_id)}")
    browser = QTextBrowser()
    browser.setMarkdown(analyzer.card if analyzer else "No card available.")
    QVBoxLayout(dialog).addWidget(browser)
    dialog.resize(560, 520)
    dialog.show()
    return dialog


class ResultView(QGroupBox):
    """Common frame: title, status line, score with its meaning and how unusual it is among authentic
    photos, the card, flagging as a finding and inclusion in the report; an 'unavailable' result
    offers to install the model file it lacks."""

    installRequested = Signal(str)  # model id
    flagRequested = Signal(object)  # Run
    includeChanged = Signal(object, bool)  # Run, included in the report

    def __init__(self, run: Run, parent: QWidget | None = None, included: bool | None = None) -> None:
        result = run.result
        super().__init__(analyzer_title(result.analyzer), parent)
        self.run = run
        self.layer_key = f"run{run.id}"
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(6, 4, 6, 4)
        if result.status is not Status.OK:
            status = QLabel(f"<b>{result.status.value}</b>: {html.escape(result.message)}")
            status.setWordWrap(True)
            status.setStyleSheet("color: #b00000;")
            self.body.addWidget(status)
        analyzer = registry.analyzers().get(result.analyzer)
        if result.status is Status.UNAVAILABLE and analyzer is not None:
            for model_id in (*analyzer.models, *analyzer.optional_models):
                button = QPushButton(f"Install model file for {model_id}…")
                button.clicked.connect(lambda _=False, m=model_id: self.installRequested.emit(m))
                self.body.addWidget(button, alignment=Qt.AlignmentFlag.AlignLeft)
        elif result.score is not None or result.score_meaning:
            self.body.addWidget(score_label(result))
        row = QHBoxLayout()
        about = QPushButton("How to read this…")
        about.clicked.connect(lambda: show_card(self, result.analyzer))
        row.addWidget(about)
        if result.ok:
            flag = QPushButton("Flag as finding…")
            flag.setToolTip("Write down what this result shows; the finding leads the report")
            flag.clicked.connect(lambda: self.flagRequested.emit(self.run))
            row.addWidget(flag)
        self.include = QCheckBox("In report")
        self.include.setToolTip("Give this result a detail section in the report (failures are listed in one table)")
        self.include.setChecked(result.ok if included is None else included)
        self.include.toggled.connect(lambda on: self.includeChanged.emit(self.run, on))
        row.addWidget(self.include)
        row.addStretch(1)
        self.body.addLayout(row)

    def add_line(self, text: str, warning: bool = False) -> QLabel:
        """A wrapped line of rich text above the card button."""
        label = QLabel(text)
        label.setTextFormat(Qt.TextFormat.RichText)  # escaped text without tags would show its entities
        label.setWordWrap(True)
        if warning:
            label.setStyleSheet("color: #b00000;")
        self.body.insertWidget(self.body.count() - 1, label)
        return label


def score_label(result: Result) -> QLabel:
    """"Score: 0.950 — higher than 97 % of 132 unedited photos (what the score is)"."""
    score = "—" if result.score is None else f"{result.score:.3f}"
    context = score_context(result.calibration) if result.score is not None else ""
    text = f"Score: <b>{score}</b>" + (f" — {html.escape(context)}" if context else "")
    text += f"<br/><i>{html.escape(result.score_meaning)}</i>" if result.score_meaning else ""
    label = QLabel(text)
    label.setWordWrap(True)
    return label


class HeatmapView(ResultView):
    """One heat map: colour legend, statistics, further maps to browse, a button to show it."""

    mapChosen = Signal(str, object)  # layer key, float32 map to show
    layerRequested = Signal(str)  # layer key

    def __init__(self, run: Run, parent: QWidget | None = None, included: bool | None = None) -> None:
        super().__init__(run, parent, included)
        result = run.result
        assert isinstance(result, Heatmap)
        bar = QLabel()
        bar.setPixmap(to_pixmap(legend_bar(120, 10)))
        legend = QHBoxLayout()
        low, high = QLabel(result.legend_low), QLabel(result.legend_high)
        for label in (low, high):
            label.setWordWrap(True)
            label.setStyleSheet("font-size: 9px;")
        legend.addWidget(low, 1)
        legend.addWidget(bar)
        legend.addWidget(high, 1)
        self.body.insertLayout(0, legend)
        show = QPushButton("Show on image")
        show.clicked.connect(lambda: self.layerRequested.emit(self.layer_key))
        self.body.insertWidget(0, show, alignment=Qt.AlignmentFlag.AlignLeft)
        if result.stats:
            stats = QLabel(", ".join(f"{k} = {v:g}" for k, v in result.stats.items()))
            stats.setWordWrap(True)
            self.body.insertWidget(2, stats)
        if result.stack:
            self.maps = {"main map": result.map, **result.stack}
            self.chooser = QComboBox()
            self.chooser.addItems(list(self.maps))
            self.chooser.currentTextChanged.connect(
                lambda name: self.mapChosen.emit(self.layer_key, self.maps[name]))
            row = QHBoxLayout()
            row.addWidget(QLabel(f"Browse {len(result.stack)} maps:"))
            row.addWidget(self.chooser, 1)
            self.body.insertLayout(1, row)


class FactsSummaryView(ResultView):
    """Findings in the results list; the full tables open in their own tab."""

    def __init__(self, run: Run, parent: QWidget | None = None, included: bool | None = None) -> None:
        super().__init__(run, parent, included)
        result = run.result
        assert isinstance(result, Facts)
        text = "".join(f"<li>{html.escape(f)}</li>" for f in result.findings) or "<li>no findings</li>"
        findings = QLabel(f"<ul style='margin-left:-20px'>{text}</ul>")
        findings.setWordWrap(True)
        self.body.insertWidget(0, findings)
        self.body.insertWidget(1, QLabel(f"Full tables: see the “{self.title()}” tab."))


class FactsTables(QSplitter):
    """All tables of a Facts result as a tree, with its images (e.g. the EXIF thumbnail, a spectrum)
    scaled to fit and scrolled, so no figure sets the window's minimum size, and the provenance section
    when the result read what the file claims about its origin."""

    def __init__(self, result: Facts, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        if result.images:
            figures = QWidget()
            column = QVBoxLayout(figures)
            for name, image in result.images.items():
                label = QLabel()
                pixmap = to_pixmap(image)
                if pixmap.width() > FIGURE_WIDTH:
                    pixmap = pixmap.scaledToWidth(FIGURE_WIDTH, Qt.TransformationMode.SmoothTransformation)
                label.setPixmap(pixmap)
                label.setToolTip(name)
                column.addWidget(QLabel(f"<b>{html.escape(name)}</b>"))
                column.addWidget(label)
            scroll = QScrollArea()
            scroll.setWidget(figures)
            scroll.setMinimumSize(160, 120)
            self.addWidget(scroll)
        if result.claims is not None:
            self.provenance = ProvenanceView(result.claims)
            self.addWidget(self.provenance)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Field", "Value"])
        findings = QTreeWidgetItem(self.tree, ["Findings", str(len(result.findings))])
        for finding in result.findings:
            QTreeWidgetItem(findings, ["", finding])
        for table in result.tables:
            top = QTreeWidgetItem(self.tree, [table.title, f"{len(table.rows)} fields"])
            for key, value in table.rows:
                QTreeWidgetItem(top, [key, value])
            top.setExpanded(table.title != "EXIF (all tags)")
        findings.setExpanded(True)
        self.tree.resizeColumnToContents(0)
        self.tree.setColumnWidth(0, min(self.tree.columnWidth(0), 320))
        self.addWidget(self.tree)


class FramesView(ResultView):
    """A result tied to moments of a video: its notable frames are listed, a click shows one."""

    seekRequested = Signal(float)  # seconds into the video

    def add_frame_list(self, title: str, entries: list[tuple[float, str, np.ndarray | None]]) -> None:
        """`entries`: (seconds, text, optional thumbnail), listed in this order."""
        if not entries:
            return
        self.frames = QListWidget()
        self.frames.setIconSize(QSize(80, 60))
        for seconds, text, thumbnail in entries:
            item = QListWidgetItem(f"{timecode(seconds)} · {text}")
            if thumbnail is not None:
                item.setIcon(QIcon(to_pixmap(thumbnail)))
            item.setData(Qt.ItemDataRole.UserRole, seconds)
            self.frames.addItem(item)
        self.frames.setFixedHeight(min(len(entries), 5) * 66 + 6)
        self.frames.itemClicked.connect(lambda item: self.seekRequested.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.add_line(title)
        self.body.insertWidget(self.body.count() - 1, self.frames)


class SeriesView(FramesView):
    """An image analyzer run on sampled frames: what was sampled, what was lost, the top frames."""

    def __init__(self, run: Run, parent: QWidget | None = None, included: bool | None = None) -> None:
        super().__init__(run, parent, included)
        result = run.result
        assert isinstance(result, Series)
        values = np.zeros(0) if result.values is None else np.asarray(result.values, np.float64)
        source = analyzer_title(result.source_analyzer) if result.source_analyzer else "the analyzer"
        self.add_line(f"Per frame: <b>{html.escape(result.label or 'value')}</b> of {html.escape(source)}, "
                      "drawn under the video in the Viewer tab" + ("; choose it in Layers to see each frame's map."
                                                                   if result.maps is not None else "."))
        self.add_line(f"Frames: {html.escape(result.sampling or 'sampled')}; {len(values)} analysed.")
        self.add_line(f"{result.skipped} frame(s) could not be decoded and were skipped." if result.skipped
                      else "No undecodable frame.", warning=bool(result.skipped))
        failed = int(np.isnan(values).sum())
        if failed:
            self.add_line(f"{failed} analysed frame(s) failed (gaps in the curve).", warning=True)
        self.add_frame_list("Highest frames (click to show):", [
            (float(top["time"]), f"frame {top['frame']}: " + ("—" if top["value"] is None else f"{top['value']:.3f}"),
             next((image for name, image in result.images.items() if name.startswith(f"frame {top['frame']} ")),
                  None))
            for top in result.top])


class BoxesView(FramesView):
    """Rectangles (faces, regions) drawn over the image or the current video frame."""

    boxesToggled = Signal(str, bool)  # layer key, shown

    def __init__(self, run: Run, parent: QWidget | None = None, included: bool | None = None) -> None:
        super().__init__(run, parent, included)
        result = run.result
        assert isinstance(result, Boxes)
        count = 0 if result.boxes is None else len(result.boxes)
        text = f"{count} box(es)"
        if result.frames is not None:
            text += f" on {len(np.unique(result.frames))} frame(s)"
        if result.tracks is not None:
            text += f", {len(np.unique(result.tracks))} track(s)"
        self.add_line(text + ".")
        if count:
            self.visible = QCheckBox("Show boxes")
            self.visible.setChecked(True)
            self.visible.toggled.connect(lambda on: self.boxesToggled.emit(self.layer_key, on))
            self.body.insertWidget(0, self.visible)


class VerdictView(BoxesView):
    """A yes/no answer: probability (or abstention, said plainly), calibration, each vote."""

    def __init__(self, run: Run, parent: QWidget | None = None, included: bool | None = None) -> None:
        super().__init__(run, parent, included)
        result = run.result
        assert isinstance(result, Verdict)
        self.verdict = QLabel(f"<b>{html.escape(verdict_line(result))}</b>")
        self.verdict.setWordWrap(True)
        self.body.insertWidget(0, self.verdict)
        if result.explanation and not result.abstained:
            self.add_line(html.escape(result.explanation))
        if result.aggregation:
            self.add_line(f"Aggregation: {html.escape(result.aggregation)}")
        if result.votes:
            self.votes = QTreeWidget()
            self.votes.setHeaderLabels(["Model", "Probability", "Status", "Note"])
            self.votes.setRootIsDecorated(False)
            for vote in result.votes:
                p = vote.get("probability")
                QTreeWidgetItem(self.votes, [str(vote.get("title") or vote.get("model", "")),
                                             "—" if p is None else f"{p:.3f}", str(vote.get("status", "")),
                                             str(vote.get("note", ""))])
            self.votes.resizeColumnToContents(0)
            self.votes.setFixedHeight(min(len(result.votes), 6) * 22 + 28)
            self.body.insertWidget(self.body.count() - 1, self.votes)
        if result.times is not None and result.values is not None:
            self.add_frame_list("Highest per-frame probability (click to show):", [
                (t, f"{v:.3f}", None) for t, v in highest(result.times, result.values)])


class SegmentsTableView(ResultView):
    """Matched segments (query span ↔ a reference's span, score) as a table, and how they were found."""

    def __init__(self, run: Run, parent: QWidget | None = None, included: bool | None = None) -> None:
        super().__init__(run, parent, included)
        result = run.result
        assert isinstance(result, Segments)
        rows = result.segment_rows()
        self.table = QTreeWidget()
        self.table.setHeaderLabels(["Reference", "Query", "Reference span", "Score"])
        self.table.setRootIsDecorated(False)
        for row, label in zip(rows, result.references, strict=True):
            QTreeWidgetItem(self.table, [label, f"{timecode(row[0])}–{timecode(row[1])}",
                                         f"{timecode(row[2])}–{timecode(row[3])}", f"{row[4]:.3f}"])
        self.table.resizeColumnToContents(0)
        self.table.setFixedHeight(min(len(rows), 6) * 22 + 28)
        self.table.setVisible(len(rows) > 0)
        self.method = QLabel(f"<i>{html.escape(result.method)}</i>")
        self.method.setWordWrap(True)
        for widget in (self.table, self.method):
            self.body.insertWidget(self.body.count() - 1, widget)  # above "How to read this"


VIEWS: dict[type[Result], Callable[..., ResultView]] = {
    Segments: SegmentsTableView,
    Heatmap: HeatmapView,
    Facts: FactsSummaryView,
    Series: SeriesView,
    Verdict: VerdictView,
    Boxes: BoxesView,
}


def view_for(run: Run, included: bool | None = None) -> ResultView:
    """The widget for this run's result: the view a plugin contributes for its analyzer, else the one
    of its result type; failures and unknown types get the plain frame (so does a result whose
    contributed view cannot be imported or built: its error is then shown in the frame).
    `included`: the analyst's choice of a detail section in the report (None: the default)."""
    if run.result.status is not Status.OK:
        return ResultView(run, included=included)
    reference = contributions.contributed("views").get(run.result.analyzer)
    if reference:
        try:
            return contributions.load(reference)(run, included=included)
        except Exception as exc:  # noqa: BLE001 - a broken plugin view must not hide the result
            fallback = _type_view(run, included)
            fallback.body.insertWidget(0, QLabel(f"⚠ Its plugin's view failed: {html.escape(str(exc))}"))
            return fallback
    return _type_view(run, included)


def _type_view(run: Run, included: bool | None) -> ResultView:
    for result_type, view in VIEWS.items():
        if isinstance(run.result, result_type):
            return view(run, included=included)
    return ResultView(run, included=included)
