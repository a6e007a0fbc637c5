"""Uncertainty over users: a model's bootstrap confidence interval, and paired tests between two models.

Test users are the sampling unit. A model's CI is the percentile interval of the metric's mean over
`n_boot` resamples of the users.

A paired comparison (same users, same targets, same candidates for both models) takes its interval and its
p-value from one procedure, so the two cannot disagree: the sign-flip randomisation test of the mean per-user
difference. If the two models were interchangeable, each user's difference would be as likely to have either
sign; the p-value is the share of sign patterns whose |sum| is at least the observed one. The interval inverts
that same test over the same sign patterns: it holds every shift d for which "the differences are symmetric
about d" is not rejected at the interval's level. So p < 1 - level exactly when the interval excludes 0. When
the users are few enough that `n_perm` patterns cover every one (2^n <= n_perm), all are enumerated and the
test is exact; it then agrees with `scipy.stats.permutation_test`, which computes the p-value but no interval.

Several comparisons on the same users are corrected together by Bonferroni: with m comparisons each interval
is at level 1 - (1 - level) / m, so that all m hold together at `level`, and each p-value is multiplied by m
for reading against 1 - level. Bonferroni is the correction whose intervals match its decisions one for one
(Holm and Benjamini-Hochberg adjust p-values but come with no matching intervals).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

_CHUNK = 200  # resamples or sign patterns drawn at once; bounds memory at _CHUNK x n_users
#: The family-wide correction `paired_test` applies when it is told of several comparisons.
CORRECTION = "Bonferroni"


@dataclass(frozen=True)
class Estimate:
    """A mean with its confidence interval."""

    mean: float
    low: float
    high: float
    level: float = 0.95

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.mean:.4f} [{self.low:.4f}, {self.high:.4f}]"


@dataclass(frozen=True)
class PairedTest:
    """Model A minus model B on the same cases, one of `comparisons` corrected together (Bonferroni).

    `difference` holds the mean difference and its interval at the per-comparison level, 1 - (1 - level) / m;
    `p_value` is this comparison's own; `p_adjusted` is the one to read against 1 - level.
    """

    difference: Estimate
    p_value: float
    n: int
    comparisons: int = 1

    @property
    def level(self) -> float:
        """The confidence level all `comparisons` intervals hold at together (0.95 by default)."""
        return round(1 - (1 - self.difference.level) * self.comparisons, 12)

    @property
    def p_adjusted(self) -> float:
        """The p-value corrected for the family of comparisons (Bonferroni: times their number, at most 1)."""
        return min(1.0, self.p_value * self.comparisons)

    @property
    def significant(self) -> bool:
        """Whether the interval excludes no difference; the same as p_adjusted < 1 - level."""
        return self.p_value < 1 - self.difference.level

    def to_dict(self) -> dict[str, object]:
        return {
            "difference": self.difference.to_dict(),
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "comparisons": self.comparisons,
            "correction": CORRECTION if self.comparisons > 1 else "none",
            "n": self.n,
        }


def _bootstrap_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    n = len(values)
    means = np.empty(n_boot)
    for start in range(0, n_boot, _CHUNK):
        stop = min(start + _CHUNK, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    return means


def bootstrap_ci(values: np.ndarray, *, level: float = 0.95, n_boot: int = 1000, seed: int = 0) -> Estimate:
    """Mean of `values` (one per user) with a percentile bootstrap CI."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), level)
    means = _bootstrap_means(values, n_boot, np.random.default_rng(seed))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    # Guard against float round-off putting the mean a hair outside a degenerate interval.
    mean = float(values.mean())
    return Estimate(mean, min(float(low), mean), max(float(high), mean), level)


