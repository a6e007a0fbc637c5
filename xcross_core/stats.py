"""Uncertainty over users: bootstrap confidence intervals and paired tests between two models.

Test users are the sampling unit. A CI is the percentile interval of the metric's mean over
`n_boot` resamples of the users; a paired comparison resamples the per-user *differences* (same
users, same targets, same candidates for both models) and reports a two-sided p-value from a
sign-flip randomisation test, which is exact in the limit of resamples and assumes nothing about
the distribution of the differences.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

_CHUNK = 200  # resamples drawn at once; bounds memory at _CHUNK x n_users


@dataclass(frozen=True)
class Estimate:
    """A mean with its bootstrap confidence interval."""

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
    """Model A minus model B on the same cases."""

    difference: Estimate
    p_value: float
    n: int

    @property
    def significant(self) -> bool:
        return self.p_value < 1 - self.difference.level

    def to_dict(self) -> dict[str, object]:
        return {"difference": self.difference.to_dict(), "p_value": self.p_value, "n": self.n}


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


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    *,
    level: float = 0.95,
    n_boot: int = 1000,
    n_perm: int = 10000,
    seed: int = 0,
) -> PairedTest:
    """Compare per-user metric values of two models on the same users (a[i] and b[i] pair up)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values must align: {a.shape} vs {b.shape}")
    diff = a - b
    estimate = bootstrap_ci(diff, level=level, n_boot=n_boot, seed=seed)
    nonzero = diff[diff != 0]
    if len(nonzero) == 0:
        return PairedTest(estimate, 1.0, len(diff))
    rng = np.random.default_rng([seed, 1])
    observed = abs(nonzero.sum())
    extreme = 0
    for start in range(0, n_perm, _CHUNK):
        stop = min(start + _CHUNK, n_perm)
        signs = rng.integers(0, 2, size=(stop - start, len(nonzero)), dtype=np.int8) * 2 - 1
        extreme += int((np.abs(signs @ nonzero) >= observed - 1e-12).sum())
    # +1 in both counts: the observed labelling is one of the permutations (never report p = 0).
    return PairedTest(estimate, (extreme + 1) / (n_perm + 1), len(diff))
