"""The fusion localiser: any subset of signals works, the committed weights verify and load, a
missing or altered weights file gives 'unavailable' (never a score), and a splice stands out."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from analyzer_runs import bundle_model
from PIL import Image

from plugins.localization import fusion
from workbench.core.media import open_media
from workbench.core.models import ModelStore
from workbench.core.plugin import RunContext, run_analyzer
from workbench.core.results import Heatmap, Result, Status
from workbench.synthetic import Recipe, make_sample, source_photos
from workbench.synthetic.photos import SKIMAGE_PHOTOS
from workbench.synthetic.splits import VALIDATION, fusion_role

torch = pytest.importorskip("torch")

MODELS = Path(__file__).resolve().parents[1] / "models"
MANIFEST = MODELS / "fusion_default.json"


def manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def run_fusion(path: Path, **params: object) -> Result:
    analyzer = fusion.FusionAnalyzer()
    return run_analyzer(analyzer, open_media(path), analyzer.params_from(params), RunContext())


def store_with(monkeypatch: pytest.MonkeyPatch, folder: Path, weights: bytes | None) -> None:
    bundle_model(monkeypatch, fusion, folder, MANIFEST, weights)


def test_network_accepts_any_subset_of_signals() -> None:
    from plugins.localization.fusion_net import FusionConfig, FusionNet

    torch.manual_seed(0)
    net = FusionNet(FusionConfig(num_signals=4, width=8)).eval()
    rgb, maps = torch.rand(5, 3, 64, 96), torch.rand(5, 4, 64, 96)
    present = torch.tensor([[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 1]], dtype=torch.bool)
    with torch.no_grad():
        logits, image = net(rgb, maps, present)
        assert logits.shape == (5, 1, 64, 96) and image.shape == (5,)
        assert torch.isfinite(logits).all() and torch.isfinite(image).all()
        # an absent signal is excluded, not read: changing its map changes nothing
        altered = maps.clone()
        altered[~present] = torch.rand_like(altered[~present])
        logits2, image2 = net(rgb, altered, present)
    assert torch.allclose(logits, logits2) and torch.allclose(image, image2)


def test_the_image_head_reads_each_signals_statistics() -> None:
    from plugins.localization.fusion_net import FusionConfig, FusionNet, signal_stats

    maps = torch.zeros(1, 2, 10, 10)
    maps[0, 0, :2, :5] = 1.0  # 10 % of the pixels bright
    maps[0, 1] = 0.9
    stats = signal_stats(maps, torch.tensor([[True, False]]))
    # per map: p99 − median, max, share ≥ 0.5 (zeros where absent), then the presence flags
    assert torch.allclose(stats[0], torch.tensor([1.0, 1.0, 0.1, 0.0, 0.0, 0.0, 1.0, 0.0]))
    torch.manual_seed(0)
    net = FusionNet(FusionConfig(num_signals=2, width=8, image_stats=True)).eval()
    rgb, present = torch.rand(1, 3, 64, 64), torch.tensor([[True, True]])
    quiet = torch.zeros(1, 2, 64, 64)
    bright = quiet.clone()
    bright[0, 1, :8, :8] = 1.0
    with torch.no_grad():
        assert net(rgb, quiet, present)[1] != net(rgb, bright, present)[1]
    # a model of version 2.0 (no statistics) still loads: its state has no standardisation buffers
    old = FusionNet(FusionConfig(num_signals=2, width=8)).state_dict()
    assert "head_mean" not in old and "head_mean" in net.state_dict()


def test_committed_weights_match_the_manifest() -> None:
    doc = manifest()
    weights = MODELS / doc["weights"]
    assert weights.stat().st_size < 5_000_000
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == doc["sha256"]
    assert ModelStore().status("fusion_default").installed
    assert [s["id"] for s in doc["signals"]] and doc["network"]["num_signals"] == len(doc["signals"])
    model = fusion.load_model("cpu")
    assert [s.to_dict() for s in model.signals] == doc["signals"]


def test_the_manifest_signals_are_registered_at_their_versions() -> None:
    from workbench.core import registry

    for spec in manifest()["signals"]:
        assert registry.get(spec["id"]).version == spec["version"], spec["id"]


def sample_inputs(model: fusion.LoadedModel, folder: Path, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The RGB input and every signal map of `model` on a generated JPEG (320 px long side, a scene the
    network never saw): `kind` "splice", or "pristine" for its unedited twin (same host view and chain)."""
    photos = [p for p in source_photos() if p.name in ("chelsea.png", "coins.png")]
    sample = make_sample(3, 0, kind, Recipe(size_range=(320, 320), p_jpeg=1.0), photos)
    data, suffix = sample.encoded()
    path = folder / f"{kind}{suffix}"
    path.write_bytes(data)
    media = open_media(path)
    shape = (media.height, media.width)
    maps, present, absent = fusion.signal_inputs(media, list(model.signals), shape, RunContext())
    assert present.all(), absent  # every signal (layers included) computes on a JPEG
    return fusion.rgb_input(media, shape), maps


