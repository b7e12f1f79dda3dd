"""AMES re-ranker: our networks have the published files' exact layouts (AMES variants and detector
from the authors' code, DINOv2 ViT-B/14-reg from Meta's hub builder), checkpoints in the authors'
format install and load strictly, padding is masked, extraction follows the authors' geometry,
and the re-ranker is 'unavailable' without its three files. Random weights: loading and shape
tests only, never a re-ranker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from analyzer_runs import reference_json

from plugins.similarity.ames import MODEL_IDS, SCORE_MEANING, AmesReranker
from plugins.similarity.features import LocalFeatures
from workbench.core.models import BUNDLED_DIR, ModelStore, loaded_model
from workbench.core.plugin import ModelUnavailable

torch = pytest.importorskip("torch")
from plugins.similarity.ames_net import EVAL_BLEND, VARIANTS, Ames, AmesConfig, attention_masks, build  # noqa: E402
from plugins.similarity.dinov2 import (  # noqa: E402
    DinoV2,
    SpatialAttention2d,
    VitConfig,
    build_backbone,
    extract_local,
    network_input,
    network_size,
)


@pytest.fixture(scope="module")
def published() -> dict:
    return reference_json("checkpoints/ames.json")


@pytest.fixture(scope="module")
def ames() -> Ames:
    torch.manual_seed(0)
    return build("dinov2_fp").eval()


def layout(module: torch.nn.Module) -> list[list]:
    return [[k, list(t.shape), str(t.dtype).removeprefix("torch.")] for k, t in module.state_dict().items()]


# -- layouts ----------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_ames_state_dict_matches_the_published_layout(published: dict, variant: str) -> None:
    spec = published["variants"][variant]
    net = build(variant)
    assert layout(net) == spec["state_dict"]  # keys, shapes, dtypes and order
    assert sum(p.numel() for p in net.parameters()) == spec["stats"]["n_parameters"]


def test_eval_blend_is_the_readme_table(published: dict) -> None:
    table = published["config"]["eval_hyperparams_README"]
    assert {v: (d["lamb"], d["temp"]) for v, d in table.items()} == EVAL_BLEND


@pytest.mark.parametrize(("variant", "channels"), [("dinov2", 768), ("cvnet", 1024)])
def test_detector_state_dict_matches_the_published_layout(published: dict, variant: str, channels: int) -> None:
    spec = published["detector"]["variants"][variant]
    net = SpatialAttention2d(channels)
    assert layout(net) == spec["state_dict"]  # int64 num_batches_tracked included
    assert sum(p.numel() for p in net.parameters()) == spec["stats"]["n_parameters"]
    batch, _, h, w = spec["io"]["input"]
    with torch.inference_mode():
        desc, weight = net.eval()(torch.randn(batch, channels, h, w))
    assert [list(desc.shape), list(weight.shape)] == spec["io"]["outputs"]
    assert torch.allclose(desc.norm(dim=1), torch.ones(batch, h, w), atol=1e-5)
    assert float(weight.min()) >= 0.0  # softplus


def dinov2_hub_layout(dim: int = 768, depth: int = 12, grid: int = 37, registers: int = 4) -> list[tuple]:
    """What `dinov2_vitb14_reg` (DinoVisionTransformer: img_size 518, patch 14, init_values 1.0 →
    LayerScale, block_chunks 0, qkv/proj/ffn biases, 4 registers) saves, written from its source."""
    keys = [("cls_token", [1, 1, dim]), ("pos_embed", [1, grid * grid + 1, dim]),
            ("register_tokens", [1, registers, dim]), ("mask_token", [1, dim]),
            ("patch_embed.proj.weight", [dim, 3, 14, 14]), ("patch_embed.proj.bias", [dim])]
    for i in range(depth):
        b = f"blocks.{i}."
        keys += [(b + "norm1.weight", [dim]), (b + "norm1.bias", [dim]),
                 (b + "attn.qkv.weight", [3 * dim, dim]), (b + "attn.qkv.bias", [3 * dim]),
                 (b + "attn.proj.weight", [dim, dim]), (b + "attn.proj.bias", [dim]), (b + "ls1.gamma", [dim]),
                 (b + "norm2.weight", [dim]), (b + "norm2.bias", [dim]),
                 (b + "mlp.fc1.weight", [4 * dim, dim]), (b + "mlp.fc1.bias", [4 * dim]),
                 (b + "mlp.fc2.weight", [dim, 4 * dim]), (b + "mlp.fc2.bias", [dim]), (b + "ls2.gamma", [dim])]
    return keys + [("norm.weight", [dim]), ("norm.bias", [dim])]


def test_backbone_state_dict_is_the_hub_vitb14_reg() -> None:
    with torch.device("meta"):  # shapes only: no memory for 86 M parameters
        net = DinoV2()
    ours = [(k, list(t.shape)) for k, t in net.state_dict().items()]
    assert sorted(ours) == sorted(dinov2_hub_layout())
    assert all(t.dtype == torch.float32 for t in net.state_dict().values())
    assert sum(t.numel() for t in net.state_dict().values()) == 86_583_552


# -- strict loading through the model store ---------------------------------------------------
def test_authors_checkpoints_install_and_load_strictly(ames: Ames, tmp_path: Path) -> None:
    detector = SpatialAttention2d(768)
    detector.bn.running_mean.normal_()
    store = ModelStore(user_dir=tmp_path / "models")
    for model_id, net in (("ames_dinov2", ames), ("ames_detector_dinov2", detector)):
        path = tmp_path / f"{model_id}.pt"
        torch.save({"state": net.state_dict(), "epoch": 7}, path)  # the authors' wrapper key
        store.install(model_id, path)
    loaded = loaded_model(store, "ames_dinov2", lambda: build("dinov2_fp"))
    for (name, ours), theirs in zip(loaded.state_dict().items(), ames.state_dict().values(), strict=True):
        assert torch.equal(ours, theirs), name
    det = loaded_model(store, "ames_detector_dinov2", lambda: SpatialAttention2d(768))
    assert torch.equal(det.bn.running_mean, detector.bn.running_mean) and not det.training


def test_wrong_variant_is_refused_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "cvnet_ames.pt"
    torch.save({"state": build("cvnet_fp").state_dict()}, path)
    store = ModelStore(user_dir=tmp_path / "models")
    store.install("ames_dinov2", path)
    with pytest.raises(ModelUnavailable, match="do not fit"):
        loaded_model(store, "ames_dinov2", lambda: build("dinov2_fp"))


# -- the AMES forward pass --------------------------------------------------------------------
def test_forward_gives_one_logit_per_pair(published: dict, ames: Ames) -> None:
    io = published["variants"]["dinov2_fp"]["io"]
    batch = 2  # the published batch of 3 made smaller; sequence lengths as released (600 / 50)
    src = torch.randn(batch, io["src_local"][1], io["src_local"][2])
    tgt = torch.randn(batch, io["tgt_local"][1], io["tgt_local"][2])
    masks = torch.zeros(batch, src.shape[1], dtype=torch.bool), torch.zeros(batch, tgt.shape[1], dtype=torch.bool)
    with torch.inference_mode():
        out = ames(src, masks[0], tgt, masks[1])
    assert list(out.shape) == [batch] and out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize("variant", ["dinov2_dist", "cvnet_fp"])
def test_other_released_variants_run(variant: str) -> None:
    net = build(variant).eval()
    dim = VARIANTS[variant].local_dim
    with torch.inference_mode():
        out = net(torch.randn(2, 30, dim), None, torch.randn(2, 8, dim), None)
    assert list(out.shape) == [2] and torch.isfinite(out).all()


def test_reranker_module_does_not_import_torch() -> None:
    code = "import sys, plugins.similarity.ames; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=BUNDLED_DIR.parent)


def test_attention_masks_keep_images_apart() -> None:
    sa, ca = attention_masks(3, 2, torch.device("cpu"))
    assert not sa[0].any() and not ca[0].any() and not sa[:, 0].any() and not ca[:, 0].any()  # matching token
    assert sa[1:4, 4:].all() and not sa[1:4, 1:4].any()  # self-attention: own image only
    assert ca[1:4, 1:4].all() and not ca[1:4, 4:].any()  # cross-attention: other image only


def test_padded_tokens_do_not_change_the_output(ames: Ames) -> None:
    torch.manual_seed(1)
    src, tgt = torch.randn(2, 40, 768), torch.randn(2, 12, 768)
    src_mask = torch.zeros(2, 40, dtype=torch.bool)
    tgt_mask = torch.zeros(2, 12, dtype=torch.bool)
    src_mask[0, 30:] = True
    tgt_mask[:, 9:] = True
    tgt_mask[1, 5:] = True
    with torch.inference_mode():
        first = ames(src, src_mask, tgt, tgt_mask)
        src2, tgt2 = src.clone(), tgt.clone()
        src2[src_mask] = torch.randn(int(src_mask.sum()), 768) * 10
        tgt2[tgt_mask] = torch.randn(int(tgt_mask.sum()), 768) * 10
        second = ames(src2, src_mask, tgt2, tgt_mask)
        # and padding is the same as leaving the tokens out
        alone = ames(src[:1, :30], None, tgt[:1, :9], None)
    assert torch.allclose(first, second, atol=1e-5)
    assert torch.allclose(first[:1], alone, atol=1e-5)


def test_database_side_is_read_as_float16(ames: Ames) -> None:
    src, tgt = torch.randn(1, 20, 768), torch.randn(1, 10, 768)
    with torch.inference_mode():
        assert torch.allclose(ames(src, None, tgt, None), ames(src, None, tgt.half().float(), None), atol=1e-3)


# -- extraction -------------------------------------------------------------------------------
def test_network_size_is_the_nearest_multiple_of_14() -> None:
    assert network_size(700, 1000) == (700, 994)  # 1000 / 14 = 71.4 → 71
    assert network_size(10, 20) == (14, 14)
    assert network_size(3000, 4000) == (770, 1022)  # long side capped at 1024 first
    assert network_size(3000, 4000, max_side=None) == (2996, 4004)


def test_network_input_resizes_and_normalises() -> None:
    grey = np.broadcast_to(np.array([124, 116, 104], np.uint8), (30, 45, 3))  # ≈ ImageNet mean → ≈ 0
    x = network_input(grey, (28, 42))
    assert x.shape == (3, 28, 42) and x.dtype == np.float32 and float(np.abs(x).max()) < 0.1
    assert network_input(grey, (42, 56)).shape == (3, 42, 56)


def test_position_embedding_is_resized_for_other_grids() -> None:
    cfg = VitConfig(embed_dim=16, depth=1, num_heads=2, img_size=56)
    net = build_backbone(cfg, init=True)
    torch.nn.init.normal_(net.pos_embed)
    assert net.position_embedding(4, 4) is net.pos_embed
    other = net.position_embedding(3, 6)
    assert other.shape == (1, 1 + 18, 16) and torch.equal(other[:, 0], net.pos_embed[:, 0])


class IndexBackbone(torch.nn.Module):
    """Stand-in ViT: token i's channel 0 is i (row-major over the 14-px grid), so a detector that
    reads channel 0 ranks the last (bottom-right) token first."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = (x.shape[2] // 14) * (x.shape[3] // 14)
        tokens = torch.zeros(1, n, 4)
        tokens[0, :, 0] = torch.arange(n, dtype=torch.float32)
        tokens[0, :, 1] = 1.0
        return tokens


