"""`workbench analyze` / `workbench analyzers`: exit codes, one-line errors, JSON and report outputs."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workbench.app import cli_progress
from workbench.app.case import Case
from workbench.app.cli import main
from workbench.app.cli_progress import STEPS, ProgressLine
from workbench.app.sample import jpeg_bytes
from workbench.core import media as media_module
from workbench.core.media import MediaKind
from workbench.core.presets import DEFAULT_PRESET, PRESETS, Preset, plan_ids
from workbench.synthetic.videos import write_video


def has_all(message: str, words: tuple[str, ...] | list[str]) -> bool:
    return all(w.lower() in message.lower() for w in words)


def error_line(stderr: str) -> str:
    """The single `workbench: error: ...` line, which must be the last line of stderr."""
    errors = [line for line in stderr.splitlines() if line.startswith("workbench: error: ")]
    assert len(errors) == 1, stderr
    assert stderr.rstrip("\n").splitlines()[-1] == errors[0], stderr
    return errors[0]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def cases_in_data_dir() -> list[Path]:
    folder = Path(os.environ["WORKBENCH_DATA_DIR"]) / "cases"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_analyzers_lists_ela(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "analyzers")
    assert code == 0
    ids = [line.split("\t")[0] for line in out.splitlines()]
    assert "ela" in ids
    assert "ela\tError level analysis" in out.splitlines()
    assert "failed to load" not in err


def test_analyze_ela_json_and_report(qapp, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                     jpeg_photo: Path) -> None:
    # `qapp` (pytest-qt): the report must not create a bare QGuiApplication that later GUI tests inherit.
    json_path, pdf_path = tmp_path / "out.json", tmp_path / "out.pdf"
    code, out, err = run_cli(capsys, "analyze", jpeg_photo, "--analyzers", "ela", "--case", tmp_path / "case",
                             "--json", json_path, "--report", pdf_path, "--param", "ela.quality=80")
    assert code == 0, err
    assert "workbench: error" not in err
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert doc["tool"] == "Forensic Workbench" and doc["skipped"] == []
    assert Path(doc["case"]) == tmp_path / "case"
    [entry] = doc["evidence"]
    assert entry["sha256"] == hashlib.sha256(jpeg_photo.read_bytes()).hexdigest()
    assert entry["kind"] == "image"
    assert (entry["format"], entry["width"], entry["height"]) == ("JPEG", 512, 512)
    assert entry["path"] == str(jpeg_photo.resolve())
    [result] = entry["results"]
    assert {"analyzer", "status", "score"} <= set(result)
    assert (result["analyzer"], result["status"], result["type"]) == ("ela", "ok", "heatmap")
    assert result["provenance"]["params"] == {"quality": 80, "scale": 20.0}
    assert result["provenance"]["input_sha256"] == entry["sha256"]
    with np.load(result["map"]) as archive:  # the documented contract: one half-precision array, `map`
        heat = archive["map"]
    assert Path(result["map"]).suffix == ".npz"
    assert heat.dtype == np.float16 and heat.shape == (512, 512)
    assert pdf_path.read_bytes().startswith(b"%PDF")


def test_default_plan_is_the_triage_preset(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          jpeg_photo: Path) -> None:
    """Without --analyzers the GUI's default preset runs: its installed analyzers that take images, each
    with a well-formed result; each one left out is said once, with its reason."""
    ids, left_out = plan_ids(DEFAULT_PRESET, {MediaKind.IMAGE})
    assert {"ela", "metadata", "fusion"} <= set(ids) and "geolocation" not in ids
    json_path = tmp_path / "out.json"
    code, out, err = run_cli(capsys, "analyze", jpeg_photo, "--case", tmp_path / "case", "--json", json_path)
    assert code == 0, err
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert doc["preset"] == DEFAULT_PRESET
    results = doc["evidence"][0]["results"]
    assert [r["analyzer"] for r in results] == ids
    for r in results:
        assert {"analyzer", "status", "score", "provenance"} <= set(r)
        assert r["status"] == "ok", r
    by_id = {r["analyzer"]: r for r in results}
    assert np.load(by_id["ela"]["map"])["map"].shape == (512, 512)
    assert by_id["metadata"]["type"] == "facts"
    for analyzer_id, reason in left_out.items():
        assert err.count(f"note: {analyzer_id} left out: {reason}\n") == 1


@pytest.fixture
def tiny_preset(monkeypatch: pytest.MonkeyPatch) -> str:
    """A quick preset with an image-only analyzer and one whose model is never installed in tests."""
    analyzers = ("metadata", "ela", "adq", "msfusion_dct")
    monkeypatch.setitem(PRESETS, "tiny", Preset("tiny", "Tiny", "for tests", analyzers))
    return "tiny"


def test_preset_runs_what_applies_to_each_item_and_says_each_reason_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, jpeg_photo: Path, coffee: np.ndarray, tiny_preset: str,
    png_image: Path,
) -> None:
    other = tmp_path / "evidence" / "coffee.jpg"
    other.write_bytes(jpeg_bytes(coffee, 85))
    frames = [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(6)]
    clip = write_video(tmp_path / "evidence" / "clip.avi", frames, fps=3.0)
    json_path = tmp_path / "out.json"
    code, out, err = run_cli(capsys, "analyze", jpeg_photo, other, png_image, clip, "--preset", tiny_preset,
                             "--case", tmp_path / "case", "--json", json_path, "-p", "ela.quality=85",
                             "-p", "noise_median.window=5")
    assert code == 0, err
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    ran = {Path(e["path"]).name: [r["analyzer"] for r in e["results"]] for e in doc["evidence"]}
    assert ran == {"photo.jpg": ["metadata", "ela", "adq"], "coffee.jpg": ["metadata", "ela", "adq"],
                   "coffee.png": ["metadata", "ela"], "clip.avi": ["metadata", "ela"]}  # ADQ reads JPEGs only
    assert doc["preset"] == "tiny"
    assert err.count("note: adq left out: does not apply to video evidence\n") == 1
    assert err.count("note: msfusion_dct left out: model not installed\n") == 1
    assert err.count("note: adq left out: reads JPEG or MPO files only\n") == 1
    assert err.count("left out") == 3
    assert err.count("note: --param for noise_median unused: noise_median is not run by the preset tiny\n") == 1
    assert all(e["results"][1]["provenance"]["params"]["quality"] == 85 for e in doc["evidence"])


def test_analyzers_override_the_preset(capsys: pytest.CaptureFixture[str], tmp_path: Path, jpeg_photo: Path) -> None:
    json_path = tmp_path / "out.json"
    code, out, err = run_cli(capsys, "analyze", jpeg_photo, "--preset", "full", "--analyzers", "ela",
                             "--case", tmp_path / "case", "--json", json_path)
    assert code == 0, err
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert doc["preset"] is None and [r["analyzer"] for r in doc["evidence"][0]["results"]] == ["ela"]
    assert "--analyzers overrides --preset full" in err and "left out" not in err


def test_analyzers_lists_the_presets(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "analyzers", "--presets")
    assert code == 0
    rows = [line.split("\t") for line in out.splitlines() if not line.startswith("\t")]
    assert [r[0] for r in rows] == list(PRESETS)
    assert rows[0][:2] == [DEFAULT_PRESET, "Triage (default)"] and "fusion" in rows[0][2].split(", ")
    provenance = next(r for r in rows if r[0] == "provenance")
    assert provenance[2].endswith("+ similar-image search")


@pytest.fixture
def searching_preset(monkeypatch: pytest.MonkeyPatch) -> str:
    """The provenance preset's search with only the quick metadata analyzer."""
    monkeypatch.setitem(PRESETS, "find", Preset("find", "Find", "for tests", ("metadata",), search=True))
    return "find"


