"""Localisation metrics against values computed by hand on tiny arrays, ties and degenerate cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.core.metrics import (
    best_f1,
    confusion,
    f1,
    image_auc,
    iou,
    mcc,
    mean_defined,
    pixel_metrics,
    roc_auc,
)

HEAT = np.array([[0.9, 0.6], [0.4, 0.5]])
TRUTH = np.array([[1, 0], [1, 1]], bool)
# at 0.5: predicted [[1, 1], [0, 1]] → tp 2 (corners), fp 1, fn 1, tn 0


def test_counts_f1_iou_mcc_by_hand() -> None:
    pred = HEAT >= 0.5
    assert confusion(pred, TRUTH) == (2, 1, 1, 0)
    assert f1(pred, TRUTH) == pytest.approx(4 / 6)
    assert iou(pred, TRUTH) == pytest.approx(2 / 4)
    assert mcc(pred, TRUTH) == pytest.approx((2 * 0 - 1 * 1) / math.sqrt(3 * 3 * 1 * 1))


def test_threshold_is_inclusive() -> None:
    assert pixel_metrics(np.array([0.5, 0.49]), np.array([True, False]))["f1"] == 1.0


def test_perfect_inverse_and_empty_predictions() -> None:
    truth = np.array([1, 1, 0, 0, 0], bool)
    assert (f1(truth, truth), iou(truth, truth), mcc(truth, truth)) == (1.0, 1.0, 1.0)
    assert mcc(~truth, truth) == pytest.approx(-1.0)
    nothing = np.zeros(5, bool)
    assert (f1(nothing, truth), iou(nothing, truth), mcc(nothing, truth)) == (0.0, 0.0, 0.0)
    assert mcc(np.ones(5, bool), truth) == 0.0  # a marginal is empty: no information


def test_roc_auc_by_hand_with_and_without_ties() -> None:
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    # positive 0.5 beats negative 0.2 (1) and ties negative 0.5 (1/2); positive 0.9 beats both (2)
    assert roc_auc(np.array([0.2, 0.5, 0.5, 0.9]), np.array([0, 1, 0, 1])) == pytest.approx(3.5 / 4)
    assert roc_auc(np.full(6, 0.3), np.array([0, 1, 0, 1, 1, 0])) == 0.5  # a constant map
    assert roc_auc(np.array([3.0, 2.0, 1.0]), np.array([0, 1, 1])) == 0.0  # order, not scale
    assert roc_auc(np.array([[0.2, 0.7], [0.1, 0.9]]), np.array([[0, 1], [0, 1]])) == 1.0  # 2-D maps


def test_roc_auc_matches_pairwise_count_on_random_ties() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 200).astype(float)  # many ties
    labels = rng.random(200) < 0.3
    pos, neg = scores[labels][:, None], scores[~labels][None, :]
    expected = ((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size)
    assert roc_auc(scores, labels) == pytest.approx(expected)


def test_roc_auc_undefined_with_one_class() -> None:
    assert math.isnan(roc_auc(np.array([0.1, 0.9]), np.array([1, 1])))
    assert math.isnan(roc_auc(np.array([0.1, 0.9]), np.array([0, 0])))
    assert math.isnan(roc_auc(np.array([]), np.array([], bool)))
    assert math.isnan(image_auc([], []))


def test_best_f1_by_hand() -> None:
    # thresholds 0.9, 0.8, 0.7, 0.2, 0.1 → F1 2/3, 1/2, 4/5, 4/6, 4/7
    assert best_f1(np.array([0.9, 0.8, 0.7, 0.2, 0.1]), np.array([1, 0, 1, 0, 0])) == pytest.approx((0.8, 0.7))
    # tied values are never split: at 0.6 tp 1 of 2 predicted (1/2), at 0.3 tp 2 of 4 (2/3)
    assert best_f1(np.array([0.6, 0.6, 0.3, 0.3]), np.array([1, 0, 1, 0])) == pytest.approx((2 / 3, 0.3))
    # a map that ranks the negative first: its best is to predict everything
    assert best_f1(np.array([1.0, 0.0]), np.array([0, 1])) == pytest.approx((2 / 3, 0.0))
    assert best_f1(np.zeros(3), np.array([0, 1, 0])) == pytest.approx((0.5, 0.0))  # constant map
    assert math.isnan(best_f1(np.ones(3), np.zeros(3, bool))[0])


def test_best_f1_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    scores, truth = rng.integers(0, 8, 300) / 7, rng.random(300) < 0.2
    brute = max(f1(scores >= t, truth) for t in np.unique(scores))
    assert best_f1(scores, truth)[0] == pytest.approx(brute)


def test_pixel_metrics_on_pristine_image_are_undefined() -> None:
    out = pixel_metrics(np.full((4, 4), 0.7), np.zeros((4, 4), bool), mask=np.ones((4, 4), bool))
    assert set(out) == {"f1", "best_f1", "best_threshold", "mcc", "iou", "auc", "mask_f1", "mask_mcc", "mask_iou"}
    assert all(math.isnan(v) for v in out.values())


def test_pixel_metrics_full_mask_and_analyzer_mask() -> None:
    out = pixel_metrics(HEAT, TRUTH, mask=np.array([[1, 0], [1, 0]], bool))
    assert out["f1"] == pytest.approx(4 / 6) and out["iou"] == pytest.approx(0.5)
    assert out["auc"] == pytest.approx(1 / 3)  # of the positives 0.9, 0.5, 0.4 only 0.9 beats the negative 0.6
    assert out["mask_f1"] == pytest.approx(4 / 5) and out["mask_iou"] == pytest.approx(2 / 3)
    full = pixel_metrics(np.array([0.2, 0.8]), np.ones(2, bool))
    assert full["f1"] == pytest.approx(2 / 3) and math.isnan(full["auc"])


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        pixel_metrics(np.zeros((2, 3)), np.zeros((3, 2), bool))
    with pytest.raises(ValueError, match="finite"):
        roc_auc(np.array([np.nan, 1.0]), np.array([0, 1]))


def test_image_auc_and_mean_of_defined_values() -> None:
    assert image_auc([0.1, 0.9, 0.5, 0.5], [False, True, False, True]) == pytest.approx(0.875)
    assert mean_defined([1.0, float("nan"), 3.0]) == (2.0, 2)
    mean, count = mean_defined([float("nan")])
    assert math.isnan(mean) and count == 0
