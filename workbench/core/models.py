"""The model store: manifests of the learned components, verified weights, safe loading.

Every learned component is described by a JSON manifest in the repository's `models/` folder
(format in `models/README.md`). Its weights file resolves, in this order, from

1. the bundled `models/` folder (small weights the project trains itself), or the folder of a
   plugin's manifest (`Plugin.model_manifests`: a plugin may ship small weights beside them),
2. the user's models folder (`<data folder>/models`, where `install` copies a file),
3. a file the user chose to keep where it is (`install(..., copy=False)`), recorded in the
   registry of the user's models folder.

A file is used only when its SHA-256 matches: the manifest's hash when the authors publish one,
otherwise the hash recorded when the user installed the file. Loading never unpickles code
(`torch.load(weights_only=True)` or safetensors). Analyzers turn a missing or failing model into
`ModelUnavailable`, which `run_analyzer` reports as an 'unavailable' result, never a score.

The user's models folder is `<data folder>/models` (`workbench.core.paths.data_dir`); tests and
the GUI may pass any folder to `ModelStore` instead. Models the user trains (`workbench.training`)
are registered there too: their manifest goes to `<user models folder>/manifests/` and their weights
beside the registry, and the store then lists and loads them like any bundled model.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from workbench.core.hashing import sha256_file
from workbench.core.paths import data_dir
from workbench.core.plugin import ModelUnavailable

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "models"
REGISTRY_FILE = "installed.json"
USER_MANIFESTS = "manifests"
"""Folder of the user's models folder holding the manifests of models trained on this machine."""
INSTALL_HINT = "Settings ▸ Models or `workbench models install {id} FILE`"
TEST_MODEL_LABEL = "TEST MODEL - not for casework"
"""How the GUI, the CLI and the report label a model whose manifest says "test_model": true (trained by
the workbench's pipeline on a tiny or generated set: it proves the pipeline, not the evidence)."""
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_KNOWN_KEYS = {
    "id", "title", "architecture", "weights", "sha256", "licence", "source", "source_file",
    "input_size", "calibration", "card", "wrapper_key", "strip_prefix", "package",
}


def default_user_dir() -> Path:
    """`<data folder>/models`; `WORKBENCH_DATA_DIR` overrides the data folder (tests, portable use)."""
    return data_dir() / "models"


class ModelState(StrEnum):
    INSTALLED = "installed"
    MISSING = "missing"
    HASH_MISMATCH = "hash mismatch"


class WrongFile(ValueError):
    """A file that cannot be loaded as the model's weights; `install_checked` did not keep it."""


@dataclass(frozen=True)
class ModelStatus:
    state: ModelState
    reason: str
    path: Path | None = None
    sha256: str | None = None

    @property
    def installed(self) -> bool:
        return self.state is ModelState.INSTALLED


