"""Splicebuster on synthetic splices with a known mask (no toolbox reference exists for it), its
residual and co-occurrence building blocks, shapes, parameters and small images."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from analyzer_runs import heatmap_of, run_file
from PIL import Image
from scipy.stats import rankdata

from plugins.localization import splicebuster
from plugins.localization.splicebuster import CLASS_TABLE, SplicebusterAnalyzer, quantized_residuals
from workbench.app.sample import decode, jpeg_bytes, load_photo
from workbench.core.results import Heatmap, Result, Status

POSTERIOR = "posterior of the outlier (spliced) class"


def run(path: Path, cancel: threading.Event | None = None, **params: object) -> Result:
    return run_file(SplicebusterAnalyzer(), path, cancel, **params)


def heatmap(path: Path, **params: object) -> Heatmap:
    return heatmap_of(SplicebusterAnalyzer(), path, **params)


def pixel_auc(score: np.ndarray, mask: np.ndarray) -> float:
    """Area under the ROC curve of the map as a per-pixel detector of the mask (Mann–Whitney)."""
    ranks = rankdata(score.ravel())
    positives = int(mask.sum())
    negatives = mask.size - positives
    return float((ranks[mask.ravel()].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def camera(rgb: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """A 2× enlargement with white sensor-like noise: one homogeneous noise model over the whole image."""
    up = cv2.resize(rgb, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    return np.clip(up + np.random.default_rng(seed).normal(0, sigma, up.shape), 0, 255).astype(np.uint8)


def save_splice(folder: Path, host: np.ndarray, patch: np.ndarray, at: tuple[int, int]) -> tuple[Path, np.ndarray]:
    image = host.copy()
    y, x = at
    image[y : y + patch.shape[0], x : x + patch.shape[1]] = patch
    mask = np.zeros(image.shape[:2], bool)
    mask[y : y + patch.shape[0], x : x + patch.shape[1]] = True
    path = folder / "splice.jpg"
    Image.fromarray(image).save(path, quality=95)
    return path, mask


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {name: load_photo(f"{name}.png") for name in ("astronaut", "coffee", "chelsea")}


@pytest.fixture
def noisy_host_splice(evidence_dir: Path, photos: dict[str, np.ndarray]) -> tuple[Path, np.ndarray]:
    """A noisy 1024×1024 'camera' image with a clean 300×350 region of another photo (10 % of it)."""
    return save_splice(evidence_dir, camera(photos["astronaut"], 2.0, 0), photos["coffee"][50:350, 100:450], (400, 500))


@pytest.fixture
def jpeg_chain_splice(evidence_dir: Path, photos: dict[str, np.ndarray]) -> tuple[Path, np.ndarray]:
    """A host saved at JPEG quality 85 with a 200×200 region of another photo saved at quality 70."""
    host = decode(jpeg_bytes(camera(photos["chelsea"], 0.0, 0), 85))
    return save_splice(evidence_dir, host, decode(jpeg_bytes(photos["astronaut"][50:250, 100:300], 70)), (200, 300))


@pytest.mark.parametrize("case", ["noisy_host_splice", "jpeg_chain_splice"])
def test_splice_separates_from_host(case: str, request: pytest.FixtureRequest) -> None:
    path, mask = request.getfixturevalue(case)
    result = heatmap(path)
    distance, posterior = pixel_auc(result.map, mask), pixel_auc(result.stack[POSTERIOR], mask)
    inside, outside = float(result.map[mask].mean()), float(result.map[~mask].mean())
    print(f"{case}: AUC {distance:.3f} (posterior {posterior:.3f}), mean inside {inside:.2f} outside {outside:.2f}")
    # Measured: AUC 0.990 / 0.989, posterior 0.948 / 0.919, inside ≈ 0.57 against outside ≤ 0.09.
    assert distance > 0.97
    assert posterior > 0.9
    assert inside > 4 * outside


def test_authentic_image_scores_lower(evidence_dir: Path, photos: dict[str, np.ndarray], noisy_host_splice) -> None:
    path = evidence_dir / "authentic.jpg"
    Image.fromarray(camera(photos["astronaut"], 2.0, 0)).save(path, quality=95)
    authentic, spliced = heatmap(path), heatmap(noisy_host_splice[0])
    # Measured: score 0.33 against 0.77, largest distance 31 against 72.
    assert authentic.score < spliced.score - 0.2
    assert authentic.stats["max_distance"] < 0.6 * spliced.stats["max_distance"]


def test_symmetry_classes() -> None:
    # 81 tuples of {−1, 0, 1}, stored as digits 0…2, merge with their reversal and negation into 25 classes.
    table = CLASS_TABLE[:81]
    assert len(set(table.tolist())) == 25
    digits = np.array([[k // 3**i % 3 for i in range(4)] for k in range(81)])
    weights = 3 ** np.arange(4)
    for variant in (digits[:, ::-1], 2 - digits, 2 - digits[:, ::-1]):
        assert np.array_equal(table[variant @ weights], table)


def test_third_order_residual_ignores_quadratic_trends() -> None:
    y, x = np.mgrid[0:40, 0:50].astype(np.float32)
    horizontal, vertical = quantized_residuals(0.05 * x**2 + 0.1 * y**2 + 0.3 * x * y, 2.0)
    # Columns near the border are affected by the replicated edge.
    assert np.all(horizontal[:, 4:-3] == 1) and np.all(vertical[4:-3] == 1)  # 1 stores residual 0
    noise = np.random.default_rng(0).normal(128, 20, (40, 50)).astype(np.float32)
    assert set(np.unique(quantized_residuals(noise, 2.0)[0]).tolist()) == {0, 1, 2}


@pytest.mark.parametrize("stride", [4, 7])
def test_cell_histograms_count_every_cooccurrence(stride: int) -> None:
    """Against a direct count: several bands and blocks of cell columns, partial cells, clipped areas."""
    rng = np.random.default_rng(stride)
    lum = rng.normal(128, 3, (150, 1810)).round().astype(np.float32)  # whole grey levels: exact residuals
    lum[20:60, 100:160], lum[90:100, 700:900] = 0.0, 255.0
    unusable = splicebuster.unusable_pixels(lum)
    counts, usable = splicebuster.cell_histograms(lum, unusable, 2.0, stride)
    h, w = lum.shape[0] - 6, lum.shape[1] - 6
    residuals = (-lum[:, :-3] + 3 * lum[:, 1:-2] - 3 * lum[:, 2:-1] + lum[:, 3:],
                 -lum[:-3] + 3 * lum[1:-2] - 3 * lum[2:-1] + lum[3:])
    horizontal, vertical = (1 + (r >= 3.0).astype(int) - (r <= -3.0) for r in residuals)
    codes = (
        sum(3**k * horizontal[k : k + h, :w] for k in range(4)),  # across the filter direction
        sum(3**k * vertical[:h, k : k + w] for k in range(4)),
        sum(3**k * horizontal[:h, k : k + w] for k in range(4)) + 81,  # along it
        sum(3**k * vertical[k : k + h, :w] for k in range(4)) + 81,
    )
    table = np.append(CLASS_TABLE[:81], CLASS_TABLE[:81] + 25)
    y, x = np.mgrid[:h, :w]
    expected = np.zeros(counts.shape)
    for code in codes:
        classes = np.where(unusable[3 : 3 + h, 3 : 3 + w] > 0, 50, table[code])
        np.add.at(expected, (y // stride, x // stride, classes), 1)
    assert counts.shape[1] > 256 and np.array_equal(counts, expected)
    assert np.array_equal(usable, expected[..., :50].sum(axis=2) / 4)


def test_map_shape_range_params_and_stack(evidence_dir: Path, photos: dict[str, np.ndarray]) -> None:
    path = evidence_dir / "odd.png"
    Image.fromarray(photos["coffee"][:397, :571]).save(path)  # not a multiple of the stride
    result = heatmap(path, window=96, stride=16, pca_dims=10, em_iterations=20)
    assert result.map.dtype == np.float32 and result.map.shape == (397, 571)
    assert float(result.map.min()) >= 0.0 and 0.9 < float(result.map.max()) <= 1.0  # min–max, then resampled
    layer = result.stack[POSTERIOR]
    assert layer.dtype == np.float32 and layer.shape == (397, 571)
    assert 0.0 <= float(layer.min()) and float(layer.max()) <= 1.0
    assert result.stats["window_px"] == 96.0 and result.message == ""
    assert result.provenance.params == {
        "window": 96, "stride": 16, "quantization": 2.0, "pca_dims": 10, "em_iterations": 20
    }


def test_small_image_shrinks_the_window(evidence_dir: Path, photos: dict[str, np.ndarray]) -> None:
    path = evidence_dir / "small.png"
    Image.fromarray(photos["chelsea"][:200, :240]).save(path)
    result = heatmap(path)
    assert result.map.shape == (200, 240)
    assert result.stats["window_px"] < 128 and "window used" in result.message


@pytest.mark.parametrize(("side", "words"), [(1, "too small"), (20, "too small"), (64, "too few usable windows")])
def test_tiny_image_gives_a_clear_error(evidence_dir: Path, side: int, words: str) -> None:
    path = evidence_dir / "tiny.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (side, side, 3), dtype=np.uint8)).save(path)
    result = run(path)
    assert result.status is Status.ERROR and words in result.message


def test_clipped_image_gives_a_clear_error(evidence_dir: Path) -> None:
    path = evidence_dir / "white.png"
    Image.fromarray(np.full((300, 300, 3), 255, np.uint8)).save(path)
    result = run(path)
    assert result.status is Status.ERROR and "clipped" in result.message


def test_cancel_is_honoured(noisy_host_splice: tuple[Path, np.ndarray]) -> None:
    event = threading.Event()
    event.set()
    assert run(noisy_host_splice[0], cancel=event).status is Status.CANCELLED


@pytest.mark.parametrize("values", [{"window": "16"}, {"stride": "2"}, {"pca_dims": "51"}, {"quantization": "nan"}])
def test_out_of_range_params(values: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="outside"):
        SplicebusterAnalyzer().params_from(values)


def test_unusable_mask_in_bands(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mask runs in bands of rows (with the 10 rows its morphology reads); any band gives the whole-image mask."""
    rng = np.random.default_rng(3)
    blobs = rng.choice([2.0, 128.0, 254.0], size=(30, 20), p=[0.15, 0.7, 0.15]).astype(np.float32)
    lum = cv2.resize(blobs, (200, 300), interpolation=cv2.INTER_NEAREST)  # dark and bright 10×10 areas
    lum[rng.random(lum.shape) < 0.05] = 255.0  # isolated clipped pixels, which the opening drops
    whole = splicebuster.unusable_pixels(lum)
    assert 0 < np.count_nonzero(whole) < whole.size
    for rows in (1, 7, 64):
        monkeypatch.setattr("plugins.localization.common.SERIAL_PIXELS", (rows + 2 * splicebuster.MASK_MARGIN) * 200)
        assert np.array_equal(splicebuster.unusable_pixels(lum), whole), rows
