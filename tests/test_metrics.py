"""Ranking metrics against hand-computed values, ties included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xcross_core.evaluation.metrics import METRICS, NEVER_SHOWN, metrics_from_ranks, rank_counts


def _one(greater: int, ties: int) -> dict[str, float]:
    return {k: float(v[0]) for k, v in metrics_from_ranks(np.array([greater]), np.array([ties])).items()}


def test_rank_one_is_perfect() -> None:
    assert _one(0, 0) == pytest.approx(dict.fromkeys(METRICS, 1.0))


def test_rank_three_by_hand() -> None:
    m = _one(2, 0)
    assert m["hit@1"] == 0 and m["hit@5"] == 1 and m["hit@10"] == 1
    assert m["ndcg@5"] == pytest.approx(1 / np.log2(4)) == pytest.approx(0.5)
    assert m["ndcg@10"] == pytest.approx(0.5)
    assert m["mrr"] == pytest.approx(1 / 3)


def test_rank_beyond_cutoff() -> None:
    m = _one(10, 0)  # rank 11
    assert m["hit@10"] == 0 and m["ndcg@10"] == 0
    assert m["mrr"] == pytest.approx(1 / 11)


def test_ties_average_over_orders() -> None:
    m = _one(0, 1)  # rank 1 or 2, equally likely
    assert m["hit@1"] == pytest.approx(0.5)
    assert m["ndcg@5"] == pytest.approx((1 + 1 / np.log2(3)) / 2)
    assert m["mrr"] == pytest.approx(0.75)
    m = _one(9, 2)  # ranks 10, 11, 12
    assert m["hit@10"] == pytest.approx(1 / 3)
    assert m["hit@5"] == 0
    assert m["ndcg@10"] == pytest.approx(1 / np.log2(11) / 3)
    assert m["mrr"] == pytest.approx((1 / 10 + 1 / 11 + 1 / 12) / 3)


def test_large_ties_match_brute_force() -> None:
    greater, ties = 3, 500
    ranks = np.arange(greater + 1, greater + ties + 2)
    m = _one(greater, ties)
    assert m["mrr"] == pytest.approx(np.mean(1 / ranks))
    assert m["ndcg@10"] == pytest.approx(np.mean(np.where(ranks <= 10, 1 / np.log2(ranks + 1), 0)))
    assert m["hit@5"] == pytest.approx(np.mean(ranks <= 5))


def test_rank_counts_with_exclusion() -> None:
    scores = torch.tensor([[0.9, 0.5, 0.7, 0.5, 0.1], [1.0, 1.0, 1.0, 0.0, 2.0]])
    targets = torch.tensor([1, 0])
    greater, ties = rank_counts(scores, targets)
    assert greater.tolist() == [2, 1] and ties.tolist() == [1, 2]
    exclude = torch.tensor([[True, False, False, False, False], [False, True, False, False, True]])
    greater, ties = rank_counts(scores, targets, exclude)
    assert greater.tolist() == [1, 0] and ties.tolist() == [1, 1]
    # A target that is itself excluded (a repeat purchase) can never be served: every metric is 0.
    greater, ties = rank_counts(scores, targets, torch.ones_like(exclude))
    assert greater.tolist() == [NEVER_SHOWN, NEVER_SHOWN] and ties.tolist() == [0, 0]
    assert _one(NEVER_SHOWN, 0) == pytest.approx(dict.fromkeys(METRICS, 0.0), abs=1e-9)
