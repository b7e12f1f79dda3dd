"""Tiny generated training sets, to try the pipeline out and to test it. A model trained on them is a
test model: it proves the pipeline runs end to end, nothing about evidence.

* `write_generated_set`: real images are random views of the photos installed packages ship; fake
  images are other views passed through a simulated generator's last layer (`transposed_upsampling`),
  which leaves the periodic trace of generator upsampling without any generator weights.
* `write_face_crops`: scikit-image's LFW faces (25 × 25 grey), enlarged, as face crops for
  self-blended training.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from workbench.synthetic.photos import load, random_view, source_photos

KERNEL = np.outer([0.3, 1.0, 0.6], [0.3, 1.0, 0.6]).astype(np.float32)
"""An uneven 3×3 kernel: even and odd output pixels get different weights (the checkerboard)."""


def transposed_upsampling(rgb: np.ndarray) -> np.ndarray:
    """The image halved, then doubled by a stride-2 transposed convolution with an uneven 3×3 kernel
    (zeros inserted between the pixels, then filtered), as a generator's upsampling layer does;
    brightness is matched to the input."""
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    small = cv2.resize(rgb[:h, :w], (w // 2, h // 2), interpolation=cv2.INTER_AREA).astype(np.float32)
    spread = np.zeros((h, w, 3), np.float32)
    spread[::2, ::2] = small
    out = cv2.filter2D(spread, -1, KERNEL, borderType=cv2.BORDER_REFLECT)
    out *= rgb[:h, :w].mean() / max(float(out.mean()), 1e-6)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def write_generated_set(folder: Path, count: int = 40, size: tuple[int, int] = (96, 128),
                        seed: int = 0) -> tuple[Path, Path]:
    """`count` real and `count` fake PNGs in folder/real and folder/fake; returns the two folders."""
    rng = np.random.default_rng(seed)
    photos = source_photos()
    real, fake = Path(folder) / "real", Path(folder) / "fake"
    real.mkdir(parents=True, exist_ok=True)
    fake.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(random_view(load(photos[i % len(photos)]), rng, size)).save(real / f"real_{i:03d}.png")
        view = random_view(load(photos[(i + 1) % len(photos)]), rng, size)
        Image.fromarray(transposed_upsampling(view)).save(fake / f"fake_{i:03d}.png")
    return real, fake


def write_face_crops(folder: Path, count: int = 40, side: int = 64) -> Path:
    """`count` face crops (scikit-image's LFW subset, whose first 100 images are faces) as PNGs."""
    from skimage.data import lfw_subset

    faces = lfw_subset()[: min(count, 100)]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, face in enumerate(faces):
        grey = cv2.resize((face * 255).round().astype(np.uint8), (side, side), interpolation=cv2.INTER_CUBIC)
        Image.fromarray(np.stack([grey] * 3, axis=-1)).save(folder / f"face_{i:03d}.png")
    return folder
