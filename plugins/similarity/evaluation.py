"""Image-retrieval evaluation metrics, following the published protocols exactly.

Every function takes `ranks` as an (n_queries × L) integer array: row q lists 0-based database ids
in ranked order, best first. L is normally the database size (a full ranking); a shorter,
truncated ranking is accepted when `n_db` is given, and positives missing from it count as never
retrieved. NOTE: the revisitop reference code takes the transpose (db × queries); pass `ranks.T`
when reusing arrays prepared for it.

- `compute_ap`, `compute_map`, `revisited_protocols`: revisited Oxford/Paris (Radenović et al.,
  "Revisiting Oxford and Paris: Large-Scale Image Retrieval Benchmarking", CVPR 2018; reference
  code `python/evaluate.py` of github.com/filipradenovic/revisitop).
- `ilias_map_at_k`: mAP@k of ILIAS (Kordopatis-Zilos et al., "ILIAS: Instance-Level Image
  retrieval At Scale", CVPR 2025; reference code `evaluation/src/dataset.py` of
  github.com/ilias-vrg/ilias).
- `recall_at_k`, `mean_reciprocal_rank`: hit rate at k and MRR.

Queries without any positive have an undefined score: NaN per query, left out of every mean (as the
revisitop code does). A mean over no defined query is NaN. See evaluation.md next to this file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = [
    "MapResult",
    "ProtocolResult",
    "compute_ap",
    "compute_map",
    "ilias_map_at_k",
    "mean_reciprocal_rank",
    "recall_at_k",
    "revisited_protocols",
]

PROTOCOLS = ("easy", "medium", "hard")


class MapResult(NamedTuple):
    """What `compute_map` and `ilias_map_at_k` return (unpacks like revisitop's `map, aps, pr, prs`)."""

    mean_ap: float
    """Mean of the defined per-query APs; NaN if no query has a positive."""
    ap_per_query: np.ndarray
    """(n_queries,) float; NaN for queries without positives."""
    mean_precision_at_k: np.ndarray
    """(len(kappas),) mean over queries with positives (mP@k); empty for ILIAS."""
    precision_at_k_per_query: np.ndarray
    """(n_queries, len(kappas)); NaN rows for queries without positives."""


@dataclass(frozen=True)
class ProtocolResult:
    """One protocol (Easy, Medium or Hard) of the revisited Oxford/Paris evaluation."""

    mean_ap: float
    ap_per_query: list[float | None]
    """None where AP is undefined (no positive for that query under this protocol)."""
    mean_precision_at_k: dict[int, float]
    """mP@k keyed by k."""


# --------------------------------------------------------------------------- validation


def _as_ranks(
    ranks: np.ndarray | Sequence[Sequence[int]], n_db: int | None, n_queries: int, what: str
) -> tuple[np.ndarray, int]:
    """Check `ranks` (n_queries × L, integer ids in [0, n_db), no repeats in a row) against the
    `n_queries` entries of the ground truth `what`; return it as int64 and n_db."""
    try:
        arr = np.asarray(ranks)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"ranks must be a rectangular (n_queries × L) array of ids: {exc}") from None
    if arr.ndim != 2:
        raise ValueError(f"ranks must be 2-D (n_queries × L), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"ranks must hold at least one query and one ranked id, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"ranks must hold integer database ids, got dtype {arr.dtype}")
    if arr.shape[0] != n_queries:
        hint = ""
        if arr.shape[1] == n_queries:
            hint = " (ranks looks transposed: this module takes n_queries × L, pass ranks.T)"
        raise ValueError(f"ranks has {arr.shape[0]} query rows but {what} has {n_queries} entries{hint}")
    if n_db is None:
        n_db = arr.shape[1]
    elif n_db < arr.shape[1]:
        raise ValueError(f"n_db={n_db} is smaller than the ranking length {arr.shape[1]}")
    bad = (arr < 0) | (arr >= n_db)
    if bad.any():
        q, j = np.argwhere(bad)[0]
        raise ValueError(f"ranks[{q}, {j}] = {arr[q, j]} is out of range [0, {n_db})")
    srt = np.sort(arr, axis=1)
    dup = srt[:, 1:] == srt[:, :-1]
    if dup.any():
        q, j = np.argwhere(dup)[0]
        raise ValueError(f"query {q}: database id {srt[q, j]} appears more than once in its ranking")
    return arr.astype(np.int64, copy=False), n_db


