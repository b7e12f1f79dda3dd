"""OMG-Fuser's released networks: ours have the published checkpoints' exact layouts (DINOv2 ViT-S/14
inside), checkpoints in the authors' format (with or without 'module.', with legacy key names)
install and load strictly, object masks restrict attention as the authors' mask does, and both
analyzers stay 'unavailable' naming every missing input. Random weights: loading and shape tests
only, never a detector."""

from __future__ import annotations

from pathlib import Path

import pytest
from analyzer_runs import reference_json

from plugins.localization.omgfuser import (
    FEATURE_INPUTS,
    SCORE_INPUTS,
    OmgFuserFeatureAnalyzer,
    OmgFuserScoreAnalyzer,
)
from workbench.app.sample import jpeg_bytes, load_photo
from workbench.core.media import open_media
from workbench.core.models import ModelStore, loaded_model
from workbench.core.plugin import ModelUnavailable, RunContext, run_analyzer
from workbench.core.presets import PRESETS
from workbench.core.results import Status

torch = pytest.importorskip("torch")
from plugins.localization.omgfuser_net import (  # noqa: E402 - needs torch
    VARIANTS,
    MaskedTransformer,
    attention_mask,
    build,
    positional_encoding_2d,
)
from plugins.similarity.dinov2 import DinoV2, VitConfig  # noqa: E402


@pytest.fixture(scope="module")
def published() -> dict:
    return reference_json("checkpoints/omgfuser.json")


@pytest.fixture(scope="module")
def nets() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {variant: build(variant).eval() for variant in VARIANTS}


def layout(module: torch.nn.Module) -> list[list]:
    return [[k, list(t.shape), str(t.dtype).removeprefix("torch.")] for k, t in module.state_dict().items()]


def authors_checkpoint(state: dict[str, torch.Tensor], path: Path) -> Path:
    """A file as the authors' training.py saves it: the state dict under 'model', beside an (untrained)
    optimizer's and a scheduler's states, the epoch and the validation loss."""
    group = {"lr": 1e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.05, "amsgrad": False,
             "params": list(range(len(state)))}
    scheduler = {"T_max": 100, "eta_min": 1e-6, "base_lrs": [1e-4], "last_epoch": 7, "_step_count": 8}
    torch.save({"model": state, "optimizer": {"state": {}, "param_groups": [group]}, "scheduler": scheduler,
                "epoch": 7, "loss": 0.21}, path)
    return path


def as_released(state: dict[str, torch.Tensor], ddp: bool, legacy: bool) -> dict[str, torch.Tensor]:
    """Our state dict with the key names of a DDP-trained file and/or of the authors' older code."""
    renamed = {}
    for key, tensor in state.items():
        if legacy:
            key = key.replace("image_feature_extractor.interpolators.0.", "image_feature_extractor.conv.")
        renamed[("module." if ddp else "") + key] = tensor
    return renamed


