"""Residual spectrum: a generator-like 2× upsampling shows the period-2 peak, a camera photo does not,
JPEG grid peaks are labelled as such, and bad input gets a clear message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from plugins.localization.common import jpeg_roundtrip
from plugins.synthetic.spectrum import SpectrumAnalyzer, azimuthal_average, candidate_bins
from tests.analyzer_runs import run_file
from workbench.app.sample import jpeg_bytes
from workbench.core.results import Facts, Status
from workbench.training.toyset import transposed_upsampling

ANALYZER = SpectrumAnalyzer()


def save_png(folder: Path, name: str, rgb: np.ndarray) -> Path:
    path = folder / name
    Image.fromarray(np.asarray(rgb)).save(path)
    return path


def facts_of(path: Path, **params: object) -> Facts:
    result = run_file(ANALYZER, path, **params)
    assert result.status is Status.OK, result.message
    assert isinstance(result, Facts)
    return result


def peak_rows(result: Facts) -> list[tuple[str, str]]:
    table = result.table("Spectral peaks")
    assert table is not None
    return [row for row in table.rows if row[0] != "none"]


def test_upsampling_trace_shows_the_half_frequency_peak(evidence_dir: Path, astronaut: np.ndarray) -> None:
    result = facts_of(save_png(evidence_dir, "generated.png", transposed_upsampling(np.asarray(astronaut))))
    rows = dict(peak_rows(result))
    half = rows["fx 1/2, fy 0 cycle/px (period 2 px)"]
    assert "2× upsampling" in half and float(half.split(" dB")[0].lstrip("+")) > 20
    assert any("period of 2" in f for f in result.findings)
    assert result.score is None and "not a detector" in result.score_meaning
    assert set(result.images) == {"residual spectrum", "residual-magnitude spectrum", "azimuthal average"}
    assert all(image.dtype == np.uint8 and image.shape[2] == 3 for image in result.images.values())


def test_camera_photo_has_no_peak(png_image: Path) -> None:
    result = facts_of(png_image)
    assert peak_rows(result) == []
    assert "does not show the image is a camera photo" in result.findings[0]
    assert len(result.table("All searched frequencies").rows) == len(candidate_bins(128))


def test_jpeg_grid_peaks_are_labelled(evidence_dir: Path, coffee: np.ndarray) -> None:
    photo = np.asarray(coffee)
    jpeg = evidence_dir / "photo.jpg"
    jpeg.write_bytes(jpeg_bytes(photo, 50))
    rows = peak_rows(facts_of(jpeg))
    assert rows and all("JPEG 8×8 block grid (the file is a JPEG)" in value for _, value in rows)
    # the same picture saved losslessly still shows its old grid, and is labelled from the peaks
    resaved = peak_rows(facts_of(save_png(evidence_dir, "resaved.png", jpeg_roundtrip(photo, 50))))
    assert resaved and all("8-pixel grid" in value for _, value in resaved)


def test_azimuthal_average_of_white_noise_is_flat() -> None:
    power = np.ones((64, 64))
    freqs, values = azimuthal_average(power)
    assert freqs[0] == 0 and freqs[-1] == 0.5
    assert np.allclose(values, 0.0, atol=1e-6)


def test_bad_input_is_a_clear_message(evidence_dir: Path, astronaut: np.ndarray) -> None:
    tiny = run_file(ANALYZER, save_png(evidence_dir, "tiny.png", np.asarray(astronaut)[:20, :20]))
    assert tiny.status is Status.ERROR and "image too small for a spectrum" in tiny.message
    odd = run_file(ANALYZER, save_png(evidence_dir, "photo.png", np.asarray(astronaut)), tile=100)
    assert odd.status is Status.ERROR and "multiple of 8" in odd.message
    with pytest.raises(ValueError, match="outside"):
        ANALYZER.params_from({"prominence_db": 1.0})
