"""Pairing verified copy regions with their sources, and telling which side is the copy.

Pairing (after Cozzolino et al. 2015): the verified points and their matches are grown into
regions; each verified point links its own region to its match's. Regions mostly matched to
themselves — a brick wall, a lawn, a sky whose parts all resemble each other — are dropped: a
copy and its source are two regions linked to each other.

Direction (our addition; the paper leaves it open): a rotated or scaled copy is an interpolation
of its source. Predicting the copy from the source with the fitted map repeats that interpolation
and leaves only the compression noise; predicting the source from the copy cannot bring back the
detail the interpolation removed. The side predicted better is the copy. A shifted copy that was
not resampled (whole-pixel offsets) gives a ratio near 1: direction unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from plugins.localization.dense_field import Verification, disc, grid_to_pixels, matched_cells
from plugins.localization.patchmatch import Field

DIRECTION_MARGIN = 0.25
"""Prediction errors must differ by this factor (1.25×) before a side is called the copy."""
AGREEMENT = 0.8
"""Local similarity of a pixel's window to its image under the pair's map that extends a region."""
AGREEMENT_WINDOW = 7
"""Side (px) of the window the similarity is measured on."""
SSIM_C = (0.03 * 255) ** 2
"""SSIM's stabilising constant for the (co)variances of 8-bit images (Wang et al. 2004)."""


@dataclass
class Pair:
    """Two linked regions: for each side the grid cells of its verified points matched into the
    other side and of the other side's matches (`*_cells`); the least-squares affine map from
    target to source (2 × 3, x, y working px); the raw field vectors between them (source → target);
    after `resampling_direction`, +1 when the target is known to be the copy (0: unknown) and the
    ratio of the two prediction errors (≥ 1: source predicted from the copy over the reverse); after
    `refine`, each side's region in working pixels."""

    source_cells: np.ndarray
    target_cells: np.ndarray
    affine: np.ndarray
    area: float
    lines: np.ndarray
    direction: int = 0
    ratio: float = 1.0
    source_region: np.ndarray | None = None
    target_region: np.ndarray | None = None

    def swap(self) -> None:
        """Exchange the roles of the two sides."""
        self.source_cells, self.target_cells = self.target_cells, self.source_cells
        self.affine = cv2.invertAffineTransform(self.affine)
        self.lines = self.lines[:, [2, 3, 0, 1]]


def copy_pairs(ver: Verification, field: Field, stride: int, grow_px: float) -> list[Pair]:
    """The linked region pairs, largest first.

    Each connected region of verified points votes, point by point, for the region its matches
    land in (looked up within the grow radius). A region whose matches mostly land in itself is
    self-similar and dropped; one whose matches land on no verified region still forms a pair
    with the place they land on (that side failed a test, e.g. was too blurred to fit well).
    """
    kept = ver.kept
    count, comp = cv2.connectedComponents(kept.astype(np.uint8), connectivity=8)
    gy, gx = matched_cells(ver.offsets, stride, kept.shape)
    grow = disc(max(1, round(grow_px / stride))).astype(np.uint8)
    near = cv2.dilate(comp.astype(np.float32), grow).astype(np.int64)  # a neighbouring label (the largest)
    hit = near[gy, gx]
    partners = set()
    for i in range(1, count):
        votes = np.bincount(hit[comp == i], minlength=count)
        j = int(np.argmax(votes))
        if j != i:
            partners.add((min(i, j), max(i, j)) if j else (i, 0))
    pairs = []
    for i, j in sorted(partners):
        side_i = (comp == i) & (hit == j) if j else comp == i
        side_j = (comp == j) & (hit == i) if j else np.zeros_like(kept)
        mirror_i, mirror_j = np.zeros_like(kept), np.zeros_like(kept)
        mirror_j[gy[side_i], gx[side_i]] = True  # where side i's matches land
        mirror_i[gy[side_j], gx[side_j]] = True
        pairs.append(Pair(side_i | mirror_i, side_j | mirror_j, _fit(field, side_i, side_j),
                          float((side_i.sum() + side_j.sum()) * stride**2), _lines(field, side_i, side_j)))
    pairs.sort(key=lambda p: -p.area)
    return pairs


