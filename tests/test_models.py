"""Model store: manifests, status (missing / installed / hash mismatch), install and removal,
safe loading of wrapped checkpoints, and the cached loaded module."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from workbench.core.models import (
    BUNDLED_DIR,
    ModelState,
    ModelStore,
    default_user_dir,
    loaded_model,
)
from workbench.core.plugin import ModelUnavailable

torch = pytest.importorskip("torch")


def write_manifest(folder: Path, model_id: str = "tiny", **fields: object) -> dict:
    doc = {
        "id": model_id,
        "title": "Tiny test network",
        "weights": f"{model_id}.pth",
        "sha256": None,
        "source": "https://example.org/tiny.zip",
        "wrapper_key": "model",
        "strip_prefix": "module.",
        **fields,
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{model_id}.json").write_text(json.dumps(doc), encoding="utf-8")
    return doc


def tiny_net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))


def save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    write_manifest(tmp_path / "bundled")
    return ModelStore(user_dir=tmp_path / "user", bundled_dir=tmp_path / "bundled")


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A training checkpoint in the common wrapper format, with a numpy scalar like real ones."""
    folder = tmp_path / "download"
    folder.mkdir()
    net = tiny_net()
    doc = {"model": net.state_dict(), "optimizer": adam_state(net), "epoch": 3, "loss": np.float64(0.1)}
    return save(doc, folder / "ckpt_3.pth")


def adam_state(net: torch.nn.Module) -> dict:
    """What `torch.optim.Adam(...).state_dict()` holds after training (built by hand: creating an
    optimizer imports torch's compiler stack, seconds on a small machine)."""
    params = list(net.parameters())
    state = {
        i: {"step": torch.tensor(3.0), "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
        for i, p in enumerate(params)
    }
    group = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "amsgrad": False,
             "maximize": False, "foreach": None, "capturable": False, "differentiable": False, "fused": None,
             "params": list(range(len(params)))}
    return {"state": state, "param_groups": [group]}


# -- manifests -----------------------------------------------------------------------------
def test_manifest_fields_and_extra(tmp_path: Path) -> None:
    write_manifest(tmp_path, input_size=[256, 256], paper="Someone 2023", network={"width": 8})
    manifest = ModelStore(tmp_path / "user", tmp_path).manifest("tiny")
    assert manifest.title == "Tiny test network"
    assert manifest.weights == "tiny.pth" and manifest.sha256 is None
    assert manifest.input_size == (256, 256)
    assert manifest.wrapper_key == "model" and manifest.strip_prefix == "module."
    assert manifest.licence == "see source"
    assert manifest.extra == {"paper": "Someone 2023", "network": {"width": 8}}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"weights": "../escape.pth"}, "plain file name"),
        ({"sha256": "abc"}, "64 hex digits"),
        ({"title": ""}, "'title'"),
    ],
)
def test_broken_manifest_is_reported_not_fatal(tmp_path: Path, fields: dict, problem: str) -> None:
    write_manifest(tmp_path, "good")
    write_manifest(tmp_path, "bad", **fields)
    store = ModelStore(tmp_path / "user", tmp_path)
    assert list(store.manifests()) == ["good"]
    assert problem in store.manifest_errors()["bad.json"]


def test_unknown_model_is_unavailable(store: ModelStore) -> None:
    with pytest.raises(ModelUnavailable, match="unknown model 'nope'"):
        store.status("nope")


def test_repository_manifests_parse() -> None:
    store = ModelStore(user_dir=Path("/nonexistent"), bundled_dir=BUNDLED_DIR)
    assert not store.manifest_errors()
    for manifest in store.manifests().values():
        assert not manifest.card or (BUNDLED_DIR.parent / manifest.card).is_file(), manifest.id
    assert {"msfusion_dct", "msfusion_sb", "msfusion_dct_sb"} <= set(store.manifests())


def test_default_user_dir_follows_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path))
    assert default_user_dir() == tmp_path / "models"
    assert ModelStore().user_dir == tmp_path / "models"


