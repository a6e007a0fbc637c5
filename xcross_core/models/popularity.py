"""Most-popular: every user gets the catalogue ranked by purchase count in the training data."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from xcross_core.data.dataset import DomainData
from xcross_core.evaluation.splits import Split
from xcross_core.models.recommender import Recommender
from xcross_core.training.events import FitReport, TrainEvent


class Popularity(Recommender):
    """Scores = how often each item was bought in the sequences it was fitted on."""

    name = "popularity"

    def __init__(self, domain: DomainData) -> None:
        super().__init__(domain)
        self.counts = torch.zeros(domain.n_items)

    def fit_sequences(self, sequences: Sequence[np.ndarray]) -> Popularity:
        """Count purchases in `sequences` (item indices of this domain)."""
        flat = np.concatenate(list(sequences)) if len(sequences) else np.zeros(0, dtype=np.int64)
        self.counts = torch.from_numpy(np.bincount(flat, minlength=self.domain.n_items).astype(np.float32))
        return self

    def fit(
        self,
        split: Split,
        progress: Callable[[TrainEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> FitReport:
        self.fit_sequences(split.train)
        return FitReport()

    def score(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        return self.counts.expand(len(histories), -1)
