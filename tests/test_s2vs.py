"""S2VS video similarity: our networks have the released files' exact layouts (keys, shapes, dtypes,
order), files in the authors' formats install and load strictly through the model store, the
chamfer and PCA maths match the authors' formulas, and without the files the answer is
'unavailable'. Random weights appear only in loading and shape tests, never as a result."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from plugins.similarity import s2vs
from workbench.core.models import BUNDLED_DIR, ModelStore
from workbench.core.plugin import ModelUnavailable

torch = pytest.importorskip("torch")
from plugins.similarity import s2vs_net  # noqa: E402 - needs torch
from plugins.similarity.resnet import ResNet50  # noqa: E402
from plugins.similarity.s2vs_net import (  # noqa: E402
    FeatureExtractor,
    PCAWhitening,
    S2VSSimilarity,
    chamfer,
    frame_similarity,
)

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "checkpoints"
MANIFESTS = ("s2vs_dns", "s2vs_vcdb", "s2vs_resnet50", "s2vs_pca")


def reference(name: str) -> dict:
    path = REFERENCE / name
    if not path.is_file():
        pytest.skip(f"published checkpoint layouts not found at {path}")
    return json.loads(path.read_text(encoding="utf-8"))


def layout(module: torch.nn.Module) -> list[list]:
    return [[k, list(t.shape), str(t.dtype).removeprefix("torch.")] for k, t in module.state_dict().items()]


def unit(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


# -- layouts ---------------------------------------------------------------------------------
def test_similarity_network_matches_the_released_layout() -> None:
    spec = reference("s2vs_similarity.json")
    net = S2VSSimilarity()
    assert layout(net) == spec["state_dict"]  # keys, shapes, dtypes and the saved order
    assert sum(p.numel() for p in net.parameters()) == spec["stats"]["n_parameters"]


def test_feature_extractor_matches_the_authors_module() -> None:
    spec = reference("s2vs_extractor.json")
    with torch.device("meta"):
        extractor = FeatureExtractor()
    assert layout(extractor) == spec["state_dict"]
    assert sum(p.numel() for p in extractor.parameters()) == spec["stats"]["n_parameters"]


def test_resnet_has_torchvision_naming_with_the_classifier() -> None:
    spec = reference("s2vs_extractor.json")
    with torch.device("meta"):
        net = ResNet50()
    backbone = [[k.removeprefix("1.0.cnn."), s, d] for k, s, d in spec["state_dict"] if k.startswith("1.0.cnn.")]
    assert layout(net) == [*backbone, ["fc.weight", [1000, 2048], "float32"], ["fc.bias", [1000], "float32"]]


# -- forward shapes --------------------------------------------------------------------------
def test_similarity_forward_follows_the_published_io() -> None:
    io = reference("s2vs_similarity.json")["io"]
    query, target = unit(*io["index_video"]["input"]), unit(20, 9, 512, seed=1)
    net = S2VSSimilarity().eval()
    with torch.inference_mode():
        indexed_q, indexed_t = net.index_video(query), net.index_video(target)
        assert list(indexed_q.shape) == io["index_video"]["output"]
        f2f = frame_similarity(indexed_q, indexed_t)
        matrix = net.similarity_matrix(indexed_q, indexed_t)
        score = net(query, target)
    assert list(f2f.shape) == io["frame_to_frame_similarity(apply_visil=False)"]["output"][2:]
    assert list(matrix.shape) == io["similarity_matrix(pooling=True)"]["output"][2:]
    assert score.shape == () and -1.0 <= float(score) <= 1.0
    assert float(matrix.min()) >= -1.0 and float(matrix.max()) <= 1.0  # Hardtanh
    with pytest.raises(ValueError, match="T ≥ 4"):
        net.similarity_matrix(indexed_q[:3], indexed_t)


def test_extractor_region_grid_follows_the_published_io() -> None:
    """The regional pooling on stage maps of ResNet-50's sizes (few channels: only shapes matter here;
    the full network runs in the loading test below): a 3×3 grid at 224², 3×5 at 256×340."""
    io = reference("s2vs_extractor.json")["io"]
    trace = reference("s2vs_extractor.json")["l3_imac_recipe"]["shape_trace_224"]
    stages = {name: torch.rand(2, 4, *trace[f"cnn.{name}"][2:]) for name in s2vs_net.REGION_KERNELS}
    assert list(s2vs_net.pool_regions(stages).shape) == [*io["output"][:2], 16]
    wide = {name: torch.rand(1, 4, -(-256 // f), -(-340 // f)) for name, f in zip(stages, (4, 8, 16, 32), strict=True)}
    assert list(s2vs_net.pool_regions(wide).shape) == [*io["non_square"]["output"][:2], 16]
    with pytest.raises(ValueError, match="at least 112"):
        s2vs_net.RegionalMAC()(torch.zeros(1, 3, 64, 64))


# -- maths -----------------------------------------------------------------------------------
def test_frame_similarity_equals_the_authors_tensor_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    query, target = unit(7, 9, 16), unit(5, 4, 16, seed=1)
    # the authors: einsum('aiok,bjpk->aiopjb'), max over target regions (axis 3), mean over query regions (axis 2)
    theirs = torch.einsum("aiok,bjpk->aiopjb", query[None], target[None]).amax(3).mean(2)[0, :, :, 0]
    monkeypatch.setattr(s2vs_net, "CHAMFER_ELEMENTS", 2 * 5 * 9 * 4)  # blocks of 2 query frames
    assert torch.allclose(frame_similarity(query, target), theirs, atol=1e-6)


def test_chamfer_on_hand_made_features() -> None:
    """Properties of the maths on hand-made region vectors (one basis vector per region), not of weights."""
    basis = torch.eye(128)
    video = basis[:54].reshape(6, 9, 128)  # 6 frames, 9 regions each, all regions distinct
    other = basis[54:108].reshape(6, 9, 128)
    shuffled = video[torch.tensor([3, 0, 5, 1, 4, 2])]
    self_f2f = frame_similarity(video, video)
    assert torch.equal(self_f2f, torch.eye(6))  # each frame matches itself and only itself
    video_level = {name: float(chamfer(frame_similarity(video, v), max_dim=1, mean_dim=0))
                   for name, v in (("self", video), ("other", other), ("shuffled", shuffled))}
    assert video_level["self"] == 1.0 and video_level["other"] == 0.0
    # frame-level chamfer ignores frame order: a shuffled copy scores like the original, which is
    # why the network reads the whole matrix with its comparator CNN
    assert video_level["shuffled"] == video_level["self"]
    # chamfer is asymmetric: a clip found inside a longer video scores 1 one way, less the other way
    part = video[:3]
    assert float(chamfer(frame_similarity(part, video), 1, 0)) == 1.0
    assert float(chamfer(frame_similarity(video, part), 1, 0)) == 0.5


def test_pca_projection_is_the_authors_and_whitens() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(4000, 16)) @ rng.normal(size=(16, 16))  # correlated features
    mean = data.mean(axis=0)
    d, eigvecs = np.linalg.eigh((data - mean).T @ (data - mean))  # the authors' train_pca
    layer = PCAWhitening(in_dims=16, dims=6)
    layer.load_eigen({"mean": torch.from_numpy(mean), "d": torch.from_numpy(d), "V": torch.from_numpy(eigvecs)})
    top = np.argsort(d)[::-1][:6]
    theirs = np.dot(np.diag(1.0 / np.sqrt(d[top] + 1e-7)), eigvecs[:, top].T).T.astype(np.float32)
    assert np.array_equal(layer.DVt.numpy(), theirs)
    projected = (data - mean) @ theirs.astype(np.float64)
    assert np.allclose(projected.T @ projected, np.eye(6), atol=1e-4)  # whitened: unit scatter
    out = layer(torch.from_numpy(data[:5].astype(np.float32)))
    assert out.shape == (5, 6) and torch.allclose(out.norm(dim=-1), torch.ones(5))


def test_pca_file_of_another_kind_is_refused() -> None:
    layer = PCAWhitening(in_dims=16, dims=4)
    with pytest.raises(ValueError, match="exactly"):
        layer.load_eigen({"mean": torch.zeros(16), "proj": torch.zeros(16, 4)})
    with pytest.raises(ValueError, match="shape"):
        layer.load_eigen({"mean": torch.zeros(16), "d": torch.ones(16), "V": torch.zeros(16, 8)})


# -- preprocessing ---------------------------------------------------------------------------
def test_resize_follows_the_authors_ffmpeg_sizes() -> None:
    for h, w in ((1080, 1920), (360, 640), (480, 360), (256, 256), (64, 64)):
        ratio = 256 / np.min([w, h])  # the authors' numpy arithmetic
        assert s2vs.resized_shape(h, w) == (int(np.ceil(h * ratio / 2) * 2), int(np.ceil(w * ratio / 2) * 2))
    assert s2vs.resized_shape(1080, 1920) == (256, 456)


def test_preprocess_crops_the_centre() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (256, 300, 3), dtype=np.uint8)
    out = s2vs.preprocess(np.stack([frame, frame]))
    assert out.shape == (2, 224, 224, 3) and out.dtype == np.uint8
    assert np.array_equal(out[0], frame[16:240, 38:262])  # no resize needed: crop only
    assert s2vs.preprocess(np.zeros((64, 64, 3), np.uint8)).shape == (1, 224, 224, 3)
    with pytest.raises(ValueError, match="uint8"):
        s2vs.preprocess(np.zeros((1, 64, 64, 3), np.float32))


# -- loading through the model store ---------------------------------------------------------
def authors_checkpoint(net: torch.nn.Module, path: Path) -> Path:
    """A file in the layout of the authors' utils.save_model: training args (an argparse.Namespace),
    the state dict under 'model', the AdamW state after one step, the global step."""
    args = argparse.Namespace(similarity_network="ViSiL", backbone="resnet", dims=512, attention=True,
                              binarization=False, binary_bits=512, learning_rate=5e-5, lambda_viv=(0.3, 0.7),
                              augmentations="GT,FT,TT,ViV", use_fp16=True)
    optimizer = torch.optim.AdamW(net.parameters(), lr=5e-5, weight_decay=0.01)
    net(unit(4, 9, 512), unit(4, 9, 512, seed=1)).backward()
    optimizer.step()
    torch.save({"args": args, "model": net.state_dict(), "optimizer": optimizer.state_dict(), "global_step": 30000},
               path)
    return path


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Randomly initialised networks saved in the published layouts (loading tests only)."""
    folder = tmp_path_factory.mktemp("download")
    torch.manual_seed(0)
    files = {f"s2vs_{v}": authors_checkpoint(S2VSSimilarity(), folder / f"s2vs_{v}.pth") for v in s2vs.VARIANTS}
    files["s2vs_resnet50"] = folder / "resnet50.pth"
    torch.save(ResNet50().state_dict(), files["s2vs_resnet50"])  # torchvision's file: classifier included
    files["s2vs_pca"] = folder / "pca_resnet50_vcdb_1M.pth"
    pca = {"mean": torch.randn(3840), "d": torch.rand(3840) + 0.1, "V": torch.randn(3840, 3840)}  # mean, eigen
    torch.save(pca, files["s2vs_pca"])
    return files