def test_a_searching_preset_lists_each_item_s_similar_images(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, jpeg_photo: Path, png_image: Path, astronaut: np.ndarray,
    searching_preset: str,
) -> None:
    collection = tmp_path / "collection"
    assert main(["index", str(jpeg_photo), str(png_image), "--collection", str(collection)]) == 0
    query = tmp_path / "query" / "crop.jpg"
    query.parent.mkdir()
    query.write_bytes(jpeg_bytes(np.ascontiguousarray(astronaut[60:460, 40:470]), 70))
    capsys.readouterr()
    json_path = tmp_path / "out.json"
    code, out, err = run_cli(capsys, "analyze", query, jpeg_photo, "--preset", searching_preset,
                             "--collection", collection, "--case", tmp_path / "case", "--json", json_path)
    assert code == 0, err
    crop, photo = json.loads(json_path.read_text(encoding="utf-8"))["evidence"]
    assert crop["similar_images"]["collection"] == str(collection)
    assert "not a probability" in crop["similar_images"]["score_meaning"]
    best = crop["similar_images"]["hits"][0]
    assert best["path"] == str(jpeg_photo) and best["inliers"] > 0 and best["rank"] == 1
    assert [h["path"] for h in photo["similar_images"]["hits"]] == [str(png_image)]  # never itself
    assert "skipped" not in err


