"""Shared building blocks of the localisation signals: the exact fast percentiles, the per-image
memo that lets analyzers share luma, JPEG re-saves and JPEG coefficients, and the banded / OpenCV
versions of whole-image steps, each checked against the plain numpy computation it replaces."""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from plugins.localization import common
from plugins.localization.common import (
    block_dct,
    dct_matrix,
    expand_blocks,
    expanded_percentiles,
    jpeg_luma,
    jpeg_roundtrip,
    luminance,
    per_image,
    percentiles,
    resave_error,
    resave_errors,
)
from plugins.localization.double_jpeg import AdqAnalyzer
from plugins.localization.nadq import NadqAnalyzer
from workbench.core import registry
from workbench.core.frames import applies_to
from workbench.core.media import open_media
from workbench.core.plugin import Analyzer, RunContext, run_analyzer
from workbench.core.results import Heatmap, Status

RNG = np.random.default_rng(0)
BIG = (1024, 1100)
"""Large enough (1.1 MP) for `percentiles` to take its fast path."""


def _maps() -> dict[str, np.ndarray]:
    uniform = RNG.random(BIG, dtype=np.float32)
    half_zero = uniform.copy()
    half_zero[: BIG[0] // 2] = 0.0  # a tie that fills whole brackets
    blocky = np.repeat(np.repeat(RNG.random((BIG[0] // 8, BIG[1] // 8), dtype=np.float32), 8, 0), 8, 1)
    return {
        "uniform": uniform,
        "half zero": half_zero,
        "block map": blocky,
        "constant": np.full(BIG, 0.25, np.float32),
        "uint8": RNG.integers(0, 256, BIG, dtype=np.uint8),
        "float64 strided": RNG.normal(size=(2 * BIG[0], BIG[1]))[::2],
    }


@pytest.mark.parametrize("name", list(_maps()))
@pytest.mark.parametrize("q", [[99, 50], [1, 99], [0.1, 99.9], [0, 100], 99, 50, 0.0, 100])
def test_percentiles_equal_numpy_bit_for_bit(name: str, q: float | list[float]) -> None:
    values = _maps()[name]
    expected, got = np.percentile(values, q), percentiles(values, q)
    assert type(got) is type(expected) and np.asarray(got).dtype == np.asarray(expected).dtype
    np.testing.assert_array_equal(got, expected)


def test_percentiles_fall_back_to_numpy_when_a_bracket_misses_or_for_nan(monkeypatch: pytest.MonkeyPatch) -> None:
    values = RNG.random(BIG, dtype=np.float32)
    monkeypatch.setattr(common, "SAMPLE_MARGIN", 0)  # brackets of one sample value: they miss
    np.testing.assert_array_equal(percentiles(values, [99, 50]), np.percentile(values, [99, 50]))
    values[3, 5] = np.nan
    assert np.isnan(percentiles(values, [99, 50])).all()


def test_per_image_computes_once_per_owner_and_shares_a_read_only_value() -> None:
    calls = []

    def twice(image: np.ndarray, factor: int) -> np.ndarray:
        calls.append(factor)
        return image * factor

    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4).copy()
    pixels.setflags(write=False)
    first, again, other = per_image(twice, pixels, 2), per_image(twice, pixels, 2), per_image(twice, pixels, 3)
    assert first is again and calls == [2, 3] and not first.flags.writeable
    np.testing.assert_array_equal(other, pixels * 3)
    writable = np.arange(12, dtype=np.uint8).reshape(3, 4)
    per_image(twice, writable, 2)
    per_image(twice, writable, 2)
    assert calls == [2, 3, 2, 2]  # a writable array may change: never memoised
    view = writable[:2]
    view.setflags(write=False)
    per_image(twice, view, 2)
    assert calls == [2, 3, 2, 2, 2]  # read-only view of a writable array: not memoised either


def test_per_image_values_go_with_their_image() -> None:
    pixels = np.zeros((4, 4), np.uint8)
    pixels.setflags(write=False)
    key = id(pixels)
    per_image(lambda image: image + 1, pixels)
    assert key in common._MEMO._entries
    del pixels
    gc.collect()
    assert key not in common._MEMO._entries


def test_concurrent_callers_wait_for_one_computation_and_errors_are_not_kept() -> None:
    calls = []

    def slow(image: np.ndarray) -> np.ndarray:
        calls.append(1)
        time.sleep(0.2)
        return image.copy()

    pixels = np.ones((8, 8), np.uint8)
    pixels.setflags(write=False)
    results = []
    threads = [threading.Thread(target=lambda: results.append(per_image(slow, pixels))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and results[0] is results[1]

    def failing(image: np.ndarray) -> None:
        calls.append(2)
        raise ValueError("bad image")

    for _ in range(2):
        with pytest.raises(ValueError, match="bad image"):
            per_image(failing, pixels)
    assert calls.count(2) == 2  # the failure was not memoised: the second call tried again


def test_resave_errors_are_the_roundtrip_differences_and_come_once_each(astronaut: np.ndarray) -> None:
    rgb = astronaut[:120, :160]
    expected = np.abs(rgb.astype(int) - jpeg_roundtrip(rgb, 75))
    np.testing.assert_array_equal(resave_error(rgb, 75), np.moveaxis(expected, -1, 0)[::-1])  # B, G, R planes
    qualities = [60, 75, 90]
    assert sorted(q for q, _ in resave_errors(rgb, qualities)) == qualities


def test_resaves_past_libjpeg_size_limit_are_tiled_on_the_mcu_grid(monkeypatch: pytest.MonkeyPatch,
                                                                   astronaut: np.ndarray) -> None:
    # JPEG is an integer codec: the tiles give the whole-image save's pixels exactly, odd sizes included.
    rgb = astronaut[:301, :397]
    whole = jpeg_roundtrip(rgb, 80)
    monkeypatch.setattr(common, "JPEG_MAX_SIDE", 100)
    for tile in (64, 32, 16):  # several tiles each way, 16 the smallest (one MCU)
        monkeypatch.setattr(common, "RESAVE_TILE", tile)
        np.testing.assert_array_equal(jpeg_roundtrip(rgb, 80), whole)


@pytest.mark.parametrize("analyzer", ["ela", "ela_sweep", "jpeg_ghost"])
@pytest.mark.parametrize("shape", [(16, 70_000), (70_000, 16)])
def test_images_wider_or_taller_than_jpeg_allows_are_re_saved(tmp_path: Path, analyzer: str,
                                                              shape: tuple[int, int]) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "long.png")
    plugin = registry.get(analyzer)
    result = run_analyzer(plugin, open_media(tmp_path / "long.png"), plugin.Params(), RunContext())
    assert result.status is Status.OK, result.message
    assert isinstance(result, Heatmap) and result.map.shape == shape


def test_expand_blocks_repeats_each_block_and_the_last_row_and_column() -> None:
    block_map = RNG.random((5, 7), dtype=np.float32)
    for shape in [(40, 56), (43, 61), (20, 30), (3, 3)]:
        up = np.repeat(np.repeat(block_map, 8, axis=0), 8, axis=1)
        up = np.pad(up, ((0, max(0, shape[0] - 40)), (0, max(0, shape[1] - 56))), mode="edge")[: shape[0], : shape[1]]
        got = expand_blocks(block_map, 8, shape)
        assert got.dtype == np.float32 and got.shape == shape
        np.testing.assert_array_equal(got, up)


def test_banded_luma_and_block_dct_equal_the_whole_image_formulas() -> None:
    rgb = RNG.integers(0, 256, (801, 1203, 3), dtype=np.uint8)
    whole = rgb.astype(np.float32)
    np.testing.assert_array_equal(luminance(rgb), 0.299 * whole[..., 0] + 0.587 * whole[..., 1] + 0.114 * whole[..., 2])
    d = dct_matrix(8)
    channel = whole[..., 1]
    direct = d @ common.blocks(channel.astype(np.float64) - 128.0, 8) @ d.T
    np.testing.assert_allclose(block_dct(channel), direct, rtol=0, atol=1e-9)


def test_banded_block_transforms_equal_the_per_block_products() -> None:
    # Two BLAS products per band of block rows give the per-block products' values for every width
    # (block counts of each residue modulo 8: the padding keeps BLAS off its edge kernels). Another
    # BLAS build may add in another order: float64 sums of values below 2¹³ round by less than
    # 2·16·2⁻⁵³·2¹³ ≈ 3e-11, well within 1e-9, while a misplaced block or mode is off by whole units.
    d = dct_matrix(8)
    qtable = RNG.integers(1, 40, (8, 8)).astype(np.float64)
    for width in range(64, 136, 9):
        channel = RNG.integers(0, 256, (77, width)).astype(np.float32)
        direct = d @ common.blocks(channel.astype(np.float64) - 128.0, 8) @ d.T
        np.testing.assert_allclose(block_dct(channel), direct, rtol=0, atol=1e-9)
        for band, coefficients in common.dct_bands(channel, 5):  # only the modes below (5, 5)
            np.testing.assert_allclose(coefficients.swapaxes(1, 2), direct[band, :, :5, :5], rtol=0, atol=1e-9)
        quantized = np.round(direct / qtable).astype(np.int16)
        rows, cols = quantized.shape[:2]
        expected = (d.T @ (quantized * qtable) @ d).swapaxes(1, 2).reshape(8 * rows, 8 * cols) + 128.0
        np.testing.assert_allclose(common.block_idct(quantized, qtable), expected, rtol=0, atol=1e-9)
        unquantized = (d.T @ direct @ d).swapaxes(1, 2).reshape(expected.shape) + 128.0
        np.testing.assert_allclose(common.block_idct(direct), unquantized, rtol=0, atol=1e-9)


def test_coefficient_bins_round_half_up_and_clip_floats_and_integers() -> None:
    values = np.array([-3000.0, -2048.6, -2048.4, -1.5, -0.5, -0.49, 0.5, 1.5, 2047.4, 2047.6, 5000.0])
    expected = np.clip(np.floor(values + 0.5) + 2048, 0, 4095).astype(np.int64)
    for dtype in (np.float64, np.float32):
        np.testing.assert_array_equal(common.coefficient_bins(values.astype(dtype)), expected)
    integers = np.array([-3000, -2049, -2048, -1, 0, 2047, 2048, 3000], np.int16)
    np.testing.assert_array_equal(common.coefficient_bins(integers), np.clip(integers.astype(np.int64) + 2048, 0, 4095))


def test_mode_planes_are_the_coefficients_of_each_mode() -> None:
    coeffs = RNG.integers(-50, 50, (6, 9, 8, 8)).astype(np.int16)
    positions = [(0, 0), (1, 0), (4, 3), (7, 7)]
    expected = np.stack([coeffs[:, :, row, col] for row, col in positions])
    np.testing.assert_array_equal(common.mode_planes(coeffs, positions), expected)


def test_decoded_luma_is_the_y_plane_of_a_ycbcr_decode(jpeg_photo: Path) -> None:
    with Image.open(jpeg_photo) as im:
        im.draft("YCbCr", im.size)
        y_plane = np.asarray(im)[..., 0]
    np.testing.assert_array_equal(common.decoded_luma(open_media(jpeg_photo)), y_plane)


def test_decoded_luma_of_an_rgb_coded_jpeg_is_its_luminance(tmp_path: Path, astronaut: np.ndarray) -> None:
    Image.fromarray(astronaut[:64, :64]).save(tmp_path / "rgb.jpg", quality=90, keep_rgb=True)  # Adobe transform 0
    media = open_media(tmp_path / "rgb.jpg")
    np.testing.assert_array_equal(common.decoded_luma(media), luminance(media.pixels()))


def test_jpeg_luma_is_shared_and_matches_the_direct_computation(jpeg_photo: Path) -> None:
    media = open_media(jpeg_photo)
    luma = jpeg_luma(media)
    assert jpeg_luma(media) is luma and not luma.coefficients.flags.writeable
    decoded = common.decoded_luma(media)
    coefficients = np.round(block_dct(decoded) / luma.qtable)
    np.testing.assert_array_equal(luma.coefficients, coefficients)
    error = coefficients * luma.qtable - block_dct(luminance(media.pixels()))
    np.testing.assert_allclose(luma.error_mean, error.mean(axis=(0, 1)), atol=1e-9)
    np.testing.assert_allclose(luma.error_var, error.var(axis=(0, 1)), atol=1e-9)
    assert luma.error_variance() == pytest.approx(error.var(), abs=1e-9)


def test_jpeg_luma_of_a_file_that_is_not_a_jpeg_is_a_clear_error(png_image: Path) -> None:
    with pytest.raises(ValueError, match="requires a JPEG file"):
        jpeg_luma(open_media(png_image))


@pytest.mark.parametrize("analyzer", [AdqAnalyzer(), NadqAnalyzer()], ids=["adq", "nadq"])
def test_an_mpo_file_is_read_as_the_jpeg_it_starts_with(tmp_path: Path, astronaut: np.ndarray, coffee: np.ndarray,
                                                        analyzer: Analyzer) -> None:
    path = tmp_path / "phone.jpg"  # a JPEG with a second picture after it: Pillow names it MPO
    first, second = (Image.fromarray(np.asarray(rgb)[:64, :64]) for rgb in (astronaut, coffee))
    first.save(path, "MPO", save_all=True, append_images=[second], quality=80)
    media = open_media(path)
    assert media.format == "MPO" and applies_to(analyzer, media.kind, media.format)
    result = run_analyzer(analyzer, media, analyzer.Params(), RunContext())
    assert result.status is Status.OK, result.message


@pytest.mark.parametrize("analyzer", [AdqAnalyzer(), NadqAnalyzer()], ids=["adq", "nadq"])
def test_a_quantisation_table_of_zeros_is_named_invalid(zero_qtable_jpeg: Path, analyzer: Analyzer) -> None:
    result = run_analyzer(analyzer, open_media(zero_qtable_jpeg), analyzer.Params(), RunContext())
    assert result.status is Status.ERROR
    assert "quantisation table 0 (luma) holds 64 zero step(s)" in result.message and "invalid" in result.message


@pytest.mark.parametrize("shape", [(3000, 4000), (37, 21), (5, 7), (9, 20)])
def test_percentiles_of_a_block_map_equal_those_of_its_expansion(shape: tuple[int, int]) -> None:
    h, w = shape
    block_map = np.random.default_rng(h).random((-(-h // 8), -(-w // 8))).astype(np.float32)
    block_map[0, :] = 0.5  # ties
    rows, cols = np.arange(h) // 8, np.arange(w) // 8
    q = [0.1, 1, 50, 99, 99.9, 100]
    expected = percentiles(block_map[rows][:, cols], q)
    got = expanded_percentiles(block_map, rows, cols, q)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)
