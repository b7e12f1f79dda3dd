"""What the similarity search stores per image: one global vector, perceptual hashes, and a set of
local descriptors with their positions (for spatial verification and learned re-ranking)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LocalFeatures:
    """Local descriptors of one image, strongest first.

    `xy` are pixel positions in the image as stored (N×2, float32, x then y), `scale` the feature
    size in pixels, `weight` the detector's confidence (higher is stronger), `desc` the descriptors
    (N×D; float32 or float16 for storage). `kind` names the extractor (e.g. "rootsift",
    "dinov2_ames"), so features of different extractors are never compared.
    """

    kind: str
    xy: np.ndarray
    scale: np.ndarray
    weight: np.ndarray
    desc: np.ndarray
    image_size: tuple[int, int]
    """(height, width) of the image the positions refer to."""

    def __len__(self) -> int:
        return int(self.desc.shape[0])

    def top(self, n: int) -> LocalFeatures:
        """The `n` strongest features (they are stored strongest first)."""
        return LocalFeatures(
            self.kind, self.xy[:n], self.scale[:n], self.weight[:n], self.desc[:n], self.image_size
        )

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Flat arrays for an .npz file, keys prefixed so several extractors share one file."""
        return {
            f"{prefix}.xy": self.xy.astype(np.float32),
            f"{prefix}.scale": self.scale.astype(np.float32),
            f"{prefix}.weight": self.weight.astype(np.float32),
            f"{prefix}.desc": self.desc,
            f"{prefix}.image_size": np.asarray(self.image_size, np.int64),
        }

    @staticmethod
    def from_arrays(kind: str, arrays: dict[str, np.ndarray], prefix: str) -> LocalFeatures:
        size = arrays[f"{prefix}.image_size"]
        return LocalFeatures(
            kind,
            np.asarray(arrays[f"{prefix}.xy"]),
            np.asarray(arrays[f"{prefix}.scale"]),
            np.asarray(arrays[f"{prefix}.weight"]),
            np.asarray(arrays[f"{prefix}.desc"]),
            (int(size[0]), int(size[1])),
        )
