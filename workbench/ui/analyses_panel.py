"""What runs: a preset (Triage by default), the analyzers that apply to the selected items (tick any),
each one's parameters, and the running jobs."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.app.analysis import Planned
from workbench.app.cards import card_sections
from workbench.app.jobs import Job
from workbench.core import registry
from workbench.core.frames import FrameSampling, SamplingMode, applies_to
from workbench.core.media import MediaKind
from workbench.core.presets import DEFAULT_PRESET, PRESETS, Preset, plan_ids
from workbench.ui.param_form import ParamForm
from workbench.ui.wheel_guard import guard_wheel

CUSTOM = "custom"
NOT_INSTALLED = " (model not installed)"


class AnalysesPanel(QWidget):
    """Pick a preset or tick analyzers, set parameters; the Run actions live in the window's toolbar."""

    runRequested = Signal(bool)  # True = all evidence

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kinds: set[MediaKind] = {MediaKind.IMAGE}
        self.formats: set[str] = set()
        """File formats of the selected items ("": not known); analyzers reading one format follow them."""
        self.items: dict[str, QListWidgetItem] = {}
        self.forms: dict[str, ParamForm] = {}
        self.preset = QComboBox()
        self.preset.setToolTip("A named set of analyses; ticking others makes it a custom choice")
        for p in PRESETS.values():
            self.preset.addItem(p.title, p.name)
        self.preset.addItem("Custom", CUSTOM)
        self.preset.currentIndexChanged.connect(self._preset_changed)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #555;")

        self.list = QListWidget()
        self.params = QStackedWidget()
        self.params.addWidget(QLabel("Select an analysis to see its parameters."))
        for analyzer_id, analyzer in registry.analyzers().items():
            item = QListWidgetItem(analyzer.title)
            item.setData(Qt.ItemDataRole.UserRole, analyzer_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            item.setToolTip(card_sections(analyzer.card).get("What it shows", ""))
            self.list.addItem(item)
            self.items[analyzer_id] = item
            form = ParamForm(analyzer.Params)
            self.forms[analyzer_id] = form
            self.params.addWidget(form)
        self.list.itemChanged.connect(self._ticked)
        self.list.currentItemChanged.connect(self._show_params)
        for spec, reason in registry.load_errors().items():
            broken = QListWidgetItem(f"⚠ plugin {spec} failed to load: {reason}")
            broken.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(broken)
        select_all, select_none = QPushButton("All"), QPushButton("None")
        select_all.clicked.connect(lambda: self.set_only({i for i in self.items if self._offered(i)}))
        select_none.clicked.connect(lambda: self.set_only(set()))
        self.run_selected = QPushButton("Run on selected")
        self.run_all = QPushButton("Run on all evidence")
        self.run_selected.clicked.connect(lambda: self.runRequested.emit(False))
        self.run_all.clicked.connect(lambda: self.runRequested.emit(True))

        self.frame_mode = QComboBox()
        self.frame_mode.addItem("one frame every", SamplingMode.INTERVAL)
        self.frame_mode.addItem("first frame of each scene", SamplingMode.SCENES)
        self.frame_interval = QDoubleSpinBox()
        self.frame_interval.setRange(0.04, 3600.0)
        self.frame_interval.setValue(1.0)
        self.frame_interval.setSuffix(" s")
        self.frame_mode.currentIndexChanged.connect(
            lambda: self.frame_interval.setEnabled(self.frame_mode.currentData() is SamplingMode.INTERVAL))

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        choose = QHBoxLayout()
        choose.addWidget(QLabel("Preset"))
        choose.addWidget(self.preset, 1)
        choose.addWidget(select_all)
        choose.addWidget(select_none)
        top_layout.addLayout(choose)
        top_layout.addWidget(self.description)
        top_layout.addWidget(self.list, 1)
        params_scroll = QScrollArea()
        params_scroll.setWidgetResizable(True)
        params_scroll.setWidget(self.params)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(params_scroll)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        frames_row = QHBoxLayout()
        frames_row.addWidget(QLabel("Videos: on"))
        frames_row.addWidget(self.frame_mode, 1)
        frames_row.addWidget(self.frame_interval)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_selected)
        buttons.addWidget(self.run_all)

        self.jobs = JobsList()
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addLayout(frames_row)
        layout.addLayout(buttons)
        layout.addWidget(self.jobs)
        guard_wheel(self)
        self.refresh_readiness()
        self.preset.setCurrentIndex(self.preset.findData(DEFAULT_PRESET))
        self.set_kinds(self.kinds)

    # -- what is offered ------------------------------------------------------------------------
    def _offered(self, analyzer_id: str) -> bool:
        analyzer = registry.get(analyzer_id)
        formats_ok = not self.formats or not analyzer.formats or bool(self.formats & analyzer.formats)
        return formats_ok and any(applies_to(analyzer, kind) for kind in self.kinds)

    def set_kinds(self, kinds: set[MediaKind], formats: set[str] | None = None) -> None:
        """Offer only the analyzers that apply to the selected items' kinds and file formats; a preset
        is re-applied."""
        self.kinds = kinds or {MediaKind.IMAGE}
        self.formats = formats or set()
        self.list.blockSignals(True)
        for analyzer_id, item in self.items.items():
            offered = self._offered(analyzer_id)
            item.setHidden(not offered)
            if not offered:
                item.setCheckState(Qt.CheckState.Unchecked)
        self.list.blockSignals(False)
        if self.current_preset() is not None:
            self._preset_changed()

    def refresh_readiness(self) -> None:
        """Name the analyzers whose model is not installed (after an install or removal)."""
        for analyzer_id, item in self.items.items():
            analyzer = registry.get(analyzer_id)
            ready = registry.ready(analyzer)
            item.setText(analyzer.title if ready else analyzer.title + NOT_INSTALLED)
            item.setData(Qt.ItemDataRole.UserRole + 1, ready)
        if self.current_preset() is not None:
            self._preset_changed()

    # -- choosing -------------------------------------------------------------------------------
    def current_preset(self) -> Preset | None:
        name = self.preset.currentData()
        return PRESETS.get(name) if name != CUSTOM else None

    def choose_preset(self, name: str) -> None:
        self.preset.setCurrentIndex(self.preset.findData(name))

    def _preset_changed(self) -> None:
        chosen = self.current_preset()
        if chosen is None:
            self.description.setText("Your own choice of analyses.")
            return
        ids, left_out = plan_ids(chosen.name, self.kinds, formats=self.formats or None)
        missing = sorted(i for i, why in left_out.items() if why == "model not installed")
        note = f" Not run (model not installed): {', '.join(missing)}." if missing else ""
        self.description.setText(chosen.description + note)
        self._tick(set(ids))

    def _tick(self, analyzer_ids: set[str]) -> None:
        self.list.blockSignals(True)
        for analyzer_id, item in self.items.items():
            on = analyzer_id in analyzer_ids and not item.isHidden()
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.list.blockSignals(False)

    def set_only(self, analyzer_ids: set[str]) -> None:
        """Tick exactly these analyzers (a custom choice)."""
        self.preset.blockSignals(True)
        self.preset.setCurrentIndex(self.preset.findData(CUSTOM))
        self.preset.blockSignals(False)
        self._preset_changed()
        self._tick(analyzer_ids)

    def is_checked(self, analyzer_id: str) -> bool:
        return self.items[analyzer_id].checkState() == Qt.CheckState.Checked

    def _ticked(self, item: QListWidgetItem) -> None:
        if item.data(Qt.ItemDataRole.UserRole) in self.items and self.current_preset() is not None:
            ticked = {i for i in self.items if self.is_checked(i)}
            self.set_only(ticked)

    def _show_params(self, item: QListWidgetItem | None) -> None:
        analyzer_id = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        self.params.setCurrentWidget(self.forms.get(analyzer_id, self.params.widget(0)))

    def plan(self) -> list[Planned]:
        """The ticked analyzers with validated parameters (raises ValueError with the reason)."""
        plan = []
        for analyzer_id in self.items:
            if self.is_checked(analyzer_id):
                analyzer = registry.get(analyzer_id)
                plan.append(Planned(analyzer, analyzer.params_from(self.forms[analyzer_id].values())))
        return plan

    def sampling(self) -> FrameSampling:
        """Which frames of a video the image analyzers see."""
        return FrameSampling(self.frame_mode.currentData(), every_s=self.frame_interval.value())


class JobRow(QWidget):
    def __init__(self, job: Job, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.label = QLabel(job.title)
        self.label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(self._cancel)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.addWidget(self.label)
        layout.addLayout(row)

    def _cancel(self) -> None:
        self.job.cancel()
        self.cancel.setEnabled(False)
        self.label.setText(f"{self.job.title}: cancelling…")

    def update_from_job(self) -> None:
        self.bar.setValue(int(self.job.fraction * 1000))
        if not self.job.cancelled():
            self.label.setText(f"{self.job.title}: {self.job.message}" if self.job.message else self.job.title)


class JobsList(QWidget):
    """A progress bar and a cancel button per running job."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: dict[int, JobRow] = {}
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setAlignment(Qt.AlignmentFlag.AlignTop)

    def add(self, job: Job) -> None:
        row = JobRow(job)
        self.rows[job.id] = row
        self._layout.addWidget(row)

    def update_job(self, job: Job) -> None:
        if job.id in self.rows:
            self.rows[job.id].update_from_job()

    def remove(self, job: Job) -> None:
        row = self.rows.pop(job.id, None)
        if row is not None:
            row.setParent(None)
            row.deleteLater()
