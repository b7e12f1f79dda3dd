"""Visual geolocation (mever-team/visloc-estimation): our three modules have the released files'
exact layouts, files saved in that layout install and load strictly through the model store, the
MvMF head's probabilities and mixture density agree with a direct evaluation on a hand-made
3-cell example, the preprocessing follows the authors' transform, and without the files the model
is 'unavailable'. Random weights here prove loading only; they are never a geolocation result."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from analyzer_runs import reference_json
from PIL import Image

from plugins.geolocation import visloc
from workbench.core.models import BUNDLED_DIR, ModelStore
from workbench.core.plugin import ModelUnavailable

torch = pytest.importorskip("torch")
from plugins.geolocation.efficientnet import (  # noqa: E402 - needs torch
    StaticSameConv2d,
    efficientnet,
    same_padding,
    static_same_padding,
)
from plugins.geolocation.visloc_net import (  # noqa: E402
    NUM_CELLS,
    GeoLocModel,
    MvMFHead,
    RetrievalHead,
    build_backbone,
)

FILES = {"backbone": "efficientnet_backbone.pt", "mvmf": "mvmf_head.pt", "rrm": "rrm_head.pt"}


@pytest.fixture(scope="module")
def published() -> dict:
    return reference_json("checkpoints/visloc.json")


@pytest.fixture(scope="module")
def meta_model() -> GeoLocModel:
    """The full-size model without memory (shapes and dtypes only)."""
    with torch.device("meta"):
        return GeoLocModel()


def layout(module: torch.nn.Module) -> list[list]:
    return [[k, list(t.shape), str(t.dtype).removeprefix("torch.")] for k, t in module.state_dict().items()]


# -- layouts of the released files -------------------------------------------------------------
def test_default_head_has_the_released_number_of_cells(published: dict, meta_model: GeoLocModel) -> None:
    assert meta_model.cls_head.num_cells == NUM_CELLS == published["config"]["MVMFModule"]["num_of_mixtures"]


@pytest.mark.parametrize("part", list(FILES))
def test_each_part_matches_its_released_file(published: dict, meta_model: GeoLocModel, part: str) -> None:
    module = {"backbone": meta_model.backbone.base_cnn, "mvmf": meta_model.cls_head, "rrm": meta_model.rrm_head}[part]
    spec = published["files"][FILES[part]]
    assert layout(module) == spec["state_dict"]  # keys, shapes, dtypes (float64 mus/kappas) and order
    assert sum(p.numel() for p in module.parameters()) == spec["stats"]["n_parameters"]


def test_combined_model_matches_the_published_layout(published: dict, meta_model: GeoLocModel) -> None:
    assert layout(meta_model) == published["state_dict"]
    assert sum(p.numel() for p in meta_model.parameters()) == published["stats"]["n_parameters"]


def test_static_padding_is_the_packages_for_380(published: dict, meta_model: GeoLocModel) -> None:
    ours = meta_model.backbone.base_cnn.static_padding_table()
    assert ours == published["efficientnet_static_padding"]["convs"]  # names, kernels, strides, pads
    # Stride-2 layers on the maps 380 → 190 → 95 → 48 → 24: 0.7.0 pads total − total // 2 on both
    # sides, so the odd totals (1, 1, 3) give (1, 1), (1, 1), (2, 2), not TensorFlow's (0, 1), (1, 2).
    strided = {row[0]: row[4] for row in ours if row[3] == [2, 2]}
    assert strided == {
        "_conv_stem": [1, 1, 1, 1],
        "_blocks.2._depthwise_conv": [1, 1, 1, 1],
        "_blocks.6._depthwise_conv": [2, 2, 2, 2],
        "_blocks.10._depthwise_conv": [1, 1, 1, 1],
        "_blocks.22._depthwise_conv": [2, 2, 2, 2],
    }
    assert static_same_padding(380, 3, 2) == (1, 1) and static_same_padding(24, 5, 2) == (2, 2)
    assert same_padding(380, 3, 2) == (0, 1) and same_padding(24, 5, 2) == (1, 2)  # the pre-0.7 split
    assert static_same_padding(95, 5, 2) == same_padding(95, 5, 2) == (2, 2)


@pytest.mark.parametrize(
    "call, shape, expected",
    [
        ("extract_features", (2, 3, 300, 300), "base_cnn.extract_features_[2,3,300,300]"),
        ("backbone", (2, 3, 300, 300), "extract_features_[2,3,300,300]"),
        ("backbone", (1, 3, 300, 400), "backbone_features"),
    ],
)
def test_feature_shapes_at_300_pixels_are_the_recorded_ones(
    published: dict, meta_model: GeoLocModel, call: str, shape: tuple[int, ...], expected: str
) -> None:
    # the 380-pixel pads kept for a 300-pixel input: the last stride-2 stage ends on a 10 × 10 map
    images = torch.empty(shape, device="meta")
    backbone = meta_model.backbone
    out = backbone.base_cnn.extract_features(images) if call == "extract_features" else backbone(images)
    assert list(out.shape) == published["io"][expected]


def test_the_pads_fall_on_both_sides() -> None:
    conv = StaticSameConv2d(1, 1, 3, (4, 4), stride=2)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        out = conv(torch.ones(1, 1, 4, 4))[0, 0]
    # one zero row/column before and after: the first window covers 2 × 2 ones, the last 3 × 3
    assert out.tolist() == [[4.0, 6.0], [6.0, 9.0]]


def test_generic_variants_scale_like_the_package() -> None:
    with torch.device("meta"):
        b0 = efficientnet("efficientnet-b0", include_top=True)
    assert len(b0._blocks) == 16 and b0.out_channels == 1280
    assert b0._conv_stem.pads == (1, 1, 1, 1)  # 224 → 112: a total of 1, padded on both sides


# -- the MvMF head on a hand-made 3-cell example ---------------------------------------------------
CENTRES = [(0.0, 0.0), (45.0, 90.0), (-30.0, 170.0)]
KAPPAS = [5.0, 20.0, 50.0]


def small_head(weight: list[list[float]], bias: list[float], kappas: list[float] = KAPPAS) -> MvMFHead:
    head = MvMFHead(num_cells=3, in_features=2)
    with torch.no_grad():
        head.mvmf.mus.copy_(torch.tensor(CENTRES, dtype=torch.float64).T)
        head.mvmf.kappas.copy_(torch.log(torch.tensor(kappas, dtype=torch.float64)) - 16.0)
        head.mixture_weights.seq_model[0].weight.copy_(torch.tensor(weight))
        head.mixture_weights.seq_model[0].bias.copy_(torch.tensor(bias))
    return head.requires_grad_(False).eval()


def unit(lat: float, lon: float) -> tuple[float, float, float]:
    p, q = math.radians(lat), math.radians(lon)
    return math.cos(p) * math.cos(q), math.cos(p) * math.sin(q), math.sin(p)


def direct_density(weights: list[float], lat: float, lon: float, kappas: list[float] = KAPPAS) -> float:
    """Σ_m w_m κ_m exp(κ_m (x·μ_m − 1)) / (2π (1 − exp(−2κ_m))): the authors' formula, term by term."""
    x = unit(lat, lon)
    total = 0.0
    for w, (clat, clon), k in zip(weights, CENTRES, kappas, strict=True):
        cos = sum(a * b for a, b in zip(x, unit(clat, clon), strict=True))
        total += w * k * math.exp(k * (cos - 1)) / (2 * math.pi * (1 - math.exp(-2 * k)))
    return total


