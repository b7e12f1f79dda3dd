"""LOCORE re-ranker: our network has the published `locore_base.safetensors` layout (every key,
shape, dtype and their order) and a file saved in that layout installs and loads strictly; our
Longformer attention follows the sliding-window + global rule; the sequence builder, the per-image
score and the end-to-start sliding window reproduce the recorded protocol on hand-made cases; and
the re-ranker is 'unavailable' (with where to get the file) until the user installs it.

Random weights appear only to check loading, shapes and the plumbing of `workbench search --rerank
locore`; a ranking they produce is meaningless and is never asserted."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from analyzer_runs import reference_json
from PIL import Image
from skimage import data

from plugins.similarity import locore
from plugins.similarity.locore import (
    KIND,
    MODEL_IDS,
    SCORE_MEANING,
    LocoreFeatures,
    LocoreReranker,
    blend,
    sliding_rerank,
    window_starts,
)
from workbench.app.cli import main
from workbench.core.models import BUNDLED_DIR, ModelStore, loaded_model
from workbench.core.paths import data_dir
from workbench.core.plugin import ModelUnavailable

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")
from plugins.similarity.dinov2 import SpatialAttention2d, VitConfig, build_backbone, network_size  # noqa: E402
from plugins.similarity.locore_net import ImageTokens, Locore, build, build_sequence, image_logits  # noqa: E402
from plugins.similarity.longformer import AttentionPlan, LongformerConfig, LongformerSelfAttention  # noqa: E402

TINY = LongformerConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                        attention_window=4, max_position_embeddings=202)
"""Same keys as the released model, small shapes; window 4 = two tokens on each side."""


@pytest.fixture(scope="module")
def published() -> dict:
    return reference_json("checkpoints/locore.json")


@pytest.fixture(scope="module")
def published_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised full-size LOCORE saved as the authors' Trainer saves it: a flat
    safetensors state dict with metadata {'format': 'pt'} (random weights: a loading test only)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("locore") / "locore_base.safetensors"
    safetensors_torch.save_file(build(init=True).state_dict(), str(path), metadata={"format": "pt"})
    return path


def layout(module: torch.nn.Module) -> list[list]:
    return [[k, list(t.shape), str(t.dtype).removeprefix("torch.")] for k, t in module.state_dict().items()]


# -- the published file ----------------------------------------------------------------------
def test_state_dict_matches_the_published_layout(published: dict) -> None:
    recorded = published["config"]["longformer_base_5120_config_json_inferred"]
    cfg = LongformerConfig()
    assert {k: recorded[k] for k in cfg.__dataclass_fields__ if k != "attention_window"} == {
        k: v for k, v in vars(cfg).items() if k != "attention_window"}
    assert recorded["attention_window"] == [cfg.attention_window] * cfg.num_hidden_layers
    with torch.device("meta"):  # shapes only: no memory for 110 M parameters
        net = Locore(cfg)
    assert layout(net) == published["state_dict"]  # keys, shapes, dtypes and order: 273 keys
    assert sum(t.numel() for t in net.state_dict().values()) == published["stats"]["n_parameters"]
    assert net.max_gallery(48) == 101  # (1 + 101) blocks of 50 tokens fill the 5120 positions


def test_manifest_describes_the_published_file(published: dict) -> None:
    manifest = ModelStore(user_dir=Path("/nonexistent")).manifest("locore_base")
    assert manifest.weights == "locore_base.safetensors" and manifest.sha256 is None
    assert manifest.wrapper_key is None and manifest.strip_prefix is None  # flat, no 'module.'
    assert "vislang/locore_dinov2_base" in manifest.source
    assert LongformerConfig(**manifest.extra["network"]) == LongformerConfig()
    defaults = published["config"]["eval_cli_defaults"]
    evaluation = manifest.extra["evaluation"]
    window = defaults["topk (window size, gallery images per forward)"]
    assert (evaluation["window"], evaluation["stride"], evaluation["shortlist"]) == (
        window, defaults["sliding_stride"], defaults["sliding_topk"])
    assert manifest.extra["extraction"]["num_descriptors"] == defaults["num_descriptors"]
    assert (BUNDLED_DIR.parent / manifest.card).is_file() and "not a calibrated probability" in SCORE_MEANING


def test_published_file_installs_and_loads_strictly(published_file: Path, tmp_path: Path) -> None:
    store = ModelStore(user_dir=tmp_path / "models")
    store.install("locore_base", published_file, copy=False)  # records its SHA-256
    assert store.status("locore_base").installed
    net = loaded_model(store, "locore_base", lambda: build())
    saved = safetensors_torch.load_file(str(published_file))
    assert set(net.state_dict()) == set(saved) and len(saved) == 273
    for key in ("language_model.longformer.sep_embedding", "scale_encoder.weight",
                "language_model.longformer.encoder.layer.11.attention.self.key_global.weight"):
        assert torch.equal(net.state_dict()[key], saved[key])
    assert not net.training


def test_another_layout_is_refused_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    safetensors_torch.save_file(Locore(TINY).state_dict(), str(path))
    store = ModelStore(user_dir=tmp_path / "models")
    store.install("locore_base", path)
    with pytest.raises(ModelUnavailable, match="do not fit"):
        loaded_model(store, "locore_base", lambda: build())


# -- Longformer attention --------------------------------------------------------------------
def dense_attention(att: LongformerSelfAttention, h: torch.Tensor, valid: torch.Tensor, is_global: torch.Tensor,
                    one_sided: int) -> torch.Tensor:
    """The rule written out on the full N×N matrix: a local token sees valid tokens within
    `one_sided` positions and every global token; a global token sees every valid token, through
    the *_global projections; a masked token's output is zero."""
    n, c = h.shape
    d = c // att.heads

    def heads(x: torch.Tensor) -> torch.Tensor:
        return x.view(n, att.heads, d).transpose(0, 1)

    i = torch.arange(n)
    local_ok = (((i[:, None] - i[None, :]).abs() <= one_sided) & valid[None, :]) | is_global[None, :]
    scores = heads(att.query(h)) @ heads(att.key(h)).transpose(1, 2) / math.sqrt(d)
    out = (torch.softmax(scores.masked_fill(~local_ok, -math.inf), -1) @ heads(att.value(h))).transpose(0, 1)
    out = out.reshape(n, c).clone()
    out[~valid] = 0
    g_scores = heads(att.query_global(h)) @ heads(att.key_global(h)).transpose(1, 2) / math.sqrt(d)
    g_out = torch.softmax(g_scores.masked_fill(~valid[None, None, :], -math.inf), -1) @ heads(att.value_global(h))
    out[is_global] = g_out.transpose(0, 1).reshape(n, c)[is_global]
    return out


