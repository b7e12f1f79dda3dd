"""Perceptual hashes for exact and near-exact duplicates: the DCT hash (pHash, Zauner 2010) and the
difference hash (dHash, Krawetz 2013), 64 bits each. Re-encoding, resizing and mild colour changes
keep the Hamming distance small (≤ 8 of 64); crops, rotations and flips do not (the CNN descriptor
covers those)."""

from __future__ import annotations

import cv2
import numpy as np

NEAR_DUPLICATE_BITS = 8
"""Hamming distance of the pHash at or below which two images are called near-duplicates."""


def _grey(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)


def _pack(bits: np.ndarray) -> int:
    return int.from_bytes(np.packbits(bits.ravel().astype(np.uint8)).tobytes(), "big")


def phash(rgb: np.ndarray) -> int:
    """64-bit DCT hash: the 8×8 lowest frequencies (DC excluded from the median) of a 32×32 grey
    thumbnail, each bit = coefficient above their median."""
    low = cv2.dct(_grey(rgb, (32, 32)))[:8, :8]
    return _pack(low > np.median(low.ravel()[1:]))


def dhash(rgb: np.ndarray) -> int:
    """64-bit difference hash: is each pixel of a 9×8 grey thumbnail brighter than its right neighbour."""
    g = _grey(rgb, (9, 8))
    return _pack(g[:, 1:] > g[:, :-1])


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()
