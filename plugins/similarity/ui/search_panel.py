"""The similar-image search panel: index images into the case's collection, query with the
selected evidence (or a rectangle drawn on it), browse the ranked hits and compare one with the
query side by side, matched keypoints joined by lines.

Contributed as the "Similar images" dock (`plugins/similarity/manifest.py`, a `Panel` made by
`similar_images_panel`): the window hands it the case and the shown item, runs its search when a
preset with similar-image search starts, and lists its "Add selected videos to the reference videos"
in the Search menu.

Everything that reads files, describes images or searches runs as a job off the GUI thread; the
panel runs one collection job at a time (the collection's SQLite table and vector index are not
meant for concurrent writers), and shows problems as messages, never as exceptions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QMouseEvent, QPainter, QPen, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGraphicsRectItem,
    QGraphicsView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from plugins.similarity.cli import collection_folder
from plugins.similarity.collection import Collection
from plugins.similarity.facts import facts_of
from plugins.similarity.global_descriptor import MODEL_ID
from plugins.similarity.indexing import IndexReport, add_media
from plugins.similarity.phash import NEAR_DUPLICATE_BITS
from plugins.similarity.search import Hit, Query, Rerank, RerankerUnavailable, match_lines, score_meaning, search
from workbench.api import (
    DEFAULT_MAX_PIXELS,
    ZOOM_STEP,
    Cancelled,
    Case,
    Evidence,
    ImageView,
    Job,
    MediaError,
    ModelUnavailable,
    PanelHost,
    QtJobs,
    RunContext,
    load_preferences,
    open_media,
    resolve_device,
    to_pixmap,
)

THUMB = 128
MIN_CROP = 16
"""Smallest rectangle side (pixels) worth searching with: fewer pixels hold no usable keypoints."""
MATCH_HEIGHT = 1600
"""Longest height of the side-by-side canvas: enough to see the keypoints, bounded memory."""
GAP = 16
MAX_LISTED_FAILURES = 8
MATCH_LAYER = "matches"
MAX_LINES = 60
"""Match lines drawn by default: hundreds of inliers would cover both images (all on request)."""
RERANK_CHOICES = (("spatial verification", Rerank.SIFT), ("learned LOCORE (installed weights)", Rerank.LOCORE),
                  ("none", Rerank.NONE))


def open_collection(folder: Path) -> Collection:
    """The collection, its descriptor on the best device (resolved here: importing torch is slow), its
    vectors where the index_uri preference says."""
    return Collection(folder, device=resolve_device()[0], index_uri=load_preferences().index_uri)


def model_message(exc: ModelUnavailable) -> str:
    """The store's own message, pointing to where models are installed if it does not already."""
    text = str(exc)
    return text if "Settings" in text else f"{text}. Install it under Settings ▸ Models."


@dataclass
class SearchOutcome:
    """What a search job hands back: the query as searched, its hits and their thumbnails."""

    evidence: Evidence
    query: Query
    format: str
    rect: tuple[int, int, int, int] | None
    rerank: Rerank
    hits: list[Hit]
    thumbnails: list[np.ndarray | None] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)
    """Everything `facts_of` read from the query file (GPS position included)."""


@dataclass
class MatchImage:
    """Query and hit side by side on one canvas, and the matches in canvas coordinates."""

    canvas: np.ndarray
    lines: np.ndarray
    warning: str = ""