def _as_ids(ids: Iterable[int] | np.ndarray, n_db: int, what: str) -> np.ndarray:
    """A 1-D array of distinct ids in [0, n_db)."""
    arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids).reshape(-1)
    if arr.size == 0:
        return np.empty(0, np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what} must hold integer database ids, got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= n_db:
        raise ValueError(f"{what}: id {arr[(arr < 0) | (arr >= n_db)][0]} is out of range [0, {n_db})")
    srt = np.sort(arr)
    dup = srt[1:] == srt[:-1]
    if dup.any():
        raise ValueError(f"{what}: id {srt[1:][dup][0]} is listed more than once")
    return arr.astype(np.int64, copy=False)


def _common_id(a: np.ndarray, b: np.ndarray) -> int | None:
    """An id present in both (distinct-id) arrays, or None."""
    both = np.sort(np.concatenate([a, b]))
    dup = both[1:] == both[:-1]
    return int(both[1:][dup][0]) if dup.any() else None


def _as_kappas(kappas: Iterable[int], name: str = "kappas") -> tuple[int, ...]:
    ks = tuple(int(k) for k in kappas)
    if any(k < 1 for k in ks):
        raise ValueError(f"{name} must be positive integers, got {ks}")
    return ks


def _mean_defined(values: np.ndarray, defined: np.ndarray) -> np.ndarray:
    """Mean over the `defined` rows (axis 0); NaN when there is none, without numpy's empty-slice warning."""
    if not defined.any():
        return np.full(values.shape[1:], np.nan)
    return values[defined].mean(axis=0)


# --------------------------------------------------------------------------- revisited Oxford / Paris


def compute_ap(ranks_of_positives: Sequence[int] | np.ndarray, n_positives: int) -> float:
    """Average precision by the revisited Oxford/Paris trapezoidal rule (revisitop `compute_ap`).

    `ranks_of_positives` are the 0-based positions of the retrieved positives in the ranking (junk
    already removed); `n_positives` the number of positives in the ground truth (unretrieved ones
    then add nothing). For the j-th positive (0-based) at position r the recall steps by
    1/n_positives and the area added is the mean of the precision just before it, j/r (1 when r = 0),
    and at it, (j + 1)/(r + 1).
    """
    pos = np.sort(np.asarray(ranks_of_positives, dtype=np.int64).reshape(-1))
    if n_positives < 1:
        raise ValueError(f"n_positives must be at least 1 (AP is undefined without positives), got {n_positives}")
    if pos.size > n_positives:
        raise ValueError(f"{pos.size} ranked positives but n_positives={n_positives}")
    if pos.size and pos[0] < 0:
        raise ValueError(f"positions must be non-negative, got {pos[0]}")
    if np.any(pos[1:] == pos[:-1]):
        raise ValueError("positions of positives must be distinct")
    return _trapezoid_ap(pos, n_positives)


def _trapezoid_ap(pos: np.ndarray, n_positives: int) -> float:
    """`compute_ap` on sorted, distinct, non-negative positions."""
    j = np.arange(pos.size, dtype=np.float64)
    r = pos.astype(np.float64)
    precision_before = np.divide(j, r, out=np.ones_like(r), where=r > 0)
    precision_at = (j + 1.0) / (r + 1.0)
    return float(np.sum(precision_before + precision_at) / (2.0 * n_positives))


def compute_map(
    ranks: np.ndarray | Sequence[Sequence[int]],
    gnd: Sequence[Mapping[str, Iterable[int]]],
    kappas: Iterable[int] = (1, 5, 10),
    n_db: int | None = None,
) -> MapResult:
    """mAP and mP@k of the revisited Oxford/Paris protocol (revisitop `compute_map`).

    `ranks` is (n_queries × L) of 0-based db ids, best first (the reference takes db × queries: pass
    its array transposed). `gnd[q]` has 'ok' (positives) and optionally 'junk' ids; 'ok' and 'junk'
    must be disjoint. Junk is removed from the ranking before positions are taken. AP is
    `compute_ap` over those positions with len(ok) positives. Precision at kappa is the reference's:
    with p the 1-based junk-free positions of the positives and kq = min(max(p), kappa),
    P@kappa = #{p <= kq} / kq (so the denominator stops at the last positive; 0 when no positive is
    ranked at all, a case where the reference fails). Queries with empty 'ok' get NaN and are left
    out of both means. `n_db` (default L) bounds the ids.
    """
    arr, n_db = _as_ranks(ranks, n_db, len(gnd), "gnd")
    ks = _as_kappas(kappas)
    oks, junks = [], []
    for q, entry in enumerate(gnd):
        if "ok" not in entry:
            raise ValueError(f"gnd[{q}] has no 'ok' list")
        ok = _as_ids(entry["ok"], n_db, f"gnd[{q}]['ok']")
        junk = _as_ids(entry.get("junk", ()), n_db, f"gnd[{q}]['junk']")
        common = _common_id(ok, junk)
        if common is not None:
            raise ValueError(f"gnd[{q}]: id {common} is both 'ok' and 'junk'")
        oks.append(ok)
        junks.append(junk)
    return _map_checked(arr, n_db, oks, junks, ks)


