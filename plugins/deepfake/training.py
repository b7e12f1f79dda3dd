"""The deepfake family's part in the training pipeline (`python -m workbench.training`, contributed
as `Plugin.training["deepfake"]`): its networks, face crop and face detector, its reading of the
manifest "output", and the backbones it trains from scratch. Torch is imported only when used."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from workbench.api import TrainingBackbone, TrainingFamily

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
HALF = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
FACE_MARGIN = 1.3
"""Face box enlargement of FaceForensics++ and DeepfakeBench crops."""


def build(network: dict[str, Any]) -> Any:
    from plugins.deepfake.nets import build

    return build(network)


def crop(rgb: np.ndarray, box: Any, spec: dict[str, Any], size: tuple[int, int]) -> np.ndarray:
    """The ensemble's own face crop: the box enlarged by the input's "margin", resized to `size`."""
    from plugins.deepfake.crops import face_crop

    return face_crop(rgb, box, float(spec["margin"]), size)


@cache
def _haar_detector() -> Any:
    from plugins.deepfake.faces import HaarDetector

    return HaarDetector()


def find_faces(rgb: np.ndarray) -> list[Any]:
    """The boxes the ensemble's Haar-cascade face detector finds."""
    return [face.box for face in _haar_detector().detect(rgb)]


def fake_class(output_spec: str) -> int | None:
    from plugins.deepfake.nets import fake_class

    return fake_class(output_spec)


def fake_probability(outputs: Any, output_spec: str) -> Any:
    from plugins.deepfake.nets import fake_probability

    return fake_probability(outputs, output_spec)


FAMILY = TrainingFamily(
    build=build, crop=crop, fake_class=fake_class, fake_probability=fake_probability, faces=True,
    find_faces=find_faces,
    backbones=(
        TrainingBackbone(
            "xception", "deepfake", {"arch": "xception", "num_classes": 2},
            {"size": [256, 256], **HALF, "margin": FACE_MARGIN}, "softmax:1",
            "Xception face classifier (FaceForensics++ / DeepfakeBench layout), from scratch",
        ),
        TrainingBackbone(
            "efficientnet_b4", "deepfake", {"arch": "efficientnet_icpr2020"},
            {"size": [224, 224], **IMAGENET, "margin": FACE_MARGIN}, "logit",
            "EfficientNet-B4 face classifier (Bonettini et al. ICPR 2020 layout), from scratch",
        ),
    ),
)
