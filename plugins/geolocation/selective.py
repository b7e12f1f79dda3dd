"""Localizability: selection scores over a geo-cell distribution, and answering or abstaining per scale.

A geo-cell classifier always names a most probable cell, even for an indoor close-up that carries no
location evidence. Following Panagiotopoulos, Kordopatis-Zilos & Papadopoulos, "Leveraging Selective
Prediction for Reliable Image Geolocation" (MMM 2022; code: github.com/mever-team/visloc-estimation),
we score how concentrated the distribution is around its top cell and answer only at the scales
where the score passes a threshold calibrated for a target accuracy (see `calibration.py`); at finer
scales the tool abstains instead of printing a misleading pin.

Every selection score here is oriented "higher = more confident" (entropies are negated), so one
rule `score >= threshold` serves all of them. The top cell is `np.argmax(p)`: ties go to the LOWEST
index, deterministic and the same as the reference code. See selective.md next to this file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .geo import EARTH_RADIUS_KM, CellSet

__all__ = [
    "PROBABILITY_ATOL",
    "SCALES_KM",
    "SCALE_NAMES",
    "SELECTION_FUNCTIONS",
    "Decision",
    "PointEstimate",
    "ScaleDecision",
    "all_selection_scores",
    "as_probabilities",
    "decide",
    "entropy",
    "max_probability",
    "negative_entropy",
    "normalised_entropy",
    "point_estimate",
    "prediction_density",
    "scale_label",
    "selection_scores",
    "spatial_entropy",
    "top2_margin",
    "top_cell",
]

SCALES_KM: tuple[int, ...] = (1, 25, 200, 750, 2500)
"""The Im2GPS evaluation radii (Hays & Efros 2008; Vo et al. 2017), finest first."""

SCALE_NAMES: dict[float, str] = {1: "street", 25: "city", 200: "region", 750: "country", 2500: "continent"}

PROBABILITY_ATOL = 1e-6
"""How far from 1 the sum of a probability vector may be (float32 softmax over 31k cells drifts ~1e-7)."""

SELECTION_FUNCTIONS: tuple[str, ...] = (
    "prediction_density",
    "max_probability",
    "negative_entropy",
    "top2_margin",
    "negative_spatial_entropy",
)
"""Names accepted by `selection_scores` and used as keys in stored thresholds."""


def scale_label(scale_km: float) -> str:
    """Human name of a scale, e.g. 'city scale (25 km)'; unnamed scales read '300 km scale'."""
    name = SCALE_NAMES.get(scale_km)
    return f"{name} scale ({scale_km:g} km)" if name else f"{scale_km:g} km scale"


# --------------------------------------------------------------------------- validation


def as_probabilities(p: ArrayLike, n_cells: int | None = None, *, renormalise: bool = False) -> np.ndarray:
    """Check that `p` is a probability vector over cells and return it as float64 summing to exactly 1.

    Raises ValueError for NaN/infinite or negative entries, for an all-zero vector (nothing to
    normalise) and, unless `renormalise` is True, for a sum further than `PROBABILITY_ATOL` from 1 —
    a sum of 0.5 usually means the wrong tensor (logits, a sliced batch), which silent renormalising
    would hide. Pass `renormalise=True` for non-negative weights that are deliberately unnormalised.
    """
    array = np.asarray(p, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"p must be a non-empty 1-D vector over cells, got shape {array.shape}")
    if n_cells is not None and array.size != n_cells:
        raise ValueError(f"p has {array.size} entries but there are {n_cells} cells")
    if not np.all(np.isfinite(array)):
        raise ValueError("p contains NaN or infinite values: not a probability vector (was the model output NaN?)")
    if np.any(array < 0.0):
        raise ValueError(f"p has negative entries (min {array.min():.3g}): pass softmax probabilities, not logits")
    total = float(array.sum())
    if total <= 0.0:
        raise ValueError("p is all zeros: cannot renormalise to a probability vector")
    if not renormalise and abs(total - 1.0) > PROBABILITY_ATOL:
        raise ValueError(
            f"p sums to {total:.9g}, not 1 within {PROBABILITY_ATOL:g}; pass renormalise=True if it is an "
            "unnormalised non-negative weighting"
        )
    return array / total


def top_cell(p: ArrayLike) -> int:
    """Index of the most probable cell; ties go to the lowest index (np.argmax, as in the reference)."""
    return int(np.argmax(as_probabilities(p)))


# --------------------------------------------------------------------------- scale-free baselines


def max_probability(p: ArrayLike) -> float:
    """Softmax response max_c p_c: the classic selective-prediction baseline (Geifman & El-Yaniv 2017)."""
    return float(as_probabilities(p).max())


def entropy(p: ArrayLike) -> float:
    """Shannon entropy −Σ p log p in nats (0 log 0 = 0); 0 = one cell, log M = uniform over M cells."""
    q = as_probabilities(p)
    q = q[q > 0.0]
    return float(-np.sum(q * np.log(q)))


def normalised_entropy(p: ArrayLike) -> float:
    """Entropy divided by log M, in [0, 1], comparable across cell sets of different sizes (0 if M = 1)."""
    q = as_probabilities(p)
    return 0.0 if q.size == 1 else entropy(q) / math.log(q.size)


def negative_entropy(p: ArrayLike) -> float:
    """−entropy(p): the entropy baseline oriented so that higher means more confident, like every score."""
    return -entropy(p)


def top2_margin(p: ArrayLike) -> float:
    """p1 − p2, the gap between the two largest probabilities (p1 if there is a single cell); O(M)."""
    q = as_probabilities(p)
    if q.size == 1:
        return float(q[0])
    top2 = np.partition(q, q.size - 2)[-2:]
    return float(top2[1] - top2[0])


# --------------------------------------------------------------------------- spatial scores


@dataclass(frozen=True)
class _Anchor:
    """The validated distribution seen from its top cell: distances computed once, reused per scale."""

    p: np.ndarray
    top: int
    distances_km: np.ndarray
    cells: CellSet

    @classmethod
    def of(cls, p: ArrayLike, cells: CellSet) -> _Anchor:
        q = as_probabilities(p, len(cells))
        top = int(np.argmax(q))
        return cls(q, top, cells.distances_from(top), cells)


def _check_scales(scales: Iterable[float]) -> tuple[float, ...]:
    values = tuple(scales)
    if not values or any(not (math.isfinite(s) and s > 0) for s in values):
        raise ValueError(f"scales must be positive finite km values, got {values}")
    return values


def _pd(anchor: _Anchor, scales: tuple[float, ...]) -> dict[float, float]:
    return {s: float(anchor.p[anchor.distances_km <= s].sum()) for s in scales}


def prediction_density(p: ArrayLike, cells: CellSet, scales: Iterable[float] = SCALES_KM) -> dict[float, float]:
    """PD_s = Σ p_c over cells whose centre is within s km (≤, haversine) of the top cell's centre.

    The paper's localizability score: the probability mass the model puts near its own answer, i.e.
    how likely the answer is right *at that scale* if the model is calibrated. Non-decreasing in s.
    Ties for the top cell go to the lowest index. Returns {scale: PD}.
    """
    return _pd(_Anchor.of(p, cells), _check_scales(scales))


def _polar_bin_keys(anchor: _Anchor, bearings: np.ndarray, scale_km: float) -> np.ndarray:
    """Bin id of every cell in the polar grid of pitch `scale_km` centred on the top cell (see the card)."""
    d = anchor.distances_km
    ring = np.where(d <= scale_km, 0, np.maximum(np.ceil(d / scale_km) - 1, 1)).astype(np.int64)
    r_mid = (ring + 0.5) * scale_km
    circumference = 2.0 * np.pi * EARTH_RADIUS_KM * np.abs(np.sin(r_mid / EARTH_RADIUS_KM))
    sectors = np.where(ring == 0, 1, np.maximum(1, np.floor(circumference / scale_km + 0.5))).astype(np.int64)
    sector = np.minimum((bearings / (2.0 * np.pi) * sectors).astype(np.int64), sectors - 1)
    max_sectors = int(math.ceil(2.0 * np.pi * EARTH_RADIUS_KM / scale_km)) + 1
    return ring * max_sectors + sector


def _spatial_entropy(anchor: _Anchor, scales: tuple[float, ...]) -> dict[float, float]:
    bearings = anchor.cells.bearings_from(anchor.top)
    out: dict[float, float] = {}
    for s in scales:
        _, inverse = np.unique(_polar_bin_keys(anchor, bearings, s), return_inverse=True)
        mass = np.bincount(inverse.reshape(-1), weights=anchor.p)
        mass = mass[mass > 0.0]
        out[s] = float(-np.sum(mass * np.log(mass)))
    return out


def spatial_entropy(p: ArrayLike, cells: CellSet, scales: Iterable[float] = SCALES_KM) -> dict[float, float]:
    """Shannon entropy (nats) of the mass pooled into a polar grid of pitch s km around the top cell.

    Why: cell entropy treats two neighbouring cells of the same city like two continents; pooling
    the mass into ~s × s km bins first makes the entropy measure spread *at scale s*. Bin 0 is the
    disc d ≤ s (exactly the PD_s disc); ring k ≥ 1 is k·s < d ≤ (k+1)·s, split by initial bearing
    (0 = north) into max(1, round(2πR·sin(r_k/R) / s)) equal sectors, r_k = (k + ½)·s, so bins are
    about s km wide and mass in opposite directions is not pooled. O(M log M) per scale, no M × M.
    0 when everything lies within s km of the top cell. Lower = more concentrated; select with the
    negated value. Returns {scale: entropy}.
    """
    return _spatial_entropy(_Anchor.of(p, cells), _check_scales(scales))


def all_selection_scores(
    p: ArrayLike, cells: CellSet, scales: Iterable[float] = SCALES_KM
) -> dict[str, dict[float, float]]:
    """Every function of `SELECTION_FUNCTIONS` at every scale, sharing one validation and one distance pass.

    Scale-free scores (max probability, entropy, margin) are repeated at each scale so that every
    function can have its own per-scale threshold in `decide`.
    """
    scales = _check_scales(scales)
    anchor = _Anchor.of(p, cells)
    h = -float(np.sum(anchor.p[anchor.p > 0] * np.log(anchor.p[anchor.p > 0])))
    flat = {
        "max_probability": float(anchor.p[anchor.top]),
        "negative_entropy": -h,
        "top2_margin": top2_margin(anchor.p),
    }
    out = {name: dict.fromkeys(scales, value) for name, value in flat.items()}
    out["prediction_density"] = _pd(anchor, scales)
    out["negative_spatial_entropy"] = {s: -h_s for s, h_s in _spatial_entropy(anchor, scales).items()}
    return {name: out[name] for name in SELECTION_FUNCTIONS}


def selection_scores(
    p: ArrayLike, cells: CellSet, function: str = "prediction_density", scales: Iterable[float] = SCALES_KM
) -> dict[float, float]:
    """{scale: score} for one selection function named in `SELECTION_FUNCTIONS` (higher = more confident)."""
    scales = _check_scales(scales)
    if function == "prediction_density":
        return prediction_density(p, cells, scales)
    if function == "negative_spatial_entropy":
        return {s: -h for s, h in spatial_entropy(p, cells, scales).items()}
    flat = {"max_probability": max_probability, "negative_entropy": negative_entropy, "top2_margin": top2_margin}
    if function not in flat:
        raise ValueError(f"unknown selection function {function!r}; expected one of {SELECTION_FUNCTIONS}")
    as_probabilities(p, len(cells))
    return dict.fromkeys(scales, flat[function](p))


# --------------------------------------------------------------------------- point estimate


@dataclass(frozen=True)
class PointEstimate:
    """Where the analyzer puts the pin, and what it is made of."""

    lat: float
    lon: float
    cell_index: int
    """The most probable cell (lowest index on ties)."""
    scale_km: float | None
    """None: the top cell's centre. Otherwise the mass-weighted mean of cells within this radius."""
    mass: float
    """Probability mass behind the pin: p of the top cell, or PD at `scale_km`."""