def test_released_similarity_files_install_and_load_strictly(released: dict, tmp_path: Path) -> None:
    store = ModelStore(user_dir=tmp_path / "models")
    for variant in s2vs.VARIANTS:
        model_id = f"s2vs_{variant}"
        store.install(model_id, released[model_id], copy=False)
        net = s2vs.load_similarity(variant, store=store)
        theirs = torch.load(released[model_id], weights_only=False)["model"]
        assert list(net.state_dict()) == list(theirs)
        for name, tensor in net.state_dict().items():
            assert torch.equal(tensor, theirs[name]), name
        assert not net.training


def store_accepting(tmp_path: Path, resnet: Path) -> ModelStore:
    """The repository's S2VS manifests, with the random test backbone's hash prefix accepted."""
    bundled = tmp_path / "manifests"
    bundled.mkdir()
    for name in MANIFESTS:
        shutil.copy(BUNDLED_DIR / f"{name}.json", bundled)
    doc = json.loads((bundled / "s2vs_resnet50.json").read_text(encoding="utf-8"))
    store = ModelStore(user_dir=tmp_path / "models", bundled_dir=bundled)
    store.install("s2vs_resnet50", resnet, copy=False)
    doc["sha256_prefixes"] = [*doc["sha256_prefixes"], store.provenance("s2vs_resnet50")["sha256"][:8]]
    (bundled / "s2vs_resnet50.json").write_text(json.dumps(doc), encoding="utf-8")
    return ModelStore(user_dir=tmp_path / "models", bundled_dir=bundled)