@dataclass(frozen=True)
class Manifest:
    """One learned component. Keys this class does not know stay available in `extra`."""

    id: str
    title: str
    weights: str
    architecture: str = ""
    sha256: str | None = None
    licence: str = "see source"
    source: str = ""
    source_file: str = ""
    input_size: tuple[int, ...] | None = None
    calibration: str = ""
    card: str = ""
    wrapper_key: str | None = None
    strip_prefix: str | None = None
    package: str | None = None
    """Where an installed Python package ships the weights file: "top_package/sub/folder"."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_test_model(self) -> bool:
        """True when the manifest says "test_model": true (see TEST_MODEL_LABEL)."""
        return self.extra.get("test_model") is True

    @staticmethod
    def from_dict(doc: dict[str, Any]) -> Manifest:
        """Validate a parsed manifest; ValueError names the first problem."""
        for key in ("id", "title", "weights"):
            if not isinstance(doc.get(key), str) or not doc[key].strip():
                raise ValueError(f"manifest needs a non-empty string '{key}'")
        weights = doc["weights"]
        if Path(weights).name != weights or weights in (".", ".."):
            raise ValueError(f"'weights' must be a plain file name, not a path: {weights!r}")
        sha = doc.get("sha256")
        if sha is not None and (not isinstance(sha, str) or not _SHA256.match(sha.lower())):
            raise ValueError(f"'sha256' must be null or 64 hex digits, got {sha!r}")
        size = doc.get("input_size")
        return Manifest(
            id=doc["id"],
            title=doc["title"],
            weights=weights,
            architecture=str(doc.get("architecture", "")),
            sha256=sha.lower() if sha else None,
            licence=str(doc.get("licence") or "see source"),
            source=str(doc.get("source", "")),
            source_file=str(doc.get("source_file", "")),
            input_size=tuple(int(v) for v in size) if size else None,
            calibration=str(doc.get("calibration", "")),
            card=str(doc.get("card", "")),
            wrapper_key=doc.get("wrapper_key"),
            strip_prefix=doc.get("strip_prefix"),
            package=doc.get("package"),
            extra={k: v for k, v in doc.items() if k not in _KNOWN_KEYS},
        )


class ModelStore:
    """Resolves model ids to verified weights files and loads them safely.

    `bundled_dir` holds the manifests (and bundled weights); `user_dir` receives installed files
    and the registry of recorded hashes. Both default to the application's folders.
    """

    def __init__(self, user_dir: Path | None = None, bundled_dir: Path = BUNDLED_DIR) -> None:
        self.user_dir = Path(user_dir) if user_dir is not None else default_user_dir()
        self.bundled_dir = Path(bundled_dir)
        self._manifests: dict[str, Manifest] | None = None
        self._user_paths: dict[str, Path] = {}
        self._plugin_paths: dict[str, Path] = {}
        self._errors: dict[str, str] = {}

    @property
    def user_manifest_dir(self) -> Path:
        """Where the manifests of models trained on this machine are kept."""
        return self.user_dir / USER_MANIFESTS

    # -- manifests -------------------------------------------------------------------------
    def manifests(self) -> dict[str, Manifest]:
        """All valid manifests by id, bundled first, then the installed plugins', then the user's
        trained models; broken ones are listed by `manifest_errors` (user ones as "manifests/<file>",
        a plugin's by its folder), never fatal."""
        if self._manifests is None:
            from workbench.core.contributions import manifest_dirs

            found: dict[str, Manifest] = {}
            self._user_paths, self._plugin_paths, self._errors = {}, {}, {}
            sources = [(p, p.name) for p in sorted(self.bundled_dir.glob("*.json"))]
            plugin_dirs = [d for d in manifest_dirs() if d.resolve() != self.bundled_dir.resolve()]
            sources += [(p, str(p)) for d in plugin_dirs for p in sorted(d.glob("*.json"))]
            sources += [(p, f"{USER_MANIFESTS}/{p.name}") for p in sorted(self.user_manifest_dir.glob("*.json"))]
            for path, name in sources:
                try:
                    manifest = Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
                except (OSError, ValueError, TypeError, AttributeError) as exc:
                    self._errors[name] = str(exc)
                    continue
                if manifest.id in found:
                    self._errors[name] = f"duplicate model id '{manifest.id}'"
                    continue
                found[manifest.id] = manifest
                if path.parent == self.user_manifest_dir:
                    self._user_paths[manifest.id] = path
                elif path.parent != self.bundled_dir:
                    self._plugin_paths[manifest.id] = path
            self._manifests = found
        return self._manifests

    def is_user_model(self, model_id: str) -> bool:
        """True for a model trained on this machine (its manifest lives in the user's folder)."""
        self.manifests()
        return model_id in self._user_paths

    def check_user_id(self, model_id: str) -> None:
        """ValueError unless `model_id` can name a model trained here: a plain name that no bundled
        model uses (a trained model of that name is replaced)."""
        if not _MODEL_ID.match(model_id):
            raise ValueError(f"model id {model_id!r}: use letters, digits, '.', '_' or '-' only (at most 100)")
        if model_id in self.manifests() and not self.is_user_model(model_id):
            raise ValueError(f"model id '{model_id}' is taken by a bundled model; choose another id")

    def register(self, doc: dict[str, Any]) -> Manifest:
        """Add (or replace) the manifest of a model trained here; its weights file must already be in
        the user's models folder and the manifest carry its SHA-256 (checked on every load). A bundled
        model's id is refused (ValueError), so a trained model can never shadow a published one."""
        manifest = Manifest.from_dict(doc)
        self.check_user_id(manifest.id)
        weights = self.user_dir / manifest.weights
        if not weights.is_file():
            raise FileNotFoundError(f"no weights file {weights} for model '{manifest.id}'")
        if manifest.sha256 != cached_sha256(weights):
            raise ValueError(f"model '{manifest.id}': the manifest's sha256 must be that of {weights}")
        self.user_manifest_dir.mkdir(parents=True, exist_ok=True)
        path = self.user_manifest_dir / f"{manifest.id}.json"
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        self._manifests = None
        return manifest

    def manifest_errors(self) -> dict[str, str]:
        self.manifests()
        return dict(self._errors)

    def manifest(self, model_id: str) -> Manifest:
        try:
            return self.manifests()[model_id]
        except KeyError:
            raise ModelUnavailable(f"unknown model '{model_id}': no manifest in {self.bundled_dir}") from None

    def card(self, model_id: str) -> str:
        """The model card's Markdown (the manifest's `card`: a path relative to the repository, or to the folder of
        a plugin's manifest)."""
        card = self.manifest(model_id).card
        plugin_manifest = self._plugin_paths.get(model_id)
        path = (plugin_manifest.parent if plugin_manifest else self.bundled_dir.parent) / card
        return path.read_text(encoding="utf-8") if card and path.is_file() else ""

    # -- status ----------------------------------------------------------------------------
    def status(self, model_id: str) -> ModelStatus:
        """Installed (and verified), missing, or present with the wrong hash; with the reason."""
        manifest = self.manifest(model_id)
        path = self._locate(manifest)
        if path is None:
            return ModelStatus(ModelState.MISSING, self._install_message(manifest, "not installed"))
        expected, origin = self._expected_hash(manifest)
        if expected is None:
            return ModelStatus(
                ModelState.MISSING,
                self._install_message(
                    manifest, f"found {path} but it was not installed through the model store (no hash recorded)"
                ),
                path,
            )
        actual = cached_sha256(path)
        if actual != expected:
            return ModelStatus(
                ModelState.HASH_MISMATCH,
                f"model '{model_id}': {path} has SHA-256 {actual}, but the {origin} is {expected}: "
                "the file is damaged or another release; install the right file again",
                path,
                actual,
            )
        return ModelStatus(ModelState.INSTALLED, f"model '{model_id}': {path} (SHA-256 {actual})", path, actual)

    def unavailable_reason(self, model_ids: Iterable[str]) -> str | None:
        """Why these models cannot all be used (each missing, unknown or damaged one's reason), or None."""
        reasons = []
        for model_id in model_ids:
            try:
                status = self.status(model_id)
            except ModelUnavailable as exc:
                reasons.append(str(exc))
                continue
            if not status.installed:
                reasons.append(status.reason)
        return "; ".join(reasons) or None

    def provenance(self, model_id: str) -> dict[str, str]:
        """{"id", "sha256"} of the verified file, for a Result's provenance."""
        status = self._verified(model_id)
        return {"id": model_id, "sha256": status.sha256 or ""}

    # -- install / remove ------------------------------------------------------------------
    def install(self, model_id: str, file_path: Path | str, copy: bool = True) -> Path:
        """Record a weights file for `model_id` and return where it will be read from.

        With `copy` the file is copied into the user's models folder; otherwise it stays where
        the user keeps it. A file whose hash differs from the manifest's is refused (ValueError).
        """
        manifest = self.manifest(model_id)
        source = Path(file_path).expanduser().resolve()
        if not source.is_file():
            raise FileNotFoundError(f"no such file: {source}")
        digest = sha256_file(source)
        if manifest.sha256 and digest != manifest.sha256:
            raise ValueError(
                f"refusing {source.name} for model '{model_id}': its SHA-256 is {digest}, the manifest "
                f"expects {manifest.sha256} (a different or damaged file)"
            )
        entry: dict[str, str] = {"sha256": digest, "original": str(source), "installed_at": _now()}
        if copy:
            target = self.user_dir / manifest.weights
            if target.resolve() != source:
                _copy_verified(source, target, digest)
            entry["file"] = manifest.weights
        else:
            target = source
            entry["path"] = str(source)
        registry = self._registry()
        registry[model_id] = entry
        self._save_registry(registry)
        return target

    def install_checked(self, model_id: str, file_path: Path | str, copy: bool = True) -> Path:
        """`install`, then load the file the way analyzers will (the GUI and the CLI install so): the
        hash check accepts any file for a model without a published hash, so a file that holds no
        loadable state dict of tensors is forgotten again and refused (WrongFile) with the reason."""
        installed = self.install(model_id, file_path, copy)
        try:
            self.load_state_dict(model_id)
        except ModelUnavailable as exc:
            self.remove(model_id)
            raise WrongFile(f"{Path(file_path).name} is not usable as '{model_id}', so it was not kept: {exc}") from exc
        return installed

    def remove(self, model_id: str) -> None:
        """Forget an installed file; delete it only if it is the store's own copy. A model trained
        here is deleted with its manifest (the store made both)."""
        if self.is_user_model(model_id):
            (self.user_dir / self.manifest(model_id).weights).unlink(missing_ok=True)
            self._user_paths[model_id].unlink(missing_ok=True)
            self._manifests = None
        registry = self._registry()
        entry = registry.pop(model_id, None)
        if entry is None:
            return
        if "file" in entry:
            (self.user_dir / entry["file"]).unlink(missing_ok=True)
        self._save_registry(registry)

    # -- loading ---------------------------------------------------------------------------
    def load_state_dict(self, model_id: str) -> dict[str, Any]:
        """The verified weights as a flat state dict of tensors on the CPU.

        Unwraps the manifest's `wrapper_key` (e.g. {"model": ..., "optimizer": ...}) and strips
        its `strip_prefix` (e.g. "module." from DataParallel). Raises ModelUnavailable.
        """
        manifest = self.manifest(model_id)
        path = self._verified(model_id).path
        assert path is not None
        allowed = _pickled_globals(manifest)
        loaded = _load_safetensors(path) if path.suffix == ".safetensors" else _torch_load(model_id, path, allowed)
        return _unwrap(manifest, loaded)

    # -- internals -------------------------------------------------------------------------
    def _verified(self, model_id: str) -> ModelStatus:
        status = self.status(model_id)
        if not status.installed:
            raise ModelUnavailable(status.reason)
        return status

    def _locate(self, manifest: Manifest) -> Path | None:
        entry = self._registry().get(manifest.id, {})
        candidates = [self.bundled_dir / manifest.weights, self.user_dir / manifest.weights]
        if manifest.id in self._plugin_paths:
            candidates.insert(1, self._plugin_paths[manifest.id].parent / manifest.weights)
        if manifest.package:
            folder = _package_folder(manifest.package)
            if folder is not None:
                candidates.append(folder / manifest.weights)
        if "path" in entry:
            candidates.append(Path(entry["path"]))
        return next((p for p in candidates if p.is_file()), None)

    def _expected_hash(self, manifest: Manifest) -> tuple[str | None, str]:
        if manifest.sha256:
            return manifest.sha256, "manifest's hash"
        return self._registry().get(manifest.id, {}).get("sha256"), "hash recorded at install"

    def _install_message(self, manifest: Manifest, what: str) -> str:
        name = manifest.source_file or f"the file {manifest.weights}"
        where = f" from {manifest.source}" if manifest.source else ""
        hint = INSTALL_HINT.format(id=manifest.id)
        return f"model '{manifest.id}' {what}: install {name}{where} with {hint}"

    def _registry(self) -> dict[str, dict[str, str]]:
        path = self.user_dir / REGISTRY_FILE
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"the model registry {path} cannot be read ({exc})") from exc
        return dict(doc.get("models", {}))

    def _save_registry(self, models: dict[str, dict[str, str]]) -> None:
        self.user_dir.mkdir(parents=True, exist_ok=True)
        path = self.user_dir / REGISTRY_FILE
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps({"version": 1, "models": models}, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)


