"""The case store keeps each run whole or absent, and a damaged run costs that run only: readers skip
it for the analyzer's newest readable run, and `damaged_runs`, the report, the CLI and the summary
panel say which and why (test_crash kills a real writer)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.crash_writer import heatmap
from tests.test_report import flat, pdf_text
from workbench.app.analysis import Planned, analyze
from workbench.app.case import DB_NAME, Case, RunDamaged, now
from workbench.app.cli import main as cli_main
from workbench.app.report import write_pdf
from workbench.app.run_blobs import PARTIAL_AGE_S, PARTIAL_PREFIX
from workbench.core import registry
from workbench.core.array_files import UNIT_PRECISION


def sql(case: Case, statement: str, *args: object) -> None:
    """Change the case's database from another connection, as another (older) process would."""
    with sqlite3.connect(case.root / DB_NAME) as db:
        db.execute(statement, args)


def map_file(case: Case, run_id: int) -> Path:
    return case.run_folder(run_id) / "map.npz"


def emptied(case: Case, run_id: int) -> None:
    """The row as the save before the fix left it when killed: `{}`, its arrays half-written."""
    sql(case, "UPDATE runs SET result = '{}' WHERE id = ?", run_id)
    truncated(case, run_id)


def truncated(case: Case, run_id: int) -> None:
    data = map_file(case, run_id).read_bytes()
    map_file(case, run_id).write_bytes(data[: len(data) // 2])


def garbled(case: Case, run_id: int) -> None:
    path = map_file(case, run_id)
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))


def missing(case: Case, run_id: int) -> None:
    map_file(case, run_id).unlink()


def not_json(case: Case, run_id: int) -> None:
    sql(case, "UPDATE runs SET result = '{\"type\": \"heatmap\", \"analy' WHERE id = ?", run_id)


def incomplete(case: Case, run_id: int) -> None:
    sql(case, "UPDATE runs SET result = ? WHERE id = ?", json.dumps({"type": "heatmap", "status": "ok"}), run_id)


def escaping(case: Case, run_id: int) -> None:
    sql(case, "UPDATE runs SET result = json_set(result, '$.arrays.map', '../1/map.npz') WHERE id = ?", run_id)


DAMAGES: dict[str, tuple[Callable[[Case, int], None], str]] = {
    "empty row left by a killed save": (emptied, "stored result is empty"),
    "truncated array file": (truncated, "array file map.npz is truncated or corrupt"),
    "garbage array file": (garbled, "array file map.npz is truncated or corrupt"),
    "missing array file": (missing, "array file map.npz is missing"),
    "unparsable JSON": (not_json, "not valid JSON"),
    "JSON without the analyzer": (incomplete, "stored result is incomplete"),
    "array outside its folder": (escaping, "array file outside its folder"),
}


@pytest.mark.parametrize("kind", list(DAMAGES))
def test_a_damaged_run_gives_way_to_the_older_one_and_is_named(case: Case, jpeg_photo: Path, kind: str) -> None:
    damage, words = DAMAGES[kind]
    item = case.add_evidence(jpeg_photo)
    older = case.save_result(item.id, heatmap(1))
    newer = case.save_result(item.id, heatmap(2))
    damage(case, newer.id)

    [shown] = case.latest_runs(item.id)
    assert shown.id == older.id
    np.testing.assert_allclose(shown.result.map, heatmap(1).map, atol=UNIT_PRECISION)  # half precision
    [damaged] = case.damaged_runs(item.id)
    assert (damaged.id, damaged.evidence_id, damaged.analyzer, damaged.shown) == (newer.id, item.id, "ela", older.id)
    assert words in damaged.reason
    assert damaged.describe().startswith(f"run {newer.id} (ela on #{item.id}, ")
    assert damaged.describe().endswith(f"the older run {older.id} is shown instead")
    assert case.damaged_runs() == [damaged]
    with pytest.raises(RunDamaged, match=f"run {newer.id} .*is damaged: .*{words}"):
        case.run(newer.id)
    case.close()
    reopened = Case.open(case.root)
    assert [r.id for r in reopened.latest_runs(item.id)] == [older.id]
    reopened.close()


