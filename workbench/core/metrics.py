"""Localisation metrics, pixel-level (one map against one ground-truth mask) and image-level.

Conventions, chosen to match the forgery-localisation literature and stated once here:

* A map is binarised as `map >= threshold` (0.5 by default); best-threshold F1 tries every
  distinct value of the map as the threshold (the oracle F1 often reported beside F1@0.5).
* A metric that is undefined returns NaN rather than a made-up number: F1 and IoU when the mask
  and the prediction are both empty, AUC when one class is absent. In particular every pixel
  metric is NaN for a pristine image (empty mask), and `mean_defined` skips NaNs, so dataset
  means of pixel metrics are over manipulated images only; pristine images count in the
  image-level AUC alone.
* MCC is 0 when one of its marginals is empty (all predicted or all true pixels of one class),
  as in scikit-learn: such a prediction carries no information.
* ROC AUC is the Mann–Whitney statistic: the probability that a random positive scores higher
  than a random negative, ties counting one half (so a constant map scores exactly 0.5).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def confusion(pred: np.ndarray, truth: np.ndarray) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) of two boolean arrays of one shape."""
    pred, truth = _same_shape(np.asarray(pred, bool), np.asarray(truth, bool))
    tp = int(np.count_nonzero(pred & truth))
    fp = int(np.count_nonzero(pred)) - tp
    fn = int(np.count_nonzero(truth)) - tp
    return tp, fp, fn, truth.size - tp - fp - fn


def f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp, fp, fn, _ = confusion(pred, truth)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    tp, fp, fn, _ = confusion(pred, truth)
    return _ratio(tp, tp + fp + fn)


def mcc(pred: np.ndarray, truth: np.ndarray) -> float:
    """Matthews correlation coefficient in [-1, 1]; 0 when a marginal is empty (see module doc)."""
    tp, fp, fn, tn = (float(v) for v in confusion(pred, truth))
    denominator = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    return 0.0 if denominator == 0 else (tp * tn - fp * fn) / float(np.sqrt(denominator))


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve by ranking (ties count 1/2); NaN when a class is absent."""
    return _auc(*_value_counts(scores, labels))


def best_f1(scores: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """The highest F1 of `scores >= t` over every distinct value t of the map, and that t.

    NaN (and threshold NaN) when the mask is empty. The lowest threshold predicts every pixel,
    so the result is never below 2P / (2P + N): the F1 of marking the whole image.
    """
    return _best_f1(*_value_counts(scores, truth))


def _value_counts(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct score values in ascending order, with how many positives and negatives have
    each: these counts serve both the AUC and the best-threshold F1.

    Two plain sorts (all scores, positive scores) and a binary search of the positives among the
    distinct values, rather than an argsort: several times faster on megapixel maps.
    """
    scores, labels = _same_shape(_finite(scores).ravel(), np.asarray(labels, bool).ravel())
    if scores.size == 0:
        return scores, np.zeros(0, np.int64), np.zeros(0, np.int64)
    ranked = np.sort(scores)
    ends = np.append(np.flatnonzero(ranked[1:] != ranked[:-1]) + 1, ranked.size)
    values = ranked[ends - 1]
    pos = np.bincount(np.searchsorted(values, np.sort(scores[labels])), minlength=values.size)
    return values, pos, np.diff(ends, prepend=0) - pos


def _auc(values: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
    """Each positive beats the negatives of lower value and half-beats those of equal value."""
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    neg_below = np.cumsum(neg) - neg
    return float(np.sum(pos * (neg_below + 0.5 * neg)) / (n_pos * n_neg))


def _best_f1(values: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    n_pos = int(pos.sum())
    if n_pos == 0:
        return float("nan"), float("nan")
    # threshold at the k-th highest value: tp positives among `predicted` pixels
    tp, predicted = np.cumsum(pos[::-1]), np.cumsum((pos + neg)[::-1])
    f1s = 2.0 * tp / (predicted + n_pos)
    best = int(np.argmax(f1s))
    return float(f1s[best]), float(values[::-1][best])


def pixel_metrics(
    heat: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None, threshold: float = 0.5
) -> dict[str, float]:
    """Every pixel metric of one map (and of the analyzer's own binary mask, when it gives one).

    Keys: f1, best_f1, best_threshold, mcc, iou (at `threshold`), auc; with a mask also
    mask_f1, mask_mcc, mask_iou. All NaN for an empty ground truth (a pristine image).
    """
    truth = np.asarray(truth, bool)
    heat = _finite(heat)
    _same_shape(heat, truth)
    names = ("f1", "best_f1", "best_threshold", "mcc", "iou", "auc")
    names += ("mask_f1", "mask_mcc", "mask_iou") if mask is not None else ()
    if not truth.any():
        return dict.fromkeys(names, float("nan"))
    pred = heat >= threshold
    counts = _value_counts(heat, truth)
    best, at = _best_f1(*counts)
    out = {"f1": f1(pred, truth), "best_f1": best, "best_threshold": at, "mcc": mcc(pred, truth),
           "iou": iou(pred, truth), "auc": _auc(*counts)}
    if mask is not None:
        out.update(mask_f1=f1(mask, truth), mask_mcc=mcc(mask, truth), mask_iou=iou(mask, truth))
    return out


def image_auc(scores: Iterable[float], manipulated: Iterable[bool]) -> float:
    """Image-level detection AUC: image scores against manipulated (True) / pristine (False)."""
    return roc_auc(np.fromiter(scores, np.float64), np.fromiter(manipulated, bool))


def mean_defined(values: Iterable[float]) -> tuple[float, int]:
    """Mean over the defined (non-NaN) values and how many there were; (NaN, 0) if none."""
    arr = np.fromiter(values, np.float64)
    arr = arr[~np.isnan(arr)]
    return (float(arr.mean()), arr.size) if arr.size else (float("nan"), 0)


def _ratio(num: float, den: float) -> float:
    return float("nan") if den == 0 else num / den


def _finite(values: np.ndarray) -> np.ndarray:
    """Scores as a float array (float32 maps stay float32: sorting them is twice as fast)."""
    arr = np.asarray(values)
    arr = arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("scores must be finite (the map has NaN or infinite values)")
    return arr


def _same_shape(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return a, b
