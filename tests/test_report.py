"""The PDF report, read back with pdftotext: identification, hashes re-verified, findings first,
results, limits; its page and size budget on an 8-item case; export on a worker thread, cancelled."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from workbench.app.analysis import Planned, analyze
from workbench.app.case import Case
from workbench.app.cli import main as cli_main
from workbench.app.report import ReportCancelled, build_report, verify_hash, write_pdf
from workbench.app.sample import jpeg_bytes
from workbench.core import registry

# Every test here paints with Qt: `qapp` (pytest-qt) creates the QApplication first, so that
# write_pdf does not create a bare QGuiApplication that later widget tests would inherit and crash on.
pytestmark = pytest.mark.usefixtures("qapp")

LIGATURES = re.compile("[\ufb00-\ufb06]")


def pdf_text(path: Path, raw: bool = False) -> str:
    """The text in reading order, or with `raw` in the order it is painted (a table cell's lines
    together, not interleaved with its neighbours')."""
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: cannot read the PDF report")
    return subprocess.run([exe, *(["-raw"] if raw else []), str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


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
    assert words.count("Error level analysis — no score") == 2  # the caption of each item's map
    assert words.count("quality=87") == 2 and words.count("scale=23.5") == 2
    assert words.count("Error level analysis (ela v") == 1  # its card, once, in the appendix
    assert words.count("ELA is a visual aid, not a detector") == 1  # from the card's Limits section
    for section in ("What it shows.", "How to read it.", "Limits."):
        assert words.count(section) == 1
    assert words.count("over the image at opacity 0.7") == 2


def test_results_left_out_by_the_analyst(analysed_case: Case) -> None:
    first, second = analysed_case.all_evidence()
    analysed_case.set_included(first.id, "ela", False)
    [left_out], [kept] = analysed_case.latest_runs(first.id), analysed_case.latest_runs(second.id)
    report = build_report(analysed_case)
    assert f"run{left_out.id}-map.png" not in report.figures and f"run{kept.id}-map.png" in report.figures
    assert report.html.count("Left out of the report by the analyst: Error level analysis.") == 1
    analysed_case.set_included(second.id, "ela", False)
    report = build_report(analysed_case)
    assert "No result of this item is included." in report.html
    assert "ELA is a visual aid" not in report.html  # no card for a method whose results are all left out


def test_report_text_has_no_ligatures(analysed_case: Case, tmp_path: Path) -> None:
    """Text copied out of the report must be what was typed: a hash with "ff" must not become "ﬀ"."""
    text = pdf_text(write_pdf(analysed_case, tmp_path / "report.pdf"), raw=True)
    assert not LIGATURES.search(text), LIGATURES.findall(text)
    for evidence in analysed_case.all_evidence():
        # Evidence table and audit log ("evidence added"); results say when their input was another file.
        assert squashed(text).count(evidence.sha256) >= 2


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
    assert "(the map alone: the evidence file could not be" in words  # not drawn over the changed file


def test_deleted_evidence_is_not_verified(analysed_case: Case, tmp_path: Path, spliced_jpeg) -> None:
    spliced_jpeg[0].unlink()
    pdf = write_pdf(analysed_case, tmp_path / "report.pdf")
    assert pdf.is_file()
    words = flat(pdf_text(pdf))
    assert "NOT VERIFIED" in words and "missing" in words
    assert words.count("verified at export") == 1
    assert "(the map alone: the evidence file could not be" in words
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
    assert list(report.figures) == ["thumb1.png"]  # the thumbnail made at import, nothing else
    words = flat(pdf_text(write_pdf(case, tmp_path / "report.pdf")))
    assert "No analysis was run on this item." in words and "verified at export" in words
    assert "Every analysis that was run gave a result." in words
    case.close()


def test_failed_run_is_reported(tmp_path: Path, jpeg_photo: Path, astronaut: np.ndarray) -> None:
    case = Case.create(tmp_path / "case", name="Failed run", analyst="X")
    evidence = case.add_evidence(jpeg_photo)
    jpeg_photo.write_bytes(jpeg_bytes(np.asarray(astronaut), 70))
    ela = registry.get("ela")
    analyze(case, evidence, [Planned(ela, ela.params_from({}))])
    words = flat(pdf_text(write_pdf(case, tmp_path / "report.pdf")))
    failed = words.split("4. Analyses without a result", 1)[1]
    assert "Error level analysis #1 error photo.jpg: the file changed since import" in failed
    assert "No result of this item is included." in words
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
    assert code == 1 and not (tmp_path / "case").exists()  # refused before anything was analysed
    assert err.splitlines()[-1].startswith("workbench: error: --report ") and "does not exist" in err


# -- per-frame results and video evidence ---------------------------------------------------------
def _video_case(tmp_path: Path) -> tuple[Case, Path]:
    """A 2 s, 10 fps clip with a per-frame ELA series, a face verdict, as the analyzers save them, and a
    per-frame series whose every frame failed."""
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
    case.save_result(item.id, Series("noise_median", times=np.array([0.0, 1.0]), values=np.full(2, np.nan),
                                     frames=np.array([0, 10]), source_analyzer="noise_median"))
    return case, clip


def test_video_report_sections(tmp_path: Path) -> None:
    from workbench.app.per_frame import BOX_RGB

    case, _clip = _video_case(tmp_path)
    [series_run, verdict_run, failed_run] = case.latest_runs(1)
    report = build_report(case)
    plot, boxes = report.figures[f"run{series_run.id}-plot.png"], report.figures[f"run{verdict_run.id}-boxes.png"]
    assert plot.shape == (200, 640, 3) and f"run{verdict_run.id}-plot.png" in report.figures
    assert f"run{failed_run.id}-plot.png" not in report.figures  # no empty plot
    assert boxes.shape == (120, 160, 3) and tuple(boxes[40, 20]) == BOX_RGB  # frame 10's box, its left edge
    assert f"run{series_run.id}-frame0.png" in report.figures
    words = flat(pdf_text(write_pdf(case, tmp_path / "report.pdf")))
    for text in ("Container MPEG-4", "Frame rate 10.000 fps", "Frames 20", "Creation time not recorded",
                 "Frames one frame every 1 s", "Frames analysed 2", "Undecodable frames skipped 3",
                 "Frames whose analysis failed 1", "Highest frames: frame 0 0.8000", "frame 0 at 0.00 s",
                 "Frames analysed 2 Undecodable frames skipped 0 Frames whose analysis failed 2",
                 "P(manipulated): 0.720 (not calibrated: a score for ranking, not a frequency).",
                 "Aggregation mean of the per-frame maxima", "Detector two", "weights not installed",
                 "frame 10 (0:01.000), the frame of the most confident box: 1 of 2 box(es) on 2 frame(s)."):
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
    from workbench.app.report.details import TILE_WIDTH
    from workbench.app.report.figures import print_size

    assert report.figures[f"run{run.id}-boxes.png"].shape == (print_size(TILE_WIDTH),) * 2 + (3,)  # as printed
    words = flat(pdf_text(write_pdf(case, tmp_path / "report.pdf")))
    assert "Abstained: no answer is given (the face is too small for the detectors)." in words
    assert "Abstained yes" in words and "1 box(es) over the image." in words
    case.close()


def test_video_gone_at_report_time(tmp_path: Path) -> None:
    case, clip = _video_case(tmp_path)
    clip.unlink()
    words = flat(pdf_text(write_pdf(case, tmp_path / "report.pdf")))
    assert "NOT VERIFIED" in words and "Container facts not read" in words
    assert "faceswap: boxes not drawn: the evidence file could not be re-opened or decoded." in words
    assert "Frames analysed 2" in words  # the stored results are still reported
    case.close()


# -- an 8-item case: budget, order, cards once ------------------------------------------------------
def page_count(pdf: Path) -> int:
    from PySide6.QtPdf import QPdfDocument

    doc = QPdfDocument()
    doc.load(str(pdf))
    return doc.pageCount()


def test_eight_item_case_fits_the_budget(tmp_path: Path) -> None:
    """The issue's budget (≤ 30 pages, ≤ 8 MB) on camera-sized photos, with findings leading."""
    from report_case import MAPS, NOTES, build_case

    case = build_case(tmp_path)
    fractions: list[float] = []
    pdf = write_pdf(case, tmp_path / "report.pdf", lambda fraction, _message: fractions.append(fraction))
    assert page_count(pdf) <= 30
    assert pdf.stat().st_size <= 8_000_000
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    words = flat(pdf_text(pdf))
    summary, details = words.index("2. Summary"), words.index("3. Details")
    failed, appendix = words.index("4. Analyses without a result"), words.index("Appendix A. Methods")
    assert summary < details < failed < appendix
    for note in NOTES.values():  # first said in the summary (the audit log repeats them at the end)
        assert summary < words.index(note) < details, note
    assert "Frame 10 at 0:01.000" in words and "Frame 25 at 0:02.500" in words  # the clip's span
    assert "no calibration on authentic photos for this analyzer version" in words[summary:details]
    methods = (*MAPS, "metadata", "deepfake.faces")
    for analyzer_id in methods:  # each card once, in the appendix
        assert words.count(f"{registry.get(analyzer_id).title} ({analyzer_id} v") == 1, analyzer_id
    assert words.count("Limits.") == len(methods)
    failures = words[failed:appendix]
    assert "Deepfake detection (ensemble) #1, #2, #3, #4, #5, #6, #7, #8 unavailable" in failures
    assert "deepfake_effnb4_dfb" in failures.rsplit("unavailable", 1)[1]  # the model to install
    assert "Video copy detection #7, #8 error the case has no reference videos indexed" in failures
    case.close()


# -- background export ------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", ["Verifying", "Painted page"])
def test_cancelled_export_leaves_no_file(analysed_case: Case, tmp_path: Path, stage: str) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    previous = folder / "report.pdf"
    previous.write_bytes(b"an earlier report")
    cancel = threading.Event()

    def progress(_fraction: float, message: str) -> None:
        if message.startswith(stage):
            cancel.set()

    with pytest.raises(ReportCancelled):
        write_pdf(analysed_case, previous, progress, cancel.is_set)
    assert [p.name for p in folder.iterdir()] == ["report.pdf"]  # no partial file beside it
    assert previous.read_bytes() == b"an earlier report"
    assert analysed_case.audit()[-1].action == "report export cancelled"


def test_export_as_a_background_job(analysed_case: Case, tmp_path: Path, qapp) -> None:
    """As the window runs it: a job on a worker thread while the GUI thread keeps handling events."""
    from workbench.app.jobs import JobRunner

    runner = JobRunner()
    messages: list[str] = []
    job = runner.submit("Export report", lambda j: write_pdf(analysed_case, tmp_path / "report.pdf", j.report,
                                                             j.cancelled),
                        on_change=lambda j: messages.append(j.message))
    while not job.done:
        qapp.processEvents()
        threading.Event().wait(0.01)
    runner.shutdown()
    assert job.error is None, job.error
    assert job.result == tmp_path / "report.pdf" and job.fraction == 1.0
    assert messages[0].startswith("Verifying") and any(m.startswith("Painted page 1 of") for m in messages)
    assert "Harbour fire 2024-031" in flat(pdf_text(job.result))
    assert job.result.read_bytes().count(b"/Subtype /Image") >= 5  # maps, thumbnails, legend: drawn off the GUI thread


def test_export_without_an_application(analysed_case: Case, tmp_path: Path) -> None:
    """The CLI's case: no QApplication; the main thread makes one, a worker thread is told it cannot."""
    script = (
        "import sys, threading\n"
        "from workbench.app.case import Case\n"
        "from workbench.app.report import write_pdf\n"
        "case = Case.open(sys.argv[1])\n"
        "errors = []\n"
        "def export():\n"
        "    try:\n"
        "        write_pdf(case, sys.argv[2] + '.worker.pdf')\n"
        "    except RuntimeError as exc:\n"
        "        errors.append(str(exc))\n"
        "worker = threading.Thread(target=export)\n"
        "worker.start(); worker.join()\n"
        "print(errors)\n"
        "write_pdf(case, sys.argv[2])\n"
    )
    pdf = tmp_path / "cli.pdf"
    done = subprocess.run([sys.executable, "-c", script, str(analysed_case.root), str(pdf)], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parents[1], timeout=120,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    assert "needs the application's QGuiApplication" in done.stdout
    assert not (tmp_path / "cli.pdf.worker.pdf").exists()
    assert "Harbour fire 2024-031" in flat(pdf_text(pdf))