def channel0_detector() -> SpatialAttention2d:
    det = SpatialAttention2d(4)
    with torch.no_grad():
        det.conv1.weight.copy_(torch.eye(4)[:, :, None, None])
        det.conv1.bias.zero_()
        det.conv2.weight.zero_()
        det.conv2.weight[0, 0] = 1.0
        det.conv2.bias.zero_()
    return det.eval()


def test_extraction_geometry_and_order() -> None:
    rgb = np.zeros((300, 400, 3), np.uint8)  # → 294 × 406 px = 21 × 29 tokens
    feats = extract_local(IndexBackbone(), channel0_detector(), rgb, topk=5)
    assert feats.kind == "dinov2_ames" and len(feats) == 5 and feats.image_size == (300, 400)
    assert np.all(np.diff(feats.weight) <= 0)  # strongest first
    # the strongest is the bottom-right token: centre (28.5 × 14, 20.5 × 14) in the 406 × 294 input
    assert np.allclose(feats.xy[0], [28.5 * 14 * 400 / 406, 20.5 * 14 * 300 / 294], atol=1e-3)
    assert np.allclose(feats.xy[1], [27.5 * 14 * 400 / 406, 20.5 * 14 * 300 / 294], atol=1e-3)
    assert np.allclose(feats.scale, 14 * np.sqrt(400 / 406 * 300 / 294))
    assert feats.desc.dtype == np.float16 and feats.desc.shape == (5, 4)
    assert np.allclose(np.linalg.norm(feats.desc.astype(np.float32), axis=1), 1.0, atol=1e-3)
    assert len(extract_local(IndexBackbone(), channel0_detector(), rgb)) == 21 * 29  # fewer tokens than topk


