"""Deepfake detector networks: the published checkpoint layouts, strict loading through the model
store, refusal of a wrong file, and P(fake) from raw outputs.

Random initialisation here only proves the file layouts load; such a network is never a detector.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from workbench.core.models import BUNDLED_DIR, ModelStore, loaded_model
from workbench.core.plugin import ModelUnavailable

torch = pytest.importorskip("torch")

from plugins.deepfake.nets import build, efficientnet_body, fake_probability  # noqa: E402

PUBLISHED_KEYS: dict[str, dict[str, tuple[int, ...]]] = {
    # FaceForensics++ face_detection/xception/all_c23.p re-saved: TransferModel.state_dict(), the
    # Cadene Xception under "model.", head Sequential(Dropout, Linear) -> last_linear.1
    "deepfake_xception_ffpp": {
        "model.conv1.weight": (32, 3, 3, 3),
        "model.block1.rep.0.conv1.weight": (64, 1, 3, 3),  # block1 starts without ReLU: rep.0 is a conv
        "model.block1.rep.0.pointwise.weight": (128, 64, 1, 1),
        "model.block1.skip.weight": (128, 64, 1, 1),
        "model.block12.rep.4.pointwise.weight": (1024, 728, 1, 1),
        "model.conv4.pointwise.weight": (2048, 1536, 1, 1),
        "model.last_linear.1.weight": (2, 2048),
    },
    # DeepfakeBench xception_best.pth: XceptionDetector.state_dict(), backbone always has adjust_channel
    "deepfake_xception_dfb": {
        "backbone.conv1.weight": (32, 3, 3, 3),
        "backbone.block2.rep.1.conv1.weight": (128, 1, 3, 3),
        "backbone.block4.rep.8.running_var": (728,),
        "backbone.adjust_channel.0.weight": (512, 2048, 1, 1),
        "backbone.adjust_channel.1.running_mean": (512,),
        "backbone.last_linear.weight": (2, 2048),
    },
    # DeepfakeBench effnb4_best.pth: plain Conv2d stem, _fc = Identity (no keys), last_layer
    "deepfake_effnb4_dfb": {
        "backbone.efficientnet._conv_stem.weight": (48, 3, 3, 3),
        "backbone.efficientnet._blocks.0._depthwise_conv.weight": (48, 1, 3, 3),
        "backbone.efficientnet._blocks.31._project_conv.weight": (448, 2688, 1, 1),
        "backbone.efficientnet._conv_head.weight": (1792, 448, 1, 1),
        "backbone.last_layer.weight": (2, 1792),
    },
    # Bonettini et al. EfficientNetB4_*_bestval-*.pth: fornet.EfficientNetB4.state_dict(), _fc deleted
    "deepfake_effnb4_icpr_dfdc": {
        "efficientnet._conv_stem.weight": (48, 3, 3, 3),
        "efficientnet._blocks.0._se_reduce.weight": (12, 48, 1, 1),
        "efficientnet._bn1.running_mean": (1792,),
        "classifier.weight": (1, 1792),
        "classifier.bias": (1,),
    },
}
ABSENT_KEYS = ("model.last_linear.weight", "backbone.efficientnet._fc.weight", "efficientnet._fc.weight")
TINY = {"arch": "efficientnet_icpr2020", "variant": "efficientnet-b0"}
"""The cheapest layout (4 M parameters), for store round trips."""


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():  # noqa: ANN202 - a generator fixture
    """The test machine's cores are shared: OpenMP threads spinning against other processes make
    these small forward passes 20× slower than one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@cache
def published_manifests() -> dict[str, dict]:
    docs = (json.loads(p.read_text(encoding="utf-8")) for p in BUNDLED_DIR.glob("deepfake_*.json"))
    return {doc["id"]: doc for doc in docs}


@cache
def built_keys(network_json: str) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in build(json.loads(network_json)).state_dict().items()}


@pytest.mark.parametrize("model_id", list(PUBLISHED_KEYS))
def test_published_key_names_and_shapes(model_id: str) -> None:
    doc = published_manifests()[model_id]
    prefix = doc.get("strip_prefix") or ""
    keys = {prefix + k: shape for k, shape in built_keys(json.dumps(doc["network"], sort_keys=True)).items()}
    for key, shape in PUBLISHED_KEYS[model_id].items():
        assert keys.get(key) == shape, (model_id, key)
    assert not set(ABSENT_KEYS) & set(keys)


def test_every_deepfake_manifest_is_complete() -> None:
    docs = published_manifests()
    assert set(PUBLISHED_KEYS) <= set(docs) and "deepfake_effnb4_icpr_ffpp" in docs
    for doc in docs.values():
        assert doc["family"] == "deepfake" and doc["test_model"] is False and doc["licence"] and doc["source"]
        assert doc["output"] in ("logit", "softmax:1") and doc["input"]["margin"] >= 1.0
        assert (BUNDLED_DIR.parent / doc["card"]).is_file()


