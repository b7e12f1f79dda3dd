"""The PDF report, read back with pdftotext: identification, hashes re-verified, results, limits."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from workbench.app.analysis import Planned, analyze
from workbench.app.case import Case
from workbench.app.cli import main as cli_main
from workbench.app.report import build_report, verify_hash, write_pdf
from workbench.app.sample import jpeg_bytes
from workbench.core import registry

# Every test here paints with Qt: `qapp` (pytest-qt) creates the QApplication first, so that
# write_pdf does not create a bare QGuiApplication that later widget tests would inherit and crash on.
pytestmark = pytest.mark.usefixtures("qapp")

LIGATURES = re.compile("[\ufb00-\ufb06]")


def pdf_text(path: Path) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: cannot read the PDF report")
    return subprocess.run([exe, str(path), "-"], capture_output=True, text=True, check=True).stdout


def flat(text: str) -> str:
    """Runs of whitespace (line and cell breaks) collapsed to one space."""
    return " ".join(text.split())


def squashed(text: str) -> str:
    """All whitespace removed: a 64-digit hash wrapped over several lines is whole again."""
    return "".join(text.split())


@pytest.fixture
def analysed_case(tmp_path: Path, jpeg_photo: Path, spliced_jpeg: tuple[Path, np.ndarray]) -> Case:
    case = Case.create(tmp_path / "case", name="Harbour fire 2024-031", analyst="Dana Q. Examiner")
    ela = registry.get("ela")
    for path in (jpeg_photo, spliced_jpeg[0]):
        evidence = case.add_evidence(path)
        analyze(case, evidence, [Planned(ela, ela.params_from({"quality": "87", "scale": "23.5"}))])
    yield case
    case.close()


def test_report_contents(analysed_case: Case, tmp_path: Path) -> None:
    pdf = write_pdf(analysed_case, tmp_path / "report.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    text = pdf_text(pdf)
    words = flat(text)
    assert "Harbour fire 2024-031" in words
    assert "Dana Q. Examiner" in words
    for evidence in analysed_case.all_evidence():
        assert evidence.name in words
        # pdftotext breaks the 64-digit hash over the lines of its table cell.
        assert evidence.sha256 in squashed(text)
    assert words.count("verified at export") == 2
    assert "MISMATCH" not in words and "NOT VERIFIED" not in words
    assert words.count("Error level analysis (ela)") == 2
    assert "parameter quality 87" in words and "parameter scale 23.5" in words
    assert "Limits" in words
    assert "ELA is a visual aid, not a detector" in words  # from the analyzer card's Limits section
    assert "How to read it" in words
    assert "the map over the image" in words


def test_report_text_has_no_ligatures(analysed_case: Case, tmp_path: Path) -> None:
    """Text copied out of the report must be what was typed: a hash with "ff" must not become "ﬀ"."""
    text = pdf_text(write_pdf(analysed_case, tmp_path / "report.pdf"))
    assert not LIGATURES.search(text), LIGATURES.findall(text)
    for evidence in analysed_case.all_evidence():
        # Evidence table, provenance ("Input SHA-256") and audit log ("evidence added").
        assert squashed(text).count(evidence.sha256) >= 3


def test_report_export_is_audited(analysed_case: Case, tmp_path: Path) -> None:
    pdf = write_pdf(analysed_case, tmp_path / "report.pdf")
    last = analysed_case.audit()[-1]
    assert last.action == "report exported"
    assert str(pdf) in last.detail
    assert f"sha256={hashlib.sha256(pdf.read_bytes()).hexdigest()}" in last.detail


def test_modified_evidence_is_flagged(analysed_case: Case, tmp_path: Path, jpeg_photo: Path,
                                      astronaut: np.ndarray) -> None:
    jpeg_photo.write_bytes(jpeg_bytes(np.asarray(astronaut), 75))
    now = hashlib.sha256(jpeg_photo.read_bytes()).hexdigest()
    pdf = write_pdf(analysed_case, tmp_path / "report.pdf")
    words = flat(pdf_text(pdf))
    assert "MISMATCH" in words
    assert now in squashed(pdf_text(pdf))  # the hash the file has now is given
    assert words.count("verified at export") == 1  # the other evidence item is still fine
    assert "could not be re-opened" in words  # its ELA map is shown alone, not over the changed file


def test_deleted_evidence_is_not_verified(analysed_case: Case, tmp_path: Path, spliced_jpeg) -> None:
    spliced_jpeg[0].unlink()
    pdf = write_pdf(analysed_case, tmp_path / "report.pdf")
    assert pdf.is_file()
    words = flat(pdf_text(pdf))
    assert "NOT VERIFIED" in words and "missing" in words
    assert words.count("verified at export") == 1
    assert "could not be re-opened" in words
    assert analysed_case.audit()[-1].action == "report exported"


def test_verify_hash_states(analysed_case: Case) -> None:
    first, second = analysed_case.all_evidence()
    assert verify_hash(first).ok and verify_hash(first).text == "verified at export"
    first.path.write_bytes(b"changed")
    check = verify_hash(first)
    assert not check.ok and check.text.startswith("MISMATCH")
    assert hashlib.sha256(b"changed").hexdigest() in check.text
    second.path.unlink()
    assert not verify_hash(second).ok and verify_hash(second).text.startswith("NOT VERIFIED")


def test_evidence_without_analysis(tmp_path: Path, jpeg_photo: Path) -> None:
    case = Case.create(tmp_path / "case", name="Empty runs", analyst="X")
    case.add_evidence(jpeg_photo)
    report = build_report(case)
    assert "No analysis was run on this item." in report.html
    assert report.figures == {}
    words = flat(pdf_text(write_pdf(case, tmp_path / "report.pdf")))
    assert "No analysis was run on this item." in words and "verified at export" in words
    case.close()


def test_failed_run_is_reported(tmp_path: Path, jpeg_photo: Path, astronaut: np.ndarray) -> None:
    case = Case.create(tmp_path / "case", name="Failed run", analyst="X")
    evidence = case.add_evidence(jpeg_photo)
    jpeg_photo.write_bytes(jpeg_bytes(np.asarray(astronaut), 70))
    ela = registry.get("ela")
    analyze(case, evidence, [Planned(ela, ela.params_from({}))])
    words = flat(pdf_text(write_pdf(case, tmp_path / "report.pdf")))
    assert "Status: error." in words and "changed since import" in words
    case.close()


def test_report_into_missing_folder(analysed_case: Case, tmp_path: Path) -> None:
    with pytest.raises(OSError, match="does not exist"):
        write_pdf(analysed_case, tmp_path / "no such folder" / "report.pdf")
    assert analysed_case.audit()[-1].action != "report exported"


def test_cli_report_into_missing_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                        jpeg_photo: Path) -> None:
    code = cli_main(["analyze", str(jpeg_photo), "--analyzers", "ela", "--case", str(tmp_path / "case"),
                     "--report", str(tmp_path / "missing" / "r.pdf")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines()[-1].startswith("workbench: error: cannot write the report")


# -- per-frame results and video evidence ---------------------------------------------------------
def _video_case(tmp_path: Path) -> tuple[Case, Path]:
    """A 2 s, 10 fps clip with a per-frame ELA series and a face verdict, as the analyzers save them."""
    from workbench.core.results import Series, Verdict
    from workbench.synthetic.videos import photo_clip, write_video

    folder = tmp_path / "evidence"
    folder.mkdir(exist_ok=True)
    clip = write_video(folder / "harbour.mp4", photo_clip(0, 2.0, 10.0, (160, 120)), 10.0)
    case = Case.create(tmp_path / "case", name="Video report", analyst="X")
    item = case.add_evidence(clip)
    case.save_result(item.id, Series(
        "ela", score=0.8, score_meaning="highest per-frame value", times=np.array([0.0, 1.0]),
        values=np.array([0.8, np.nan], np.float32), frames=np.array([0, 10]),
        images={"frame 0 at 0.00 s": np.full((60, 80, 3), 90, np.uint8)}, label="99th percentile of the map",
        source_analyzer="ela", sampling="one frame every 1 s", skipped=3,
        top=[{"frame": 0, "time": 0.0, "value": 0.8}]))
    case.save_result(item.id, Verdict(
        "faceswap", boxes=np.array([[10, 10, 60, 70], [20, 12, 70, 72]], np.float32), frames=np.array([0, 10]),
        tracks=np.array([1, 1]), box_scores=np.array([0.4, 0.9]), labels=["face", "face"], probability=0.72,
        label="P(manipulated)", calibrated=False, aggregation="mean of the per-frame maxima",
        votes=[{"model": "m1", "title": "Detector one", "probability": 0.72, "status": "ok", "note": ""},
               {"model": "m2", "title": "Detector two", "probability": None, "status": "unavailable",
                "note": "weights not installed"}],
        times=np.array([0.0, 1.0]), values=np.array([0.4, 0.9])))
    return case, clip


def test_video_report_sections(tmp_path: Path) -> None:
    from workbench.app.per_frame import BOX_RGB

    case, _clip = _video_case(tmp_path)
    [series_run, verdict_run] = case.latest_runs(1)
    report = build_report(case)
    plot, boxes = report.figures[f"run{series_run.id}-plot.png"], report.figures[f"run{verdict_run.id}-boxes.png"]
    assert plot.shape == (200, 640, 3) and f"run{verdict_run.id}-plot.png" in report.figures
    assert boxes.shape == (120, 160, 3) and tuple(boxes[40, 20]) == BOX_RGB  # frame 10's box, its left edge
    assert f"run{series_run.id}-frame0.png" in report.figures
    words = flat(pdf_text(write_pdf(case, tmp_path / "report.pdf")))
    for text in ("Container MPEG-4", "Frame rate 10.000 fps", "Frames 20", "Creation time not recorded",
                 "Frames one frame every 1 s", "Frames analysed 2", "Undecodable frames skipped 3",
                 "Frames whose analysis failed 1", "0 0:00.000 0.8000", "frame 0 at 0.00 s",
                 "P(manipulated): 0.720 (not calibrated: a score for ranking, not a frequency).",
                 "Aggregation mean of the per-frame maxima", "Detector two", "weights not installed",
                 "Frame 10 (0:01.000), the frame of the most confident box: 1 of 2 box(es) on 2 frame(s)."):
        assert text in words, text
    case.close()


def test_abstained_verdict_and_boxes_on_an_image(tmp_path: Path, jpeg_photo: Path) -> None:
    from workbench.core.results import Verdict

    case = Case.create(tmp_path / "case", name="Faces", analyst="X")
    item = case.add_evidence(jpeg_photo)
    run = case.save_result(item.id, Verdict("faceswap", boxes=np.array([[100, 80, 300, 330]], np.float32),
                                            labels=["face"], abstained=True,
                                            explanation="the face is too small for the detectors"))
    report = build_report(case)
    assert report.figures[f"run{run.id}-boxes.png"].shape == (512, 512, 3)
    words = flat(pdf_text(write_pdf(case, tmp_path / "report.pdf")))
    assert "Abstained: no answer is given (the face is too small for the detectors)." in words
    assert "Abstained yes" in words and "1 box(es) over the image." in words
    case.close()


def test_video_gone_at_report_time(tmp_path: Path) -> None:
    case, clip = _video_case(tmp_path)
    clip.unlink()
    words = flat(pdf_text(write_pdf(case, tmp_path / "report.pdf")))
    assert "NOT VERIFIED" in words and "Container facts not read" in words
    assert "Boxes not drawn: the evidence file could not be re-opened or decoded." in words
    assert "Frames analysed 2" in words  # the stored results are still reported
    case.close()