@pytest.fixture(scope="module")
def committed_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[fusion.LoadedModel, np.ndarray, np.ndarray]:
    """The committed model, and the inputs its signals give on a spliced JPEG."""
    model = fusion.load_model("cpu")
    return model, *sample_inputs(model, tmp_path_factory.mktemp("fusion"), "splice")


@pytest.fixture(scope="module")
def twin_inputs(
    committed_inputs: tuple[fusion.LoadedModel, np.ndarray, np.ndarray], tmp_path_factory: pytest.TempPathFactory
) -> tuple[np.ndarray, np.ndarray]:
    """The same inputs on the splice's unedited twin."""
    return sample_inputs(committed_inputs[0], tmp_path_factory.mktemp("fusion"), "pristine")


@pytest.mark.parametrize("subset", ["none", "each", "halves", "all"])
def test_any_subset_of_the_committed_signals_gives_a_map(
    committed_inputs: tuple[fusion.LoadedModel, np.ndarray, np.ndarray], subset: str
) -> None:
    model, rgb, maps = committed_inputs
    k = len(model.signals)
    masks = {
        "none": [np.zeros(k, bool)],
        "each": list(np.eye(k, dtype=bool)),
        "halves": [np.arange(k) % 2 == 0, np.arange(k) % 2 == 1, np.arange(k) < k // 2],
        "all": [np.ones(k, bool)],
    }[subset]
    for present in masks:
        heat, score = fusion.predict(model.net, rgb, maps, present, "cpu")
        assert heat.shape == maps.shape[1:] and np.isfinite(heat).all()
        assert 0.0 <= float(heat.min()) and float(heat.max()) <= 1.0 and 0.0 <= score <= 1.0


def test_mirrored_evidence_gets_the_mirrored_map_and_the_same_score(
    committed_inputs: tuple[fusion.LoadedModel, np.ndarray, np.ndarray],
) -> None:
    # Version 3.2 averages the four mirrored views; one pass of the network is not mirror-equivariant.
    from plugins.localization.fusion_net import members

    model, rgb, maps = committed_inputs
    present = np.ones(len(model.signals), bool)
    heat, score = fusion.predict(model.net, rgb, maps, present, "cpu")
    flipped, flipped_score = fusion.predict(model.net, rgb[:, :, ::-1], maps[:, :, ::-1], present, "cpu")
    np.testing.assert_allclose(flipped[:, ::-1], heat, atol=1e-5)
    assert flipped_score == pytest.approx(score, abs=1e-5)
    net = members(model.net)[0]
    once, _ = fusion.predict_once(net, rgb, maps, present, "cpu")
    once_flipped, _ = fusion.predict_once(net, rgb[:, :, ::-1], maps[:, :, ::-1], present, "cpu")
    assert np.abs(once_flipped[:, ::-1] - once).max() > 1e-3


def test_an_ensemble_averages_its_members_readings() -> None:
    from plugins.localization.fusion_net import FusionConfig, FusionNet, build, members

    torch.manual_seed(0)
    config = FusionConfig(num_signals=3, width=8, image_stats=True, members=2)
    net = build(config).eval()
    assert all(key.startswith(("members.0.", "members.1.")) for key in net.state_dict())
    build(config).load_state_dict(net.state_dict(), strict=True)
    with pytest.raises(ValueError, match="one member"):
        FusionNet(config)
    rng = np.random.default_rng(0)
    rgb, maps = rng.random((3, 40, 56), dtype=np.float32), rng.random((3, 40, 56), dtype=np.float32)
    present = np.array([True, False, True])
    heat, score = fusion.predict(net, rgb, maps, present, "cpu")
    readings = [fusion.predict(member, rgb, maps, present, "cpu") for member in members(net)]
    assert np.abs(readings[0][0] - readings[1][0]).max() > 1e-3  # two networks, two readings
    np.testing.assert_allclose(heat, np.mean([h for h, _ in readings], axis=0), atol=1e-6)
    assert score == pytest.approx(np.mean([s for _, s in readings]), abs=1e-6)


@pytest.mark.parametrize("chosen", ["noise_trace", "even half"])
def test_the_image_score_holds_for_a_subset_of_signals(
    committed_inputs: tuple[fusion.LoadedModel, np.ndarray, np.ndarray], twin_inputs: tuple[np.ndarray, np.ndarray],
    chosen: str,
) -> None:
    # Fusion 3.0's head, fitted with every signal present, answered 1.00 for any image once a user
    # chose a subset. Measured (3.3): the noise trace alone, splice 0.60 against its twin 0.54; the
    # even half of the signals 0.33 against 0.07.
    model, rgb, maps = committed_inputs
    ids = [s.id for s in model.signals]
    present = np.array([i == "noise_trace" for i in ids]) if chosen == "noise_trace" else np.arange(len(ids)) % 2 == 0
    _, spliced = fusion.predict(model.net, rgb, maps, present, "cpu")
    _, unedited = fusion.predict(model.net, *twin_inputs, present, "cpu")
    assert unedited <= 0.6 and spliced >= unedited + 0.03, (spliced, unedited)


def candidate_keys() -> list[str]:
    """Every photo the split rule may see: scikit-image's and the calibration bench's (by name, so the
    test does not depend on which packages are installed)."""
    from bench.calibration import SOURCES

    return list(dict.fromkeys([*(f"scikit-image/{n}" for n in SKIMAGE_PHOTOS),
                               *(f"{s.label}/{n}" for s in SOURCES for n in s.names)]))


def test_the_photo_split_keeps_training_photos_out_of_evaluation_and_calibration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import bench.localization as bench
    from bench.calibration import SOURCES, Photo, excluded_for

    keys = candidate_keys()
    roles = {k: fusion_role(k) for k in keys}
    train = {k for k, r in roles.items() if r == "train"}
    assert {k for k, r in roles.items() if r == "validation"} == VALIDATION
    assert len(train) >= 20 and sum(r == "held_out" for r in roles.values()) >= 15
    # two views of one scene fall on the same side
    for a, b in (("aero1.jpg", "aero3.jpg"), ("graf1.png", "graf3.png"), ("leuvenA.jpg", "leuvenB.jpg")):
        assert fusion_role(f"opencv-doc/{a}") == fusion_role(f"opencv-doc/{b}")
    # the calibration table leaves out exactly the training photos among its own
    left_out, _ = excluded_for("fusion")
    assert left_out == {f"{s.label}/{n}" for s in SOURCES for n in s.names} & train
    # the localisation benches read held-out photos only (here from a stand-in collection)
    fake = [Photo(k.split("/")[0], tmp_path / k) for k in keys]
    monkeypatch.setattr(bench, "collect", lambda: (fake, {}))
    evaluated = set(bench.evaluation_photos())
    assert evaluated and all(roles[p.key] == "held_out" for p in fake if p.path in evaluated)


def test_the_committed_model_was_trained_on_the_split_it_records() -> None:
    split = manifest()["training"]["photo_split"]
    assert all(fusion_role(k) == "train" for k in split["train"])
    assert all(fusion_role(k) == "validation" for k in split["validation"])
    # the rule has not moved since training: the same candidates give the same training photos
    assert set(split["train"]) == {k for k in candidate_keys() if fusion_role(k) == "train"}


def test_unavailable_without_the_weights_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, jpeg_photo: Path
) -> None:
    store_with(monkeypatch, tmp_path, None)
    result = run_fusion(jpeg_photo)
    assert result.status is Status.UNAVAILABLE and result.score is None
    assert "fusion_default" in result.message


