"""Rotation-invariant Zernike-moment features of the disc around every pixel.

The Zernike moment Z_nm of a disc is the projection of its content on the complex polynomial
R_nm(ρ) e^{imθ}. Rotating the disc by φ only multiplies Z_nm by e^{−imφ}, so the magnitudes
|Z_nm| describe the disc whatever its orientation; they change little when the disc is mildly
rescaled, because they are smooth functions of a low-order polynomial fit. Computed on Cartesian
pixels ("ZM-cart" in Cozzolino, Poggi & Verdoliva 2015), every moment of every pixel's disc is a
correlation of the image with one fixed kernel, i.e. one pass of `cv2.filter2D`.
"""

from __future__ import annotations

from math import factorial

import cv2
import numpy as np

ORDER = 5
"""Highest order n: 12 magnitudes (n ≤ 5, 0 ≤ m ≤ n, n − m even), as in the paper."""
RADIUS = 8
"""Disc radius (px): the 17-px-wide disc stands for the paper's 16-px patch diameter."""


def orders(order: int = ORDER) -> list[tuple[int, int]]:
    """The (n, m) pairs of distinct magnitudes: m ≥ 0, since |Z_n,−m| = |Z_nm|."""
    return [(n, m) for n in range(order + 1) for m in range(n % 2, n + 1, 2)]


def radial(n: int, m: int, rho: np.ndarray) -> np.ndarray:
    """The Zernike radial polynomial R_nm(ρ)."""
    out = np.zeros_like(rho)
    for k in range((n - m) // 2 + 1):
        c = (-1) ** k * factorial(n - k) / (factorial(k) * factorial((n + m) // 2 - k) * factorial((n - m) // 2 - k))
        out += c * rho ** (n - 2 * k)
    return out


def kernels(order: int = ORDER, radius: int = RADIUS) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Real and imaginary correlation kernels of each moment ((2r+1)², None for m = 0).

    The unit disc spans pixel centres up to `radius` + ½ (so edge pixels count whole); each pixel
    is an area element (1 / (radius + ½))², and (n + 1) / π normalises, so Z_00 is the disc's mean.
    """
    span = radius + 0.5
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1] / span
    rho, theta = np.hypot(x, y), np.arctan2(y, x)
    inside = rho <= 1.0
    out = []
    for n, m in orders(order):
        base = np.where(inside, radial(n, m, rho) * (n + 1) / np.pi / span**2, 0.0)
        re = (base * np.cos(m * theta)).astype(np.float32)
        im = (-base * np.sin(m * theta)).astype(np.float32) if m else None
        out.append((re, im))
    return out


def zernike_features(gray: np.ndarray, order: int = ORDER, radius: int = RADIUS) -> np.ndarray:
    """|Z_nm| of the disc around each pixel: float32 (H, W, 12) for order 5.

    The image is reflected at its borders, so border pixels get features too (their discs are
    partly mirrored content; copies there are found less reliably). The 20 correlations are done
    as products of real DFTs (one forward per kernel, one inverse per kernel), about 4× faster than
    `cv2.filter2D` with 17 × 17 kernels.
    """
    gray = np.ascontiguousarray(gray, dtype=np.float32)
    h, w = gray.shape
    padded = cv2.copyMakeBorder(gray, radius, radius, radius, radius, cv2.BORDER_REFLECT)
    size = (cv2.getOptimalDFTSize(padded.shape[0]), cv2.getOptimalDFTSize(padded.shape[1]))
    spectrum = cv2.dft(_place(padded, size))
    ks = kernels(order, radius)
    out = np.empty((h, w, len(ks)), np.float32)
    side = 2 * radius  # a correlation output at (y, x) holds the disc centred at (y − r, x − r) of `padded`

    def correlate(kernel: np.ndarray) -> np.ndarray:
        flipped = _place(np.ascontiguousarray(kernel[::-1, ::-1]), size)
        full = cv2.idft(cv2.mulSpectrums(spectrum, cv2.dft(flipped), 0), flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
        return full[side : side + h, side : side + w]

    for i, (re, im) in enumerate(ks):
        out[..., i] = np.abs(correlate(re)) if im is None else cv2.magnitude(correlate(re), correlate(im))
    return out


def _place(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`values` in the top-left corner of a zero float32 array of `size` (DFT zero padding)."""
    out = np.zeros(size, np.float32)
    out[: values.shape[0], : values.shape[1]] = values
    return out