def point_estimate(p: ArrayLike, cells: CellSet, scale_km: float | None = None) -> PointEstimate:
    """The top cell's centre or, with `scale_km`, the p-weighted mean of cell centres within scale_km of it.

    Pass the answered scale of `decide` to place the pin at the centre of the mass that made the
    answer pass (it moves by at most scale_km from the top cell). The mean is taken on unit vectors
    and projected back to the sphere, so it is right across the antimeridian and near poles; for
    scale_km up to a quarter circumference (~10,000 km) all points lie in one hemisphere and the mean
    is well defined. Cells with p = 0 do not contribute.
    """
    anchor = _Anchor.of(p, cells)
    top = anchor.top
    if scale_km is None:
        return PointEstimate(float(cells.lat[top]), float(cells.lon[top]), top, None, float(anchor.p[top]))
    _check_scales((scale_km,))
    near = anchor.distances_km <= scale_km
    w = anchor.p[near]
    phi = np.radians(cells.lat[near])
    lam = np.radians(cells.lon[near])
    v = np.array([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)]) @ w
    norm = float(np.linalg.norm(v))
    if norm < 1e-12:
        return PointEstimate(float(cells.lat[top]), float(cells.lon[top]), top, scale_km, float(w.sum()))
    x, y, z = v / norm
    lat = math.degrees(math.asin(min(1.0, max(-1.0, z))))
    lon = math.degrees(math.atan2(y, x))
    return PointEstimate(lat, lon, top, scale_km, float(w.sum()))


