"""Running a plan on one evidence item: side by side on an image, stored in plan order, progress as
one fraction, and the same results as one analyzer at a time."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from plugins.localization.common import per_image
from workbench.app import analysis
from workbench.app.analysis import Planned, analyze
from workbench.app.case import Case
from workbench.core import registry
from workbench.core.device import usable_cores
from workbench.core.media import Media
from workbench.core.plugin import Analyzer, RunContext
from workbench.core.results import Heatmap, Result, Status


@dataclass
class NoParams:
    pass


class Rendezvous(Analyzer):
    """Records when it starts; with a barrier, waits until the barrier's other party runs too (and
    fails after a timeout if it never does)."""

    title = "Rendezvous"
    version = "1"
    Params = NoParams
    card_file = Path(__file__)

    def __init__(self, name: str, cost: float, barrier: threading.Barrier | None, started: list[str]) -> None:
        self.id, self.cost_per_mp, self.barrier, self.started = name, cost, barrier, started

    def run(self, media: Media, params: NoParams, ctx: RunContext) -> Result:
        self.started.append(self.id)
        ctx.progress(0.5, "waiting")
        if self.barrier is not None:
            self.barrier.wait(timeout=20)
        return Result(self.id, Status.OK, "")


def planned(analyzer: Analyzer) -> Planned:
    return Planned(analyzer, analyzer.params_from({}))


@pytest.mark.skipif(usable_cores() < 2, reason="needs two cores to run analyzers side by side")
def test_image_analyses_run_side_by_side_costliest_first(case: Case, jpeg_photo: Path) -> None:
    evidence = case.add_evidence(jpeg_photo)
    barrier, started = threading.Barrier(2), []
    cheap = Rendezvous("cheap", 0.01, None, started)
    costly, middling = (Rendezvous(name, cost, barrier, started) for name, cost in (("costly", 5.0), ("mid", 1.0)))
    seen: list[float] = []
    runs = analyze(case, evidence, [planned(a) for a in (cheap, costly, middling)], lambda f, m: seen.append(f))
    assert [r.result.analyzer for r in runs] == ["cheap", "costly", "mid"]  # stored in plan order
    assert set(started[:2]) == {"costly", "mid"}  # started first, and each waited for the other
    assert [r.result.status for r in runs] == [Status.OK] * 3
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    assert [r.result.analyzer for r in case.latest_runs(evidence.id)] == ["cheap", "costly", "mid"]


def slow_shared_value(media: Media, ready: threading.Event) -> str:
    """A value shared per image whose computation lasts until `ready` is set (fails after a timeout)."""
    if not ready.wait(timeout=20):
        raise TimeoutError("nothing set ready while the value was computed")
    return "shared"


class Sharer(Rendezvous):
    """Reads `slow_shared_value` (or, with `releases`, sets it ready) and returns it as its message."""

    def __init__(self, name: str, cost: float, ready: threading.Event, started: list[str], releases: bool = False):
        super().__init__(name, cost, None, started)
        self.ready, self.releases = ready, releases

    def run(self, media: Media, params: NoParams, ctx: RunContext) -> Result:
        self.started.append(self.id)
        if self.releases:
            self.ready.set()
            return Result(self.id, Status.OK, "released")
        return Result(self.id, Status.OK, per_image(slow_shared_value, media, self.ready))


@pytest.mark.skipif(usable_cores() < 2, reason="needs two cores to run analyzers side by side")
def test_a_thread_waiting_for_a_shared_value_runs_the_next_analysis(case: Case, jpeg_photo: Path) -> None:
    """The two costliest both need a value one of them computes; the cheapest, queued behind them, is
    the one that lets the computation finish: it only runs if the waiting thread takes it meanwhile."""
    evidence = case.add_evidence(jpeg_photo)
    ready, started = threading.Event(), []
    plan = [Sharer("first", 5.0, ready, started), Sharer("second", 1.0, ready, started),
            Sharer("release", 0.01, ready, started, releases=True)]
    runs = analyze(case, evidence, [planned(a) for a in plan])
    assert [(r.result.analyzer, r.result.status, r.result.message) for r in runs] == [
        ("first", Status.OK, "shared"), ("second", Status.OK, "shared"), ("release", Status.OK, "released")]
    assert started[-1] == "release"


def test_side_by_side_results_equal_one_at_a_time(case: Case, jpeg_photo: Path) -> None:
    evidence = case.add_evidence(jpeg_photo)
    names = ["ela", "ela_sweep", "jpeg_ghost", "blk", "noise_median"]
    together = analyze(case, evidence, [planned(registry.get(n)) for n in names])
    for name, run in zip(names, together, strict=True):
        [alone] = analyze(case, evidence, [planned(registry.get(name))])
        assert run.result.status is Status.OK and alone.result.analyzer == name
        np.testing.assert_array_equal(case.run(run.id).result.map, case.run(alone.id).result.map)
        assert run.result.score == alone.result.score and run.result.stats == alone.result.stats


def test_a_job_dropped_at_shutdown_ends_with_an_error() -> None:
    """Jobs still queued when the runner shuts down report an error to their listener, not a
    success without a result (a listener reading `job.result` would take None for an answer)."""
    import threading
    from concurrent.futures import CancelledError

    from workbench.app.jobs import JobRunner

    runner, release, seen = JobRunner(workers=1), threading.Event(), []
    runner.submit("blocker", lambda job: release.wait(5))
    queued = runner.submit("queued", lambda job: "never", on_done=seen.append)
    threading.Timer(0.2, release.set).start()
    runner.shutdown()
    assert seen == [queued] and queued.done and isinstance(queued.error, CancelledError) and queued.result is None


class Logger(Rendezvous):
    """Logs its start (with the number of results its item has stored then) and its end; gives a map."""

    def __init__(self, name: str, cost: float, case: Case, log: list[tuple[str, ...]]) -> None:
        super().__init__(name, cost, None, [])
        self.case, self.log = case, log

    def run(self, media: Media, params: NoParams, ctx: RunContext) -> Result:
        [item] = [e for e in self.case.all_evidence() if e.sha256 == media.sha256]
        self.log.append(("start", self.id, str(len(self.case.latest_runs(item.id)))))
        time.sleep(0.05)  # time for another thread to start meanwhile, were it allowed to
        self.log.append(("end", self.id))
        return Heatmap(self.id, map=np.zeros((4, 4), np.float32))


def test_a_large_image_is_analysed_one_analyzer_at_a_time_each_result_stored_before_the_next(
    case: Case, jpeg_photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(analysis, "LARGE_PIXELS", 512 * 512 - 1)
    evidence = case.add_evidence(jpeg_photo)
    log: list[tuple[str, ...]] = []
    runs = analyze(case, evidence, [planned(Logger(name, cost, case, log)) for name, cost in
                                    (("a", 0.01), ("b", 5.0), ("c", 1.0))])
    assert log == [("start", "a", "0"), ("end", "a"), ("start", "b", "1"), ("end", "b"), ("start", "c", "2"),
                   ("end", "c")]
    assert [r.result.analyzer for r in runs] == ["a", "b", "c"]
    assert all(r.result.map is None and Path(r.arrays["map"]).is_file() for r in runs)  # paths, not arrays


def test_two_large_images_take_turns(case: Case, jpeg_photo: Path, png_image: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """As with the GUI's two job workers: the second large image waits for the first (and says so)."""
    monkeypatch.setattr(analysis, "LARGE_PIXELS", 0)
    log: list[tuple[str, ...]] = []
    said: list[str] = []
    jobs = [threading.Thread(target=analyze, args=(case, case.add_evidence(path),
                                                   [planned(Logger(f"{tag}{i}", 1.0, case, log)) for i in range(2)],
                                                   lambda _f, message: said.append(message)))
            for tag, path in (("x", jpeg_photo), ("y", png_image))]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=30)
    order = [entry[1][0] for entry in log]
    assert len(order) == 8 and order in (["x"] * 4 + ["y"] * 4, ["y"] * 4 + ["x"] * 4), log
    assert "waiting: another large image is being analysed" in said


def test_cancelled_while_waiting_for_its_turn(case: Case, jpeg_photo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analysis, "LARGE_PIXELS", 0)
    evidence = case.add_evidence(jpeg_photo)
    cancel = threading.Event()
    log: list[tuple[str, ...]] = []
    with analysis._LARGE_IMAGE_TURN:  # another large image is being analysed
        waiting = threading.Thread(target=lambda: log.extend(
            ("run", r.result.status.value) for r in analyze(case, evidence, [planned(Logger("a", 1.0, case, log))],
                                                             cancel_event=cancel)))
        waiting.start()
        time.sleep(0.3)
        cancel.set()
        waiting.join(timeout=10)
    assert log == [("run", "cancelled")]
