"""Generated test videos: camera moves over real photographs, written with OpenCV's own encoders.

No video file is committed or downloaded. A "clip" pans and zooms across one of the photos that
installed packages ship (`photos.source_photos`), so its frames are natural images that change
smoothly over time, like footage; different photos give unrelated clips (distractors).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from workbench.synthetic.photos import load, source_photos

CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG", ".mov": "mp4v"}
"""Encoders every OpenCV wheel has (no H.264: the wheels ship without a licensed encoder)."""


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float = 25.0) -> Path:
    """Write RGB frames (all the same size) with the encoder for the file's extension."""
    path = Path(path)
    writer = None
    try:
        for rgb in frames:
            if writer is None:
                h, w = rgb.shape[:2]
                fourcc = cv2.VideoWriter_fourcc(*CODECS.get(path.suffix.lower(), "MJPG"))
                writer = cv2.VideoWriter(str(path), fourcc, fps, (w, h))
                if not writer.isOpened():
                    raise OSError(f"OpenCV cannot write {path.suffix} video to {path}")
            writer.write(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    finally:
        if writer is not None:
            writer.release()
    return path


def camera_move(
    photo: np.ndarray, seconds: float, fps: float = 25.0, size: tuple[int, int] = (640, 480), seed: int = 0
) -> list[np.ndarray]:
    """Frames of a slow pan-and-zoom over `photo` (RGB), `size` = (width, height)."""
    rng = np.random.default_rng(seed)
    out_w, out_h = size
    h, w = photo.shape[:2]
    n = max(int(round(seconds * fps)), 1)
    zoom0, zoom1 = rng.uniform(0.55, 0.9, 2)
    start, end = rng.uniform(0, 1, 2), rng.uniform(0, 1, 2)
    frames = []
    for i in range(n):
        t = i / max(n - 1, 1)
        zoom = zoom0 + (zoom1 - zoom0) * t
        crop_w = min(w, h * out_w / out_h) * zoom
        crop_h = crop_w * out_h / out_w
        cx = crop_w / 2 + (w - crop_w) * (start[0] + (end[0] - start[0]) * t)
        cy = crop_h / 2 + (h - crop_h) * (start[1] + (end[1] - start[1]) * t)
        sx, sy = out_w / crop_w, out_h / crop_h
        matrix = np.float32([[sx, 0, out_w / 2 - sx * cx], [0, sy, out_h / 2 - sy * cy]])
        frames.append(cv2.warpAffine(photo, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT))
    return frames


def photo_clip(index: int, seconds: float, fps: float = 25.0, size: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    """A clip over the `index`-th source photo (wrapping around the list), seeded by `index`."""
    photos = source_photos()
    return camera_move(load(photos[index % len(photos)]), seconds, fps, size, seed=index)


def face_clip(seconds: float = 3.0, fps: float = 10.0, size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    """A slow push-in over scikit-image's astronaut photo that keeps her face in view: a real face,
    which the Haar cascade finds, moving and growing across the frames (for face tracking)."""
    photo = load(next(p for p in source_photos() if p.name == "astronaut.png"))
    out_w, out_h = size
    n = max(int(round(seconds * fps)), 1)
    frames = []
    for i in range(n):
        t = i / max(n - 1, 1)
        crop_w = 400 - 120 * t  # the face (about 95 px of the photo) grows from ~1/4 to ~1/3 of the width
        cx, cy = 220 + 15 * t, 160 - 30 * t
        scale = out_w / crop_w
        matrix = np.float32([[scale, 0, out_w / 2 - scale * cx], [0, scale, out_h / 2 - scale * cy]])
        frames.append(cv2.warpAffine(photo, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT))
    return frames
