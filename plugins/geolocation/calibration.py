"""Calibrating abstention: risk–coverage curves, thresholds for a target accuracy, and their JSON form.

A selection score is only useful with a threshold, and a threshold only means something with the
accuracy it buys on held-out images: "when PD_25 ≥ 0.41 the pin was within 25 km for 90 % of the
calibration images, which was 23 % of them". This module computes those numbers from per-image
scores and correctness (error ≤ s km) and stores them as `Thresholds` (JSON, meant for `models/`),
so the calibration can be re-run on a new set and the report can cite what it was made on.

Conventions: a sample is selected when score >= threshold (as in `selective.decide`); correctness at
scale s is great-circle error ≤ s km (the reference evaluation.py uses < s; the two differ only for
errors exactly on the radius).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from .geo import haversine_km
from .selective import SCALES_KM

__all__ = [
    "MIN_SELECTED",
    "THRESHOLDS_FORMAT",
    "RiskCoverage",
    "Thresholds",
    "accuracy_at_scales",
    "calibrate",
    "correct_at_scales",
    "risk_coverage_curve",
    "stack_scores",
    "threshold_for_accuracy",
]

MIN_SELECTED = 30
"""Default smallest selected set a threshold may rest on. With fewer images the selective accuracy
is too noisy to promise anything (binomial s.d. at 90 % and n = 30 is 5.5 points), and the search
would happily return the top-1 image's score (accuracy 1/1 = 100 %)."""

THRESHOLDS_FORMAT = "forensic-workbench/geolocation-thresholds"
_VERSION = 1


