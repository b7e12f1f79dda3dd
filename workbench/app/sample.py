"""The built-in sample case: real photos shipped by scikit-image plus one generated splice.

Nothing here is committed to the repository; the files are made from the installed package
the first time the app starts without arguments.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from workbench.app.case import Case
from workbench.app.importing import import_paths
from workbench.core.paths import data_dir
from workbench.synthetic.photos import package_dir

PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png")
SPLICE_NAME = "astronaut_spliced.jpg"


def skimage_data_dir() -> Path:
    """scikit-image's bundled data folder (it ships the sample photos)."""
    folder = package_dir("skimage", "data")
    if folder is None:
        raise FileNotFoundError("scikit-image is not installed: it ships the sample photos")
    return folder


def load_photo(name: str) -> np.ndarray:
    with Image.open(skimage_data_dir() / name) as im:
        return np.asarray(im.convert("RGB"))


def jpeg_bytes(rgb: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def make_splice(
    host: np.ndarray, patch: np.ndarray, at: tuple[int, int], quality: int = 90
) -> tuple[bytes, np.ndarray]:
    """Paste an uncompressed `patch` into a JPEG-compressed `host` at (row, col), save again.

    The host area is then compressed twice at one quality, the pasted area once, which is
    exactly what error level analysis reveals. Returns the JPEG bytes and the exact mask.
    """
    y0, x0 = at
    y1, x1 = y0 + patch.shape[0], x0 + patch.shape[1]
    spliced = decode(jpeg_bytes(host, quality)).copy()
    spliced[y0:y1, x0:x1] = patch
    mask = np.zeros(host.shape[:2], bool)
    mask[y0:y1, x0:x1] = True
    return jpeg_bytes(spliced, quality), mask


def write_sample_evidence(folder: Path) -> list[Path]:
    """Write the sample photos (as camera-like JPEGs) and the splice with its mask."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in PHOTOS:
        path = folder / (Path(name).stem + ".jpg")
        path.write_bytes(jpeg_bytes(load_photo(name), 90))
        paths.append(path)
    host, donor = load_photo("astronaut.png"), load_photo("coffee.png")
    data, mask = make_splice(host, donor[90:230, 190:350], (300, 330))
    (folder / SPLICE_NAME).write_bytes(data)
    Image.fromarray(mask.astype(np.uint8) * 255).save(folder.parent / "splice_mask.png")
    paths.append(folder / SPLICE_NAME)
    return paths


def open_sample_case() -> Case:
    """Open the sample case, building it on first use (under the user data folder)."""
    root = data_dir() / "sample"
    case_dir = root / "case"
    if (case_dir / "case.sqlite").exists():
        return Case.open(case_dir)
    paths = write_sample_evidence(root / "evidence")
    case = Case.create(case_dir, name="Sample case", analyst="")
    import_paths(case, paths)
    return case
