"""Face crops as each detector was trained on them.

A detector fed a crop framed unlike its training crops gives a different answer, so each model's
manifest names its authors' recipe ("input": {"crop": name, "margin": factor}); `face_crop` cuts
that region from the frame and resizes it to the input size. The recipes differ where a face nears
the frame's edge:

* "padded" (the default): the square centred on the face box, side = the box's longer side ×
  `margin`, black where it leaves the frame. DeepfakeBench crops the same way, by a landmark-aligned
  similarity warp of the face × 1.3 whose outside is black (`cv2.warpAffine`); without landmarks we
  keep its scale and its black border, not its rotation. The workbench's own training uses it too.
* "ffpp": FaceForensics++'s `get_boundingbox` (detect_from_video.py): side = int(longer side ×
  `margin`) around the box centre, then the top-left corner is moved inside the frame and the side
  shrunk to what fits, so the crop stays square and inside the image, off-centre at an edge.
* "icpr2020": Bonettini et al. (polimi-ispl/icpr2020dfdc): the detector's box grows by
  (`margin` − 1) × its height left, right and below and twice that above, clipped to the frame
  (`FaceExtractor._add_margin_to_detections`, 0.2 published, i.e. margin 1.2); then the square of the
  grown box's longer side around its centre, top-left moved inside the frame and bottom-right
  clipped (`extract_bb(..., "scale")`), resized to the input size even where clipping left it oblong.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from plugins.deepfake.faces import Box

Region = tuple[int, int, int, int]
"""(x0, y0, x1, y1) in frame pixels, end exclusive; may reach outside the frame ("padded")."""


def padded_region(box: Box, margin: float, width: int, height: int) -> Region:
    """The square centred on `box`, side = its longer side × `margin`, wherever the frame ends."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = max(1, round(max(box[2] - box[0], box[3] - box[1]) * margin))
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    return x0, y0, x0 + side, y0 + side


def ffpp_region(box: Box, margin: float, width: int, height: int) -> Region:
    """FaceForensics++'s square: enlarged around the centre, moved and shrunk to lie inside the frame."""
    x1, y1, x2, y2 = (round(v) for v in box)
    side = int(max(x2 - x1, y2 - y1) * margin)
    x0 = min(max((x1 + x2) // 2 - side // 2, 0), width - 1)
    y0 = min(max((y1 + y2) // 2 - side // 2, 0), height - 1)
    side = max(1, min(side, width - x0, height - y0))
    return x0, y0, x0 + side, y0 + side


def icpr2020_region(box: Box, margin: float, width: int, height: int) -> Region:
    """Bonettini et al.'s crop: the box grown (twice above), its longer side's square, kept in the frame."""
    offset = round((margin - 1) * (box[3] - box[1]))
    left, top = int(max(box[0] - offset, 0)), int(max(box[1] - 2 * offset, 0))
    right, bottom = int(min(box[2] + offset, width)), int(min(box[3] + offset, height))
    side = max(right - left, bottom - top, 1)
    x0 = min(max((left + right) // 2 - side // 2, 0), width - 1)
    y0 = min(max((top + bottom) // 2 - side // 2, 0), height - 1)
    return x0, y0, min(x0 + side, width), min(y0 + side, height)


CROPS: dict[str, Callable[[Box, float, int, int], Region]] = {
    "padded": padded_region,
    "ffpp": ffpp_region,
    "icpr2020": icpr2020_region,
}
"""Manifest name → region of the frame the model was trained to see."""


def cut(rgb: np.ndarray, region: Region) -> np.ndarray:
    """The pixels of `region`, black where it leaves the frame."""
    x0, y0, x1, y1 = region
    height, width = rgb.shape[:2]
    canvas = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x1, width), min(y1, height)
    if sx1 > sx0 and sy1 > sy0:
        canvas[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    return canvas


def face_crop(rgb: np.ndarray, box: Box, margin: float, size: tuple[int, int], crop: str = "padded") -> np.ndarray:
    """uint8 crop of `size` (height, width) around the face, framed by the named recipe."""
    try:
        region = CROPS[crop](box, margin, rgb.shape[1], rgb.shape[0])
    except KeyError:
        raise ValueError(f"unknown face crop {crop!r}; known: {', '.join(CROPS)}") from None
    pixels = cut(rgb, region)
    shrinking = max(pixels.shape[:2]) > max(size)
    return cv2.resize(pixels, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
