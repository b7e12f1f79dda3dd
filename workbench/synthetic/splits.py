"""Which real photos may train the fusion localiser, which validate it, and which are kept to
evaluate and calibrate it.

A learned map has seen the texture, noise and JPEG history of its training scenes, so it scores
views of them unlike views of new scenes: a photo that trained the fusion must never be a host or
a donor of its evaluation, nor one of the unedited photos of its calibration table. This one rule
serves the training script, the condition bench and the calibration bench. Photos are named by
their key "source/file name" (the source label of `bench.calibration.SOURCES`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

Role = Literal["train", "validation", "held_out"]

VALIDATION = frozenset({"scikit-image/chelsea.png", "scikit-image/coins.png", "scikit-image/rocket.jpg"})
"""Never trained on, never in the condition bench: the training script's validation scenes (they may
join the calibration table, which only needs photos the network has not learned)."""

TRAINING_SOURCES = frozenset({"scikit-image"})
"""Every other photo of these sources trains (scikit-image's photos trained the first model too)."""

HASHED_SOURCES = frozenset({"opencv-doc"})
"""Photos of these sources are split in two by a fixed hash of their scene: about half train."""

SCENES = {"opencv-doc/aero3.jpg": "aero1.jpg", "opencv-doc/graf3.png": "graf1.png",
          "opencv-doc/leuvenB.jpg": "leuvenA.jpg"}
"""Two views of one scene share its first view's name in the hash, so they fall on the same side."""


def fusion_role(key: str) -> Role:
    """The fusion's use of the photo `key` ("source/name"): train, validation, or held out (evaluation
    and calibration). Sources not named above (scikit-learn, matplotlib, any new one) are held out."""
    source, _, name = key.partition("/")
    if key in VALIDATION:
        return "validation"
    if source in TRAINING_SOURCES:
        return "train"
    if source in HASHED_SOURCES:
        scene = SCENES.get(key, name)
        return "train" if hashlib.sha256(scene.encode()).digest()[0] % 2 == 0 else "held_out"
    return "held_out"


def with_role(keys: Iterable[str], *roles: Role) -> list[str]:
    """The keys whose role is one of `roles`, in the given order."""
    return [k for k in keys if fusion_role(k) in roles]