# -- hashing ---------------------------------------------------------------------------------
_hash_lock = threading.Lock()
_hashes: dict[tuple[str, int, int], str] = {}


def cached_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered while its size and modification time stay the same
    (weights are hundreds of MB; status is asked for often)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _hash_lock:
        if key in _hashes:
            return _hashes[key]
    digest = sha256_file(path)
    with _hash_lock:
        _hashes[key] = digest
    return digest


def _copy_verified(source: Path, target: Path, digest: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    shutil.copyfile(source, tmp)
    if sha256_file(tmp) != digest:
        tmp.unlink(missing_ok=True)
        raise OSError(f"copying {source} to {target} changed its content")
    os.replace(tmp, target)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- safe loading ----------------------------------------------------------------------------
_load_lock = threading.Lock()


def _numpy_scalar_globals() -> list[Any]:
    """The exact numpy names a pickled numpy float/int scalar needs (e.g. a checkpoint's
    'loss': np.float64). They rebuild plain numbers from bytes and run no code; object
    scalars stay refused. Files written under numpy 1.x name `numpy.core.multiarray`."""
    import numpy as np

    try:
        from numpy._core.multiarray import scalar  # numpy >= 2
    except ImportError:
        from numpy.core.multiarray import scalar

    dtypes = [
        np.dtypes.Float16DType, np.dtypes.Float32DType, np.dtypes.Float64DType,
        np.dtypes.Int32DType, np.dtypes.Int64DType, np.dtypes.BoolDType,
    ]
    names = ("numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar")
    return [*((scalar, name) for name in names), np.dtype, *dtypes]


ALLOWED_PICKLE_GLOBALS: dict[str, Any] = {"argparse.Namespace": argparse.Namespace}
"""Non-tensor classes a manifest may allow in its file (`pickled_globals`): plain-value containers
that run no code when unpickled (e.g. the training arguments some releases save beside the weights)."""


def _pickled_globals(manifest: Manifest) -> list[Any]:
    names = manifest.extra.get("pickled_globals") or []
    unknown = [n for n in names if n not in ALLOWED_PICKLE_GLOBALS]
    if unknown:
        raise ModelUnavailable(f"model '{manifest.id}': its manifest allows unsafe classes {unknown}")
    return [ALLOWED_PICKLE_GLOBALS[n] for n in names]


def _torch_load(model_id: str, path: Path, extra_globals: list[Any] | None = None) -> Any:
    try:
        import torch
    except ImportError:
        raise ModelUnavailable(f"model '{model_id}' needs PyTorch, which is not installed") from None
    try:
        # the safe-globals list is process-wide state: one load at a time
        with _load_lock, torch.serialization.safe_globals([*_numpy_scalar_globals(), *(extra_globals or [])]):
            # mmap: tensors that are not used (an optimizer's state) are never read into memory
            return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means: not loadable safely
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailable(
            f"model '{model_id}': {path.name} cannot be loaded safely ({first}). If the file comes from a "
            "trusted source, re-save only its tensors on a machine you trust, e.g. "
            "torch.save(torch.load(f, weights_only=False)['model'], 'weights.pth'), and install that file"
        ) from exc


def _load_safetensors(path: Path) -> dict[str, Any]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise ModelUnavailable(f"{path.name} is a safetensors file; install the 'safetensors' package") from None
    return load_file(str(path), device="cpu")


def _unwrap(manifest: Manifest, loaded: Any) -> dict[str, Any]:
    import torch

    if manifest.wrapper_key and isinstance(loaded, dict) and manifest.wrapper_key in loaded:
        loaded = loaded[manifest.wrapper_key]
    if not isinstance(loaded, dict) or not loaded or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        where = f" under the key '{manifest.wrapper_key}'" if manifest.wrapper_key else ""
        raise ModelUnavailable(f"model '{manifest.id}': the file holds no state dict of tensors{where}")
    prefix = manifest.strip_prefix
    if prefix and all(k.startswith(prefix) for k in loaded):
        loaded = {k[len(prefix):]: v for k, v in loaded.items()}
    return dict(loaded)


# -- loaded modules for analyzers ------------------------------------------------------------
CACHE_SIZE = 8
_module_lock = threading.Lock()
_modules: OrderedDict[tuple[str, str, str], Any] = OrderedDict()


def _package_folder(package: str) -> Path | None:
    """A folder inside an installed package, found without importing it (a weights-only package
    may pin old dependencies in its code)."""
    top, _, rest = package.partition("/")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / rest


def loaded_model(store: ModelStore, model_id: str, build: Callable[[], Any], device: str = "cpu") -> Any:
    """The network `build()` returns, with the verified weights loaded strictly, in eval mode on
    `device`. Cached by (id, SHA-256, device), so a re-installed file is picked up."""
    sha = store._verified(model_id).sha256 or ""
    key = (model_id, sha, str(device))
    with _module_lock:
        if key in _modules:
            _modules.move_to_end(key)
            return _modules[key]
    state = store.load_state_dict(model_id)
    net = build()
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelUnavailable(
            f"model '{model_id}': the weights do not fit the network (another variant or release?): "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    net = net.eval().to(device)
    with _module_lock:
        _modules[key] = net
        while len(_modules) > CACHE_SIZE:
            _modules.popitem(last=False)
    return net
