"""Local descriptors and spatial verification: the default re-ranker of the search shortlist.

RootSIFT keypoints (Arandjelović & Zisserman, CVPR 2012) are matched with Lowe's ratio test and
verified by a RANSAC affine fit (Philbin et al., CVPR 2007): the number of geometrically consistent
matches (inliers) says whether two images show the same content, robust to crops, scaling, rotation,
re-compression and overlays. The search also matches the query mirrored, so flipped copies verify too.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from plugins.localization.copy_move import analysis_gray, root_sift_keypoints, to_full
from plugins.similarity.features import LocalFeatures

KIND = "rootsift"
MAX_KEYPOINTS = 1000
MAX_SIDE = 1024
RATIO = 0.8
MIN_INLIERS = 8
"""Fewer consistent matches than this are what unrelated images produce by chance (measured in the bench)."""
INLIER_SCALE = 20.0
"""Inliers giving a local score of 0.5: s = n / (n + INLIER_SCALE)."""
LAMBDA = 0.5
"""Weight of the global similarity in the fused score (the rest is the local score)."""


def sift_features(rgb: np.ndarray, max_keypoints: int = MAX_KEYPOINTS, max_side: int = MAX_SIDE) -> LocalFeatures:
    """RootSIFT features of an RGB image (analysed with its long side ≤ `max_side`), positions in
    the full image's pixels, strongest first."""
    gray, scale = analysis_gray(rgb, max_side)
    keypoints, desc = root_sift_keypoints(gray, max_keypoints)
    keypoints, desc = keypoints[:max_keypoints], desc[:max_keypoints]
    if keypoints:
        xy = to_full(np.float32([kp.pt for kp in keypoints]), scale).astype(np.float32)
        size = np.float32([kp.size for kp in keypoints]) / float(scale.mean())
        response = np.float32([kp.response for kp in keypoints])
        order = np.argsort(-response, kind="stable")
        xy, size, response, desc = xy[order], size[order], response[order], desc[order]
    else:
        xy, size, response = np.zeros((0, 2), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32)
    return LocalFeatures(KIND, xy, size, response, desc.astype(np.float16), rgb.shape[:2])


def mirrored(features: LocalFeatures, rgb: np.ndarray) -> LocalFeatures:
    """Features of the horizontally flipped image, positions mapped back to the original frame."""
    flipped = sift_features(np.ascontiguousarray(rgb[:, ::-1]), len(features) or MAX_KEYPOINTS)
    xy = flipped.xy.copy()
    xy[:, 0] = rgb.shape[1] - 1 - xy[:, 0]
    return LocalFeatures(KIND, xy, flipped.scale, flipped.weight, flipped.desc, flipped.image_size)


@dataclass(frozen=True)
class Verification:
    inliers: int
    matches: np.ndarray
    """Inlier correspondences, float32 K×4: x, y in the query, x, y in the candidate."""
    affine: np.ndarray | None

    @property
    def local_score(self) -> float:
        """n / (n + INLIER_SCALE) for n ≥ MIN_INLIERS inliers, else 0: in [0, 1), 0.5 at 20 inliers."""
        n = self.inliers if self.inliers >= MIN_INLIERS else 0
        return n / (n + INLIER_SCALE)


NO_MATCH = Verification(0, np.zeros((0, 4), np.float32), None)


def ratio_matches(query: np.ndarray, candidate: np.ndarray, ratio: float = RATIO) -> np.ndarray:
    """Index pairs (K×2) of query descriptors whose nearest candidate descriptor is clearly nearer
    than the second nearest (Lowe's ratio test on RootSIFT, i.e. Hellinger, distances)."""
    if len(query) < 2 or len(candidate) < 2:
        return np.zeros((0, 2), np.int64)
    knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(query.astype(np.float32), candidate.astype(np.float32), k=2)
    pairs = [(m.queryIdx, m.trainIdx) for m, n in (p for p in knn if len(p) == 2) if m.distance < ratio * n.distance]
    return np.array(pairs, np.int64).reshape(-1, 2)


def verify(query: LocalFeatures, candidate: LocalFeatures) -> Verification:
    """RANSAC affine verification of the ratio-test matches."""
    return verify_pairs(query.xy, candidate.xy, ratio_matches(query.desc, candidate.desc), candidate.image_size)


def verify_pairs(
    query_xy: np.ndarray, candidate_xy: np.ndarray, pairs: np.ndarray, image_size: tuple[int, int]
) -> Verification:
    """RANSAC affine verification of tentative correspondences (K×2 index pairs into the query's and
    the candidate's positions; `image_size` is the candidate's), whichever descriptors matched them."""
    if len(pairs) < MIN_INLIERS:  # cannot verify: skip RANSAC (most candidates of a shortlist)
        return NO_MATCH
    src, dst = query_xy[pairs[:, 0]], candidate_xy[pairs[:, 1]]
    # SIFT puts one keypoint per dominant orientation at the same spot: count each position pair once
    _, distinct = np.unique(np.round(np.hstack([src, dst]), 1), axis=0, return_index=True)
    src, dst = src[np.sort(distinct)], dst[np.sort(distinct)]
    if len(src) < MIN_INLIERS:
        return NO_MATCH
    h, w = image_size
    threshold = max(3.0, 0.01 * float(np.hypot(h, w)))
    affine, inlier_flags = cv2.estimateAffine2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=threshold, maxIters=2000, confidence=0.995
    )
    if affine is None or inlier_flags is None:
        return NO_MATCH
    keep = inlier_flags.ravel().astype(bool)
    matches = np.hstack([src[keep], dst[keep]]).astype(np.float32)
    # one-to-one: a degenerate fit maps many query points onto a few candidate points (the bench found
    # 90 % of chance verifications were such collapses), so each candidate point counts once
    _, first = np.unique(np.round(matches[:, 2:4]), axis=0, return_index=True)
    matches = matches[np.sort(first)]
    return Verification(len(matches), matches, affine)


def fused_score(global_sim: float, verification: Verification, lam: float = LAMBDA) -> float:
    """λ·global + (1−λ)·local: a ranking score in [0, 1], not a probability."""
    return lam * max(0.0, global_sim) + (1.0 - lam) * verification.local_score
