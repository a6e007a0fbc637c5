"""The evaluation protocol: rank, score per case, summarise with CIs, compare models pairwise.

Full-catalogue ranking is the default. With sampled candidates on the cases (see `splits`), each
case is ranked among its stored candidates only and the result is labelled ``sampled-N``.
Already-bought items are removed from the ranking unless `exclude_history=False` (repeat-purchase
domains). Removal is a serving policy and so it binds the target too: a repeat purchase of an item
already in the history counts as a miss (see `metrics.rank_counts`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
import torch

from xcross_core.data.dataset import DomainData
from xcross_core.data.histories import history_mask
from xcross_core.evaluation.metrics import METRICS, metrics_from_ranks, rank_counts
from xcross_core.evaluation.splits import EvalCases
from xcross_core.stats import Estimate, PairedTest, bootstrap_ci, paired_test

#: History-length buckets for the cold-start breakdown: (label, min prior items, max prior items).
HISTORY_BUCKETS = (("1-2", 1, 2), ("3-5", 3, 5), ("6-10", 6, 10), ("11+", 11, None))


class Scorer(Protocol):
    """What the protocol needs of a model: its name, its domain, and scores for a batch of histories.

    Every `Recommender` is one; the protocol names only this, so evaluation depends on no model code.
    """

    name: str
    domain: DomainData

    def score(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        """[len(histories), n_items] scores; higher is better. Histories are item indices, oldest first."""


@dataclass(frozen=True)
class EvalResult:
    """One model on one set of cases: per-case metrics and their summaries."""

    model: str
    protocol: str  # "full" or "sampled-N"
    per_case: pd.DataFrame  # user, history_length, and one column per metric
    summary: dict[str, Estimate]
    seconds: float

    def by_history_length(self, metric: str = "ndcg@10", seed: int = 0) -> pd.DataFrame:
        """Metric with CI per history-length bucket (cold-start users with 1-2 prior items first)."""
        rows = []
        lengths = self.per_case["history_length"]
        for label, lo, hi in HISTORY_BUCKETS:
            mask = (lengths >= lo) & (lengths <= (hi if hi is not None else np.inf))
            est = bootstrap_ci(self.per_case.loc[mask, metric].to_numpy(), seed=seed)
            rows.append(
                {
                    "bucket": label,
                    "users": int(mask.sum()),
                    "mean": est.mean,
                    "low": est.low,
                    "high": est.high,
                }
            )
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "protocol": self.protocol,
            "cases": len(self.per_case),
            "seconds": self.seconds,
            "metrics": {name: est.to_dict() for name, est in self.summary.items()},
            "by_history_length": self.by_history_length().to_dict(orient="records"),
        }


def _scored_batches(
    model: Scorer, cases: EvalCases, exclude_history: bool, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    """(scores [B, C], target column [B], excluded candidates [B, C] or None) per batch of cases."""
    n_items = model.domain.n_items
    for start in range(0, len(cases), batch_size):
        index = np.arange(start, min(start + batch_size, len(cases)))
        batch = cases.subset(index)
        with torch.no_grad():
            scores = model.score(batch.histories).float()
        exclude = history_mask(batch.histories, n_items) if exclude_history else None
        targets = torch.from_numpy(batch.targets)
        if batch.candidates is not None:
            cand = torch.from_numpy(batch.candidates)
            scores = scores.gather(1, cand)
            # Negatives were drawn outside the history; only a repeat-purchase target is excluded.
            exclude = None if exclude is None else exclude.gather(1, cand)
            targets = torch.zeros(len(index), dtype=torch.long)  # the target is candidate 0
        yield scores, targets, exclude


def rank_cases(
    model: Scorer,
    cases: EvalCases,
    *,
    exclude_history: bool = True,
    batch_size: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """(greater, ties) of every case's target under `model`, in batches of users."""
    greater, ties = [], []
    for scores, targets, exclude in _scored_batches(model, cases, exclude_history, batch_size):
        g, t = rank_counts(scores, targets, exclude)
        greater.append(g.numpy())
        ties.append(t.numpy())
    if not greater:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(greater), np.concatenate(ties)


