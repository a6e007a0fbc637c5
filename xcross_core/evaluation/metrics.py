"""Ranking metrics for next-item prediction, exact under ties.

A model's score for the target is compared with the scores of every other candidate: `greater`
counts candidates scored strictly higher, `ties` those scored exactly the same. Ties are broken
uniformly at random *in expectation*: the target's rank is uniform on greater+1 .. greater+ties+1, and
each metric is its exact mean over that range. Models that give many items the same score (most-
popular on a long tail) are neither flattered nor punished by an arbitrary tie order.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import digamma

#: The metrics reported everywhere, in display order.
METRICS = ("hit@1", "hit@5", "hit@10", "ndcg@5", "ndcg@10", "mrr")

_EULER_GAMMA = 0.5772156649015329

#: `greater` of a target that can never be served (already bought, history excluded): every metric 0.
NEVER_SHOWN = np.iinfo(np.int32).max


def rank_counts(
    scores: torch.Tensor,
    targets: torch.Tensor,
    exclude: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(greater, ties) of each row's target among that row's candidates.

    scores: [B, C]; targets: [B] column of the true item; exclude: optional bool [B, C] of
    candidates removed from the ranking (already-bought items). Exclusion is a serving policy, so it
    applies to the target too: a target the user already bought can never be recommended (every
    metric 0). Keeping the target alone in the ranking would tell the
    model which of the user's past items is the answer. Such a target gets `greater = NEVER_SHOWN`.
    """
    target_scores = scores.gather(1, targets[:, None])
    competing = torch.ones_like(scores, dtype=torch.bool)
    if exclude is not None:
        competing &= ~exclude
    competing.scatter_(1, targets[:, None], False)
    greater = ((scores > target_scores) & competing).sum(1)
    ties = ((scores == target_scores) & competing).sum(1)
    if exclude is not None:
        excluded = exclude.gather(1, targets[:, None]).squeeze(1)
        greater = torch.where(excluded, NEVER_SHOWN, greater)
        ties = torch.where(excluded, 0, ties)
    return greater, ties


def _harmonic(n: np.ndarray) -> np.ndarray:
    """H(n) = 1 + 1/2 + ... + 1/n, with H(0) = 0, for integer arrays."""
    return digamma(np.asarray(n, dtype=np.float64) + 1) + _EULER_GAMMA


def metrics_from_ranks(greater: np.ndarray, ties: np.ndarray) -> dict[str, np.ndarray]:
    """Per-case Hit@1/5/10, NDCG@5/10 and MRR (one relevant item), averaged over tied orders."""
    greater = np.asarray(greater, dtype=np.int64)
    ties = np.asarray(ties, dtype=np.int64)
    lo, hi = greater, greater + ties + 1  # rank r is uniform on lo+1 .. hi
    span = (ties + 1).astype(np.float64)
    out: dict[str, np.ndarray] = {}
    for k in (1, 5, 10):
        out[f"hit@{k}"] = (np.minimum(hi, k) - np.minimum(lo, k)).clip(min=0) / span
    # gain[r] = sum_{j<=r} 1/log2(j+1): cumulative NDCG gain of ranks 1..r.
    gain = np.concatenate([[0.0], np.cumsum(1 / np.log2(np.arange(2, 12)))])
    for k in (5, 10):
        out[f"ndcg@{k}"] = (gain[np.minimum(hi, k)] - gain[np.minimum(lo, k)]) / span
    out["mrr"] = (_harmonic(hi) - _harmonic(lo)) / span
    return {name: out[name] for name in METRICS}
