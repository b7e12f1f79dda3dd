"""Running chosen analyzers on one evidence item and storing the results: the single code
path behind the GUI's Run button and `workbench analyze`."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from workbench.app.case import Case, Evidence, Run
from workbench.core.device import resolve_device, usable_cores
from workbench.core.frames import FrameSampling, PerFrame, runs_on_frames
from workbench.core.media import DEFAULT_MAX_PIXELS, Media, MediaError, MediaKind
from workbench.core.memory import large_arrays_mapped, release_freed_memory
from workbench.core.plugin import Analyzer, RunContext, run_analyzer
from workbench.core.results import Result, Status
from workbench.core.waiting import lending


@dataclass
class Planned:
    """An analyzer with validated parameters, ready to run."""

    analyzer: Analyzer
    params: Any


LARGE_PIXELS = 24_000_000
"""Above this many pixels an image's analyzers run one at a time, each result is stored (and its
arrays let go) before the next starts, and only one such image is analysed at a time in the
process (the GUI has two job workers). Why: one analyzer of a 100-MP image needs 1–2 GB; side by
side, with every result kept until the end, Triage took 8 GB (bench/big_image.py)."""

_LARGE_IMAGE_TURN = threading.Lock()


def analyze(
    case: Case,
    evidence: Evidence,
    plan: list[Planned],
    progress: Callable[[float, str], None] | None = None,
    cancel_event: threading.Event | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    sampling: FrameSampling | None = None,
) -> list[Run]:
    """Run the planned analyzers (`iter_plan`); every outcome (even a failure) is stored, in plan
    order, as soon as it and those before it are done, and logged.

    The runs returned carry their arrays' paths (`Run.arrays`), not the arrays: a 100-MP image's maps
    would hold gigabytes (`case.run(run.id)` loads them).
    """
    cancel_event = cancel_event or threading.Event()
    with _turn(evidence.width * evidence.height, progress, cancel_event):
        try:
            if cancel_event.is_set():  # while waiting for its turn: not even decoded
                results: Iterator[Result] = (Result(p.analyzer.id, Status.CANCELLED, "cancelled by the user")
                                             for p in plan)
            else:
                results = iter_plan(case.open_media(evidence, max_pixels=max_pixels), plan, progress,
                                    cancel_event, sampling, case.root)
        except MediaError as exc:
            results = iter([Result(p.analyzer.id, Status.ERROR, str(exc)) for p in plan])
        runs = []
        for result in results:
            runs.append(_without_arrays(case.save_result(evidence.id, result)))
            del result  # its arrays go before the next analysis runs, not when the loop takes its result
        return runs


@contextmanager
def _turn(pixels: int, progress: Callable[[float, str], None] | None,
          cancel_event: threading.Event) -> Iterator[None]:
    """Wait (cancellably) until no other large image is being analysed, when this one is large."""
    if pixels <= LARGE_PIXELS:
        yield
        return
    if not _LARGE_IMAGE_TURN.acquire(blocking=False):
        if progress is not None:
            progress(0.0, "waiting: another large image is being analysed")
        while not _LARGE_IMAGE_TURN.acquire(timeout=0.2):
            if cancel_event.is_set():
                yield  # every analyzer then reports itself cancelled
                return
    try:
        with large_arrays_mapped():
            yield
    finally:
        _LARGE_IMAGE_TURN.release()


def _without_arrays(run: Run) -> Run:
    return replace(run, result=run.result.without_arrays())


def run_plan(
    media: Media,
    plan: list[Planned],
    progress: Callable[[float, str], None] | None = None,
    cancel_event: threading.Event | None = None,
    sampling: FrameSampling | None = None,
    case_root: Path | None = None,
) -> list[Result]:
    """The planned analyzers' results on one media, in plan order (`iter_plan`)."""
    return list(iter_plan(media, plan, progress, cancel_event, sampling, case_root))


def iter_plan(
    media: Media,
    plan: list[Planned],
    progress: Callable[[float, str], None] | None = None,
    cancel_event: threading.Event | None = None,
    sampling: FrameSampling | None = None,
    case_root: Path | None = None,
) -> Iterator[Result]:
    """The planned analyzers' results on one media, in plan order.

    On an image they run side by side on the shared `analyzer_pool`, costliest first, so one image
    uses every core; a thread that would wait for a value another analysis is computing (a shared
    re-save, the luma) runs the next queued analysis meanwhile. On an image of more than
    LARGE_PIXELS they run one at a time, each result handed over before the next starts (and the
    memory it freed returned to the system). On a video, an analyzer made for images runs on the
    frames `sampling` picks (default: one per second) and gives a per-frame `Series`; video
    analyses run one after another (each decodes the video itself).
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

    large = media.width * media.height > LARGE_PIXELS
    if media.kind is not MediaKind.IMAGE or len(plan) < 2 or large:
        for i in range(len(plan)):
            if large:  # what the decode, or the analysis before and its stored result, left
                release_freed_memory()
            yield run(i)
        return
    media.pixels()  # decoded once, before the workers share it
    queue = _Queue(sorted(range(len(plan)), key=lambda i: -plan[i].analyzer.cost_per_mp), run)
    workers = [analyzer_pool().submit(queue.drain) for _ in range(min(usable_cores(), len(plan)))]
    for worker in workers:
        worker.result()
    yield from queue.results()


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
