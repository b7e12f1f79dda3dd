"""Adapts the Qt-free JobRunner to Qt signals delivered on the GUI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from workbench.app.jobs import Job, JobRunner


class QtJobs(QObject):
    """Submits jobs; progress and completion arrive as signals on the GUI thread.

    Worker threads emit the private signals; the queued connections to this object's slots
    hop to the GUI thread, where the public signals and `on_done` callbacks run.
    """

    started = Signal(object)  # Job
    changed = Signal(object)  # Job
    finished = Signal(object)  # Job
    _worker_changed = Signal(object)
    _worker_finished = Signal(object)

    def __init__(self, parent: QObject | None = None, workers: int = 2) -> None:
        super().__init__(parent)
        self._runner = JobRunner(workers)
        self.closed = False
        self.active: dict[int, Job] = {}
        self._on_done: dict[int, Callable[[Job], None]] = {}
        self._worker_changed.connect(self._relay_changed, Qt.ConnectionType.QueuedConnection)
        self._worker_finished.connect(self._relay_finished, Qt.ConnectionType.QueuedConnection)

    def submit(
        self,
        title: str,
        fn: Callable[[Job], Any],
        on_done: Callable[[Job], None] | None = None,
        listed: bool = True,
    ) -> Job:
        """Run `fn(job)` in the background; `listed=False` keeps housekeeping out of the job list."""
        job = self._runner.submit(title, fn, on_change=self._worker_changed.emit,
                                  on_done=self._worker_finished.emit)
        self.active[job.id] = job
        if on_done is not None:
            self._on_done[job.id] = on_done
        if listed:
            self.started.emit(job)
        return job

    @Slot(object)
    def _relay_changed(self, job: Job) -> None:
        self.changed.emit(job)

    @Slot(object)
    def _relay_finished(self, job: Job) -> None:
        self.active.pop(job.id, None)
        callback = self._on_done.pop(job.id, None)
        if callback is not None:
            callback(job)
        self.finished.emit(job)

    def shutdown(self) -> None:
        self.closed = True
        self._runner.shutdown(cancel=list(self.active.values()))
