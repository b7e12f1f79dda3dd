"""Turning heat maps into colours, shared by the viewer's overlay layers and the report figures."""

from __future__ import annotations

import math
import unicodedata

import cv2
import numpy as np

COLORMAP = cv2.COLORMAP_INFERNO


def colorize(heat: np.ndarray) -> np.ndarray:
    """RGB uint8 rendering of a [0, 1] map with the workbench's colour scale."""
    levels = np.clip(np.nan_to_num(heat) * 255.0, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(levels, COLORMAP), cv2.COLOR_BGR2RGB)


def overlay_rgba(heat: np.ndarray) -> np.ndarray:
    """RGBA layer whose opacity follows the map: zero leaves the photo untouched, and a
    quarter of the scale is already opaque, so weak but real structure stays visible."""
    rgba = np.empty((*heat.shape, 4), np.uint8)
    rgba[..., :3] = colorize(heat)
    rgba[..., 3] = np.clip(np.nan_to_num(heat) * 255.0 * 4.0, 0, 255).astype(np.uint8)
    return rgba


def blend(rgb: np.ndarray, heat: np.ndarray, opacity: float = 0.7) -> np.ndarray:
    """The photo with the map composited over it, as in the viewer at the given opacity."""
    layer = overlay_rgba(heat).astype(np.float32)
    alpha = layer[..., 3:] / 255.0 * opacity
    out = rgb.astype(np.float32) * (1 - alpha) + layer[..., :3] * alpha
    return out.round().astype(np.uint8)


def legend_bar(width: int = 256, height: int = 16) -> np.ndarray:
    """A horizontal colour bar from 0 (left) to 1 (right)."""
    ramp = np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1))
    return colorize(ramp)


PAIR_COLOURS = ((0, 255, 255), (255, 64, 255))  # line, endpoints (RGB)


def draw_pairs(rgb: np.ndarray, pairs: np.ndarray, max_pairs: int = 2000) -> np.ndarray:
    """Matched point pairs (x1, y1, x2, y2) drawn as lines with marked ends, for figures."""
    out = np.ascontiguousarray(rgb.copy())
    thickness = max(1, round(max(out.shape[:2]) / 600))
    for x1, y1, x2, y2 in np.asarray(pairs, dtype=np.float32)[:max_pairs]:
        p, q = (round(float(x1)), round(float(y1))), (round(float(x2)), round(float(y2)))
        cv2.line(out, p, q, PAIR_COLOURS[0], thickness, cv2.LINE_AA)
        for point in (p, q):
            cv2.circle(out, point, 2 * thickness, PAIR_COLOURS[1], -1, cv2.LINE_AA)
    return out


def contact_sheet(maps: dict[str, np.ndarray], columns: int = 5, width: int = 180,
                  max_items: int = 20) -> np.ndarray:
    """Small colourised copies of several maps in a grid, each labelled (e.g. one per quality)."""
    items = list(maps.items())
    if len(items) > max_items:  # keep the first and last, evenly spaced in between
        keep = np.linspace(0, len(items) - 1, max_items).round().astype(int)
        items = [items[i] for i in keep]
    h0, w0 = items[0][1].shape[:2]
    height = max(1, round(width * h0 / w0))
    tiles = []
    for label, values in items:
        tile = cv2.resize(colorize(values), (width, height), interpolation=cv2.INTER_AREA)
        tile = cv2.copyMakeBorder(tile, 18, 4, 4, 4, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        cv2.putText(tile, label, (6, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    blank = np.full_like(tiles[0], 255)
    while len(tiles) % columns:
        tiles.append(blank)
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    return np.vstack(rows)


def ascii_text(text: str) -> str:
    """OpenCV's fonts draw ASCII only: dashes and accents folded, anything else as "?"."""
    text = text.translate({0x2013: "-", 0x2014: "-", 0x2018: "'", 0x2019: "'", 0xD7: "x", 0xB0: " deg"})
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c if c.isascii() else "?" for c in folded if not unicodedata.combining(c))


TICK_STEPS_S = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)


def time_ticks(span: float, most: int = 10) -> list[float]:
    """Round tick times (seconds) from 0 to `span`, at most `most` + 1 of them, for figures' time axes."""
    step = next((s for s in TICK_STEPS_S if span / s <= most), math.inf)
    step = step if math.isfinite(step) else span
    return [i * step for i in range(int(span / step + 1e-9) + 1)] if step > 0 else [0.0]
