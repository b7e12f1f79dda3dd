"""AI-generated image detectors: unavailable without members, the CNNDetection layout loads a checkpoint
as published, votes (test models labelled, failing members shown), readiness, bad input.

Networks here have random weights: these are loader tests, their probabilities mean nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from plugins.synthetic.detector import PUBLISHED_MEMBERS, SyntheticDetectorAnalyzer, network_input
from tests.analyzer_runs import run_file
from workbench.core import registry
from workbench.core.hashing import sha256_file
from workbench.core.models import TEST_MODEL_LABEL, ModelStore
from workbench.core.results import Status, Verdict

torch = pytest.importorskip("torch")

ANALYZER = SyntheticDetectorAnalyzer()
TORCHVISION_RESNET50_ENTRIES = 320
"""len(torchvision.models.resnet50().state_dict()): weights, BN statistics and num_batches_tracked."""


def register_tiny(store: ModelStore, model_id: str, test_model: bool = True, width: int = 8) -> None:
    """A randomly initialised tiny_cnn registered as a trained model (a loader fixture, not a detector)."""
    from plugins.synthetic.nets import build

    network = {"arch": "tiny_cnn", "width": 8, "depth": 2}
    store.user_dir.mkdir(parents=True, exist_ok=True)
    weights = store.user_dir / f"{model_id}.pt"
    torch.save(build({**network, "width": width}).state_dict(), weights)
    store.register({
        "id": model_id, "title": f"tiny {model_id}", "weights": weights.name, "sha256": sha256_file(weights),
        "family": "synthetic",
        "test_model": test_model, "network": network, "output": "logit",
        "input": {"size": [32, 32], "mean": [0.5] * 3, "std": [0.5] * 3, "fit": "center_crop"},
    })


def test_without_members_it_is_unavailable_and_names_the_files(png_image: Path) -> None:
    result = run_file(ANALYZER, png_image)
    assert result.status is Status.UNAVAILABLE and result.score is None
    assert "no AI-generated image detector is installed" in result.message
    assert "blur_jpg_prob0.5.pth" in result.message and "github.com/PeterWang512/CNNDetection" in result.message
    assert not registry.ready(ANALYZER) and set(ANALYZER.optional_models) == set(PUBLISHED_MEMBERS)


def test_cnndetection_checkpoint_layout_loads_and_votes(tmp_path: Path, coffee: np.ndarray) -> None:
    from plugins.synthetic.nets import build

    store = ModelStore()
    model_id = "synthetic_cnndetection_blur_jpg_prob0.5"
    net = build(store.manifest(model_id).extra["network"])
    state = net.state_dict()
    assert len(state) == TORCHVISION_RESNET50_ENTRIES and state["fc.weight"].shape == (1, 2048)
    assert "layer4.2.bn3.running_var" in state and "layer1.0.downsample.0.weight" in state
    checkpoint = tmp_path / "blur_jpg_prob0.5.pth"  # the authors' wrapper: model, optimizer, total_steps
    torch.save({"model": state, "optimizer": {"state": {}, "param_groups": []}, "total_steps": 7}, checkpoint)
    store.install(model_id, checkpoint, copy=False)
    assert registry.ready(ANALYZER)

    image = tmp_path / "evidence" / "photo.png"
    image.parent.mkdir()
    Image.fromarray(np.asarray(coffee)[:160, :200]).save(image)
    result = run_file(ANALYZER, image)
    assert result.status is Status.OK, result.message
    assert isinstance(result, Verdict) and not result.calibrated and not result.label.startswith(TEST_MODEL_LABEL)
    votes = {v["model"]: v for v in result.votes}
    assert votes[model_id]["status"] == "ok" and 0.0 <= votes[model_id]["probability"] <= 1.0
    assert votes["synthetic_cnndetection_blur_jpg_prob0.1"]["status"] == "missing"
    assert result.probability == votes[model_id]["probability"] == result.score
    assert result.models_used == [model_id]
    assert [m["id"] for m in result.provenance.models] == [model_id]


def test_test_models_are_labelled_and_failing_members_shown(png_image: Path) -> None:
    store = ModelStore()
    register_tiny(store, "tiny_test_member")
    register_tiny(store, "tiny_wrong_weights", test_model=False, width=16)  # file of another network
    result = run_file(ANALYZER, png_image)
    assert result.status is Status.OK, result.message
    assert result.label.startswith(f"{TEST_MODEL_LABEL}: ")
    assert "tiny_test_member" in result.explanation and TEST_MODEL_LABEL in result.explanation
    votes = {v["model"]: v for v in result.votes}
    assert votes["tiny_test_member"]["note"] == TEST_MODEL_LABEL and votes["tiny_test_member"]["test_model"]
    wrong = votes["tiny_wrong_weights"]
    assert wrong["status"] == "unavailable" and wrong["probability"] is None and "do not fit" in wrong["note"]
    assert result.models_used == ["tiny_test_member"]


def test_only_failing_members_is_unavailable(png_image: Path) -> None:
    store = ModelStore()
    register_tiny(store, "tiny_wrong_weights", width=16)
    register_tiny(store, "tiny_damaged")
    with open(store.user_dir / "tiny_damaged.pt", "ab") as fh:  # no longer the file whose hash was recorded
        fh.write(b"\0")
    result = run_file(ANALYZER, png_image)
    assert result.status is Status.UNAVAILABLE and "do not fit" in result.message
    assert "could be used: 2 present but refused" in result.message and "hash" in result.message
    assert "is installed" not in result.message  # the refused files were installed: never say none is
    assert ". Not installed: model 'synthetic_cnndetection_blur_jpg_prob0." in result.message


def test_inputs_follow_the_manifest_fit() -> None:
    rgb = np.arange(300 * 200 * 3, dtype=np.uint8).reshape(300, 200, 3)
    spec = {"size": [64, 48], "mean": [0, 0, 0], "std": [1, 1, 1]}
    assert network_input(rgb, {**spec, "fit": "resize"}, 1024).shape == (1, 3, 64, 48)
    assert network_input(rgb, {**spec, "fit": "center_crop"}, 1024).shape == (1, 3, 64, 48)
    full = network_input(rgb, {**spec, "fit": "full"}, 128)
    assert full.shape == (1, 3, 128, 128)
    assert np.allclose(full[0, :, 0, 0] * 255, rgb[86, 36])  # the central crop, pixels unchanged
    with pytest.raises(ValueError, match="unknown input fit"):
        network_input(rgb, {**spec, "fit": "stretch"}, 128)


def test_tiny_image_is_a_clear_message(evidence_dir: Path, coffee: np.ndarray) -> None:
    register_tiny(ModelStore(), "tiny_test_member")
    path = evidence_dir / "tiny.png"
    Image.fromarray(np.asarray(coffee)[:20, :20]).save(path)
    result = run_file(ANALYZER, path)
    assert result.status is Status.ERROR and "image too small for the detectors" in result.message