def test_unavailable_when_the_weights_are_altered(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, jpeg_photo: Path
) -> None:
    data = bytearray((MODELS / "fusion_default.pt").read_bytes())
    data[-100] ^= 0xFF
    store_with(monkeypatch, tmp_path, bytes(data))
    result = run_fusion(jpeg_photo)
    assert result.status is Status.UNAVAILABLE and result.score is None
    assert "SHA-256" in result.message


def test_unavailable_when_the_manifest_lists_no_network(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, jpeg_photo: Path
) -> None:
    doc = manifest()
    doc["network"]["members"] = 0
    edited = tmp_path / "edited" / MANIFEST.name
    edited.parent.mkdir()
    edited.write_text(json.dumps(doc), encoding="utf-8")
    bundle_model(monkeypatch, fusion, tmp_path, edited, (MODELS / doc["weights"]).read_bytes())
    result = run_fusion(jpeg_photo)
    assert result.status is Status.UNAVAILABLE and result.score is None
    assert "lists 0 networks" in result.message


def test_splice_stands_out_with_the_committed_weights(evidence_dir: Path) -> None:
    # a double-JPEG splice (first save q 70-80, second q 90-95, same grid) made from a
    # validation photo, i.e. a scene the network never saw in training
    photos = [p for p in source_photos() if p.name in ("chelsea.png", "rocket.jpg", "coins.png")]
    recipe = Recipe(size_range=(384, 448), p_double_jpeg=1.0, p_misaligned=0.0, q1=(70, 80), q2=(90, 95))
    sample = make_sample(100, 0, "splice", recipe, photos)
    data, suffix = sample.encoded()
    path = evidence_dir / f"splice{suffix}"
    path.write_bytes(data)
    result = run_fusion(path)
    assert result.status is Status.OK, result.message
    assert isinstance(result, Heatmap)
    heat, mask = result.map, sample.mask
    assert heat.shape == mask.shape and heat.dtype == np.float32
    assert 0.0 <= float(heat.min()) and float(heat.max()) <= 1.0
    assert result.stats["signals_present"] >= 7  # every trained signal but cfa while it is not registered
    assert set(result.stack) == {f"input: {k[len('present.'):]}" for k, v in result.stats.items()
                                 if k.startswith("present.") and v == 1.0}
    inside, outside = float(heat[mask].mean()), float(heat[~mask].mean())
    # Measured (version 3.3): inside 0.83, outside 0.01, score 0.98 — higher than 84 % of the 19
    # unedited photos of its calibration table (their median 0.57)
    assert inside >= outside + 0.7, (inside, outside)
    assert result.score >= 0.8