def thumbnail(path: str, size: int = THUMB, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray | None:
    """A small RGB preview of an indexed file, or None when it cannot be read any more."""
    try:
        with Image.open(path) as im:
            if im.width * im.height > max_pixels:
                return None
            im.draft("RGB", (size, size))  # JPEG: decode at a reduced scale
            im = im.convert("RGB")
            im.thumbnail((size, size))
            return np.asarray(im)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def side_by_side(left: np.ndarray, right: np.ndarray, matches: np.ndarray, gap: int = GAP,
                 max_height: int = MATCH_HEIGHT) -> tuple[np.ndarray, np.ndarray]:
    """Both images scaled to one height and placed left and right; `matches` (x, y in the left,
    x, y in the right) mapped onto that canvas, so each match becomes a line between the images."""
    height = min(max(left.shape[0], right.shape[0]), max_height)
    scaled = []
    for rgb in (left, right):
        scale = height / rgb.shape[0]
        width = max(1, round(rgb.shape[1] * scale))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        scaled.append(cv2.resize(np.ascontiguousarray(rgb), (width, height), interpolation=interpolation))
    a, b = scaled
    canvas = np.full((height, a.shape[1] + gap + b.shape[1], 3), 48, np.uint8)
    canvas[:, : a.shape[1]] = a
    canvas[:, a.shape[1] + gap:] = b
    sa, sb = a.shape[1] / left.shape[1], b.shape[1] / right.shape[1]
    lines = np.asarray(matches, np.float32).reshape(-1, 4) * np.float32([sa, height / left.shape[0], sb,
                                                                          height / right.shape[0]])
    lines[:, 2] += a.shape[1] + gap
    return canvas, lines


def describe_failures(failed: dict[str, str]) -> str:
    lines = [f"{Path(path).name}: {reason}" for path, reason in list(failed.items())[:MAX_LISTED_FAILURES]]
    if len(failed) > MAX_LISTED_FAILURES:
        lines.append(f"… and {len(failed) - MAX_LISTED_FAILURES} more")
    return "\n".join(lines)


# -- views ----------------------------------------------------------------------------------------
class AutoFitView(ImageView):
    """Fits the image to the view whenever the view is resized, until the analyst zooms: a panel
    that is laid out (or shown in its dock) after the image arrives still shows all of it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.auto_fit = True

    def set_image(self, rgb: np.ndarray | None) -> None:
        self.auto_fit = True
        super().set_image(rgb)

    def fit(self) -> None:
        self.auto_fit = True
        super().fit()

    def zoom(self, factor: float) -> None:
        self.auto_fit = False
        super().zoom(factor)

    def actual_size(self) -> None:
        self.auto_fit = False
        super().actual_size()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self.auto_fit and self.has_image():
            super().fit()


class QueryView(AutoFitView):
    """The query image; with drawing on, a drag selects the rectangle to search with."""

    selectionChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.drawing = False
        self.selection: tuple[int, int, int, int] | None = None
        """x0, y0, x1, y1 in image pixels (end exclusive), or None for the whole image."""
        self._size = (0, 0)
        self._origin: QPointF | None = None
        pen = QPen(QColor(255, 210, 0))
        pen.setCosmetic(True)
        pen.setWidthF(2.0)
        pen.setStyle(Qt.PenStyle.DashLine)
        self._rect = QGraphicsRectItem()
        self._rect.setPen(pen)
        self._rect.setZValue(1000)
        self._rect.hide()
        self.scene().addItem(self._rect)

    def set_image(self, rgb: np.ndarray | None) -> None:
        super().set_image(rgb)
        self._size = (0, 0) if rgb is None else (rgb.shape[1], rgb.shape[0])
        self.set_selection(None)

    def set_drawing(self, on: bool) -> None:
        """While drawing, a drag selects instead of panning."""
        self.drawing = on
        self.setDragMode(QGraphicsView.DragMode.NoDrag if on else QGraphicsView.DragMode.ScrollHandDrag)
        self.viewport().setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.OpenHandCursor)

    def set_selection(self, rect: tuple[int, int, int, int] | None) -> None:
        """Clamp to the image; a rectangle too small to search with means the whole image."""
        if rect is not None:
            w, h = self._size
            x0, x1 = sorted((min(max(int(rect[0]), 0), w), min(max(int(rect[2]), 0), w)))
            y0, y1 = sorted((min(max(int(rect[1]), 0), h), min(max(int(rect[3]), 0), h)))
            rect = (x0, y0, x1, y1) if x1 - x0 >= MIN_CROP and y1 - y0 >= MIN_CROP else None
        self.selection = rect
        if rect is None:
            self._rect.hide()
        else:
            self._rect.setRect(QRectF(rect[0], rect[1], rect[2] - rect[0], rect[3] - rect[1]))
            self._rect.show()
        self.selectionChanged.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self.drawing and self._size[0] and event.button() == Qt.MouseButton.LeftButton:
            self._origin = self.mapToScene(event.position().toPoint())
            self._rect.setRect(QRectF(self._origin, self._origin))
            self._rect.show()
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._origin is not None:
            self._rect.setRect(QRectF(self._origin, self.mapToScene(event.position().toPoint())).normalized())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._origin is not None:
            end = self.mapToScene(event.position().toPoint())
            start, self._origin = self._origin, None
            self.set_selection((round(start.x()), round(start.y()), round(end.x()), round(end.y())))
            event.accept()
            return
        super().mouseReleaseEvent(event)


# -- the side-by-side match -------------------------------------------------------------------
class MatchView(QWidget):
    """Query (left) and one hit (right) with their verified matches as lines, the facts of both,
    and the facts that hint which one is closer to the original."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = AutoFitView()
        self.lines = 0
        """Match lines drawn now."""
        self._matches = np.zeros((0, 4), np.float32)
        toolbar = QToolBar()
        toolbar.addAction("Fit", self.view.fit)
        toolbar.addAction("1:1", self.view.actual_size)
        toolbar.addAction("Zoom in", lambda: self.view.zoom(ZOOM_STEP))
        toolbar.addAction("Zoom out", lambda: self.view.zoom(1 / ZOOM_STEP))
        toolbar.addSeparator()
        self.show_lines = QAction("Match lines", self, checkable=True, checked=True)
        self.show_lines.setToolTip("Lines join the keypoints that spatial verification matched (RANSAC inliers)")
        self.show_lines.toggled.connect(lambda on: self.view.set_layer_visible(MATCH_LAYER, on))
        toolbar.addAction(self.show_lines)
        self.all_lines = QAction("All matches", self, checkable=True)
        self.all_lines.setToolTip(f"Draw every verified match, not just {MAX_LINES} spread over them")
        self.all_lines.toggled.connect(self._draw_lines)
        toolbar.addAction(self.all_lines)
        self.caption = QLabel("Click a result to compare it with the query.")
        self.caption.setWordWrap(True)
        self.facts = QTableWidget(0, 3)
        self.facts.setHorizontalHeaderLabels(["", "Query", "This hit"])
        self.facts.verticalHeader().hide()
        self.facts.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.facts.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.facts.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.facts.setWordWrap(False)
        self.facts.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.hints = QLabel()
        self.hints.setWordWrap(True)
        self.hints.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        details = QWidget()
        details_layout = QVBoxLayout(details)
        details_layout.setContentsMargins(0, 0, 0, 0)
        details_layout.addWidget(self.hints)
        details_layout.addWidget(self.facts, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.view)
        splitter.addWidget(details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([490, 270])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(toolbar)
        layout.addWidget(self.caption)
        layout.addWidget(splitter, 1)

    def clear(self, text: str = "Click a result to compare it with the query.") -> None:
        self.view.set_image(None)
        self.lines, self._matches = 0, np.zeros((0, 4), np.float32)
        self.caption.setText(text)
        self.facts.setRowCount(0)
        self.hints.clear()

    def show_match(self, outcome: SearchOutcome, hit: Hit, match: MatchImage) -> None:
        self.view.set_image(match.canvas)
        self.view.set_layer(MATCH_LAYER, np.zeros((1, 1, 4), np.uint8), 1.0, self.show_lines.isChecked())
        self._matches = np.unique(np.round(match.lines, 1), axis=0) if len(match.lines) else match.lines
        self._draw_lines()
        region = f" (rectangle {_rect_text(outcome.rect)})" if outcome.rect else ""
        verified = (f"{hit.inliers} verified matches of its compact record, {len(match.lines)} with full "
                    "features (drawn)" if hit.compact
                    else f"{hit.inliers} verified matches" if outcome.rerank is Rerank.SIFT
                    else "not verified (no re-ranking)" if outcome.rerank is Rerank.NONE
                    else f"placed by {outcome.rerank.value.upper()}, not spatially verified")
        caption = (f"Left: query {outcome.query.label}{region}.  Right: #{hit.rank} {Path(hit.item.path).name} — "
                   f"score {hit.score:.3f}, global similarity {hit.global_sim:.3f}, {verified}, "
                   f"perceptual-hash distance {hit.phash_bits} bits"
                   + (" (near-duplicate)" if hit.near_duplicate else ""))
        if match.warning:
            caption += f"\n⚠ {match.warning}"
        if len(self._matches) > MAX_LINES:
            caption += (f"\nLines: {MAX_LINES} of the {len(self._matches)} distinct matches "
                        "(All matches draws every one).")
        self.caption.setText(caption)
        self._fill_facts(outcome, hit)
        self._fill_hints(hit)

    def _draw_lines(self) -> None:
        """Redraw the match lines: all of them, or MAX_LINES spread evenly over the list."""
        layer = self.view.layers.get(MATCH_LAYER)
        if layer is None:
            return
        for child in layer.childItems():
            self.view.scene().removeItem(child)
        lines = self._matches
        if len(lines) > MAX_LINES and not self.all_lines.isChecked():
            lines = lines[np.linspace(0, len(lines) - 1, MAX_LINES).round().astype(int)]
        self.lines = len(lines)
        if self.lines:
            self.view.set_pairs(MATCH_LAYER, lines, max_pairs=len(lines))

    def _fill_facts(self, outcome: SearchOutcome, hit: Hit) -> None:
        q, item, evidence = outcome.query, hit.item, outcome.evidence
        rows = [
            ("File", str(evidence.path), item.path),
            ("Pixels", f"{q.width}×{q.height}", f"{item.width}×{item.height}"),
            ("Format", outcome.format, item.format),
            ("JPEG quality (estimated)", _fact(q.jpeg_quality), _fact(item.jpeg_quality)),
            ("Capture date (EXIF)", _fact(q.taken), _fact(item.taken)),
            ("Software (EXIF)", _fact(q.software), _fact(item.software)),
            ("GPS position (EXIF)", _position(outcome.facts.get("latitude"), outcome.facts.get("longitude")),
             _position(item.latitude, item.longitude)),
            ("SHA-256", evidence.sha256, item.sha256),
        ]
        self.facts.setRowCount(len(rows))
        for row, values in enumerate(rows):
            for column, value in enumerate(values):
                cell = QTableWidgetItem(value)
                cell.setToolTip(value)
                self.facts.setItem(row, column, cell)
        self.facts.resizeRowsToContents()

    def _fill_hints(self, hit: Hit) -> None:
        if not hit.same_content:
            self.hints.setText("Not verified as the same content (too few consistent matches and no near-identical "
                               "hash): no hint about which one is the original.")
        elif not hit.hints:
            self.hints.setText("Find the original: no recorded fact tells the two apart.")
        else:
            bullets = "\n".join(f"• {hint}" for hint in hit.hints)
            self.hints.setText(f"Find the original — facts, not proof (metadata can be stripped or forged):\n{bullets}")


def _fact(value: object) -> str:
    return "—" if value in (None, "") else str(value)


def _position(latitude: object, longitude: object) -> str:
    if not isinstance(latitude, int | float) or not isinstance(longitude, int | float):
        return "—"
    return f"{latitude:.6f}, {longitude:.6f}"


def _rect_text(rect: tuple[int, int, int, int]) -> str:
    x0, y0, x1, y1 = rect
    return f"{x1 - x0}×{y1 - y0} at ({x0}, {y0})"


# -- the panel ---------------------------------------------------------------------------------
class SearchPanel(QWidget):
    """Index controls, the query with options, the ranked results and the match view."""

    installRequested = Signal(str)  # model id

    def __init__(self, jobs: QtJobs | None = None, parent: QWidget | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        super().__init__(parent)
        self.jobs = jobs or QtJobs(self)
        self.max_pixels = max_pixels
        self.host: PanelHost | None = None
        """The window, when the panel is one of its docks (`similar_images_panel`)."""
        self.case: Case | None = None
        self.evidence: Evidence | None = None
        self.collection: Collection | None = None
        self.indexed: int = 0
        self.job: Job | None = None
        """The running collection job (indexing, opening or searching): one at a time."""
        self.match_job: Job | None = None
        self.outcome: SearchOutcome | None = None
        self.last_report: IndexReport | None = None
        self._retired: list[Collection] = []
        self._active: set[int] = set()
        """Ids of the panel's collection jobs still running (a cancelled one may outlive a case switch)."""
        self._model_id = ""
        self.jobs.changed.connect(self._job_changed)

        # index
        self.count_label = QLabel()
        self.count_label.setWordWrap(True)  # the vectors' location can be a long path: the column keeps its width
        self.add_case_button = QPushButton("Add case evidence")
        self.add_case_button.setToolTip("Index every evidence item of the case: images become searchable, videos "
                                        "reference videos of video copy detection (already indexed: skipped)")
        self.add_case_button.clicked.connect(self.add_case_evidence)
        self.add_folder_button = QPushButton("Add folder…")
        self.add_folder_button.setToolTip("Index the images in a folder and its subfolders; its videos become "
                                          "reference videos of video copy detection (already indexed: skipped)")
        self.add_folder_button.clicked.connect(self.choose_folder)
        index_box = QGroupBox("Index")
        index_layout = QVBoxLayout(index_box)
        index_layout.addWidget(self.count_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_case_button)
        buttons.addWidget(self.add_folder_button)
        index_layout.addLayout(buttons)

        # query
        self.preview = QueryView()
        self.preview.setMinimumHeight(120)
        self.preview.selectionChanged.connect(self._selection_changed)
        self.query_label = QLabel()
        self.query_label.setWordWrap(True)
        self.draw_button = QPushButton("Draw rectangle")
        self.draw_button.setCheckable(True)
        self.draw_button.setToolTip("Drag on the image to search with that region only")
        self.draw_button.toggled.connect(self.preview.set_drawing)
        self.whole_button = QPushButton("Whole image")
        self.whole_button.clicked.connect(lambda: self.preview.set_selection(None))
        self.k = QSpinBox()
        self.k.setRange(1, 500)
        self.k.setValue(20)
        self.k.setToolTip("How many hits to list")
        self.rerank = QComboBox()
        for text, value in RERANK_CHOICES:
            self.rerank.addItem(text, value)
        self.rerank.setToolTip("Spatial verification re-ranks the shortlist by geometrically consistent local "
                               "matches (robust to crops, flips and re-compression); LOCORE re-ranks it with a "
                               "learned model (its three weights files installed, the collection indexed with "
                               "`workbench index --locore`; slow on a CPU); 'none' ranks by the global "
                               "descriptor only (faster)")
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.run_search)
        query_box = QGroupBox("Query")
        query_layout = QVBoxLayout(query_box)
        query_layout.addWidget(self.preview, 1)
        query_layout.addWidget(self.query_label)
        draw_row = QHBoxLayout()
        draw_row.addWidget(self.draw_button)
        draw_row.addWidget(self.whole_button)
        query_layout.addLayout(draw_row)
        form = QFormLayout()
        form.addRow("Hits (k)", self.k)
        form.addRow("Re-ranking", self.rerank)
        query_layout.addLayout(form)
        query_layout.addWidget(self.search_button)

        # progress and messages
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress_label = QLabel()
        self.progress_label.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.install_button = QPushButton("Install model file…")
        self.install_button.clicked.connect(lambda: self.installRequested.emit(self._model_id))
        self.install_button.hide()

        controls = QWidget()
        controls_layout = QVBoxLayout(controls)
        controls_layout.setContentsMargins(0, 0, 0, 0)
        controls_layout.addWidget(index_box)
        controls_layout.addWidget(query_box, 1)
        controls_layout.addLayout(progress_row)
        controls_layout.addWidget(self.progress_label)
        controls_layout.addWidget(self.message)
        controls_layout.addWidget(self.install_button, alignment=Qt.AlignmentFlag.AlignLeft)
        controls_scroll = QScrollArea()  # the dock may be short: scroll rather than squeeze the window
        controls_scroll.setWidgetResizable(True)
        controls_scroll.setFrameShape(QFrame.Shape.NoFrame)
        controls_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        controls_scroll.setWidget(controls)
        controls_scroll.setMinimumWidth(controls.sizeHint().width() + 16)

        # results
        self.results = QListWidget()
        self.results.setViewMode(QListWidget.ViewMode.IconMode)
        self.results.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.results.setMovement(QListWidget.Movement.Static)
        self.results.setIconSize(QSize(THUMB, THUMB))
        self.results.setGridSize(QSize(THUMB + 24, THUMB + 64))
        self.results.setWordWrap(True)
        self.results.currentRowChanged.connect(self.show_hit)
        self.results_label = QLabel("Results")
        results_box = QWidget()
        results_layout = QVBoxLayout(results_box)
        results_layout.setContentsMargins(0, 0, 0, 0)
        results_layout.addWidget(self.results_label)
        results_layout.addWidget(self.results, 1)

        self.match = MatchView()
        splitter = QSplitter()
        splitter.addWidget(controls_scroll)
        splitter.addWidget(results_box)
        splitter.addWidget(self.match)
        splitter.setStretchFactor(2, 1)
        splitter.setSizes([300, 3 * (THUMB + 24) + 30, 700])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self._set_busy(False)
        self._update_count()
        self._selection_changed()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """Wide and not too tall: the panel shares the window with the viewer when docked."""
        return QSize(1200, 440)

    # -- state ----------------------------------------------------------------------------
    def set_case(self, case: Case | None) -> None:
        """Forget the previous case's collection and results; open the new case's collection (if it
        has one) in the background, because a collection left inconsistent is rebuilt on open."""
        if self.collection is not None:
            self._retire(self.collection)
        if self.job is not None:
            self.job.cancel()
            self.job = None
            self._set_busy(False)
        self.case, self.collection, self.indexed = case, None, 0
        self.set_evidence(None, None)
        self._show_results(None)
        self.show_message("")
        if case is not None and (collection_folder(case.root) / "collection.sqlite").is_file():
            self._submit("Opening the image collection", lambda collection, ctx: None,
                         lambda job: self._job_failed(job, "Opening the collection"))
        self._update_count()

    def set_evidence(self, evidence: Evidence | None, rgb: np.ndarray | None) -> None:
        """The selected evidence item is the query; `rgb` (already decoded by the viewer) is its preview."""
        self.evidence = evidence
        self.preview.set_image(rgb)
        if evidence is not None and rgb is None:
            self.query_label.setText(f"{evidence.name}: cannot be shown (see the viewer)")

    def preferences_changed(self, prefs: object) -> None:
        """Images above the analyst's pixel limit are refused from now on."""
        self.max_pixels = getattr(prefs, "max_pixels", self.max_pixels)

    def run_preset(self, preset: object, evidence_ids: list[int]) -> bool:
        """A preset with similar-image search starts on the shown item: search with it."""
        if not getattr(preset, "search", False) or self.evidence is None or self.evidence.id not in evidence_ids:
            return False
        self.run_search()
        return True

    def menu_actions(self) -> list[QAction]:
        """The window's Search menu: selected videos become reference videos."""
        if self.host is None:
            return []
        action = QAction("Add selected &videos to the reference videos", self)
        action.triggered.connect(self.add_reference_videos)
        return [action]

    def add_reference_videos(self) -> Job | None:
        """The videos selected in the window become references of video copy detection (described
        now, in the background)."""
        from plugins.similarity.video_copy import default_sampling, store_for

        host = self.host
        if host is None:
            return None
        paths = [e.path for e in host.selected_evidence() if e.kind == "video"]
        if not paths:
            host.show_message("No video selected", "Select one or more videos in the evidence list.")
            return None
        case = host.case

        def add(job: Job) -> str:
            ctx = RunContext(job.report, job.cancel_event, resolve_device()[0])
            report = store_for(case.root).add(paths, default_sampling(), ctx)
            failed = "".join(f"\n{reason}" for reason in (report.failed or {}).values())
            summary = f"{report.added} reference video(s) added, {report.skipped} already there{failed}"
            case.log("index", summary)
            return summary

        return self.jobs.submit(f"Describing {len(paths)} reference video(s)", add,
                                on_done=lambda job: host.show_status(
                                    job.result if job.error is None else f"Failed: {job.error}", 10000))

    def _selection_changed(self) -> None:
        if self.evidence is None:
            self.query_label.setText("Select an evidence item to search with.")
            return
        rect = self.preview.selection
        where = f"rectangle {_rect_text(rect)}" if rect else "whole image"
        self.query_label.setText(f"{self.evidence.name} — {where}")

    def _update_count(self) -> None:
        if self.case is None:
            text = "No case open."
        elif self.collection is None and self.job is not None:
            text = "Opening the collection…"
        else:
            text = f"{self.indexed} image(s) indexed" + ("" if self.indexed else " — the collection is empty")
            if self.collection is not None:
                text += f" · vectors in {self.collection.index_location}"
        self.count_label.setText(text)

    def show_message(self, text: str, warning: bool = True, details: str = "") -> None:
        self.message.setText(text)
        self.message.setToolTip(details)
        self.message.setStyleSheet("color: #b00000;" if warning else "")
        self.install_button.hide()

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.add_case_button, self.add_folder_button, self.search_button):
            widget.setEnabled(not busy)
        for widget in (self.progress, self.cancel_button, self.progress_label):
            widget.setVisible(busy)
        if busy:
            self.progress.setValue(0)
            self.progress_label.clear()

    # -- jobs -----------------------------------------------------------------------------
    def _submit(self, title: str, work: Callable[[Collection, RunContext], Any],
                done: Callable[[Job], None]) -> Job | None:
        """Run `work(collection, ctx)` in the background, opening the collection there first."""
        if self.job is not None or self.case is None:
            return None
        case, collection, folder = self.case, self.collection, collection_folder(self.case.root)
        opened: list[Collection] = []

        def run(job: Job) -> Any:
            current = collection
            if current is None:
                current = open_collection(folder)
                opened.append(current)
            return work(current, RunContext(job.report, job.cancel_event, current.descriptor.device))

        def finished(job: Job) -> None:
            self._active.discard(job.id)
            if self.job is job:
                self.job = None
                self._set_busy(False)
            for made in opened:
                if self.case is case and self.collection is None:
                    self.collection = made
                else:
                    self._retire(made)
            if not self._active:
                for old in self._retired:
                    old.close()
                self._retired.clear()
            if self.case is case and self.collection is not None:
                self.indexed = self.collection.count()
            self._update_count()
            if self.case is case:
                done(job)

        self.job = self.jobs.submit(title, run, on_done=finished)
        self._active.add(self.job.id)
        self._set_busy(True)
        self._update_count()
        return self.job

    def _retire(self, collection: Collection) -> None:
        """Close a collection now, or once the job that may be using it has finished."""
        if not self._active:
            collection.close()
        else:
            self._retired.append(collection)

    def _job_changed(self, job: Job) -> None:
        if self.job is not None and job.id == self.job.id:
            self.progress.setValue(round(job.fraction * 1000))
            self.progress_label.setText(job.message)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.progress_label.setText("Cancelling…")

    def _job_failed(self, job: Job, what: str) -> bool:
        """Turn a job's error into a message; True when there was one."""
        error = job.error
        if error is None:
            return False
        if isinstance(error, Cancelled):
            self.show_message(f"{what} cancelled.", warning=False)
        elif isinstance(error, RerankerUnavailable):
            self.show_message(f"Re-ranking is unavailable: {model_message(error)}")
        elif isinstance(error, ModelUnavailable):
            self.show_message(f"The global descriptor's model is missing: {model_message(error)}")
            self._model_id = MODEL_ID
            self.install_button.show()
        elif isinstance(error, MediaError):
            self.show_message(f"{what} failed: {error}")
        else:
            self.show_message(f"{what} failed: {type(error).__name__}: {error}")
        return True

    # -- indexing -------------------------------------------------------------------------
    def add_case_evidence(self) -> Job | None:
        if self.case is None:
            self.show_message("No case is open: open or create a case first.")
            return None
        paths = [item.path for item in self.case.all_evidence()]
        if not paths:
            self.show_message("The case has no evidence yet: add files to the case first (File ▸ Add files).")
            return None
        return self.add_paths(paths)

    def choose_folder(self) -> Job | None:
        if self.case is None:
            self.show_message("No case is open: open or create a case first.")
            return None
        folder = QFileDialog.getExistingDirectory(self, "Index a folder of images and videos")
        return self.add_paths([folder]) if folder else None

    def add_paths(self, paths: list[str | Path]) -> Job | None:
        """Index files and folders as `workbench index` does (`add_media`): images into the collection,
        videos as its reference videos; files already there (unchanged) are skipped."""
        if self.case is None:
            self.show_message("No case is open: open or create a case first.")
            return None
        max_pixels = self.max_pixels
        self.show_message("")
        return self._submit(f"Indexing {len(paths)} item(s) for similar-image search",
                            lambda collection, ctx: add_media(collection, paths, ctx, max_pixels), self._indexed)

    def _indexed(self, job: Job) -> None:
        if self._job_failed(job, "Indexing"):
            if isinstance(job.error, Cancelled):
                self.show_message(f"Indexing cancelled: the {self.indexed} image(s) described so far stay indexed.",
                                  warning=False)
            return
        report: IndexReport = job.result
        self.last_report = report
        failed = report.failed
        summary = report.summary()
        if failed:
            details = describe_failures(failed)
            self.show_message(f"{summary}; {len(failed)} file(s) could not be indexed:\n{details}",
                              details="\n".join(f"{p}: {r}" for p, r in failed.items()))
        else:
            self.show_message(f"{summary}.", warning=False)

    # -- searching ------------------------------------------------------------------------
    def run_search(self) -> Job | None:
        if self.case is None:
            self.show_message("No case is open: open or create a case first.")
            return None
        if self.evidence is None:
            self.show_message("No evidence selected: select the item to search with in the evidence list.")
            return None
        if self.job is not None:
            self.show_message("Wait for the running job to finish (or cancel it).")
            return None
        if self.indexed == 0:
            self.show_message("The collection is empty: index images first (Add case evidence, or Add folder…).")
            return None
        case, evidence, rect = self.case, self.evidence, self.preview.selection
        k, rerank, max_pixels = self.k.value(), Rerank(self.rerank.currentData()), self.max_pixels
        self.show_message("")

        def work(collection: Collection, ctx: RunContext) -> SearchOutcome:
            ctx.progress(0.0, "reading the query")
            media = case.open_media(evidence, max_pixels)  # refuses a file changed since import
            rgb = media.pixels()
            crop = rgb if rect is None else rgb[rect[1]:rect[3], rect[0]:rect[2]]
            facts = facts_of(media)
            quality = facts.get("jpeg_quality")
            query = Query(np.ascontiguousarray(crop), evidence.name, media.width, media.height,
                          None if quality is None else int(quality), str(facts.get("taken") or ""),
                          str(facts.get("software") or ""), exclude_sha256=media.sha256)
            hits = search(collection, query, k, max(100, k), rerank, ctx.sub(0.0, 0.9))
            outcome = SearchOutcome(evidence, query, media.format, rect, rerank, hits, facts=facts)
            for n, hit in enumerate(hits):
                ctx.check_cancelled()
                ctx.progress(0.9 + 0.1 * n / len(hits), "thumbnails")
                outcome.thumbnails.append(thumbnail(hit.item.path, THUMB, max_pixels))
            return outcome

        return self._submit(f"Searching for images like {evidence.name}", work, self._searched)

    def _searched(self, job: Job) -> None:
        if self._job_failed(job, "Search"):
            return
        outcome: SearchOutcome = job.result
        self._show_results(outcome)
        if not outcome.hits:
            self.show_message("No similar image in the collection.", warning=False)

    def _show_results(self, outcome: SearchOutcome | None) -> None:
        self.outcome = outcome
        self.results.blockSignals(True)
        self.results.clear()
        self.results.blockSignals(False)
        self.match.clear()
        if outcome is None:
            self.results_label.setText("Results")
            return
        meaning = score_meaning(outcome.rerank)
        self.results_label.setText(f"{len(outcome.hits)} hit(s) for {outcome.query.label}, best first")
        for hit, thumb in zip(outcome.hits, outcome.thumbnails, strict=True):
            verified = f"{hit.inliers} inliers" if outcome.rerank is Rerank.SIFT else "not verified"
            text = f"#{hit.rank} · {hit.score:.3f}\n{verified}"
            if hit.near_duplicate:
                text += "\nnear-duplicate"
            item = QListWidgetItem(QIcon(_icon(thumb, hit.near_duplicate)), text)
            tip = [hit.item.path, f"{hit.item.width}×{hit.item.height} {hit.item.format}",
                   f"Score {hit.score:.3f}: {meaning}",
                   f"Global similarity {hit.global_sim:.3f}; perceptual-hash distance {hit.phash_bits} bits"]
            if hit.near_duplicate:
                tip.append(f"Near-duplicate: the perceptual hashes differ in at most {NEAR_DUPLICATE_BITS} bits")
            if thumb is None:
                tip.append("⚠ the file cannot be read any more")
            item.setToolTip("\n".join(tip))
            self.results.addItem(item)

    def show_hit(self, row: int) -> Job | None:
        """Load the hit's image in the background and show it beside the query."""
        if self.outcome is None or not 0 <= row < len(self.outcome.hits):
            return None
        if self.match_job is not None:
            self.match_job.cancel()
        outcome, hit, max_pixels = self.outcome, self.outcome.hits[row], self.max_pixels
        self.match.clear(f"Loading {Path(hit.item.path).name}…")

        def work(job: Job) -> MatchImage:
            media = open_media(hit.item.path, max_pixels=max_pixels)
            warning = "" if media.sha256 == hit.item.sha256 else (
                "this file changed since it was indexed: the match lines may not fit it; index it again")
            if job.cancelled():
                raise Cancelled()
            rgb = media.pixels()
            canvas, lines = side_by_side(outcome.query.rgb, rgb, match_lines(outcome.query.rgb, rgb, hit))
            return MatchImage(canvas, lines, warning)

        def done(job: Job) -> None:
            if job is not self.match_job:
                return
            self.match_job = None
            if self.outcome is not outcome or job.error is not None:
                if self.outcome is outcome and not isinstance(job.error, Cancelled):
                    self.match.clear(f"⚠ Cannot show {Path(hit.item.path).name}: {job.error}")
                return
            self.match.show_match(outcome, hit, job.result)

        self.match_job = self.jobs.submit(f"Loading {Path(hit.item.path).name}", work, on_done=done, listed=False)
        return self.match_job


def similar_images_panel(host: PanelHost) -> SearchPanel:
    """The window's "Similar images" dock (`Panel` factory): its jobs, pixel limit and model installer."""
    panel = SearchPanel(host.jobs, max_pixels=host.max_pixels)
    panel.host = host
    panel.installRequested.connect(host.install_model)
    return panel


def _icon(thumb: np.ndarray | None, near_duplicate: bool) -> QPixmap:
    """The thumbnail centred on a square, with a badge for near-duplicates."""
    icon = QPixmap(THUMB, THUMB)
    icon.fill(QColor(230, 230, 230))
    painter = QPainter(icon)
    if thumb is not None:
        image = to_pixmap(thumb)
        painter.drawPixmap((THUMB - image.width()) // 2, (THUMB - image.height()) // 2, image)
    else:
        painter.drawText(icon.rect(), Qt.AlignmentFlag.AlignCenter, "unreadable")
    if near_duplicate:
        badge = QRectF(2, THUMB - 20, THUMB - 4, 18)
        painter.fillRect(badge, QColor(200, 90, 0))
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "near-duplicate")
    painter.end()
    return icon

