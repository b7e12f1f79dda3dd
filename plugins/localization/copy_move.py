"""Copy-move detection from SIFT keypoints matched within the image (Amerini et al. 2011).

A region copied elsewhere in the same image carries its keypoints with it: their descriptors
match each other much better than anything else in the image, and the matches between the two
regions all obey one geometric (affine) transform. Repeated texture and chance matches do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from plugins.localization.common import luminance, resize_map
from workbench.api import Analyzer, Heatmap, Media, RunContext, browse_shape, param

SCORE_SCALE = 10.0
"""Inliers at which the score reaches 1 − 1/e ≈ 0.63."""

MAX_REPORTED_PAIRS = 5
"""Verified region pairs whose transforms are listed in the stats (largest first)."""

_CHUNK = 1024
"""Rows of the descriptor similarity matrix computed at once (bounds memory to CHUNK × keypoints)."""


@dataclass
class CopyMoveParams:
    max_side: int = param(
        1600, "Analysis size (px)",
        "longer side the image is reduced to before keypoint detection; results are mapped back to full size",
        min=128, max=16384,
    )
    max_keypoints: int = param(
        10000, "Keypoint cap", "strongest SIFT keypoints kept: bounds time (matching grows with its square)",
        min=50, max=50000,
    )
    ratio: float = param(
        0.5, "g2NN ratio", "a neighbour is a match while d_i / d_(i+1) stays below this (lower is stricter)",
        min=0.05, max=0.95,
    )
    neighbours: int = param(10, "Neighbours per keypoint", "most matches one keypoint can have (g2NN)", min=1, max=30)
    min_distance: float = param(
        15.0, "Minimum shift (px)", "matches between keypoints closer than this are ignored (analysed pixels)",
        min=0.0, max=1000.0,
    )
    cluster_gap: float = param(
        50.0, "Cluster linking distance (px)",
        "matched keypoints closer than this join one region (single linkage on a grid, analysed pixels)",
        min=2.0, max=2000.0,
    )
    min_matches: int = param(
        4, "Minimum matches", "matches a region pair needs before RANSAC, and inliers it needs to be reported",
        min=3, max=1000,
    )
    ransac_threshold: float = param(
        3.0, "RANSAC threshold (px)", "largest reprojection error of an inlier of the affine transform",
        min=0.5, max=100.0,
    )
    margin: float = param(
        16.0, "Region margin (px)", "the convex hull of each region's inliers is grown by this much (analysed pixels)",
        min=0.0, max=500.0,
    )


@dataclass
class CloneTransform:
    """One verified copy: inlier matches (source → target, analysed pixels) and their affine map."""

    src: np.ndarray
    dst: np.ndarray
    affine: np.ndarray
    matches: int


def analysis_gray(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """8-bit luma reduced so its longer side is at most `max_side`, and the (x, y) factors applied.

    Reduced before the luma conversion: area averaging of uint8 RGB is far cheaper on 12 MP.
    """
    h, w = rgb.shape[:2]
    size = analysis_size((h, w), max_side)
    if size != (h, w):
        rgb = cv2.resize(rgb, size[::-1], interpolation=cv2.INTER_AREA)
    scale = np.array([rgb.shape[1] / w, rgb.shape[0] / h])
    return np.clip(luminance(rgb) + 0.5, 0, 255).astype(np.uint8), scale


def analysis_size(shape: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(height, width) an image of `shape` is analysed at: reduced, aspect kept, so that its longer
    side is at most `max_side`; never enlarged."""
    h, w = shape
    factor = min(1.0, max_side / max(h, w))
    return (h, w) if factor == 1.0 else (max(1, round(h * factor)), max(1, round(w * factor)))


def to_full(points: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Analysed-image (x, y) coordinates, in columns of pairs, to full-image pixel coordinates.

    Pixel centres sit at integers in both images, hence the half-pixel shifts.
    """
    scale = np.tile(scale, points.shape[-1] // 2)
    return (points + 0.5) / scale - 0.5


def root_sift(gray: np.ndarray, max_keypoints: int) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint positions (N × 2, x, y) and RootSIFT descriptors (N × 128, unit L2 norm).

    RootSIFT (Arandjelović & Zisserman 2012: L1-normalise, square root) makes the Euclidean
    distance the Hellinger kernel, which separates true from chance matches better than raw SIFT.
    """
    keypoints, desc = root_sift_keypoints(gray, max_keypoints)
    if len(keypoints) < 2:
        return np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32)
    return np.float32([kp.pt for kp in keypoints]), desc