def test_a_subset_of_signals_and_a_png(png_image: Path) -> None:
    result = run_fusion(png_image, signals="ela,noise_median")
    assert result.status is Status.OK, result.message
    assert result.stats["present.ela"] == 1.0 and result.stats["present.noise_median"] == 1.0
    # choosing an analyzer chooses every input the model reads from it: here its noise level layer too
    assert result.stats["present.noise_median (noise level)"] == 1.0
    assert result.stats["signals_present"] == 3.0
    assert result.map.shape == (400, 600)


def test_jpeg_only_signals_on_a_png_are_absent_in_words(png_image: Path) -> None:
    result = run_fusion(png_image, signals="ela,adq")
    assert result.status is Status.OK and result.stats["signals_present"] == 1.0
    assert "absent: adq: reads JPEG or MPO files only" in result.message
    assert "Error" not in result.message and "(at " not in result.message  # not the analyzers' exceptions


def test_unknown_signal_is_an_error(png_image: Path) -> None:
    result = run_fusion(png_image, signals="ela,telepathy")
    assert result.status is Status.ERROR and "telepathy" in result.message


def test_tiny_image_gives_a_valid_map(evidence_dir: Path) -> None:
    path = evidence_dir / "tiny.png"
    Image.fromarray(np.full((6, 5, 3), 128, np.uint8)).save(path)
    result = run_fusion(path)
    assert result.status is Status.OK, result.message
    assert result.map.shape == (6, 5) and np.isfinite(result.map).all()


def test_an_earlier_signal_version_is_read_from_the_layer_that_keeps_its_map(png_image: Path) -> None:
    """noise_wavelet 2.0 maps the two-sided deviation and keeps 1.0's level map as a layer: a model
    trained on 1.0 reads that layer; a version with no such layer is absent."""
    from plugins.localization.noise import LEVEL_LAYER, NoiseWaveletAnalyzer

    media, shape = open_media(png_image), (100, 150)
    specs = [fusion.SignalSpec("noise_wavelet", v, {}) for v in ("1.0", NoiseWaveletAnalyzer.version, "0.9")]
    maps, present, absent = fusion.signal_inputs(media, specs, shape, RunContext())
    analyzer = NoiseWaveletAnalyzer()
    result = run_analyzer(analyzer, media, analyzer.params_from({}), RunContext())
    np.testing.assert_array_equal(maps[0], np.clip(fusion.shrink(result.stack[LEVEL_LAYER], shape), 0.0, 1.0))
    np.testing.assert_array_equal(maps[1], np.clip(fusion.shrink(result.map, shape), 0.0, 1.0))
    assert not np.array_equal(maps[0], maps[1])
    assert present.tolist() == [True, True, False] and "trained on 0.9" in absent["noise_wavelet"]