def test_an_analyzer_without_a_readable_run_is_left_out(case: Case, jpeg_photo: Path) -> None:
    item = case.add_evidence(jpeg_photo)
    only = case.save_result(item.id, heatmap(1))
    emptied(case, only.id)
    assert case.latest_runs(item.id) == []
    [damaged] = case.damaged_runs(item.id)
    assert damaged.shown is None
    assert damaged.describe().endswith("no other run of this analyzer on this item is readable")


def test_a_damaged_run_superseded_by_a_newer_one_says_so(case: Case, jpeg_photo: Path) -> None:
    item = case.add_evidence(jpeg_photo)
    older = case.save_result(item.id, heatmap(1))
    newer = case.save_result(item.id, heatmap(2))
    missing(case, older.id)
    assert [r.id for r in case.latest_runs(item.id)] == [newer.id]
    [damaged] = case.damaged_runs(item.id)
    assert damaged.describe().endswith(f"the newer run {newer.id} is shown")


def test_a_saved_run_is_whole_in_its_folder_and_audited_with_its_id(case: Case, jpeg_photo: Path) -> None:
    item = case.add_evidence(jpeg_photo)
    run = case.save_result(item.id, heatmap(1))
    assert sorted(p.name for p in (case.root / "blobs" / "runs").iterdir()) == [str(run.id)]
    assert sorted(p.name for p in case.run_folder(run.id).iterdir()) == [
        "map.npz", "mask.npz", "stack.0.npz", "stack.1.npz", "stack.2.npz"]
    last = case.audit()[-1]
    assert last.action == "analysis run" and last.detail.endswith(f"(run {run.id})")