def root_sift_keypoints(gray: np.ndarray, max_keypoints: int) -> tuple[list[cv2.KeyPoint], np.ndarray]:
    """OpenCV SIFT keypoints (strongest first) with RootSIFT descriptors (N × 128, unit L2 norm)."""
    keypoints, desc = cv2.SIFT_create(nfeatures=max_keypoints).detectAndCompute(gray, None)
    if desc is None or not keypoints:
        return [], np.zeros((0, 128), np.float32)
    desc = desc / np.maximum(desc.sum(axis=1, keepdims=True), 1e-7)
    return list(keypoints), np.sqrt(desc).astype(np.float32)


def g2nn_matches(desc: np.ndarray, ratio: float, neighbours: int, ctx: RunContext) -> np.ndarray:
    """Generalised 2NN test: keypoint i matches its j-th neighbour while every d_m / d_(m+1) < ratio, m ≤ j.

    Unlike the plain 2NN test this finds several copies of one region. The search is exhaustive
    (a matrix product in chunks), not approximate: randomised kd-trees give run-to-run different
    matches, which an audited result must not. Returns unique index pairs (M × 2, first < second).
    """
    n = len(desc)
    k = min(neighbours + 1, n - 1)
    found = []
    for start in range(0, n if k >= 2 else 0, _CHUNK):
        ctx.check_cancelled()
        rows = np.arange(start, min(start + _CHUNK, n))
        sim = desc[rows] @ desc.T
        sim[np.arange(len(rows)), rows] = -np.inf  # the self match
        candidates = _pass_first_test(sim, ratio)
        if candidates.any():
            dists, idx = _nearest(sim[candidates], k)
            passes = (dists[:, :-1] < ratio * dists[:, 1:]) | (dists[:, 1:] == 0.0)  # identical copies: 0 / 0
            accepted = np.cumprod(passes, axis=1).astype(bool)
            query = np.broadcast_to(rows[candidates][:, None], accepted.shape)
            found.append(np.stack([query[accepted], idx[:, :-1][accepted]], axis=1))
    if not found:
        return np.zeros((0, 2), np.int64)
    return np.unique(np.sort(np.concatenate(found), axis=1), axis=0)


def _pass_first_test(sim: np.ndarray, ratio: float) -> np.ndarray:
    """Rows whose nearest neighbour passes the 2NN ratio test, found with two row maxima.

    Most keypoints fail it, and a maximum is far cheaper than a partial sort of the whole row.
    """
    rows = np.arange(len(sim))
    best = sim.argmax(axis=1)
    first = sim[rows, best]
    sim[rows, best] = -np.inf
    second = sim.max(axis=1)
    sim[rows, best] = first
    d1, d2 = _distance(first), _distance(second)
    return (d1 < ratio * d2) | (d2 == 0.0)