def test_a_searching_preset_without_a_collection_says_so_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, jpeg_photo: Path, png_image: Path, searching_preset: str
) -> None:
    json_path = tmp_path / "out.json"
    code, out, err = run_cli(capsys, "analyze", jpeg_photo, png_image, "--preset", searching_preset,
                             "--case", tmp_path / "case", "--json", json_path)
    assert code == 0, err
    assert err.count("similar-image search skipped: no reference collection in") == 1
    assert all("similar_images" not in e for e in json.loads(json_path.read_text(encoding="utf-8"))["evidence"])


@pytest.mark.parametrize(("preset", "words"), [("find", ["not a collection", "workbench index"]),
                                               ("triage", ["--collection", "provenance"])])
def test_collection_option_is_checked_first(capsys: pytest.CaptureFixture[str], tmp_path: Path, jpeg_photo: Path,
                                            searching_preset: str, preset: str, words: list[str]) -> None:
    code, out, err = run_cli(capsys, "analyze", jpeg_photo, "--preset", preset, "--collection", tmp_path / "none",
                             "--case", tmp_path / "case")
    assert code == 1 and err.count("\n") == 1
    assert has_all(error_line(err), words)
    assert not (tmp_path / "case").exists() and not (tmp_path / "none").exists()


def test_json_paths_are_absolute_with_a_relative_case(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                      jpeg_photo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "analyze", jpeg_photo, "--analyzers", "ela", "--case", "case",
                             "--json", "out.json")
    assert code == 0, err
    doc = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert doc["case"] == str(tmp_path / "case")
    heat_map = doc["evidence"][0]["results"][0]["map"]
    assert Path(heat_map).is_absolute() and Path(heat_map).is_relative_to(tmp_path / "case")
    monkeypatch.chdir(jpeg_photo.parent)  # the paths still hold from elsewhere
    assert np.load(heat_map)["map"].shape == (512, 512)


def test_a_failed_run_removes_only_the_case_folder_it_made(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                           jpeg_photo: Path, make_bad_file) -> None:
    bad, _ = make_bad_file("empty")
    json_path = tmp_path / "out.json"
    code, out, err = run_cli(capsys, "analyze", bad, "--analyzers", "ela", "--case", tmp_path / "new" / "case",
                             "--json", json_path)
    assert code == 1 and "empty.jpg" in error_line(err)
    assert "removed the case folder" in err and not (tmp_path / "new").exists()
    assert json.loads(json_path.read_text(encoding="utf-8"))["case"] is None

    code, out, err = run_cli(capsys, "analyze", bad, "--analyzers", "ela")  # the default case in the data folder
    assert code == 1 and cases_in_data_dir() == []

    existing = tmp_path / "existing"
    (existing / "notes").mkdir(parents=True)
    (existing / "notes" / "todo.txt").write_text("keep me", encoding="utf-8")
    code, out, err = run_cli(capsys, "analyze", bad, "--analyzers", "ela", "--case", existing)
    assert code == 1
    assert sorted(p.relative_to(existing).as_posix() for p in existing.rglob("*")) == ["notes", "notes/todo.txt"]

    case = tmp_path / "kept"
    assert run_cli(capsys, "analyze", jpeg_photo, "--analyzers", "ela", "--case", case)[0] == 0
    code, out, err = run_cli(capsys, "analyze", bad, "--analyzers", "ela", "--case", case)
    assert code == 1 and "removed" not in err
    assert [e.name for e in Case.open(case).all_evidence()] == ["photo.jpg"]


