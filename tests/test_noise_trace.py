"""The noise-trace analyzer: tiles agree with the whole image, the committed weights verify and find a
splice from photos they never saw, and a missing or altered weights file gives 'unavailable'."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from analyzer_runs import bundle_model, run_file

from plugins.localization import noise_trace
from workbench.core import metrics
from workbench.core.results import Heatmap, Result, Status
from workbench.synthetic import CONDITIONS, source_photos

torch = pytest.importorskip("torch")

MODELS = Path(__file__).resolve().parents[1] / "models"
WEIGHTS = MODELS / f"{noise_trace.MODEL_ID}.pt"


def run_trace(path: Path) -> Result:
    return run_file(noise_trace.NoiseTraceAnalyzer(), path)


@pytest.mark.parametrize("window", [8, 12])
def test_tiles_agree_with_the_whole_image(window: int) -> None:
    from plugins.localization.trace_net import TraceConfig, TraceNet, tiled_embeddings

    torch.manual_seed(0)
    net = TraceNet(TraceConfig(window=window)).eval()
    rgb = np.random.default_rng(0).integers(0, 256, (203, 341, 3), np.uint8)
    whole = tiled_embeddings(net, rgb, "cpu", tile=1024).astype(np.float32)
    tiled = tiled_embeddings(net, rgb, "cpu", tile=64).astype(np.float32)
    assert whole.shape == (16, 51, 86)
    np.testing.assert_allclose(tiled, whole, atol=2e-3)


def test_unavailable_without_the_weights_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, jpeg_photo: Path
) -> None:
    bundle_model(monkeypatch, noise_trace, tmp_path, WEIGHTS.with_suffix(".json"), None)
    result = run_trace(jpeg_photo)
    assert result.status is Status.UNAVAILABLE and result.score is None
    assert noise_trace.MODEL_ID in result.message and "not installed" in result.message


def test_unavailable_when_the_weights_are_altered(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, jpeg_photo: Path
) -> None:
    data = bytearray(WEIGHTS.read_bytes())
    data[-100] ^= 0xFF
    bundle_model(monkeypatch, noise_trace, tmp_path, WEIGHTS.with_suffix(".json"), bytes(data))
    result = run_trace(jpeg_photo)
    assert result.status is Status.UNAVAILABLE and "SHA-256" in result.message


def test_splice_saved_once_stands_out_with_the_committed_weights(evidence_dir: Path) -> None:
    # splices saved once (no double-JPEG trace for ADQ to read) into views of the validation photos,
    # which the network never trained on; pinned to scikit-image's photos. Single images vary widely
    # (0.39–0.98 here: fur and coins have busy residuals), so the mean of 16 is held above chance
    photos = [p for p in source_photos() if p.name in ("chelsea.png", "rocket.jpg", "coins.png")]
    condition = CONDITIONS["splice_jpeg"]
    condition = dataclasses.replace(condition, recipe=dataclasses.replace(condition.recipe, size_range=(448, 512)))
    aucs = []
    for index in range(16):
        sample = condition.sample(7, index, False, photos)
        data, suffix = sample.encoded()
        path = evidence_dir / f"splice{index}{suffix}"
        path.write_bytes(data)
        result = run_trace(path)
        assert result.status is Status.OK, result.message
        assert isinstance(result, Heatmap) and result.map.shape == sample.mask.shape
        aucs.append(metrics.pixel_metrics(result.map, sample.mask)["auc"])
        path.unlink()
    assert np.mean(aucs) > 0.6, aucs  # 0.65 with the committed weights


def test_small_image_is_a_clear_error(evidence_dir: Path) -> None:
    from PIL import Image

    path = evidence_dir / "tiny.png"
    Image.fromarray(np.zeros((40, 300, 3), np.uint8)).save(path)
    result = run_trace(path)
    assert result.status is Status.ERROR and "too small" in result.message
