"""Retrieval metrics against the revisitop reference outputs and against values computed by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from plugins.similarity.evaluation import (
    compute_ap,
    compute_map,
    ilias_map_at_k,
    mean_reciprocal_rank,
    recall_at_k,
    revisited_protocols,
)

REVISITOP_CASES = Path("/work/shared/reference/revisitop_map_cases.json")


# --------------------------------------------------------------------------- revisited Oxford / Paris


def test_revisitop_reference_cases() -> None:
    if not REVISITOP_CASES.is_file():
        pytest.skip("revisitop reference cases not available")
    case = json.loads(REVISITOP_CASES.read_text())
    ranks = np.array(case["ranks_per_query"])
    result = revisited_protocols(ranks, case["gnd"], kappas=(1, 5, 10))
    assert set(result) == set(case["protocols"]) == {"easy", "medium", "hard"}
    for name, want in case["protocols"].items():
        got = result[name]
        assert got.mean_ap == pytest.approx(want["mAP"], abs=1e-6), name
        assert len(got.ap_per_query) == len(want["AP_per_query"])
        for a, b in zip(got.ap_per_query, want["AP_per_query"], strict=True):
            if b is None:
                assert a is None, name
            else:
                assert a == pytest.approx(b, abs=1e-6), name
        assert [got.mean_precision_at_k[k] for k in (1, 5, 10)] == pytest.approx(want["mP@[1,5,10]"], abs=1e-6)


def test_compute_ap_trapezoid_by_hand() -> None:
    # positives at 0-based positions 0 and 2 of 2: (1 + 1)/2 * 1/2 + (1/2 + 2/3)/2 * 1/2 = 0.5 + 7/24
    assert compute_ap([0, 2], 2) == pytest.approx(0.5 + 7 / 24)
    # a single positive at position 3 of 1: (0/3 + 1/4) / 2 = 1/8 (precision before it is 0)
    assert compute_ap([3], 1) == pytest.approx(1 / 8)
    # 2 positives, one never ranked: only the first adds area, (1 + 1)/2 * 1/2
    assert compute_ap([0], 2) == pytest.approx(0.5)
    assert compute_ap([], 3) == 0.0
    assert compute_ap([2, 0], 2) == compute_ap([0, 2], 2)  # order of the given positions does not matter


# A hand-made case with junk before and between positives, a query without positives, and a query
# whose first result is junk. 8 database images; ranks are n_queries × n_db.
HAND_RANKS = np.array(
    [
        [4, 0, 6, 1, 2, 7, 3, 5],
        [0, 1, 2, 3, 4, 5, 6, 7],
        [7, 6, 5, 4, 3, 2, 1, 0],
    ]
)
HAND_GND = [
    {"ok": [0, 2, 5], "junk": [4, 1]},
    {"ok": [], "junk": [3]},
    {"ok": [3], "junk": [7, 5]},
]
# Query 0: removing junk 4 (before every positive) and 1 (between 0 and 2) leaves
#   [0, 6, 2, 7, 3, 5] -> positives at 0-based positions 0, 2, 5 (1-based 1, 3, 6); nres = 3.
#   AP = 1/3 * [ (1 + 1/1)/2 + (1/2 + 2/3)/2 + (2/5 + 3/6)/2 ] = 1/3 * (1 + 7/12 + 9/20) = 61/90
#   P@1: kq = min(6, 1) = 1 -> 1/1;  P@5: kq = min(6, 5) = 5 -> 2/5;  P@10: kq = min(6, 10) = 6 -> 3/6
# Query 1: no positives -> AP undefined (NaN), left out of every mean.
# Query 2: removing junk 7, 5 leaves [6, 4, 3, 2, 1, 0] -> positive 3 at position 2; nres = 1.
#   AP = (0/2 + 1/3)/2 = 1/6;  P@1: kq = 1 -> 0;  P@5, P@10: kq = min(3, k) = 3 -> 1/3
# mAP = (61/90 + 1/6)/2 = 19/45;  mP@1 = (1 + 0)/2;  mP@5 = (2/5 + 1/3)/2 = 11/30;  mP@10 = (1/2 + 1/3)/2 = 5/12
HAND_AP = [61 / 90, math.nan, 1 / 6]
HAND_P = [[1, 2 / 5, 1 / 2], [math.nan] * 3, [0, 1 / 3, 1 / 3]]


def test_compute_map_by_hand_with_junk_and_empty_query() -> None:
    mean_ap, aps, mp, prs = compute_map(HAND_RANKS, HAND_GND, kappas=(1, 5, 10))
    assert mean_ap == pytest.approx(19 / 45)
    np.testing.assert_allclose(aps, HAND_AP, equal_nan=True)
    np.testing.assert_allclose(prs, HAND_P, equal_nan=True)
    np.testing.assert_allclose(mp, [1 / 2, 11 / 30, 5 / 12])


def test_compute_map_without_junk_key_and_all_empty() -> None:
    res = compute_map([[2, 0, 1]], [{"ok": [0]}], kappas=(1, 3))
    # the positive is at 0-based position 1: AP = (0/1 + 1/2)/2 = 1/4; P@1: kq = 1 -> 0; P@3: kq = 2 -> 1/2
    assert res.mean_ap == pytest.approx(1 / 4)
    np.testing.assert_allclose(res.mean_precision_at_k, [0, 1 / 2])
    empty = compute_map([[0, 1]], [{"ok": [], "junk": [1]}])
    assert math.isnan(empty.mean_ap) and np.isnan(empty.mean_precision_at_k).all()


def test_compute_map_truncated_ranking() -> None:
    # n_db = 8, only 4 ranked: positive 5 is never retrieved, so AP = (1 + 1)/2 * 1/2 = 1/2;
    # P@10 follows the reference: kq = min(last ranked positive = 1, 10) = 1 -> 1/1
    res = compute_map([[0, 1, 2, 3]], [{"ok": [0, 5], "junk": []}], kappas=(1, 10), n_db=8)
    assert res.mean_ap == pytest.approx(1 / 2)
    np.testing.assert_allclose(res.precision_at_k_per_query, [[1, 1]])
    # no positive ranked at all: AP 0 and precision 0 (the reference would fail on max([]))
    none = compute_map([[0, 1, 2, 3]], [{"ok": [6, 7]}], kappas=(1,), n_db=8)
    assert none.mean_ap == 0.0 and none.mean_precision_at_k[0] == 0.0


def test_protocols_split_easy_hard_junk() -> None:
    # one query, 6 images: ranking [h, e, j, x, e2, x2] with easy {1, 4}, hard {0}, junk {2}
    ranks = [[0, 1, 2, 3, 4, 5]]
    gnd = [{"easy": [1, 4], "hard": [0], "junk": [2]}]
    res = revisited_protocols(ranks, gnd, kappas=(1,))
    # Easy: junk {2, 0} -> [1, 3, 4, 5], positives at 0 and 2: AP = 1/2 + (1/2 + 2/3)/4 = 0.5 + 7/24
    assert res["easy"].ap_per_query == [pytest.approx(0.5 + 7 / 24)]
    # Medium: junk {2} -> [0, 1, 3, 4, 5], positives at 0, 1, 3: AP = 1/3 * (1 + 1 + (2/3 + 3/4)/2) = 2/3 + 17/72
    assert res["medium"].mean_ap == pytest.approx(2 / 3 + 17 / 72)
    # Hard: junk {2, 1, 4} -> [0, 3, 5], positive at 0: AP = 1; P@1 = 1
    assert res["hard"].mean_ap == pytest.approx(1.0)
    assert res["hard"].mean_precision_at_k == {1: pytest.approx(1.0)}


def _reference_like(ranks: np.ndarray, gnd: list[dict], kappas: tuple[int, ...]) -> tuple[float, list[float]]:
    """A slow, literal restatement of the protocol (positions shifted by the junk seen before them)."""
    aps, prs = [], []
    for row, g in zip(ranks, gnd, strict=True):
        ok, junk = set(g["ok"]), set(g["junk"])
        if not ok:
            continue
        pos, junk_seen = [], 0
        for i, x in enumerate(row):
            if x in junk:
                junk_seen += 1
            elif x in ok:
                pos.append(i - junk_seen)
        ap = 0.0
        for j, r in enumerate(pos):
            ap += ((1.0 if r == 0 else j / r) + (j + 1) / (r + 1)) / (2 * len(ok))
        aps.append(ap)
        one_based = [p + 1 for p in pos]
        prs.append([sum(p <= min(max(one_based), k) for p in one_based) / min(max(one_based), k) for k in kappas])
    return float(np.mean(aps)), list(np.mean(prs, axis=0))


def test_compute_map_matches_literal_restatement_on_random_cases() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        n_db, nq = int(rng.integers(5, 40)), int(rng.integers(1, 6))
        ranks = np.stack([rng.permutation(n_db) for _ in range(nq)])
        gnd = []
        for _ in range(nq):
            ids = rng.permutation(n_db)
            n_ok, n_junk = int(rng.integers(1, 5)), int(rng.integers(0, 5))
            gnd.append({"ok": ids[:n_ok].tolist(), "junk": ids[n_ok : n_ok + n_junk].tolist()})
        want_map, want_mp = _reference_like(ranks, gnd, (1, 5, 10))
        got = compute_map(ranks, gnd, (1, 5, 10))
        assert got.mean_ap == pytest.approx(want_map)
        np.testing.assert_allclose(got.mean_precision_at_k, want_mp)


# --------------------------------------------------------------------------- ILIAS, recall@k, MRR

# 10 database images, 4 queries.
OTHER_RANKS = np.array(
    [
        [5, 1, 7, 2, 0, 3, 4, 9, 6, 8],
        [4, 0, 1, 2, 3, 5, 6, 7, 8, 9],
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ]
)
OTHER_POSITIVES = [{1, 2, 9}, [4], [0, 1, 2, 3, 4, 5], []]


def test_ilias_map_at_k_by_hand() -> None:
    # k = 3. Q0: hit at rank 2 (precision 1/2) -> 1/2 / min(3, 3) = 1/6.  Q1: hit at rank 1 -> 1/1.
    # Q2: hits at ranks 1, 2, 3 -> (1 + 1 + 1) / min(3, 6) = 1 (dividing by 6 would give 1/2).
    # Q3: no positives -> NaN, left out.  mAP@3 = (1/6 + 1 + 1)/3 = 13/18
    res = ilias_map_at_k(OTHER_RANKS, OTHER_POSITIVES, k=3)
    np.testing.assert_allclose(res.ap_per_query, [1 / 6, 1, 1, math.nan], equal_nan=True)
    assert res.mean_ap == pytest.approx(13 / 18)
    # k = 5. Q0: hits at ranks 2, 4 -> (1/2 + 2/4)/3 = 1/3.  Q2: ranks 1..5 -> 5 / min(5, 6) = 1
    assert ilias_map_at_k(OTHER_RANKS, OTHER_POSITIVES, k=5).ap_per_query[:3] == pytest.approx([1 / 3, 1, 1])
    # k = 1000 (longer than the ranking). Q0: ranks 2, 4, 8 -> (1/2 + 2/4 + 3/8)/3 = 11/24
    # Q2: ranks 1..6 -> 6/6 = 1.  mAP = (11/24 + 1 + 1)/3 = 59/72
    res = ilias_map_at_k(OTHER_RANKS, OTHER_POSITIVES)
    assert res.ap_per_query[0] == pytest.approx(11 / 24)
    assert res.mean_ap == pytest.approx(59 / 72)


def test_ilias_no_hit_in_top_k_is_zero() -> None:
    # positives 8, 9 sit at ranks 9, 10; with k = 2 nothing is retrieved -> AP@2 = 0
    assert ilias_map_at_k([list(range(10))], [[8, 9]], k=2).mean_ap == 0.0


def test_recall_at_k_and_mrr_by_hand() -> None:
    # first positive: Q0 rank 2, Q1 rank 1, Q2 rank 1; Q3 has no positives (left out)
    # R@1 = 2/3, R@2 = R@20 = 3/3;  MRR = (1/2 + 1 + 1)/3 = 5/6
    assert recall_at_k(OTHER_RANKS, OTHER_POSITIVES, ks=(1, 2, 20)) == pytest.approx({1: 2 / 3, 2: 1.0, 20: 1.0})
    assert mean_reciprocal_rank(OTHER_RANKS, OTHER_POSITIVES) == pytest.approx(5 / 6)
    # a positive missing from a truncated ranking counts 0: MRR = (0 + 1/2)/2 = 1/4, R@2 = 1/2
    ranks, positives = [[0, 1], [2, 3]], [[7], [3]]
    assert mean_reciprocal_rank(ranks, positives, n_db=8) == pytest.approx(1 / 4)
    assert recall_at_k(ranks, positives, ks=(1, 2), n_db=8) == pytest.approx({1: 0.0, 2: 0.5})
    assert math.isnan(mean_reciprocal_rank([[0, 1]], [[]]))


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("ranks", "gnd", "message"),
    [
        ([[0, 1, 5]], [{"ok": [0]}], "out of range"),
        ([[0, -1, 2]], [{"ok": [0]}], "out of range"),
        ([[0, 1, 1]], [{"ok": [0]}], "more than once in its ranking"),
        ([[0, 1, 2]], [{"ok": [3]}], "out of range"),
        ([[0, 1, 2]], [{"ok": [0, 0]}], "listed more than once"),
        ([[0, 1, 2]], [{"ok": [0], "junk": [0]}], "both 'ok' and 'junk'"),
        ([[0, 1, 2]], [{"junk": [0]}], "no 'ok'"),
        ([[0.0, 1.0, 2.0]], [{"ok": [0]}], "integer"),
        ([0, 1, 2], [{"ok": [0]}], "2-D"),
        ([[0, 1, 2], [0, 1]], [{"ok": [0]}, {"ok": [0]}], "rectangular"),
        ([[0, 1, 2]], [{"ok": [0]}, {"ok": [1]}], "1 query rows but gnd has 2"),
        ([[0], [1], [2]], [{"ok": [0]}], "transposed"),
    ],
)
def test_compute_map_rejects_bad_input(ranks: object, gnd: list[dict], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_map(ranks, gnd)  # type: ignore[arg-type]


def test_other_validation() -> None:
    with pytest.raises(ValueError, match="in both 'easy' and 'hard'"):
        revisited_protocols([[0, 1, 2]], [{"easy": [0], "hard": [0], "junk": []}])
    with pytest.raises(ValueError, match="lacks"):
        revisited_protocols([[0, 1, 2]], [{"easy": [0], "hard": []}])
    with pytest.raises(ValueError, match="kappas"):
        compute_map([[0, 1]], [{"ok": [0]}], kappas=(0,))
    with pytest.raises(ValueError, match="n_db=2 is smaller"):
        compute_map([[0, 1, 2]], [{"ok": [0]}], n_db=2)
    with pytest.raises(ValueError, match="n_positives"):
        compute_ap([0], 0)
    with pytest.raises(ValueError, match="distinct"):
        compute_ap([1, 1], 2)
    with pytest.raises(ValueError, match="k must be"):
        ilias_map_at_k([[0, 1]], [[0]], k=0)
    with pytest.raises(ValueError, match="out of range"):
        recall_at_k([[0, 1]], [[2]])
    with pytest.raises(ValueError, match="more than once in its ranking"):
        mean_reciprocal_rank([[1, 1]], [[1]])