@pytest.mark.parametrize(("option", "where", "words"), [
    ("--json", "missing/out.json", ["--json", "does not exist"]),
    ("--report", ".", ["--report", "is a folder"]),
    ("--json", "locked/out.json", ["--json", "cannot write", "permission denied"]),
])
def test_output_paths_are_checked_before_the_analysis(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                      jpeg_photo: Path, monkeypatch: pytest.MonkeyPatch,
                                                      option: str, where: str, words: list[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    code, out, err = run_cli(capsys, "analyze", jpeg_photo, "--analyzers", "ela", "--case", tmp_path / "case",
                             option, tmp_path / where)
    assert code == 1 and err.count("\n") == 1
    assert has_all(error_line(err), words)
    assert not (tmp_path / "case").exists()


def test_progress_is_coarse_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                          jpeg_photo: Path) -> None:
    code, out, err = run_cli(capsys, "analyze", jpeg_photo, "--analyzers", "ela,noise_median,jpeg_ghost,blk",
                             "--case", tmp_path / "case")
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("[1/1] photo.jpg")]
    assert 2 <= len(lines) <= STEPS + 1 and lines[-1].endswith("(100%)")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream", [io.StringIO(), Terminal()])
def test_progress_line(stream: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_progress, "REDRAW_S", 0.0)
    progress = ProgressLine(stream)
    for label in ("first", "second"):
        report = progress.task(label)
        for i in range(101):
            report(i / 100, f"step {i}")
    progress.end()
    text = stream.getvalue()
    if isinstance(stream, Terminal):  # every callback redraws the one line of its task
        assert text.count("\n") == 2 and text.count("\r") == 202
        assert text.split("\n")[0].endswith("\rfirst: step 100 (100%)\x1b[K")
    else:  # the start and each quarter
        assert text.splitlines() == [f"{label}: step {i} ({i}%)" for label in ("first", "second")
                                     for i in (0, 25, 50, 75, 100)]


def test_missing_model_is_unavailable_never_a_score(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, jpeg_photo: Path
) -> None:
    json_path = tmp_path / "out.json"
    code, out, err = run_cli(capsys, "analyze", jpeg_photo, "--analyzers", "ela,msfusion_dct",
                             "--json", json_path)
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("workbench: error: ")
    [ela, msfusion] = json.loads(json_path.read_text(encoding="utf-8"))["evidence"][0]["results"]
    assert ela["status"] == "ok"
    assert msfusion["status"] == "unavailable" and msfusion["score"] is None
    assert "not installed" in msfusion["message"] and "workbench models install" in msfusion["message"]
    assert "map" not in msfusion


def test_default_case_goes_to_data_dir(capsys: pytest.CaptureFixture[str], jpeg_photo: Path) -> None:
    code, out, err = run_cli(capsys, "analyze", jpeg_photo, "--analyzers", "ela")
    assert code == 0, err
    [case_dir] = cases_in_data_dir()
    assert case_dir.name.startswith("cli-") and (case_dir / "case.sqlite").is_file()
    assert f"case: {case_dir}" in err


