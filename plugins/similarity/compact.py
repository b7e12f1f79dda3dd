"""Compact local features: spatial verification of a shortlist from ≤ 1 KB per stored image.

Full RootSIFT features cost about 130 KB per image, too much to keep for a million images. An image
keeps instead its 145 largest keypoints, each in 7 bytes: its position to 1/4096 of the image's
width and height, and its descriptor reduced to 32 bits by sign random projections (Charikar, STOC
2002: the Hamming distance estimates the angle between the descriptors). Nothing is trained: the
projection is drawn from a fixed seed of NumPy's frozen legacy generator, the same for every
collection. The bench chose the budget's split: the number of keypoints limits verification far more
than the bits of each descriptor (at 50 keypoints, full-precision descriptors verified no more
copies than 128-bit ones), and large keypoints survive the downscaling and cropping of copies better
than the strongest ones.

A query keeps all its keypoints, projected the same way; each stored keypoint is matched to its
nearest query keypoint in Hamming distance with Lowe's ratio test, and the matches are verified by
the same RANSAC affine fit as full features (`local.verify_pairs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from plugins.similarity.features import LocalFeatures
from plugins.similarity.local import RATIO, Verification, verify_pairs

KIND = "rootsift_compact"
FORMAT = 1
"""Stored in each record: a record of another format (another projection) is refused, never matched."""
MAX_BYTES = 1024
"""The budget of one stored image, header and keypoint geometry included."""
HEADER = np.dtype([("format", "u1"), ("height", "<u4"), ("width", "<u4")])
POSITION_BITS = 12
BITS = 32
KEYPOINT = np.dtype([("xy", "u1", (3,)), ("bits", "u1", (BITS // 8,))])
"""x and y as 12-bit fractions of the width and height (3 bytes), the 32-bit descriptor (4 bytes)."""
KEYPOINTS = (MAX_BYTES - HEADER.itemsize) // KEYPOINT.itemsize
"""Keypoints stored per image (145): as many as the budget holds."""
SEED = 20120618
PROJECTION = np.random.RandomState(SEED).standard_normal((BITS, 128)).astype(np.float32)
"""Random hyperplanes (NumPy's legacy generator: its stream never changes, so stored bits stay valid)."""


@dataclass(frozen=True)
class CompactFeatures:
    """Projected RootSIFT keypoints of one image, largest first: `xy` pixel positions (N×2, float32,
    as decoded from the stored quantised ones), `bits` the packed descriptors (N×4 uint8)."""

    xy: np.ndarray
    bits: np.ndarray
    image_size: tuple[int, int]
    """(height, width) of the image the positions refer to."""

    def __len__(self) -> int:
        return int(self.bits.shape[0])

    def to_bytes(self) -> bytes:
        """The stored record: header, then one 7-byte entry per keypoint (at most MAX_BYTES)."""
        if HEADER.itemsize + len(self) * KEYPOINT.itemsize > MAX_BYTES:
            raise ValueError(f"{len(self)} keypoints exceed the {MAX_BYTES}-byte record: store `compact(...)`")
        head = np.array([(FORMAT, *self.image_size)], HEADER)
        q = quantised(self.xy, self.image_size).astype(np.uint32)
        packed = (q[:, 0] << POSITION_BITS | q[:, 1]).astype("<u4").view(np.uint8).reshape(-1, 4)
        body = np.zeros(len(self), KEYPOINT)
        body["xy"], body["bits"] = packed[:, :3], self.bits
        return head.tobytes() + body.tobytes()

    @staticmethod
    def from_bytes(raw: bytes) -> CompactFeatures:
        if len(raw) < HEADER.itemsize or (len(raw) - HEADER.itemsize) % KEYPOINT.itemsize:
            raise ValueError(f"a compact record of {len(raw)} bytes is damaged")
        head = np.frombuffer(raw, HEADER, count=1)[0]
        if head["format"] != FORMAT:
            raise ValueError(f"a compact record of format {head['format']} (this version reads {FORMAT}): "
                             "index the collection again")
        body = np.frombuffer(raw, KEYPOINT, offset=HEADER.itemsize)
        packed = np.zeros((len(body), 4), np.uint8)
        packed[:, :3] = body["xy"]
        word = packed.view("<u4")[:, 0]
        q = np.stack([word >> POSITION_BITS, word & (2**POSITION_BITS - 1)], axis=1)
        size = (int(head["height"]), int(head["width"]))
        return CompactFeatures(dequantised(q, size), np.ascontiguousarray(body["bits"]), size)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The record as one uint8 array for the image's .npz file."""
        return {KIND: np.frombuffer(self.to_bytes(), np.uint8)}

    @staticmethod
    def from_arrays(arrays: Mapping[str, np.ndarray]) -> CompactFeatures | None:
        """The record of an image's stored arrays, None when it has none."""
        return CompactFeatures.from_bytes(np.asarray(arrays[KIND], np.uint8).tobytes()) if KIND in arrays else None


def quantised(xy: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Pixel positions as 12-bit fractions of the image's width and height."""
    h, w = image_size
    steps = 2**POSITION_BITS
    return np.clip(np.floor(xy / np.float32([w, h]) * steps), 0, steps - 1).astype(np.uint16)


def dequantised(q: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Centres of the quantisation steps, in pixels."""
    h, w = image_size
    return ((q.astype(np.float32) + 0.5) / 2**POSITION_BITS * np.float32([w, h])).astype(np.float32)


def projected_bits(desc: np.ndarray) -> np.ndarray:
    """128-d descriptors → BITS packed bits each: the side of each random hyperplane through the
    origin the descriptor lies on, after removing its mean (RootSIFT is non-negative: uncentred, all
    descriptors would fall on the same side of most hyperplanes)."""
    x = np.asarray(desc, np.float32)
    return np.packbits((x - x.mean(axis=1, keepdims=True)) @ PROJECTION.T > 0, axis=1)


def compact(features: LocalFeatures, keypoints: int | None = KEYPOINTS) -> CompactFeatures:
    """The `keypoints` largest features (all with None: the query's side), projected, positions
    quantised as stored (so a record decodes to exactly what was matched when it was made)."""
    order = np.argsort(-np.asarray(features.scale), kind="stable")[:keypoints]
    size = features.image_size
    xy = dequantised(quantised(np.asarray(features.xy)[order], size), size)
    return CompactFeatures(xy, projected_bits(np.asarray(features.desc)[order]), size)


def hamming_matches(query: CompactFeatures, candidate: CompactFeatures, ratio: float = RATIO) -> np.ndarray:
    """Index pairs (K×2, query then candidate) of stored keypoints whose nearest query keypoint is
    clearly nearer than the second nearest, in Hamming distance. Matched from the candidate's few
    keypoints to the query's many: each stored keypoint picks one, so none is counted twice."""
    if len(query) < 2 or len(candidate) < 1:
        return np.zeros((0, 2), np.int64)
    knn = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(candidate.bits, query.bits, k=2)
    pairs = [(m.trainIdx, m.queryIdx) for m, n in (p for p in knn if len(p) == 2) if m.distance < ratio * n.distance]
    return np.array(pairs, np.int64).reshape(-1, 2)


def verify_compact(query: CompactFeatures, candidate: CompactFeatures) -> Verification:
    """RANSAC affine verification of the Hamming ratio-test matches."""
    return verify_pairs(query.xy, candidate.xy, hamming_matches(query, candidate), candidate.image_size)


def verification_arrays(features: LocalFeatures, keep_full: bool) -> dict[str, np.ndarray]:
    """What one image stores for spatial verification: its compact record always, its full
    features (prefixed with their kind) only while `keep_full`."""
    return {**compact(features).to_arrays(), **(features.to_arrays(features.kind) if keep_full else {})}
