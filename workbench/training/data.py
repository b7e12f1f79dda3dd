"""Training data from folders of real and fake images, made into network inputs exactly as the
family's analyzer prepares them at inference (each family's `TrainingFamily.crop`, contributed by
its plugin).

* Whole images (e.g. `synthetic`): random windows of the input size during training, the family's
  crop (the central window) for validation (or a resize, when the backbone's "fit" says so).
  Crops, not resizes: resizing erases the traces.
* Faces (a family with `faces`, e.g. `deepfake`): the family's crop around the face, enlarged by
  the model's margin, resized to the input size. Faces are given as crops (each image is a face
  crop that already includes the margin) or found with the family's face detector (the largest
  face of each image).

Unreadable files and images without a face are skipped and counted, never fatal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from workbench.core.media import to_rgb8
from workbench.training.augment import NONE, Augment
from workbench.training.backbones import Backbone, TrainingFamily, families, family
from workbench.training.sbi import Box, self_blend

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm"})
REAL, FAKE = 0, 1


class FaceSource(StrEnum):
    CROPS = "crops"
    DETECT = "detect"


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    """REAL (0) or FAKE (1)."""
    box: Box | None = None
    """The face box (deepfake family); None: the whole image."""
    self_blended: bool = False
    """A fake made from this real face at load time (SBI), new at every epoch."""


def image_files(folder: Path) -> list[Path]:
    """Image files under `folder` (recursively), sorted. FileNotFoundError if it is no folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_rgb(path: Path) -> np.ndarray:
    """RGB uint8 of an image file, EXIF orientation applied. ValueError names the file and the reason."""
    try:
        with Image.open(path) as im:
            return to_rgb8(ImageOps.exif_transpose(im))
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{path}: cannot be read as an image ({type(exc).__name__}: {exc})") from exc


def crop_box(shape: tuple[int, ...], margin: float) -> Box:
    """The face box of an image that is itself a face crop including the margin: its central square
    shrunk by the margin, so `face_crop(box, margin)` gives the whole crop back."""
    h, w = shape[:2]
    side = max(h, w) / margin
    return ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)


def largest_face(rgb: np.ndarray, faces: TrainingFamily | None = None) -> Box | None:
    """The largest face the family's detector finds (by default the first contributed faces family
    with one: the deepfake ensemble's Haar detector), or None."""
    faces = faces or next((f for f in families().values() if f.faces and f.find_faces is not None), None)
    if faces is None or faces.find_faces is None:
        raise ValueError("no installed training family detects faces")
    boxes = faces.find_faces(rgb)
    if not boxes:
        return None
    return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))


def collect(
    folders: Iterable[Path], label: int, backbone: Backbone, faces: FaceSource, skipped: list[str]
) -> list[Sample]:
    """Samples of every image in `folders`; unusable files go to `skipped` with the reason."""
    faces_family = family(backbone.family)
    samples = []
    for path in (p for folder in folders for p in image_files(folder)):
        try:
            rgb = read_rgb(path)
        except ValueError as exc:
            skipped.append(str(exc))
            continue
        if not faces_family.faces:
            samples.append(Sample(path, label))
            continue
        box = (crop_box(rgb.shape, backbone.input["margin"]) if faces is FaceSource.CROPS
               else largest_face(rgb, faces_family))
        if box is None:
            skipped.append(f"{path}: no face found")
            continue
        samples.append(Sample(path, label, box))
    return samples


def split(samples: list[Sample], val_fraction: float, rng: np.random.Generator) -> tuple[list[Sample], list[Sample]]:
    """(train, validation), each class split separately so both keep the class balance."""
    train, val = [], []
    for label in (REAL, FAKE):
        group = [s for s in samples if s.label == label]
        order = rng.permutation(len(group))
        n_val = round(len(group) * val_fraction) if len(group) > 1 else 0
        val += [group[i] for i in order[:n_val]]
        train += [group[i] for i in order[n_val:]]
    return train, val


def with_self_blends(reals: list[Sample]) -> list[Sample]:
    """Each real face plus its self-blended fake (SBI: one pair per face, as the authors batch them)."""
    return [s for r in reals for s in (r, Sample(r.path, FAKE, r.box, self_blended=True))]


class Inputs:
    """Turns samples into normalised float32 (3, H, W) arrays for `backbone`; training inputs are
    augmented and randomly cropped, validation inputs are not."""

    def __init__(self, backbone: Backbone, augment: Augment, rng: np.random.Generator) -> None:
        self.spec = backbone.input
        self.family = family(backbone.family)
        self.size = tuple(int(v) for v in self.spec["size"])
        self.mean = np.asarray(self.spec["mean"], np.float32)
        self.std = np.asarray(self.spec["std"], np.float32)
        self.augment = augment
        self.rng = rng

    def __call__(self, sample: Sample, train: bool) -> np.ndarray:
        rgb = read_rgb(sample.path)
        box = sample.box or (0.0, 0.0, float(rgb.shape[1]), float(rgb.shape[0]))
        if sample.self_blended:
            rgb, _ = self_blend(rgb, box, self.rng)
        augment = self.augment if train else NONE
        if self.family.faces:
            rgb = self._resized(augment(self.family.crop(rgb, box, self.spec, self.size), self.rng))
        elif self.spec.get("fit") == "resize":
            rgb = self._resized(augment(rgb, self.rng))
        else:
            rgb = self._cropped(augment(rgb, self.rng), train)
        x = (rgb.astype(np.float32) / 255.0 - self.mean) / self.std
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    def _resized(self, rgb: np.ndarray) -> np.ndarray:
        h, w = self.size
        if rgb.shape[:2] == (h, w):
            return rgb
        return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if rgb.shape[0] > h else cv2.INTER_LINEAR)

    def _cropped(self, rgb: np.ndarray, train: bool) -> np.ndarray:
        h, w = self.size
        if not train or (rgb.shape[0] <= h and rgb.shape[1] <= w):
            return self.family.crop(rgb, None, self.spec, (h, w))
        y0 = int(self.rng.integers(0, max(rgb.shape[0] - h, 0) + 1))
        x0 = int(self.rng.integers(0, max(rgb.shape[1] - w, 0) + 1))
        return self.family.crop(rgb[y0 : y0 + h, x0 : x0 + w], None, self.spec, (h, w))
