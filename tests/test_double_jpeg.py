"""Aligned double JPEG (ADQ): agreement with the reference toolbox, a splice into a re-saved JPEG
stands out, and non-JPEG / tiny inputs give clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from PIL import Image
from skimage.metrics import structural_similarity

from plugins.localization import double_jpeg
from plugins.localization.common import block_dct, coefficient_histogram, jpeg_luma, normalize, zigzag
from plugins.localization.double_jpeg import STACK_BIANCHI, STACK_LIN, AdqAnalyzer
from tests.analyzer_runs import write_splice
from workbench.app.sample import load_photo
from workbench.core.media import open_media
from workbench.core.plugin import RunContext, run_analyzer
from workbench.core.results import Heatmap, Status

TOOLBOX = Path("/work/shared/reference/toolbox")


def adq(path: Path, **params: object) -> Heatmap:
    analyzer = AdqAnalyzer()
    result = run_analyzer(analyzer, open_media(path), analyzer.params_from(params), RunContext())
    assert result.status is Status.OK, result.message
    assert isinstance(result, Heatmap)
    return result


def reference_ssim(ours: np.ndarray, reference: np.ndarray) -> float:
    """SSIM on the toolbox's block grid (whole blocks only where its map is floor-sized)."""
    rows, cols = reference.shape
    ours = ours[: rows * 8, : cols * 8]
    ours = cv2.resize(ours, (cols, rows), interpolation=cv2.INTER_AREA)
    return structural_similarity(normalize(ours), normalize(reference.astype(np.float32)), data_range=1.0)


@pytest.fixture(scope="module")
def toolbox_runs() -> dict[str, Heatmap]:
    if not TOOLBOX.is_dir():
        pytest.skip("reference toolbox outputs not available")
    return {name: adq(TOOLBOX / name) for name in ("demo_adq1.jpg", "168_image.jpg")}


@pytest.mark.parametrize(
    ("image", "mat", "layer", "floor"),
    [
        ("demo_adq1.jpg", "demo_adq1_jpg", STACK_LIN, 0.98),  # measured 0.988
        ("168_image.jpg", "168_ADQ1", STACK_LIN, 0.99),  # measured 0.998
        ("demo_adq1.jpg", "demo_adq2", STACK_BIANCHI, 0.95),  # measured 0.963 (demo_adq2.jpg is the same file)
        ("168_image.jpg", "168_ADQ2", STACK_BIANCHI, 0.92),  # measured 0.934
    ],
)
def test_agrees_with_reference_toolbox(
    toolbox_runs: dict[str, Heatmap], image: str, mat: str, layer: str, floor: float
) -> None:
    reference = scipy.io.loadmat(TOOLBOX / f"{mat}.mat")["OutputMap"]
    value = reference_ssim(toolbox_runs[image].stack[layer], reference)
    print(f"ADQ {layer} vs {mat}: SSIM {value:.4f}")
    assert value >= floor


def test_orientation_matches_toolbox(toolbox_runs: dict[str, Heatmap]) -> None:
    # Both toolbox maps and ours give the tampered (single-compressed) blocks HIGH values.
    run = toolbox_runs["demo_adq1.jpg"]
    for layer, mat in ((STACK_LIN, "demo_adq1_jpg"), (STACK_BIANCHI, "demo_adq2")):
        reference = scipy.io.loadmat(TOOLBOX / f"{mat}.mat")["OutputMap"]
        ours = cv2.resize(run.stack[layer][:512, :688], reference.shape[::-1], interpolation=cv2.INTER_AREA)
        assert np.corrcoef(ours.ravel(), reference[: ours.shape[0], : ours.shape[1]].ravel())[0, 1] > 0.8


def test_splice_into_resaved_jpeg_stands_out(tmp_path: Path) -> None:
    mask = write_splice(tmp_path / "splice.jpg", 70, 90)
    result = adq(tmp_path / "splice.jpg")
    assert result.map.shape == (256, 256) and result.map.dtype == np.float32
    assert 0.0 <= float(result.map.min()) and float(result.map.max()) <= 1.0
    # Measured: Bianchi inside ≈ 0.99, outside ≈ 0.08; Lin inside ≈ 0.88, outside ≈ 0.06.
    for layer, (low_in, high_out) in {STACK_BIANCHI: (0.9, 0.3), STACK_LIN: (0.7, 0.3)}.items():
        heat = result.stack[layer]
        assert float(heat[mask].mean()) > low_in and float(heat[~mask].mean()) < high_out, layer
    assert np.array_equal(result.map, result.stack[STACK_BIANCHI])
    assert result.score > 0.8
    assert 0.1 < result.stats["single_compressed_share"] < 0.3  # the patch covers 12 % of the image
    # The DC step of the first save is recovered: 10 at quality 70 (the second save has 3).
    assert (result.stats["dc_primary_step"], result.stats["dc_secondary_step"]) == (10.0, 3.0)
    assert np.array_equal(adq(tmp_path / "splice.jpg", method="lin").map, result.stack[STACK_LIN])


def test_lower_second_quality_leaves_no_evidence(tmp_path: Path) -> None:
    # A second save coarser than the first erases the comb: the map stays near 0.5 (no evidence).
    mask = write_splice(tmp_path / "splice.jpg", 90, 70)
    heat = adq(tmp_path / "splice.jpg").map
    assert abs(float(heat[mask].mean()) - float(heat[~mask].mean())) < 0.1


def test_single_mode_runs(tmp_path: Path) -> None:
    write_splice(tmp_path / "splice.jpg", 70, 90)
    result = adq(tmp_path / "splice.jpg", modes=1)
    assert result.stats["dc_primary_step"] >= 1 and result.provenance.params["modes"] == 1


def test_png_is_refused(tmp_path: Path) -> None:
    Image.fromarray(load_photo("astronaut.png")[:64, :64]).save(tmp_path / "x.png")
    analyzer = AdqAnalyzer()
    result = run_analyzer(analyzer, open_media(tmp_path / "x.png"), analyzer.params_from({}), RunContext())
    assert result.status is Status.ERROR and "requires a JPEG file" in result.message


@pytest.mark.parametrize("size", [(5, 7), (8, 8), (9, 20)])
def test_tiny_images(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "tiny.jpg"
    Image.fromarray(load_photo("astronaut.png")[: size[0], : size[1]]).save(path, quality=90)
    analyzer = AdqAnalyzer()
    result = run_analyzer(analyzer, open_media(path), analyzer.params_from({}), RunContext())
    if size[0] < 8:
        assert result.status is Status.ERROR and "8×8 block" in result.message
    else:
        assert result.status is Status.OK and result.map.shape == size


def test_shifted_priors_are_the_histograms_of_the_shifted_block_dct(tmp_path: Path) -> None:
    write_splice(tmp_path / "splice.jpg", 70, 90)
    luma = jpeg_luma(open_media(tmp_path / "splice.jpg"))
    shifted = block_dct(luma.decoded[1:, 1:])
    positions = zigzag(15)
    expected = [coefficient_histogram(shifted[:, :, row, col] / luma.qtable[row, col]) for row, col in positions]
    got, expected = double_jpeg._shifted_histograms(luma, positions), np.stack(expected)
    # Equal here; another BLAS build may round a coefficient lying on a bin edge the other way.
    assert got.shape == expected.shape and np.abs(got - expected).sum() <= 1e-4 * expected.sum()