def test_cell_probabilities_are_the_softmax_and_sum_to_one() -> None:
    head = small_head([[1.0, -2.0], [0.5, 0.25], [-1.0, 3.0]], [0.1, 0.0, -0.3])
    features = torch.tensor([[0.7, -0.2]])
    probs = head(features)[0].tolist()
    logits = [1.0 * 0.7 + 2.0 * 0.2 + 0.1, 0.5 * 0.7 - 0.25 * 0.2, -0.7 - 0.6 - 0.3]
    expected = [math.exp(v) / sum(math.exp(u) for u in logits) for v in logits]
    assert probs == pytest.approx(expected, rel=1e-6)
    assert math.fsum(probs) == pytest.approx(1.0, abs=1e-12)
    # logits far beyond float32 exp range stay finite: log-sum-exp
    huge = head(torch.tensor([[1000.0, 0.0]]))[0]
    assert torch.isfinite(huge).all() and float(huge.sum()) == pytest.approx(1.0, abs=1e-12)
    lat, lon = head.cell_centres()
    assert head.predict(features)[0].tolist() == [lat[int(np.argmax(probs))], lon[int(np.argmax(probs))]]


def test_mixture_density_equals_the_direct_formula_and_integrates_to_one() -> None:
    head = small_head([[1.0, -2.0], [0.5, 0.25], [-1.0, 3.0]], [0.1, 0.0, -0.3])
    features = torch.tensor([[0.7, -0.2]])
    weights = head(features)[0].tolist()
    points = [(0.0, 0.0), (10.0, 5.0), (44.0, 91.0), (-31.0, 171.0), (-30.0, -175.0), (80.0, -60.0)]
    lat = torch.tensor([p[0] for p in points], dtype=torch.float64)
    lon = torch.tensor([p[1] for p in points], dtype=torch.float64)
    ours = torch.exp(head.log_density(features, lat, lon))[0].tolist()
    assert ours == pytest.approx([direct_density(weights, *p) for p in points], rel=1e-9)
    # a density per steradian: ∫ p dΩ = 1 (midpoint rule on a 0.25° grid)
    step = 0.25
    lats = torch.arange(-90 + step / 2, 90, step, dtype=torch.float64)
    lons = torch.arange(-180 + step / 2, 180, step, dtype=torch.float64)
    grid_lat, grid_lon = torch.meshgrid(lats, lons, indexing="ij")
    dens = torch.exp(head.log_density(features, grid_lat.flatten(), grid_lon.flatten()))[0]
    area = torch.cos(torch.deg2rad(grid_lat.flatten())) * math.radians(step) ** 2
    assert float((dens * area).sum()) == pytest.approx(1.0, abs=1e-4)