# --------------------------------------------------------------------------- decision


@dataclass(frozen=True)
class ScaleDecision:
    """The test at one scale."""

    scale_km: float
    name: str
    """'street', 'city', … or '' for a non-standard scale."""
    score: float
    threshold: float
    """math.inf when no threshold reached the target accuracy in calibration: never passes."""
    passed: bool
    """score >= threshold (a NaN score never passes)."""
    answered: bool
    """True at the answered scale and every coarser one (an answer at 25 km is one at 750 km too)."""
    sentence: str


@dataclass(frozen=True)
class Decision:
    """Answer at the finest passing scale, abstain at every finer one."""

    answered_scale_km: float | None
    """Finest scale whose score passed; None = abstain at every scale."""
    scales: tuple[ScaleDecision, ...]
    """One entry per thresholded scale, finest first."""
    sentence: str
    """One line for the report, e.g. 'localizable at country scale (750 km), not at region scale (200 km)'."""

    @property
    def abstained(self) -> bool:
        """True when the analyzer answers at no scale at all."""
        return self.answered_scale_km is None

    def at(self, scale_km: float) -> ScaleDecision:
        """The entry for one scale (KeyError if it was not tested)."""
        for entry in self.scales:
            if entry.scale_km == scale_km:
                return entry
        raise KeyError(scale_km)