# -- the re-ranker ----------------------------------------------------------------------------
def test_unavailable_without_the_three_files(tmp_path: Path) -> None:
    reranker = AmesReranker(ModelStore(user_dir=tmp_path / "models"))
    reason = reranker.unavailable_reason()
    assert reason is not None and all(f"'{model_id}' not installed" in reason for model_id in MODEL_IDS)
    assert "ptak.felk.cvut.cz" in reason and "dinov2_vitb14_reg4_pretrain.pth" in reason
    rgb = np.zeros((28, 28, 3), np.uint8)
    with pytest.raises(ModelUnavailable, match="not installed"):
        reranker.extract(rgb)
    empty = LocalFeatures("dinov2_ames", np.zeros((0, 2)), np.zeros(0), np.zeros(0), np.zeros((0, 768)), (1, 1))
    with pytest.raises(ModelUnavailable, match="not installed"):
        reranker.scores(empty, [empty], np.zeros(1))


TINY = {"dinov2_vitb14_reg": {"embed_dim": 32, "depth": 2, "num_heads": 2, "patch_size": 14, "img_size": 56,
                              "num_register_tokens": 4, "mlp_ratio": 4.0},
        "ames_detector_dinov2": {"in_channels": 32},
        "ames_dinov2": {"variant": "dinov2_fp", "local_dim": 32, "model_dim": 128, "nhead": 2, "num_layers": 5,
                        "dim_feedforward": 1024, "binarized": False}}


