"""The geolocation analyzer: GPS facts, retrieval against a geotagged collection, abstention, CLI JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, PngImagePlugin

from plugins.geolocation import analyzer as geo_analyzer
from plugins.geolocation.analyzer import GeolocationAnalyzer, GeolocationParams, Method
from plugins.geolocation.calibration import Thresholds
from workbench.app.cli import main as cli_main
from workbench.app.sample import load_photo
from workbench.core.media import open_media
from workbench.core.plugin import RunContext, run_analyzer
from workbench.core.results import Geolocation, Status

PLACES = {"astronaut.png": (48.8566, 2.3522), "coffee.png": (35.6895, 139.6917),
          "motorcycle_left.png": (40.7128, -74.0060), "camera.png": (-33.8688, 151.2093)}


def dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees, minutes = int(value), (value - int(value)) * 60
    return float(degrees), float(int(minutes)), round((minutes - int(minutes)) * 60, 2)


def save(path: Path, rgb: np.ndarray, position: tuple[float, float] | None = None) -> Path:
    exif = Image.Exif()
    if position:
        lat, lon = position
        exif.get_ifd(ExifTags.IFD.GPSInfo).update(
            {1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W", 4: dms(lon)})
    Image.fromarray(np.ascontiguousarray(rgb[..., :3] if rgb.ndim == 3 else np.dstack([rgb] * 3))).save(
        path, "JPEG", quality=90, exif=exif)
    return path


@pytest.fixture(scope="module")
def case_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A case whose search collection holds two geotagged copies of each of four photos."""
    refs = tmp_path_factory.mktemp("refs")
    for name, position in PLACES.items():
        rgb = load_photo(name)
        save(refs / f"{Path(name).stem}-a.jpg", rgb, position)
        save(refs / f"{Path(name).stem}-b.jpg", rgb[: rgb.shape[0] * 4 // 5], position)
    root = tmp_path_factory.mktemp("case")
    assert cli_main(["index", str(refs), "--case", str(root)]) == 0
    return root


@pytest.fixture(autouse=True)
def thresholds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scales = {1.0: 0.99, 25.0: 0.6, 200.0: 0.6, 750.0: 0.6, 2500.0: 0.6}
    Thresholds(0.9, "test thresholds", 10, 1, {"prediction_density": scales}).save(tmp_path / "retrieval.json")
    monkeypatch.setattr(geo_analyzer, "THRESHOLDS_DIR", tmp_path)


def run(path: Path, workspace: Path | None, **params: object) -> Geolocation:
    result = run_analyzer(GeolocationAnalyzer(), open_media(path), GeolocationParams(**params),
                          RunContext(workspace=workspace))
    assert isinstance(result, Geolocation) or result.status is not Status.OK, result.message
    return result  # type: ignore[return-value]


def test_a_copy_of_a_reference_is_localised_at_city_scale_not_street(case_root: Path, tmp_path: Path) -> None:
    rgb = load_photo("astronaut.png")
    query = save(tmp_path / "query.jpg", rgb[60:, 40:][:, ::-1])
    result = run(query, case_root, method=Method.RETRIEVAL)
    assert result.ok and result.method == "retrieval"
    assert result.answered_scale_km == 25.0 and not result.abstained
    assert "localizable at city scale" in result.decision and "street" in result.decision
    assert result.estimate is not None and "Paris" in result.estimate["place"]
    assert [s["answered"] for s in result.scales] == [False, True, True, True, True]
    assert result.cells is not None and result.cells.shape[1] == 3 and result.cells[:, 2].sum() <= 1 + 1e-9
    assert (np.diff(result.cells[:, 2]) <= 0).all() and result.cells[0, 2] > 0.5  # the top cells, best first
    assert result.provenance is not None and result.provenance.models[0]["id"] == "mobilenet_v2_imagenet"


def test_an_unknown_scene_abstains_at_every_scale(case_root: Path, tmp_path: Path) -> None:
    query = save(tmp_path / "cat.jpg", load_photo("chelsea.png"))
    result = run(query, case_root, method=Method.RETRIEVAL)
    assert result.ok and result.abstained and result.estimate is None and result.score is None
    assert "not localizable at any tested scale" in result.decision
    assert any("elsewhere" in f for f in result.findings)


def test_gps_only_and_nothing_at_all(tmp_path: Path) -> None:
    tagged = save(tmp_path / "tagged.jpg", load_photo("coffee.png")[:100, :100], (48.8584, 2.2945))
    result = run(tagged, None, method=Method.METADATA)
    assert result.ok and result.gps is not None and "France" in result.gps["place"]
    plain = save(tmp_path / "plain.jpg", load_photo("coffee.png")[:100, :100])
    missing = run(plain, None)
    assert missing.status is Status.UNAVAILABLE
    assert "no GPS" in missing.message and "not installed" in missing.message and "reference" in missing.message
    with_gps_only = run(tagged, None)  # auto: no visual method available, the GPS still answers
    assert with_gps_only.ok and with_gps_only.gps is not None
    assert any("No visual estimate" in f for f in with_gps_only.findings)


def test_damaged_xmp_is_a_finding_and_the_visual_estimate_still_answers(case_root: Path, tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()  # an iTXt chunk: a packet of any size, here nested 30,000 deep
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta xmlns:x='adobe:ns:meta/'>" + "<a>" * 30_000 + "</a>" * 30_000
                  + "</x:xmpmeta>")
    query = tmp_path / "damaged.png"
    Image.fromarray(load_photo("astronaut.png")[60:, 40:][:, ::-1]).save(query, pnginfo=info)
    result = run(query, case_root, method=Method.RETRIEVAL)
    assert result.ok and result.estimate is not None and "Paris" in result.estimate["place"]
    assert any(f.startswith("XMP damaged: the XMP packet nests elements") for f in result.findings), result.findings
    metadata_only = run(query, None, method=Method.METADATA)
    assert metadata_only.status is Status.UNAVAILABLE and "XMP damaged" in metadata_only.message


def test_cli_json_carries_the_scales_and_the_decision(case_root: Path, tmp_path: Path) -> None:
    query = save(tmp_path / "q.jpg", load_photo("motorcycle_left.png")[20:, 30:])
    out = tmp_path / "out.json"
    code = cli_main(["analyze", str(query), "--analyzers", "geolocation", "--case", str(case_root),
                     "--json", str(out), "--report", str(tmp_path / "r.pdf")])
    assert code == 0
    result = json.loads(out.read_text(encoding="utf-8"))["evidence"][0]["results"][0]
    assert result["type"] == "geolocation" and result["answered_scale_km"] == 25.0
    assert [s["scale_km"] for s in result["scales"]] == [1.0, 25.0, 200.0, 750.0, 2500.0]
    assert {"score", "threshold", "passed", "answered"} <= set(result["scales"][0])
    assert "New York" in result["estimate"]["place"] and result["decision"].startswith("localizable")
