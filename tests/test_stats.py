"""Bootstrap CIs and the paired test (its interval, p-value and Bonferroni correction) on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

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
    assert test.difference.low == pytest.approx(0) and test.difference.high == pytest.approx(0)


def test_exact_sign_flip_p_value() -> None:
    # Differences 1, 2, 3: of the 8 sign patterns, 2 reach |sum| >= 6, so p = 0.25 exactly.
    test = paired_test(np.array([1.0, 2.0, 3.0]), np.zeros(3))
    assert test.p_value == 0.25


@pytest.mark.parametrize("seed", range(4))
def test_the_exact_p_value_is_scipys_permutation_test(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.random(11), rng.random(11)
    ours = paired_test(a, b).p_value  # 2^11 = 2,048 patterns: enumerated
    theirs = scipy_stats.permutation_test(
        (a, b), lambda x, y: np.mean(x - y), permutation_type="samples", n_resamples=np.inf
    ).pvalue
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_interval_and_p_value_never_disagree() -> None:
    # The contradiction seen before: an interval excluding 0 beside p > 0.05. One procedure makes it impossible.
    rng = np.random.default_rng(7)
    for i in range(300):
        n = int(rng.integers(5, 60))
        a = (rng.random(n) < 0.4) * rng.random(n)  # NDCG-like: mostly zeros
        b = (rng.random(n) < 0.3) * rng.random(n)
        test = paired_test(a, b, comparisons=int(rng.integers(1, 7)), n_perm=2000, seed=i)
        excludes_zero = test.difference.low > 0 or test.difference.high < 0
        assert test.significant == excludes_zero == (test.p_adjusted < 0.05), (i, test)
        assert test.difference.low <= test.difference.mean <= test.difference.high


@pytest.mark.parametrize("n", [12, 200])  # exact, then random sign patterns
def test_the_interval_ends_where_the_same_test_starts_rejecting(n: int) -> None:
    rng = np.random.default_rng(8)
    a, b = rng.random(n) + 0.1, rng.random(n)
    test = paired_test(a, b, seed=3)
    alpha = 1 - test.difference.level
    for end, outward in ((test.difference.high, 1), (test.difference.low, -1)):
        inside = paired_test(a - (end - outward * 1e-6), b, seed=3)
        outside = paired_test(a - (end + outward * 1e-6), b, seed=3)
        assert inside.p_value >= alpha > outside.p_value


def test_the_interval_covers_the_true_difference_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(9)
    covered = 0
    for i in range(200):
        b = rng.random(40)
        a = b + 0.1 + rng.normal(0, 0.3, 40)  # true mean difference 0.1
        test = paired_test(a, b, n_perm=1000, seed=i)
        covered += test.difference.low <= 0.1 <= test.difference.high
    assert 0.9 <= covered / 200 <= 0.99


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
        paired_test(rng.normal(size=100), rng.normal(size=100), n_perm=1000, seed=i).significant for i in range(100)
    )
    assert rejections <= 12


def test_several_comparisons_are_corrected_together_by_bonferroni() -> None:
    rng = np.random.default_rng(10)
    b = rng.random(300)
    a = b + 0.03 + rng.normal(0, 0.2, 300)
    one, six = paired_test(a, b), paired_test(a, b, comparisons=6)
    assert six.p_value == one.p_value and six.p_adjusted == pytest.approx(min(1.0, 6 * one.p_value))
    assert six.difference.level == pytest.approx(1 - 0.05 / 6) and six.level == pytest.approx(0.95)
    assert six.difference.low < one.difference.low and six.difference.high > one.difference.high
    assert six.to_dict()["correction"] == "Bonferroni" and one.to_dict()["correction"] == "none"


def test_too_few_users_give_an_interval_as_wide_as_the_bounds() -> None:
    # 4 users: 16 sign patterns, so p is never below 2/16 and no shift can be rejected at 5%.
    a, b = np.array([1.0, 0.5, 1.0, 0.3]), np.zeros(4)
    assert paired_test(a, b).difference.high == np.inf
    test = paired_test(a, b, bounds=(-1.0, 1.0))
    assert (test.difference.low, test.difference.high) == (-1.0, 1.0) and not test.significant


def test_misaligned_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="align"):
        paired_test(np.zeros(3), np.zeros(4))