@pytest.fixture
def tiny_store(tmp_path: Path) -> ModelStore:
    """The repository's three manifests with a small backbone (32-d instead of 768-d) and random
    checkpoints saved in the published formats (plain state dict for DINOv2, {'state': ...} for the
    AMES files), installed in a temporary store."""
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    store = ModelStore(user_dir=tmp_path / "models", bundled_dir=bundled)
    torch.manual_seed(0)
    nets = {"dinov2_vitb14_reg": build_backbone(VitConfig(**TINY["dinov2_vitb14_reg"]), init=True),
            "ames_detector_dinov2": SpatialAttention2d(32),
            "ames_dinov2": Ames(AmesConfig(**{k: v for k, v in TINY["ames_dinov2"].items() if k != "variant"}))}
    for model_id in nets:  # all manifests first: the store reads the folder once
        doc = json.loads((BUNDLED_DIR / f"{model_id}.json").read_text(encoding="utf-8"))
        doc["network"] = TINY[model_id]
        (bundled / f"{model_id}.json").write_text(json.dumps(doc), encoding="utf-8")
    for model_id, net in nets.items():
        manifest = store.manifest(model_id)
        path = tmp_path / manifest.weights
        state = net.state_dict()
        torch.save(state if manifest.wrapper_key is None else {manifest.wrapper_key: state}, path)
        store.install(model_id, path, copy=False)
    return store