def test_frame_features_and_similarity_with_installed_files(released: dict, tmp_path: Path) -> None:
    store = store_accepting(tmp_path, released["s2vs_resnet50"])
    for model_id in ("s2vs_pca", "s2vs_dns"):
        store.install(model_id, released[model_id], copy=False)
    frames = np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    feats = s2vs.frame_features(frames, "cpu", store=store)
    assert feats.shape == (2, 9, 512) and feats.dtype == np.float32
    assert np.allclose(np.linalg.norm(feats, axis=-1), 1.0, atol=1e-5)
    # short videos are repeated to 4 frames for the network; the matrix keeps the real frames
    score, matrix = s2vs.video_similarity(feats, torch.from_numpy(feats[:1]), "cpu", store=store)
    assert -1.0 <= score <= 1.0 and matrix.shape == (2, 1) and matrix.dtype == np.float32
    assert np.allclose(np.diag(matrix), 1.0, atol=1e-5)  # a frame's regions all find themselves
    with pytest.raises(ValueError, match="T×R×512"):
        s2vs.video_similarity(feats[..., :256], feats[..., :256], "cpu", store=store)


def test_another_resnet_release_is_refused(released: dict, tmp_path: Path) -> None:
    store = ModelStore(user_dir=tmp_path / "models")
    for model_id in ("s2vs_resnet50", "s2vs_pca"):
        store.install(model_id, released[model_id], copy=False)
    with pytest.raises(ModelUnavailable, match="not torchvision's ImageNet V1"):
        s2vs.load_extractor(store=store)


def test_unavailable_without_the_files(tmp_path: Path) -> None:
    store = ModelStore(user_dir=tmp_path / "models")
    frames = np.zeros((4, 64, 64, 3), np.uint8)
    with pytest.raises(ModelUnavailable) as missing:
        s2vs.frame_features(frames, "cpu", store=store)
    message = str(missing.value)
    assert "'s2vs_resnet50' not installed" in message and "'s2vs_pca' not installed" in message
    assert "resnet50-0676ba61.pth" in message and "pca_resnet50_vcdb_1M.pth" in message
    feats = unit(4, 9, 512).numpy()
    for variant in s2vs.VARIANTS:
        with pytest.raises(ModelUnavailable, match=f"'s2vs_{variant}' not installed.*s2vs/weights/s2vs_{variant}.pth"):
            s2vs.video_similarity(feats, feats, "cpu", variant=variant, store=store)
    assert s2vs.unavailable_reason(s2vs.EXTRACTOR_IDS, store) is not None
    with pytest.raises(ValueError, match="unknown S2VS variant"):
        s2vs.similarity_id("fivr")
