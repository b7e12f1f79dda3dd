"""A process that saves heat maps into a case until it is killed (`test_crash`).

    python -m tests.crash_writer CASE EVIDENCE_ID FIRST_INDEX DIE_AT

It prints "ready" once the case is open, then saves `heatmap(FIRST_INDEX)`, `heatmap(FIRST_INDEX + 1)`,
… and prints "saved RUN_ID INDEX" after each save returns. With
DIE_AT > 0 it kills itself with SIGKILL at its DIE_AT-th step of a save, before the step runs: an
array write (then half of the array is written first, as a kill in the middle would leave it), a
flush, a rename or removal, a database statement. With DIE_AT = 0 the test kills it at a random
moment instead.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import sys
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from workbench.app.case import Case
from workbench.core.results import Heatmap, Provenance

SHAPE = (768, 1024)


def heatmap(index: int) -> Heatmap:
    """The index-th result: a smooth map in [0, 1] at camera-photo scale, its mask, a stack of
    half-size maps, all derived from the index so a reader can tell a complete run from a torn one."""
    rng = np.random.default_rng(index)
    coarse = rng.random((SHAPE[0] // 32, SHAPE[1] // 32), dtype=np.float32)
    heat = cv2.resize(coarse, SHAPE[::-1], interpolation=cv2.INTER_CUBIC).clip(0, 1)
    half = heat[::2, ::2]
    return Heatmap("ela", score=float(heat.mean()), map=heat, mask=heat > 0.8,
                   stack={f"q{q}": (half * q / 100).astype(np.float32) for q in (70, 80, 90)},
                   provenance=Provenance("ela", "1", {"index": index}, "0" * 64, "test"))


class _Steps:
    """Counts the steps of the saves and kills the process at the chosen one."""

    def __init__(self, die_at: int) -> None:
        self.count, self.die_at = 0, die_at

    def __call__(self, before_dying: Callable[[], None] = lambda: None) -> None:
        self.count += 1
        if self.count == self.die_at:
            before_dying()
            os.kill(os.getpid(), signal.SIGKILL)

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self()
            return function(*args, **kwargs)

        return wrapped


class _Connection:
    """The case's database connection, each statement a step."""

    def __init__(self, db: Any, steps: _Steps) -> None:
        self._db, self._steps = db, steps

    def execute(self, *args: Any) -> Any:
        self._steps()
        return self._db.execute(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def _kill_points(case: Case, steps: _Steps) -> None:
    write_array = np.lib.format.write_array

    def torn_write(fp: Any, array: np.ndarray, *args: Any, **kwargs: Any) -> None:
        def write_half() -> None:
            whole = io.BytesIO()
            write_array(whole, array, *args, **kwargs)
            fp.write(whole.getvalue()[: len(whole.getvalue()) // 2])
            fp.flush()

        steps(write_half)
        write_array(fp, array, *args, **kwargs)

    np.lib.format.write_array = torn_write
    os.fsync = steps.wrap(os.fsync)
    os.rename = steps.wrap(os.rename)
    shutil.rmtree = steps.wrap(shutil.rmtree)
    case._db = _Connection(case._db, steps)


def main(root: str, evidence_id: int, index: int, die_at: int) -> None:
    case = Case.open(root)
    if die_at:
        _kill_points(case, _Steps(die_at))
    print("ready", flush=True)
    while True:
        run = case.save_result(evidence_id, heatmap(index))
        print(f"saved {run.id} {index}", flush=True)
        index += 1


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:5]))
