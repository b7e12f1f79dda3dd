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
