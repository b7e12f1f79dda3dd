"""Real photographs that installed packages ship, and random views (crop, flip, scale) of them.

Nothing is downloaded and nothing is committed: the photos are read from where scikit-image (and,
when installed, scikit-learn and Debian's opencv-doc) put them. The list found on this machine is
recorded with every generated dataset, since a different list gives different samples.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

SKIMAGE_PHOTOS = (
    # colour photographs
    "astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png",
    "motorcycle_left.png", "retina.jpg", "rocket.jpg",
    # grey photographs (converted to three equal channels)
    "brick.png", "camera.png", "coins.png", "grass.png", "gravel.png", "moon.png",
)
"""scikit-image's real photos. Left out: drawings and synthetic charts (color, logo, text, page...),
tiny images, and motorcycle_right.png (the same scene as motorcycle_left: a splice between the two
would be a near copy)."""

SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")
OPENCV_DOC_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
MIN_SIDE = 256
"""Smallest side of a usable opencv-doc photo: smaller images are icons and test patterns."""


def package_dir(package: str, *parts: str) -> Path | None:
    """A folder inside an installed package, found without importing the package (slow)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)), *parts)
    return folder if folder.is_dir() else None


@cache
def packaged_photos() -> tuple[Path, ...]:
    """The photos the project's Python dependencies ship (skimage, then sklearn when installed), in a
    fixed order: the inputs of tests, which must not change with optional system packages."""
    found: list[Path] = []
    for folder, names in (
        (package_dir("skimage", "data"), SKIMAGE_PHOTOS),
        (package_dir("sklearn", "datasets", "images"), SKLEARN_PHOTOS),
    ):
        if folder is not None:
            found.extend(folder / n for n in names if (folder / n).is_file())
    if not found:
        raise FileNotFoundError("no source photos: install scikit-image, which ships them")
    return tuple(found)


@cache
def source_photos() -> tuple[Path, ...]:
    """Every source photo found on this machine, in a fixed order: `packaged_photos`, then
    opencv-doc's JPEGs when installed (its PNGs are mostly charts, chessboards and rendered scenes)."""
    found = list(packaged_photos())
    if OPENCV_DOC_DATA.is_dir():
        found.extend(p for p in sorted(OPENCV_DOC_DATA.glob("*.jpg")) if _large_enough(p))
    return tuple(found)


def _large_enough(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            return min(im.size) >= MIN_SIDE
    except OSError:
        return False


@cache
def load(path: Path) -> np.ndarray:
    """A source photo as read-only RGB uint8 (grey and RGBA converted), cached per process."""
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    rgb.setflags(write=False)
    return rgb


def random_view(photo: np.ndarray, rng: np.random.Generator, size_range: tuple[int, int]) -> np.ndarray:
    """A random crop of a rescaled, possibly mirrored copy of `photo`.

    The long side is drawn from `size_range` but kept below 1.25× the photo's own long side (so a
    small photo is not blown up into a blurry one), the aspect ratio from [0.6, 1] in either
    orientation; the scale is the smallest that covers the crop times U(1, 1.5). Shrinking uses
    area averaging, enlarging bicubic.
    """
    ph, pw = photo.shape[:2]
    lo, hi = size_range
    long_side = int(rng.integers(lo, max(lo, min(hi, int(1.25 * max(ph, pw)))) + 1))
    short_side = max(1, round(long_side * rng.uniform(0.6, 1.0)))
    h, w = (long_side, short_side) if rng.random() < 0.5 else (short_side, long_side)
    scale = max(h / ph, w / pw) * rng.uniform(1.0, 1.5)
    sh, sw = max(h, round(ph * scale)), max(w, round(pw * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    scaled = cv2.resize(photo, (sw, sh), interpolation=interp)
    y0, x0 = int(rng.integers(0, sh - h + 1)), int(rng.integers(0, sw - w + 1))
    view = scaled[y0 : y0 + h, x0 : x0 + w]
    if rng.random() < 0.5:
        view = view[:, ::-1]
    return np.ascontiguousarray(view)