def test_reranker_extracts_and_scores_with_installed_files(tiny_store: ModelStore, astronaut: np.ndarray) -> None:
    reranker = AmesReranker(tiny_store, topk=40)
    assert reranker.unavailable_reason() is None
    assert (reranker.lamb, reranker.temp, reranker.query_len, reranker.db_len) == (0.55, 0.3, 600, 50)
    query = reranker.extract(np.asarray(astronaut)[:120, :150])
    assert len(query) == 40 and query.desc.shape == (40, 32) and query.desc.dtype == np.float16
    assert query.image_size == (120, 150) and np.all((query.xy >= 0) & (query.xy <= [150, 120]))
    small = reranker.extract(np.asarray(astronaut)[200:230, 300:340])  # 28 × 42 → 6 tokens
    candidates = [query, small, query.top(3)]
    sims = np.array([0.9, -0.2, 0.5])
    scores = reranker.scores(query, candidates, sims)
    assert scores.shape == (3,) and scores.dtype == np.float32
    assert np.all((scores >= 0) & (scores <= 1))
    logits = reranker.logits(query, candidates)
    expected = 0.55 * np.clip(sims, 0, 1) + 0.45 / (1 + np.exp(-0.3 * logits))
    assert np.allclose(scores, expected, atol=1e-6)
    # batching and padding do not change a candidate's score
    one_by_one = AmesReranker(tiny_store, batch_size=1).logits(query, candidates)
    assert np.allclose(logits, one_by_one, atol=1e-4)
    with pytest.raises(ValueError, match="global similarities"):
        reranker.scores(query, candidates, sims[:2])
    other = LocalFeatures("rootsift", query.xy, query.scale, query.weight, query.desc, query.image_size)
    with pytest.raises(ValueError, match="rootsift"):
        reranker.scores(query, [other], np.ones(1))


def test_reranker_reports_the_one_missing_file(tiny_store: ModelStore, tmp_path: Path) -> None:
    tiny_store.remove("ames_dinov2")
    reason = AmesReranker(tiny_store).unavailable_reason()
    assert reason is not None and "'ames_dinov2' not installed" in reason and "dinov2_vitb14_reg'" not in reason


def test_repository_manifests_describe_the_published_files() -> None:
    store = ModelStore(user_dir=Path("/nonexistent"))
    for model_id in MODEL_IDS:
        manifest = store.manifest(model_id)
        assert manifest.sha256 is None and manifest.card == "plugins/similarity/ames.md"
        assert (BUNDLED_DIR.parent / manifest.card).is_file()
    assert store.manifest("ames_dinov2").wrapper_key == "state"
    assert store.manifest("ames_detector_dinov2").wrapper_key == "state"
    assert store.manifest("dinov2_vitb14_reg").wrapper_key is None  # torch.hub's plain state dict
    assert store.manifest("dinov2_vitb14_reg").extra["network"] == {
        "embed_dim": 768, "depth": 12, "num_heads": 12, "patch_size": 14, "img_size": 518,
        "num_register_tokens": 4, "mlp_ratio": 4.0}
    assert "not a calibrated probability" in SCORE_MEANING


def test_card_has_the_required_sections() -> None:
    text = (BUNDLED_DIR.parent / "plugins" / "similarity" / "ames.md").read_text(encoding="utf-8")
    for heading in ("# AMES re-ranker (learned, needs installed weights)", "## What it shows",
                    "## How to read it", "## Limits", "## Reference"):
        assert heading in text
