"""Importing files and folders: what is added, what is skipped (with a reason), what is ignored;
evidence is never modified and non-ASCII names survive every step."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest

from workbench.app.analysis import Planned, analyze
from workbench.app.case import Case
from workbench.app.cli import main as cli_main
from workbench.app.importing import import_paths
from workbench.app.report import write_pdf
from workbench.app.sample import jpeg_bytes, load_photo
from workbench.core import media as media_module
from workbench.core import registry
from workbench.core.results import Status

NON_ASCII = "фото_测试_é"


def has_all(message: str, words: tuple[str, ...] | list[str]) -> bool:
    return all(w.lower() in message.lower() for w in words)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file and folder under `folder`: content, mtime (ns) and mode."""
    state = {}
    for p in sorted(folder.rglob("*")):
        st = p.stat()
        content = p.read_bytes() if p.is_file() else b""
        state[str(p.relative_to(folder))] = (content, st.st_mtime_ns, st.st_mode)
    return state


def pdf_text(path: Path) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: cannot read the PDF report")
    return subprocess.run([exe, str(path), "-"], capture_output=True, text=True, check=True).stdout


def has_cjk_font() -> bool:
    exe = shutil.which("fc-list")
    return bool(exe and subprocess.run([exe, ":lang=zh"], capture_output=True, text=True).stdout.strip())


def test_bad_file_is_skipped_with_reason(case: Case, bad_kind: str, make_bad_file) -> None:
    path, words = make_bad_file(bad_kind)
    report = import_paths(case, [path])
    assert report.added == [] and report.already_present == []
    [(skipped, reason)] = report.skipped
    assert skipped == path
    assert has_all(reason, words), reason
    assert case.all_evidence() == []
    last = case.audit()[-1]
    assert last.action == "evidence skipped" and path.name in last.detail


