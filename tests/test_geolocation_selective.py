"""Localizability and abstention: prediction density, baselines, decisions and calibration, checked by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from plugins.geolocation.calibration import (
    Thresholds,
    accuracy_at_scales,
    calibrate,
    correct_at_scales,
    risk_coverage_curve,
    stack_scores,
    threshold_for_accuracy,
)
from plugins.geolocation.geo import EARTH_RADIUS_KM, KM_PER_DEGREE, CellSet, haversine_km
from plugins.geolocation.selective import (
    SCALES_KM,
    SELECTION_FUNCTIONS,
    all_selection_scores,
    as_probabilities,
    decide,
    entropy,
    max_probability,
    negative_entropy,
    normalised_entropy,
    point_estimate,
    prediction_density,
    selection_scores,
    spatial_entropy,
    top2_margin,
    top_cell,
)

# --------------------------------------------------------------------------- geometry


def test_haversine_city_pairs_and_sphere_constants() -> None:
    # Paris (48.8566 N, 2.3522 E) – London (51.5074 N, 0.1278 W): 343.5 km on the mean sphere.
    assert float(haversine_km(48.8566, 2.3522, 51.5074, -0.1278)) == pytest.approx(343.5, abs=1.0)
    # New York – Los Angeles: 3936 km (great circle on the sphere; the ellipsoid gives 3944 km).
    assert float(haversine_km(40.7128, -74.0060, 34.0522, -118.2437)) == pytest.approx(3936, abs=2.0)
    assert KM_PER_DEGREE == pytest.approx(111.195, abs=1e-3)
    assert float(haversine_km(10, 20, -10, -160)) == pytest.approx(math.pi * EARTH_RADIUS_KM)  # antipodes
    assert float(haversine_km(0, 179.5, 0, -179.5)) == pytest.approx(KM_PER_DEGREE)  # across the antimeridian
    # Vectorised and broadcasting: one point to many.
    d = haversine_km(0.0, 0.0, np.array([0.0, 1.0, -2.0]), np.zeros(3))
    np.testing.assert_allclose(d, [0.0, KM_PER_DEGREE, 2 * KM_PER_DEGREE])
    assert float(haversine_km(1e-6, 0, 0, 0)) == pytest.approx(1e-6 * KM_PER_DEGREE, rel=1e-6)  # tiny: no acos loss


def test_cellset_validation() -> None:
    cells = CellSet.from_latlon([[0, 0], [10, 20]], names=["a", "b"])
    assert len(cells) == 2 and cells.names == ("a", "b") and not cells.lat.flags.writeable
    with pytest.raises(ValueError, match="differ"):
        CellSet(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="-90, 90"):
        CellSet(np.array([91.0]), np.array([0.0]))
    with pytest.raises(ValueError, match="NaN"):
        CellSet(np.array([np.nan]), np.array([0.0]))
    with pytest.raises(ValueError, match="names"):
        CellSet(np.zeros(2), np.zeros(2), ("x",))


# --------------------------------------------------------------------------- prediction density, by hand

# Nine cells along the Greenwich meridian (lon 0). On the sphere of radius 6371.0088 km, 1° of
# latitude is 111.195 km, so the distance from the top cell (index 3, at the equator) is |lat| × 111.195:
#
#   index  lat      distance from top (km)   p
#     0     0.005        0.556               0.10
#     1     0.1         11.12                0.15
#     2     0.5         55.60                0.05
#     3     0.0          0      (top)        0.30
#     4    -1.5        166.79                0.10
#     5     5.0        555.98                0.10
#     6   -10.0       1111.95                0.05
#     7    20.0       2223.90                0.05
#     8    40.0       4447.80                0.10      (sum 1.00)
#
# PD_1    = 0.30 + 0.10                        = 0.40   (cells 3, 0)
# PD_25   = 0.40 + 0.15                        = 0.55   (+ cell 1 at 11 km)
# PD_200  = 0.55 + 0.05 + 0.10                 = 0.70   (+ cells 2 at 56 km, 4 at 167 km)
# PD_750  = 0.70 + 0.10                        = 0.80   (+ cell 5 at 556 km)
# PD_2500 = 0.80 + 0.05 + 0.05                 = 0.90   (+ cells 6 at 1112 km, 7 at 2224 km; not 8 at 4448 km)
MERIDIAN_LAT = np.array([0.005, 0.1, 0.5, 0.0, -1.5, 5.0, -10.0, 20.0, 40.0])
MERIDIAN_P = np.array([0.10, 0.15, 0.05, 0.30, 0.10, 0.10, 0.05, 0.05, 0.10])
MERIDIAN = CellSet(MERIDIAN_LAT, np.zeros(9))


def test_prediction_density_on_a_hand_made_meridian() -> None:
    np.testing.assert_allclose(MERIDIAN.distances_from(3), np.abs(MERIDIAN_LAT) * 111.19508, rtol=1e-6)
    pd = prediction_density(MERIDIAN_P, MERIDIAN)
    assert list(pd) == list(SCALES_KM)
    expected = {1: 0.40, 25: 0.55, 200: 0.70, 750: 0.80, 2500: 0.90}
    for s, value in expected.items():
        assert pd[s] == pytest.approx(value, abs=1e-12), s
    assert prediction_density(MERIDIAN_P, MERIDIAN, [5000])[5000] == pytest.approx(1.0)
    # Same numbers when the cells are shifted to another longitude and hemisphere (only distances matter).
    moved = CellSet(MERIDIAN_LAT - 30.0, np.full(9, 120.0))
    pd_moved = prediction_density(MERIDIAN_P, moved)
    # At lat −30 a cell 40° away is at lat +10: still 4448 km, still outside 2500 km.
    for s, value in expected.items():
        assert pd_moved[s] == pytest.approx(value, abs=1e-12), s


def test_top_cell_ties_go_to_the_lowest_index() -> None:
    # Cells 0 and 1 tie at 0.4; cell 2 (0.2) lies 11 km from cell 1 but 3347 km from cell 0.
    cells = CellSet(np.array([0.0, 30.0, 30.1]), np.zeros(3))
    p = np.array([0.4, 0.4, 0.2])
    assert top_cell(p) == 0
    pd = prediction_density(p, cells, [25])
    assert pd[25] == pytest.approx(0.4)  # around cell 0; around cell 1 it would be 0.6
    assert point_estimate(p, cells).cell_index == 0


def test_probability_validation() -> None:
    cells = CellSet(np.zeros(3), np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="NaN"):
        prediction_density([0.5, np.nan, 0.5], cells)
    with pytest.raises(ValueError, match="negative"):
        max_probability([1.2, -0.2, 0.0])
    with pytest.raises(ValueError, match="all zeros"):
        entropy([0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="all zeros"):
        as_probabilities([0.0, 0.0], renormalise=True)
    with pytest.raises(ValueError, match="sums to 0.5"):
        top2_margin([0.25, 0.25])
    with pytest.raises(ValueError, match="3 cells"):
        prediction_density([0.5, 0.5], cells)
    with pytest.raises(ValueError, match="1-D"):
        as_probabilities(np.ones((2, 2)) / 4)
    with pytest.raises(ValueError, match="positive"):
        prediction_density([1.0, 0.0, 0.0], cells, [0])
    # Within 1e-6 of 1: accepted and renormalised exactly; explicit renormalising of weights.
    assert as_probabilities([0.5, 0.5 + 5e-7]).sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(as_probabilities([2.0, 6.0], renormalise=True), [0.25, 0.75])


# --------------------------------------------------------------------------- baselines


def test_scale_free_baselines() -> None:
    p = np.array([0.5, 0.25, 0.25, 0.0])
    assert max_probability(p) == 0.5
    assert top2_margin(p) == pytest.approx(0.25)
    assert top2_margin([0.4, 0.4, 0.2]) == 0.0
    assert top2_margin([1.0]) == 1.0
    h = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))  # 1.0397 nats; the 0 cell adds nothing
    assert entropy(p) == pytest.approx(h)
    assert negative_entropy(p) == pytest.approx(-h)
    assert normalised_entropy(p) == pytest.approx(h / math.log(4))
    assert normalised_entropy(np.full(8, 1 / 8)) == pytest.approx(1.0)
    assert normalised_entropy([1.0]) == 0.0 and entropy([0.0, 1.0]) == 0.0


def test_spatial_entropy_concentrated_versus_spread() -> None:
    # Concentrated: all the mass on three cells within 0.25 km of each other (0.001° = 0.111 km apart);
    # the far cells carry 0. At 25 km and above everything is in the central disc: entropy 0.
    cells = CellSet(np.array([0.0, 0.001, 0.002, 0.0, 0.0, 0.0]), np.array([0.0, 0.0, 0.0, 90.0, 180.0, -90.0]))
    concentrated = np.array([0.5, 0.3, 0.2, 0.0, 0.0, 0.0])
    # Spread: a quarter on each of four equator cells 90° (10,008 km) apart: four separate bins at
    # every scale up to 2500 km, entropy log 4 = 1.386 nats.
    spread = np.array([0.25, 0.0, 0.0, 0.25, 0.25, 0.25])
    h_conc = spatial_entropy(concentrated, cells)
    h_spread = spatial_entropy(spread, cells)
    for s in (25, 200, 750, 2500):
        assert h_conc[s] == pytest.approx(0.0, abs=1e-12)
        assert h_spread[s] == pytest.approx(math.log(4))
        assert h_conc[s] < h_spread[s]
    # At 1 km, the cells at 0.111 and 0.222 km are still in the 1 km disc: also 0.
    assert h_conc[1] == pytest.approx(0.0, abs=1e-12)
    # Plain cell entropy cannot tell the concentrated case from a spread one with the same numbers.
    assert entropy(concentrated) == pytest.approx(entropy(np.array([0.5, 0.0, 0.0, 0.3, 0.2, 0.0])))
    assert spatial_entropy(np.array([0.5, 0.0, 0.0, 0.3, 0.2, 0.0]), cells)[200] > 1.0


def test_spatial_entropy_keeps_opposite_directions_apart() -> None:
    # Top cell at (0, 0) with 0.5; 0.25 each at (0, +10) and (0, -10): 1112 km east and west.
    # At 750 km both fall in ring 1 (750 < d <= 1500 km), whose mid radius 1125 km gives
    # round(2π·R·sin(1125/R) / 750) = 9 sectors of 40°: east (90°) is sector 2, west (270°) sector 6.
    # Three bins {0.5, 0.25, 0.25}: entropy 1.0397 nats (a rings-only entropy would merge them: log 2).
    cells = CellSet(np.zeros(3), np.array([0.0, 10.0, -10.0]))
    p = np.array([0.5, 0.25, 0.25])
    h = spatial_entropy(p, cells, [750, 2500])
    assert h[750] == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))
    assert h[2500] == pytest.approx(0.0, abs=1e-12)  # all within 2500 km: one disc


def test_spatial_entropy_on_the_meridian() -> None:
    # At 200 km: disc {3, 0, 1, 2, 4} = 0.70; cell 5 (556 km, ring 2), 6 (1112 km, ring 5),
    # 7 (2224 km, ring 11), 8 (4448 km, ring 22) each in their own bin: masses 0.7, 0.1, 0.05, 0.05, 0.1.
    h = spatial_entropy(MERIDIAN_P, MERIDIAN, [200])[200]
    masses = np.array([0.7, 0.1, 0.05, 0.05, 0.1])
    assert h == pytest.approx(-np.sum(masses * np.log(masses)))


def test_selection_scores_agree_and_point_estimate() -> None:
    everything = all_selection_scores(MERIDIAN_P, MERIDIAN)
    assert tuple(everything) == SELECTION_FUNCTIONS
    for name in SELECTION_FUNCTIONS:
        single = selection_scores(MERIDIAN_P, MERIDIAN, name)
        for s in SCALES_KM:
            assert single[s] == pytest.approx(everything[name][s]), (name, s)
    assert everything["max_probability"][25] == 0.30
    with pytest.raises(ValueError, match="unknown selection function"):
        selection_scores(MERIDIAN_P, MERIDIAN, "vibes")
    top = point_estimate(MERIDIAN_P, MERIDIAN)
    assert (top.lat, top.lon, top.cell_index, top.mass) == (0.0, 0.0, 3, 0.30)
    # Within 25 km: cells 3 (0.30 at 0°), 0 (0.10 at 0.005°), 1 (0.15 at 0.1°): mean lat ≈ 0.0282°.
    near = point_estimate(MERIDIAN_P, MERIDIAN, 25)
    assert near.lat == pytest.approx((0.10 * 0.005 + 0.15 * 0.1) / 0.55, abs=1e-5)
    assert near.lon == pytest.approx(0.0, abs=1e-9) and near.mass == pytest.approx(0.55)
    # Across the antimeridian the mean stays at ±180°, not at 0°.
    cells = CellSet(np.zeros(2), np.array([179.9, -179.9]))
    across = point_estimate([0.5, 0.5], cells, 100)
    assert abs(abs(across.lon) - 180.0) < 1e-9


# --------------------------------------------------------------------------- decisions

THRESHOLDS = {1: 0.5, 25: 0.5, 200: 0.5, 750: 0.5, 2500: 0.5}


def test_decide_answers_at_the_finest_passing_scale() -> None:
    scores = {1: 0.1, 25: 0.3, 200: 0.45, 750: 0.7, 2500: 0.9}
    decision = decide(scores, THRESHOLDS)
    assert decision.answered_scale_km == 750 and not decision.abstained
    assert decision.sentence == "localizable at country scale (750 km), not at region scale (200 km)"
    assert [e.passed for e in decision.scales] == [False, False, False, True, True]
    assert [e.answered for e in decision.scales] == [False, False, False, True, True]
    city = decision.at(25)
    assert (city.score, city.threshold, city.name) == (0.3, 0.5, "city")
    assert city.sentence == "City scale (25 km): score 0.3 < threshold 0.5: abstain."
    assert decision.at(750).sentence == "Country scale (750 km): score 0.7 ≥ threshold 0.5: localizable."


def test_decide_abstains_everywhere_and_handles_edge_cases() -> None:
    decision = decide(dict.fromkeys(SCALES_KM, 0.2), THRESHOLDS)
    assert decision.abstained and decision.answered_scale_km is None
    assert not any(e.answered for e in decision.scales)
    assert decision.sentence == "not localizable at any tested scale, not even at continent scale (2500 km): abstain"
    # Threshold exactly met passes; finest scale answered.
    assert decide(dict.fromkeys(SCALES_KM, 0.5), THRESHOLDS).sentence.endswith("the finest scale tested")
    # Unreachable threshold (None / inf) never passes; NaN score never passes.
    d = decide({25: 0.99, 200: float("nan"), 750: 0.6}, {25: None, 200: 0.1, 750: math.inf})
    assert d.abstained and "no threshold reached" in d.at(25).sentence and "no score" in d.at(200).sentence
    # A coarser scale failing while a finer passes: answered by nesting, and the sentence says why.
    d = decide({25: 0.6, 200: 0.6, 750: 0.6}, {25: 0.5, 200: 0.5, 750: 0.9})
    assert d.answered_scale_km == 25 and d.at(750).answered and not d.at(750).passed
    assert "finer scale passed" in d.at(750).sentence
    # Only the thresholded scales are tested; a missing score is an error.
    assert decide({25: 0.6, 200: 0.1}, {25: 0.5}).answered_scale_km == 25
    with pytest.raises(KeyError):
        decide({25: 0.6}, {25: 0.5, 200: 0.5})


# --------------------------------------------------------------------------- synthetic: peak + noise


def _fibonacci_cells(n: int) -> CellSet:
    i = np.arange(n) + 0.5
    lat = np.degrees(np.arcsin(1 - 2 * i / n))
    lon = np.degrees(np.mod(np.pi * (1 + 5**0.5) * i, 2 * np.pi)) - 180.0
    return CellSet(lat, lon)


def test_synthetic_peak_weight_drives_pd_and_abstention() -> None:
    """p = w · peak + (1 − w) · noise: PD_s grows with w, and decide() abstains at more scales when w is small."""
    rng = np.random.default_rng(0)
    cells = _fibonacci_cells(3000)  # ~410 km spacing
    target = (48.85, 2.35)
    d = cells.distances_to(*target)
    peak = np.exp(-0.5 * (d / 150.0) ** 2)  # mostly on the cell nearest the target, some on its neighbours
    peak /= peak.sum()
    weights = np.array([0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9, 1.0])
    pd_mean = np.zeros((weights.size, len(SCALES_KM)))
    abstained_scales = np.zeros(weights.size)
    for _ in range(20):
        noise = rng.random(len(cells))
        noise /= noise.sum()
        for k, w in enumerate(weights):
            p = w * peak + (1 - w) * noise
            p /= p.sum()
            pd = prediction_density(p, cells)
            pd_mean[k] += np.array([pd[s] for s in SCALES_KM]) / 20
            decision = decide(pd, THRESHOLDS)
            abstained_scales[k] += sum(not e.answered for e in decision.scales) / 20
            if w >= 0.1:  # the peak is the top cell: the pin is within one cell of the target
                assert float(haversine_km(*target, *_latlon(point_estimate(p, cells)))) < 410
    assert np.all(np.diff(pd_mean, axis=0) >= -1e-12), pd_mean  # non-decreasing in w at every scale
    assert np.all(pd_mean[-1] > pd_mean[0] + 0.3)
    assert np.all(np.diff(pd_mean, axis=1) >= 0)  # and in s
    assert np.all(np.diff(abstained_scales) <= 1e-12), abstained_scales  # fewer abstentions as w grows
    assert abstained_scales[0] == len(SCALES_KM) and abstained_scales[-1] < abstained_scales[0]


def _latlon(estimate) -> tuple[float, float]:
    return estimate.lat, estimate.lon


def test_full_size_cell_set_is_cheap() -> None:
    # The reference model has 31,145 cells: no M × M matrix is ever built (that would be 7.8 GB).
    cells = _fibonacci_cells(31_145)
    p = np.random.default_rng(1).dirichlet(np.full(31_145, 0.05))
    scores = all_selection_scores(p, cells)
    assert all(len(v) == len(SCALES_KM) for v in scores.values())
    pd = scores["prediction_density"]
    assert all(pd[a] <= pd[b] for a, b in zip(SCALES_KM, SCALES_KM[1:], strict=False))


# --------------------------------------------------------------------------- calibration


def test_risk_coverage_by_hand() -> None:
    # Sorted by score: correct 1, 1, 0, 1, 0.
    # coverage 0.2 0.4 0.6 0.8 1.0 ; accuracy 1, 1, 2/3, 3/4, 3/5 ; risk 0, 0, 1/3, 1/4, 2/5
    # AURC = 0.2 · (0 + 0 + 1/3 + 1/4 + 2/5) = 0.19667
    # oracle (correct first: 1 1 1 0 0): risks 0, 0, 0, 1/4, 2/5 → 0.2 · 0.65 = 0.13
    curve = risk_coverage_curve([0.6, 0.9, 0.5, 0.8, 0.7], [1, 1, 0, 1, 0])
    np.testing.assert_allclose(curve.thresholds, [0.9, 0.8, 0.7, 0.6, 0.5])
    np.testing.assert_allclose(curve.coverage, [0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(curve.accuracy, [1, 1, 2 / 3, 3 / 4, 3 / 5])
    np.testing.assert_allclose(curve.risk, [0, 0, 1 / 3, 1 / 4, 2 / 5])
    assert curve.aurc == pytest.approx(0.2 * (1 / 3 + 1 / 4 + 2 / 5))
    assert curve.aurc_optimal == pytest.approx(0.13)
    assert curve.excess_aurc == pytest.approx(0.2 * (1 / 3 + 1 / 4 + 2 / 5) - 0.13)


def test_risk_coverage_with_tied_scores() -> None:
    # Scores 0.9, 0.7, 0.7, 0.5 with correct 1, 1, 0, 0: the two 0.7s enter together.
    # Points: (0.25, risk 0), (0.75, risk 1/3), (1.0, risk 1/2)
    # AURC = 0.25 · 0 + 0.5 · 1/3 + 0.25 · 1/2 = 0.29167
    curve = risk_coverage_curve([0.9, 0.7, 0.7, 0.5], [True, True, False, False])
    np.testing.assert_allclose(curve.coverage, [0.25, 0.75, 1.0])
    np.testing.assert_array_equal(curve.n_selected, [1, 3, 4])
    assert curve.aurc == pytest.approx(0.5 / 3 + 0.125)
    with pytest.raises(ValueError, match="boolean"):
        risk_coverage_curve([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError, match="NaN"):
        risk_coverage_curve([0.1, np.nan], [0, 1])
    with pytest.raises(ValueError, match="one length"):
        risk_coverage_curve([0.1, 0.2], [0, 1, 1])


def test_threshold_for_accuracy_by_hand() -> None:
    # t:        0.9  0.8  0.7  0.6  0.5  0.4
    # correct:   1    1    0    1    1    0
    # n:         1    2    3    4    5    6
    # accuracy:  1    1   2/3  3/4  4/5  4/6
    scores, correct = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 1, 0, 1, 1, 0]
    assert threshold_for_accuracy(scores, correct, 0.75, min_selected=1) == 0.5  # 0.6 and 0.5 qualify; smallest
    assert threshold_for_accuracy(scores, correct, 0.9, min_selected=1) == 0.8
    assert threshold_for_accuracy(scores, correct, 0.9, min_selected=3) is None  # only tiny sets reach 90 %
    assert threshold_for_accuracy(scores, correct, 0.6, min_selected=1) == 0.4  # everything
    assert threshold_for_accuracy(scores, correct, 0.75) is None  # default min_selected = 30 > 6 samples
    with pytest.raises(ValueError, match="target_accuracy"):
        threshold_for_accuracy(scores, correct, 1.5)


def test_accuracy_at_scales() -> None:
    true = np.zeros((4, 2))
    # Errors 0.5 km, 20 km, 100 km, 1000 km along the meridian.
    pred = np.column_stack([np.array([0.5, 20.0, 100.0, 1000.0]) / KM_PER_DEGREE, np.zeros(4)])
    acc = accuracy_at_scales(pred, true)
    assert acc == pytest.approx({1: 0.25, 25: 0.5, 200: 0.75, 750: 0.75, 2500: 1.0})
    np.testing.assert_array_equal(correct_at_scales(pred, true, [25])[25], [True, True, False, False])
    with pytest.raises(ValueError, match="differ in shape"):
        accuracy_at_scales(pred, true[:3])


def test_thresholds_calibrate_and_json_round_trip(tmp_path) -> None:
    per_image = [
        {"prediction_density": {25: 0.9, 750: 0.95}, "max_probability": {25: 0.5, 750: 0.5}},
        {"prediction_density": {25: 0.8, 750: 0.9}, "max_probability": {25: 0.4, 750: 0.4}},
        {"prediction_density": {25: 0.2, 750: 0.7}, "max_probability": {25: 0.3, 750: 0.3}},
        {"prediction_density": {25: 0.1, 750: 0.6}, "max_probability": {25: 0.2, 750: 0.2}},
    ]
    scores = stack_scores(per_image)
    np.testing.assert_allclose(scores["prediction_density"][25], [0.9, 0.8, 0.2, 0.1])
    correct = {25: np.array([1, 1, 0, 0], bool), 750: np.array([1, 1, 1, 0], bool)}
    th = calibrate(scores, correct, target_accuracy=1.0, calibration_set="four hand-made images", min_selected=2)
    assert th.values["prediction_density"] == {25: 0.8, 750: 0.7}
    assert th.coverage["prediction_density"] == {25: 0.5, 750: 0.75}
    assert th.n_calibration == 4
    th_none = calibrate(scores, correct, 1.0, "x", min_selected=4)
    assert th_none.values["max_probability"][25] is None and th_none.for_function("max_probability")[25] == math.inf

    path = tmp_path / "geoloc_thresholds.json"
    th_none.save(path)
    data = json.loads(path.read_text())
    assert data["thresholds"]["max_probability"]["25"] is None
    assert data["calibration_set"] == {"description": "x", "size": 4}
    back = Thresholds.load(path)
    assert back == th_none
    assert Thresholds.from_json(th.to_json()) == th
    assert decide({25: 0.85, 750: 0.99}, th.for_function("prediction_density")).answered_scale_km == 25
    with pytest.raises(ValueError, match="format"):
        Thresholds.from_dict({"format": "something else"})