@pytest.fixture(scope="module")
def feature_file(nets: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The feature-fusion network saved as the released file would be (plain keys)."""
    return authors_checkpoint(nets["feature_fusion"].state_dict(), tmp_path_factory.mktemp("dl") / "feature.pth")


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty user data folder, so the repository's manifests resolve to no installed weights."""
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


# -- the networks ----------------------------------------------------------------------------
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_state_dict_matches_the_published_layout(published: dict, nets: dict, variant: str) -> None:
    spec = published["variants"][f"omgfuser_{variant}"]
    assert layout(nets[variant]) == spec["state_dict"]  # keys, shapes, dtypes (int64 BN counters), order
    assert sum(p.numel() for p in nets[variant].parameters()) == spec["stats"]["n_parameters"]
    dino = [k for k in nets[variant].state_dict() if k.startswith("image_feature_extractor.dino.")]
    assert len(dino) == spec["n_dino_keys"]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_forward_follows_the_published_io(published: dict, nets: dict, variant: str) -> None:
    io = published["variants"][f"omgfuser_{variant}"]["io"]
    x = torch.randn(*io["x"])
    mask = torch.ones(*io["attention_mask"], dtype=torch.bool)
    with torch.inference_mode():
        out = nets[variant](x, mask)
    assert {k: list(v.shape) for k, v in out.items()} == io["outputs"]
    for value in out.values():
        assert torch.isfinite(value).all() and float(value.min()) >= 0.0 and float(value.max()) <= 1.0


def test_wrong_input_size_is_refused(nets: dict) -> None:
    with pytest.raises(ValueError, match="expected B×8×224×224"):
        nets["score_fusion"](torch.zeros(1, 8, 448, 448), torch.ones(1, 196, 196, dtype=torch.bool))


def test_positional_encoding_follows_the_formula() -> None:
    pe = positional_encoding_2d(384, 14, 14)
    rows, cols = torch.meshgrid(torch.arange(14.0), torch.arange(14.0), indexing="ij")
    step = 10000.0 ** (-2 / 192)  # second frequency of each half
    assert torch.allclose(pe[0], torch.sin(cols), atol=1e-6) and torch.allclose(pe[1], torch.cos(cols), atol=1e-6)
    assert torch.allclose(pe[2], torch.sin(cols * step), atol=1e-6)
    assert torch.allclose(pe[192], torch.sin(rows), atol=1e-6) and torch.allclose(pe[193], torch.cos(rows), atol=1e-6)
    assert torch.allclose(pe[195], torch.cos(rows * step), atol=1e-6)


def test_vits14_style_backbone_has_no_registers_and_offset_interpolation() -> None:
    cfg = VitConfig(embed_dim=32, depth=1, num_heads=2, num_register_tokens=0, interpolate_offset=0.1,
                    interpolate_antialias=False)
    net = DinoV2(cfg)
    torch.nn.init.normal_(net.pos_embed)
    assert "register_tokens" not in net.state_dict()
    assert net.position_embedding(37, 37) is net.pos_embed  # the training grid is used as is
    grid = net.pos_embed[:, 1:].reshape(1, 37, 37, 32).permute(0, 3, 1, 2)
    expected = torch.nn.functional.interpolate(grid, scale_factor=(16.1 / 37, 16.1 / 37), mode="bicubic")
    ours = net.position_embedding(16, 16)[:, 1:].reshape(1, 16, 16, 32).permute(0, 3, 1, 2)
    assert torch.allclose(ours, expected, atol=1e-6)
    exact = torch.nn.functional.interpolate(grid, size=(16, 16), mode="bicubic")
    assert not torch.allclose(ours, exact, atol=1e-3)  # the offset is not the exact-size resize
    with torch.inference_mode():
        assert net(torch.zeros(1, 3, 224, 224)).shape == (1, 256, 32)


# -- object masks ----------------------------------------------------------------------------
def test_attention_mask_groups_tokens_by_object() -> None:
    instances = torch.zeros(2, 64, 64)
    instances[0, :16, :20] = 1  # tokens 0 and 1 (token 1 only partly covered)
    instances[1, 8:16, 16:32] = 1  # overlaps object 0 on token 1
    mask = attention_mask(instances, 64)  # 4 × 4 tokens
    assert mask.shape == (16, 16) and mask.dtype == torch.bool
    assert mask[0, 1] and mask[1, 0] and mask[1, 1]
    assert not mask[0, 2] and not mask[2, 0]  # an object and the background
    background = [i for i in range(16) if i not in (0, 1)]
    assert mask[background][:, background].all()
    assert attention_mask(torch.zeros(0, 64, 64), 64).all()  # no objects: everything is background


def test_masked_attention_keeps_objects_apart() -> None:
    torch.manual_seed(1)
    layer = MaskedTransformer(depth=2).eval()
    instances = torch.zeros(1, 64, 64)
    instances[0, :, :32] = 1  # left half of a 4 × 4 token grid is one object
    mask = attention_mask(instances, 64)[None]
    left = (torch.arange(16) % 4) < 2
    x = torch.randn(1, 16, 384)
    changed = x.clone()
    changed[0, ~left] += torch.randn(int((~left).sum()), 384)
    with torch.inference_mode():
        a, b = layer(x, mask), layer(changed, mask)
        free = layer(changed, torch.ones_like(mask))
    assert torch.allclose(a[0, left], b[0, left], atol=1e-5)  # the object never sees the background
    assert not torch.allclose(a[0, left], free[0, left], atol=1e-3)  # without the mask it would


# -- the released files ----------------------------------------------------------------------
def assert_loads_strictly(store: ModelStore, variant: str, state: dict[str, torch.Tensor]) -> None:
    loaded = loaded_model(store, f"omgfuser_{variant}", lambda: build(variant))
    assert not loaded.training
    for (name, ours), theirs in zip(loaded.state_dict().items(), state.values(), strict=True):
        assert torch.equal(ours, theirs), name


def test_authors_checkpoint_installs_and_loads_strictly(nets: dict, feature_file: Path, tmp_path: Path) -> None:
    store = ModelStore(user_dir=tmp_path / "models")
    store.install("omgfuser_feature_fusion", feature_file, copy=False)
    assert_loads_strictly(store, "feature_fusion", nets["feature_fusion"].state_dict())


def test_ddp_checkpoint_with_legacy_names_loads_strictly(nets: dict, tmp_path: Path) -> None:
    state = nets["score_fusion"].state_dict()
    released = as_released(state, ddp=True, legacy=True)
    assert "module.image_feature_extractor.conv.weight" in released
    path = authors_checkpoint(released, tmp_path / "omgfuser_score_fusion.pth")
    store = ModelStore(user_dir=tmp_path / "models")
    store.install("omgfuser_score_fusion", path, copy=False)
    assert_loads_strictly(store, "score_fusion", state)


def test_legacy_names_are_renamed_for_every_interpolator(nets: dict) -> None:
    state = {k.replace("interpolators", "convs"): v for k, v in nets["score_fusion"].state_dict().items()}
    assert "image_feature_extractor.convs.0.weight" in state
    net = build("score_fusion")
    net.load_state_dict(state, strict=True)
    assert torch.equal(net.image_feature_extractor.interpolators[0].bias, state["image_feature_extractor.convs.0.bias"])


def test_another_variant_is_refused(feature_file: Path, tmp_path: Path) -> None:
    store = ModelStore(user_dir=tmp_path / "models")
    store.install("omgfuser_score_fusion", feature_file, copy=False)
    with pytest.raises(ModelUnavailable, match="do not fit"):
        loaded_model(store, "omgfuser_score_fusion", lambda: build("score_fusion"))


# -- the analyzers ---------------------------------------------------------------------------
def run(analyzer, tmp_path: Path):  # noqa: ANN001, ANN201
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes(load_photo("astronaut.png")[:96, :128], 90))
    return run_analyzer(analyzer, open_media(path), analyzer.params_from({}), RunContext())