def test_sliding_window_and_global_attention_follow_the_rule() -> None:
    torch.manual_seed(3)
    att = LongformerSelfAttention(TINY).eval()
    n = 23  # not a multiple of the window: the last block is short
    h = torch.randn(n, TINY.hidden_size)
    valid = torch.ones(n, dtype=torch.bool)
    valid[[6, 7, 15]] = False
    is_global = torch.zeros(n, dtype=torch.bool)
    is_global[[0, 1, 11, 22]] = True
    with torch.inference_mode():
        ours = att(h, AttentionPlan.of(valid, is_global, 2, h.dtype))
        expected = dense_attention(att, h, valid, is_global, 2)
        assert torch.allclose(ours, expected, atol=1e-5)
        # a token three places away does not reach token 18's local attention; the global ones do
        moved = h.clone()
        moved[14] += 5.0
        again = att(moved, AttentionPlan.of(valid, is_global, 2, h.dtype))
    assert torch.allclose(again[18], ours[18], atol=1e-6) and not torch.allclose(again[16], ours[16], atol=1e-3)
    assert not torch.allclose(again[0], ours[0], atol=1e-3) and torch.all(ours[~valid] == 0)


# -- the sequence and the per-image score ----------------------------------------------------
def image(seed: int, dim: int, locals_: int, valid: list[bool]) -> ImageTokens:
    g = torch.Generator().manual_seed(seed)
    return ImageTokens(torch.randn(locals_, dim, generator=g), torch.zeros(locals_, dtype=torch.long),
                       torch.tensor(valid), torch.randn(dim, generator=g))