def test_bad_input_fails_with_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path, bad_kind: str,
                                       make_bad_file) -> None:
    path, words = make_bad_file(bad_kind)
    json_path = tmp_path / "out.json"
    code, out, err = run_cli(capsys, "analyze", path, "--analyzers", "ela", "--case", tmp_path / "case",
                             "--json", json_path)
    assert code != 0
    line = error_line(err)
    assert has_all(line, words), line
    assert path.name in line
    skipped = json.loads(json_path.read_text(encoding="utf-8"))["skipped"]
    assert [s["path"] for s in skipped] == [str(path)]


def test_permission_denied_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path, jpeg_photo: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real_access = os.access
    monkeypatch.setattr(media_module.os, "access",
                        lambda p, mode: False if Path(p) == jpeg_photo else real_access(p, mode))
    code, out, err = run_cli(capsys, "analyze", jpeg_photo, "--analyzers", "ela", "--case", tmp_path / "case")
    assert code != 0
    assert has_all(error_line(err), ["photo.jpg", "permission denied"])


def test_empty_folder_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path, evidence_dir: Path) -> None:
    code, out, err = run_cli(capsys, "analyze", evidence_dir, "--analyzers", "ela",
                             "--case", tmp_path / "case")
    assert code != 0
    assert "no evidence to analyze" in error_line(err)


def test_one_bad_file_among_good_ones(capsys: pytest.CaptureFixture[str], tmp_path: Path, jpeg_photo: Path,
                                      make_bad_file) -> None:
    bad, _ = make_bad_file("empty")
    json_path = tmp_path / "out.json"
    code, out, err = run_cli(capsys, "analyze", jpeg_photo, bad, "--analyzers", "ela",
                             "--case", tmp_path / "case", "--json", json_path)
    assert code != 0  # a skipped file is a problem worth a non-zero exit...
    assert "empty.jpg" in error_line(err)
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert [Path(e["path"]).name for e in doc["evidence"]] == ["photo.jpg"]  # ...but the good one is analysed
    assert doc["evidence"][0]["results"][0]["status"] == "ok"


@pytest.mark.parametrize(("source", "renamed"), [("png_image", "renamed.jpg"), ("jpeg_photo", "renamed.png")])
def test_wrong_extension_is_analysed_with_warning(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                  request: pytest.FixtureRequest, source: str,
                                                  renamed: str) -> None:
    original: Path = request.getfixturevalue(source)
    path = original.with_name(renamed)
    original.rename(path)
    json_path = tmp_path / "out.json"
    code, out, err = run_cli(capsys, "analyze", path, "--analyzers", "ela", "--case", tmp_path / "case",
                             "--json", json_path)
    assert code == 0, err
    [entry] = json.loads(json_path.read_text(encoding="utf-8"))["evidence"]
    assert len(entry["warnings"]) == 1 and "does not match" in entry["warnings"][0]
    assert entry["results"][0]["status"] == "ok"


def test_max_pixels_option(capsys: pytest.CaptureFixture[str], tmp_path: Path, jpeg_photo: Path,
                           make_bad_file) -> None:
    code, out, err = run_cli(capsys, "analyze", jpeg_photo, "--analyzers", "ela", "--case", tmp_path / "c1",
                             "--max-pixels", "1000")
    assert code != 0
    assert has_all(error_line(err), ["photo.jpg", "megapixels", "limit of 0.001 megapixels"])

    bomb, _ = make_bad_file("bomb")
    code, out, err = run_cli(capsys, "analyze", bomb, "--analyzers", "ela", "--case", tmp_path / "c2",
                             "--max-pixels", str(2 * 10**9))
    assert code != 0
    line = error_line(err)
    assert "megapixels" not in line and "truncated or corrupt" in line  # the size check was passed


def test_unknown_analyzer(capsys: pytest.CaptureFixture[str], tmp_path: Path, jpeg_photo: Path) -> None:
    code, out, err = run_cli(capsys, "analyze", jpeg_photo, "--analyzers", "ela,nope",
                             "--case", tmp_path / "case")
    assert code != 0
    line = error_line(err)
    assert has_all(line, ["unknown analyzer", "nope", "available:", "ela"])
    assert err.count("\n") == 1  # nothing else was done
    assert not (tmp_path / "case").exists()


