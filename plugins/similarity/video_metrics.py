"""Video copy-detection metrics of the Meta AI Video Similarity Challenge 2022 (VSC 2022).

Pizzi et al., "The 2023 Video Similarity Dataset and Challenge", arXiv 2306.09489; definitions
re-implemented from the reference code `vsc/metrics.py` of github.com/facebookresearch/vsc2022
(`average_precision` / `drivendata_average_precision` and `match_metric`). No code is copied.

- `micro_average_precision` — descriptor track μAP over (query, reference) video pairs.
- `segment_average_precision` — matching track segment AP (the challenge's `match_metric`).

Items (ground truth or predictions) may be mappings or objects with the attributes `query_id`,
`ref_id`, `score` and, for segments, `query_start`, `query_end`, `ref_start`, `ref_end` (seconds).
Ids are compared as given (`"Q1"` and `1` are different videos). Ground-truth scores are ignored.
See video_metrics.md next to this file for the conventions.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "PairScore",
    "SegmentMatch",
    "VideoAP",
    "micro_average_precision",
    "pairs_from_matches",
    "segment_average_precision",
]

PairKey = tuple[Hashable, Hashable]


@dataclass(frozen=True)
class PairScore:
    """A (query, reference) video pair with a confidence score (higher = more likely a copy)."""

    query_id: Hashable
    ref_id: Hashable
    score: float = 1.0


@dataclass(frozen=True)
class SegmentMatch:
    """A copied segment: query time span × reference time span (seconds), with a score."""

    query_id: Hashable
    ref_id: Hashable
    query_start: float
    query_end: float
    ref_start: float
    ref_end: float
    score: float = 1.0


class VideoAP(NamedTuple):
    """An average precision and its precision–recall curve.

    The curve has one point per distinct score threshold at which recall increased (as the
    reference's `PrecisionRecallCurve`), in decreasing score order.
    """

    ap: float
    precisions: np.ndarray
    recalls: np.ndarray
    scores: np.ndarray


# --------------------------------------------------------------------------- input coercion


def _get(item: Any, name: str, what: str, index: int) -> Any:
    if isinstance(item, Mapping):
        if name not in item:
            raise ValueError(f"{what}[{index}] has no '{name}' field")
        return item[name]
    if not hasattr(item, name):
        raise ValueError(f"{what}[{index}] has no '{name}' attribute")
    return getattr(item, name)


def _number(value: Any, name: str, what: str, index: int) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{what}[{index}].{name} must be a real number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{what}[{index}].{name} must be finite, got {out}")
    return out


def _key(item: Any, what: str, index: int) -> PairKey:
    query_id = _get(item, "query_id", what, index)
    ref_id = _get(item, "ref_id", what, index)
    if query_id is None or ref_id is None:
        raise ValueError(f"{what}[{index}] has a missing query_id or ref_id")
    return query_id, ref_id


def _segments(items: Iterable[Any], what: str, *, scored: bool) -> tuple[list[PairKey], np.ndarray, np.ndarray]:
    """Validate segment items; return pair keys, an (n, 4) array (qs, qe, rs, re) and (n,) scores."""
    keys: list[PairKey] = []
    spans: list[tuple[float, float, float, float]] = []
    scores: list[float] = []
    for i, item in enumerate(items):
        keys.append(_key(item, what, i))
        qs, qe, rs, re = (
            _number(_get(item, f, what, i), f, what, i) for f in ("query_start", "query_end", "ref_start", "ref_end")
        )
        for axis, start, end in (("query", qs, qe), ("ref", rs, re)):
            if start < 0:
                raise ValueError(f"{what}[{i}]: {axis}_start must be >= 0, got {start}")
            if end < start:
                raise ValueError(
                    f"{what}[{i}]: {axis}_start ({start}) > {axis}_end ({end}): a segment cannot have a negative "
                    "duration"
                )
            if not scored and end == start:
                raise ValueError(f"{what}[{i}]: ground-truth {axis} segment has zero duration ({start} to {end})")
        spans.append((qs, qe, rs, re))
        scores.append(_number(_get(item, "score", what, i), "score", what, i) if scored else 1.0)
    return keys, np.asarray(spans, float).reshape(-1, 4), np.asarray(scores, float)


# --------------------------------------------------------------------------- descriptor track: μAP


def pairs_from_matches(matches: Iterable[Any], what: str = "predictions") -> list[PairScore]:
    """One `PairScore` per (query_id, ref_id), keeping the maximum score over its items.

    As `CandidatePair.from_matches` in vsc2022 `vsc/metrics.py`, except that the reference starts
    each pair's maximum at 0.0 (a `defaultdict(float)`), so it turns negative scores into 0; we keep
    the true maximum. Scores must be finite.
    """
    best: dict[PairKey, float] = {}
    for i, item in enumerate(matches):
        key = _key(item, what, i)
        score = _number(_get(item, "score", what, i), "score", what, i)
        if key not in best or score > best[key]:
            best[key] = score
    return [PairScore(q, r, s) for (q, r), s in best.items()]


def micro_average_precision(ground_truth: Iterable[Any], predictions: Iterable[Any]) -> VideoAP:
    """Descriptor-track micro-AP (μAP) over (query, reference) pairs, all queries pooled.

    Conventions of vsc2022 `vsc/metrics.py` (`average_precision`, canonical
    `drivendata_average_precision`): ground-truth pairs are a set (repeats, e.g. several segments of
    one pair, count once); predictions are deduplicated to the maximum score per pair; pairs are
    ranked by decreasing score and equal scores form one threshold (sklearn `average_precision_score`
    semantics, so the order of ties does not matter): AP = Σ_t P(t) · ΔTP(t) / n_gt, where P(t) is
    the precision of all pairs scoring ≥ t. Recall is normalised by every ground-truth pair, so pairs
    absent from the predictions count as never retrieved. No correct prediction gives 0.

    Items only need `query_id` and `ref_id` (and `score` for predictions); segment matches may be
    passed directly, which gives the matching track's auxiliary pairwise μAP.
    """
    gt_pairs = {_key(item, "ground_truth", i) for i, item in enumerate(ground_truth)}
    if not gt_pairs:
        raise ValueError("ground_truth is empty: μAP is undefined without a positive pair")
    pairs = pairs_from_matches(predictions)
    if not pairs:
        return _empty_ap()
    scores = np.array([p.score for p in pairs], float)
    correct = np.array([(p.query_id, p.ref_id) in gt_pairs for p in pairs], float)
    order = np.argsort(-scores, kind="stable")
    scores, correct = scores[order], correct[order]
    # the last index of each run of equal scores closes a threshold
    last = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    tp = np.cumsum(correct)[last]
    n_ranked = last + 1.0
    precision = tp / n_ranked
    gained = np.diff(tp, prepend=0.0)
    ap = float(np.sum(precision * gained) / len(gt_pairs))
    hit = gained > 0
    return VideoAP(ap, precision[hit], tp[hit] / len(gt_pairs), scores[last][hit])


# --------------------------------------------------------------------------- matching track: segment AP


def _union_length(intervals: np.ndarray) -> float:
    """Total length of the union of (n, 2) [start, end] intervals."""
    if len(intervals) == 0:
        return 0.0
    iv = intervals[np.argsort(intervals[:, 0], kind="stable")]
    starts, ends = iv[:, 0], iv[:, 1]
    reach = np.maximum.accumulate(ends)
    first = np.flatnonzero(np.concatenate(([True], starts[1:] > reach[:-1])))
    return float(np.sum(np.maximum.reduceat(ends, first) - starts[first]))


def _intersection_length(a: np.ndarray, b: np.ndarray) -> float:
    """Length of (∪a) ∩ (∪b) = |∪a| + |∪b| − |∪(a, b)|."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    return _union_length(a) + _union_length(b) - _union_length(np.concatenate((a, b)))


class _Pair:
    """Per-(query, ref) state: its ground-truth boxes, the predictions so far, and which ground-truth
    boxes some prediction overlaps (by positive rectangle area; only those count towards the
    intersection, while every ground-truth box counts towards the recall denominator)."""

    def __init__(self) -> None:
        self.gt = np.empty((0, 4))
        self.preds: list[np.ndarray] = []
        self.considered = np.zeros(0, bool)
        self.inter = np.zeros(2)  # query, ref
        self.total = np.zeros(2)

    def add_prediction(self, box: np.ndarray) -> None:
        self.preds.append(box)
        if len(self.gt):
            dq = np.minimum(self.gt[:, 1], box[1]) - np.maximum(self.gt[:, 0], box[0])
            dr = np.minimum(self.gt[:, 3], box[3]) - np.maximum(self.gt[:, 2], box[2])
            self.considered |= (dq > 0) & (dr > 0)

    def update(self) -> tuple[np.ndarray, np.ndarray]:
        """Recompute per-axis intersection and covered length; return their changes."""
        preds = np.asarray(self.preds)
        gts = self.gt[self.considered]
        inter = np.array([_intersection_length(preds[:, c : c + 2], gts[:, c : c + 2]) for c in (0, 2)])
        total = np.array([_union_length(preds[:, c : c + 2]) for c in (0, 2)])
        d_inter, d_total = inter - self.inter, total - self.total
        self.inter, self.total = inter, total
        return d_inter, d_total


def segment_average_precision(ground_truth: Iterable[Any], predictions: Iterable[Any]) -> VideoAP:
    """Matching-track segment AP: vsc2022 `vsc/metrics.py` `match_metric` (VCSL-style precision/recall).

    Each match is a rectangle (query span × reference span) of a (query, ref) pair. Predictions are
    taken by decreasing score, all predictions with an equal score at once. After each score group,
    per axis a ∈ {query, ref} and summed over pairs:
      covered_a  = length of the union of the pair's predicted spans on axis a,
      matched_a  = length of (union of predicted spans) ∩ (union of the spans of the pair's
                   ground-truth boxes that overlap at least one of its predictions with positive area),
      gt_a       = length of the union of all the pair's ground-truth spans on axis a;
    R_a = Σ matched_a / Σ gt_a, P_a = Σ matched_a / Σ covered_a, R = √(R_q R_r), P = √(P_q P_r),
    and AP = Σ_groups P · ΔR. Overlapping predictions are therefore counted once, predictions for
    pairs without ground truth only lower precision, and missed ground truth only lowers recall.
    P is taken as 0 while nothing is covered (zero-length predictions), where the reference would
    divide by zero; no prediction gives AP 0.
    """
    gt_keys, gt_boxes, _ = _segments(ground_truth, "ground_truth", scored=False)
    if not gt_keys:
        raise ValueError("ground_truth is empty: segment AP is undefined without a ground-truth match")
    pred_keys, pred_boxes, scores = _segments(predictions, "predictions", scored=True)

    pairs: defaultdict[PairKey, _Pair] = defaultdict(_Pair)
    grouped: defaultdict[PairKey, list[int]] = defaultdict(list)
    for i, key in enumerate(gt_keys):
        grouped[key].append(i)
    gt_length = np.zeros(2)
    for key, rows in grouped.items():
        pair = pairs[key]
        pair.gt = gt_boxes[rows]
        pair.considered = np.zeros(len(rows), bool)
        gt_length += [_union_length(pair.gt[:, c : c + 2]) for c in (0, 2)]

    if not pred_keys:
        return _empty_ap()
    order = np.argsort(-scores, kind="stable")
    bounds = np.flatnonzero(np.concatenate(([True], scores[order][1:] != scores[order][:-1], [True])))
    inter, total = np.zeros(2), np.zeros(2)
    recall = ap = 0.0
    curve: list[tuple[float, float, float]] = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        touched: set[PairKey] = set()
        for i in order[lo:hi]:
            pairs[pred_keys[i]].add_prediction(pred_boxes[i])
            touched.add(pred_keys[i])
        for key in touched:
            d_inter, d_total = pairs[key].update()
            inter += d_inter
            total += d_total
        new_recall = math.sqrt(max(inter[0], 0.0) / gt_length[0] * max(inter[1], 0.0) / gt_length[1])
        per_axis = np.divide(inter, total, out=np.zeros(2), where=total > 0)
        precision = math.sqrt(max(per_axis[0], 0.0) * max(per_axis[1], 0.0))
        delta = new_recall - recall
        ap += precision * delta
        recall = new_recall
        if delta > 1e-12:  # a curve point where recall grew (tolerance: accumulated rounding)
            curve.append((precision, recall, float(scores[order[lo]])))
    if not curve:
        return VideoAP(ap, np.zeros(0), np.zeros(0), np.zeros(0))
    p, r, s = (np.array(c, float) for c in zip(*curve, strict=True))
    return VideoAP(ap, p, r, s)


def _empty_ap() -> VideoAP:
    return VideoAP(0.0, np.zeros(0), np.zeros(0), np.zeros(0))