def _scale_sentence(scale_km: float, score: float, threshold: float, passed: bool, answered: bool) -> str:
    label = scale_label(scale_km)
    label = label[0].upper() + label[1:]
    if math.isnan(score):
        test = "no score"
    elif math.isinf(threshold) and threshold > 0:
        test = f"score {score:.3g}, and no threshold reached the target accuracy in calibration"
    else:
        test = f"score {score:.3g} {'≥' if passed else '<'} threshold {threshold:.3g}"
    if passed:
        return f"{label}: {test}: localizable."
    if answered:
        return f"{label}: {test}, but answered because a finer scale passed."
    return f"{label}: {test}: abstain."


def decide(scores_per_scale: Mapping[float, float], thresholds_per_scale: Mapping[float, float | None]) -> Decision:
    """Answer at the finest scale whose selection score passes (score >= threshold); abstain at finer ones.

    The scales tested are the keys of `thresholds_per_scale` (scores at other scales are ignored);
    each needs a score (KeyError otherwise). A threshold of None or +inf means calibration found
    no threshold reaching the target accuracy there: that scale never passes. Scales are nested
    (an answer right within 25 km is right within 750 km), so every scale coarser than the answered
    one counts as answered even if its own test failed — the per-scale sentence says so.
    """
    if not thresholds_per_scale:
        raise ValueError("no thresholds: nothing to decide")
    scales = sorted(thresholds_per_scale)
    missing = [s for s in scales if s not in scores_per_scale]
    if missing:
        raise KeyError(f"no selection score for scale(s) {missing} km")
    rows = []
    for s in scales:
        raw = thresholds_per_scale[s]
        threshold = math.inf if raw is None else float(raw)
        if math.isnan(threshold):
            raise ValueError(f"threshold at {s:g} km is NaN")
        score = float(scores_per_scale[s])
        rows.append((s, score, threshold, bool(score >= threshold)))  # NaN >= x is False
    answered_scale = next((s for s, _, _, passed in rows if passed), None)
    entries = tuple(
        ScaleDecision(
            scale_km=s,
            name=SCALE_NAMES.get(s, ""),
            score=score,
            threshold=threshold,
            passed=passed,
            answered=answered_scale is not None and s >= answered_scale,
            sentence=_scale_sentence(s, score, threshold, passed, answered_scale is not None and s >= answered_scale),
        )
        for s, score, threshold, passed in rows
    )
    if answered_scale is None:
        sentence = f"not localizable at any tested scale, not even at {scale_label(scales[-1])}: abstain"
    else:
        i = scales.index(answered_scale)
        if i == 0:
            sentence = f"localizable at {scale_label(answered_scale)}, the finest scale tested"
        else:
            sentence = f"localizable at {scale_label(answered_scale)}, not at {scale_label(scales[i - 1])}"
    return Decision(answered_scale, entries, sentence)
