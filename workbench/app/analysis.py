"""Running chosen analyzers on one evidence item and storing the results: the single code
path behind the GUI's Run button and `workbench analyze`."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.app.case import Case, Evidence, Run
from workbench.core.device import resolve_device, usable_cores
from workbench.core.frames import FrameSampling, PerFrame, runs_on_frames
from workbench.core.media import DEFAULT_MAX_PIXELS, Media, MediaError, MediaKind
from workbench.core.plugin import Analyzer, RunContext, run_analyzer
from workbench.core.results import Result, Status
from workbench.core.waiting import lending


@dataclass
class Planned:
    """An analyzer with validated parameters, ready to run."""

    analyzer: Analyzer
    params: Any


def analyze(
    case: Case,
    evidence: Evidence,
    plan: list[Planned],
    progress: Callable[[float, str], None] | None = None,
    cancel_event: threading.Event | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    sampling: FrameSampling | None = None,
) -> list[Run]:
    """Run the planned analyzers (`run_plan`); every outcome (even a failure) is stored, in plan
    order, and logged."""
    try:
        media = case.open_media(evidence, max_pixels=max_pixels)
    except MediaError as exc:
        return [case.save_result(evidence.id, Result(p.analyzer.id, Status.ERROR, str(exc))) for p in plan]
    results = run_plan(media, plan, progress, cancel_event, sampling, case.root)
    return [case.save_result(evidence.id, result) for result in results]


def run_plan(
    media: Media,
    plan: list[Planned],
    progress: Callable[[float, str], None] | None = None,
    cancel_event: threading.Event | None = None,
    sampling: FrameSampling | None = None,
    case_root: Path | None = None,
) -> list[Result]:
    """The planned analyzers' results on one media, in plan order.

    On an image they run side by side on the shared `analyzer_pool`, costliest first, so one image
    uses every core; a thread that would wait for a value another analysis is computing (a shared
    re-save, the luma) runs the next queued analysis meanwhile. On a video, an analyzer made for
    images runs on the frames `sampling` picks (default: one per second) and gives a per-frame
    `Series`; video analyses run one after another (each decodes the video itself).
    """
    cancel_event = cancel_event or threading.Event()
    device = resolve_device()[0] if any(p.analyzer.needs_device for p in plan) else "cpu"
    meter = _Progress(len(plan), progress)

    def run(i: int) -> Result:
        item = plan[i]
        if cancel_event.is_set():
            return Result(item.analyzer.id, Status.CANCELLED, "cancelled by the user")
        analyzer = item.analyzer
        if media.kind is MediaKind.VIDEO and runs_on_frames(analyzer):
            analyzer = PerFrame(analyzer, sampling)
        step = meter.step(i, item.analyzer.title)
        ctx = RunContext(step, cancel_event, device if item.analyzer.needs_device else "cpu", case_root)
        result = run_analyzer(analyzer, media, item.params, ctx)
        step(1.0, "")
        return result

    if media.kind is not MediaKind.IMAGE or len(plan) < 2:
        return [run(i) for i in range(len(plan))]
    media.pixels()  # decoded once, before the workers share it
    queue = _Queue(sorted(range(len(plan)), key=lambda i: -plan[i].analyzer.cost_per_mp), run)
    workers = [analyzer_pool().submit(queue.drain) for _ in range(min(usable_cores(), len(plan)))]
    for worker in workers:
        worker.result()
    return queue.results()


class _Queue:
    """The analyses of one image, taken in order by the pool's threads; a thread that waits for a
    value another analysis is computing runs the next one meanwhile (`workbench.core.waiting`)."""

    def __init__(self, order: list[int], run: Callable[[int], Result]) -> None:
        self._order = deque(order)
        self._run = run
        self._done: dict[int, Result] = {}
        self._lock = threading.Lock()

    def run_one(self) -> bool:
        """Run the next queued analysis to its end; False when none is left."""
        with self._lock:
            if not self._order:
                return False
            i = self._order.popleft()
        self._done[i] = self._run(i)
        return True

    def drain(self) -> None:
        with lending(self.run_one):
            while self.run_one():
                pass

    def results(self) -> list[Result]:
        return [self._done[i] for i in sorted(self._done)]


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def analyzer_pool() -> ThreadPoolExecutor:
    """One thread per usable core, shared by every analysis of the process: the analyzers of one
    image run side by side (numpy and OpenCV release the GIL), and images analysed at the same time
    share the cores instead of multiplying the threads."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=usable_cores(), thread_name_prefix="workbench-analyzer")
        return _POOL


class _Progress:
    """The progress of analyzers running side by side, reported as one fraction: their mean."""

    def __init__(self, count: int, report: Callable[[float, str], None] | None) -> None:
        self._fractions = [0.0] * count
        self._report = report
        self._lock = threading.Lock()

    def step(self, i: int, title: str) -> Callable[[float, str], None]:
        """The progress callback of the i-th analyzer."""

        def report(fraction: float, message: str) -> None:
            if self._report is None:
                return
            with self._lock:
                self._fractions[i] = max(self._fractions[i], min(max(fraction, 0.0), 1.0))
                overall = sum(self._fractions) / len(self._fractions)
                self._report(overall, f"{title}: {message}" if message else title)

        return report
