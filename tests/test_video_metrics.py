"""VSC 2022 video metrics: the reference implementation's outputs, hand-computed cases, validation."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from plugins.similarity.video_metrics import (
    PairScore,
    SegmentMatch,
    micro_average_precision,
    pairs_from_matches,
    segment_average_precision,
)

CASES_PATH = Path("/work/shared/reference/vsc_metric_cases.json")
CASES = json.loads(CASES_PATH.read_text()) if CASES_PATH.exists() else {"matching": [], "micro_ap": []}
needs_cases = pytest.mark.skipif(not CASES_PATH.exists(), reason="shared reference cases not available")


def seg(q: str, r: str, qs: float, qe: float, rs: float, re: float, score: float = 1.0) -> SegmentMatch:
    return SegmentMatch(q, r, qs, qe, rs, re, score)


# --------------------------------------------------------------------------- reference outputs


@needs_cases
@pytest.mark.parametrize("case", CASES["matching"], ids=lambda c: c["name"])
def test_segment_ap_reference_cases(case: dict) -> None:
    result = segment_average_precision(case["ground_truth"], case["predictions"])
    assert result.ap == pytest.approx(case["segment_ap"], abs=1e-6)


@needs_cases
@pytest.mark.parametrize("case", CASES["micro_ap"], ids=lambda c: c["name"])
def test_micro_ap_reference_cases(case: dict) -> None:
    result = micro_average_precision(case["ground_truth"], case["predictions"])
    assert result.ap == pytest.approx(case["micro_ap"], abs=1e-6)


@needs_cases
def test_reference_cases_present() -> None:
    assert len(CASES["matching"]) >= 7 and len(CASES["micro_ap"]) >= 4


# --------------------------------------------------------------------------- μAP by hand


def test_micro_ap_duplicates_absent_pair_and_query_without_gt() -> None:
    gt = [PairScore("Q1", "R1"), PairScore("Q2", "R2"), PairScore("Q3", "R3")]
    preds = [
        PairScore("Q1", "R1", 0.2),
        PairScore("Q1", "R1", 0.9),  # duplicate: the pair keeps its max, 0.9
        PairScore("Q4", "R4", 0.5),  # Q4 has no ground truth: a false positive
        PairScore("Q2", "R2", 0.4),
    ]  # (Q3, R3) is never predicted: it still counts in the denominator
    # ranking: TP (P=1/1), FP, TP (P=2/3) → AP = (1 + 2/3) / 3 = 5/9
    # (had the min, 0.2, been kept: FP, TP 2/... → (1/2 + 2/3)/3 = 7/18)
    result = micro_average_precision(gt, preds)
    assert result.ap == pytest.approx(5 / 9)
    np.testing.assert_allclose(result.precisions, [1.0, 2 / 3])
    np.testing.assert_allclose(result.recalls, [1 / 3, 2 / 3])
    np.testing.assert_allclose(result.scores, [0.9, 0.4])


def test_micro_ap_ties_form_one_threshold_in_any_order() -> None:
    gt = [{"query_id": "Q1", "ref_id": "R1"}, {"query_id": "Q2", "ref_id": "R2"}]
    preds = [
        {"query_id": "Q1", "ref_id": "R1", "score": 0.8},
        {"query_id": "Q9", "ref_id": "R9", "score": 0.8},
        {"query_id": "Q2", "ref_id": "R2", "score": 0.5},
    ]
    # threshold 0.8: 1 TP of 2 ranked → P = 1/2, +1 TP; threshold 0.5: P = 2/3, +1 TP
    # AP = (1/2 + 2/3) / 2 = 7/12 (taking the TP first would give (1 + 2/3)/2 = 5/6)
    assert micro_average_precision(gt, preds).ap == pytest.approx(7 / 12)
    assert micro_average_precision(gt, preds[::-1]).ap == pytest.approx(7 / 12)


def test_micro_ap_gt_repeats_count_once_and_segments_accepted() -> None:
    # two ground-truth segments of (Q1, R1) are one positive pair; (Q2, R2) is the other
    gt = [seg("Q1", "R1", 0, 5, 0, 5), seg("Q1", "R1", 10, 15, 10, 15), seg("Q2", "R2", 0, 5, 0, 5)]
    preds = [seg("Q1", "R1", 0, 5, 0, 5, 0.3), seg("Q7", "R1", 0, 5, 0, 5, 0.6)]
    # ranking: FP (0.6), TP (0.3, P = 1/2) → AP = (1/2) / 2 = 1/4
    assert micro_average_precision(gt, preds).ap == pytest.approx(0.25)


def test_micro_ap_degenerate() -> None:
    gt = [PairScore("Q1", "R1")]
    assert micro_average_precision(gt, []).ap == 0.0
    only_wrong = micro_average_precision(gt, [PairScore("Q1", "R2", 0.9), PairScore("Q2", "R1", 0.1)])
    assert only_wrong.ap == 0.0 and only_wrong.precisions.size == 0
    assert micro_average_precision(gt, [PairScore("Q1", "R1", -3.0)]).ap == 1.0
    with pytest.raises(ValueError, match="ground_truth is empty"):
        micro_average_precision([], [PairScore("Q1", "R1", 0.5)])


def test_pairs_from_matches_keeps_max_even_when_negative() -> None:
    pairs = pairs_from_matches([PairScore("Q1", "R1", -2.0), PairScore("Q1", "R1", -1.0), PairScore("Q2", "R1", 3)])
    assert sorted((p.query_id, p.ref_id, p.score) for p in pairs) == [("Q1", "R1", -1.0), ("Q2", "R1", 3.0)]


# --------------------------------------------------------------------------- segment AP by hand


def test_segment_ap_overlapping_predictions_fp_pair_and_missed_pair() -> None:
    gt = [seg("Q1", "R1", 0, 10, 0, 10), seg("Q2", "R2", 0, 10, 0, 10)]  # gt lengths: query 20, ref 20
    preds = [
        seg("Q1", "R1", 0, 6, 0, 6, 0.9),
        seg("Q1", "R1", 4, 10, 4, 10, 0.8),  # overlaps the previous prediction on both axes
        seg("Q3", "R3", 0, 10, 0, 10, 0.7),  # Q3 has no ground truth
    ]  # (Q2, R2) is missed
    # 0.9: matched 6, covered 6 per axis → R = √(6/20·6/20) = 0.3, P = 1 → AP 0.3
    # 0.8: union [0, 10] → matched 10, covered 10 (not 12) → R = 0.5, P = 1 → AP 0.3 + 0.2 = 0.5
    # 0.7: covered 20 per axis, matched 10 → R stays 0.5 (ΔR = 0), P = 0.5 → AP 0.5
    result = segment_average_precision(gt, preds)
    assert result.ap == pytest.approx(0.5)
    np.testing.assert_allclose(result.recalls, [0.3, 0.5])
    np.testing.assert_allclose(result.precisions, [1.0, 1.0])
    np.testing.assert_allclose(result.scores, [0.9, 0.8])


def test_segment_ap_tied_scores_and_per_axis_union() -> None:
    gt = [seg("Q1", "R1", 0, 10, 20, 30)]  # gt lengths: query 10, ref 10
    preds = [
        seg("Q1", "R1", 0, 5, 20, 25, 0.5),
        seg("Q1", "R1", 5, 10, 0, 5, 0.5),  # same score; its box misses the gt box (ref 0–5 vs 20–30)
        seg("Q1", "R1", 0, 10, 25, 30, 0.1),
    ]
    # group 0.5 (both at once; the gt is considered because the first box overlaps it):
    #   query: preds ∪ = [0, 10] → matched 10, covered 10; ref: preds ∪ = [0,5]∪[20,25] → matched 5, covered 10
    #   R = √(1·0.5) = 1/√2, P = √(1·0.5) = 1/√2 → AP = 1/2
    # group 0.1: query unchanged; ref ∪ = [0,5]∪[20,30] → matched 10, covered 15
    #   R = 1, P = √(1·10/15) = √(2/3) → AP = 1/2 + (1 − 1/√2)·√(2/3) ≈ 0.739146
    # (one box at a time would give 0.5·1 + (1/√2 − 1/2)·(1/√2) + 0.239146 ≈ 0.885593 instead)
    expected = 0.5 + (1 - 1 / math.sqrt(2)) * math.sqrt(2 / 3)
    assert segment_average_precision(gt, preds).ap == pytest.approx(expected)
    assert segment_average_precision(gt, [preds[1], preds[0], preds[2]]).ap == pytest.approx(expected)


def test_segment_ap_only_overlapped_gt_boxes_count_as_matched() -> None:
    gt = [seg("Q1", "R1", 0, 10, 0, 10), seg("Q1", "R1", 20, 30, 20, 30)]  # gt lengths: query 20, ref 20
    preds = [seg("Q1", "R1", 0, 30, 0, 10, 1.0)]  # overlaps the first box only (ref 0–10 vs 20–30)
    # considered gt: the first box → query matched [0,30]∩[0,10] = 10 (not 20), ref matched 10
    # R = √(10/20 · 10/20) = 0.5, P = √(10/30 · 10/10) = 1/√3 → AP = 0.5/√3 ≈ 0.288675
    assert segment_average_precision(gt, preds).ap == pytest.approx(0.5 / math.sqrt(3))


def test_segment_ap_degenerate() -> None:
    gt = [seg("Q1", "R1", 0, 10, 0, 10)]
    assert segment_average_precision(gt, []).ap == 0.0
    assert segment_average_precision(gt, [seg("Q2", "R1", 0, 10, 0, 10, 0.9)]).ap == 0.0
    # a zero-length prediction covers nothing: P taken as 0 instead of 0/0, R unchanged
    assert segment_average_precision(gt, [seg("Q1", "R1", 3, 3, 3, 3, 0.9)]).ap == 0.0
    assert segment_average_precision(gt, [seg("Q1", "R1", 3, 3, 3, 3, 0.9), gt[0]]).ap == pytest.approx(1.0)


def _interval_union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _naive_segment_ap(gt: list[SegmentMatch], preds: list[SegmentMatch]) -> float:
    """Recompute every sum from scratch after each score group (no incremental bookkeeping)."""
    axes = ((lambda m: (m.query_start, m.query_end)), (lambda m: (m.ref_start, m.ref_end)))
    length = lambda ivs: sum(b - a for a, b in _interval_union(ivs))  # noqa: E731
    keys = {(m.query_id, m.ref_id) for m in gt}
    gt_len = [sum(length([ax(m) for m in gt if (m.query_id, m.ref_id) == k]) for k in keys) for ax in axes]
    ap = recall = 0.0
    for threshold in sorted({p.score for p in preds}, reverse=True):
        taken = [p for p in preds if p.score >= threshold]
        matched, covered = [0.0, 0.0], [0.0, 0.0]
        for k in {(p.query_id, p.ref_id) for p in taken}:
            kp = [p for p in taken if (p.query_id, p.ref_id) == k]
            kg = [
                g
                for g in gt
                if (g.query_id, g.ref_id) == k
                and any(
                    min(g.query_end, p.query_end) > max(g.query_start, p.query_start)
                    and min(g.ref_end, p.ref_end) > max(g.ref_start, p.ref_start)
                    for p in kp
                )
            ]
            for a, ax in enumerate(axes):
                pu, gu = [ax(p) for p in kp], [ax(g) for g in kg]
                covered[a] += length(pu)
                matched[a] += length(pu) + length(gu) - length(pu + gu) if gu else 0.0
        new_recall = math.sqrt(matched[0] / gt_len[0] * matched[1] / gt_len[1])
        precision = math.sqrt(matched[0] / covered[0] * matched[1] / covered[1]) if min(covered) > 0 else 0.0
        ap += precision * (new_recall - recall)
        recall = new_recall
    return ap


def test_segment_ap_matches_from_scratch_recomputation_on_random_data() -> None:
    rng = random.Random(7)

    def box(q: str, r: str, score: float) -> SegmentMatch:
        qs, rs = rng.randint(0, 40), rng.randint(0, 40)
        return seg(q, r, qs, qs + rng.randint(1, 15), rs, rs + rng.randint(1, 15), score)

    for _ in range(30):
        ids = [("Q1", "R1"), ("Q1", "R2"), ("Q2", "R1"), ("Q3", "R3")]
        gt = [box(*rng.choice(ids[:3]), 1.0) for _ in range(rng.randint(1, 5))]
        preds = [box(*rng.choice(ids), rng.choice([0.1, 0.2, 0.5, 0.7, 0.9])) for _ in range(rng.randint(1, 12))]
        # make some predictions hit the ground truth
        preds += [
            seg(g.query_id, g.ref_id, g.query_start + 1, g.query_end, g.ref_start, g.ref_end, 0.6) for g in gt[:2]
        ]
        expected = _naive_segment_ap(gt, preds)
        assert segment_average_precision(gt, preds).ap == pytest.approx(expected, abs=1e-9)
        rng.shuffle(preds)
        assert segment_average_precision(gt, preds).ap == pytest.approx(expected, abs=1e-9)


# --------------------------------------------------------------------------- validation


GOOD = {"query_id": "Q1", "ref_id": "R1", "query_start": 0, "query_end": 5, "ref_start": 0, "ref_end": 5, "score": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"query_start": 6}, r"query_start \(6.0\) > query_end \(5.0\).*negative duration"),
        ({"ref_end": -1}, r"ref_start \(0.0\) > ref_end \(-1.0\)"),
        ({"query_start": -2}, "query_start must be >= 0"),
        ({"score": float("nan")}, "score must be finite"),
        ({"score": float("inf")}, "score must be finite"),
        ({"ref_start": float("nan")}, "ref_start must be finite"),
        ({"score": "0.5"}, "score must be a real number"),
        ({"query_id": None}, "missing query_id or ref_id"),
    ],
)
def test_segment_prediction_validation(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        segment_average_precision([GOOD], [{**GOOD, **change}])


def test_ground_truth_validation() -> None:
    with pytest.raises(ValueError, match=r"ground_truth\[0\]: query_start \(6.0\) > query_end"):
        segment_average_precision([{**GOOD, "query_start": 6}], [GOOD])
    with pytest.raises(ValueError, match="zero duration"):
        segment_average_precision([{**GOOD, "ref_end": 0}], [GOOD])
    with pytest.raises(ValueError, match="ground_truth is empty"):
        segment_average_precision([], [GOOD])
    missing = {k: v for k, v in GOOD.items() if k != "ref_end"}
    with pytest.raises(ValueError, match=r"ground_truth\[0\] has no 'ref_end' field"):
        segment_average_precision([missing], [GOOD])
    # ground-truth scores are ignored (may be absent)
    no_score = {k: v for k, v in GOOD.items() if k != "score"}
    assert segment_average_precision([no_score], [GOOD]).ap == 1.0


def test_micro_ap_validation() -> None:
    gt = [PairScore("Q1", "R1")]
    with pytest.raises(ValueError, match=r"predictions\[1\].score must be finite"):
        micro_average_precision(gt, [PairScore("Q1", "R1", 0.5), PairScore("Q2", "R1", float("nan"))])
    with pytest.raises(ValueError, match="has no 'score' attribute"):
        micro_average_precision(gt, [SimpleNamespace(query_id="Q1", ref_id="R1")])
    with pytest.raises(ValueError, match="has no 'score' field"):
        micro_average_precision(gt, [{"query_id": "Q1", "ref_id": "R1"}])
