"""The report's figures as RGB arrays (OpenCV, no Qt), each only as large as it prints.

QPdfWriter embeds an opaque image as a quality-94 JPEG at its full pixel size, whatever size it is
printed at (measured: a 1200×1200 photo printed 160 mm wide takes 365 kB). So every figure is made
at `SCALE` image pixels per document pixel (168 dpi on paper) and no larger: drawing the maps of a
camera photo at full size is what made the old report tens of megabytes.
"""

from __future__ import annotations

import cv2
import numpy as np

from workbench.app.per_frame import draw_boxes
from workbench.core.render import blend, colorize, draw_pairs

SCALE = 1.75
"""Image pixels per document pixel (96 per inch): 168 dpi printed; a full-width figure is 1190 px."""
OUTLINE = (0, 255, 255)
OUTLINE_SHADOW = (0, 0, 0)


def print_size(doc_width: int) -> int:
    """Pixels a figure needs to print sharply `doc_width` document pixels wide."""
    return round(doc_width * SCALE)


def fit(rgb: np.ndarray, width: int) -> np.ndarray:
    """`rgb` reduced (never enlarged) to at most `width` pixels wide, area-averaged."""
    h, w = rgb.shape[:2]
    if w <= width:
        return np.ascontiguousarray(rgb)
    return cv2.resize(rgb, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


def heat_layer(rgb: np.ndarray | None, heat: np.ndarray, width: int) -> np.ndarray:
    """The map over the image as the viewer shows it (opacity 0.7), reduced first to `width`: the
    blend of a 20-MP photo costs seconds, that of its printed size milliseconds. Without the image
    (file gone or changed) the map alone is drawn."""
    small_heat = fit(np.nan_to_num(heat.astype(np.float32)), width)
    if rgb is None:
        return colorize(small_heat)
    small_rgb = cv2.resize(rgb, small_heat.shape[::-1], interpolation=cv2.INTER_AREA)
    return blend(small_rgb, small_heat)


def heat_with_pairs(rgb: np.ndarray | None, heat: np.ndarray, width: int, pairs: np.ndarray | None) -> np.ndarray:
    """`heat_layer` with matched point pairs (copy-move) drawn at the reduced scale."""
    out = heat_layer(rgb, heat, width)
    if pairs is not None and len(pairs):
        out = draw_pairs(out, np.asarray(pairs, np.float32) * (out.shape[1] / heat.shape[1]))
    return out


def boxes_layer(rgb: np.ndarray, boxes: np.ndarray, labels: list[str], width: int) -> np.ndarray:
    """Boxes (frame pixels) with their labels over `rgb` reduced to `width`: labels stay legible."""
    small = fit(rgb, width)
    factor = small.shape[1] / rgb.shape[1]
    return draw_boxes(small, np.asarray(boxes, np.float64) * factor, labels)


def outline(rgb: np.ndarray, region: dict | None, factor: float = 1.0, offset: tuple[float, float] = (0, 0),
            extra_box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """A finding's region drawn on a copy of `rgb` whose pixel (0, 0) is `offset` in the original
    and which is `factor` times its size; `extra_box` (x0, y0, x1, y1, original pixels) marks the
    crop shown beside an overview."""
    out = np.ascontiguousarray(rgb.copy())
    thickness = max(2, round(max(out.shape[:2]) / 300))

    def to_px(points: np.ndarray) -> np.ndarray:
        return ((points - np.asarray(offset, np.float64)) * factor).round().astype(np.int32)

    shapes = []
    if region is not None:
        points = np.asarray(region["points"], np.float64)
        if region["kind"] == "rect":
            (x0, y0), (x1, y1) = points.min(0), points.max(0)
            points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        shapes.append((to_px(points), OUTLINE))
    if extra_box is not None:
        x0, y0, x1, y1 = extra_box
        shapes.append((to_px(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)), (255, 255, 255)))
    for polygon, colour in shapes:
        cv2.polylines(out, [polygon], True, OUTLINE_SHADOW, thickness + 2, cv2.LINE_AA)
        cv2.polylines(out, [polygon], True, colour, thickness, cv2.LINE_AA)
    return out


def region_box(region: dict, shape: tuple[int, ...], margin: float = 0.5, least: int = 48) -> tuple[int, ...]:
    """The region's bounding box grown by `margin` of its size (at least `least` px) on each side,
    inside the image: x0, y0, x1, y1 (the whole image for a region drawn outside it)."""
    points = np.asarray(region["points"], np.float64)
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    grow_x, grow_y = max(least, margin * (x1 - x0)), max(least, margin * (y1 - y0))
    h, w = shape[:2]
    box = (int(max(0, x0 - grow_x)), int(max(0, y0 - grow_y)), int(min(w, np.ceil(x1 + grow_x))),
           int(min(h, np.ceil(y1 + grow_y))))
    return box if box[2] > box[0] and box[3] > box[1] else (0, 0, w, h)
