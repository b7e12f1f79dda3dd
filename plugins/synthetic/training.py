"""The AI-generated-image family's part in the training pipeline (`python -m workbench.training`,
contributed as `Plugin.training["synthetic"]`): its networks, the detector's central crop, its
reading of the manifest "output" (the deepfake family's convention, as at inference), and the
backbones it trains. Torch is imported only when used."""

from __future__ import annotations

from typing import Any

import numpy as np

from plugins.deepfake.training import IMAGENET, fake_class, fake_probability
from workbench.api import TrainingBackbone, TrainingFamily


def build(network: dict[str, Any]) -> Any:
    from plugins.synthetic.nets import build

    return build(network)


def crop(rgb: np.ndarray, box: Any, spec: dict[str, Any], size: tuple[int, int]) -> np.ndarray:
    """The detector's central crop of `size` (the whole image: no face box)."""
    from plugins.synthetic.detector import center_crop

    return center_crop(rgb, size)


FAMILY = TrainingFamily(
    build=build, crop=crop, fake_class=fake_class, fake_probability=fake_probability,
    backbones=(
        TrainingBackbone(
            "tiny_cnn", "synthetic", {"arch": "tiny_cnn", "width": 16, "depth": 3},
            {"size": [64, 64], **IMAGENET, "fit": "center_crop"}, "logit",
            "small CNN (about 25 k parameters) at full resolution: trains in seconds on a CPU; test models",
        ),
        TrainingBackbone(
            "cnndetection_resnet50", "synthetic", {"arch": "cnndetection_resnet50", "num_classes": 1},
            {"size": [224, 224], **IMAGENET, "fit": "center_crop"}, "logit",
            "Wang et al.'s ResNet-50 real/fake classifier, from torchvision's ImageNet weights when installed",
            init_from="s2vs_resnet50",
        ),
    ),
)
