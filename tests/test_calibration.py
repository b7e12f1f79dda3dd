"""Calibration tables: the rank maths and its words, which table applies, what `run_analyzer` attaches,
that every committed table belongs to its analyzer's current version, and the bench's photo filter."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import plugins
from bench.calibration import MIN_SCORES, SOURCES, Source, collect, excluded_for, reserved
from workbench.core import registry
from workbench.core.calibration import (
    FOLDER,
    Calibration,
    calibrate,
    percent,
    score_context,
    table_for,
    table_path,
)
from workbench.core.frames import PerFrame
from workbench.core.media import Media, open_media
from workbench.core.plugin import Analyzer, RunContext, run_analyzer
from workbench.core.results import Result, Status
from workbench.synthetic.splits import fusion_role

POPULATION = "test photos"
"""The short noun beside a score (the long population text is for cards and the report's appendix)."""


def table(*scores: float, analyzer: str = "fake.calibrated", version: str = "1.0") -> Calibration:
    return Calibration(analyzer, version, "test photos made for this test, as PNG files", tuple(sorted(scores)),
                       "python -m bench.calibration", "2026-01-01", POPULATION)


# -- rank and words ------------------------------------------------------------------------------


def test_rank_counts_ties_half_and_reaches_both_ends() -> None:
    t = table(0.0, 0.0, 0.5, 1.0)
    assert t.rank(-1.0) == pytest.approx(0.0)
    assert t.rank(0.0) == pytest.approx(0.25)  # two ties of four count as one below
    assert t.rank(0.75) == pytest.approx(0.75)
    assert t.rank(1.0) == pytest.approx(0.875)
    assert t.rank(2.0) == pytest.approx(1.0)


def test_describe_says_all_at_both_ends_and_names_the_population() -> None:
    t = table(0.1, 0.2, 0.3, 0.4)
    assert t.describe(0.5) == f"higher than all 4 {POPULATION}"
    assert t.describe(0.05) == f"lower than all 4 {POPULATION}"
    assert t.describe(0.35) == f"higher than 75 % of 4 {POPULATION}"


def test_describe_never_calls_a_shared_score_higher() -> None:
    t = table(0.0, 0.0, 0.0, 0.5)
    # mid-rank 37.5 %, but the score is higher than none of them: the words must not say 38 %
    assert t.describe(0.0) == f"higher than 0 % of 4 {POPULATION}; 3 of them scored the same"
    assert t.describe(0.5) == f"higher than 75 % of 4 {POPULATION}; 1 of them scored the same"
    assert table(0.2, 0.2).describe(0.2) == f"the same as all 2 {POPULATION}"


@pytest.mark.parametrize("fraction, text", [
    (0.0, "0 %"), (1.0, "100 %"), (0.97, "97 %"), (0.5, "50 %"), (0.994, "99.4 %"), (0.99999, "99.9 %"),
    (0.004, "0.4 %"), (0.000001, "0.1 %"), (0.01, "1 %"), (0.99, "99 %"),
])
def test_percent_keeps_0_and_100_for_the_ends_only(fraction: float, text: str) -> None:
    assert percent(fraction) == text


@pytest.mark.parametrize("scores", [(), (0.1, float("nan")), (0.3, 0.1)])
def test_a_table_needs_sorted_finite_scores(scores: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        Calibration("a", "1", POPULATION, scores)


def test_json_round_trip_sorts_the_scores() -> None:
    doc = {**table(0.1).to_json(), "scores": [0.9, 0.1, 0.5], "photos": {"x/a.jpg": 0.9}}
    assert Calibration.from_json(doc).scores == (0.1, 0.5, 0.9)


# -- which table applies -------------------------------------------------------------------------


@dataclass
class NoParams:
    pass


class Calibrated(Analyzer):
    """Scores what `score` says; its card (and so its table) lives where the test puts it."""

    id = "fake.calibrated"
    title = "Calibrated fake"
    version = "1.0"
    Params = NoParams

    def __init__(self, card_folder: Path, score: float | None = 0.45, fail: bool = False) -> None:
        self.card_file = card_folder / "fake.md"
        self.score, self.fail = score, fail

    def run(self, media: Media, params: NoParams, ctx: RunContext) -> Result:
        if self.fail:
            raise RuntimeError("broken")
        return Result(self.id, score=self.score, score_meaning="test")


def write_table(folder: Path, t: Calibration, name: str | None = None) -> Path:
    path = table_path(folder / "fake.md", name or t.analyzer)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(t.to_json()), encoding="utf-8")
    return path


def test_table_for_reads_the_table_beside_the_card(tmp_path: Path) -> None:
    write_table(tmp_path, table(0.1, 0.2, 0.3, 0.4, 0.5))
    found = table_for(Calibrated(tmp_path))
    assert found is not None and found.scores == (0.1, 0.2, 0.3, 0.4, 0.5)


def test_table_for_refuses_another_version_or_analyzer(tmp_path: Path) -> None:
    write_table(tmp_path, table(0.1, 0.2, version="0.9"))
    assert table_for(Calibrated(tmp_path)) is None
    other = tmp_path / "other"
    write_table(other, table(0.1, 0.2, analyzer="someone.else"), name="fake.calibrated")
    assert table_for(Calibrated(other)) is None


def test_table_for_is_none_without_a_table_or_with_a_broken_one(tmp_path: Path) -> None:
    assert table_for(Calibrated(tmp_path)) is None
    path = table_path(tmp_path / "b" / "fake.md", "fake.calibrated")
    path.parent.mkdir(parents=True)
    path.write_text('{"analyzer": "fake.calibrated", "version": "1.0", "population": "x", "scores": []}')
    assert table_for(Calibrated(tmp_path / "b")) is None


def test_a_per_frame_wrapper_does_not_borrow_the_image_table(tmp_path: Path) -> None:
    write_table(tmp_path, table(0.1, 0.2))
    assert table_for(PerFrame(Calibrated(tmp_path))) is None  # its score is a maximum over frames


def test_calibrate_skips_missing_or_nan_scores(tmp_path: Path) -> None:
    write_table(tmp_path, table(0.1, 0.2))
    analyzer = Calibrated(tmp_path)
    assert calibrate(analyzer, None) is None and calibrate(analyzer, float("nan")) is None
    assert "no calibration" in score_context(None)


# -- what run_analyzer attaches ------------------------------------------------------------------


@pytest.fixture
def media(jpeg_photo: Path) -> Media:
    return open_media(jpeg_photo)


def test_run_analyzer_attaches_the_rank(tmp_path: Path, media: Media) -> None:
    write_table(tmp_path, table(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0))
    result = run_analyzer(Calibrated(tmp_path, score=0.45), media, NoParams(), RunContext())
    cal = result.calibration
    assert cal is not None
    assert cal["rank"] == pytest.approx(0.4) and cal["count"] == 10 and cal["population"].startswith(POPULATION)
    assert cal["text"] == f"higher than 40 % of 10 {POPULATION}" == score_context(cal)
    assert (cal["table"], cal["made_at"], cal["command"]) == (
        "fake.calibrated v1.0", "2026-01-01", "python -m bench.calibration")
    assert json.loads(json.dumps(result.describe()))["calibration"] == cal


def test_run_analyzer_leaves_none_without_a_table_or_on_failure(tmp_path: Path, media: Media) -> None:
    assert run_analyzer(Calibrated(tmp_path), media, NoParams(), RunContext()).calibration is None
    write_table(tmp_path / "t", table(0.1, 0.2))
    failed = run_analyzer(Calibrated(tmp_path / "t", fail=True), media, NoParams(), RunContext())
    assert failed.status is Status.ERROR and failed.calibration is None
    no_score = run_analyzer(Calibrated(tmp_path / "t", score=None), media, NoParams(), RunContext())
    assert no_score.ok and no_score.calibration is None


# -- the committed tables ------------------------------------------------------------------------

COMMITTED = sorted(Path(plugins.__file__).parent.glob(f"*/{FOLDER}/*.json"))


def test_tables_are_committed_for_the_classical_signals_and_the_fusion() -> None:
    assert {"splicebuster", "fusion", "noise_median", "copy_move"} <= {p.stem for p in COMMITTED}


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.stem)
def test_committed_table_matches_its_analyzers_current_version(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    loaded = Calibration.from_json(doc)
    analyzer = registry.get(path.stem)  # a table for an analyzer that no longer exists fails here
    assert loaded.analyzer == analyzer.id
    assert loaded.version == analyzer.version, f"{analyzer.id} is v{analyzer.version}: run python -m bench.calibration"
    assert table_path(analyzer.card_file, analyzer.id) == path
    assert table_for(analyzer) == loaded
    assert loaded.count >= MIN_SCORES and loaded.command.startswith("python -m bench.calibration")
    assert "--out-dir" not in loaded.command
    assert sum(doc["sources"].values()) == loaded.count == len(doc["photos"])
    np.testing.assert_allclose(sorted(doc["photos"].values()), loaded.scores, atol=1e-6)


# -- the bench's photos --------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/usr/share/backgrounds/gnome/adwaita-l.jpg",
    "/usr/share/wallpapers/Next/contents/images/1920x1080.png",
    "/usr/share/images/desktop-base/login-background.svg",
    "/usr/share/desktop-base/emerald-theme/wallpaper/contents/images/1920x1080.svg",
    "/opt/debian-backgrounds/x.jpg",
])
def test_reserved_backgrounds_are_recognised(path: str) -> None:
    assert reserved(Path(path))