# -- status, install, remove ---------------------------------------------------------------
def test_missing_says_what_to_install(store: ModelStore) -> None:
    status = store.status("tiny")
    assert status.state is ModelState.MISSING
    assert "model 'tiny' not installed" in status.reason
    assert "tiny.pth from https://example.org/tiny.zip" in status.reason
    assert "workbench models install tiny FILE" in status.reason
    with pytest.raises(ModelUnavailable, match="not installed"):
        store.load_state_dict("tiny")


def test_install_copies_and_records_hash(store: ModelStore, checkpoint: Path) -> None:
    target = store.install("tiny", checkpoint)
    assert target == store.user_dir / "tiny.pth" and target.read_bytes() == checkpoint.read_bytes()
    status = store.status("tiny")
    assert status.state is ModelState.INSTALLED and status.sha256 == sha(checkpoint)
    registry = json.loads((store.user_dir / "installed.json").read_text())
    assert registry["models"]["tiny"]["sha256"] == sha(checkpoint)
    assert store.provenance("tiny") == {"id": "tiny", "sha256": sha(checkpoint)}


def test_changed_file_is_a_hash_mismatch(store: ModelStore, checkpoint: Path) -> None:
    target = store.install("tiny", checkpoint)
    target.write_bytes(target.read_bytes() + b"tampered")
    status = store.status("tiny")
    assert status.state is ModelState.HASH_MISMATCH
    assert "hash recorded at install" in status.reason
    with pytest.raises(ModelUnavailable, match="SHA-256"):
        store.load_state_dict("tiny")


def test_file_dropped_in_without_install_is_not_trusted(store: ModelStore, checkpoint: Path) -> None:
    store.user_dir.mkdir(parents=True)
    (store.user_dir / "tiny.pth").write_bytes(checkpoint.read_bytes())
    status = store.status("tiny")
    assert status.state is ModelState.MISSING and "no hash recorded" in status.reason


def test_install_refuses_a_file_with_another_hash(tmp_path: Path, checkpoint: Path) -> None:
    write_manifest(tmp_path / "bundled", sha256="0" * 64)
    store = ModelStore(tmp_path / "user", tmp_path / "bundled")
    with pytest.raises(ValueError, match="refusing ckpt_3.pth"):
        store.install("tiny", checkpoint)
    assert not (store.user_dir / "tiny.pth").exists()
    assert store.status("tiny").state is ModelState.MISSING


def test_manifest_hash_is_checked(tmp_path: Path, checkpoint: Path) -> None:
    write_manifest(tmp_path / "bundled", sha256=sha(checkpoint).upper())
    store = ModelStore(tmp_path / "user", tmp_path / "bundled")
    store.install("tiny", checkpoint)
    assert store.status("tiny").installed
    # bundled weights resolve first and are checked against the manifest's hash too
    (tmp_path / "bundled" / "tiny.pth").write_bytes(b"not the published file")
    status = store.status("tiny")
    assert status.state is ModelState.HASH_MISMATCH and "manifest's hash" in status.reason


def test_install_in_place_and_remove(store: ModelStore, checkpoint: Path) -> None:
    assert store.install("tiny", checkpoint, copy=False) == checkpoint.resolve()
    assert store.status("tiny").path == checkpoint.resolve()
    store.remove("tiny")
    assert checkpoint.exists(), "a file the user keeps elsewhere is never deleted"
    assert store.status("tiny").state is ModelState.MISSING

    copy = store.install("tiny", checkpoint)
    store.remove("tiny")
    assert not copy.exists()


# -- loading -------------------------------------------------------------------------------
def test_load_state_dict_unwraps_and_strips_prefix(store: ModelStore, tmp_path: Path) -> None:
    net = tiny_net()
    wrapped = torch.nn.DataParallel(net).state_dict()
    assert all(k.startswith("module.") for k in wrapped)
    path = save({"model": wrapped, "epoch": 1, "loss": np.float32(0.5)}, tmp_path / "dp.pth")
    store.install("tiny", path)
    state = store.load_state_dict("tiny")
    assert list(state) == list(net.state_dict())
    assert state["1.num_batches_tracked"].dtype == torch.int64
    fresh = tiny_net()
    fresh.load_state_dict(state, strict=True)
    assert torch.equal(fresh[0].weight, net[0].weight)


