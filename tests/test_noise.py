"""Local noise maps: the wavelet level layer reproduces the toolbox's NOI1, a noisier and a smoothed
square both stand out in the two-sided heat maps (the level layers read one way), and shapes,
ranges and tiny images are handled."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from PIL import Image
from skimage.metrics import structural_similarity

from plugins.localization.common import block_reduce, map_score, normalize, ycbcr_luma
from plugins.localization.noise import (
    LEVEL_LAYER,
    MAD_TO_SIGMA,
    NoiseMedianAnalyzer,
    NoiseWaveletAnalyzer,
    block_noise_sigma,
    diagonal_detail,
)
from workbench.core.media import open_media
from workbench.core.plugin import Analyzer, RunContext, run_analyzer
from workbench.core.results import Heatmap, Status

TOOLBOX = Path("/work/shared/reference/toolbox")
REFERENCES = [("demo_noi1.tif", "demo_noi1.mat", "Map"), ("168_image.jpg", "168_NOI1.mat", "OutputMap")]
NOISY = (slice(64, 224), slice(288, 448))
"""A 160×160 square of astronaut.png (sky, shuttle and flag) that the tests make noisier or smoother."""


def run(analyzer: Analyzer, path: Path, **params: object) -> Heatmap:
    result = run_analyzer(analyzer, open_media(path), analyzer.params_from(params), RunContext())
    assert result.status is Status.OK, result.message
    assert isinstance(result, Heatmap)
    return result


def toolbox_map(image: str, mat: str, key: str) -> tuple[Path, np.ndarray]:
    if not TOOLBOX.is_dir():
        pytest.skip("reference toolbox outputs not available")
    return TOOLBOX / image, scipy.io.loadmat(TOOLBOX / mat)[key]


@pytest.mark.parametrize(("image", "mat", "key"), REFERENCES)
def test_block_sigmas_equal_the_toolbox_values(image: str, mat: str, key: str) -> None:
    path, reference = toolbox_map(image, mat, key)
    rgb = np.asarray(Image.open(path).convert("RGB"))
    sigma = block_noise_sigma(ycbcr_luma(rgb), 8)
    assert sigma.shape == reference.shape
    # Same channel, wavelet, extension and block grid: equal up to float32 rounding (measured ≤ 0.02).
    np.testing.assert_allclose(sigma, reference, atol=0.05)


@pytest.mark.parametrize("block", [2, 3, 8])
def test_block_sigmas_are_the_median_of_each_block(block: int) -> None:
    luma = np.random.default_rng(block).integers(16, 236, (70, 90)).astype(np.float32)
    expected = block_reduce(np.abs(diagonal_detail(luma)), block, "median") / MAD_TO_SIGMA
    np.testing.assert_array_equal(block_noise_sigma(luma, block), expected)


@pytest.mark.parametrize(("image", "mat", "key"), REFERENCES)
def test_level_layer_agrees_with_reference_toolbox(image: str, mat: str, key: str) -> None:
    # The toolbox's map is the level (σ per block); ours is the "noise level" layer.
    path, reference = toolbox_map(image, mat, key)
    heat = run(NoiseWaveletAnalyzer(), path).stack[LEVEL_LAYER]
    rows, cols = reference.shape
    ref = normalize(reference)
    # Bilinear sampling reads each 16-pixel block at its centre; area averaging mixes neighbouring
    # blocks because the wavelet's 7-pixel delay puts our block edges off the 16-pixel grid.
    sampled = structural_similarity(normalize(cv2.resize(heat, (cols, rows))), ref, data_range=1.0)
    averaged = structural_similarity(
        normalize(cv2.resize(heat, (cols, rows), interpolation=cv2.INTER_AREA)), ref, data_range=1.0
    )
    print(f"NOI1 {image}: SSIM {sampled:.4f} (bilinear), {averaged:.4f} (area)")
    assert sampled > 0.999
    assert averaged > {"demo_noi1.tif": 0.78, "168_image.jpg": 0.89}[image]  # measured 0.805, 0.911


def square_scene(folder: Path, name: str, change: object) -> tuple[Path, np.ndarray]:
    """astronaut.png with `change(rgb)` applied to the NOISY square, saved as PNG; and its mask."""
    from workbench.app.sample import load_photo

    rgb = load_photo("astronaut.png").astype(np.float32)
    rgb[NOISY] = change(rgb)[NOISY]
    path = folder / f"{name}.png"
    Image.fromarray(np.clip(rgb, 0, 255).round().astype(np.uint8)).save(path)
    mask = np.zeros(rgb.shape[:2], bool)
    mask[NOISY] = True
    return path, mask


@pytest.fixture(scope="module")
def noisy_square(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    noise = np.random.default_rng(1).normal(0.0, 8.0, (512, 512, 3))
    return square_scene(tmp_path_factory.mktemp("noise"), "noisy_square", lambda rgb: rgb + noise)


@pytest.fixture(scope="module")
def smoothed_square(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """The retouching case: the square blurred (σ = 2 px), so it holds too little noise."""
    blur = lambda rgb: cv2.GaussianBlur(rgb, (0, 0), 2.0)  # noqa: E731
    return square_scene(tmp_path_factory.mktemp("noise"), "smoothed_square", blur)


@pytest.mark.parametrize(
    ("analyzer", "margin", "level_margin"),
    # measured: heat 1.38× and 1.12×; level layer 2.19× and 1.70×
    [(NoiseWaveletAnalyzer(), 1.25, 1.9), (NoiseMedianAnalyzer(), 1.05, 1.5)],
)
def test_noisier_square_stands_out(
    noisy_square: tuple[Path, np.ndarray], analyzer: Analyzer, margin: float, level_margin: float
) -> None:
    path, mask = noisy_square
    result = run(analyzer, path)
    heat, level = result.map, result.stack[LEVEL_LAYER]
    assert float(heat[mask].mean()) > margin * float(heat[~mask].mean())
    assert float(level[mask].mean()) > level_margin * float(level[~mask].mean())


@pytest.mark.parametrize(
    ("analyzer", "margin"), [(NoiseWaveletAnalyzer(), 1.7), (NoiseMedianAnalyzer(), 2.2)]  # measured 1.92, 2.63
)
def test_smoothed_square_stands_out_too(
    smoothed_square: tuple[Path, np.ndarray], analyzer: Analyzer, margin: float
) -> None:
    path, mask = smoothed_square
    result = run(analyzer, path)
    heat, level = result.map, result.stack[LEVEL_LAYER]
    assert float(heat[mask].mean()) > margin * float(heat[~mask].mean())
    # The level reads one way: there the smoothed square is darker than the rest (measured 0.2× and 0.1×).
    assert float(level[mask].mean()) < 0.4 * float(level[~mask].mean())


@pytest.mark.parametrize("analyzer", [NoiseWaveletAnalyzer(), NoiseMedianAnalyzer()])
def test_map_shape_range_and_stats(png_image: Path, analyzer: Analyzer) -> None:
    result = run(analyzer, png_image)  # 600 wide × 400 high: catches a transposed map
    assert result.map.dtype == np.float32
    assert result.map.shape == (400, 600)
    assert float(result.map.min()) >= 0.0 and float(result.map.max()) <= 1.0
    assert 0.0 <= result.score <= 1.0
    assert all(np.isfinite(v) for v in result.stats.values())
    for layer in result.stack.values():
        assert layer.shape == (400, 600) and layer.dtype == np.float32


@pytest.mark.parametrize("analyzer", [NoiseWaveletAnalyzer(), NoiseMedianAnalyzer()])
def test_score_is_the_map_score_convention(png_image: Path, noisy_square: tuple[Path, np.ndarray],
                                           analyzer: Analyzer) -> None:
    # Both compute it without a selection over the full-size map: the same value, to rounding (and
    # for the median filter map to the clip at 1, which moves the map's own 99th percentile a hair).
    for path in (png_image, noisy_square[0], TOOLBOX / "168_image.jpg"):
        result = run(analyzer, path)
        assert result.score == pytest.approx(map_score(result.map), abs=1e-4)


def test_wavelet_stats_are_in_grey_levels(png_image: Path) -> None:
    stats = run(NoiseWaveletAnalyzer(), png_image).stats
    assert 0.0 < stats["median_sigma"] <= stats["p99_sigma"] <= stats["max_sigma"] < 50.0
    assert stats["blocks"] == (400 + 15) // 2 // 8 * ((600 + 15) // 2 // 8)


def test_level_layer_is_the_normalised_block_sigma(png_image: Path) -> None:
    """What version 1.0 showed as its map, and the fusion model was trained on."""
    result = run(NoiseWaveletAnalyzer(), png_image)
    sigma = block_noise_sigma(ycbcr_luma(np.asarray(Image.open(png_image).convert("RGB"))), 8)
    assert NoiseWaveletAnalyzer.earlier_maps == {"1.0": LEVEL_LAYER} == NoiseMedianAnalyzer.earlier_maps
    level = result.stack[LEVEL_LAYER]
    assert float(level.min()) == 0.0 and float(level.max()) == 1.0
    np.testing.assert_allclose(np.unique(level), np.unique(normalize(sigma)), atol=1e-6)


def test_larger_blocks_give_a_coarser_map(png_image: Path) -> None:
    fine, coarse = run(NoiseWaveletAnalyzer(), png_image), run(NoiseWaveletAnalyzer(), png_image, block=32)
    assert coarse.stats["blocks"] < fine.stats["blocks"] / 10
    assert len(np.unique(coarse.map)) < len(np.unique(fine.map))


@pytest.mark.parametrize("size", [(1, 1), (12, 40), (16, 16)])
def test_tiny_images(evidence_dir: Path, size: tuple[int, int]) -> None:
    path = evidence_dir / "tiny.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    wavelet = run_analyzer(NoiseWaveletAnalyzer(), open_media(path), NoiseWaveletAnalyzer.Params(), RunContext())
    if min(size) < 16:
        assert wavelet.status is Status.ERROR and "too small" in wavelet.message
    else:
        assert wavelet.status is Status.OK and wavelet.map.shape == size
    median = run(NoiseMedianAnalyzer(), path)
    assert median.map.shape == size and np.isfinite(median.map).all()