def _sign_sums(diff: np.ndarray, n_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(s . diff, s . 1) for every sign pattern s: all 2^n of them when that is at most `n_perm`, else `n_perm`
    random ones plus the observed pattern (all +1), which is one of the arrangements (never report p = 0)."""
    n = len(diff)
    if n < 63 and 2**n <= n_perm:
        codes = np.arange(2**n, dtype=np.int64)
        signs = ((codes[:, None] >> np.arange(n)) & 1).astype(np.float64) * 2 - 1
        return signs @ diff, signs.sum(axis=1)
    rng = np.random.default_rng([seed, 1])
    sums, counts = [np.array([diff.sum()])], [np.array([float(n)])]
    for start in range(0, n_perm, _CHUNK):
        signs = rng.integers(0, 2, size=(min(_CHUNK, n_perm - start), n), dtype=np.int8).astype(np.float64) * 2 - 1
        sums.append(signs @ diff)
        counts.append(signs.sum(axis=1))
    return np.concatenate(sums), np.concatenate(counts)


def _extreme_shifts(diff: np.ndarray, n_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """For every sign pattern, the interval of shifts d over which it is at least as extreme as the observed.

    Shifted by d, the observed statistic is |D - n d| (D the sum of the differences) and pattern s's is
    |a - b d| (a = s . diff, b = s . 1). Both sides are piecewise linear in d, and the pattern's side grows
    no faster than the observed one away from the mean D / n, so the pattern is extreme on one interval
    around the mean, between the two roots (a + D) / (n + b) and (D - a) / (n - b). The all-same-sign
    patterns (|b| = n) are extreme at every shift.
    """
    n = len(diff)
    a, b = _sign_sums(diff, n_perm, seed)
    total = diff.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        first = (a + total) / (n + b)
        second = (total - a) / (n - b)
    always = np.abs(b) >= n
    # Exact ties (|a| = |D|) count as extreme; float sums of the same values in another order differ slightly.
    slack = 1e-12 * n * float(np.abs(diff).max())
    low = np.where(always, -np.inf, np.minimum(first, second) - slack)
    high = np.where(always, np.inf, np.maximum(first, second) + slack)
    return low, high


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    *,
    level: float = 0.95,
    comparisons: int = 1,
    n_perm: int = 10000,
    seed: int = 0,
    bounds: tuple[float, float] | None = None,
) -> PairedTest:
    """Compare per-user values of two models on the same users (a[i] and b[i] pair up): the sign-flip test of
    the mean of a - b and the interval that inverts it (see the module docstring).

    `comparisons` is the number of comparisons corrected together (Bonferroni): the interval is then at level
    1 - (1 - level) / comparisons. `bounds` clips the interval to the values a difference can take (for metrics
    in [0, 1]: (-1, 1)); with so few users that no shift can be rejected, it is otherwise unbounded.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values must align: {a.shape} vs {b.shape}")
    if comparisons < 1:
        raise ValueError(f"comparisons must be at least 1, not {comparisons}")
    alpha = (1 - level) / comparisons
    diff = a - b
    if len(diff) == 0:
        return PairedTest(Estimate(float("nan"), float("nan"), float("nan"), 1 - alpha), 1.0, 0, comparisons)
    low_shifts, high_shifts = _extreme_shifts(diff, n_perm, seed)
    patterns = len(low_shifts)
    p_value = int(((low_shifts <= 0) & (high_shifts >= 0)).sum()) / patterns
    # A shift is in the interval when at least `need` patterns are extreme there (its p-value >= alpha); every
    # pattern is extreme at the mean, and fewer the further a shift moves from it on either side.
    need = math.ceil(alpha * patterns)
    low = float(np.partition(low_shifts, need - 1)[need - 1]) if need >= 1 else -np.inf
    high = float(-np.partition(-high_shifts, need - 1)[need - 1]) if need >= 1 else np.inf
    if bounds is not None:
        low, high = max(low, float(bounds[0])), min(high, float(bounds[1]))
    mean = float(diff.mean())
    return PairedTest(Estimate(mean, min(low, mean), max(high, mean), 1 - alpha), p_value, len(diff), comparisons)