def test_load_numpy_scalars_of_a_training_checkpoint(store: ModelStore, checkpoint: Path) -> None:
    store.install("tiny", checkpoint)
    assert set(store.load_state_dict("tiny")) == set(tiny_net().state_dict())


def test_bare_state_dict_loads_too(store: ModelStore, tmp_path: Path) -> None:
    store.install("tiny", save(tiny_net().state_dict(), tmp_path / "bare.pth"))
    assert len(store.load_state_dict("tiny")) == len(tiny_net().state_dict())


class Payload:
    """Unpickling this would call os.system: weights_only must refuse it."""

    def __reduce__(self) -> tuple:
        import os

        return (os.system, ("echo pwned",))


def test_code_in_a_pickle_is_refused(store: ModelStore, tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"model": tiny_net().state_dict(), "extra": Payload()}, path)
    store.install("tiny", path)
    with pytest.raises(ModelUnavailable, match="cannot be loaded safely"):
        store.load_state_dict("tiny")


def test_file_without_tensors_is_unavailable(store: ModelStore, tmp_path: Path) -> None:
    store.install("tiny", save({"model": {"epoch": 3}}, tmp_path / "empty.pth"))
    with pytest.raises(ModelUnavailable, match="no state dict of tensors under the key 'model'"):
        store.load_state_dict("tiny")


def test_safetensors_file(tmp_path: Path) -> None:
    write_manifest(tmp_path / "bundled", weights="tiny.safetensors", wrapper_key=None)
    store = ModelStore(tmp_path / "user", tmp_path / "bundled")
    path = tmp_path / "w.safetensors"
    try:
        from safetensors.torch import save_file
    except ImportError:
        path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
        store.install("tiny", path)
        with pytest.raises(ModelUnavailable, match="install the 'safetensors' package"):
            store.load_state_dict("tiny")
        return
    save_file(tiny_net().state_dict(), str(path))
    store.install("tiny", path)
    assert set(store.load_state_dict("tiny")) == set(tiny_net().state_dict())


def test_loaded_model_is_cached_by_hash(store: ModelStore, checkpoint: Path, tmp_path: Path) -> None:
    store.install("tiny", checkpoint)
    first = loaded_model(store, "tiny", tiny_net)
    assert not first.training
    assert loaded_model(store, "tiny", tiny_net) is first
    other = save({"model": tiny_net().state_dict()}, tmp_path / "other.pth")
    store.install("tiny", other)
    assert loaded_model(store, "tiny", tiny_net) is not first


def test_loaded_model_refuses_weights_of_another_network(store: ModelStore, checkpoint: Path) -> None:
    store.install("tiny", checkpoint)
    with pytest.raises(ModelUnavailable, match="do not fit the network"):
        loaded_model(store, "tiny", lambda: torch.nn.Conv2d(3, 8, 3))


def test_manifest_can_allow_training_arguments_but_nothing_unsafe(tmp_path: Path) -> None:
    import argparse

    net = tiny_net()
    path = save({"model": net.state_dict(), "args": argparse.Namespace(lr=0.1, name="x")}, tmp_path / "a.pth")
    plain = ModelStore(user_dir=tmp_path / "u1", bundled_dir=tmp_path / "b1")
    write_manifest(tmp_path / "b1")
    plain.install("tiny", path)
    with pytest.raises(ModelUnavailable, match="cannot be loaded safely"):
        plain.load_state_dict("tiny")
    allowing = ModelStore(user_dir=tmp_path / "u2", bundled_dir=tmp_path / "b2")
    write_manifest(tmp_path / "b2", pickled_globals=["argparse.Namespace"])
    allowing.install("tiny", path)
    assert set(allowing.load_state_dict("tiny")) == set(net.state_dict())
    unsafe = ModelStore(user_dir=tmp_path / "u3", bundled_dir=tmp_path / "b3")
    write_manifest(tmp_path / "b3", pickled_globals=["os.system"])
    unsafe.install("tiny", path)
    with pytest.raises(ModelUnavailable, match="unsafe classes"):
        unsafe.load_state_dict("tiny")
