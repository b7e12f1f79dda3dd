"""A writer killed in the middle of saving results never costs the case: after each SIGKILL the
case opens, holds no damaged run, every run reads back whole (its arrays those it was saved with),
every save that returned is there, the audit log only grew and names each run once, and at the end
a PDF report is made.

The writer (`tests.crash_writer`) is killed at each step of its second save in turn (an array write
torn in half, each flush, the rename, each database statement of the transaction, the read-back),
then at seeded random moments. Which moment a timed kill hits varies from run to run; the checks
do not depend on it.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.crash_writer import heatmap
from workbench.app.case import DB_NAME, AuditEntry, Case
from workbench.app.report import write_pdf
from workbench.core.array_files import UNIT_PRECISION

ROOT = Path(__file__).resolve().parents[1]
STEPS_PER_SAVE = 18
"""The steps `crash_writer` counts in one save of its heat map: 5 array writes, 5 file flushes, the
folder's flush, BEGIN, INSERT, the rename, the flush of blobs/runs, the audit INSERT, COMMIT, the
read-back."""
KILLS_AT_MOMENTS = 4

pytestmark = [pytest.mark.usefixtures("qapp"),  # the report paints with Qt
              pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")]


def test_a_writer_killed_at_any_moment_leaves_a_whole_case(tmp_path: Path, jpeg_photo: Path) -> None:
    root = tmp_path / "case"
    case = Case.create(root, name="Crash", analyst="Test Analyst")
    evidence = case.add_evidence(jpeg_photo)
    case.close()
    rng = np.random.default_rng(14)
    audit: list[AuditEntry] = []
    saved: dict[int, int] = {}
    read: set[int] = set()
    kills = [STEPS_PER_SAVE + step for step in range(1, STEPS_PER_SAVE + 1)] + [0] * KILLS_AT_MOMENTS
    for n, die_at in enumerate(kills):
        saved |= run_killed_writer(root, evidence.id, 1000 * n, die_at, float(rng.uniform(0.0, 0.3)))
        audit, read = check_case(root, audit, saved, read, kills=n + 1)
    check_case(root, audit, saved, set(), kills=len(kills))  # every run's arrays again: none changed since
    case = Case.open(root)
    try:
        pdf = write_pdf(case, tmp_path / "report.pdf")
    finally:
        case.close()
    assert pdf.read_bytes().startswith(b"%PDF")


def run_killed_writer(root: Path, evidence_id: int, first: int, die_at: int, delay_s: float) -> dict[int, int]:
    """Run a writer until it dies at step `die_at` (0: until killed `delay_s` after it is ready);
    the runs it said it saved, id → heat-map index."""
    writer = subprocess.Popen([sys.executable, "-m", "tests.crash_writer", str(root), str(evidence_id), str(first),
                               str(die_at)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "ready\n", writer.stderr.read()
        if not die_at:
            time.sleep(delay_s)
            writer.send_signal(signal.SIGKILL)
        out, err = writer.communicate(timeout=60)
    finally:
        writer.kill()
    assert writer.returncode == -signal.SIGKILL, err
    return {int(run_id): int(index) for run_id, index in re.findall(r"^saved (\d+) (\d+)$", out, re.MULTILINE)}


def check_case(root: Path, before: list[AuditEntry], saved: dict[int, int], read: set[int],
               kills: int) -> tuple[list[AuditEntry], set[int]]:
    """The case after a kill: whole, durable and audited. The arrays of the runs not in `read` are
    read and compared with those saved (the others' files are checked whole by `damaged_runs`).
    Returns the audit log and the runs read, for the next check."""
    case = Case.open(root)
    try:
        assert case.damaged_runs() == []
        with sqlite3.connect(f"file:{root / DB_NAME}?mode=ro", uri=True) as db:
            ids = sorted(row[0] for row in db.execute("SELECT id FROM runs"))
        assert set(saved) <= set(ids)
        for run_id in sorted(set(ids) - read):
            result = case.run(run_id).result
            index = result.provenance.params["index"]
            assert saved.get(run_id, index) == index
            expected = heatmap(index)
            assert result.score == pytest.approx(expected.score)
            for name in ("map", "mask"):
                np.testing.assert_allclose(np.asarray(getattr(result, name), float),  # maps: half precision
                                           np.asarray(getattr(expected, name), float), atol=UNIT_PRECISION)
            assert result.stack.keys() == expected.stack.keys()
            for key, values in expected.stack.items():
                np.testing.assert_allclose(result.stack[key], values, atol=UNIT_PRECISION)
        assert [r.id for r in case.latest_runs(1)] == ids[-1:]
        folders = [p.name for p in (root / "blobs" / "runs").iterdir()]
        assert sorted(int(n) for n in folders if n.isdigit()) == ids
        assert sum(n.startswith(".partial-") for n in folders) <= kills
        audit = case.audit()
        assert audit[: len(before)] == before
        audited = [int(n) for a in audit if a.action == "analysis run" for n in re.findall(r"\(run (\d+)\)$", a.detail)]
        assert sorted(audited) == ids
        return audit, set(ids)
    finally:
        case.close()
