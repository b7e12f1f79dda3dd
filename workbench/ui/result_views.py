"""One widget per Result type: the GUI picks the view by type, so a new analyzer with an
existing result type needs no GUI code."""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.app.case import Run
from workbench.core import registry
from workbench.core.render import legend_bar
from workbench.core.results import Facts, Heatmap, Result, Status
from workbench.ui.images import to_pixmap


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
    """Common frame: title, status line, score and its meaning, a button for the card; an
    'unavailable' result offers to install the model file it lacks."""

    installRequested = Signal(str)  # model id

    def __init__(self, run: Run, parent: QWidget | None = None) -> None:
        result = run.result
        super().__init__(analyzer_title(result.analyzer), parent)
        self.run = run
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(6, 4, 6, 4)
        if result.status is not Status.OK:
            status = QLabel(f"<b>{result.status.value}</b>: {html.escape(result.message)}")
            status.setWordWrap(True)
            status.setStyleSheet("color: #b00000;")
            self.body.addWidget(status)
        analyzer = registry.analyzers().get(result.analyzer)
        if result.status is Status.UNAVAILABLE and analyzer is not None:
            for model_id in analyzer.models:
                button = QPushButton(f"Install model file for {model_id}…")
                button.clicked.connect(lambda _=False, m=model_id: self.installRequested.emit(m))
                self.body.addWidget(button, alignment=Qt.AlignmentFlag.AlignLeft)
        elif result.score is not None or result.score_meaning:
            score = "—" if result.score is None else f"{result.score:.3f}"
            label = QLabel(f"Score: {score} <i>({result.score_meaning})</i>")
            label.setWordWrap(True)
            self.body.addWidget(label)
        about = QPushButton("How to read this…")
        about.clicked.connect(lambda: show_card(self, result.analyzer))
        self.body.addWidget(about, alignment=Qt.AlignmentFlag.AlignLeft)


class HeatmapView(ResultView):
    """Overlay controls for one heat map: visibility, opacity, colour legend, statistics."""

    visibilityChanged = Signal(str, bool)
    opacityChanged = Signal(str, float)
    mapChosen = Signal(str, object)  # layer key, float32 map to show

    def __init__(self, run: Run, parent: QWidget | None = None) -> None:
        super().__init__(run, parent)
        result = run.result
        assert isinstance(result, Heatmap)
        self.layer_key = f"run{run.id}"
        self.visible = QCheckBox("Show overlay")
        self.visible.setChecked(True)
        self.visible.toggled.connect(lambda on: self.visibilityChanged.emit(self.layer_key, on))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(80)
        self.opacity.valueChanged.connect(lambda v: self.opacityChanged.emit(self.layer_key, v / 100.0))
        controls = QHBoxLayout()
        controls.addWidget(self.visible)
        controls.addWidget(QLabel("Opacity"))
        controls.addWidget(self.opacity, 1)
        self.body.insertLayout(0, controls)

        bar = QLabel()
        bar.setPixmap(to_pixmap(legend_bar(160, 12)))
        legend = QHBoxLayout()
        low, high = QLabel(result.legend_low), QLabel(result.legend_high)
        for label in (low, high):
            label.setWordWrap(True)
            label.setStyleSheet("font-size: 9px;")
        legend.addWidget(low, 1)
        legend.addWidget(bar)
        legend.addWidget(high, 1)
        self.body.insertLayout(1, legend)
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

    def __init__(self, run: Run, parent: QWidget | None = None) -> None:
        super().__init__(run, parent)
        result = run.result
        assert isinstance(result, Facts)
        text = "".join(f"<li>{html.escape(f)}</li>" for f in result.findings) or "<li>no findings</li>"
        findings = QLabel(f"<ul style='margin-left:-20px'>{text}</ul>")
        findings.setWordWrap(True)
        self.body.insertWidget(0, findings)
        self.body.insertWidget(1, QLabel(f"Full tables: see the “{self.title()}” tab."))


class FactsTables(QWidget):
    """All tables of a Facts result as a tree, with its images (e.g. the EXIF thumbnail)."""

    def __init__(self, result: Facts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        for name, image in result.images.items():
            label = QLabel()
            label.setPixmap(to_pixmap(image))
            label.setToolTip(name)
            layout.addWidget(QLabel(f"<b>{name}</b>"))
            layout.addWidget(label)
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
        layout.addWidget(self.tree, 1)


VIEWS: dict[type[Result], Callable[[Run], ResultView]] = {
    Heatmap: HeatmapView,
    Facts: FactsSummaryView,
}


def view_for(run: Run) -> ResultView:
    """The widget for this run's result type; failures and unknown types get the plain frame."""
    if run.result.status is Status.OK:
        for result_type, view in VIEWS.items():
            if isinstance(run.result, result_type):
                return view(run)
    return ResultView(run)