def test_static_padding_of_efficientnet_pytorch_before_and_after_0_7() -> None:
    # stage 3's first depthwise conv (5×5, stride 2) runs on a 95-pixel map of a 380 input:
    # 0.7 pads it for 95 (2, 2), older releases for 380 (1, 2)
    assert efficientnet_body("efficientnet-b4", "0.6")._blocks[6]._depthwise_conv.pads == (1, 2, 1, 2)
    assert efficientnet_body("efficientnet-b4", "0.7")._blocks[6]._depthwise_conv.pads == (2, 2, 2, 2)


@pytest.mark.parametrize("saved_dropout, built_dropout", [(0.0, 0.5), (0.5, 0.0)])
def test_both_faceforensics_head_layouts_load_strictly(saved_dropout: float, built_dropout: float) -> None:
    # FaceForensics++'s model_selection builds a plain Linear head (last_linear.*); TransferModel with
    # dropout a Sequential(Dropout, Linear) (last_linear.1.*): either file loads into either network
    saved = build({"arch": "xception", "dropout": saved_dropout}).eval()
    state = {"model." + k: v for k, v in saved.state_dict().items()}
    head = "model.last_linear.1.weight" if saved_dropout else "model.last_linear.weight"
    assert head in state
    wrapper = torch.nn.Module()
    wrapper.model = build({"arch": "xception", "dropout": built_dropout})
    wrapper.load_state_dict(state, strict=True)
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(wrapper.model.eval()(x), saved(x), atol=1e-6)
    assert head in state  # the caller's dict is left as it was given


def write_manifest(folder: Path, model_id: str, network: dict, **fields: object) -> None:
    doc = {"id": model_id, "title": model_id, "weights": f"{model_id}.pth", "family": "deepfake",
           "network": network, "output": "logit", **fields}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{model_id}.json").write_text(json.dumps(doc), encoding="utf-8")


@pytest.mark.parametrize(
    "network, wrap, size",
    [
        ({"arch": "xception", "num_classes": 2, "dropout": 0.5}, "model.", 64),
        (TINY, "module.", 64),
        ({"arch": "efficientnet_deepfakebench", "variant": "efficientnet-b0"}, "backbone.", 48),
    ],
)
def test_own_state_dict_reloads_strictly_through_the_store(tmp_path: Path, network: dict, wrap: str, size: int) -> None:
    net = build(network).eval()
    path = tmp_path / "download.pth"
    torch.save({"state_dict": {wrap + k: v for k, v in net.state_dict().items()}, "epoch": 3}, path)
    write_manifest(tmp_path / "bundled", "member", network, wrapper_key="state_dict", strip_prefix=wrap)
    store = ModelStore(user_dir=tmp_path / "user", bundled_dir=tmp_path / "bundled")
    store.install("member", path)
    loaded = loaded_model(store, "member", lambda: build(network))
    x = torch.rand(2, 3, size, size)
    with torch.inference_mode():
        assert torch.equal(loaded(x), net(x))
        spec = "softmax:1" if network["arch"] != "efficientnet_icpr2020" else "logit"
        p = fake_probability(loaded(x), spec)
    assert p.shape == (2,) and bool(((p >= 0) & (p <= 1)).all())


def test_wrong_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    bundled = tmp_path / "bundled"
    write_manifest(bundled, "xception", {"arch": "xception"})
    store = ModelStore(user_dir=tmp_path / "user", bundled_dir=bundled)
    other = tmp_path / "effnet.pth"
    torch.save(build(TINY).state_dict(), other)
    store.install("xception", other)
    with pytest.raises(ModelUnavailable, match="do not fit the network"):
        loaded_model(store, "xception", lambda: build({"arch": "xception"}))
    text = tmp_path / "notes.pth"
    text.write_text("not weights", encoding="utf-8")
    store.install("xception", text)
    with pytest.raises(ModelUnavailable, match="cannot be loaded safely"):
        loaded_model(store, "xception", lambda: build({"arch": "xception"}))


def test_fake_probability_follows_the_output_spec() -> None:
    logits = torch.tensor([[0.0], [100.0]])
    assert fake_probability(logits, "logit").tolist() == pytest.approx([0.5, 1.0])
    two = torch.tensor([[0.0, 0.0], [0.0, -100.0]])
    assert fake_probability(two, "softmax:1").tolist() == pytest.approx([0.5, 0.0])
    assert fake_probability(two, "softmax:0").tolist() == pytest.approx([0.5, 1.0])
    for spec, message in [("sigmoid", "unknown output spec"), ("softmax:2", "only 2 classes")]:
        with pytest.raises(ValueError, match=message):
            fake_probability(two, spec)
    with pytest.raises(ValueError, match="expects one output"):
        fake_probability(two, "logit")


def test_build_refuses_unknown_architectures_and_arguments() -> None:
    with pytest.raises(ValueError, match="unknown deepfake network architecture 'resnet'"):
        build({"arch": "resnet"})
    with pytest.raises(ValueError, match="network 'xception'.*width"):
        build({"arch": "xception", "width": 3})
    with pytest.raises(ValueError, match="package_version"):
        build({**TINY, "package_version": "1.0"})