def test_sequence_is_global_locals_sep_per_image_query_first() -> None:
    torch.manual_seed(0)
    net = Locore(TINY)
    query, first, second = image(1, 16, 3, [True, True, False]), image(2, 16, 3, [True] * 3), image(3, 16, 3,
                                                                                                     [True] * 3)
    seq = build_sequence(net, query, [first, second])
    assert seq.block == 5 and seq.embeds.shape == (15, 16)
    sep, scale0 = net.language_model.longformer.sep_embedding, net.scale_encoder.weight[0]
    for b, im in enumerate([query, first, second]):
        assert torch.equal(seq.embeds[5 * b], im.global_)  # the global token: no scale embedding
        assert torch.allclose(seq.embeds[5 * b + 1 : 5 * b + 4], im.local + scale0)
        assert torch.equal(seq.embeds[5 * b + 4], sep)
    assert seq.valid.tolist() == [True, True, True, False, True] + [True] * 10  # the padded descriptor
    # global attention: the whole query block (not its padded descriptor) and every SEP
    assert seq.is_global.nonzero().flatten().tolist() == [0, 1, 2, 4, 9, 14]
    with pytest.raises(ValueError, match="same number"):
        build_sequence(net, query, [image(4, 16, 2, [True, True])])
    with pytest.raises(ValueError, match="at most"):
        build_sequence(net, query, [first] * (net.max_gallery(3) + 1))


def test_image_score_is_the_last_local_token_of_its_block() -> None:
    block = 5  # [global, l0, l1, l2, SEP]
    logits = torch.zeros(3 * block, 2)
    logits[:, 1] = torch.arange(3 * block, dtype=torch.float32)  # class 1 = the token's position
    logits[:, 0] = -100.0  # class 0 is never read
    assert image_logits(logits, block).tolist() == [8.0, 13.0]  # l2 of gallery 1 and 2; not the SEPs 9, 14


def test_forward_gives_one_logit_per_gallery_image() -> None:
    torch.manual_seed(0)
    net = Locore(TINY).eval()
    query, gallery = image(1, 16, 4, [True] * 4), [image(s, 16, 4, [True, True, True, s % 2 == 0]) for s in range(5)]
    with torch.inference_mode():
        out = net(query, gallery)
        alone = net(query, gallery[:2])
    assert out.shape == (5,) and torch.isfinite(out).all()
    assert not torch.allclose(out[:2], alone, atol=1e-4)  # list-wise: the other candidates matter


# -- the sliding window ----------------------------------------------------------------------
def test_window_starts_are_the_authors_end_to_start_passes() -> None:
    assert window_starts(400, 100, 50) == [300, 250, 200, 150, 100, 50, 0]  # 7 passes
    assert window_starts(100, 100, 50) == [0] and window_starts(37, 100, 50) == [0]
    assert window_starts(130, 100, 50) == [30, 0]  # off the grid: the last pass still starts at 0
    assert window_starts(0) == []


def test_sliding_rerank_reproduces_the_protocol_by_hand() -> None:
    """Six images, windows of 4, stride 2: passes over ranks [2, 6) then [0, 4). Image 5 (last in
    the global order, strongest logit) climbs to the top; each pass re-sorts only its window, by
    this pass's logits blended with each image's own global similarity."""
    sims = np.array([0.6, 0.55, 0.5, 0.45, 0.4, 0.35])
    logit = {0: 0.0, 1: 10.0, 2: -10.0, 3: 0.0, 4: 0.0, 5: 30.0}
    calls: list[list[int]] = []

    def logits_of(members: list[int]) -> np.ndarray:
        calls.append(list(members))
        return np.array([logit[m] for m in members])

    order, scores = sliding_rerank(sims, logits_of, window=4, stride=2, alpha=0.5, temp=0.1)
    s = {i: 0.5 * sims[i] + 0.5 / (1 + math.exp(-0.1 * logit[i])) for i in logit}
    # s = {0: .550, 1: .641, 2: .385, 3: .475, 4: .450, 5: .651}
    # pass 1, ranks 2..5 = images [2, 3, 4, 5] → 5, 3, 4, 2: the order is now [0, 1, 5, 3, 4, 2]
    # pass 2, ranks 0..3 = images [0, 1, 5, 3] → 5, 1, 0, 3
    assert calls == [[2, 3, 4, 5], [0, 1, 5, 3]]
    assert order == [5, 1, 0, 3, 4, 2]
    assert np.allclose(scores, [s[i] for i in range(6)], atol=1e-12)