def validation_cases(
    model: Scorer, cases: EvalCases, *, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(NDCG@10, MRR, log-likelihood of the target) of every case, from one scoring pass; what training validates on.

    MRR is the reciprocal of the target's rank in the full ranking: a ranking measure, like NDCG@10, but one that
    moves whenever the target moves anywhere near the top, where NDCG@10 moves only when it enters or leaves the
    top ten (with hit rates near 1%, a few hundred cases hold a handful of hits). The log-likelihood is the
    log-softmax of the model's scores at the target, over the candidates the ranking competes with (already-bought
    items removed, except a repeat-purchase target itself); it rewards calibration as much as ranking.
    """
    ndcg, mrr, likelihood = [], [], []
    for scores, targets, exclude in _scored_batches(model, cases, True, batch_size):
        g, t = rank_counts(scores, targets, exclude)
        ranked = metrics_from_ranks(g.numpy(), t.numpy())
        ndcg.append(ranked["ndcg@10"])
        mrr.append(ranked["mrr"])
        if exclude is not None:
            exclude = exclude.scatter(1, targets[:, None], False)
            scores = scores.masked_fill(exclude, -torch.inf)
        likelihood.append(scores.log_softmax(1).gather(1, targets[:, None]).squeeze(1).double().numpy())
    if not ndcg:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    return np.concatenate(ndcg), np.concatenate(mrr), np.concatenate(likelihood)


def evaluate(
    model: Scorer,
    cases: EvalCases,
    *,
    exclude_history: bool = True,
    batch_size: int = 512,
    seed: int = 0,
) -> EvalResult:
    """Rank every case's target, compute per-case metrics and their 95% bootstrap CIs."""
    started = time.perf_counter()
    greater, ties = rank_cases(model, cases, exclude_history=exclude_history, batch_size=batch_size)
    per_case = pd.DataFrame(
        {"user": model.domain.user_ids[cases.users], "history_length": cases.history_lengths}
        | metrics_from_ranks(greater, ties)
    )
    seconds = time.perf_counter() - started
    summary = {name: bootstrap_ci(per_case[name].to_numpy(), seed=seed) for name in METRICS}
    protocol = "full" if cases.candidates is None else f"sampled-{cases.candidates.shape[1] - 1}"
    return EvalResult(model.name, protocol, per_case, summary, seconds)


def compare(a: EvalResult, b: EvalResult, metric: str = "ndcg@10", seed: int = 0, comparisons: int = 1) -> PairedTest:
    """Paired test of `a` minus `b` on one metric; both must come from the same cases.

    `comparisons` is the size of the family this test is corrected with (Bonferroni; see `stats`). Every metric
    lies in [0, 1], so the interval of a difference is clipped to [-1, 1].
    """
    if a.protocol != b.protocol or not a.per_case["user"].equals(b.per_case["user"]):
        raise ValueError(f"{a.model} and {b.model} were not evaluated on the same cases")
    return paired_test(
        a.per_case[metric].to_numpy(),
        b.per_case[metric].to_numpy(),
        comparisons=comparisons,
        seed=seed,
        bounds=(-1.0, 1.0),
    )


def compare_each(
    subject: EvalResult, others: Sequence[EvalResult], metric: str = "ndcg@10", seed: int = 0
) -> dict[str, PairedTest]:
    """`subject` minus each of `others` (by model name), corrected together for the number of comparisons."""
    return {other.model: compare(subject, other, metric, seed, comparisons=len(others)) for other in others}


def comparison_table(
    results: Sequence[EvalResult], tests: Mapping[str, PairedTest] | None = None, metric: str = "ndcg@10"
) -> pd.DataFrame:
    """One row per model: every metric with its CI, and the paired test in `tests` of the model's name, if any
    (`diff_<metric>` with its interval, the test's own p-value and the one adjusted for the family)."""
    tests = tests or {}
    rows = []
    for r in results:
        row: dict[str, object] = {"model": r.model, "protocol": r.protocol, "cases": len(r.per_case)}
        for name, est in r.summary.items():
            row[name] = est.mean
            row[f"{name}_low"] = est.low
            row[f"{name}_high"] = est.high
        test = tests.get(r.model)
        if test is not None:
            d = test.difference
            row |= {f"diff_{metric}": d.mean, f"diff_{metric}_low": d.low, f"diff_{metric}_high": d.high}
            row |= {"p_value": test.p_value, "p_adjusted": test.p_adjusted}
        rows.append(row)
    return pd.DataFrame(rows)
