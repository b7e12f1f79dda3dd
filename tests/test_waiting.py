"""Waiting for a shared value: queued work runs meanwhile, except on a thread that is itself
computing a shared value (one of the queued analyses could be waiting for it)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future

from workbench.core.waiting import computing_shared, lending, wait_for


def later(value: str, after: list[str]) -> tuple[Future[str], Callable[[], bool]]:
    """A future, and a queue of one job that records itself and completes the future."""
    future: Future[str] = Future()
    queue = ["job"]

    def run_one_queued() -> bool:
        if not queue:
            return False
        after.append(queue.pop())
        future.set_result(value)
        return True

    return future, run_one_queued


def test_waiting_runs_queued_work_until_the_value_is_ready() -> None:
    ran: list[str] = []
    future, run_one_queued = later("v", ran)
    with lending(run_one_queued):
        assert wait_for(future) == "v"
    assert ran == ["job"]


def test_no_queued_work_while_computing_a_shared_value() -> None:
    ran: list[str] = []
    future, run_one_queued = later("v", ran)
    threading.Timer(0.05, future.set_result, ["from elsewhere"]).start()
    with lending(run_one_queued), computing_shared():
        assert wait_for(future) == "from elsewhere"
    assert ran == []


def test_without_a_lender_it_just_waits() -> None:
    future: Future[str] = Future()
    threading.Timer(0.05, future.set_result, ["v"]).start()
    assert wait_for(future) == "v"