def test_a_failed_array_write_leaves_no_run(case: Case, jpeg_photo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    item = case.add_evidence(jpeg_photo)
    writes = []

    def disk_full(path: Path, **arrays: np.ndarray) -> None:
        writes.append(path)
        if len(writes) == 2:
            raise OSError(28, "No space left on device")
        Path(path).write_bytes(b"PK\x03\x04")

    monkeypatch.setattr(np, "savez_compressed", disk_full)
    with pytest.raises(OSError, match="No space left"):
        case.save_result(item.id, heatmap(1))
    assert (case.latest_runs(item.id), case.damaged_runs()) == ([], [])
    assert list((case.root / "blobs" / "runs").iterdir()) == []
    assert "analysis run" not in [a.action for a in case.audit()]


def test_a_rolled_back_save_leaves_no_run_and_the_next_takes_its_id(case: Case, jpeg_photo: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    item = case.add_evidence(jpeg_photo)
    audit = case.audit()

    def fail(action: str, detail: str = "") -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(case, "log", fail)  # the audit entry is the transaction's last statement
    with pytest.raises(sqlite3.OperationalError):
        case.save_result(item.id, heatmap(1))
    monkeypatch.undo()
    assert (case.latest_runs(item.id), case.damaged_runs(), case.audit()) == ([], [], audit)
    assert map_file(case, 1).is_file()  # renamed into place before the rollback: an orphan now

    run = case.save_result(item.id, heatmap(2))
    assert run.id == 1
    np.testing.assert_allclose(case.run(1).result.map, heatmap(2).map, atol=UNIT_PRECISION)


def test_open_removes_orphans_but_not_a_save_in_progress(case: Case, jpeg_photo: Path) -> None:
    item = case.add_evidence(jpeg_photo)
    kept = case.save_result(item.id, heatmap(1))
    runs = case.root / "blobs" / "runs"
    stale, fresh, rolled_back = runs / f"{PARTIAL_PREFIX}old", runs / f"{PARTIAL_PREFIX}new", runs / "7"
    for folder in (stale, fresh, rolled_back):
        folder.mkdir()
        np.save(folder / "map.npy", np.zeros(4))
    past = time.time() - PARTIAL_AGE_S - 60
    for path in (stale / "map.npy", stale):
        os.utime(path, (past, past))
    case.close()

    reopened = Case.open(case.root)
    assert sorted(p.name for p in runs.iterdir()) == sorted([str(kept.id), fresh.name])
    removed = next(a for a in reopened.audit() if a.action == "orphan arrays removed")
    assert "7" in removed.detail and stale.name in removed.detail and fresh.name not in removed.detail
    assert [r.id for r in reopened.latest_runs(item.id)] == [kept.id]
    reopened.close()


@pytest.fixture
def damaged_case(tmp_path: Path, jpeg_photo: Path) -> tuple[Case, int]:
    """A case whose ELA was run twice, the second run's map truncated since, with a `{}` row of
    JPEG ghosts as the save before the fix left it when killed, and a finding on the damaged run."""
    case = Case.create(tmp_path / "case", name="Damaged", analyst="Test Analyst")
    item = case.add_evidence(jpeg_photo)
    ela = registry.get("ela")
    for _ in range(2):
        [run] = analyze(case, item, [Planned(ela, ela.params_from(None))])
    truncated(case, run.id)
    sql(case, "INSERT INTO runs (evidence_id, analyzer, status, score, result, finished_at)"
              " VALUES (?, 'jpeg_ghost', 'ok', NULL, '{}', ?)", item.id, now())
    case.add_finding(item.id, "Odd edge", run_id=run.id, layer="ELA",
                     region={"kind": "rect", "points": [[10, 10], [60, 60]]})
    yield case, run.id
    case.close()


@pytest.mark.usefixtures("qapp")
def test_the_report_lists_damaged_runs_and_draws_on_what_is_readable(damaged_case: tuple[Case, int],
                                                                     tmp_path: Path) -> None:
    case, damaged_id = damaged_case
    text = flat(pdf_text(write_pdf(case, tmp_path / "report.pdf"), raw=True))  # a cell's lines together
    assert "2 damaged stored run(s) left out (section 4)" in text
    assert f"Run {damaged_id} of " in text and "array file map.npz is truncated or corrupt" in text
    assert f"the older run {damaged_id - 1} is shown instead" in text
    assert "stored result is empty (its save was interrupted)" in text
    assert "no other run of this analyzer on this item is readable" in text
    assert f"run {damaged_id} (ela on #1) is damaged" in text and "drawn on the original" in text


@pytest.mark.usefixtures("qapp")
def test_cli_report_on_a_damaged_case_succeeds_and_warns(damaged_case: tuple[Case, int], jpeg_photo: Path,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case, damaged_id = damaged_case
    pdf, doc = tmp_path / "cli.pdf", tmp_path / "cli.json"
    code = cli_main(["analyze", str(jpeg_photo), "--analyzers", "blk", "--case", str(case.root),
                     "--report", str(pdf), "--json", str(doc)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"warning: run {damaged_id} (ela on #1, " in err and "is damaged and left out" in err
    assert "warning: run 3 (jpeg_ghost on #1, " in err
    assert [d["id"] for d in json.loads(doc.read_text())["damaged_runs"]] == [damaged_id, 3]
    assert f"Run {damaged_id} of " in flat(pdf_text(pdf))


def test_the_summary_panel_names_damaged_runs(qapp: object, damaged_case: tuple[Case, int]) -> None:
    from workbench.ui.summary_panel import SummaryPanel

    case, damaged_id = damaged_case
    panel = SummaryPanel()
    panel.show_item(case.evidence(1), case.latest_runs(1), case.findings(1), case.damaged_runs(1))
    assert f"⚠ run {damaged_id} (ela on #1, " in panel.problems.text()
    assert "⚠ run 3 (jpeg_ghost on #1, " in panel.problems.text()
