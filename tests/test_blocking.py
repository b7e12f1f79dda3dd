"""JPEG blocking-grid inconsistency (BLK): exact agreement with the reference toolbox, a region
without the file's grid stands out, and an image without any grid is flagged."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from PIL import Image
from skimage.metrics import structural_similarity

from plugins.localization.blocking import (
    STUDIO_SWING,
    BlockingAnalyzer,
    _median_along_rows,
    block_artifact_grid,
    block_values,
)
from plugins.localization.common import luminance, normalize
from tests.analyzer_runs import write_splice
from workbench.app.sample import load_photo
from workbench.core.media import open_media
from workbench.core.plugin import RunContext, run_analyzer
from workbench.core.results import Heatmap, Status

TOOLBOX = Path("/work/shared/reference/toolbox")


def blk(path: Path, **params: object) -> Heatmap:
    analyzer = BlockingAnalyzer()
    result = run_analyzer(analyzer, open_media(path), analyzer.params_from(params), RunContext())
    assert result.status is Status.OK, result.message
    assert isinstance(result, Heatmap)
    return result


def ssim(ours: np.ndarray, reference: np.ndarray) -> float:
    ours = cv2.resize(ours.astype(np.float32), reference.shape[::-1], interpolation=cv2.INTER_AREA)
    return structural_similarity(normalize(ours), normalize(reference.astype(np.float32)), data_range=1.0)


@pytest.mark.skipif(not TOOLBOX.is_dir(), reason="reference toolbox outputs not available")
def test_agrees_with_reference_toolbox() -> None:
    reference = scipy.io.loadmat(TOOLBOX / "168_BLK.mat")["OutputMap"]
    media = open_media(TOOLBOX / "168_image.jpg")
    raw = block_values(block_artifact_grid(luminance(media.pixels()) * STUDIO_SWING))
    exact, shown = ssim(raw, reference), ssim(blk(TOOLBOX / "168_image.jpg").map, reference)
    print(f"BLK vs 168_BLK: SSIM {exact:.4f} (block values), {shown:.4f} (map, 0.1–99.9 % stretch)")
    assert exact > 0.995  # measured 0.9968 (1.0000 with the exact running median on every column)
    assert shown > 0.92  # measured 0.929: the map's percentile stretch differs from min–max


def test_sparse_running_median_is_close_to_the_exact_one() -> None:
    from plugins.localization.blocking import _subtract_running_median

    rng = np.random.default_rng(0)
    smooth = cv2.boxFilter(rng.random((200, 300)).astype(np.float32) * 50, -1, (33, 1), normalize=False)
    exact, sparse = smooth.copy(), smooth.copy()
    _subtract_running_median(exact, 33, axis=0)
    _subtract_running_median(sparse, 33, axis=0, line_step=4)
    assert np.array_equal(exact[:, ::4], sparse[:, ::4])
    assert np.abs(exact - sparse).mean() < 0.05 * np.abs(smooth - exact).mean()
    # along rows it is the same computation on the transposed array
    across = np.ascontiguousarray(smooth.T)
    _subtract_running_median(across, 33, axis=1, line_step=4)
    np.testing.assert_array_equal(across, sparse.T)


@pytest.mark.parametrize("length", [9, 33, 65])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (4, 40), (5, 301)])
def test_running_median_equals_the_median_of_every_window(shape: tuple[int, int], length: int) -> None:
    rng = np.random.default_rng(length)
    rows = rng.random(shape).astype(np.float32)
    rows[:, ::3] = np.round(rows[:, ::3] * 4)  # ties
    windows = np.lib.stride_tricks.sliding_window_view(
        np.pad(rows, ((0, 0), (length // 2, length // 2)), mode="symmetric"), length, axis=1
    )
    np.testing.assert_array_equal(_median_along_rows(rows, length), np.median(windows, axis=-1))


def test_region_without_the_grid_stands_out(tmp_path: Path) -> None:
    mask = write_splice(tmp_path / "splice.jpg", 50, 95)
    result = blk(tmp_path / "splice.jpg")
    heat = result.map
    assert heat.shape == (256, 256) and heat.dtype == np.float32
    assert 0.0 <= float(heat.min()) and float(heat.max()) <= 1.0
    inside, outside = float(heat[mask].mean()), float(heat[~mask].mean())
    # Measured: inside ≈ 0.72, outside ≈ 0.51.
    assert inside > outside + 0.15, (inside, outside)
    assert result.stats["grid_contrast"] > 2.0 and not result.message


def test_never_compressed_image_is_flagged(tmp_path: Path) -> None:
    Image.fromarray(load_photo("astronaut.png")[:256, :256]).save(tmp_path / "x.png")
    result = blk(tmp_path / "x.png")
    assert result.stats["grid_contrast"] < 1.25  # measured ≈ 1.0
    assert "no clear 8×8 JPEG grid" in result.message


def test_parameters_act(tmp_path: Path) -> None:
    write_splice(tmp_path / "splice.jpg", 50, 95)
    default, short = blk(tmp_path / "splice.jpg"), blk(tmp_path / "splice.jpg", accumulator=16, edge_threshold=20)
    assert not np.array_equal(default.map, short.map)
    assert short.provenance.params == {"accumulator": 16, "edge_threshold": 20.0}


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (9, 20)])
def test_tiny_images_give_a_valid_map(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "tiny.png"
    Image.fromarray(load_photo("astronaut.png")[: size[0], : size[1]]).save(path)
    heat = blk(path).map
    assert heat.shape == size and np.isfinite(heat).all()
