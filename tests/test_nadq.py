"""Non-aligned double JPEG (NADQ): agreement with the reference toolbox, the shifted grid and first
step of a cropped, re-saved JPEG are found and a splice stands out, non-JPEG / tiny inputs fail clearly."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from PIL import Image
from skimage.metrics import structural_similarity

from plugins.localization import common
from plugins.localization import nadq as nadq_module
from plugins.localization.common import bins_histogram, coefficient_bins, expand_blocks, jpeg_luma, normalize
from plugins.localization.nadq import NadqAnalyzer
from workbench.app.sample import decode, jpeg_bytes, load_photo
from workbench.core.media import open_media
from workbench.core.plugin import RunContext, run_analyzer
from workbench.core.results import Heatmap, Result, Status

TOOLBOX = Path("/work/shared/reference/toolbox")


def run(path: Path, **params: object) -> Result:
    analyzer = NadqAnalyzer()
    return run_analyzer(analyzer, open_media(path), analyzer.params_from(params), RunContext())


def nadq(path: Path, **params: object) -> Heatmap:
    result = run(path, **params)
    assert result.status is Status.OK, result.message
    assert isinstance(result, Heatmap)
    return result


def ssim(ours: np.ndarray, reference: np.ndarray) -> float:
    return structural_similarity(normalize(ours), normalize(reference.astype(np.float32)), data_range=1.0)


@pytest.mark.skipif(not TOOLBOX.is_dir(), reason="reference toolbox outputs not available")
def test_agrees_with_reference_toolbox() -> None:
    # The toolbox maps the log-likelihood ratio of double compression (tampered = LOW): compare inverted.
    reference = -scipy.io.loadmat(TOOLBOX / "168_NADQ.mat")["OutputMap"]
    result = nadq(TOOLBOX / "168_image.jpg")
    rows, cols = reference.shape
    resized = ssim(cv2.resize(result.map, (cols, rows), interpolation=cv2.INTER_AREA), reference)
    offset = int(result.stats["grid_row_offset"]), int(result.stats["grid_col_offset"])
    on_grid = ssim(result.map[offset[0] :: 8, offset[1] :: 8][:rows, :cols], reference)
    print(f"NADQ vs 168_NADQ: SSIM {resized:.4f} (resized), {on_grid:.4f} (on the found grid {offset})")
    assert resized > 0.89  # measured 0.908: our map is shifted by the grid offset, the toolbox's is not
    assert on_grid > 0.95  # measured 0.960


def write_cropped_splice(path: Path, first: int, second: int, crop: tuple[int, int]) -> np.ndarray:
    """A JPEG (quality `first`) cropped by `crop` pixels, a raw patch pasted, saved at `second`."""
    host, donor = load_photo("astronaut.png"), load_photo("coffee.png")
    image = decode(jpeg_bytes(host, first))[crop[0] : crop[0] + 256, crop[1] : crop[1] + 256].copy()
    image[101:181, 130:230] = donor[100:180, 150:250]
    mask = np.zeros(image.shape[:2], bool)
    mask[101:181, 130:230] = True
    path.write_bytes(jpeg_bytes(image, second))
    return mask


def test_finds_the_shifted_grid_and_the_splice(tmp_path: Path) -> None:
    mask = write_cropped_splice(tmp_path / "x.jpg", 60, 90, (3, 5))
    result = nadq(tmp_path / "x.jpg")
    heat = result.map
    assert heat.shape == (256, 256) and heat.dtype == np.float32
    assert 0.0 <= float(heat.min()) and float(heat.max()) <= 1.0
    # Cropping 3 rows and 5 columns puts the first grid at row 5, column 3; quality 60 has DC step 13.
    assert (result.stats["grid_row_offset"], result.stats["grid_col_offset"]) == (5.0, 3.0)
    assert result.stats["dc_first_step"] == 13.0
    inside, outside = float(heat[mask].mean()), float(heat[~mask].mean())
    assert inside > outside + 0.25, (inside, outside)  # measured ≈ 0.74 vs 0.39


def test_no_shifted_compression_leaves_little_double_share(tmp_path: Path) -> None:
    write_cropped_splice(tmp_path / "x.jpg", 60, 90, (0, 0))  # aligned: ADQ's case, not NADQ's
    assert nadq(tmp_path / "x.jpg").stats["double_compressed_share"] < 0.2  # measured ≈ 0.02


def test_png_is_refused(tmp_path: Path) -> None:
    Image.fromarray(load_photo("astronaut.png")[:64, :64]).save(tmp_path / "x.png")
    result = run(tmp_path / "x.png")
    assert result.status is Status.ERROR and "requires a JPEG file" in result.message


@pytest.mark.parametrize("size", [(8, 8), (16, 16), (17, 30)])
def test_tiny_images(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "tiny.jpg"
    Image.fromarray(load_photo("astronaut.png")[: size[0], : size[1]]).save(path, quality=90)
    result = run(path)
    if size[0] < 16:
        assert result.status is Status.ERROR and "2×2 blocks" in result.message
    else:
        assert result.status is Status.OK and result.map.shape == size


def test_steps_coarser_than_baseline_jpeg_are_refused_in_words(tmp_path: Path) -> None:
    path = tmp_path / "coarse.jpg"  # a 16-bit table: libjpeg warns, writes it, and decoders read it
    Image.fromarray(load_photo("astronaut.png")[:64, :64]).save(path, qtables=[[1000] * 64, [1000] * 64])
    result = run(path)  # at once: fitting steps of 1000 took 40 s on this thumbnail
    assert result.status is Status.ERROR and "steps up to 255" in result.message and "step of 1000" in result.message


def _reference_model(calibrated: np.ndarray, step: int, bias: float, sigma: float) -> np.ndarray:
    """The quantised model of one step as first written: one convolution per cell and blur."""
    cell = np.ones(step) if step % 2 else np.concatenate(([0.5], np.ones(step - 1), [0.5]))
    half = step // 2
    mass = np.convolve(calibrated, cell)
    model = np.zeros(nadq_module.BINS)
    model[nadq_module.CENTER :: step] = mass[nadq_module.CENTER + half : mass.size - half : step]
    model[nadq_module.CENTER :: -step] = mass[nadq_module.CENTER + half : half - 1 : -step]
    taps = np.arange(-int(np.ceil(3 * sigma)), int(np.ceil(3 * sigma)) + 1)
    model = np.convolve(model, np.exp(-((taps + bias) ** 2) / sigma**2 / 2), mode="same")
    model /= model.sum()
    n = calibrated.sum()
    return (model * n + 1) / (n + nadq_module.BINS)


def test_models_of_all_steps_at_once_equal_the_per_step_convolutions() -> None:
    values = np.random.default_rng(0).laplace(0, 40, 200_000)
    calibrated = np.bincount(coefficient_bins(values), minlength=nadq_module.BINS).astype(np.float64)
    steps = np.arange(2, 40)
    for bias, sigma in [(0.1, 0.9), (-0.3, 2.5), (0.0, 9.5)]:
        expected = np.stack([_reference_model(calibrated, int(step), bias, sigma) for step in steps])
        # The cell sums are exact; the blur (np.convolve: BLAS's ddot) and the normalisation add
        # positive terms in another order: each of ≤ 4096 terms, so within 2·4096·2⁻⁵³ ≈ 1e-12 relative.
        models = nadq_module._quantized_models(calibrated, steps, bias, sigma)
        np.testing.assert_allclose(models, expected, rtol=1e-12, atol=0)


def filter2d(pixels: np.ndarray, row: int, col: int) -> np.ndarray:
    """DCT coefficient (row, col) of the 8×8 block starting at every pixel, by one filter2D (zeros beyond)."""
    kernel = nadq_module._basis(row, col)
    return cv2.filter2D(pixels, -1, kernel, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)


def assert_filter2d_up_to_rounding(actual: np.ndarray, pixels: np.ndarray, row: int, col: int,
                                   grid: tuple[slice, slice] = (slice(None), slice(None))) -> None:
    """`actual` is `filter2d(pixels, row, col)[grid]` up to float32 rounding: two sums of the same 64
    products added in any order (BLAS and OpenCV builds differ, with or without fused multiply-adds)
    differ by at most 2·64·2⁻²⁴ times the sum of the products' magnitudes (Higham's bound, each side)."""
    kernel = nadq_module._basis(row, col)
    expected = filter2d(pixels, row, col)[grid].astype(np.float64)
    magnitudes = cv2.filter2D(np.abs(pixels), -1, np.abs(kernel), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    excess = np.abs(actual - expected) - 2 * 64 * 2.0**-24 * magnitudes[grid].astype(np.float64)
    where = np.unravel_index(excess.argmax(), excess.shape)
    assert excess[where] <= 0, f"mode {(row, col)} differs by more than float32 rounding at {where}"


def test_grid_coefficients_and_histograms_equal_filter2d(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(jpeg_bytes(load_photo("astronaut.png")[:203, :171], 85))  # blocks past both edges
    padded = nadq_module._decompressed(jpeg_luma(open_media(path)))
    pixels = padded[:-8, :-8]
    modes = nadq_module.MODE_ORDER[1:]  # nine: two products
    for phase in [(0, 1), (3, 5), (7, 7)]:
        on_grid = nadq_module._phase_coefficients(padded, phase, modes)
        grid = (slice(phase[0], None, 8), slice(phase[1], None, 8))
        for plane, (row, col) in zip(on_grid, modes, strict=True):
            assert_filter2d_up_to_rounding(plane, pixels, row, col, grid)
    for serial_pixels in (common.SERIAL_PIXELS, 40 * padded.shape[1]):  # one band; bands of 32 rows
        monkeypatch.setattr(common, "SERIAL_PIXELS", serial_pixels)
        assert_filter2d_up_to_rounding(nadq_module._shifted_coefficients(padded, 0, 0), pixels, 0, 0)
    dc = filter2d(pixels, 0, 0)
    for coefficient in (dc, 4 * dc):  # the second reaches past the bins: clipped into the end bins
        histograms = nadq_module._phase_histograms(coefficient)
        for k1, k2 in [(0, 0), (2, 5), (7, 3)]:  # the same float32 values, rounded alike: exact counts
            expected = bins_histogram(coefficient_bins(coefficient[k1::8, k2::8]))
            np.testing.assert_array_equal(histograms[k1, k2], expected)
    assert np.abs(4 * dc).max() > 2048


@pytest.mark.parametrize("shape", [(256, 256), (203, 171), (17, 30)])
def test_map_on_the_image_grid_repeats_the_edge_blocks(shape: tuple[int, int]) -> None:
    for offset in [(0, 0), (5, 3), (7, 7)]:
        grid = ((shape[0] - 8) // 8 + 1, (shape[1] - 8) // 8 + 1)  # the blocks of the decompressed luma
        block_map = np.random.default_rng(0).random(grid).astype(np.float32)
        on_grid = expand_blocks(block_map, 8, (shape[0] - offset[0], shape[1] - offset[1]))
        expected = cv2.copyMakeBorder(on_grid, offset[0], 0, offset[1], 0, cv2.BORDER_REPLICATE)
        np.testing.assert_array_equal(expand_blocks(block_map, 8, shape, offset), expected)