def _lines(field: Field, side_i: np.ndarray, side_j: np.ndarray) -> np.ndarray:
    """Raw field vectors from side i to side j (x1, y1, x2, y2): side i's points to their matches,
    and side j's matches back to its points."""
    def ends(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        start = _cell_points(field, cells)
        return start, start + field.offsets[cells][:, ::-1]

    fi, ti = ends(side_i)
    tj, fj = ends(side_j)
    return np.concatenate([np.concatenate([fi, ti], axis=1), np.concatenate([fj, tj], axis=1)])


def _cell_points(field: Field, cells: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(cells)
    return np.stack([field.xs[cols], field.ys[rows]], axis=1).astype(np.float64)


def _fit(field: Field, side_i: np.ndarray, side_j: np.ndarray) -> np.ndarray:
    """Affine map from side j to side i (x, y), fitted to the raw field vectors (RANSAC, then least
    squares on the inliers)."""
    lines = _lines(field, side_i, side_j).astype(np.float32)
    frm, to = np.ascontiguousarray(lines[:, 2:]), np.ascontiguousarray(lines[:, :2])
    affine, _ = cv2.estimateAffine2D(frm, to, method=cv2.RANSAC, ransacReprojThreshold=2.0,
                                     refineIters=10)
    return affine if affine is not None else np.hstack([np.eye(2), (to - frm).mean(axis=0)[:, None]])


def prediction_error(gray: np.ndarray, cells: np.ndarray, stride: int, affine: np.ndarray) -> float:
    """Mean squared difference between the pixels of `cells` and the image sampled (bilinear) at
    their images under `affine` (x, y, working px)."""
    inside = grid_to_pixels(cells, stride, gray.shape)
    ys, xs = np.nonzero(inside)
    if len(xs) == 0:
        return float("nan")
    at = cv2.transform(np.stack([xs, ys], axis=1)[:, None].astype(np.float64), affine)[:, 0].astype(np.float32)
    predicted = cv2.remap(gray, at[:, :1], at[:, 1:], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)[:, 0]
    return float(np.mean((gray[ys, xs] - predicted) ** 2))


def resampling_direction(pair: Pair, gray: np.ndarray, stride: int) -> None:
    """Orient the pair so that its target is the side better predicted from the other (the copy),
    or mark the direction unknown when the two errors are within DIRECTION_MARGIN."""
    copy_error = prediction_error(gray, pair.target_cells, stride, pair.affine)  # target from source
    source_error = prediction_error(gray, pair.source_cells, stride, cv2.invertAffineTransform(pair.affine))
    if not (np.isfinite(copy_error) and np.isfinite(source_error)):
        return
    ratio = (source_error + 1e-6) / (copy_error + 1e-6)
    if ratio < 1.0:
        pair.swap()
        ratio = 1.0 / ratio
    pair.ratio = ratio
    pair.direction = int(ratio >= 1.0 + DIRECTION_MARGIN)


def agreement(gray: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """How well each pixel's window matches its image under `affine` (x, y): SSIM's contrast-structure
    term (2 cov + C) / (var₁ + var₂ + C) over AGREEMENT_WINDOW² windows, in [−1, 1]. Flat windows
    agree with any flat window: used only close to a verified region."""
    h, w = gray.shape
    warped = cv2.warpAffine(gray, affine, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REFLECT)

    def mean(values: np.ndarray) -> np.ndarray:
        return cv2.blur(values, (AGREEMENT_WINDOW, AGREEMENT_WINDOW))

    ma, mb = mean(gray), mean(warped)
    var_a, var_b = mean(gray * gray) - ma * ma, mean(warped * warped) - mb * mb
    cov = mean(gray * warped) - ma * mb
    return (2 * cov + SSIM_C) / (var_a + var_b + SSIM_C)


def refined_region(gray: np.ndarray, cells: np.ndarray, stride: int, affine: np.ndarray, grow: float,
                   reach: float) -> np.ndarray:
    """A side's region at pixel level: its verified points grown by `grow` px (the paper's dilation),
    and, up to `reach` px away, the pixels whose window agrees with the pair's map (after the
    correlation maps of Pan & Lyu 2010) connected to them."""
    seeds = grid_to_pixels(cells, stride, gray.shape).astype(np.uint8)
    base = cv2.dilate(seeds, disc(max(1, round(grow))).astype(np.uint8)).astype(bool)
    near = cv2.dilate(seeds, disc(max(1, round(reach))).astype(np.uint8)).astype(bool)
    region = (near & (agreement(gray, affine) >= AGREEMENT)) | base
    count, labels = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
    touching = np.zeros(count, bool)
    touching[labels[base]] = True
    touching[0] = False
    return touching[labels]


def refine(pair: Pair, gray: np.ndarray, stride: int, grow: float, reach: float) -> None:
    """Both sides' regions at pixel level (`refined_region`), each with the map onto the other."""
    inverse = cv2.invertAffineTransform(pair.affine)
    pair.target_region = refined_region(gray, pair.target_cells, stride, pair.affine, grow, reach)
    pair.source_region = refined_region(gray, pair.source_cells, stride, inverse, grow, reach)