def test_unreadable_file_is_skipped(case: Case, jpeg_photo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_access = os.access
    monkeypatch.setattr(media_module.os, "access",
                        lambda p, mode: False if Path(p) == jpeg_photo else real_access(p, mode))
    report = import_paths(case, [jpeg_photo])
    [(_, reason)] = report.skipped
    assert has_all(reason, ["photo.jpg", "permission denied"])
    assert report.added == []


@pytest.mark.parametrize(("source", "renamed", "actual"),
                         [("png_image", "renamed.jpg", "PNG"), ("jpeg_photo", "renamed.png", "JPEG")])
def test_wrong_extension_is_added_with_warning(
    case: Case, request: pytest.FixtureRequest, source: str, renamed: str, actual: str
) -> None:
    original: Path = request.getfixturevalue(source)
    path = original.with_name(renamed)
    original.rename(path)
    report = import_paths(case, [path])
    [evidence] = report.added
    assert evidence.format == actual
    assert len(evidence.warnings) == 1
    assert has_all(evidence.warnings[0], ["does not match", actual, "renamed"])
    assert case.evidence(evidence.id).warnings == evidence.warnings  # stored


def test_mixed_folder(case: Case, evidence_dir: Path, jpeg_photo: Path, png_image: Path,
                      make_bad_file) -> None:
    (evidence_dir / "notes.txt").write_text("interview notes", encoding="utf-8")
    (evidence_dir / ".hidden.jpg").write_bytes(jpeg_bytes(load_photo("chelsea.png")[:64, :64], 90))
    (evidence_dir / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    corrupt, _ = make_bad_file("truncated")
    shutil.move(corrupt, evidence_dir / "corrupt.jpg")
    (evidence_dir / "sub").mkdir()
    (evidence_dir / "sub" / "cat.jpg").write_bytes(jpeg_bytes(load_photo("chelsea.png"), 85))

    report = import_paths(case, [evidence_dir])

    assert sorted(e.name for e in report.added) == ["cat.jpg", "coffee.png", "photo.jpg"]
    cat = next(e for e in report.added if e.name == "cat.jpg")
    assert cat.path == (evidence_dir / "sub" / "cat.jpg").resolve()
    skipped = {p.name: reason for p, reason in report.skipped}
    assert set(skipped) == {"notes.txt", "corrupt.jpg"}
    assert "not an image or video file" in skipped["notes.txt"]
    assert "truncated" in skipped["corrupt.jpg"]
    assert report.already_present == []
    assert report.summary() == "3 file(s) added, 2 skipped"
    assert sorted(e.name for e in case.all_evidence()) == ["cat.jpg", "coffee.png", "photo.jpg"]
    assert not any(".hidden" in a.detail or ".DS_Store" in a.detail for a in case.audit())


def test_reimport_reports_already_present(case: Case, evidence_dir: Path, jpeg_photo: Path,
                                          png_image: Path) -> None:
    first = import_paths(case, [evidence_dir])
    again = import_paths(case, [evidence_dir])
    assert len(first.added) == 2
    assert again.added == [] and sorted(e.id for e in again.already_present) == [1, 2]
    assert again.summary() == "0 file(s) added, 2 already in the case"


def test_cancelled_import_skips_the_rest(case: Case, jpeg_photo: Path, png_image: Path) -> None:
    calls: list[str] = []
    report = import_paths(case, [jpeg_photo, png_image], progress=lambda f, m: calls.append(m),
                          cancelled=lambda: len(calls) >= 1)
    assert [e.name for e in report.added] == ["photo.jpg"]
    assert [(p.name, r) for p, r in report.skipped] == [("coffee.png", "coffee.png: import cancelled")]


def test_evidence_never_modified(qapp, tmp_path: Path, evidence_dir: Path, jpeg_photo: Path,
                                 png_image: Path, spliced_jpeg: tuple[Path, np.ndarray]) -> None:
    # `qapp` (pytest-qt): the report must not create a bare QGuiApplication that later GUI tests inherit.
    (evidence_dir / "sub").mkdir()
    shutil.copyfile(jpeg_photo, evidence_dir / "sub" / f"{NON_ASCII}.jpg")
    os.utime(evidence_dir / "sub", ns=(1_000_000_000, 1_000_000_000))  # folders too
    before = snapshot(evidence_dir)
    listing = sorted(os.listdir(evidence_dir))
    folder_mtime = evidence_dir.stat().st_mtime_ns

    case = Case.create(tmp_path / "case", name="Integrity", analyst="Tester")
    report = import_paths(case, [evidence_dir])
    assert len(report.added) == 3 and len(report.already_present) == 1  # the copy in sub/ is a duplicate
    plan = [Planned(a, a.params_from({})) for a in registry.analyzers().values()]
    for evidence in case.all_evidence():
        analyze(case, evidence, plan)
    write_pdf(case, tmp_path / "report.pdf")
    case.close()
    out = tmp_path / "out"
    out.mkdir()
    code = cli_main(["analyze", str(evidence_dir), "--case", str(tmp_path / "case"),
                     "--json", str(out / "r.json"), "--report", str(out / "r.pdf")])
    assert code in (0, 1)  # a plugin still in development may fail; the evidence must not change anyway

    assert sorted(os.listdir(evidence_dir)) == listing
    assert evidence_dir.stat().st_mtime_ns == folder_mtime  # nothing created, renamed or deleted in it
    assert snapshot(evidence_dir) == before


def test_non_ascii_names_end_to_end(qapp, tmp_path: Path, jpeg_photo: Path) -> None:
    folder = tmp_path / NON_ASCII
    folder.mkdir()
    path = folder / f"{NON_ASCII}.jpg"
    shutil.copyfile(jpeg_photo, path)

    case = Case.create(tmp_path / f"case {NON_ASCII}", name=f"Дело {NON_ASCII}", analyst="José Ñúñez")
    report = import_paths(case, [folder])
    [evidence] = report.added
    assert evidence.name == f"{NON_ASCII}.jpg" and evidence.path == path.resolve()
    ela = registry.get("ela")
    [run] = analyze(case, evidence, [Planned(ela, ela.params_from({}))])
    assert run.result.status is Status.OK
    case.close()

    out = tmp_path / "выход"
    out.mkdir()
    json_path, pdf_path = out / "результат.json", out / "отчёт.pdf"
    code = cli_main(["analyze", str(folder), "--analyzers", "ela", "--case", str(case.root),
                     "--json", str(json_path), "--report", str(pdf_path)])
    assert code == 0
    raw = json_path.read_text(encoding="utf-8")
    assert NON_ASCII in raw  # written as UTF-8, not \u escapes
    doc = json.loads(raw)
    [entry] = doc["evidence"]
    assert entry["path"] == str(path.resolve())
    assert Path(entry["results"][0]["map"]).is_file()

    text = pdf_text(pdf_path)
    if has_cjk_font():
        assert f"Дело {NON_ASCII}" in text and f"{NON_ASCII}.jpg" in text
    else:  # without a CJK font Qt cannot draw 测试; the rest of the name must still be right
        assert "Дело фото_" in text and "_é.jpg" in text
    assert "José Ñúñez" in text


ODD_NAME = b"\xff\xfe caf\xe9.jpg"
"""A file name that is not UTF-8 (Latin-1 bytes, as an old camera or archive may write them)."""
ODD_SHOWN = "\\xff\\xfe caf\\xe9.jpg"


def test_name_that_is_not_utf8_is_kept_exactly_and_shown_escaped(qapp, tmp_path: Path, evidence_dir: Path,
                                                                   jpeg_photo: Path, png_image: Path) -> None:
    odd = Path(os.fsdecode(os.path.join(os.fsencode(evidence_dir), ODD_NAME)))
    with open(os.fsencode(odd), "wb") as fh:  # created by its bytes, as another system would have
        fh.write(jpeg_bytes(load_photo("chelsea.png"), 85))

    case = Case.create(tmp_path / "case")
    report = import_paths(case, [evidence_dir])
    assert len(report.added) == 3 and report.skipped == []
    item = next(e for e in report.added if e.name == ODD_SHOWN)
    assert os.fsencode(item.path) == os.fsencode(odd.resolve())  # byte for byte
    assert any("not valid UTF-8" in w and "\\xNN" in w for w in item.warnings)
    assert any(ODD_SHOWN in a.detail for a in case.audit())
    case.close()

    reopened = Case.open(tmp_path / "case")  # the stored path opens and re-hashes the same file
    [stored] = [e for e in reopened.all_evidence() if e.id == item.id]
    assert stored.path == item.path and stored.name == ODD_SHOWN
    assert reopened.open_media(stored).sha256 == item.sha256
    reopened.close()

    json_path, pdf_path = tmp_path / "out.json", tmp_path / "out.pdf"
    code = cli_main(["analyze", str(evidence_dir), "--analyzers", "ela", "--case", str(tmp_path / "case"),
                     "--json", str(json_path), "--report", str(pdf_path)])
    assert code == 0
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    paths = sorted(Path(entry["path"]).name for entry in doc["evidence"])
    assert paths == sorted([ODD_SHOWN, "coffee.png", "photo.jpg"])
    assert all(entry["results"][0]["status"] == "ok" for entry in doc["evidence"])  # every file analysed
    if shutil.which("pdftotext"):
        assert ODD_SHOWN in pdf_text(pdf_path)


def test_case_inside_a_folder_given_is_refused(case: Case, tmp_path: Path, evidence_dir: Path,
                                               jpeg_photo: Path) -> None:
    """The case lives in tmp_path/case: adding tmp_path would import the case's own thumbnails."""
    import_paths(case, [jpeg_photo])
    thumbnail = case.thumbnail_path(1)
    report = import_paths(case, [tmp_path, thumbnail])
    assert report.added == [] and report.duplicates == []
    reasons = dict(report.skipped)
    assert has_all(reasons[tmp_path], ["holds the case folder", "move the case"])
    assert has_all(reasons[thumbnail], ["part of the case folder", "not evidence"])
    assert len(case.all_evidence()) == 1


def test_cli_refuses_a_case_inside_the_evidence_folder(capsys: pytest.CaptureFixture[str], evidence_dir: Path,
                                                       jpeg_photo: Path) -> None:
    before = snapshot(evidence_dir)
    for case_folder in (evidence_dir / "case", evidence_dir / "sub" / "case", evidence_dir):
        code = cli_main(["analyze", str(evidence_dir), "--analyzers", "ela", "--case", str(case_folder)])
        assert code == 1
        assert has_all(capsys.readouterr().err, ["inside", "a folder given as evidence", "outside"])
    assert snapshot(evidence_dir) == before  # no case written into it, nothing imported from it


def test_every_path_in_a_folder_is_accounted_for(case: Case, evidence_dir: Path, jpeg_photo: Path,
                                                  png_image: Path) -> None:
    (evidence_dir / "broken.jpg").symlink_to(evidence_dir / "gone.jpg")
    (evidence_dir / "loop.jpg").symlink_to(evidence_dir / "loop.jpg")
    os.mkfifo(evidence_dir / "pipe.jpg")  # opening it would wait for a writer for ever
    os.mknod(evidence_dir / "device.mp4", 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    (elsewhere := evidence_dir.parent / "elsewhere").mkdir()
    (evidence_dir / "linked folder").symlink_to(elsewhere, target_is_directory=True)
    (evidence_dir / "link to photo.jpg").symlink_to(jpeg_photo)
    shutil.copyfile(png_image, elsewhere / "outside.png")
    png_image.unlink()
    (evidence_dir / "a link out.png").symlink_to(elsewhere / "outside.png")

    report = import_paths(case, [evidence_dir])

    assert [e.name for e in report.added] == ["photo.jpg", "outside.png"]
    assert report.added[1].warnings == [f"given as the link {evidence_dir / 'a link out.png'}"]
    [link] = report.copies  # the same file, given under another path: accounted for as such
    assert link.path == evidence_dir / "link to photo.jpg" and link.same_as.path == jpeg_photo
    reasons = {p.name: r for p, r in report.skipped}
    assert set(reasons) == {"broken.jpg", "loop.jpg", "pipe.jpg", "device.mp4", "linked folder"}
    assert has_all(reasons["broken.jpg"], ["broken link", "gone.jpg"])
    assert has_all(reasons["loop.jpg"], ["loop of symbolic links"])
    assert has_all(reasons["pipe.jpg"], ["not a regular file", "named pipe"])
    assert has_all(reasons["device.mp4"], ["not a regular file", "character device"])
    assert has_all(reasons["linked folder"], ["link to the folder", "not followed", "elsewhere"])
    logged = [a.detail for a in case.audit() if a.action == "evidence skipped"]
    assert all(any(name in line for line in logged) for name in reasons)


def test_a_pipe_named_explicitly_is_skipped_not_waited_on(case: Case, evidence_dir: Path) -> None:
    os.mkfifo(evidence_dir / "pipe.jpg")
    report = import_paths(case, [evidence_dir / "pipe.jpg"])
    [(_, reason)] = report.skipped
    assert has_all(reason, ["pipe.jpg", "named pipe"])


def test_identical_copy_is_listed_with_its_own_warnings(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                        evidence_dir: Path, jpeg_photo: Path) -> None:
    copy = evidence_dir / "copy.png"  # JPEG bytes under a PNG name
    shutil.copyfile(jpeg_photo, copy)
    case = Case.create(tmp_path / "case")
    report = import_paths(case, [evidence_dir])
    assert [e.name for e in report.added] == ["copy.png"]  # sorted first: the copy becomes the item
    [duplicate] = report.duplicates
    assert duplicate.path == jpeg_photo and duplicate.same_as.path == copy.resolve()
    assert report.summary() == "1 file(s) added, 1 identical to another item"
    [note] = report.notes()
    assert has_all(note, ["photo.jpg", "same content as #1 'copy.png'", "not added again"])
    assert report.added[0].warnings and has_all(report.added[0].warnings[0], ["does not match", "JPEG"])
    assert [a.action for a in case.audit()].count("evidence duplicate") == 1

    again = import_paths(case, [copy])  # the same file again is no copy: counted, not listed
    assert again.summary() == "0 file(s) added, 1 already in the case" and again.notes() == []
    case.close()

    shutil.copyfile(jpeg_photo, evidence_dir / "renamed.png")
    json_path = tmp_path / "out.json"
    code = cli_main(["analyze", str(jpeg_photo), str(evidence_dir / "renamed.png"), "--analyzers", "ela",
                     "--case", str(tmp_path / "case2"), "--json", str(json_path)])
    assert code == 0
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert [e["path"] for e in doc["evidence"]] == [str(jpeg_photo.resolve())]
    [listed] = doc["duplicates"]
    assert listed["path"] == str((evidence_dir / "renamed.png").resolve())
    assert listed["same_as"] == str(jpeg_photo.resolve())
    assert has_all(listed["warnings"][0], ["does not match", "JPEG", "renamed"])
    assert "duplicate: renamed.png: same content as #1 'photo.jpg'" in capsys.readouterr().err