def _nearest(sim: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k most similar columns of each row: distances (ascending) and indices."""
    n = sim.shape[1]
    top = np.argpartition(sim, n - k, axis=1)[:, n - k:]
    top_sim = np.take_along_axis(sim, top, axis=1)
    order = np.argsort(-top_sim, axis=1, kind="stable")
    return _distance(np.take_along_axis(top_sim, order, axis=1)), np.take_along_axis(top, order, axis=1)


def _distance(similarity: np.ndarray) -> np.ndarray:
    """Euclidean distance of unit vectors from their dot product: |a − b|² = 2 − 2 a·b."""
    return np.sqrt(np.maximum(2.0 - 2.0 * similarity, 0.0))


def spread_matches(pts: np.ndarray, pairs: np.ndarray, min_distance: float) -> np.ndarray:
    """Match end points (M × 4, x1, y1, x2, y2), without near matches and coordinate duplicates.

    SIFT gives one keypoint per dominant orientation at the same spot, so one correspondence can
    appear several times; it must count once for the cluster and RANSAC thresholds.
    """
    lines = np.concatenate([pts[pairs[:, 0]], pts[pairs[:, 1]]], axis=1)
    lines = lines[np.hypot(lines[:, 0] - lines[:, 2], lines[:, 1] - lines[:, 3]) >= max(min_distance, 1e-3)]
    swap = (lines[:, 0] > lines[:, 2]) | ((lines[:, 0] == lines[:, 2]) & (lines[:, 1] > lines[:, 3]))
    lines[swap] = lines[swap][:, [2, 3, 0, 1]]
    _, first = np.unique(np.round(lines, 1), axis=0, return_index=True)
    return lines[np.sort(first)]


def cluster_points(points: np.ndarray, gap: float) -> np.ndarray:
    """Single-linkage clusters of points on a grid of `gap`-sized cells (8-connected cells join).

    Points closer than `gap` always share a cluster; points up to 2√2·gap apart may. This is the
    numpy/OpenCV stand-in for the paper's hierarchical clustering, linear in the number of points.
    """
    cells = np.floor(points / gap).astype(np.int64)
    cells -= cells.min(axis=0)
    grid = np.zeros((cells[:, 1].max() + 1, cells[:, 0].max() + 1), np.uint8)
    grid[cells[:, 1], cells[:, 0]] = 1
    _, labels = cv2.connectedComponents(grid, connectivity=8)
    return labels[cells[:, 1], cells[:, 0]]


def orient(src: np.ndarray, dst: np.ndarray, same_cluster: bool) -> tuple[np.ndarray, np.ndarray]:
    """Make every match of a cluster pair point the same way, as RANSAC needs.

    Between two clusters the first one is the source. Inside one cluster (source and target
    touch) the matches are flipped to agree with the principal axis of their displacements.
    """
    if not same_cluster:
        return src, dst
    shift = dst - src
    _, vectors = np.linalg.eigh(shift.T.astype(np.float64) @ shift)
    flip = shift @ vectors[:, -1] < 0
    src, dst = src.copy(), dst.copy()
    src[flip], dst[flip] = dst[flip], src[flip].copy()
    return src, dst


def verify_clones(lines: np.ndarray, params: CopyMoveParams, ctx: RunContext) -> list[CloneTransform]:
    """Cluster the matched points; fit an affine map with RANSAC to each cluster pair's matches."""
    labels = cluster_points(np.concatenate([lines[:, :2], lines[:, 2:]]), params.cluster_gap)
    a, b = labels[: len(lines)], labels[len(lines):]
    keys = np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)
    groups, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    clones = []
    for g in np.flatnonzero(counts >= params.min_matches):
        ctx.check_cancelled()
        members = lines[inverse.ravel() == g]
        forward = a[inverse.ravel() == g] == groups[g, 0]  # first end point lies in the first cluster
        src = np.where(forward[:, None], members[:, :2], members[:, 2:])
        dst = np.where(forward[:, None], members[:, 2:], members[:, :2])
        src, dst = orient(src, dst, groups[g, 0] == groups[g, 1])
        affine, inliers = cv2.estimateAffine2D(
            src, dst, method=cv2.RANSAC, ransacReprojThreshold=params.ransac_threshold,
            maxIters=2000, confidence=0.995, refineIters=10,
        )
        if affine is None:
            continue
        keep = inliers.ravel().astype(bool)
        if keep.sum() >= params.min_matches and plausible(affine):
            clones.append(CloneTransform(src[keep], dst[keep], affine, len(members)))
    return sorted(clones, key=lambda c: -len(c.src))


def plausible(affine: np.ndarray) -> bool:
    """A copy can be scaled, rotated or mirrored, but not collapsed or stretched out of shape."""
    singular = np.linalg.svd(affine[:, :2], compute_uv=False)
    return bool(singular[1] > 0.2 and singular[0] < 5.0 and singular[0] / singular[1] < 3.0)


def region_mask(clones: list[CloneTransform], shape: tuple[int, int], margin: float) -> np.ndarray:
    """Convex hulls of each clone's source and target inliers, grown by `margin` (analysed pixels)."""
    mask = np.zeros(shape, np.uint8)
    for clone in clones:
        for points in (clone.src, clone.dst):
            cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    radius = round(margin)
    if radius > 0 and clones:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        mask = cv2.dilate(mask, kernel)
    return mask


