"""Result serialisation: JSON-ready fields plus `.npy` side files, and back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from workbench.core.results import Facts, Heatmap, Provenance, Result, Status, Table


def provenance() -> Provenance:
    return Provenance(
        analyzer="ela",
        version="1.0",
        params={"quality": 85, "scale": 20.0, "flag": True},
        input_sha256="ab" * 32,
        tool_version="0.1.0",
        device="cpu",
        models=[{"id": "net", "sha256": "cd" * 32}],
        started_at="2024-05-01T12:00:00+00:00",
        run_time_s=0.123,
        user="tester",
    )


def round_trip(result: Result, folder: Path) -> tuple[dict, Result]:
    doc = result.save(folder)
    doc = json.loads(json.dumps(doc))  # what the case store and the CLI really keep
    return doc, Result.load(doc, folder)


def test_heatmap_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    heat = rng.random((37, 53), dtype=np.float32)
    mask = heat > 0.5
    original = Heatmap(
        analyzer="ela", score=0.42, score_meaning="meaning", map=heat, mask=mask,
        legend_low="low end", legend_high="high end", stats={"mean_error": 1.5, "max_error": 38.0},
        provenance=provenance(),
    )
    doc, loaded = round_trip(original, tmp_path / "run")
    assert doc["type"] == "heatmap"
    assert set(doc["arrays"]) == {"map", "mask"}
    assert isinstance(loaded, Heatmap)
    assert loaded.map.dtype == np.float32 and loaded.map.shape == (37, 53)
    assert np.array_equal(loaded.map, heat)
    assert loaded.mask.dtype == bool and np.array_equal(loaded.mask, mask)
    assert loaded.status is Status.OK
    assert (loaded.score, loaded.score_meaning) == (0.42, "meaning")
    assert (loaded.legend_low, loaded.legend_high) == ("low end", "high end")
    assert loaded.stats == {"mean_error": 1.5, "max_error": 38.0}
    assert loaded.provenance == provenance()


def test_heatmap_without_mask(tmp_path: Path) -> None:
    heat = np.zeros((4, 5), np.float32)
    doc, loaded = round_trip(Heatmap(analyzer="ela", map=heat), tmp_path / "run")
    assert set(doc["arrays"]) == {"map"}
    assert isinstance(loaded, Heatmap) and loaded.mask is None
    assert loaded.map.shape == (4, 5)


def test_facts_round_trip(tmp_path: Path) -> None:
    thumb = np.arange(8 * 6 * 3, dtype=np.uint8).reshape(8, 6, 3)
    original = Facts(
        analyzer="metadata",
        tables=[Table("EXIF", [("Make", "Canon"), ("Model", "EOS 5D")]), Table("Файл 文件", [("Name", "é")])],
        findings=["Software field says Photoshop", "Thumbnail differs from the image"],
        images={"thumbnail": thumb, "preview": thumb[:4]},
        provenance=provenance(),
    )
    doc, loaded = round_trip(original, tmp_path / "run")
    assert doc["type"] == "facts"
    assert isinstance(loaded, Facts)
    assert loaded.tables == original.tables
    assert all(isinstance(r, tuple) for t in loaded.tables for r in t.rows)
    assert loaded.table("EXIF").rows == [("Make", "Canon"), ("Model", "EOS 5D")]
    assert loaded.table("Файл 文件").rows == [("Name", "é")]
    assert loaded.findings == original.findings
    assert set(loaded.images) == {"thumbnail", "preview"}
    assert np.array_equal(loaded.images["thumbnail"], thumb) and loaded.images["thumbnail"].dtype == np.uint8
    assert np.array_equal(loaded.images["preview"], thumb[:4])
    assert loaded.provenance == provenance()


def test_facts_without_images_writes_no_files(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    doc, loaded = round_trip(Facts(analyzer="metadata", findings=["x"]), folder)
    assert "arrays" not in doc
    assert not folder.exists()
    assert isinstance(loaded, Facts) and loaded.images == {} and loaded.findings == ["x"]


def test_failed_result_round_trip(tmp_path: Path) -> None:
    original = Result("ela", Status.UNAVAILABLE, "model not installed: x", provenance=provenance())
    doc, loaded = round_trip(original, tmp_path / "run")
    assert doc["status"] == "unavailable"
    assert type(loaded) is Result
    assert loaded.status is Status.UNAVAILABLE and loaded.message == "model not installed: x"
    assert loaded.provenance == provenance()


def test_describe_is_json_ready_without_arrays() -> None:
    result = Heatmap(analyzer="ela", map=np.ones((2, 2), np.float32), stats={"p99": np.float32(3.0)},
                     provenance=provenance())
    doc = result.describe()
    assert "map" not in doc and "mask" not in doc
    text = json.dumps(doc)  # no numpy scalars, enums or dataclasses left
    assert json.loads(text)["stats"] == {"p99": 3.0}
    assert {"analyzer", "status", "score", "provenance", "type"} <= set(doc)


def test_load_without_folder_skips_arrays(tmp_path: Path) -> None:
    doc = Heatmap(analyzer="ela", map=np.ones((2, 2), np.float32)).save(tmp_path / "run")
    loaded = Result.load(doc, None)
    assert isinstance(loaded, Heatmap) and loaded.map is None