def _scores_and_correct(scores: ArrayLike, correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    c = np.asarray(correct)
    if c.shape != np.shape(scores) or c.ndim != 1:
        raise ValueError(f"scores and correct must be 1-D of one length, got {np.shape(scores)} and {c.shape}")
    if s.size == 0:
        raise ValueError("no samples")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinite values")
    if c.dtype != bool:
        if not np.all((c == 0) | (c == 1)):
            raise ValueError("correct must be boolean (or 0/1)")
        c = c.astype(bool)
    return s, c


@dataclass(frozen=True)
class RiskCoverage:
    """Selective accuracy as the threshold sweeps the distinct scores, highest first."""

    thresholds: np.ndarray
    """Distinct scores, decreasing; point i selects every sample with score >= thresholds[i]."""
    n_selected: np.ndarray
    coverage: np.ndarray
    """Fraction of samples selected, increasing to 1."""
    accuracy: np.ndarray
    """Selective accuracy: fraction of the selected samples that are correct."""
    risk: np.ndarray
    """1 − accuracy (selective 0/1 risk)."""
    aurc: float
    """Area under the risk–coverage step curve (lower is better); see `risk_coverage_curve`."""
    aurc_optimal: float
    """AURC of an oracle score ranking every correct sample first: the floor for these labels."""

    @property
    def excess_aurc(self) -> float:
        """E-AURC = AURC − optimal AURC (Geifman et al. 2019): the part due to the score's ranking."""
        return self.aurc - self.aurc_optimal


def risk_coverage_curve(scores: ArrayLike, correct: ArrayLike) -> RiskCoverage:
    """Risk–coverage curve of a selection score (higher = more confident) and its AURC.

    Samples with equal scores cannot be separated by a threshold, so the curve has one point per
    distinct score. AURC is the integral of the step function risk(c) over coverage c in (0, 1],
    where risk(c) is the risk of the smallest threshold set covering at least c:
    AURC = Σ_i (coverage_i − coverage_{i−1}) · risk_i, coverage_{−1} = 0. Without ties this is the
    mean of the risk after each of the n samples is added, (1/n) Σ_k risk_k — the AURC of Geifman,
    Uziel & El-Yaniv, "Bias-Reduced Uncertainty Estimation for Deep Neural Classifiers", ICLR 2019.
    """
    s, c = _scores_and_correct(scores, correct)
    n = s.size
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    cum_correct = np.cumsum(c[order])
    ends = np.flatnonzero(np.append(s_sorted[1:] != s_sorted[:-1], True))
    n_selected = ends + 1
    accuracy = cum_correct[ends] / n_selected
    coverage = n_selected / n
    risk = 1.0 - accuracy
    aurc = float(np.sum(np.diff(coverage, prepend=0.0) * risk))
    k = np.arange(1, n + 1)
    n_correct = int(c.sum())
    aurc_optimal = float(np.sum(np.maximum(k - n_correct, 0) / k) / n)
    return RiskCoverage(s_sorted[ends], n_selected, coverage, accuracy, risk, aurc, aurc_optimal)


def threshold_for_accuracy(
    scores: ArrayLike, correct: ArrayLike, target_accuracy: float, min_selected: int = MIN_SELECTED
) -> float | None:
    """Smallest threshold whose selected set (score >= t) has accuracy >= target and >= min_selected samples.

    Smallest threshold = largest coverage meeting the target. Accuracy is not monotone in t, so a
    higher threshold may fall below the target; the promise is about the whole selected set, which
    is what the report states. Returns None when no threshold qualifies (the analyzer must then
    always abstain at that scale) — including when there are fewer than `min_selected` samples.
    """
    if not 0.0 < target_accuracy <= 1.0:
        raise ValueError(f"target_accuracy must be in (0, 1], got {target_accuracy}")
    if min_selected < 1:
        raise ValueError(f"min_selected must be >= 1, got {min_selected}")
    curve = risk_coverage_curve(scores, correct)
    ok = (curve.n_selected >= min_selected) & (curve.accuracy >= target_accuracy - 1e-12)
    if not np.any(ok):
        return None
    return float(curve.thresholds[ok].min())


def _latlon(values: ArrayLike, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{what} must be an (N, 2) array of [lat, lon] degrees, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return array


def correct_at_scales(
    pred_latlon: ArrayLike, true_latlon: ArrayLike, scales: Iterable[float] = SCALES_KM
) -> dict[float, np.ndarray]:
    """{scale: (N,) bool} — whether each prediction lies within s km (≤, great circle) of the truth."""
    pred = _latlon(pred_latlon, "pred_latlon")
    true = _latlon(true_latlon, "true_latlon")
    if pred.shape != true.shape:
        raise ValueError(f"pred_latlon and true_latlon differ in shape: {pred.shape} vs {true.shape}")
    error = haversine_km(pred[:, 0], pred[:, 1], true[:, 0], true[:, 1])
    return {s: error <= s for s in scales}


def accuracy_at_scales(
    pred_latlon: ArrayLike, true_latlon: ArrayLike, scales: Iterable[float] = SCALES_KM
) -> dict[float, float]:
    """{scale: fraction of predictions within s km of the truth} — the Im2GPS accuracy table."""
    return {s: float(ok.mean()) for s, ok in correct_at_scales(pred_latlon, true_latlon, scales).items()}


def stack_scores(per_image: Sequence[Mapping[str, Mapping[float, float]]]) -> dict[str, dict[float, np.ndarray]]:
    """Turn a list of `selective.all_selection_scores` results (one per image) into {function: {scale: (N,)}}."""
    if not per_image:
        raise ValueError("no images")
    first = per_image[0]
    return {name: {s: np.array([float(image[name][s]) for image in per_image]) for s in first[name]} for name in first}


# --------------------------------------------------------------------------- stored thresholds


def _scale_key(scale: float) -> str:
    return f"{scale:g}"


def _parse_scale(key: str) -> float:
    value = float(key)
    return int(value) if value.is_integer() else value


@dataclass(frozen=True)
class Thresholds:
    """Calibrated thresholds per selection function and scale, with what they were calibrated on.

    `values[function][scale]` is the threshold, or None when no threshold reached the target accuracy
    (abstain there). `coverage[function][scale]` is the fraction of the calibration set the threshold
    selects (0.0 for None). JSON keys for scales are written with '%g' ('25', '2500').
    """

    target_accuracy: float
    calibration_set: str
    """Free text: which images, which model, how correctness was measured."""
    n_calibration: int
    min_selected: int
    values: dict[str, dict[float, float | None]]
    coverage: dict[str, dict[float, float]] = field(default_factory=dict)

    def for_function(self, function: str) -> dict[float, float]:
        """{scale: threshold} for `selective.decide`, with None turned into +inf (never passes)."""
        if function not in self.values:
            raise KeyError(f"no thresholds for {function!r}; have {sorted(self.values)}")
        return {s: math.inf if t is None else t for s, t in self.values[function].items()}

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (NaN/inf never appear: unreachable thresholds are null)."""
        return {
            "format": THRESHOLDS_FORMAT,
            "version": _VERSION,
            "target_accuracy": self.target_accuracy,
            "min_selected": self.min_selected,
            "calibration_set": {"description": self.calibration_set, "size": self.n_calibration},
            "thresholds": {f: {_scale_key(s): t for s, t in per.items()} for f, per in self.values.items()},
            "coverage": {f: {_scale_key(s): c for s, c in per.items()} for f, per in self.coverage.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Thresholds:
        """Inverse of `to_dict`; rejects other formats, newer versions and non-finite thresholds."""
        if data.get("format") != THRESHOLDS_FORMAT:
            raise ValueError(f"not a geolocation thresholds file (format {data.get('format')!r})")
        if int(data.get("version", 0)) > _VERSION:
            raise ValueError(f"thresholds file version {data['version']} is newer than this code ({_VERSION})")
        values: dict[str, dict[float, float | None]] = {}
        for function, per in data["thresholds"].items():
            values[function] = {}
            for key, t in per.items():
                if t is not None and not math.isfinite(float(t)):
                    raise ValueError(f"threshold {function} @ {key} km is not finite: {t}")
                values[function][_parse_scale(key)] = None if t is None else float(t)
        coverage = {
            f: {_parse_scale(k): float(c) for k, c in per.items()} for f, per in data.get("coverage", {}).items()
        }
        calib = data["calibration_set"]
        return cls(
            target_accuracy=float(data["target_accuracy"]),
            calibration_set=str(calib["description"]),
            n_calibration=int(calib["size"]),
            min_selected=int(data["min_selected"]),
            values=values,
            coverage=coverage,
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Thresholds:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Thresholds:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def calibrate(
    scores: Mapping[str, Mapping[float, ArrayLike]],
    correct: Mapping[float, ArrayLike],
    target_accuracy: float,
    calibration_set: str,
    min_selected: int = MIN_SELECTED,
) -> Thresholds:
    """Thresholds for every function and scale of `scores` ({function: {scale: (N,)}}, see `stack_scores`).

    `correct[scale]` is the (N,) correctness at that scale (see `correct_at_scales`). Every array must
    describe the same N images, in the same order.
    """
    sizes = {np.asarray(v).size for v in correct.values()}
    sizes |= {np.asarray(v).size for per in scores.values() for v in per.values()}
    if len(sizes) != 1:
        raise ValueError(f"score and correctness arrays differ in length: {sorted(sizes)}")
    values: dict[str, dict[float, float | None]] = {}
    coverage: dict[str, dict[float, float]] = {}
    for function, per in scores.items():
        values[function], coverage[function] = {}, {}
        for scale, s in per.items():
            if scale not in correct:
                raise KeyError(f"no correctness for scale {scale:g} km")
            t = threshold_for_accuracy(s, correct[scale], target_accuracy, min_selected)
            values[function][scale] = t
            coverage[function][scale] = 0.0 if t is None else float(np.mean(np.asarray(s, dtype=np.float64) >= t))
    return Thresholds(target_accuracy, calibration_set, sizes.pop(), min_selected, values, coverage)