@pytest.mark.parametrize(
    ("param", "words"),
    [
        ("ela.quality=abc", ["quality='abc'", "not a valid int"]),
        ("ela.quality=500", ["quality=500", "outside", "[1, 100]"]),
        ("ela.scale=nan", ["scale=nan", "outside"]),
        ("ela.nosuch=1", ["unknown parameter", "nosuch", "quality"]),
        ("quality=80", ["expected ID.NAME=VALUE"]),
        ("ela.quality", ["expected ID.NAME=VALUE"]),
        ("nope.x=1", ["unknown analyzer", "nope"]),
    ],
)
def test_bad_param(capsys: pytest.CaptureFixture[str], tmp_path: Path, jpeg_photo: Path, param: str,
                   words: list[str]) -> None:
    code, out, err = run_cli(capsys, "analyze", jpeg_photo, "--analyzers", "ela", "--param", param,
                             "--case", tmp_path / "case")
    assert code != 0
    assert has_all(error_line(err), words), err
    assert err.count("\n") == 1
    assert not (tmp_path / "case").exists()


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["analyze"])
    assert info.value.code == 2
    assert "required" in capsys.readouterr().err


def test_real_entry_point(tmp_path: Path, jpeg_photo: Path, make_bad_file) -> None:
    """The installed `workbench` script (or `python -m workbench`) in a fresh process."""
    script = Path(sys.executable).with_name("workbench")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "workbench"]
    env = {**os.environ, "WORKBENCH_DATA_DIR": str(tmp_path / "data")}
    json_path = tmp_path / "out.json"
    ok = subprocess.run([*command, "analyze", str(jpeg_photo), "--analyzers", "ela", "--case",
                         str(tmp_path / "case"), "--json", str(json_path)],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(json_path.read_text(encoding="utf-8"))["evidence"][0]["results"][0]["status"] == "ok"

    bad, _ = make_bad_file("empty")
    failed = subprocess.run([sys.executable, "-m", "workbench", "analyze", str(bad), "--analyzers", "ela",
                             "--case", str(tmp_path / "case")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert failed.returncode == 1
    assert "empty" in error_line(failed.stderr)


def test_models_list_and_install_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, "models", "list")
    assert code == 0
    assert any(line.startswith("msfusion_dct\tmissing\t") for line in out.splitlines())
    code, out, err = run_cli(capsys, "models", "install", "msfusion_dct", tmp_path / "absent.pth")
    assert code == 1 and err.startswith("workbench: error: ")
    code, out, err = run_cli(capsys, "models", "install", "no_such_model", tmp_path / "absent.pth")
    assert code == 1 and "no_such_model" in err


def test_models_install_refuses_a_file_that_does_not_load(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    not_weights = tmp_path / "photo.jpg"  # no hash is published for this model: only loading it can tell
    not_weights.write_bytes(b"\xff\xd8\xff\xe0 not weights" * 10)
    code, out, err = run_cli(capsys, "models", "install", "ames_detector_dinov2", not_weights)
    assert code == 1 and "installed" not in out
    assert "photo.jpg is not usable as 'ames_detector_dinov2', so it was not kept" in err
    code, out, err = run_cli(capsys, "models", "list")
    assert any(line.startswith("ames_detector_dinov2\tmissing\t") for line in out.splitlines())
    assert not list((Path(os.environ["WORKBENCH_DATA_DIR"]) / "models").glob("*.pt"))


def test_entry_point_sends_every_cli_command_to_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.__main__ import main as entry

    assert entry(["models", "list"]) == 0  # not the GUI
    assert "msfusion_dct" in capsys.readouterr().out
    assert entry(["analyzers"]) == 0
    assert "ela" in capsys.readouterr().out.split()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc allocator tuning")
def test_allocator_tuning_applies_on_linux() -> None:
    from numpy._core import multiarray

    from workbench.core.memory import keep_freed_memory

    assert keep_freed_memory()
    assert multiarray._set_madvise_hugepage(False) is False  # numpy's huge-page advice was off already
