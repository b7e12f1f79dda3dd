"""The two-sided deviation: symmetric in the log domain, in robust units, bounded and floored."""

from __future__ import annotations

import numpy as np
import pytest

from plugins.localization.deviation import FLOOR_SHARE, FULL_SCALE, MIN_SPREAD, log_deviation


def test_too_low_and_too_high_by_the_same_factor_deviate_equally() -> None:
    level = np.random.default_rng(0).lognormal(0.0, 0.3, (64, 64)).astype(np.float32)
    level[0, 0], level[0, 1] = np.median(level) * 3.0, np.median(level) / 3.0
    result = log_deviation(level)
    assert result.heat[0, 0] == pytest.approx(result.heat[0, 1], abs=1e-5)
    assert result.heat[0, 0] > 0.5 and float(np.median(result.heat)) < 0.25


def test_units_are_robust_standard_deviations() -> None:
    rng = np.random.default_rng(1)
    logs = rng.normal(0.0, 0.4, 200_001).astype(np.float32)
    result = log_deviation(np.exp(logs))
    assert result.spread == pytest.approx(0.4, rel=0.02) and result.median == pytest.approx(1.0, rel=0.01)
    np.testing.assert_allclose(result.heat, np.minimum(np.abs(logs) / (0.4 * FULL_SCALE), 1.0), atol=0.01)


def test_uniform_and_silent_levels() -> None:
    flat = log_deviation(np.full((8, 8), 2.0, np.float32))
    assert flat.spread == MIN_SPREAD and not flat.heat.any()
    level = np.full((8, 8), 2.0, np.float32)
    level[3, 3] = 0.0  # a clipped block: floored, so finite and at most 1
    result = log_deviation(level)
    assert np.isfinite(result.heat).all() and result.heat[3, 3] == 1.0
    assert np.log(1 / FLOOR_SHARE) / (MIN_SPREAD * FULL_SCALE) > 1.0
    assert log_deviation(np.zeros((4, 4), np.float32)).heat.max() == 0.0
    assert result.heat.dtype == np.float32 and float(result.heat.min()) >= 0.0
