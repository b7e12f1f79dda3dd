"""JPEG ghosts: our differences reproduce the toolbox's, a region once saved at a lower quality
lights up and its quality is found, so does a region pasted between two saves (which carries no
ghost where the rest does), and parameters, tiny images and cancellation are handled."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from PIL import Image
from skimage.metrics import structural_similarity

from plugins.localization.common import normalize
from plugins.localization.ghost import (
    FLAT_RANGE,
    GHOST_LAYER,
    MEDIAN_STRIDE,
    GhostParams,
    JpegGhostAnalyzer,
    ghost_differences,
    qualities_of,
    sampling_step,
)
from workbench.app.sample import decode, jpeg_bytes, load_photo
from workbench.core.media import open_media
from workbench.core.plugin import RunContext, run_analyzer
from workbench.core.results import Heatmap, Status

TOOLBOX = Path("/work/shared/reference/toolbox")
TOOLBOX_QUALITIES = range(51, 101)
"""demo_ghost.mat holds 50 maps: the toolbox re-saves at 51, 52, ..., 100."""
TOOLBOX_CROP = 8
"""The toolbox drops the 8 border pixels its zero-padded 17×17 average spoils."""

PASTED = (slice(96, 256), slice(152, 352))
"""Where the ghost scene pastes coffee.png into astronaut.png: on the 8×8 grid of both."""


def ghost(path: Path, **params: object) -> Heatmap:
    analyzer = JpegGhostAnalyzer()
    result = run_analyzer(analyzer, open_media(path), analyzer.params_from(params), RunContext())
    assert result.status is Status.OK, result.message
    assert isinstance(result, Heatmap)
    return result


def toolbox_similarity(ours: np.ndarray, reference: np.ndarray) -> float:
    """SSIM after cropping the toolbox's border and box-downsampling to its map size (1/4)."""
    ours = ours[TOOLBOX_CROP:-TOOLBOX_CROP, TOOLBOX_CROP:-TOOLBOX_CROP]
    ours = cv2.resize(ours, reference.shape[::-1], interpolation=cv2.INTER_AREA)
    return structural_similarity(normalize(ours), normalize(reference), data_range=1.0)


@pytest.fixture(scope="module")
def toolbox() -> tuple[Path, dict]:
    if not TOOLBOX.is_dir():
        pytest.skip("reference toolbox outputs not available")
    return TOOLBOX / "demo_ghost.jpg", scipy.io.loadmat(TOOLBOX / "demo_ghost.mat")


def test_differences_and_quality_curve_match_the_toolbox(toolbox: tuple[Path, dict]) -> None:
    path, mat = toolbox
    rgb = np.asarray(Image.open(path).convert("RGB"))
    differences = ghost_differences(rgb, list(TOOLBOX_QUALITIES), 16)
    similarities = [
        toolbox_similarity(difference, reference)
        for difference, reference in zip(differences, mat["dispImages"][0], strict=True)
    ]
    curve = differences[:, TOOLBOX_CROP:-TOOLBOX_CROP, TOOLBOX_CROP:-TOOLBOX_CROP].mean(axis=(1, 2))
    mean = float(np.mean(similarities))
    print(f"GHOST raw differences vs demo_ghost: mean SSIM {mean:.4f} (min {min(similarities):.4f})")
    assert mean > 0.99  # measured 0.993 (b = 16 here, 17 in the toolbox)
    # The toolbox's global curve (its 17×17 window) and ours agree to a few percent.
    np.testing.assert_allclose(curve, mat["OutputY"][0], rtol=0.05)


def test_displayed_maps_differ_from_the_toolbox_on_purpose(toolbox: tuple[Path, dict]) -> None:
    path, mat = toolbox
    result = ghost(path, q_min=51, q_max=100, step=1)
    assert list(result.stack) == [GHOST_LAYER, *(f"q={q}" for q in TOOLBOX_QUALITIES)]
    # Our layers are 1 − Farid's per-pixel normalisation; the toolbox normalises each map over space.
    similarities = [
        toolbox_similarity(1.0 - result.stack[f"q={q}"], reference)
        for q, reference in zip(TOOLBOX_QUALITIES, mat["dispImages"][0], strict=True)
    ]
    mean = float(np.mean(similarities))
    print(f"GHOST displayed maps vs demo_ghost: mean SSIM {mean:.4f}")
    assert mean > 0.12  # measured 0.157
    # The file's own quality (85) is where the whole image re-compresses with least loss.
    assert result.stats["min_difference_quality"] == 85.0


