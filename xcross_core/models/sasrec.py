"""SASRec-style baseline: causal self-attention over item ids (Kang & McAuley, ICDM 2018).

Trained with full softmax cross-entropy over the catalogue at every position of the sequence, which
is markedly stronger than the original one-negative binary loss (Klenitskiy & Vasilev, RecSys 2023)
and affordable on CPU at these catalogue sizes. Item ids only: it cannot transfer across domains,
which is exactly why it is the ID-based reference for X-Cross.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xcross_core.data.dataset import DomainData
from xcross_core.evaluation.protocol import validation_cases
from xcross_core.evaluation.splits import Split
from xcross_core.models.recommender import Recommender, pad_histories
from xcross_core.training.events import FitReport, TrainEvent
from xcross_core.training.loop import LoopConfig, fit_loop, seed_everything


@dataclass(frozen=True)
class SASRecConfig:
    """Architecture of the SASRec baseline; optimisation settings live in `LoopConfig`."""

    hidden: int = 64
    layers: int = 2
    heads: int = 1
    dropout: float = 0.3
    max_len: int = 50


#: Early stopping decides the real number of epochs; the cap only bounds a runaway run. Random starting
#: weights are no model to fall back on, so any epoch that validates higher replaces them (no test).
SASREC_LOOP = LoopConfig(epochs=200, batch_size=128, lr=2e-3, patience=5, replace_start_p=None)


class SASRecNetwork(nn.Module):
    """Item + position embeddings -> causal transformer encoder -> state at every position."""

    def __init__(self, n_items: int, config: SASRecConfig) -> None:
        super().__init__()
        self.config = config
        # Index 0 is padding; item i is embedding row i + 1.
        self.items = nn.Embedding(n_items + 1, config.hidden, padding_idx=0)
        self.positions = nn.Embedding(config.max_len, config.hidden)
        layer = nn.TransformerEncoderLayer(
            config.hidden, config.heads, 4 * config.hidden, config.dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.hidden)
        self.dropout = nn.Dropout(config.dropout)
        # Small embeddings (as in GPT-2): with unit-variance rows the tied output logits start so
        # large that the first epochs only undo the initialisation.
        for emb in (self.items, self.positions):
            nn.init.normal_(emb.weight, std=0.02)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """seq: [B, L] right-aligned item ids (+1, 0 = pad) -> [B, L, hidden]."""
        length = seq.shape[1]
        pos = torch.arange(self.config.max_len - length, self.config.max_len, device=seq.device)
        x = self.dropout(self.items(seq) + self.positions(pos))
        # A position may attend to itself and to earlier real items; padding only to itself, so that
        # no attention row is empty (an all-masked row gives NaN).
        real = seq != 0
        causal = torch.ones(length, length, dtype=torch.bool, device=seq.device).tril()
        allowed = causal & (real[:, None, :] | torch.eye(length, dtype=torch.bool, device=seq.device))
        mask = (~allowed).repeat_interleave(self.config.heads, dim=0)
        return self.norm(self.encoder(x, mask=mask))

    def logits(self, states: torch.Tensor) -> torch.Tensor:
        """Scores of every real item for each state (embedding weights are tied)."""
        return states @ self.items.weight[1:].T


class SASRec(Recommender):
    """ID-based sequential recommender trained on the target domain only."""

    name = "sasrec"

    def __init__(self, domain: DomainData, config: SASRecConfig | None = None, loop: LoopConfig | None = None) -> None:
        super().__init__(domain)
        self.config = config or SASRecConfig()
        self.loop = loop or SASREC_LOOP
        seed_everything(self.loop.seed)
        self.network = SASRecNetwork(domain.n_items, self.config)
        self.network.eval()

    def _loss(self, network: nn.Module, batch: list[np.ndarray], device: torch.device) -> torch.Tensor:
        # Predict item t+1 from the prefix ending at t, at every real position of every sequence.
        seq = pad_histories(batch, self.config.max_len + 1, shift=1).to(device)
        inputs, targets = seq[:, :-1], seq[:, 1:]
        states = network(inputs)
        keep = (inputs != 0) & (targets != 0)
        return F.cross_entropy(self.network.logits(states[keep]), targets[keep] - 1)

    def fit(
        self,
        split: Split,
        progress: Callable[[TrainEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> FitReport:
        sequences = [s for s in split.train if len(s) >= 2]
        validate = (lambda: validation_cases(self, split.valid)) if len(split.valid) else None
        return fit_loop(
            self.network,
            sequences,
            self._loss,
            self.loop,
            validate=validate,
            progress=progress,
            cancel=cancel,
        )

    def score(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        device = next(self.network.parameters()).device
        seq = pad_histories(histories, self.config.max_len, shift=1).to(device)
        with torch.no_grad():
            return self.network.logits(self.network(seq)[:, -1]).cpu()

    @property
    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.network.parameters())