def test_density_stays_finite_at_the_released_concentrations() -> None:
    """κ = exp(0 + 16) ≈ 8.9 million (kappas = 0): 100 km from a centre the plain formula underflows to 0."""
    kappa = math.exp(16.0)
    head = small_head([[0.0, 0.0]] * 3, [0.0, 0.0, 0.0], kappas=[kappa] * 3)
    away = torch.tensor([0.9], dtype=torch.float64)  # 0.9° ≈ 100 km north of cell 0
    log_p = float(head.log_density(torch.zeros(1, 2), away, torch.zeros(1, dtype=torch.float64))[0, 0])
    assert direct_density([1 / 3] * 3, 0.9, 0.0, [kappa] * 3) == 0.0
    expected = math.log(1 / 3) + math.log(kappa / (2 * math.pi)) - 2 * kappa * math.sin(math.radians(0.45)) ** 2
    assert math.isfinite(log_p) and log_p == pytest.approx(expected, rel=1e-12)


def test_retrieval_head_is_normalised_layer_norm_residual() -> None:
    torch.manual_seed(1)
    head = RetrievalHead(dims=8, hidden_dims=16).eval()
    x = torch.randn(3, 8)
    with torch.no_grad():
        y = head.norm(x)
        manual = torch.nn.functional.layer_norm(head.res.fc2(torch.relu(head.res.fc1(y))) + y, (8,),
                                                head.res.norm.weight, head.res.norm.bias)
        out = head(x)
    assert torch.allclose(out, manual / manual.norm(dim=1, keepdim=True), atol=1e-6)


# -- preprocessing and localizability --------------------------------------------------------------
def test_resized_shape_follows_torchvision_resize_300() -> None:
    assert visloc.resized_shape(400, 600) == (300, 450)
    assert visloc.resized_shape(600, 400) == (450, 300)
    assert visloc.resized_shape(301, 1000) == (300, 996)  # truncated like torchvision, not rounded
    assert visloc.resized_shape(300, 300) == (300, 300)
    with pytest.raises(ValueError, match="too small"):
        visloc.resized_shape(4, 100)
    with pytest.raises(ValueError, match="too elongated"):
        visloc.resized_shape(20, 1000)


