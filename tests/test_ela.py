"""Error level analysis on real photos: map shape/range, a splice stands out, parameters act."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from plugins.localization.ela import error_levels
from workbench.core import registry
from workbench.core.media import Media, open_media
from workbench.core.plugin import RunContext, run_analyzer
from workbench.core.results import Heatmap, Status


def ela(media: Media, **params: object) -> Heatmap:
    analyzer = registry.get("ela")
    result = run_analyzer(analyzer, media, analyzer.params_from(params), RunContext())
    assert result.status is Status.OK, result.message
    assert isinstance(result, Heatmap)
    return result


def test_map_is_float32_in_unit_range_at_image_size(png_image: Path) -> None:
    media = open_media(png_image)  # 600 wide × 400 high: catches a transposed map
    result = ela(media)
    assert result.map.dtype == np.float32
    assert result.map.shape == (400, 600)
    assert float(result.map.min()) >= 0.0 and float(result.map.max()) <= 1.0
    assert result.score is None and "not a detector" in result.score_meaning
    assert set(result.stats) == {"mean_error", "p99_error", "max_error"}
    assert result.provenance.params == {"quality": 90, "scale": 20.0}


def test_error_statistics_are_those_of_the_error_image(jpeg_photo: Path) -> None:
    media = open_media(jpeg_photo)
    errors = error_levels(media.pixels(), 90)
    stats = ela(media).stats
    assert stats["p99_error"] == float(np.percentile(errors, 99))
    assert stats["max_error"] == float(errors.max())


def test_splice_stands_out(spliced_jpeg: tuple[Path, np.ndarray]) -> None:
    path, mask = spliced_jpeg
    heat = ela(open_media(path)).map
    inside, outside = float(heat[mask].mean()), float(heat[~mask].mean())
    # Measured: inside ≈ 0.081, outside ≈ 0.030 (ratio ≈ 2.7) at the default quality 90.
    assert inside >= 2.0 * outside, (inside, outside)


def test_splice_contrast_is_best_at_the_files_quality(spliced_jpeg: tuple[Path, np.ndarray]) -> None:
    path, mask = spliced_jpeg  # saved at quality 90
    media = open_media(path)

    def contrast(quality: int) -> float:
        heat = ela(media, quality=quality).map
        return float(heat[mask].mean() / heat[~mask].mean())

    # Measured ≈ 2.7 at 90 vs ≈ 1.2 at 70: a mismatched quality hides the pasted area.
    assert contrast(90) > 1.8 * contrast(70)


def test_higher_amplification_gives_brighter_map(spliced_jpeg: tuple[Path, np.ndarray]) -> None:
    media = open_media(spliced_jpeg[0])
    low, high = ela(media, scale=20.0), ela(media, scale=40.0)
    assert float(high.map.mean()) > 1.5 * float(low.map.mean())
    assert np.all(high.map >= low.map)
    # The amplification scales the map, not the measured error levels.
    assert high.stats == low.stats
    assert low.legend_high.startswith("error ≥ 13 levels")  # 255 / 20
    assert high.legend_high.startswith("error ≥ 6 levels")  # 255 / 40


def test_quality_parameter_is_respected(jpeg_photo: Path) -> None:
    media = open_media(jpeg_photo)  # saved at quality 90
    errors = {q: ela(media, quality=q).stats["mean_error"] for q in (70, 80, 85, 90, 95, 100)}
    # A re-save at the file's own quality changes it least (measured ≈ 0.54 levels vs ≥ 0.76).
    assert min(errors, key=errors.get) == 90, errors
    assert errors[70] > 4 * errors[90]
    assert ela(media, quality=70).provenance.params["quality"] == 70


def test_quality_100_on_quality_100_jpeg_is_near_zero(evidence_dir: Path, astronaut: np.ndarray) -> None:
    path = evidence_dir / "q100.jpg"
    Image.fromarray(np.asarray(astronaut)).save(path, quality=100)
    media = open_media(path)
    same, coarse = ela(media, quality=100), ela(media, quality=50)
    # Not exactly zero (rounding in colour conversion), but ≈ 0.85 grey levels on average.
    assert same.stats["mean_error"] < 1.5
    assert float(same.map.mean()) < 0.1
    assert float(coarse.map.mean()) > 3 * float(same.map.mean())


def test_png_original_has_high_error_everywhere(png_image: Path, jpeg_photo: Path) -> None:
    # As the card says: an uncompressed original has no compression history.
    png_error = ela(open_media(png_image)).stats["mean_error"]
    jpeg_error = ela(open_media(jpeg_photo)).stats["mean_error"]
    assert png_error > 3 * jpeg_error


def test_cancel_is_honoured(jpeg_photo: Path) -> None:
    event = threading.Event()
    event.set()
    analyzer = registry.get("ela")
    params = analyzer.params_from({})
    result = run_analyzer(analyzer, open_media(jpeg_photo), params, RunContext(cancel_event=event))
    assert result.status is Status.CANCELLED


@pytest.mark.parametrize("values", [{"quality": "0"}, {"quality": "101"}, {"scale": "0"}, {"scale": "nan"}])
def test_out_of_range_params(values: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="outside"):
        registry.get("ela").params_from(values)
