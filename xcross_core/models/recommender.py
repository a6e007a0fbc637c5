"""What every recommender in the studio is: something that scores a domain's whole catalogue.

Evaluation, the CLI and the app only ever call `fit` and `score`, so a popularity count, an
ID-based SASRec, a LoRA-adapted language model and X-Cross are interchangeable behind them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np
import torch

from xcross_core.data.dataset import DomainData
from xcross_core.data.histories import history_mask
from xcross_core.evaluation.splits import Split
from xcross_core.training.events import FitReport, TrainEvent


class Recommender(ABC):
    """Scores every item of one domain's catalogue for a batch of purchase histories."""

    #: Short name used in tables, metrics files and the run store.
    name: str = "recommender"

    def __init__(self, domain: DomainData) -> None:
        self.domain = domain

    def fit(
        self,
        split: Split,
        progress: Callable[[TrainEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> FitReport:
        """Learn from `split.train` (validation cases may drive early stopping). No-op by default."""
        return FitReport()

    @abstractmethod
    def score(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        """[len(histories), n_items] scores; higher is better. Histories are item indices, oldest first."""

    @property
    def trainable_parameters(self) -> int:
        """Parameters this model learned on top of anything frozen (0 for count-based models)."""
        return 0


def pad_histories(histories: Sequence[np.ndarray], max_len: int, pad: int = 0, shift: int = 0) -> torch.Tensor:
    """Right-aligned [B, max_len] tensor of the most recent `max_len` items (+`shift`), `pad` elsewhere.

    Right alignment puts every user's newest item in the last column, which causal sequence models
    read as "the state to predict from".
    """
    out = torch.full((len(histories), max_len), pad, dtype=torch.long)
    lengths = np.fromiter((min(len(h), max_len) for h in histories), dtype=np.int64, count=len(histories))
    if lengths.sum() == 0:
        return out
    flat = np.concatenate(
        [np.asarray(h[len(h) - n :], dtype=np.int64) for h, n in zip(histories, lengths, strict=True)]
    )
    rows = np.repeat(np.arange(len(histories)), lengths)
    # Column of each kept item: the last item of every row sits at max_len - 1.
    ends = np.cumsum(lengths)
    cols = np.arange(len(flat)) - np.repeat(ends - lengths, lengths) + np.repeat(max_len - lengths, lengths)
    out[torch.from_numpy(rows), torch.from_numpy(cols)] = torch.from_numpy(flat + shift)
    return out


def top_k(
    model: Recommender,
    histories: Sequence[np.ndarray],
    k: int,
    *,
    exclude_history: bool = True,
    batch_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """(item indices, scores) of the `k` best items per history, best first, ties by catalogue order.

    With `exclude_history`, bought items score -inf: they come last and callers drop them.
    """
    n_items = model.domain.n_items
    k = min(k, n_items)
    items, scores = [], []
    for start in range(0, len(histories), batch_size):
        batch = histories[start : start + batch_size]
        with torch.no_grad():
            s = model.score(batch).float().clone()
        if exclude_history:
            s[history_mask(batch, n_items)] = -torch.inf
        # A stable sort makes equal scores come out in catalogue order, so output is reproducible.
        order = torch.sort(s, dim=1, descending=True, stable=True).indices[:, :k]
        items.append(order.numpy())
        scores.append(s.gather(1, order).numpy())
    if not items:
        return np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32)
    return np.concatenate(items), np.concatenate(scores)