def test_preprocess_is_pil_bilinear_then_imagenet_normalisation(coffee: np.ndarray) -> None:
    x = visloc.preprocess(np.asarray(coffee))
    assert x.shape == (3, 300, 450) and x.dtype == np.float32
    resized = np.asarray(Image.fromarray(np.asarray(coffee)).resize((450, 300), Image.Resampling.BILINEAR))
    expected = (resized / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    assert np.allclose(x.transpose(1, 2, 0), expected, atol=1e-5)


def test_cell_centres_are_brought_into_range() -> None:
    lat, lon = visloc.normalized_latlon(np.array([91.0, 10.0, 0.0]), np.array([0.0, 190.0, -30.0]))
    assert lat == pytest.approx([89.0, 10.0, 0.0]) and lon == pytest.approx([180.0, -170.0, -30.0])


# -- installing and loading through the model store ------------------------------------------------
def test_unavailable_without_the_three_files(tmp_path: Path, astronaut: np.ndarray) -> None:
    store = ModelStore(user_dir=tmp_path / "empty")
    reason = visloc.VislocModel(store).unavailable_reason()
    assert reason is not None
    for model_id, name in zip(visloc.MODEL_IDS, FILES.values(), strict=True):
        assert f"model '{model_id}' not installed" in reason and name in reason
    with pytest.raises(ModelUnavailable, match="needs three files.*visloc_backbone"):
        visloc.cell_distribution(np.asarray(astronaut), "cpu", store)


@pytest.fixture(scope="module")
def released_like(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Raw state dicts saved from our random-init modules, as the authors released theirs (loading
    tests only). The head has 3 cells; a copy of our manifests tells the store so."""
    folder = tmp_path_factory.mktemp("download")
    torch.manual_seed(0)
    head = MvMFHead(num_cells=3)
    with torch.no_grad():
        head.mvmf.mus.copy_(torch.tensor(CENTRES, dtype=torch.float64).T)
    modules = {"backbone": build_backbone(), "mvmf": head, "rrm": RetrievalHead()}
    paths = {}
    for part, module in modules.items():
        paths[part] = folder / FILES[part]
        torch.save(module.state_dict(), paths[part])
    return paths


def small_store(tmp_path: Path, num_cells: int) -> ModelStore:
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    for model_id in visloc.MODEL_IDS:
        doc = json.loads((BUNDLED_DIR / f"{model_id}.json").read_text(encoding="utf-8"))
        if model_id == visloc.MVMF_ID:
            doc["network"]["num_cells"] = num_cells
        (bundled / f"{model_id}.json").write_text(json.dumps(doc), encoding="utf-8")
    return ModelStore(user_dir=tmp_path / "user", bundled_dir=bundled)


def install_all(store: ModelStore, paths: dict[str, Path]) -> None:
    for model_id, part in zip(visloc.MODEL_IDS, FILES, strict=True):
        store.install(model_id, paths[part], copy=False)


def test_released_layout_installs_and_gives_a_cell_distribution(
    tmp_path: Path, released_like: dict[str, Path], coffee: np.ndarray
) -> None:
    store = small_store(tmp_path, num_cells=3)
    install_all(store, released_like)
    model = visloc.VislocModel(store, short_side=64)  # the published 300 costs seconds on a CPU
    assert model.unavailable_reason() is None
    probs, lat, lon = model.cell_distribution(np.asarray(coffee))
    assert probs.dtype == np.float64 and probs.shape == (3,) and math.fsum(probs) == pytest.approx(1.0, abs=1e-12)
    assert lat.tolist() == pytest.approx([c[0] for c in CENTRES])
    assert lon.tolist() == pytest.approx([c[1] for c in CENTRES])
    saved = torch.load(released_like["backbone"], weights_only=True)
    loaded = model.backbone("cpu").state_dict()
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)  # strict load, every tensor
    embedding = model.embedding(np.asarray(coffee))
    assert embedding.shape == (1792,) and float(np.linalg.norm(embedding)) == pytest.approx(1.0, abs=1e-5)
    with torch.inference_mode():  # the authors' GeoLocModel.forward, assembled from the loaded parts
        prediction, cell_probs, embeddings = model.network("cpu")(torch.randn(1, 3, 64, 96))
    assert prediction.dtype == cell_probs.dtype == torch.float64
    assert prediction.shape == (1, 2) and cell_probs.shape == (1, 3) and embeddings.shape == (1, 1792)
    assert prediction[0].tolist() in [list(c) for c in CENTRES]


def test_a_head_of_another_size_is_refused(tmp_path: Path, released_like: dict[str, Path], coffee: np.ndarray) -> None:
    store = small_store(tmp_path, num_cells=4)  # like the 31,145-cell manifest with another release's head
    other_head = tmp_path / FILES["mvmf"]  # a file of its own: the store caches loaded modules by hash
    torch.manual_seed(5)
    torch.save(MvMFHead(num_cells=3).state_dict(), other_head)
    install_all(store, {**released_like, "mvmf": other_head})
    with pytest.raises(ModelUnavailable, match="visloc_mvmf.*do not fit"):
        visloc.VislocModel(store, short_side=64).cell_distribution(np.asarray(coffee))
