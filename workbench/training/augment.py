"""Training augmentations: the processing evidence goes through before it reaches an analyst.

Detectors trained on pristine files fail on re-compressed, resized or blurred copies; Wang et al.
(CVPR 2020) showed that blurring and JPEG-compressing part of the training images makes them
robust to it. Each step is applied with its own probability, in the order a picture meets them
online: resize, blur, JPEG, then a mirror flip.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from plugins.localization.common import jpeg_roundtrip


@dataclass(frozen=True)
class Augment:
    flip: float = 0.5
    resize: float = 0.2
    resize_range: tuple[float, float] = (0.5, 1.5)
    blur: float = 0.3
    blur_sigma: tuple[float, float] = (0.1, 3.0)
    jpeg: float = 0.3
    jpeg_quality: tuple[int, int] = (30, 100)

    def __call__(self, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """An augmented copy of an RGB uint8 image (the input is not modified)."""
        out = rgb
        if rng.random() < self.resize:
            scale = rng.uniform(*self.resize_range)
            size = (max(8, round(out.shape[1] * scale)), max(8, round(out.shape[0] * scale)))
            out = cv2.resize(out, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        if rng.random() < self.blur:
            out = cv2.GaussianBlur(out, (0, 0), rng.uniform(*self.blur_sigma))
        if rng.random() < self.jpeg:
            out = jpeg_roundtrip(out, int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1)))
        if rng.random() < self.flip:
            out = out[:, ::-1]
        return np.ascontiguousarray(out)


NONE = Augment(flip=0.0, resize=0.0, blur=0.0, jpeg=0.0)
"""No augmentation (validation, and `--no-augment`)."""