def _map_checked(
    arr: np.ndarray, n_db: int, oks: list[np.ndarray], junks: list[np.ndarray], ks: tuple[int, ...]
) -> MapResult:
    """`compute_map` on validated input: int64 ranks, disjoint distinct in-range ok / junk ids."""
    nq = arr.shape[0]
    aps = np.full(nq, np.nan)
    prs = np.full((nq, len(ks)), np.nan)
    label = np.zeros(n_db, np.int8)  # per db id: 0 other, 1 positive, 2 junk (reset after each query)
    for q in range(nq):
        ok, junk = oks[q], junks[q]
        if ok.size == 0:
            continue  # AP undefined: excluded from the means, like the reference
        label[ok], label[junk] = 1, 2
        in_row = label[arr[q]]
        label[ok], label[junk] = 0, 0
        pos = np.flatnonzero(in_row[in_row != 2] == 1)  # positions in the ranking with junk removed
        aps[q] = _trapezoid_ap(pos, ok.size)
        if pos.size == 0:
            prs[q] = 0.0
            continue
        pos1 = pos + 1
        for i, k in enumerate(ks):
            kq = min(int(pos1[-1]), k)
            prs[q, i] = np.count_nonzero(pos1 <= kq) / kq
    defined = ~np.isnan(aps)
    return MapResult(float(_mean_defined(aps, defined)), aps, _mean_defined(prs, defined), prs)


def revisited_protocols(
    ranks: np.ndarray | Sequence[Sequence[int]],
    gnd_easy_hard_junk: Sequence[Mapping[str, Iterable[int]]],
    kappas: Iterable[int] = (1, 5, 10),
    n_db: int | None = None,
) -> dict[str, ProtocolResult]:
    """Easy, Medium and Hard results of the revisited Oxford/Paris benchmark.

    `gnd_easy_hard_junk[q]` has disjoint 'easy', 'hard' and 'junk' id lists. As in revisitop's
    example_evaluate.py: Easy uses ok = easy, junk = junk + hard; Medium ok = easy + hard,
    junk = junk; Hard ok = hard, junk = junk + easy. Each is scored as `compute_map` does.
    Returns {"easy": ..., "medium": ..., "hard": ...}.
    """
    arr, n_db = _as_ranks(ranks, n_db, len(gnd_easy_hard_junk), "gnd_easy_hard_junk")
    ks = _as_kappas(kappas)
    split: list[dict[str, np.ndarray]] = []
    for q, entry in enumerate(gnd_easy_hard_junk):
        missing = [key for key in ("easy", "hard", "junk") if key not in entry]
        if missing:
            raise ValueError(f"gnd_easy_hard_junk[{q}] lacks {missing}")
        parts = {
            key: _as_ids(entry[key], n_db, f"gnd_easy_hard_junk[{q}][{key!r}]") for key in ("easy", "hard", "junk")
        }
        for a, b in (("easy", "hard"), ("easy", "junk"), ("hard", "junk")):
            common = _common_id(parts[a], parts[b])
            if common is not None:
                raise ValueError(f"gnd_easy_hard_junk[{q}]: id {common} is in both {a!r} and {b!r}")
        split.append(parts)
    # protocol -> (ok parts, junk parts)
    recipes = {
        "easy": (("easy",), ("junk", "hard")),
        "medium": (("easy", "hard"), ("junk",)),
        "hard": (("hard",), ("junk", "easy")),
    }
    out: dict[str, ProtocolResult] = {}
    for name in PROTOCOLS:
        ok_parts, junk_parts = recipes[name]
        oks = [np.concatenate([g[p] for p in ok_parts]) for g in split]
        junks = [np.concatenate([g[p] for p in junk_parts]) for g in split]
        res = _map_checked(arr, n_db, oks, junks, ks)
        out[name] = ProtocolResult(
            mean_ap=res.mean_ap,
            ap_per_query=[None if np.isnan(a) else float(a) for a in res.ap_per_query],
            mean_precision_at_k={k: float(v) for k, v in zip(ks, res.mean_precision_at_k, strict=True)},
        )
    return out


