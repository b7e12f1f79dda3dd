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


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """The image after one more JPEG save at `quality` (libjpeg via OpenCV, 4:2:0), RGB uint8: the
    localisation signals' re-save, for training images (far below libjpeg's 65,500-pixel limit)."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError(f"JPEG re-compression of a {rgb.shape[1]}×{rgb.shape[0]} image failed")
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


NONE = Augment(flip=0.0, resize=0.0, blur=0.0, jpeg=0.0)
"""No augmentation (validation, and `--no-augment`)."""
