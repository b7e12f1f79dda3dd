"""Dense-field verification of a nearest-neighbour field (Cozzolino, Poggi & Verdoliva 2015, §IV).

Inside a copy the field is smooth: every point of the target points to the matching point of the
source, and for a rotated or scaled copy these offsets follow one linear (affine) model. Elsewhere
the nearest neighbour is a chance match and the field is noise. So the field is median-filtered
(isolated wrong matches go), a linear model is fitted to it around every point by least squares,
and the points where the fit is good, the offset long enough and the model a plausible rotation
and scale are kept; small regions are dropped, each kept point's match is added (the copy's other
side), and the mask is dilated by the radii the filters ate away.

All steps run on the field's grid (`stride` px); lengths and areas are given in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Verification:
    """Per grid point: the median-filtered offsets (dy, dx, float32, px), the least-squares fitting
    error of the local linear model (sum over a disc of radius `fit_radius` px, px²), the model's
    local map M = I + ∂δ/∂p (2 × 2, (y, x) order) and the points kept as copies."""

    offsets: np.ndarray
    fit_error: np.ndarray
    jacobian: np.ndarray
    kept: np.ndarray


def disc(radius: int) -> np.ndarray:
    """A float64 disc of the given radius (in grid cells), 1 inside, 0 outside."""
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.float64)


def median_field(offsets: np.ndarray, radius_px: float, stride: int) -> np.ndarray:
    """Each offset component median-filtered over a (2k+1)² window, k ≈ radius / stride (3 or 5
    wide: the sizes `cv2.medianBlur` takes for float data)."""
    size = 5 if radius_px / stride >= 1.5 else 3
    return np.stack([cv2.medianBlur(offsets[..., c].astype(np.float32), size) for c in (0, 1)], axis=-1)


def linear_fit(offsets: np.ndarray, radius_px: float, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of δ(p) = A p + b over the disc around every point: the residual sum of
    squares (in px², per full-resolution pixel: × stride²) and M = I + A.

    On a symmetric disc the regressors 1, u, v are orthogonal, so the fit decomposes into three
    correlations per component: RSS = Σδ² − (Σδ)²/n − (Σδu)²/Σu² − (Σδv)²/Σv², and A's columns are
    Σδu/Σu², Σδv/Σv². Float64, since Σδ² of offsets of hundreds of pixels dwarfs the residual.
    """
    r = max(1, round(radius_px / stride))
    weights = disc(r)
    v, u = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)  # v: rows (y), u: columns (x)
    n, su2, sv2 = weights.sum(), (u * u * weights).sum(), (v * v * weights).sum()
    rss = np.zeros(offsets.shape[:2])
    jac = np.zeros((*offsets.shape[:2], 2, 2))
    for c in (0, 1):
        d = offsets[..., c].astype(np.float64)

        def corr(kernel: np.ndarray, values: np.ndarray = d) -> np.ndarray:
            return cv2.filter2D(values, cv2.CV_64F, kernel, borderType=cv2.BORDER_REPLICATE)

        s1, sv, su = corr(weights), corr(v * weights), corr(u * weights)
        rss += corr(weights, d * d) - s1 * s1 / n - sv * sv / sv2 - su * su / su2
        jac[..., c, 0], jac[..., c, 1] = sv / sv2 / stride, su / su2 / stride
    jac += np.eye(2)
    return np.maximum(rss, 0.0) * stride * stride, jac


def plausible_maps(jac: np.ndarray, max_scale: float) -> np.ndarray:
    """Local maps that a copy can make: a rotation with a scale within [1/max_scale, max_scale] and
    not much shear (singular-value ratio ≤ 1.5). Mirrored maps (det < 0) are refused: Zernike
    magnitudes cannot tell a mirror image, so mirror-symmetric objects match themselves."""
    big, small = singular_values(jac)
    det = jac[..., 0, 0] * jac[..., 1, 1] - jac[..., 0, 1] * jac[..., 1, 0]
    return (det > 0) & (small >= 1.0 / max_scale) & (big <= max_scale) & (big <= 1.5 * small)


def singular_values(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both singular values of every 2 × 2 matrix (…, 2, 2) in closed form (far cheaper than an SVD
    per point): with q, r the norms of its conformal and anti-conformal parts, q + r and |q − r|."""
    a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
    q, r = np.hypot((a + d) / 2, (c - b) / 2), np.hypot((a - d) / 2, (c + b) / 2)
    return q + r, np.abs(q - r)


def drop_small(mask: np.ndarray, min_cells: float) -> np.ndarray:
    """The mask without its 8-connected regions of fewer than `min_cells` grid points."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    big = stats[:, cv2.CC_STAT_AREA] >= min_cells
    big[0] = False
    return big[labels]


def matched_cells(offsets: np.ndarray, stride: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Grid (row, column) of each point's match p + δ(p), rounded and kept inside the grid."""
    rows, cols = np.indices(offsets.shape[:2])
    gy = np.rint(rows + offsets[..., 0] / stride).astype(np.int64).clip(0, shape[0] - 1)
    gx = np.rint(cols + offsets[..., 1] / stride).astype(np.int64).clip(0, shape[1] - 1)
    return gy, gx


def verify(
    offsets: np.ndarray, stride: int, structured: np.ndarray, *, median_radius: float, fit_radius: float,
    max_fit_error: float, min_shift: float, min_area: float, max_scale: float,
) -> Verification:
    """The paper's post-processing up to the size test: median filter, fitting error below
    `max_fit_error` (px² summed over the fit disc), offset ≥ `min_shift`, plausible local map,
    regions of at least `min_area` px; and only where the disc has some structure (`structured`): in
    a flat area every offset is a perfect match, so PatchMatch spreads one smooth, meaningless field."""
    smooth = median_field(offsets, median_radius, stride)
    error, jac = linear_fit(smooth, fit_radius, stride)
    shift = np.hypot(smooth[..., 0], smooth[..., 1])
    kept = (error <= max_fit_error) & (shift >= min_shift) & plausible_maps(jac, max_scale) & structured
    kept = drop_small(kept, min_area / stride**2)
    return Verification(smooth, error.astype(np.float32), jac.astype(np.float32), kept)


def grid_to_pixels(grid: np.ndarray, stride: int, shape: tuple[int, int]) -> np.ndarray:
    """A grid map (one cell per stride × stride pixels, from the top left) at the pixel size `shape`
    (nearest; the last row and column are repeated where the grid stops short of an odd edge)."""
    full = np.repeat(np.repeat(grid, stride, axis=0), stride, axis=1)[: shape[0], : shape[1]]
    return np.pad(full, ((0, shape[0] - full.shape[0]), (0, shape[1] - full.shape[1])), mode="edge")