@pytest.fixture(scope="module")
def ghost_scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """Farid's scenario: a region saved at quality 70 pasted into an uncompressed photo, saved at 90."""
    host = load_photo("astronaut.png").copy()
    donor = decode(jpeg_bytes(load_photo("coffee.png"), 70))
    host[PASTED] = donor[104:264, 104:304]
    path = tmp_path_factory.mktemp("ghost") / "ghost_scene.jpg"
    path.write_bytes(jpeg_bytes(host, 90))
    mask = np.zeros(host.shape[:2], bool)
    mask[PASTED] = True
    return path, mask


@pytest.fixture(scope="module")
def double_jpeg_scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """The converse: a photo saved at quality 70 (the camera), a never-compressed region pasted in, saved at 90."""
    host = decode(jpeg_bytes(load_photo("astronaut.png"), 70)).copy()
    host[PASTED] = load_photo("coffee.png")[104:264, 104:304]
    path = tmp_path_factory.mktemp("ghost") / "double_jpeg_scene.jpg"
    path.write_bytes(jpeg_bytes(host, 90))
    mask = np.zeros(host.shape[:2], bool)
    mask[PASTED] = True
    return path, mask


def test_region_saved_at_lower_quality_stands_out(ghost_scene: tuple[Path, np.ndarray]) -> None:
    path, mask = ghost_scene
    result = ghost(path)
    inside, outside = float(result.map[mask].mean()), float(result.map[~mask].mean())
    assert inside > 1.6 * outside, (inside, outside)  # measured 0.502 vs 0.275 (1.8×)
    layer = result.stack[GHOST_LAYER]  # the one-sided ghost shows it more sharply (2.8×)
    assert float(layer[mask].mean()) > 2.3 * float(layer[~mask].mean())
    assert result.stats["ghost_quality"] == 70.0
    assert result.stats["min_difference_quality"] == 90.0
    # In the layer of the earlier quality the pasted region is much closer to its best match.
    layer = result.stack["q=70"]
    assert float(layer[mask].mean()) > float(layer[~mask].mean()) + 0.2  # measured + 0.30


def test_region_pasted_between_two_saves_stands_out(double_jpeg_scene: tuple[Path, np.ndarray]) -> None:
    path, mask = double_jpeg_scene
    result = ghost(path)
    inside, outside = float(result.map[mask].mean()), float(result.map[~mask].mean())
    assert inside > 2.5 * outside, (inside, outside)  # measured 0.674 vs 0.192 (3.5×)
    # The one-sided ghost reads the other way: everything but the pasted region has the q=70 ghost.
    layer = result.stack[GHOST_LAYER]
    assert float(layer[mask].mean()) < 0.5 * float(layer[~mask].mean())  # measured 0.085 vs 0.262
    assert result.stats["deviation_quality"] == 70.0
    assert result.score > 0.5  # measured 0.60


def test_score_separates_the_ghost_from_an_authentic_jpeg(
    ghost_scene: tuple[Path, np.ndarray], jpeg_photo: Path
) -> None:
    forged, authentic = ghost(ghost_scene[0]).score, ghost(jpeg_photo).score
    assert authentic < 0.3 and forged > 0.35, (authentic, forged)  # measured 0.23 and 0.39


def test_map_shape_range_and_stack(png_image: Path) -> None:
    result = ghost(png_image, q_min=60, q_max=90, step=10)  # 600 wide × 400 high
    assert result.map.dtype == np.float32 and result.map.shape == (400, 600)
    assert float(result.map.min()) >= 0.0 and float(result.map.max()) <= 1.0
    assert list(result.stack) == [GHOST_LAYER, "q=60", "q=70", "q=80", "q=90"]
    for layer in result.stack.values():
        assert layer.shape == (400, 600) and layer.dtype == np.float32
        assert float(layer.min()) >= 0.0 and float(layer.max()) <= 1.0 + 1e-6
    assert set(result.stats) == {
        "min_difference_quality", "min_difference", "ghost_quality", "ghost_strength", "deviation_quality",
        "deviation_strength",
    }
    assert 0.0 <= result.score <= 1.0