def test_score_fusion_names_every_missing_input(data_dir: Path, tmp_path: Path) -> None:
    result = run(OmgFuserScoreAnalyzer(), tmp_path)
    assert result.status is Status.UNAVAILABLE and result.score is None
    message = result.message
    assert f"missing ({len(SCORE_INPUTS)})" in message
    for model_id in ("omgfuser_score_fusion", "sam_vit_h"):
        assert f"model '{model_id}' not installed" in message
    assert "mever-team/omgfuser" in message and "sam_vit_h_4b8939.pth" in message
    for method in ("SPAN", "MVSS-Net++", "IFOSN", "CAT-Net v2", "TruFor"):
        assert f"{method} localisation map: the workbench does not compute it yet" in message
    assert "never feeds it other maps" in message


def test_feature_fusion_stays_unavailable_until_every_input_is_there(
    data_dir: Path, feature_file: Path, tmp_path: Path
) -> None:
    analyzer = OmgFuserFeatureAnalyzer()
    assert analyzer.models == ("omgfuser_feature_fusion", "noiseprintplusplus", "catnet_dct_djpeg", "sam_vit_h")
    before = run(analyzer, tmp_path).message
    for model_id in analyzer.models:
        assert f"model '{model_id}' not installed" in before
    assert "DCT_djpeg.pth.tar" in before and "noiseprintplusplus.pth" in before

    ModelStore().install("omgfuser_feature_fusion", feature_file, copy=False)
    after = run(analyzer, tmp_path)
    assert after.status is Status.UNAVAILABLE and after.score is None
    assert "'omgfuser_feature_fusion' not installed" not in after.message
    assert f"missing ({len(FEATURE_INPUTS) - 1})" in after.message
    assert "model 'noiseprintplusplus' not installed" in after.message
    noiseprint = next(line for line in after.message.split("; ") if "Noiseprint++ residual:" in line)
    assert "model 'noiseprintplusplus' not installed" in noiseprint and "does not compute it yet" in noiseprint


def test_full_preset_offers_them_and_the_project_fusion_stays_the_default() -> None:
    assert {"omgfuser_score_fusion", "omgfuser_feature_fusion"} <= set(PRESETS["full"].analyzers)
    assert "fusion" in PRESETS["triage"].analyzers
    assert not any(a.startswith("omgfuser") for a in PRESETS["triage"].analyzers)
