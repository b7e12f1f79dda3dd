"""Training pipeline: end to end on a tiny generated set into the model store (strict reload, test-model
flag, metrics), quality-based sampling, self-blended images, the user-manifest store, and the CLI's
answers to bad requests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench.core.hashing import sha256_file
from workbench.core.models import TEST_MODEL_LABEL, ModelStore, loaded_model
from workbench.synthetic.photos import load, random_view, source_photos
from workbench.training.__main__ import main
from workbench.training.backbones import backbone
from workbench.training.data import REAL, FaceSource, collect, largest_face
from workbench.training.quality import descriptors, most_realistic, realism_scores
from workbench.training.sbi import self_blend
from workbench.training.toyset import transposed_upsampling, write_generated_set
from workbench.training.train import TrainConfig, train

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def toy_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_generated_set(tmp_path_factory.mktemp("toy"), count=40)


def test_end_to_end_saves_a_test_model_the_store_loads(toy_set: tuple[Path, Path]) -> None:
    real, fake = toy_set
    steps: list[str] = []
    report = train(TrainConfig("toy_detector", "tiny_cnn", [real], [fake], epochs=2),
                   progress=lambda fraction, message: steps.append(message))
    assert steps[-1] == "done" and any(s.startswith("epoch 2/2") for s in steps)
    assert report.metrics["real"] == 8 and report.metrics["fake"] == 8
    assert 0.0 <= report.metrics["accuracy"] <= 1.0 and 0.0 <= report.metrics["auc"] <= 1.0
    assert [h["epoch"] for h in report.history] == [1, 2]

    store = ModelStore()  # a fresh store finds the user manifest like a bundled one
    manifest = store.manifest("toy_detector")
    assert store.is_user_model("toy_detector") and manifest.is_test_model
    assert manifest.extra["test_model_reason"] == "fewer than 1000 images of a class"
    assert manifest.extra["family"] == "synthetic" and manifest.extra["output"] == "logit"
    assert manifest.sha256 == sha256_file(report.weights) and report.weights.parent == store.user_dir
    assert manifest.extra["validation"] == report.metrics
    assert manifest.extra["training"]["images"] == {"real": 40, "fake": 40, "skipped": 0}

    from plugins.synthetic.nets import build

    net = loaded_model(store, "toy_detector", lambda: build(manifest.extra["network"]))  # strict=True
    assert sum(p.numel() for p in net.parameters()) > 1000

    store.remove("toy_detector")
    assert "toy_detector" not in ModelStore().manifests() and not report.weights.exists()


def test_quality_sampling_keeps_the_most_realistic_and_drops_noise_first(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    photos = [load(p) for p in source_photos()[:6]]
    reals = [random_view(photos[i % 6], rng, (96, 128)) for i in range(8)]
    fakes = [transposed_upsampling(random_view(photos[i], rng, (96, 128))) for i in range(5)]
    fakes.append(rng.integers(0, 256, (112, 112, 3), dtype=np.uint8))  # an obviously broken "generation"
    store = ModelStore()
    scores = realism_scores(descriptors(fakes, store), descriptors(reals, store))
    assert int(np.argmin(scores)) == 5
    kept = most_realistic(scores, 0.5)
    assert len(kept) == 3 and 5 not in kept.tolist()
    assert list(scores[kept]) == sorted(scores[kept], reverse=True)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        most_realistic(scores, 0.0)


def test_self_blend_changes_only_the_face_box(astronaut: np.ndarray) -> None:
    rgb = np.asarray(astronaut)
    box = largest_face(rgb)
    assert box is not None
    x0, y0, x1, y1 = (int(v) for v in (np.floor(box[0]), np.floor(box[1]), np.ceil(box[2]), np.ceil(box[3])))
    inside = np.zeros(rgb.shape[:2], bool)
    inside[y0:y1, x0:x1] = True
    for seed in range(4):
        blended, mask = self_blend(rgb, box, np.random.default_rng(seed))
        assert mask.shape == rgb.shape[:2] and mask.dtype == np.float32
        assert mask[~inside].max() == 0.0 and 0.25 <= mask.max() <= 1.0
        assert np.array_equal(blended[~inside], rgb[~inside])
        changed = np.any(blended != rgb, axis=2)
        assert changed.any() and not (changed & (mask == 0)).any()
    with pytest.raises(ValueError, match="too small"):
        self_blend(rgb, (10, 10, 14, 14), np.random.default_rng(0))


def test_faces_are_detected_and_faceless_images_skipped(tmp_path: Path, astronaut: np.ndarray) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(np.asarray(astronaut)).save(folder / "portrait.png")
    Image.fromarray(load(next(p for p in source_photos() if p.name == "brick.png"))).save(folder / "wall.png")
    skipped: list[str] = []
    samples = collect([folder], REAL, backbone("xception"), FaceSource.DETECT, skipped)
    assert [s.path.name for s in samples] == ["portrait.png"] and samples[0].box is not None
    assert skipped == [f"{folder / 'wall.png'}: no face found"]


def test_user_manifests_in_the_store(tmp_path: Path) -> None:
    store = ModelStore(user_dir=tmp_path / "user")
    doc = {"id": "mine", "title": "Mine", "weights": "mine.pt", "family": "synthetic", "test_model": True}
    with pytest.raises(FileNotFoundError, match="no weights file"):
        store.register(doc)
    (tmp_path / "user").mkdir()
    torch.save({"w": torch.zeros(2)}, tmp_path / "user" / "mine.pt")
    with pytest.raises(ValueError, match="sha256 must be that of"):
        store.register(doc)
    doc["sha256"] = sha256_file(tmp_path / "user" / "mine.pt")
    with pytest.raises(ValueError, match="taken by a bundled model"):
        store.register({**doc, "id": "fusion_default"})
    with pytest.raises(ValueError, match="letters, digits"):
        store.register({**doc, "id": "../escape"})
    assert store.register(doc).is_test_model and store.is_user_model("mine")
    (store.user_manifest_dir / "broken.json").write_text("{not json", encoding="utf-8")
    fresh = ModelStore(user_dir=tmp_path / "user")
    assert "mine" in fresh.manifests() and "manifests/broken.json" in fresh.manifest_errors()


def run_cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_trains_and_lists(capsys: pytest.CaptureFixture[str], tmp_path: Path, toy_set: tuple[Path, Path]) -> None:
    code, out, _ = run_cli(capsys, "backbones")
    assert code == 0 and "tiny_cnn\tsynthetic" in out and "xception\tdeepfake" in out
    assert "synthetic_cnndetection_blur_jpg_prob0.5\tsynthetic" in out
    real, fake = write_generated_set(tmp_path / "small", count=6)
    (fake / "broken.png").write_bytes(b"not an image")
    code, out, err = run_cli(capsys, "train", "--id", "cli_model", "--backbone", "tiny_cnn", "--real", real,
                             "--fake", fake, "--epochs", "1", "--batch", "4", "--size", "32")
    assert code == 0, err
    assert f"registered cli_model [{TEST_MODEL_LABEL}]" in out
    assert "skipped:" in err and "broken.png: cannot be read as an image" in err
    assert json.loads(out[out.index("{"):])["validation"]["fake"] == 1
    assert ModelStore().manifest("cli_model").extra["input"]["size"] == [32, 32]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--real", "{missing}", "--fake", "{fake}"], "no such folder"),
        (["--real", "{empty}", "--fake", "{fake}"], "too few usable images: 0 real"),
        (["--real", "{real}"], "give folders of fake images"),
        (["--real", "{real}", "--self-blend"], "use them with a deepfake backbone"),
        (["--real", "{real}", "--fake", "{fake}", "--quality-keep", "1.5"], "must be in (0, 1]"),
        (["--real", "{real}", "--fake", "{fake}", "--backbone", "resnet1000"], "unknown backbone 'resnet1000'"),
        (["--real", "{real}", "--fake", "{fake}", "--id", "fusion_default"], "taken by a bundled model"),
    ],
)
def test_cli_refuses_bad_requests(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, toy_set: tuple[Path, Path], args: list[str], message: str
) -> None:
    real, fake = toy_set
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image", encoding="utf-8")
    places = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "real": real, "fake": fake}
    filled = [a.format(**places) for a in args]
    options = {"--id": "bad_request", "--backbone": "tiny_cnn"}
    for flag in ("--id", "--backbone"):
        if flag in filled:
            options[flag] = filled.pop(filled.index(flag) + 1)
            filled.remove(flag)
    code, _, err = run_cli(capsys, "train", *[v for kv in options.items() for v in kv], *filled)
    last = err.strip().splitlines()[-1]
    assert code == 1 and last.startswith("python -m workbench.training: error:") and message in last
