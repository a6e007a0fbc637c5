"""Text-based sequential recommender: a bi-encoder over item text (Recformer / UniSRec style).

A user's history becomes one prompt (the most recent item titles, newest last, truncated from the
oldest end to a token budget); every catalogue item becomes its own text. One language model maps
both to unit vectors and the score is their cosine over a temperature. Item vectors are computed
once per set of weights and cached, so recommending is one prompt encoding and one matrix product.

Training (LoRA adapters here, X-Cross later) uses a sampled softmax: each training sequence is cut at
a random point per epoch, and the next item must beat the batch's other targets and a shared set of
random catalogue items.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xcross_core.data.dataset import DomainData
from xcross_core.evaluation.protocol import case_metric
from xcross_core.evaluation.splits import EvalCases, Split, every_next_item, with_shared_candidates
from xcross_core.models.base import BaseModelInfo, pool
from xcross_core.models.recommender import Recommender
from xcross_core.training.events import FitReport, TrainEvent
from xcross_core.training.loop import LoopConfig, batched, fit_loop


@dataclass(frozen=True)
class TextConfig:
    """How histories and items become text, and how the bi-encoder is scored and trained."""

    max_history: int = 8  # most recent items in a prompt
    prompt_tokens: int = 128  # prompt budget; the oldest tokens go first
    item_tokens: int = 40
    separator: str = " ; "
    temperature: float = 0.05
    negatives: int = 64  # random catalogue items shared by a training batch
    valid_cases: int = 500  # validation cases for early stopping (a seeded subset; every next item of held-out users)
    valid_items: int = 3000  # early stopping ranks them among this many catalogue items (seeded; 0 = all)
    encode_batch: int = 256  # texts per forward pass when encoding without gradients


#: Training defaults for a text encoder's adapters: a few epochs of sampled softmax, early-stopped
#: on validation NDCG@10. Patience 3: with a few hundred validation users NDCG@10 moves by more than
#: an epoch's gain (Beauty, 200 users: 0.078 -> 0.065 -> 0.065 while the loss kept falling). At least
#: 25 steps an epoch: a LoRA on 100 users (4 steps a pass) was still improving after 8 passes, and a
#: 30-pass run kept pass 20.
ADAPTER_LOOP = LoopConfig(epochs=8, batch_size=32, lr=1e-3, patience=3, min_epoch_steps=25)


def training_sequences(split: Split) -> list[np.ndarray]:
    """The training sequences that hold at least one (history, next item) pair."""
    return [s for s in split.train if len(s) >= 2]


#: Multiples of the configured temperature that `calibrate_temperature` tries: a quarter to 16 times it.
TEMPERATURE_STEPS = 2.0 ** np.arange(-2, 4.5, 0.5)


class TextEncoder(nn.Module):
    """Language model (with whatever adapters it carries) -> pooled, L2-normalised vectors."""

    def __init__(self, model: nn.Module, info: BaseModelInfo) -> None:
        super().__init__()
        self.model = model
        self.info = info

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return F.normalize(pool(hidden, attention_mask, self.info.decoder), dim=-1)


class TextRecommender(Recommender):
    """Scores a domain's catalogue by similarity of history and item text under one encoder."""

    def __init__(
        self,
        domain: DomainData,
        encoder: nn.Module,
        tokenizer: object,
        config: TextConfig | None = None,
        loop: LoopConfig | None = None,
        name: str = "base",
    ) -> None:
        super().__init__(domain)
        self.encoder, self.tokenizer = encoder, tokenizer
        self.config = config or TextConfig()
        self.loop = loop or ADAPTER_LOOP
        self.name = name
        self._item_vectors: torch.Tensor | None = None
        self._rng = np.random.default_rng(self.loop.seed)  # cut points and negatives; reseeded by fit
        self.train_temperature = self.config.temperature  # the training loss's; see calibrate_temperature
        # One encoding at a time: the tokenizer's truncation side and what an encoder records about its
        # last forward (X-Cross's weights) are shared state, and concurrent requests must not mix them.
        self.lock = threading.RLock()

    # --- text ----------------------------------------------------------------------------------

    def prompts(self, histories: Sequence[np.ndarray]) -> list[str]:
        """Prompt text of each history: the most recent item titles, newest last."""
        titles = self.domain.titles()
        sep, keep = self.config.separator, self.config.max_history
        return [sep.join(titles[i] for i in h[-keep:]) for h in histories]

    def _tokens(self, texts: list[str], max_tokens: int, keep_end: bool) -> dict[str, torch.Tensor]:
        self.tokenizer.truncation_side = "left" if keep_end else "right"
        device = next(self.encoder.parameters()).device
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
        return {"input_ids": batch["input_ids"].to(device), "attention_mask": batch["attention_mask"].to(device)}

    def encode_prompts(self, histories: Sequence[np.ndarray], encoder: nn.Module | None = None) -> torch.Tensor:
        with self.lock:
            tokens = self._tokens(self.prompts(histories), self.config.prompt_tokens, keep_end=True)
            return (encoder or self.encoder)(**tokens)

    def encode_items(self, items: np.ndarray, encoder: nn.Module | None = None) -> torch.Tensor:
        with self.lock:
            tokens = self._tokens([self.domain.item_text[i] for i in items], self.config.item_tokens, keep_end=False)
            return (encoder or self.encoder)(**tokens)

    # --- scoring -------------------------------------------------------------------------------

    @property
    def encode_step(self) -> int:
        """Texts per forward pass when encoding without gradients."""
        return self.config.encode_batch

    def item_vectors(self) -> torch.Tensor:
        """[n_items, H] unit vectors of the whole catalogue, cached until the weights change."""
        with self.lock:
            if self._item_vectors is None:
                self._item_vectors = self._catalogue_vectors(np.arange(self.domain.n_items))
            return self._item_vectors

    def _catalogue_vectors(self, items: np.ndarray) -> torch.Tensor:
        """[n_items, H]: the vectors of `items`, zero rows for every other item."""
        # Batches of similar length waste little compute on padding.
        order = items[np.argsort([len(self.domain.item_text[i]) for i in items], kind="stable")]
        step = self.encode_step
        with torch.no_grad():
            vectors = torch.cat([self.encode_items(order[s : s + step]) for s in range(0, len(order), step)])
        out = vectors.new_zeros((self.domain.n_items, vectors.shape[1]))
        out[torch.from_numpy(order).to(vectors.device)] = vectors
        return out

    def prompt_vectors(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        """[len(histories), H] unit vectors of the histories' prompts, without gradients."""
        step = self.encode_step
        with torch.no_grad():
            if not len(histories):
                items = self.item_vectors()
                return items.new_zeros((0, items.shape[1]))
            return torch.cat([self.encode_prompts(histories[s : s + step]) for s in range(0, len(histories), step)])

    def score(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        return (self.prompt_vectors(histories) @ self.item_vectors().T / self.config.temperature).cpu()

    # --- training ------------------------------------------------------------------------------

    def _sample(
        self, batch: list[np.ndarray], rng: np.random.Generator
    ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """One training batch's (histories, candidate items, index of each history's target among them)."""
        # Cut every sequence at a random point: predict item t from the items before it.
        cuts = [int(rng.integers(1, len(s))) for s in batch]
        histories = [s[:t] for s, t in zip(batch, cuts, strict=True)]
        targets = np.array([s[t] for s, t in zip(batch, cuts, strict=True)])
        negatives = rng.choice(self.domain.n_items, size=min(self.config.negatives, self.domain.n_items), replace=False)
        # Unique candidates: a target that is also another user's target or a negative counts once.
        candidates, inverse = np.unique(np.concatenate([targets, negatives]), return_inverse=True)
        return histories, candidates, inverse[: len(targets)]

    def _loss(self, encoder: nn.Module, batch: list[np.ndarray], device: torch.device) -> torch.Tensor:
        histories, candidates, labels = self._sample(batch, self._rng)
        queries = self.encode_prompts(histories, encoder)
        items = self.encode_items(candidates, encoder)
        logits = queries @ items.T / self.train_temperature
        return F.cross_entropy(logits, torch.from_numpy(labels).to(device))

    def calibrate_temperature(self, split: Split, max_sequences: int = 1000) -> float:
        """The temperature at which the current weights' training loss is lowest, on a grid around the configured one.

        One cut of up to `max_sequences` training sequences, batched and sampled exactly like training, scored
        once without gradients; ranking does not depend on the temperature, only the loss's gradients do.
        """
        rng = np.random.default_rng([self.loop.seed, 11])
        sequences = training_sequences(split)
        if len(sequences) > max_sequences:
            sequences = [sequences[i] for i in np.sort(rng.choice(len(sequences), max_sequences, replace=False))]
        samples = [self._sample(b, rng) for b in batched(sequences, self.loop.batch_size, rng)]
        if not samples:
            return self.config.temperature
        queries = self.prompt_vectors([h for histories, _, _ in samples for h in histories])
        items = self._catalogue_vectors(np.unique(np.concatenate([c for _, c, _ in samples])))
        grid = torch.as_tensor(self.config.temperature * TEMPERATURE_STEPS, dtype=queries.dtype)
        loss, start = torch.zeros_like(grid), 0
        for histories, candidates, labels in samples:  # one small matrix per batch; the grid is one axis
            cosine = queries[start : start + len(histories)] @ items[torch.from_numpy(candidates)].T
            start += len(histories)
            logits = cosine[None] / grid[:, None, None]  # [grid, B, C]
            picked = logits[:, torch.arange(len(labels)), torch.from_numpy(labels)]
            loss += (logits.logsumexp(-1) - picked).sum(1)
        return float(grid[loss.argmin()])

    def _validate(self, cases: EvalCases) -> np.ndarray:
        # Cases with candidates read only their candidates' scores, so only those items are encoded.
        self._item_vectors = None if cases.candidates is None else self._catalogue_vectors(np.unique(cases.candidates))
        return case_metric(self, cases)

    def fit(
        self,
        split: Split,
        progress: Callable[[TrainEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> FitReport:
        """Train the encoder's trainable parameters (its adapters) on `split.train`; none, nothing to do."""
        if not any(p.requires_grad for p in self.encoder.parameters()):
            return FitReport()
        sequences = training_sequences(split)
        self._rng = np.random.default_rng(self.loop.seed)
        valid = every_next_item(split.valid) if split.mode == "users" else split.valid
        if len(valid) > self.config.valid_cases:
            pick = np.random.default_rng([self.loop.seed, 7]).choice(len(valid), self.config.valid_cases, replace=False)
            valid = valid.subset(np.sort(pick))
        if self.config.valid_items:
            valid = with_shared_candidates(valid, self.domain.n_items, self.config.valid_items, self.loop.seed)
        try:
            return fit_loop(
                self.encoder,
                sequences,
                self._loss,
                self.loop,
                validate=(lambda: self._validate(valid)) if len(valid) else None,
                progress=progress,
                cancel=cancel,
            )
        finally:
            self._item_vectors = None

    @property
    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.encoder.parameters() if p.requires_grad)

    @property
    def validation_protocol(self) -> str:
        """What validation NDCG@10 ranks against: "full", or "sampled-N" on catalogues over `valid_items`."""
        size = self.config.valid_items
        return f"sampled-{size - 1}" if 0 < size < self.domain.n_items else "full"
