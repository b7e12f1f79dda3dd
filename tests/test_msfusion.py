"""Multi-stream fusion localiser: our network has the published checkpoints' exact layout, a
checkpoint in the authors' format installs and loads strictly, the analyzer is 'unavailable'
without weights and produces a full-size map with them (random weights: a loading test only,
never a detector), and the DCT signal agrees with the reference toolbox."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from analyzer_runs import reference_json
from PIL import Image
from skimage.metrics import structural_similarity

from plugins.localization.common import luminance, normalize
from plugins.localization.msfusion import (
    MsFusionDctAnalyzer,
    MsFusionDctSbAnalyzer,
    MsFusionSbAnalyzer,
    dct_artifact_map,
    jet,
    network_shape,
)
from workbench.app.sample import decode, jpeg_bytes, load_photo
from workbench.core.media import open_media
from workbench.core.models import ModelStore, loaded_model
from workbench.core.plugin import RunContext, run_analyzer
from workbench.core.results import Heatmap, Status

torch = pytest.importorskip("torch")
from plugins.localization.msfusion_net import VARIANTS, build  # noqa: E402 - needs torch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference"
TOOLBOX = SHARED / "toolbox"
ANALYZERS = {"dct": MsFusionDctAnalyzer, "sb": MsFusionSbAnalyzer, "dct_sb": MsFusionDctSbAnalyzer}


@pytest.fixture(scope="module")
def published() -> dict:
    return reference_json("checkpoints/msfusion.json")


@pytest.fixture(scope="module")
def nets() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {variant: build(variant).eval() for variant in VARIANTS}


def authors_checkpoint(net: torch.nn.Module, path: Path) -> Path:
    """A file in the layout of the authors' training script: the state dict under 'model', the
    optimizer's state (an untrained Adam's, built by hand), the epoch and a numpy float loss."""
    group = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "amsgrad": False,
             "params": list(range(len(list(net.parameters()))))}
    doc = {"model": net.state_dict(), "optimizer": {"state": {}, "param_groups": [group]}, "epoch": 3,
           "loss": np.float64(0.1)}
    torch.save(doc, path)
    return path


@pytest.fixture(scope="module")
def checkpoints(nets: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random-initialised networks saved as if they were the released files (loading tests only)."""
    folder = tmp_path_factory.mktemp("download")
    return {variant: authors_checkpoint(net, folder / f"ckpt_{variant}.pth") for variant, net in nets.items()}


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty user data folder, so the repository's manifests resolve to no installed weights."""
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def jpeg_media(tmp_path: Path, rgb: np.ndarray, name: str = "photo.jpg", quality: int = 85):
    path = tmp_path / name
    path.write_bytes(jpeg_bytes(rgb, quality))
    return open_media(path)


def run(analyzer, media, **params) -> Heatmap:  # noqa: ANN001
    return run_analyzer(analyzer, media, analyzer.params_from(params), RunContext())


# -- the network ---------------------------------------------------------------------------
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_state_dict_matches_the_published_layout(published: dict, nets: dict, variant: str) -> None:
    spec = published["variants"][variant]
    ours = [[k, list(t.shape), str(t.dtype).removeprefix("torch.")] for k, t in nets[variant].state_dict().items()]
    assert ours == spec["state_dict"]  # keys, shapes, dtypes (int64 num_batches_tracked) and order
    assert sum(p.numel() for p in nets[variant].parameters()) == spec["stats"]["n_parameters"]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_forward_follows_the_published_io(published: dict, nets: dict, variant: str) -> None:
    io = published["variants"][variant]["io"]
    assert len(io["inputs"]) == 1 + len(VARIANTS[variant].streams)
    batch, _, height, width = io["inputs"][0]
    assert io["output"] == [batch, height, width]
    small = [torch.randn(batch, 3, 32, 64) for _ in io["inputs"]]  # the published 256² scaled down
    with torch.inference_mode():
        out = nets[variant](*small)
    assert list(out.shape) == [batch, 32, 64] and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_input_must_be_a_multiple_of_32(nets: dict) -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        nets["dct"](torch.zeros(1, 3, 48, 64), torch.zeros(1, 3, 48, 64))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_authors_checkpoint_installs_and_loads_strictly(
    nets: dict, checkpoints: dict, tmp_path: Path, variant: str
) -> None:
    store = ModelStore(user_dir=tmp_path / "models")
    store.install(f"msfusion_{variant}", checkpoints[variant])
    loaded = loaded_model(store, f"msfusion_{variant}", lambda: build(variant))
    for (name, ours), theirs in zip(loaded.state_dict().items(), nets[variant].state_dict().values(), strict=True):
        assert torch.equal(ours, theirs), name


