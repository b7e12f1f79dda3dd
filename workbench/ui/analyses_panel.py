"""The analysis checklist (one group per analyzer, with its parameter form) and the job list."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from workbench.app.analysis import Planned
from workbench.app.cards import card_sections
from workbench.app.jobs import Job
from workbench.core import registry
from workbench.core.frames import FrameSampling, SamplingMode
from workbench.ui.param_form import ParamForm


class AnalysesPanel(QWidget):
    """Pick analyzers, set parameters, run them on the selected evidence or on all of it."""

    runRequested = Signal(bool)  # True = all evidence

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.groups: dict[str, QGroupBox] = {}
        self.forms: dict[str, ParamForm] = {}
        inner = QWidget()
        inner_layout = QVBoxLayout(inner)
        for analyzer_id, analyzer in registry.analyzers().items():
            group = QGroupBox(analyzer.title)
            group.setCheckable(True)
            group.setToolTip(card_sections(analyzer.card).get("What it shows", ""))
            form = ParamForm(analyzer.Params)
            box = QVBoxLayout(group)
            box.setContentsMargins(2, 2, 2, 2)
            box.addWidget(form)
            self.groups[analyzer_id], self.forms[analyzer_id] = group, form
            inner_layout.addWidget(group)
        self.refresh_readiness()
        for spec, reason in registry.load_errors().items():
            broken = QLabel(f"⚠ plugin {spec} failed to load: {reason}")
            broken.setWordWrap(True)
            inner_layout.addWidget(broken)
        inner_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)

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
        frames_row = QHBoxLayout()
        frames_row.addWidget(QLabel("Videos: image analyses on"))
        frames_row.addWidget(self.frame_mode, 1)
        frames_row.addWidget(self.frame_interval)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_selected)
        buttons.addWidget(self.run_all)

        self.jobs = JobsList()
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addLayout(frames_row)
        layout.addLayout(buttons)
        layout.addWidget(self.jobs)

    def refresh_readiness(self) -> None:
        """Tick the analyzers that can run; name the ones whose model is not installed."""
        for analyzer_id, group in self.groups.items():
            analyzer = registry.get(analyzer_id)
            ready = registry.ready(analyzer)
            group.setChecked(ready)
            group.setTitle(analyzer.title if ready else f"{analyzer.title} (model not installed)")

    def set_only(self, analyzer_ids: set[str]) -> None:
        """Tick exactly these analyzers."""
        for analyzer_id, group in self.groups.items():
            group.setChecked(analyzer_id in analyzer_ids)

    def plan(self) -> list[Planned]:
        """The ticked analyzers with validated parameters (raises ValueError with the reason)."""
        plan = []
        for analyzer_id, group in self.groups.items():
            if group.isChecked():
                analyzer = registry.get(analyzer_id)
                values: dict[str, Any] = self.forms[analyzer_id].values()
                plan.append(Planned(analyzer, analyzer.params_from(values)))
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
