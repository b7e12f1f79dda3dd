"""Result serialisation: JSON-ready fields plus compressed array side files, and back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from workbench.core import array_files
from workbench.core.array_files import BROWSE_SIDE, UNIT_PRECISION, NotEnoughSpace, read_array
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
    assert np.allclose(loaded.map, heat, rtol=0.0, atol=UNIT_PRECISION)  # stored at half precision
    assert not np.array_equal(loaded.map, heat)  # ... which this test must notice if it changes
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


def test_maps_stored_compressed_at_half_precision(tmp_path: Path) -> None:
    """A blocky 1000×1200 map (as most signals give) takes a small part of its float32 size."""
    blocks = np.random.default_rng(1).random((125, 150), dtype=np.float32)
    heat = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)
    doc = Heatmap(analyzer="noise", map=heat, mask=heat > 0.9).save(tmp_path / "run")
    stored = tmp_path / "run" / doc["arrays"]["map"]
    assert stored.suffix == ".npz" and stored.stat().st_size < heat.nbytes / 8
    assert read_array(stored).dtype == np.float16  # what a CLI user finds in the file
    assert np.array_equal(read_array(tmp_path / "run" / doc["arrays"]["mask"]), heat > 0.9)  # masks exact


def test_stack_stored_reduced_for_browsing(tmp_path: Path) -> None:
    """Layers beside the main map are kept at most BROWSE_SIDE long (area means); the map stays full size."""
    shape = (BROWSE_SIDE * 2 + 2, 60)
    ramp = np.broadcast_to(np.linspace(0.0, 1.0, shape[0], dtype=np.float32)[:, None], shape)
    small = np.full((10, 12), 0.25, np.float32)
    original = Heatmap(analyzer="ghost", map=np.ascontiguousarray(ramp), stack={"q=50": ramp, "q=60": small})
    doc, loaded = round_trip(original, tmp_path / "run")
    assert isinstance(loaded, Heatmap) and loaded.map.shape == shape
    assert list(loaded.stack) == ["q=50", "q=60"]
    layer = loaded.stack["q=50"]
    assert layer.dtype == np.float32 and layer.shape == (BROWSE_SIDE, 30)
    assert np.allclose(layer[:, 0], np.linspace(0.0, 1.0, BROWSE_SIDE), atol=2e-3)
    assert np.allclose(loaded.stack["q=60"], small, atol=UNIT_PRECISION)


def test_other_arrays_stored_exactly(tmp_path: Path) -> None:
    """Only maps in [0, 1] lose precision: point pairs and images keep every bit."""
    pairs = np.array([[10.25, 20.125, 3000.5, 4000.0625]], np.float32)
    doc, loaded = round_trip(Heatmap(analyzer="copy_move", map=np.zeros((4, 4), np.float32), pairs=pairs),
                             tmp_path / "run")
    assert isinstance(loaded, Heatmap) and loaded.pairs.dtype == np.float32 and np.array_equal(loaded.pairs, pairs)


def test_runs_of_older_cases_still_load(tmp_path: Path) -> None:
    """Cases written before compression hold plain float32 `.npy` files: read as they are."""
    folder = tmp_path / "run"
    folder.mkdir()
    heat = np.random.default_rng(2).random((6, 7), dtype=np.float32)
    np.save(folder / "map.npy", heat)
    np.save(folder / "stack.q=50.npy", heat / 2)
    doc = {"type": "heatmap", "analyzer": "ela", "status": "ok",
           "arrays": {"map": "map.npy", "stack": {"q=50": "stack.q=50.npy"}}}
    loaded = Result.load(doc, folder)
    assert isinstance(loaded, Heatmap)
    assert np.array_equal(loaded.map, heat) and np.array_equal(loaded.stack["q=50"], heat / 2)


def test_refuses_to_write_without_room(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk without room for the arrays (and the case's reserve) gets nothing, and a clear reason."""
    heat = np.zeros((1000, 1000), np.float32)  # 2 MB at half precision
    usage = array_files.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(array_files.shutil, "disk_usage",
                        lambda _path: usage._replace(free=array_files.SPACE_RESERVE + 1_000_000))
    refusal = r"^not enough space in the case folder: need 6\d\.\d MB, 6\d\.\d MB free$"
    with pytest.raises(NotEnoughSpace, match=refusal):
        Heatmap(analyzer="ela", map=heat).save(tmp_path / "run")
    assert not (tmp_path / "run").exists()
    monkeypatch.setattr(array_files.shutil, "disk_usage",
                        lambda _path: usage._replace(free=array_files.SPACE_RESERVE + 3_000_000))
    assert Heatmap(analyzer="ela", map=heat).save(tmp_path / "run")["arrays"] == {"map": "map.npz"}