# --------------------------------------------------------------------------- other protocols


def _relevance(
    ranks: np.ndarray, positives: Sequence[Iterable[int]], n_db: int, depth: int
) -> tuple[np.ndarray, np.ndarray]:
    """(n_queries × min(depth, L)) bool hits of the top of each ranking, and each query's positive count."""
    top = ranks[:, :depth]
    rel = np.zeros(top.shape, bool)
    n_pos = np.zeros(ranks.shape[0], np.int64)
    is_pos = np.zeros(n_db, bool)  # reset after each query
    for q, ids in enumerate(positives):
        ok = _as_ids(ids, n_db, f"positives[{q}]")
        n_pos[q] = ok.size
        is_pos[ok] = True
        rel[q] = is_pos[top[q]]
        is_pos[ok] = False
    return rel, n_pos


def ilias_map_at_k(
    ranks: np.ndarray | Sequence[Sequence[int]],
    positives: Sequence[Iterable[int]],
    k: int = 1000,
    n_db: int | None = None,
) -> MapResult:
    """ILIAS mAP@k (k = 1000 in the paper): AP truncated at rank k, mean over queries.

    AP@k(q) = sum over positives at 1-based rank r <= k of precision@r, divided by
    min(k, number of positives of q); 0 when no positive is in the top k. This is what ILIAS's
    `_compute_AP` computes: sklearn's `average_precision_score` on the top k (non-interpolated:
    mean precision at the retrieved positives) multiplied by hits / min(k, |gt|). ILIAS sorts by
    score and sklearn pools tied scores; here the given rank order is used as is (identical when
    scores have no ties). No junk. Queries without positives (ILIAS has none) get NaN and are
    left out of the mean. Returns `MapResult` with empty precision fields.
    """
    arr, n_db = _as_ranks(ranks, n_db, len(positives), "positives")
    if int(k) < 1:
        raise ValueError(f"k must be a positive integer, got {k}")
    k = int(k)
    rel, n_pos = _relevance(arr, positives, n_db, k)
    hits = np.cumsum(rel, axis=1)
    precision = hits / np.arange(1, rel.shape[1] + 1)
    summed = np.where(rel, precision, 0.0).sum(axis=1)
    aps = np.full(arr.shape[0], np.nan)
    defined = n_pos > 0
    aps[defined] = summed[defined] / np.minimum(k, n_pos[defined])
    return MapResult(float(_mean_defined(aps, defined)), aps, np.empty(0), np.empty((arr.shape[0], 0)))


def recall_at_k(
    ranks: np.ndarray | Sequence[Sequence[int]],
    positives: Sequence[Iterable[int]],
    ks: Iterable[int] = (1, 5, 10),
    n_db: int | None = None,
) -> dict[int, float]:
    """Recall@k in the copy-detection / hit-rate sense: fraction of queries with at least one
    positive among their top k results (not the fraction of positives retrieved).

    Queries without positives are left out (NaN overall if none has one); k beyond the ranking
    length uses the whole ranking. Returns {k: recall}.
    """
    arr, n_db = _as_ranks(ranks, n_db, len(positives), "positives")
    kk = _as_kappas(ks, "ks")
    rel, n_pos = _relevance(arr, positives, n_db, max(kk, default=1))
    defined = n_pos > 0
    if not defined.any():
        return {k: float("nan") for k in kk}
    return {k: float(rel[defined, :k].any(axis=1).mean()) for k in kk}


def mean_reciprocal_rank(
    ranks: np.ndarray | Sequence[Sequence[int]],
    positives: Sequence[Iterable[int]],
    n_db: int | None = None,
) -> float:
    """Mean over queries of 1 / (1-based rank of the first positive); 0 for a query whose positives
    are all missing from its (truncated) ranking. Queries without positives are left out (NaN if all).
    """
    arr, n_db = _as_ranks(ranks, n_db, len(positives), "positives")
    rel, n_pos = _relevance(arr, positives, n_db, arr.shape[1])
    rr = np.where(rel.any(axis=1), 1.0 / (rel.argmax(axis=1) + 1.0), 0.0)
    return float(_mean_defined(rr, n_pos > 0))
