"""The case store: evidence, runs and audit log survive close/reopen; changes are detected."""

from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageFile

from workbench.app.analysis import Planned, analyze
from workbench.app.case import Case, CaseError, DuplicateEvidence
from workbench.app.importing import import_paths
from workbench.app.sample import jpeg_bytes
from workbench.core import registry
from workbench.core.media import MediaError
from workbench.core.results import Heatmap, Status


def ela_plan(**params: str) -> list[Planned]:
    ela = registry.get("ela")
    return [Planned(ela, ela.params_from(params))]


def count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The formats of the full decodes of image files from now on (Pillow decodes on `load`)."""
    decoded: list[str] = []
    load = ImageFile.ImageFile.load

    def counted(im: ImageFile.ImageFile) -> object:
        if im.tile:  # emptied once the data is decoded: later calls decode nothing
            decoded.append(im.format)
        return load(im)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counted)
    return decoded


def actions(case: Case) -> list[str]:
    return [a.action for a in case.audit()]


def test_create_add_analyze_close_reopen(tmp_path: Path, jpeg_photo: Path) -> None:
    root = tmp_path / "case"
    case = Case.create(root, name="Burglary 2024/17", analyst="A. Analyst")
    evidence = case.add_evidence(jpeg_photo)
    assert evidence.sha256 == hashlib.sha256(jpeg_photo.read_bytes()).hexdigest()
    assert evidence.path == jpeg_photo.resolve()
    assert (evidence.name, evidence.format) == ("photo.jpg", "JPEG")
    assert (evidence.width, evidence.height) == (512, 512)
    assert case.thumbnail_path(evidence.id).is_file()

    runs = analyze(case, evidence, ela_plan(quality="85"))
    assert len(runs) == 1 and runs[0].result.status is Status.OK
    assert runs[0].result.map is None and Path(runs[0].arrays["map"]).is_file()  # paths, not gigabytes
    heat = case.run(runs[0].id).result.map
    case.close()

    reopened = Case.open(root)
    try:
        assert (reopened.name, reopened.analyst) == ("Burglary 2024/17", "A. Analyst")
        [stored] = reopened.all_evidence()
        assert stored == evidence
        [latest] = reopened.latest_runs(stored.id)
        assert isinstance(latest.result, Heatmap)
        assert latest.result.map.dtype == np.float32
        assert np.array_equal(latest.result.map, heat)
        assert latest.result.provenance.params == {"quality": 85, "scale": 20.0}
        assert latest.result.provenance.input_sha256 == evidence.sha256
        assert Path(latest.arrays["map"]).is_file()
        assert actions(reopened) == ["case created", "evidence added", "analysis run", "case opened"]
        audit = reopened.audit()
        assert evidence.sha256 in audit[1].detail
        assert "ela on #1: ok" in audit[2].detail and '"quality": 85' in audit[2].detail
        assert all(a.at and a.user for a in audit)
    finally:
        reopened.close()


def test_latest_runs_keeps_newest_per_analyzer(case: Case, jpeg_photo: Path) -> None:
    evidence = case.add_evidence(jpeg_photo)
    analyze(case, evidence, ela_plan(quality="80"))
    analyze(case, evidence, ela_plan(quality="95"))
    [latest] = case.latest_runs(evidence.id)
    assert latest.result.provenance.params["quality"] == 95


def test_duplicate_detected_by_hash(case: Case, jpeg_photo: Path, tmp_path: Path) -> None:
    first = case.add_evidence(jpeg_photo)
    copy = tmp_path / "copy of photo.jpg"
    shutil.copyfile(jpeg_photo, copy)
    with pytest.raises(DuplicateEvidence) as info:
        case.add_evidence(copy)
    assert info.value.existing == first
    assert "same SHA-256" in str(info.value)

    report = import_paths(case, [jpeg_photo, copy])
    assert report.added == []
    assert report.already_present == [first, first]
    assert report.skipped == []
    assert len(case.all_evidence()) == 1


def test_evidence_changed_after_import(case: Case, jpeg_photo: Path, astronaut: np.ndarray) -> None:
    evidence = case.add_evidence(jpeg_photo)
    jpeg_photo.write_bytes(jpeg_bytes(np.asarray(astronaut), 80))  # same photo, re-saved: a valid JPEG
    with pytest.raises(MediaError) as info:
        case.open_media(evidence)
    assert "photo.jpg" in str(info.value) and "changed since import" in str(info.value)

    [run] = analyze(case, evidence, ela_plan())
    assert run.result.status is Status.ERROR
    assert "changed since import" in run.result.message
    assert actions(case)[-1] == "analysis run"
    assert "ela on #1: error" in case.audit()[-1].detail


def test_evidence_deleted_after_import(case: Case, jpeg_photo: Path) -> None:
    evidence = case.add_evidence(jpeg_photo)
    jpeg_photo.unlink()
    [run] = analyze(case, evidence, ela_plan())
    assert run.result.status is Status.ERROR
    assert "no such file" in run.result.message


def test_unusable_file_not_added(case: Case, make_bad_file) -> None:
    path, words = make_bad_file("truncated")
    with pytest.raises(MediaError, match="truncated"):
        case.add_evidence(path)
    assert case.all_evidence() == []


def test_cancelled_plan_is_stored(case: Case, jpeg_photo: Path) -> None:
    evidence = case.add_evidence(jpeg_photo)
    event = threading.Event()
    event.set()
    [run] = analyze(case, evidence, ela_plan(), cancel_event=event)
    assert run.result.status is Status.CANCELLED
    assert case.latest_runs(evidence.id)[0].result.status is Status.CANCELLED


def test_create_refuses_existing_case(case: Case) -> None:
    with pytest.raises(CaseError, match="already holds a case"):
        Case.create(case.root)


def test_open_refuses_non_case(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="not a case folder"):
        Case.open(tmp_path)


def test_set_details_logged(case: Case) -> None:
    case.set_details("Renamed", "B. Analyst")
    assert (case.name, case.analyst) == ("Renamed", "B. Analyst")
    assert actions(case)[-1] == "case details changed"


def test_a_case_named_by_a_relative_path_hands_out_absolute_paths(tmp_path: Path, jpeg_photo: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    case = Case.create("rel")
    evidence = case.add_evidence(jpeg_photo)
    [run] = analyze(case, evidence, [Planned(registry.get("ela"), registry.get("ela").params_from(None))])
    case.close()
    assert case.root == tmp_path / "rel"
    assert Path(run.arrays["map"]).is_absolute() and Path(run.arrays["map"]).is_file()
    reopened = Case.open("rel")
    assert reopened.root == tmp_path / "rel"
    reopened.close()


@pytest.mark.parametrize("image", ["jpeg_photo", "png_image"])
def test_one_decode_per_import_and_per_analysis(image: str, case: Case, monkeypatch: pytest.MonkeyPatch,
                                                request: pytest.FixtureRequest) -> None:
    """Validating, hashing and the thumbnail share one decode; an analysis decodes once more (it
    re-checks the file), not once to validate and again for the analyzers."""
    path = request.getfixturevalue(image)
    decoded = count_decodes(monkeypatch)
    evidence = case.add_evidence(path)
    assert decoded == [evidence.format]
    decoded.clear()
    [run] = analyze(case, evidence, ela_plan())
    assert run.result.status is Status.OK and decoded == [evidence.format]