def test_blend_is_the_authors_with_global_clipped() -> None:
    assert np.allclose(blend(np.array([0.0, 20.0]), np.array([0.4, -0.3]), 0.5, 0.1),
                       [0.5 * 0.4 + 0.25, 0.5 / (1 + math.exp(-2.0))], atol=1e-12)


# -- the re-ranker ---------------------------------------------------------------------------
def test_unavailable_until_installed(tmp_path: Path) -> None:
    reranker = LocoreReranker(ModelStore(user_dir=tmp_path / "models"))
    reason = reranker.unavailable_reason()
    assert reason is not None and all(f"'{model_id}' not installed" in reason for model_id in MODEL_IDS)
    assert "huggingface.co/vislang/locore_dinov2_base" in reason and "locore_base.safetensors" in reason
    with pytest.raises(ModelUnavailable, match="LOCORE re-ranking needs three files"):
        reranker.extract(np.zeros((28, 28, 3), np.uint8))
    empty = LocoreFeatures(KIND, np.zeros((0, 2)), np.zeros(0), np.zeros(0), np.zeros((0, 768)), (1, 1), np.zeros(768))
    with pytest.raises(ModelUnavailable, match="not installed"):
        reranker.rerank(empty, [empty], np.zeros(1))


def test_reranker_module_does_not_import_torch() -> None:
    code = "import sys, plugins.similarity.locore; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=BUNDLED_DIR.parent)


SMALL_VIT = {"embed_dim": 768, "depth": 1, "num_heads": 12, "patch_size": 14, "img_size": 56,
             "num_register_tokens": 4, "mlp_ratio": 1.0}
"""A one-block ViT with DINOv2's 768-d output, so the real-size LOCORE reads its tokens (speed only)."""


def installed_store(tmp_path: Path, user_dir: Path, published_file: Path) -> ModelStore:
    """The repository's three manifests, the backbone's shrunk to SMALL_VIT, with random files
    installed through the store: LOCORE's in the published layout, the DINOv2 and detector files in
    theirs (a plain state dict; {'state': ...})."""
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    for model_id in MODEL_IDS:
        doc = json.loads((BUNDLED_DIR / f"{model_id}.json").read_text(encoding="utf-8"))
        if model_id == "dinov2_vitb14_reg":
            doc["network"] = SMALL_VIT
        (bundled / f"{model_id}.json").write_text(json.dumps(doc), encoding="utf-8")
    store = ModelStore(user_dir=user_dir, bundled_dir=bundled)
    torch.manual_seed(0)
    backbone = tmp_path / "dinov2.pth"
    torch.save(build_backbone(VitConfig(**SMALL_VIT), init=True).state_dict(), backbone)
    detector = tmp_path / "detector.pt"
    torch.save({"state": SpatialAttention2d(768).state_dict()}, detector)
    for model_id, path in zip(MODEL_IDS, (published_file, backbone, detector), strict=True):
        store.install(model_id, path, copy=False)
    return store


def test_extraction_reads_the_image_at_770_pixels(tmp_path: Path, published_file: Path,
                                                  astronaut: np.ndarray) -> None:
    assert network_size(300, 400, 770, enlarge=True) == (574, 770)  # small images are enlarged too
    assert network_size(3000, 4000, 770, enlarge=True) == (574, 770)
    store = installed_store(tmp_path, tmp_path / "models", published_file)
    reranker = LocoreReranker(store)
    assert (reranker.alpha, reranker.temp, reranker.window, reranker.stride) == (0.5, 0.1, 100, 50)
    feats = reranker.extract(np.asarray(astronaut)[:300, :400])
    assert feats.kind == KIND and feats.desc.shape == (48, 768) and feats.desc.dtype == np.float32
    assert feats.image_size == (300, 400) and np.all(np.diff(feats.weight) <= 0)  # strongest first
    assert np.allclose(feats.scale, 14 * np.sqrt(400 / 770 * 300 / 574))
    assert feats.global_desc.shape == (768,) and abs(float(np.linalg.norm(feats.global_desc)) - 1) < 1e-5
    back = LocoreFeatures.stored(feats.to_arrays(KIND))
    assert back is not None and np.array_equal(back.global_desc, feats.global_desc)
    assert np.array_equal(back.desc, feats.desc) and LocoreFeatures.stored({}) is None


