"""The built-in sample case: real photos shipped by scikit-image, one generated splice, and two
generated videos (camera moves over those photos; the second re-uses part of the first). Also the
evidence of a larger, camera-sized case on which the report's page and size budget is measured.

Nothing here is committed to the repository; the files are made from the installed package
the first time the app starts without arguments.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from workbench.app.case import Case
from workbench.app.importing import import_paths
from workbench.core.paths import data_dir
from workbench.synthetic.photos import package_dir
from workbench.synthetic.videos import camera_move, face_clip, write_video

PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png")
SPLICE_NAME = "astronaut_spliced.jpg"
VIDEO_NAME = "astronaut_interview.mp4"
REUPLOAD_NAME = "reupload_with_caption.avi"
VIDEO_SIZE = (480, 360)


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
    return paths + write_sample_videos(folder)


def write_sample_videos(folder: Path, fps: float = 25.0) -> list[Path]:
    """A 10-s clip (a face, then a cut to another scene) and a re-upload: its seconds 2–8, captioned
    and re-encoded as MJPEG, after 3 s of an unrelated scene. Copy detection should find 2–8 ↔ 3–9."""
    original = camera_move(load_photo("astronaut.png"), 6.0, fps, VIDEO_SIZE, seed=4) + camera_move(
        load_photo("coffee.png"), 4.0, fps, VIDEO_SIZE, seed=7)
    reused = [_caption(frame, "BREAKING") for frame in original[int(2 * fps):int(8 * fps)]]
    intro = camera_move(load_photo("chelsea.png"), 3.0, fps, VIDEO_SIZE, seed=5)
    return [write_video(folder / VIDEO_NAME, original, fps), write_video(folder / REUPLOAD_NAME, intro + reused, fps)]


def _caption(rgb: np.ndarray, text: str) -> np.ndarray:
    out = rgb.copy()
    h, w = out.shape[:2]
    cv2.rectangle(out, (0, h - 48), (w, h), (180, 0, 0), -1)
    cv2.putText(out, text, (12, h - 14), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2, cv2.LINE_AA)
    return out


CASE_PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "motorcycle_left.png", "rocket.jpg")
CASE_LONG_SIDE = 1400
CASE_SPLICE = (0.55, 0.6, 0.25, 0.3)
"""The pasted patch of the 8-item case's splice: top, left, height, width as fractions of the image."""


def scaled(rgb: np.ndarray, long_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    factor = long_side / max(h, w)
    return cv2.resize(rgb, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_CUBIC)


def splice_box(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The 8-item case's pasted patch in an image of `shape` (h, w, ...): x0, y0, x1, y1 in pixels."""
    top, left, height, width = CASE_SPLICE
    h, w = shape[:2]
    return round(left * w), round(top * h), round((left + width) * w), round((top + height) * h)


def write_case_evidence(folder: Path, long_side: int = CASE_LONG_SIDE, clip_seconds: float = 4.0) -> list[Path]:
    """Eight files of a realistic case: five camera-sized JPEG photos (scikit-image's, scaled up to a
    phone camera's long side), a splice of two of them, and two short clips (a face; a pan over two
    other photos). The report's budget test and `bench/report_size.py` measure the report on them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in CASE_PHOTOS:
        path = folder / f"{Path(name).stem}.jpg"
        path.write_bytes(jpeg_bytes(scaled(load_photo(name), long_side), 90))
        paths.append(path)
    host, donor = scaled(load_photo("astronaut.png"), long_side), scaled(load_photo("coffee.png"), long_side)
    x0, y0, x1, y1 = splice_box(host.shape)
    data, _mask = make_splice(host, donor[:y1 - y0, -(x1 - x0):], (y0, x0))
    paths.append(folder / "astronaut_spliced.jpg")
    paths[-1].write_bytes(data)
    fps, size = 10.0, (480, 360)
    paths.append(write_video(folder / "interview.mp4", face_clip(clip_seconds, fps, size), fps))
    pan = camera_move(load_photo("chelsea.png"), clip_seconds / 2, fps, size, seed=5) + camera_move(
        load_photo("coffee.png"), clip_seconds / 2, fps, size, seed=7)
    paths.append(write_video(folder / "reupload.avi", pan, fps))
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
