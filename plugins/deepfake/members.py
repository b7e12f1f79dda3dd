"""Ensemble members: every installed model-store manifest of the "deepfake" family, with its input recipe.

A member is a manifest (JSON in `models/` or a model trained by the workbench's pipeline) with
"family": "deepfake", "network" (for `nets.build`), "input" (crop recipe and margin, size, normalisation)
and "output" ("logit" or "softmax:k"); "calibrated": true only where the published outputs are
calibrated probabilities (none of the bundled ones). Models whose file is not installed are not members;
an installed one that fails to load is reported as a vote without a probability, never skipped
silently. torch is imported only when a member runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from plugins.deepfake.crops import CROPS, face_crop
from plugins.deepfake.faces import Box
from workbench.api import TEST_MODEL_LABEL, Manifest, ModelState, ModelStore, ModelUnavailable, loaded_model

FAMILY = "deepfake"


@dataclass(frozen=True)
class InputRecipe:
    """How a face becomes the network's input: the authors' `crop` (`crops.CROPS`, "padded" when the
    manifest names none) enlarged by `margin`, resized to `size` (H, W), scaled to [0, 1] and
    normalised per channel with `mean`/`std`."""

    size: tuple[int, int]
    mean: np.ndarray
    std: np.ndarray
    margin: float
    crop: str = "padded"

    @staticmethod
    def from_manifest(manifest: Manifest) -> InputRecipe:
        spec = manifest.extra.get("input")
        try:
            size = tuple(int(v) for v in spec["size"])
            mean = np.asarray(spec["mean"], np.float32).reshape(3)
            std = np.asarray(spec["std"], np.float32).reshape(3)
            margin = float(spec["margin"])
            crop = str(spec.get("crop", "padded"))
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(
                f"model '{manifest.id}': its manifest needs \"input\": {{\"size\": [H, W], \"mean\": [r, g, b], "
                f"\"std\": [r, g, b], \"margin\": factor, \"crop\": recipe}} ({type(exc).__name__}: {exc})"
            ) from exc
        if len(size) != 2 or min(size) < 16 or not np.all(std > 0) or margin < 1.0:
            raise ValueError(f"model '{manifest.id}': input size ≥ 16 px, std > 0 and margin ≥ 1 are required")
        if crop not in CROPS:
            raise ValueError(f"model '{manifest.id}': unknown face crop {crop!r}; known: {', '.join(CROPS)}")
        return InputRecipe((size[0], size[1]), mean, std, margin, crop)

    def batch(self, rgb: np.ndarray, boxes: list[Box]) -> np.ndarray:
        """float32 (N, 3, H, W) network input for the faces of one frame."""
        crops = np.stack([face_crop(rgb, box, self.margin, self.size, self.crop) for box in boxes]).astype(np.float32)
        return ((crops / 255.0 - self.mean) / self.std).transpose(0, 3, 1, 2).copy()


@dataclass
class Member:
    manifest: Manifest
    net: Any
    recipe: InputRecipe
    device: str

    @property
    def id(self) -> str:
        return self.manifest.id

    def probabilities(self, rgb: np.ndarray, boxes: list[Box]) -> np.ndarray:
        """P(fake) of each face, float64 (N,)."""
        import torch

        from plugins.deepfake.nets import fake_probability

        with torch.inference_mode():
            outputs = self.net(torch.from_numpy(self.recipe.batch(rgb, boxes)).to(self.device))
            return fake_probability(outputs, self.manifest.extra["output"]).double().cpu().numpy()


def vote(manifest: Manifest, probability: float | None, status: str, note: str = "") -> dict[str, Any]:
    """One member's answer as `Verdict.votes` keeps it (the fields `synthetic.detector` uses too);
    a test model's note says so first, a published one's names its training data."""
    text = TEST_MODEL_LABEL if manifest.is_test_model else str(manifest.extra.get("training_data", ""))
    return {
        "model": manifest.id,
        "title": manifest.title,
        "probability": probability,
        "status": status,
        "note": "; ".join(t for t in (text, note) if t),
        "test_model": manifest.is_test_model,
    }


def family_manifests(store: ModelStore, family: str = FAMILY) -> list[Manifest]:
    return [m for m in store.manifests().values() if m.extra.get("family") == family]


def any_member_installed(store: ModelStore, family: str = FAMILY) -> bool:
    """At least one model of the family is installed (`registry.ready`: the CLI's default plan runs
    the family's analyzer then)."""
    return any(store.status(m.id).installed for m in family_manifests(store, family))


def load_members(store: ModelStore, device: str) -> tuple[list[Member], list[dict[str, Any]]]:
    """The installed members, loaded and verified, and a vote for each installed one that failed.

    ModelUnavailable when none can run, naming the models to install (or why they failed)."""
    manifests = family_manifests(store)
    if not manifests:
        raise ModelUnavailable(f"no deepfake detector is described in {store.bundled_dir} (family \"{FAMILY}\")")
    present = [m for m in manifests if store.status(m.id).state is not ModelState.MISSING]
    if not present:
        reasons = store.unavailable_reason(m.id for m in manifests)
        raise ModelUnavailable(f"no deepfake detector is installed; the ensemble needs at least one: {reasons}")
    members: list[Member] = []
    failed: list[dict[str, Any]] = []
    for manifest in present:
        try:
            members.append(_load(store, manifest, device))
        except (ModelUnavailable, ValueError) as exc:
            failed.append(vote(manifest, None, "unavailable", str(exc)))
    if not members:
        raise ModelUnavailable("no installed deepfake detector can be used: " + "; ".join(v["note"] for v in failed))
    return members, failed


def _load(store: ModelStore, manifest: Manifest, device: str) -> Member:
    try:
        from plugins.deepfake.nets import build, fake_class
    except ImportError as exc:
        raise ModelUnavailable(f"the deepfake detectors need PyTorch, which cannot be imported ({exc})") from exc

    recipe = InputRecipe.from_manifest(manifest)
    network = manifest.extra.get("network")
    if not isinstance(network, dict):
        raise ValueError(f"model '{manifest.id}': its manifest needs a \"network\" object ({{\"arch\": ...}})")
    try:
        fake_class(manifest.extra.get("output"))
    except ValueError as exc:
        raise ValueError(f"model '{manifest.id}': {exc}") from exc
    net = loaded_model(store, manifest.id, lambda: build(network), device)
    return Member(manifest, net, recipe, device)

