"""Dense-field copy-move detection: rotated and scaled copies on real photos are found, located and
told apart from their source; untouched photos stay clean; the building blocks (Zernike features,
the local linear fit, the working size) do what the paper says; results are reproducible."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from test_copy_move import forge, save

from plugins.localization.copy_move import analysis_size
from plugins.localization.copy_move_dense import SOURCE, TARGET, CopyMoveDenseAnalyzer
from plugins.localization.dense_field import linear_fit, singular_values
from plugins.localization.zernike import zernike_features
from workbench.app.sample import load_photo, skimage_data_dir
from workbench.core.media import open_media
from workbench.core.metrics import pixel_metrics
from workbench.core.plugin import RunContext, run_analyzer
from workbench.core.results import Heatmap, Status

ANALYZER = CopyMoveDenseAnalyzer()

# photo -> (copied box (row, col, height, width), centre (x, y) of the copy), as in test_copy_move
FORGERIES = {
    "astronaut.png": ((30, 160, 110, 110), (440, 420)),
    "coffee.png": ((220, 320, 100, 100), (530, 300)),
    "chelsea.png": ((60, 120, 90, 90), (380, 220)),
}


def detect(path: Path, **params: object) -> Heatmap:
    result = run_analyzer(ANALYZER, open_media(path), ANALYZER.params_from(params), RunContext())
    assert result.status is Status.OK, result.message
    assert isinstance(result, Heatmap)
    return result


@pytest.mark.parametrize(("photo", "angle", "scale"), [
    ("astronaut.png", 15.0, 1.0), ("coffee.png", 10.0, 1.1), ("chelsea.png", -20.0, 0.9),
])
def test_rotated_scaled_copy_is_found_with_source_and_target_told_apart(
    tmp_path: Path, photo: str, angle: float, scale: float
) -> None:
    box, centre = FORGERIES[photo]
    forged, source, target, _ = forge(load_photo(photo), box, centre, angle, scale)
    result = detect(save(tmp_path, forged, 90))
    stats = result.stats
    # Measured: one pair, pixel AUC against the copy 0.97–0.98, copy ∪ source best-F1 0.94–0.96.
    assert stats["pairs"] == 1
    assert pixel_metrics(result.map, target)["auc"] >= 0.9
    assert pixel_metrics(result.map, source | target)["best_f1"] >= 0.8
    # The copy was interpolated from its source: the resampling test says which is which
    # (measured error ratios 1.3–6, the threshold is 1.25).
    assert stats["pair1_direction_known"] == 1.0
    assert np.mean(result.map[target] == TARGET) > 0.8 and np.mean(result.map[source] == SOURCE) > 0.8
    assert stats["pair1_rotation_deg"] == pytest.approx(angle, abs=1.5)
    assert stats["pair1_scale"] == pytest.approx(scale, abs=0.03)
    # Every drawn vector runs from the source to the copy.
    ends = np.round(result.pairs).astype(int)
    assert source[ends[:, 1], ends[:, 0]].mean() > 0.9 and target[ends[:, 3], ends[:, 2]].mean() > 0.9
    assert result.score > 0.9


def test_shifted_copy_is_found_but_its_direction_is_unknown(tmp_path: Path) -> None:
    # A whole-pixel shift involves no interpolation: neither side predicts the other better.
    forged, source, target, _ = forge(load_photo("coffee.png"), *FORGERIES["coffee.png"])
    result = detect(save(tmp_path, forged, 90))
    assert result.stats["pairs"] == 1 and result.stats["pair1_direction_known"] == 0.0
    assert result.stats["pair1_direction_ratio"] < 1.25  # measured 1.00
    assert np.mean(result.map[source | target] == TARGET) > 0.8  # both shown as copies


@pytest.mark.parametrize("photo", ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "camera.png"])
def test_untouched_photos_have_no_copy(tmp_path: Path, photo: str) -> None:
    path = skimage_data_dir() / photo
    if photo.endswith(".png"):  # as a camera would deliver them
        path = save(tmp_path, load_photo(photo), 85)
    result = detect(path)
    # Measured: no point survives verification on any of them.
    assert result.score == 0.0 and result.stats["pairs"] == 0
    assert not result.mask.any() and len(result.pairs) == 0


def test_same_seed_same_result_and_another_seed_finds_the_copy_too(tmp_path: Path) -> None:
    box, centre = FORGERIES["astronaut.png"]
    forged, source, target, _ = forge(load_photo("astronaut.png"), box, centre, 12.0, 1.05)
    path = save(tmp_path, forged, 90)
    first, again, other = detect(path), detect(path), detect(path, seed=7)
    assert np.array_equal(first.map, again.map) and np.array_equal(first.pairs, again.pairs)
    assert first.stats == again.stats
    assert pixel_metrics(other.map, target)["auc"] >= 0.9


@pytest.mark.parametrize(("shape", "max_side", "expected"), [
    ((512, 512), 1024, (512, 512)), ((3000, 4000), 1024, (768, 1024)), ((4000, 300), 1000, (1000, 75)),
    ((400, 600), 300, (200, 300)),
])
def test_analysis_size_keeps_the_aspect_within_the_longest_side(
    shape: tuple[int, int], max_side: int, expected: tuple[int, int]
) -> None:
    assert analysis_size(shape, max_side) == expected


def test_reduced_working_size_maps_back_to_full_resolution(tmp_path: Path) -> None:
    box, centre = FORGERIES["coffee.png"]
    forged, source, target, _ = forge(load_photo("coffee.png"), box, centre, 10.0, 1.1)
    result = detect(save(tmp_path, forged, 90), max_side=450)
    stats = result.stats
    assert (stats["working_width"], stats["working_height"]) == (450.0, 300.0)
    assert stats["working_scale"] == pytest.approx(0.75)
    assert result.map.shape == result.mask.shape == (400, 600)
    assert all(m.shape == (400, 600) for name, m in result.stack.items() if name != "field fit (before size and "
               "pairing tests)")
    assert pixel_metrics(result.map, target)["auc"] >= 0.85  # measured 0.95
    # Vectors are in full-image pixels: their ends land in the full-size source and copy.
    ends = np.round(result.pairs).astype(int)
    assert ends[:, 0::2].max() < 600 and ends[:, 1::2].max() < 400
    assert target[ends[:, 3], ends[:, 2]].mean() > 0.8


def test_output_types_and_legend(tmp_path: Path) -> None:
    forged, *_ = forge(load_photo("chelsea.png"), *FORGERIES["chelsea.png"], 15.0)
    result = detect(save(tmp_path, forged))
    assert result.map.dtype == np.float32 and set(np.unique(result.map)) <= {0.0, SOURCE, TARGET}
    assert result.mask.dtype == bool and np.array_equal(result.mask, result.map > 0)
    assert result.pairs.dtype == np.float32 and result.pairs.shape[1] == 4 and len(result.pairs) > 0
    assert {"copies", "their sources"} <= set(result.stack)
    assert "source" in result.legend_low and "copy" in result.legend_high
    assert "not a calibrated probability" in result.score_meaning


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (19, 40), (300, 200)])
def test_flat_and_tiny_images_give_an_empty_result(tmp_path: Path, shape: tuple[int, int]) -> None:
    result = detect(save(tmp_path, np.full((*shape, 3), 128, np.uint8)))
    assert result.score == 0.0 and result.map.shape == shape and not result.map.any()
    assert result.pairs.shape == (0, 4)


def test_zernike_magnitudes_do_not_change_when_the_image_turns() -> None:
    gray = cv2.cvtColor(load_photo("astronaut.png"), cv2.COLOR_RGB2GRAY).astype(np.float32)
    turn = cv2.getRotationMatrix2D((256.0, 256.0), 33.0, 1.0)
    turned = cv2.warpAffine(gray, turn, (512, 512), flags=cv2.INTER_LINEAR)
    points = np.random.default_rng(0).uniform(150, 360, (200, 2)).astype(np.float32)  # (x, y), well inside
    moved = (points @ turn[:, :2].T + turn[:, 2]).astype(np.float32)

    def sample(features: np.ndarray, at: np.ndarray) -> np.ndarray:
        return np.stack([cv2.remap(features[..., k], at[:, :1], at[:, 1:], cv2.INTER_LINEAR)[:, 0]
                         for k in range(features.shape[-1])], axis=1)

    a, b = sample(zernike_features(gray), points), sample(zernike_features(turned), moved)
    assert a.shape == b.shape == (200, 12)
    scale = np.linalg.norm(a, axis=1)
    same = np.linalg.norm(a - b, axis=1) / scale
    other = np.linalg.norm(a - np.roll(b, 1, axis=0), axis=1) / scale
    # Measured: median 2.7 %, 90th percentile 5 % (interpolation); unrelated points differ by ~50 %.
    assert np.median(same) < 0.04 and np.percentile(same, 90) < 0.08
    assert np.median(other) > 4 * np.percentile(same, 90)


def test_linear_fit_is_exact_on_an_affine_field_and_large_on_noise() -> None:
    rows, cols = np.mgrid[0:40, 0:50].astype(np.float64) * 2  # a stride-2 grid, pixel coordinates
    angle, scale = np.radians(15.0), 1.1
    m = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])  # (y, x) order
    field = np.stack([(m[0, 0] - 1) * rows + m[0, 1] * cols + 100, m[1, 0] * rows + (m[1, 1] - 1) * cols - 80], -1)
    error, jac = linear_fit(field, 6.0, 2)
    assert error[5:-5, 5:-5].max() < 1e-6
    assert np.allclose(jac[5:-5, 5:-5], m, atol=1e-9)
    noisy = field + np.random.default_rng(0).normal(0, 20, field.shape)
    assert np.median(linear_fit(noisy, 6.0, 2)[0]) > 300.0  # the paper's threshold


def test_singular_values_match_numpy() -> None:
    m = np.random.default_rng(1).normal(size=(500, 2, 2))
    big, small = singular_values(m)
    expected = np.linalg.svd(m, compute_uv=False)
    assert np.allclose(big, expected[:, 0]) and np.allclose(small, expected[:, 1])
