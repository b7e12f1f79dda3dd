"""Face crops as the detectors were trained on them: a square around the face, enlarged by the
model's margin factor, padded with black where it leaves the frame, resized to the input size.

Published detectors were trained on such enlarged crops (FaceForensics++ and DeepfakeBench: the
face box × 1.3); feeding them tighter or looser crops changes their output, so each model's
manifest states its margin ("input": {"margin": ...}).
"""

from __future__ import annotations

import cv2
import numpy as np

from plugins.deepfake.faces import Box


def square_box(box: Box, margin: float) -> tuple[int, int, int]:
    """(x0, y0, side) of the square centred on `box` whose side is its longer side × `margin`."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = max(1, round(max(box[2] - box[0], box[3] - box[1]) * margin))
    return round(cx - side / 2), round(cy - side / 2), side


def face_crop(rgb: np.ndarray, box: Box, margin: float, size: tuple[int, int]) -> np.ndarray:
    """uint8 crop of `size` (height, width) around the face; parts outside the frame are black."""
    x0, y0, side = square_box(box, margin)
    height, width = rgb.shape[:2]
    canvas = np.zeros((side, side, 3), np.uint8)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side, width), min(y0 + side, height)
    if sx1 > sx0 and sy1 > sy0:
        canvas[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    shrinking = side > max(size)
    return cv2.resize(canvas, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
