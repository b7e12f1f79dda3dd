"""The networks the pipeline can train, by name: each with the family whose analyzer will run it,
its "network" / "input" / "output" manifest entries, and optionally a model whose weights start it.

The detector families are contributed by plugins (`Plugin.training`: family name → its
`TrainingFamily`; the built-in deepfake and synthetic families contribute theirs). A family's own
backbones train an architecture from scratch (or from ImageNet weights when the store has them);
every detector of a contributed family the model store knows is also a backbone under its model id,
fine-tuned from its installed weights. The networks come from the family's `build`, called only
when built, so a trained model is exactly what the family's analyzer builds at inference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from workbench.core.contributions import contributed, load
from workbench.core.models import ModelStore
from workbench.training.sbi import Box


@dataclass(frozen=True)
class Backbone:
    name: str
    family: str
    network: dict[str, Any]
    input: dict[str, Any]
    """Manifest "input": size [H, W], mean, std; "fit" (synthetic) or "margin" (deepfake)."""
    output: str
    description: str
    init_from: str | None = None
    """Model-store id whose installed weights start the training (layers whose shape differs, such as
    a classifier with another number of classes, start from scratch)."""

    def build(self) -> Any:
        """The randomly initialised torch module, from the family's own `build`."""
        return family(self.family).build(self.network)

    def with_size(self, size: int | None) -> Backbone:
        """The same backbone trained and run at size × size pixels."""
        return self if size is None else replace(self, input={**self.input, "size": [size, size]})


@dataclass(frozen=True)
class TrainingFamily:
    """What a detector family gives the training pipeline, contributed by its plugin as
    `Plugin.training = {name: "module:attribute"}` (`name`: the manifests' "family").

    The pipeline prepares inputs as the family's analyzer does at inference: a faces family's
    images are cut around the face with `crop(rgb, box, input, size)` (the box from
    `find_faces` or, for face crops, the crop itself); other families' images are resized (input
    "fit": "resize") or cut to the input size with `crop(rgb, None, input, size)` (a random window
    of the image while training).
    """

    build: Callable[[dict[str, Any]], Any]
    """Manifest "network" → the randomly initialised torch module the family's analyzer runs."""
    crop: Callable[[np.ndarray, Box | None, dict[str, Any], tuple[int, int]], np.ndarray]
    """(RGB uint8, face box or None, manifest "input", (h, w)) → the network's RGB uint8 input."""
    fake_class: Callable[[str], int | None]
    """Manifest "output" → the index of the fake class ("softmax:k"), None for one logit ("logit")."""
    fake_probability: Callable[[Any, str], Any]
    """(raw outputs (B, K), manifest "output") → P(fake), a tensor of shape (B,)."""
    backbones: tuple[Backbone, ...] = ()
    """The family's own trainable networks (besides its detectors in the model store)."""
    faces: bool = False
    """Its images are faces: the input "margin" is the face box enlargement."""
    find_faces: Callable[[np.ndarray], list[Box]] | None = None
    """Face boxes in an RGB image (a faces family: `--faces detect`)."""


def families() -> dict[str, TrainingFamily]:
    """The detector families plugins contribute, by name (PluginError when one cannot be imported)."""
    found = {}
    for name, reference in contributed("training").items():
        value = load(reference)
        if not isinstance(value, TrainingFamily):
            raise TypeError(f"training family {name!r} ({reference}) is a {type(value).__name__}, not a TrainingFamily")
        found[name] = value
    return found


def family(name: str) -> TrainingFamily:
    known = families()
    if name not in known:
        raise ValueError(f"no installed plugin trains the {name!r} family; known: {', '.join(known) or 'none'}")
    return known[name]


def backbones(store: ModelStore | None = None) -> dict[str, Backbone]:
    """Every trainable backbone by name: the contributed families' own, then each known detector of
    those families (fine-tuned from its weights, which must be installed when training starts)."""
    known = families()
    found = {b.name: b for f in known.values() for b in f.backbones}
    for manifest in (store or ModelStore()).manifests().values():
        family_name = manifest.extra.get("family")
        if family_name not in known or manifest.id in found:
            continue
        try:
            found[manifest.id] = Backbone(
                manifest.id, family_name, dict(manifest.extra["network"]), dict(manifest.extra["input"]),
                str(manifest.extra.get("output", "logit")), f"fine-tune {manifest.title}", init_from=manifest.id,
            )
        except (KeyError, TypeError):  # a manifest without a network/input: not trainable, listed by the store
            continue
    return found


def backbone(name: str, store: ModelStore | None = None) -> Backbone:
    known = backbones(store)
    if name not in known:
        raise ValueError(f"unknown backbone {name!r}; known: {', '.join(known)}")
    return known[name]