def test_cli_search_reranks_with_an_installed_file_in_the_published_layout(
    tmp_path: Path, published_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`workbench index --locore` and `workbench search --rerank locore` end to end, on a full-size
    LOCORE file in the published layout installed through the store (SHA-256 recorded). Its
    weights are random, so the order it gives means nothing: only that LOCORE ran is checked."""
    store = installed_store(tmp_path, data_dir() / "models", published_file)  # the CLI's own models folder
    monkeypatch.setattr(locore, "ModelStore", lambda: ModelStore(bundled_dir=store.bundled_dir))
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("coffee", "chelsea", "rocket"):
        Image.fromarray(getattr(data, name)()).save(photos / f"{name}.jpg", quality=90)
    query = tmp_path / "query.jpg"
    Image.fromarray(data.chelsea()[20:280, 30:400]).save(query, quality=80)
    collection = tmp_path / "collection"
    assert main(["index", str(photos), "--collection", str(collection), "--locore"]) == 0
    out = tmp_path / "hits.json"
    capsys.readouterr()
    assert main(["search", str(query), "--collection", str(collection), "--rerank", "locore",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "re-ranked by LOCORE: 3 of the 3 hits listed" in printed and "score: LOCORE blended score" in printed
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["rerank"] == "locore" and len(doc["hits"]) == 3
    assert all(h["reranked"] and 0.0 <= h["score"] <= 1.0 for h in doc["hits"])
    assert [h["rank"] for h in doc["hits"]] == [1, 2, 3]


def test_cli_search_without_the_files_says_where_to_get_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, other = tmp_path / "coffee.png", tmp_path / "chelsea.png"
    Image.fromarray(data.coffee()).save(image)
    Image.fromarray(data.chelsea()).save(other)
    collection = tmp_path / "collection"
    assert main(["index", str(other), "--collection", str(collection), "--locore"]) == 1
    assert "LOCORE re-ranking needs three files" in capsys.readouterr().err
    assert main(["index", str(other), "--collection", str(collection)]) == 0
    assert main(["search", str(image), "--collection", str(collection), "--rerank", "locore"]) == 1
    assert "locore_dinov2_base" in capsys.readouterr().err


def test_search_keeps_locore_order_and_the_places_of_images_without_its_descriptors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`search` lists LOCORE's candidates in LOCORE's order (not by score: scores of different
    windows need not agree with it) in the places they held in the global shortlist; a candidate
    without LOCORE descriptors keeps its place and global similarity and is marked not re-ranked."""
    from plugins.similarity import search as search_module
    from plugins.similarity.collection import Collection

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("coffee", "chelsea", "rocket", "astronaut"):
        Image.fromarray(getattr(data, name)()).save(photos / f"{name}.jpg", quality=90)
    coll = Collection(tmp_path / "collection")
    coll.add([photos])
    query = search_module.Query(data.chelsea()[10:290, 20:420])
    shortlist = [h.item.id for h in search_module.search(coll, query, rerank=search_module.Rerank.NONE)]
    skipped = shortlist[1]  # as if indexed before --locore
    ready = [i for i in shortlist if i != skipped]
    scores = {i: 0.9 - 0.1 * n for n, i in enumerate(ready)}  # ascending order below: scores disagree
    locore_order = ready[::-1]
    monkeypatch.setattr(search_module, "locore_ranking",
                        lambda c, rgb, cand, sims, ctx: {i: scores[i] for i in locore_order})
    hits = search_module.search(coll, query, rerank=search_module.Rerank.LOCORE)
    coll.close()
    ids = [h.item.id for h in hits]
    assert ids == [locore_order[0], skipped, *locore_order[1:]]
    assert [h.reranked for h in hits] == [True, False, True, True]
    assert hits[1].score == hits[1].global_sim and hits[0].score == scores[locore_order[0]]