def match_density(lines: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Blurred density of all g2NN match end points (verified or not), scaled to [0, 1].

    Counted on a grid 8× coarser than `shape` (blur width 1/100 of the longer side), as only its
    smooth shape matters and a wide blur at full size would cost more than the matching.
    """
    cells = (shape[0] // 8 + 1, shape[1] // 8 + 1)
    density = np.zeros(cells, np.float32)
    if len(lines):
        ends = np.concatenate([lines[:, :2], lines[:, 2:]]).astype(np.int64) // 8
        np.add.at(density, (np.clip(ends[:, 1], 0, cells[0] - 1), np.clip(ends[:, 0], 0, cells[1] - 1)), 1.0)
        density = cv2.GaussianBlur(density, (0, 0), max(cells) / 100.0)
        density /= max(float(density.max()), 1e-12)
    return density


def transform_stats(clones: list[CloneTransform], scale: np.ndarray) -> dict[str, float]:
    """Matches, inliers and the decomposed affine map of the largest clones, in full-image pixels.

    Rotation is counter-clockwise as displayed (the image y axis points down); the translation
    is where the map sends the full image's origin.
    """
    stats: dict[str, float] = {}
    for i, clone in enumerate(clones[:MAX_REPORTED_PAIRS], start=1):
        linear = clone.affine[:, :2]
        origin = 0.5 * scale - 0.5  # the full image's (0, 0) in analysed pixels
        origin = to_full(clone.affine @ np.append(origin, 1.0), scale)
        det = float(np.linalg.det(linear))
        stats |= {
            f"pair{i}_matches": float(clone.matches),
            f"pair{i}_inliers": float(len(clone.src)),
            f"pair{i}_scale": round(float(np.sqrt(abs(det))), 4),
            f"pair{i}_rotation_deg": round(float(-np.degrees(np.arctan2(linear[1, 0], linear[0, 0]))), 2) + 0.0,
            f"pair{i}_mirrored": float(det < 0),
            f"pair{i}_tx": round(float(origin[0]), 1),
            f"pair{i}_ty": round(float(origin[1]), 1),
        }
    return stats


class CopyMoveAnalyzer(Analyzer):
    id = "copy_move"
    title = "Copy-move (keypoints)"
    version = "1.0"
    Params = CopyMoveParams
    card_file = Path(__file__).with_name("copy_move.md")
    cost_per_mp = 0.05

    def run(self, media: Media, params: CopyMoveParams, ctx: RunContext) -> Heatmap:
        ctx.progress(0.05, "decoding")
        rgb = media.pixels()
        full_shape = rgb.shape[:2]
        gray, scale = analysis_gray(rgb, params.max_side)
        ctx.check_cancelled()
        ctx.progress(0.15, "detecting SIFT keypoints")
        pts, desc = root_sift(gray, params.max_keypoints)
        ctx.check_cancelled()
        ctx.progress(0.45, f"matching {len(pts)} keypoints (g2NN)")
        pairs = g2nn_matches(desc, params.ratio, params.neighbours, ctx)
        lines = spread_matches(pts, pairs, params.min_distance)
        ctx.progress(0.8, f"verifying {len(lines)} matches (clustering, RANSAC)")
        clones = verify_clones(lines, params, ctx) if len(lines) >= params.min_matches else []
        ctx.check_cancelled()
        ctx.progress(0.9, "drawing regions")
        mask = region_mask(clones, gray.shape, params.margin)
        mask = cv2.resize(mask, full_shape[::-1], interpolation=cv2.INTER_NEAREST).astype(bool)
        inliers = sum(len(c.src) for c in clones)
        verified = np.concatenate([np.concatenate([c.src, c.dst], axis=1) for c in clones] or [np.zeros((0, 4))])
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            score=round(1.0 - float(np.exp(-inliers / SCORE_SCALE)), 4),
            score_meaning=(
                f"1 − exp(−inliers / {SCORE_SCALE:g}), inliers = keypoint matches that agree with a verified "
                "copy's affine transform: 0 = no verified copy, ≈ 0.33 for 4 inliers, ≈ 0.86 for 20; "
                "a monotone count, not a calibrated probability"
            ),
            map=mask.astype(np.float32),
            mask=mask,
            stack={"match density (unverified)": resize_map(match_density(lines, gray.shape),
                                                            browse_shape(full_shape))},
            pairs=to_full(verified, scale).astype(np.float32),
            legend_low="no verified copy",
            legend_high="source or target of a verified copy",
            stats={
                "keypoints": float(len(pts)),
                "matches": float(len(lines)),
                "verified_pairs": float(len(clones)),
                "inliers": float(inliers),
                "analysis_scale": round(float(scale.mean()), 4),
            } | transform_stats(clones, scale),
        )
