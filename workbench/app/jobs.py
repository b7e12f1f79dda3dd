"""Qt-free background jobs with progress and cancellation (the GUI adapts them to signals)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

Listener = Callable[["Job"], None]


@dataclass
class Job:
    """One unit of background work. `fn(job)` reports through `job.report` and polls `job.cancelled`."""

    id: int
    title: str
    fn: Callable[[Job], Any]
    fraction: float = 0.0
    message: str = ""
    result: Any = None
    error: BaseException | None = None
    done: bool = False
    cancel_event: threading.Event = field(default_factory=threading.Event)
    _on_change: Listener | None = field(default=None, repr=False)

    def report(self, fraction: float, message: str = "") -> None:
        self.fraction, self.message = fraction, message
        if self._on_change:
            self._on_change(self)

    def cancel(self) -> None:
        self.cancel_event.set()

    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


class JobRunner:
    """Runs jobs on worker threads; listeners are called from those threads."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="workbench-job")
        self._ids = itertools.count(1)

    def submit(
        self,
        title: str,
        fn: Callable[[Job], Any],
        on_change: Listener | None = None,
        on_done: Listener | None = None,
    ) -> Job:
        job = Job(next(self._ids), title, fn, _on_change=on_change)
        future = self._pool.submit(self._execute, job)
        future.add_done_callback(lambda f: self._finished(job, f, on_done))
        return job

    @staticmethod
    def _finished(job: Job, future: Future, on_done: Listener | None) -> None:
        """A job dropped before it started (at shutdown) ends with an error, never as a success
        without a result."""
        if future.cancelled():
            job.error, job.done = CancelledError(f"{job.title}: cancelled before it started"), True
        if on_done:
            on_done(job)

    @staticmethod
    def _execute(job: Job) -> None:
        try:
            job.result = job.fn(job)
        except BaseException as exc:  # noqa: BLE001 - surfaced to the user through job.error
            job.error = exc
        finally:
            job.done = True

    def shutdown(self, cancel: list[Job] | None = None) -> None:
        for job in cancel or []:
            job.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

