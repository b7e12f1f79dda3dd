"""The networks the pipeline can train, by name: each with the family whose analyzer will run it,
its "network" / "input" / "output" manifest entries, and optionally a model whose weights start it.

Built-in entries train an architecture from scratch (or from ImageNet weights when the store has
them); every deepfake or AI-generated-image detector the model store knows is also a backbone under
its model id, fine-tuned from its installed weights. The networks come from each family's
`nets.build` (`plugins.deepfake.nets`, `plugins.synthetic.nets`), imported only when built, so a
trained model is exactly what the family's analyzer builds at inference.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from typing import Any

from workbench.core.models import ModelStore

NETS = {"deepfake": "plugins.deepfake.nets", "synthetic": "plugins.synthetic.nets"}
"""Family → module whose `build(network)` makes its networks."""
IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
HALF = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
FACE_MARGIN = 1.3
"""Face box enlargement of FaceForensics++ and DeepfakeBench crops."""


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
        return importlib.import_module(NETS[self.family]).build(self.network)

    def with_size(self, size: int | None) -> Backbone:
        """The same backbone trained and run at size × size pixels."""
        return self if size is None else replace(self, input={**self.input, "size": [size, size]})


BUILTIN: tuple[Backbone, ...] = (
    Backbone(
        "tiny_cnn", "synthetic", {"arch": "tiny_cnn", "width": 16, "depth": 3},
        {"size": [64, 64], **IMAGENET, "fit": "center_crop"}, "logit",
        "small CNN (about 25 k parameters) at full resolution: trains in seconds on a CPU; test models",
    ),
    Backbone(
        "cnndetection_resnet50", "synthetic", {"arch": "cnndetection_resnet50", "num_classes": 1},
        {"size": [224, 224], **IMAGENET, "fit": "center_crop"}, "logit",
        "Wang et al.'s ResNet-50 real/fake classifier, from torchvision's ImageNet weights when installed",
        init_from="s2vs_resnet50",
    ),
    Backbone(
        "xception", "deepfake", {"arch": "xception", "num_classes": 2},
        {"size": [256, 256], **HALF, "margin": FACE_MARGIN}, "softmax:1",
        "Xception face classifier (FaceForensics++ / DeepfakeBench layout), from scratch",
    ),
    Backbone(
        "efficientnet_b4", "deepfake", {"arch": "efficientnet_icpr2020"},
        {"size": [224, 224], **IMAGENET, "margin": FACE_MARGIN}, "logit",
        "EfficientNet-B4 face classifier (Bonettini et al. ICPR 2020 layout), from scratch",
    ),
)


def backbones(store: ModelStore | None = None) -> dict[str, Backbone]:
    """Every trainable backbone by name: the built-in ones, then each known detector of the two
    families (fine-tuned from its weights, which must be installed when training starts)."""
    found = {b.name: b for b in BUILTIN}
    for manifest in (store or ModelStore()).manifests().values():
        family = manifest.extra.get("family")
        if family not in NETS or manifest.id in found:
            continue
        try:
            found[manifest.id] = Backbone(
                manifest.id, family, dict(manifest.extra["network"]), dict(manifest.extra["input"]),
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
