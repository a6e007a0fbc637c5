"""Text-based sequential recommender: a bi-encoder over item text (Recformer / UniSRec style).

A user's history becomes one prompt (the most recent item titles, newest last, truncated from the
oldest end to a token budget); every catalogue item becomes its own text. The prompt is encoded by the
language model with its adapters, the items by the frozen base model (`items`: encoded once per
catalogue and shared by every model on that base), and the score is their cosine times a scale plus a
per-item bias (`ItemHead`). Recommending is one prompt encoding and one matrix product.

Training (LoRA adapters, X-Cross's integration) uses a full softmax: each training sequence is cut at
a random point per epoch, and the next item must beat every other item of the catalogue that the user has not
bought yet (as served, bought items are out of the ranking). Only prompts
are encoded with gradients; the item side is a cached matrix, and the head trains with the prompt side.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xcross_core.data.dataset import DomainData
from xcross_core.data.histories import history_mask
from xcross_core.evaluation.protocol import validation_cases
from xcross_core.evaluation.splits import Split, validation_set
from xcross_core.memory import release_freed
from xcross_core.models.base import BaseModelInfo, pool
from xcross_core.models.fused_lora import fuse_lora
from xcross_core.models.items import item_vectors
from xcross_core.models.recommender import Recommender
from xcross_core.models.trunk import trunk_for
from xcross_core.training.events import FitReport, TrainEvent
from xcross_core.training.loop import LoopConfig, fit_loop


@dataclass(frozen=True)
class TextConfig:
    """How histories and items become text, and how the bi-encoder is scored and trained."""

    max_history: int = 8  # most recent items in a prompt
    prompt_tokens: int = 128  # prompt budget; the oldest tokens go first
    item_tokens: int = 40
    separator: str = " ; "
    temperature: float = 0.05  # the score's temperature before training (the item head learns its own)
    # Train an item head with the prompt side: a learned temperature over the frozen item tower (a fixed one made
    # training on real logs flatten the scores instead of ranking), and with `item_bias` a per-item bias started from
    # the training data's log-popularity. The bias is off by default: on real categories it raised the likelihood
    # and lowered the ranking (docs/method.md).
    item_head: bool = True
    item_bias: bool = False
    # Logit adjustment: in training only, every item's score gets this times its log(1 + purchases) in the training
    # data, so the softmax's taste for popular items is met by a fixed prior instead of being learned into the
    # prompts; validation and ranking score without it. 0 turns it off.
    train_prior: float = 0.0
    # Training cuts (one per training user, at most this many) on which the item head's scale is fitted before
    # training starts: to where the untrained vectors give the next purchases their highest log-likelihood. A scale
    # reorders no ranking, so the start ranks as it did; a start too sharp for the data made training flatten the
    # scores by drawing the users' vectors together, which ranks worse (docs/results.md). 0 starts at `temperature`.
    calibration_cases: int = 1000
    # Validation cases for early stopping: every held-out validation user's last item, at most this many (a seeded
    # subset); the start and every epoch validate them all, so their number weighs on a run's time.
    valid_cases: int = 1000
    # Fewer validation users than this: topped up with earlier next items of the same users (`validation_set`).
    min_valid_cases: int = 250
    # Texts per forward pass when encoding without gradients. Small passes stay in the CPU's caches: 500
    # prompts took 8.9 s in passes of 32 and 20 s in passes of 256 (2 cores).
    encode_batch: int = 32
    # Most prompt tokens (prompts x padded length) one forward pass of a training step holds: a batch of longer
    # prompts runs in pieces whose gradients add up to the batch's, so a step's memory does not grow with the
    # prompts' length (docs/results.md).
    step_tokens: int = 2048


#: Training defaults for a text encoder's adapters: a few epochs of full softmax, early-stopped on validation MRR
#: (`LoopConfig.select`). At most 6 epochs, so that an adapter on 4,000 real users trains within 15 minutes on 2 CPU
#: cores (bench/real_learning.py). Patience 3: with a few hundred validation users a measure moves by more than an
#: epoch's gain. At least 25 steps an epoch: a LoRA on 100 users (4 steps a pass) was still improving after 8
#: passes. Learning rate 2e-3: the one rate that validated best for a LoRA on both 200 and 800 sample users (3e-3
#: suits 200 and under-trains 800; 1e-3 the reverse), so a PoC's target LoRA and its LoRA on all users are both
#: tuned (docs/results.md, bench/lora_lr.py).
ADAPTER_LOOP = LoopConfig(epochs=6, batch_size=32, lr=2e-3, patience=3, min_epoch_steps=25)


def training_sequences(split: Split) -> list[np.ndarray]:
    """The training sequences that hold at least one (history, next item) pair."""
    return [s for s in split.train if len(s) >= 2]


class ItemHead(nn.Module):
    """The trainable item side over the frozen item tower: score = cosine x scale + bias[item].

    The learned scale lets training set how sharp its softmax is, where a fixed temperature made it flatten the
    prompt vectors instead. The bias (trained only with `TextConfig.item_bias`) would let a model say how often an
    item sells, which no cosine over frozen vectors can. Both belong to the model trained on one catalogue, so they
    never transfer: a source adapter ranks another category by cosine alone.
    """

    def __init__(self, n_items: int, temperature: float) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(-math.log(temperature)), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(n_items), requires_grad=False)

    def start_from(self, counts: np.ndarray) -> None:
        """Set the bias to the items' log-popularity (`counts`: purchases per item in the training data), centred."""
        prior = torch.log1p(torch.as_tensor(counts, dtype=self.bias.dtype, device=self.bias.device))
        with torch.no_grad():
            self.bias.copy_(prior - prior.mean())

    def calibrate(self, cosines: torch.Tensor, targets: torch.Tensor) -> None:
        """Set the scale to the one under which `cosines` ([cases, items]; -inf for an item out of a case's
        ranking) give the cases' `targets` their highest mean log-likelihood, the bias as it is.

        The log-likelihood is concave in the scale (a linear term minus a log-sum-exp of linear terms), so a
        golden-section search over the log of the scale finds its peak; a few dozen passes over the matrix.
        """
        rows = torch.arange(len(targets), device=cosines.device)

        def likelihood(log_scale: float) -> float:
            logits = cosines * math.exp(log_scale) + self.bias
            return float((logits[rows, targets] - logits.logsumexp(1)).mean())

        low, high = math.log(0.1), math.log(1000.0)
        ratio = (math.sqrt(5) - 1) / 2
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        fa, fb = likelihood(a), likelihood(b)
        while high - low > 1e-3:
            if fa < fb:
                low, a, fa = a, b, fb
                b = low + ratio * (high - low)
                fb = likelihood(b)
            else:
                high, b, fb = b, a, fa
                a = high - ratio * (high - low)
                fa = likelihood(a)
        with torch.no_grad():
            self.log_scale.fill_((low + high) / 2)

    def forward(self, prompts: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (prompts * self.log_scale.exp()) @ items.T + self.bias  # the scale on the small side of the product


class TextEncoder(nn.Module):
    """Language model (with whatever adapters it carries) -> pooled, L2-normalised vectors."""

    def __init__(self, model: nn.Module, info: BaseModelInfo) -> None:
        super().__init__()
        self.model = fuse_lora(model) if hasattr(model, "peft_config") else model  # a peft model's LoRA layers
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
        self._items: torch.Tensor | None = None  # the item tower's catalogue, on the encoder's device
        self._title_tokens: np.ndarray | None = None  # tokens of each title, then of the separator
        self._train_prior: torch.Tensor | None = None  # `config.train_prior` x log-popularity, while training
        self.trunk = trunk_for(encoder.model, encoder.info, tokenizer)  # shared frozen lower blocks, if any
        if self.config.item_head:  # on the encoder, so that training, saving and restoring epochs carry it
            encoder.item_head = ItemHead(domain.n_items, self.config.temperature)
        # One encoding at a time: the tokenizer's truncation side and what an encoder records about its
        # last forward (X-Cross's weights) are shared state, and concurrent requests must not mix them.
        self.lock = threading.RLock()

    # --- text ----------------------------------------------------------------------------------

    def prompts(self, histories: Sequence[np.ndarray]) -> list[str]:
        """Prompt text of each history: the most recent item titles, newest last."""
        titles = self.domain.titles()
        sep, keep = self.config.separator, self.config.max_history
        return [sep.join(titles[i] for i in h[-keep:]) for h in histories]

    def encode_prompts(self, histories: Sequence[np.ndarray], encoder: nn.Module | None = None) -> torch.Tensor:
        """[len(histories), H] prompt vectors (with gradients when the encoder trains); padded to the longest."""
        with self.lock:
            self.tokenizer.truncation_side = "left"  # an over-long history loses its oldest tokens
            weight = next(self.encoder.parameters())
            batch = self.tokenizer(
                self.prompts(histories),
                padding=True,
                truncation=True,
                max_length=self.config.prompt_tokens,
                return_tensors="pt",
            )
            ids, mask = batch["input_ids"].to(weight.device), batch["attention_mask"].to(weight.device)
            with self.trunk.feeding(ids, mask, weight.dtype) if self.trunk else nullcontext():
                return (encoder or self.encoder)(ids, mask)

    # --- scoring -------------------------------------------------------------------------------

    @property
    def encode_step(self) -> int:
        """Texts per forward pass when encoding without gradients."""
        return self.config.encode_batch

    def item_vectors(self) -> torch.Tensor:
        """[n_items, H] unit vectors of the whole catalogue from the frozen base (the item tower), cached."""
        # Looked up once per recommender: the shared cache hashes the catalogue's text, too slow for every step.
        if self._items is None:
            name, text = self.encoder.info.name, self.domain.item_text
            vectors = item_vectors(name, text, self.config.item_tokens, self.config.encode_batch)
            self._items = vectors.to(next(self.encoder.parameters()).device)
        return self._items

    def prompt_vectors(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        """[len(histories), H] unit vectors of the histories' prompts, without gradients."""
        step = self.encode_step
        with torch.no_grad():
            if not len(histories):
                items = self.item_vectors()
                return items.new_zeros((0, items.shape[1]))
            # Chunks of similar prompt length, so that little compute goes to padding; then back in order.
            order = np.argsort(self.prompt_lengths(histories), kind="stable")
            chunks = []
            for start in range(0, len(order), step):
                chunks.append(self.encode_prompts([histories[i] for i in order[start : start + step]]))
                release_freed()  # a pass's activations are free: validation and tests keep to one pass's memory
            vectors = torch.cat(chunks)
            return vectors[torch.from_numpy(np.argsort(order)).to(vectors.device)]

    def logits(self, prompts: torch.Tensor, encoder: nn.Module | None = None) -> torch.Tensor:
        """[len(prompts), n_items] scores of unit prompt vectors: through the item head, or cosine / temperature."""
        head = getattr(encoder or self.encoder, "item_head", None)
        if head is None:
            return prompts @ self.item_vectors().T / self.config.temperature
        return head(prompts, self.item_vectors())

    def score(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        return self.logits(self.prompt_vectors(histories)).cpu()

    # --- training ------------------------------------------------------------------------------

    def prompt_lengths(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Tokens each history's prompt takes (within the budget), from the titles' token counts."""
        if self._title_tokens is None:
            counts = self.tokenizer([*self.domain.titles(), self.config.separator], add_special_tokens=False)
            self._title_tokens = np.array([len(c) for c in counts["input_ids"]])
        titles, separator = self._title_tokens[:-1], self._title_tokens[-1]
        keep = self.config.max_history
        lengths = [titles[h[-keep:]].sum() + separator * max(min(len(h), keep) - 1, 0) for h in histories]
        special = self.tokenizer.num_special_tokens_to_add()
        return np.minimum(np.asarray(lengths, dtype=np.int64) + special, self.config.prompt_tokens)

    def cut_batches(
        self, sequences: Sequence[np.ndarray], batch_size: int, rng: np.random.Generator
    ) -> list[list[tuple[np.ndarray, int]]]:
        """One pass: every sequence cut at a random point into (history, next item), batched by prompt length.

        Prompts are padded to the longest in their batch, so batches of similar length waste little compute on
        padding; the batches' order is shuffled, and ties in length are broken at random.
        """
        cuts = [int(rng.integers(1, len(s))) for s in sequences]
        pairs = [(s[:t], int(s[t])) for s, t in zip(sequences, cuts, strict=True)]
        lengths = self.prompt_lengths([h for h, _ in pairs])
        order = np.lexsort((rng.random(len(pairs)), lengths))
        batches = [[pairs[i] for i in order[s : s + batch_size]] for s in range(0, len(order), batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def pieces(self, batch: list[tuple[np.ndarray, int]]) -> list[list[tuple[np.ndarray, int]]]:
        """`batch` in consecutive pieces of at most `config.step_tokens` padded prompt tokens each (a piece holds at
        least one prompt): how a training step runs it (`training.loop.backward_in_pieces`)."""
        lengths = self.prompt_lengths([h for h, _ in batch])
        cuts, start, longest = [], 0, 0
        for i, length in enumerate(lengths):
            longest = max(longest, int(length))
            if i > start and (i + 1 - start) * longest > self.config.step_tokens:
                cuts.append(batch[start:i])
                start, longest = i, int(length)
        return [*cuts, batch[start:]]

    def _loss(self, encoder: nn.Module, batch: list[tuple[np.ndarray, int]], device: torch.device) -> torch.Tensor:
        histories = [h for h, _ in batch]
        targets = torch.tensor([t for _, t in batch], device=device)
        logits = self.logits(self.encode_prompts(histories, encoder), encoder)
        if self._train_prior is not None:
            logits = logits + self._train_prior
        return F.cross_entropy(logits.masked_fill(self._out_of_ranking(histories, targets), -torch.inf), targets)

    def _out_of_ranking(self, histories: Sequence[np.ndarray], targets: torch.Tensor) -> torch.Tensor:
        """[len(histories), n_items] True where an item is out of a training case's ranking: ranked as served, the
        items a user already bought are not negatives to push away (on real logs the next purchase is often much
        like them); a repeat purchase's target stays in."""
        bought = history_mask(histories, self.domain.n_items).to(targets.device)
        bought[torch.arange(len(histories), device=targets.device), targets] = False
        return bought

    def calibrate_scale(self, sequences: Sequence[np.ndarray]) -> None:
        """Fit the item head's scale to `config.calibration_cases` training cuts of `sequences` (seeded by the loop's
        seed), as the model stands (`ItemHead.calibrate`)."""
        rng = np.random.default_rng(self.loop.seed)
        chosen = [sequences[i] for i in rng.permutation(len(sequences))[: self.config.calibration_cases]]
        if not chosen:
            return
        (cases,) = self.cut_batches(chosen, len(chosen), rng)
        histories = [h for h, _ in cases]
        training = self.encoder.training
        self.encoder.eval()  # as the start validates and ranks
        try:
            vectors = self.prompt_vectors(histories)
        finally:
            self.encoder.train(training)
        targets = torch.tensor([t for _, t in cases], device=vectors.device)
        cosines = (vectors @ self.item_vectors().T).masked_fill(self._out_of_ranking(histories, targets), -torch.inf)
        self.encoder.item_head.calibrate(cosines, targets)

    def fit(
        self,
        split: Split,
        progress: Callable[[TrainEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> FitReport:
        """Train the encoder's trainable parameters (its adapters, and the item head with them) on `split.train`;
        none, nothing to do."""
        if not any(p.requires_grad for p in self.encoder.parameters()):
            return FitReport()
        sequences = training_sequences(split)
        counts = np.bincount(np.concatenate([np.zeros(0, np.int64), *split.train]), minlength=self.domain.n_items)
        begin = None
        if self.config.item_head:
            head = self.encoder.item_head
            if self.config.calibration_cases > 0:
                self.calibrate_scale(sequences)
            head.log_scale.requires_grad_(True)
            if self.config.item_bias:
                head.bias.requires_grad_(True)
                # The start stays the untrained model (no bias) for validation to fall back to; training starts from
                # the training data's popularity.
                begin = lambda: head.start_from(counts)  # noqa: E731
        config = self.config
        if config.train_prior:
            prior = torch.log1p(torch.as_tensor(counts, dtype=torch.float32)).to(self.item_vectors().device)
            self._train_prior = config.train_prior * prior
        valid = validation_set(split, config.valid_cases, config.min_valid_cases, self.loop.seed)
        try:
            return fit_loop(
                self.encoder,
                sequences,
                self._loss,
                self.loop,
                batcher=self.cut_batches,
                pieces=self.pieces,
                validate=(lambda: validation_cases(self, valid)) if len(valid) else None,
                progress=progress,
                cancel=cancel,
                begin=begin,
            )
        finally:
            self._train_prior = None  # ranking and validation score without it

    @property
    def trainable_parameters(self) -> int:
        """Trained parameters besides the item head (which every text model trained on the target carries alike)."""
        return sum(p.numel() for n, p in self.encoder.named_parameters() if p.requires_grad and "item_head." not in n)
