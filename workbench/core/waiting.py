"""Waiting for a value another analyzer is computing without leaving a core idle.

Analyzers run side by side share values derived from the image (re-saves, luma, JPEG coefficients);
when one needs a value another is still computing, its thread would sleep while queued analyses wait
for a free thread. The runner (`workbench.app.analysis.run_plan`) lends each of its threads a way to
run one queued analysis; `wait_for` uses it while the value is not ready.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_LOCAL = threading.local()


@contextmanager
def computing_shared() -> Iterator[None]:
    """Marks the calling thread as computing a value others may wait for: while it does, it runs no
    queued analysis (one of those could wait for that very value, which only this thread completes)."""
    _LOCAL.computing = getattr(_LOCAL, "computing", 0) + 1
    try:
        yield
    finally:
        _LOCAL.computing -= 1


@contextmanager
def lending(run_one_queued: Callable[[], bool]) -> Iterator[None]:
    """While inside, `wait_for` on this thread may call `run_one_queued` (which runs one queued
    analysis to its end and returns True, or returns False when none is left)."""
    previous = getattr(_LOCAL, "run_one_queued", None)
    _LOCAL.run_one_queued = run_one_queued
    try:
        yield
    finally:
        _LOCAL.run_one_queued = previous


def wait_for(future: Future[T]) -> T:
    """`future.result()`, running queued analyses on this thread until it is ready (when allowed)."""
    run_one_queued = getattr(_LOCAL, "run_one_queued", None)
    while not future.done() and run_one_queued is not None and not getattr(_LOCAL, "computing", 0):
        if not run_one_queued():
            break
    return future.result()