def test_ordinary_photo_folders_are_not_reserved() -> None:
    assert not reserved(Path("/usr/share/doc/opencv-doc/examples/data/leuvenA.jpg"))
    assert not reserved(Path("/venv/lib/python3.11/site-packages/skimage/data/astronaut.png"))


def test_collector_skips_absent_files_and_links_into_backgrounds(tmp_path: Path) -> None:
    photos, backgrounds = tmp_path / "photos", tmp_path / "share" / "backgrounds"
    photos.mkdir()
    backgrounds.mkdir(parents=True)
    (photos / "real.jpg").write_bytes(b"x")
    (backgrounds / "wall.jpg").write_bytes(b"x")
    (photos / "link.jpg").symlink_to(backgrounds / "wall.jpg")
    sources = [Source("pkg", lambda: photos, ("real.jpg", "absent.jpg", "link.jpg")),
               Source("gone", lambda: None, ("a.jpg", "b.jpg")),
               Source("walls", lambda: backgrounds, ("wall.jpg",))]
    found, skipped = collect(sources)
    assert [(p.source, p.path.name) for p in found] == [("pkg", "real.jpg")]
    assert skipped == {"pkg": 2, "gone": 2, "walls": 1}


def test_listed_sources_are_outside_the_reserved_folders() -> None:
    for source in SOURCES:
        folder = source.folder()
        assert folder is None or not reserved(folder)
    names = [(s.label, n) for s in SOURCES for n in s.names]
    assert len(names) == len(set(names)) and ("opencv-doc", "ela_modified.jpg") not in names
    left_out, _ = excluded_for("fusion")
    assert left_out and all(fusion_role(key) == "train" for key in left_out)
    assert {f"{label}/{n}" for label, n in names} - left_out  # photos remain to calibrate it on


def test_false_alarms_count_the_photos_at_or_above_a_threshold() -> None:
    t = table(0.0, 0.2, 0.5, 0.5, 0.9)
    assert t.false_alarms(0.0) == pytest.approx(1.0)
    assert t.false_alarms(0.5) == pytest.approx(0.6)  # a tie with the threshold is flagged
    assert t.false_alarms(0.6) == pytest.approx(0.2)
    assert t.false_alarms(0.95) == pytest.approx(0.0)


def test_the_false_alarm_section_reads_the_committed_tables() -> None:
    from bench.false_alarms import THRESHOLDS, section

    rows = {line.split(" | ")[0].strip("| "): line for line in section(["fusion", "metadata"]).splitlines()
            if line.startswith("| ") and not line.startswith("| analyzer")}
    fusion = table_for(registry.get("fusion"))
    assert fusion is not None
    cells = [c.strip() for c in rows["fusion"].strip("|").split("|")]
    assert cells[1:3] == [fusion.version, str(fusion.count)]
    assert cells[3:] == [percent(fusion.false_alarms(t)) for t in THRESHOLDS]
    assert "no table" in rows["metadata"]
