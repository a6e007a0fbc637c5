"""Bootstrap CIs and the paired test on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from xcross_core.stats import bootstrap_ci, paired_test


def test_constant_values_give_a_point_interval() -> None:
    est = bootstrap_ci(np.full(50, 0.25))
    assert (est.mean, est.low, est.high) == pytest.approx((0.25, 0.25, 0.25))


def test_ci_width_matches_the_normal_approximation() -> None:
    values = (np.random.default_rng(1).random(4000) < 0.3).astype(float)
    est = bootstrap_ci(values, n_boot=2000)
    expected = 2 * 1.96 * np.sqrt(values.mean() * (1 - values.mean()) / len(values))
    assert est.high - est.low == pytest.approx(expected, rel=0.15)
    assert est.low < values.mean() < est.high


def test_ci_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(2)
    covered = 0
    for i in range(200):
        sample = rng.exponential(1.0, size=200)  # skewed, true mean 1
        est = bootstrap_ci(sample, n_boot=500, seed=i)
        covered += est.low <= 1.0 <= est.high
    assert 0.88 <= covered / 200 <= 0.99


def test_ci_is_seeded() -> None:
    values = np.random.default_rng(3).random(100)
    assert bootstrap_ci(values, seed=5) == bootstrap_ci(values, seed=5)


def test_identical_models_are_not_different() -> None:
    a = np.random.default_rng(4).random(300)
    test = paired_test(a, a.copy())
    assert test.p_value == 1.0 and test.difference.mean == 0 and not test.significant


def test_exact_sign_flip_p_value() -> None:
    # Differences 1, 2, 3: of the 8 sign patterns, 2 reach |sum| >= 6, so p = 0.25 exactly.
    test = paired_test(np.array([1.0, 2.0, 3.0]), np.zeros(3), n_perm=40000)
    assert test.p_value == pytest.approx(0.25, abs=0.01)


def test_a_consistent_gain_is_significant() -> None:
    rng = np.random.default_rng(5)
    b = rng.random(500)
    a = b + 0.05 + rng.normal(0, 0.05, 500)
    test = paired_test(a, b)
    assert test.significant and test.p_value < 0.001
    assert test.difference.low > 0 and test.difference.mean == pytest.approx(0.05, abs=0.01)


def test_false_positive_rate_under_the_null() -> None:
    rng = np.random.default_rng(6)
    rejections = sum(
        paired_test(rng.normal(size=100), rng.normal(size=100), n_perm=1000, n_boot=10, seed=i).significant
        for i in range(100)
    )
    assert rejections <= 12


def test_misaligned_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="align"):
        paired_test(np.zeros(3), np.zeros(4))
