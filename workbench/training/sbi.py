"""Self-blended images (Shiohara & Yamasaki, CVPR 2022): face-swap-like fakes made from real faces alone.

A face is blended with a slightly altered copy of itself (colours shifted, detail blurred or
sharpened, a little scaled and moved) through a soft mask over the face. The result has what
face swaps leave — a blending boundary, a colour and sharpness mismatch between the face and its
surroundings — without any identity change, so a detector trained on it learns those generic
traces rather than one manipulation method, and needs no fake data at all.

The authors draw the mask from 81 facial landmarks. No landmark model ships offline, so the mask
here is an ellipse inside the face box, deformed by a random smooth radial wobble and blurred; it
is exactly zero outside the face box, so the image is unchanged there.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

Box = tuple[float, float, float, float]
"""x0, y0, x1, y1 in pixels."""
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
"""The authors' blend ratios: a full blend half of the time."""
WOBBLE_TERMS = 4
"""Random harmonics of the mask's radius: a smooth, irregular outline rather than an ellipse."""


def blend_mask(shape: tuple[int, int], box: Box, rng: np.random.Generator) -> np.ndarray:
    """float32 mask in [0, 1] of the image's (height, width): a blurred, deformed ellipse in the box
    (times a blend ratio), zero outside the box."""
    height, width = shape
    x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x1, y1 = min(width, math.ceil(box[2])), min(height, math.ceil(box[3]))
    bw, bh = x1 - x0, y1 - y0
    if bw < 8 or bh < 8:
        raise ValueError(f"face box {box} is too small for a blend (needs at least 8×8 pixels inside the image)")
    local = np.zeros((bh, bw), np.float32)
    sigma = rng.uniform(0.03, 0.07) * min(bw, bh)
    room = 1.0 - 2.5 * sigma / min(bw, bh)  # keeps the blurred edge inside the box
    centre = (bw / 2 + rng.uniform(-0.04, 0.04) * bw, bh / 2 + rng.uniform(-0.04, 0.04) * bh)
    axes = (rng.uniform(0.30, 0.40) * bw * room, rng.uniform(0.34, 0.42) * bh * room)
    theta = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    wobble = 1.0 + sum(
        rng.uniform(-0.06, 0.06) * np.cos(k * theta + rng.uniform(0, 2 * np.pi)) for k in range(2, 2 + WOBBLE_TERMS)
    )
    points = np.stack([centre[0] + axes[0] * wobble * np.cos(theta), centre[1] + axes[1] * wobble * np.sin(theta)], 1)
    cv2.fillPoly(local, [np.round(points).astype(np.int32)], 1.0)
    local = cv2.GaussianBlur(local, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    mask = np.zeros((height, width), np.float32)
    mask[y0:y1, x0:x1] = local * float(rng.choice(BLEND_RATIOS))
    return mask


def altered_copy(rgb: np.ndarray, box: Box, rng: np.random.Generator) -> np.ndarray:
    """The blend's source: colours shifted, detail blurred or sharpened, scaled and moved a little
    about the face's centre."""
    out = rgb.astype(np.float32)
    out = out * rng.uniform(0.9, 1.1) + rng.uniform(-20, 20, 3)  # contrast, per-channel shift
    out = np.clip(out, 0, 255).astype(np.uint8)
    hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV).astype(np.int16)
    hsv[..., 0] = (hsv[..., 0] + int(rng.integers(-6, 7))) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.85, 1.15), 0, 255)
    out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    choice = rng.integers(3)
    if choice == 0:  # lost detail: down- and up-sampled
        factor = rng.uniform(0.4, 0.8)
        small = cv2.resize(out, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    elif choice == 1:  # over-sharpened
        blurred = cv2.GaussianBlur(out, (0, 0), 1.5)
        out = cv2.addWeighted(out, 1.6, blurred, -0.6, 0)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    scale = rng.uniform(0.95, 1.05)
    size = max(box[2] - box[0], box[3] - box[1])
    matrix = cv2.getRotationMatrix2D((cx, cy), 0.0, scale)
    matrix[:, 2] += rng.uniform(-0.03, 0.03, 2) * size
    return cv2.warpAffine(out, matrix, (rgb.shape[1], rgb.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def self_blend(rgb: np.ndarray, box: Box, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(blended RGB uint8, mask float32): the face blended with its altered copy. Outside the face
    box the mask is zero and the image identical to `rgb`."""
    mask = blend_mask(rgb.shape[:2], box, rng)
    source = altered_copy(rgb, box, rng).astype(np.float32)
    weight = mask[..., None]
    blended = np.round(source * weight + rgb.astype(np.float32) * (1.0 - weight))
    return np.clip(blended, 0, 255).astype(np.uint8), mask