def test_large_image_keeps_a_full_size_map_and_reduced_layers(evidence_dir: Path) -> None:
    """Above STACK_SIDE the layers are area means; the map is still the one-pass full-size result."""
    path = evidence_dir / "large.jpg"
    path.write_bytes(jpeg_bytes(cv2.resize(load_photo("astronaut.png"), (1600, 1300)), 80))
    media = open_media(path)
    result = ghost(path)
    rgb = media.pixels()
    qualities = qualities_of(GhostParams())
    differences = ghost_differences(rgb, qualities, 16)
    low = differences.min(axis=0)
    spread = differences.max(axis=0) - low
    closeness = 1.0 - (differences - low) / np.maximum(spread, np.float32(1e-6))
    damping = spread / (spread + FLAT_RANGE)
    excess = [(layer - np.median(layer[::MEDIAN_STRIDE, ::MEDIAN_STRIDE])) * damping for layer in closeness]
    expected = normalize(np.max(np.abs(excess), axis=0), 0.0, 99.5)
    assert result.map.shape == (1300, 1600)
    np.testing.assert_allclose(result.map, expected, atol=1e-4)
    assert sampling_step(rgb.shape[:2], 16) == 2
    one_sided = normalize(np.maximum(np.max(excess, axis=0), 0.0), 0.0, 99.5)
    reduced = cv2.resize(one_sided, (800, 650), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(result.stack[GHOST_LAYER], reduced, atol=1e-4)
    assert JpegGhostAnalyzer.earlier_maps == {"1.0": GHOST_LAYER}
    for q, layer in zip(qualities, closeness, strict=True):
        reduced = cv2.resize(layer, (800, 650), interpolation=cv2.INTER_AREA)
        np.testing.assert_allclose(result.stack[f"q={q}"], reduced, atol=1e-4)


def test_png_works_on_decoded_pixels(png_image: Path) -> None:
    # Never compressed: every re-save loses something, the higher the quality the less.
    assert ghost(png_image, q_max=100).stats["min_difference_quality"] == 100.0


@pytest.mark.parametrize(
    ("values", "words"),
    [({"q_min": 90, "q_max": 80}, "must not exceed"), ({"q_min": 90, "q_max": 95, "step": 10}, "two qualities")],
)
def test_bad_quality_ranges_are_clear_errors(jpeg_photo: Path, values: dict, words: str) -> None:
    analyzer = JpegGhostAnalyzer()
    result = run_analyzer(analyzer, open_media(jpeg_photo), analyzer.params_from(values), RunContext())
    assert result.status is Status.ERROR and words in result.message


@pytest.mark.parametrize("size", [(1, 1), (10, 40)])
def test_image_smaller_than_the_window_is_a_clear_error(evidence_dir: Path, size: tuple[int, int]) -> None:
    path = evidence_dir / "tiny.png"
    Image.fromarray(np.zeros((*size, 3), np.uint8)).save(path)
    result = run_analyzer(JpegGhostAnalyzer(), open_media(path), GhostParams(), RunContext())
    assert result.status is Status.ERROR and "too small" in result.message


def test_cancel_is_honoured(jpeg_photo: Path) -> None:
    event = threading.Event()
    event.set()
    result = run_analyzer(JpegGhostAnalyzer(), open_media(jpeg_photo), GhostParams(), RunContext(cancel_event=event))
    assert result.status is Status.CANCELLED


def test_differences_recomputed_beyond_the_memory_budget_give_the_same_maps(
    ghost_scene: tuple[Path, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = ghost(ghost_scene[0])
    monkeypatch.setattr("plugins.localization.ghost.KEPT_BYTES", 0)
    monkeypatch.setattr("plugins.localization.ghost.CHUNK_BYTES", 1)  # re-saved a band of rows at a time
    recomputed = ghost(ghost_scene[0])
    np.testing.assert_array_equal(recomputed.map, kept.map)
    assert recomputed.score == kept.score and recomputed.stats == kept.stats
    for name, layer in kept.stack.items():
        np.testing.assert_array_equal(recomputed.stack[name], layer)
