"""Turning heat maps into colours, shared by the viewer's overlay layers and the report figures."""

from __future__ import annotations

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