# -- the analyzer --------------------------------------------------------------------------
def test_unavailable_without_the_checkpoint(data_dir: Path, tmp_path: Path) -> None:
    media = jpeg_media(tmp_path, load_photo("astronaut.png")[:96, :128])
    for analyzer in (cls() for cls in ANALYZERS.values()):
        result = run(analyzer, media)
        assert result.status is Status.UNAVAILABLE and result.score is None
        assert f"'{analyzer.models[0]}' not installed" in result.message
        assert "checkpoints.zip" in result.message


def install(checkpoints: dict, *variants: str) -> None:
    """Record the test files in the user's store (kept in place: copying is tested above)."""
    store = ModelStore()
    for variant in variants:
        store.install(f"msfusion_{variant}", checkpoints[variant], copy=False)


def test_dct_variant_maps_the_whole_image(data_dir: Path, checkpoints: dict, tmp_path: Path) -> None:
    install(checkpoints, "dct")
    media = jpeg_media(tmp_path, load_photo("astronaut.png")[:120, :170])
    result = run(MsFusionDctAnalyzer(), media, short_side=64)
    assert result.status is Status.OK, result.message
    assert result.map.shape == (120, 170) and result.map.dtype == np.float32
    assert 0.0 <= result.map.min() <= result.map.max() <= 1.0
    assert result.mask.dtype == bool and result.mask.shape == (120, 170)
    assert result.score == pytest.approx(result.stats["max_output"], abs=1e-4)
    assert "not a calibrated probability" in result.score_meaning
    assert (result.stats["network_height"], result.stats["network_width"]) == (64.0, 96.0)
    assert list(result.stack) == ["DCT blocking artifacts (network input)"]
    assert result.stack["DCT blocking artifacts (network input)"].shape == (120, 170)


def test_splicebuster_variants_run_on_a_png(data_dir: Path, checkpoints: dict, tmp_path: Path) -> None:
    install(checkpoints, "sb", "dct_sb")
    path = tmp_path / "photo.png"
    Image.fromarray(load_photo("astronaut.png")[:256, :256]).save(path)
    for analyzer in (MsFusionSbAnalyzer(), MsFusionDctSbAnalyzer()):
        result = run(analyzer, open_media(path), short_side=64)
        assert result.status is Status.OK, result.message
        assert result.map.shape == (256, 256)
        assert "Splicebuster (network input)" in result.stack


def test_tiny_image_is_a_clear_error(data_dir: Path, tmp_path: Path) -> None:
    result = run(MsFusionDctAnalyzer(), jpeg_media(tmp_path, load_photo("astronaut.png")[:20, :20]))
    assert result.status is Status.ERROR and "too small" in result.message


def test_network_shape() -> None:
    assert network_shape(1080, 1920, 256) == (256, 448)
    assert network_shape(300, 200, 256) == (384, 256)
    assert network_shape(100, 10_000, 256) == (32, 2048)  # long side capped


def test_jet_matches_matlab_ends_and_middle() -> None:
    assert jet(np.array([0.0, 0.5, 1.0])).tolist() == [[0, 0, 128], [128, 255, 128], [128, 0, 0]]


# -- the DCT signal ------------------------------------------------------------------------
def test_dct_signal_agrees_with_the_toolbox() -> None:
    if not (TOOLBOX / "168_DCT.mat").is_file():
        pytest.skip(f"reference toolbox outputs not found in {TOOLBOX}")
    reference = scipy.io.loadmat(TOOLBOX / "168_DCT.mat")["OutputMap"].astype(np.float32)
    media = open_media(TOOLBOX / "168_image.jpg")
    from plugins.localization.common import decoded_luma

    ours = dct_artifact_map(decoded_luma(media))
    ours = cv2.resize(ours, reference.shape[::-1], interpolation=cv2.INTER_AREA)
    ssim = structural_similarity(normalize(ours), normalize(reference), data_range=1.0)
    print(f"DCT signal vs toolbox on 168_image: SSIM {ssim:.3f}")
    assert ssim > 0.80  # measured 0.816


def test_dct_signal_marks_a_single_compressed_splice() -> None:
    host, donor = load_photo("astronaut.png"), load_photo("coffee.png")
    spliced = decode(jpeg_bytes(host, 70)).copy()
    spliced[200:328, 200:328] = donor[90:218, 190:318]  # uncompressed patch, block aligned
    blocks = dct_artifact_map(luminance(decode(jpeg_bytes(spliced, 90))).astype(np.float64))
    inside = np.zeros(blocks.shape, bool)
    inside[25:41, 25:41] = True
    ratio = blocks[inside].mean() / blocks[~inside].mean()
    print(f"DCT signal inside/outside a 70 → 90 splice: {ratio:.2f}")
    assert ratio > 2.0  # measured 2.43
