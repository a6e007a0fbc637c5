"""The one training loop every trainable model uses (SASRec, LoRA adapters, X-Cross and its baselines).

A model supplies its examples, optionally how one pass cuts them into batches, and its loss; the loop
owns the rest: seeding, the optimiser, Hugging Face Accelerate (the same code on one CPU, one GPU or
several under `accelerate launch`), early stopping on a validation ranking measure with the best weights restored,
progress events and cancellation. A run's dropout draws from a generator of its own, seeded by the run, so two
models training at once in one process (`jobs.lanes`) each draw the same masks as they would alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from torch import nn

from xcross_core.memory import release_freed
from xcross_core.stats import paired_test
from xcross_core.training.events import Cancelled, FitReport, TrainEvent


@dataclass(frozen=True)
class LoopConfig:
    """Optimisation settings shared by every trainable model."""

    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 3  # epochs that do not beat the best trained epoch's validation measure before stopping
    # An epoch is at least this many optimiser steps: a training set smaller than that is passed over
    # several times per epoch, so a few dozen users get as many updates between validations (and in
    # all) as a few hundred, instead of being cut short by an epoch cap sized for larger sets.
    min_epoch_steps: int = 0
    seed: int = 0
    grad_clip: float = 1.0
    # The validation measure that picks the kept epoch: "mrr" (the target's reciprocal rank in the full ranking) or
    # "log_likelihood". The log-likelihood also rewards flattening the scores: on real categories it chose epochs
    # that ranked worse than the start (docs/method.md).
    select: str = "mrr"
    # A trained epoch replaces the starting weights only when its validation gain over them is beyond
    # noise: a paired test of the cases' selection measure with p below this (None: whenever it is higher).
    # A start that is already a good model (X-Cross's sources side by side) otherwise loses to whichever
    # epoch happened to validate a hair higher on a few hundred cases.
    replace_start_p: float | None = 0.05


def seed_everything(seed: int) -> None:
    """Seed torch's global generator (CPU and CUDA) so that a model's random initialisation repeats exactly."""
    torch.manual_seed(seed)


class OwnDropout(nn.Module):
    """Dropout whose masks come from a given generator rather than torch's global one."""

    def __init__(self, p: float, generator: torch.Generator) -> None:
        super().__init__()
        self.p, self.generator = p, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = keep_mask(self, x)
        return x if mask is None else x.mul(mask).div_(1.0 - self.p)


def keep_mask(dropout: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """The elements of `x` that `dropout` (an `nn.Dropout` or `OwnDropout`) keeps in this forward, as booleans;
    None when it keeps them all (evaluation mode, p = 0, or no dropout at all).

    Booleans rather than a float mask: autograd keeps the mask for the backward pass, at a quarter of the bytes.
    An `OwnDropout` draws from its own generator, anything else from torch's global one.
    """
    p = getattr(dropout, "p", 0.0) if isinstance(dropout, nn.Dropout | OwnDropout) else 0.0
    if not dropout.training or p == 0:
        return None
    generator = dropout.generator if isinstance(dropout, OwnDropout) else None
    return torch.rand(x.shape, device=x.device, generator=generator) >= p


@contextmanager
def own_dropout(module: nn.Module, seed: int, device: torch.device) -> Iterator[None]:
    """Within the block, every `nn.Dropout` inside `module` draws from one generator seeded with `seed` on
    `device`; the original modules are back afterwards, in the mode (training or evaluation) their stand-ins were
    left in, so a model that training left in evaluation mode drops nothing when it is tested."""
    generator = torch.Generator(device=device).manual_seed(seed)
    swapped = [
        (parent, name, child)
        for parent in module.modules()
        for name, child in parent.named_children()
        if type(child) is nn.Dropout and child.p > 0
    ]
    stand_ins = [OwnDropout(child.p, generator).train(child.training) for _, _, child in swapped]
    for (parent, name, _), stand_in in zip(swapped, stand_ins, strict=True):
        setattr(parent, name, stand_in)
    try:
        yield
    finally:
        for (parent, name, child), stand_in in zip(swapped, stand_ins, strict=True):
            setattr(parent, name, child.train(stand_in.training))


def passes_per_epoch(config: LoopConfig, n_examples: int) -> int:
    """Passes over `n_examples` that make one epoch: enough for `config.min_epoch_steps` optimiser steps."""
    steps_per_pass = max(1, -(-n_examples // config.batch_size))
    return max(1, -(-config.min_epoch_steps // steps_per_pass))


def batched(items: Sequence[Any], batch_size: int, rng: np.random.Generator) -> list[list[Any]]:
    """Shuffle `items` with `rng` and cut them into batches of `batch_size` (the last may be short)."""
    order = rng.permutation(len(items))
    return [[items[i] for i in order[s : s + batch_size]] for s in range(0, len(items), batch_size)]


#: One pass over the examples as batches: (examples, batch size, rng) -> batches.
Batcher = Callable[[Sequence[Any], int, np.random.Generator], list[list[Any]]]
#: One batch as the pieces its forward passes take, when a whole batch at once would hold too much memory; the loss
#: must be a mean over the batch's examples (each piece's is weighted by its share of them).
Pieces = Callable[[list[Any]], list[list[Any]]]
#: Validation: every case's (NDCG@10, MRR, log-likelihood of the target); see `evaluation.protocol.validation_cases`.
Validator = Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]]


def backward_in_pieces(
    module: nn.Module,
    batch: list[Any],
    loss_fn: Callable[[nn.Module, list[Any], torch.device], torch.Tensor],
    device: torch.device,
    pieces: Pieces | None = None,
    backward: Callable[[torch.Tensor], None] = torch.Tensor.backward,
) -> float:
    """Forward and backward passes of `batch`, one piece at a time (`pieces`; default: the whole batch), adding up
    their gradients; returns the batch's mean loss."""
    loss = 0.0
    for piece in pieces(batch) if pieces is not None else [batch]:
        # Each piece's mean loss weighted by its share of the batch: the gradients sum to the batch's.
        piece_loss = loss_fn(module, piece, device) * (len(piece) / len(batch))
        backward(piece_loss)
        loss += float(piece_loss.detach())
    return loss


def fit_loop(
    module: nn.Module,
    examples: Sequence[Any],
    loss_fn: Callable[[nn.Module, list[Any], torch.device], torch.Tensor],
    config: LoopConfig,
    *,
    batcher: Batcher = batched,
    pieces: Pieces | None = None,
    validate: Validator | None = None,
    progress: Callable[[TrainEvent], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    begin: Callable[[], None] | None = None,
) -> FitReport:
    """Train the parameters of `module` that require grad on `examples` (one per sequence).

    `batcher` cuts one pass over `examples` into batches (default: shuffled, in order of the shuffle). `pieces`, if
    given, cuts a batch into the pieces its forward and backward passes take one at a time; their gradients add up
    to the whole batch's, so a step's memory is bounded without changing what it computes.
    `loss_fn(module, batch, device)` turns one batch into a scalar loss; it receives the
    module as Accelerate prepared it (wrapped for multi-GPU), so gradients synchronise. `validate()` returns
    every validation case's NDCG@10, MRR and log-likelihood and is run before training and after every epoch.
    The measure `config.select` names decides (MRR by default: a ranking measure that moves with every case
    near the top, where NDCG@10 moves only with top-ten hits); the others are reported. The best weights are
    restored at the end, the starting ones included (best_epoch 0), which the best epoch replaces only by a
    significant paired gain (`config.replace_start_p`). An epoch is one pass over `examples`, or as many passes as
    `config.min_epoch_steps` needs on a small set. `cancel()` is polled
    every step; when it says so, `Cancelled` is raised and the module keeps whatever weights it had
    (callers write nothing). `begin()`, if given, runs once after the start is validated and kept, before the first
    step: where training starts beyond the untrained weights (the item head's popularity prior, when it trains a
    bias), so that the start it may fall back to is the untrained model itself.
    """
    if not examples:
        raise ValueError("no training sequences: the training split is empty")
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    with own_dropout(module, config.seed, accelerator.device):
        return _fit(module, examples, loss_fn, config, accelerator, batcher, pieces, validate, progress, cancel, begin)


def _fit(
    module: nn.Module,
    examples: Sequence[Any],
    loss_fn: Callable[[nn.Module, list[Any], torch.device], torch.Tensor],
    config: LoopConfig,
    accelerator: Accelerator,
    batcher: Batcher,
    pieces: Pieces | None,
    validate: Validator | None,
    progress: Callable[[TrainEvent], None] | None,
    cancel: Callable[[], bool] | None,
    begin: Callable[[], None] | None,
) -> FitReport:
    rng = np.random.default_rng(config.seed)
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    module, optimizer = accelerator.prepare(module, optimizer)

    passes = passes_per_epoch(config, len(examples))
    total = -(-len(examples) // config.batch_size) * passes * config.epochs
    report = FitReport()
    # The best trained epoch so far; patience counts epochs without beating it. The start is not in this
    # race: a strong start (X-Cross's sources side by side) would otherwise stop training after the few
    # epochs that first perturb it, before later ones overtake it. It is weighed against the winner at the end.
    best_score, best_state, best_cases, stale = -np.inf, None, None, 0
    started = time.perf_counter()

    if config.select not in ("mrr", "log_likelihood"):
        raise ValueError(f"select must be 'mrr' or 'log_likelihood', not {config.select!r}")
    report.selected_on = config.select

    def validated() -> tuple[float, float, float, np.ndarray]:
        """(mean NDCG@10, mean MRR, mean log-likelihood, every case's selection measure)."""
        module.eval()
        with torch.no_grad():
            ndcg, mrr, likelihood = (np.asarray(x, dtype=np.float64) for x in validate())
        cases = mrr if config.select == "mrr" else likelihood
        return float(np.mean(ndcg)), float(np.mean(mrr)), float(np.mean(likelihood)), cases

    if validate is not None:
        # The starting weights are a candidate too: X-Cross starts as its sources side by side and a LoRA
        # as the base model, and a few noisy epochs on little target data must not return something that
        # validates worse than that.
        start = validated()
        report.start_valid_ndcg10, report.start_valid_mrr, report.start_valid_log_likelihood, start_cases = start
        start_state = _trainable_state(accelerator.unwrap_model(module))
    if begin is not None:
        begin()
    step, train_seconds = 0, 0.0
    for epoch in range(1, config.epochs + 1):
        module.train()
        epoch_loss = 0.0
        epoch_started = time.perf_counter()
        # Each process takes every num_processes-th batch, so multi-GPU runs split the epoch.
        batches = [b for _ in range(passes) for b in batcher(examples, config.batch_size, rng)]
        batches = batches[accelerator.process_index :: accelerator.num_processes]
        for batch in batches:
            if cancel is not None and cancel():
                raise Cancelled(f"training cancelled at epoch {epoch}, step {step}")
            optimizer.zero_grad(set_to_none=True)
            loss = backward_in_pieces(module, batch, loss_fn, accelerator.device, pieces, accelerator.backward)
            if config.grad_clip:
                accelerator.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            release_freed()  # the step's activations are free: hand them back if the process holds over its budget
            step += 1
            epoch_loss += loss
            if progress is not None:
                progress(
                    TrainEvent(
                        epoch,
                        config.epochs,
                        step,
                        total,
                        loss,
                        None,
                        time.perf_counter() - started,
                    )
                )
        train_seconds += time.perf_counter() - epoch_started
        report.losses.append(epoch_loss / max(len(batches), 1))
        report.epochs = epoch
        if validate is None:
            continue
        ndcg, mrr, likelihood, cases = validated()
        score = float(cases.mean())
        report.valid_ndcg10.append(ndcg)
        report.valid_mrr.append(mrr)
        report.valid_log_likelihood.append(likelihood)
        if progress is not None:
            progress(
                TrainEvent(epoch, config.epochs, step, total, report.losses[-1], ndcg, time.perf_counter() - started)
            )
        if score > best_score:
            best_score, best_cases, stale, report.best_epoch = score, cases, 0, epoch
            best_state = _trainable_state(accelerator.unwrap_model(module))
        else:
            stale += 1
            if stale >= config.patience:
                report.stopped_early = True
                break
    if validate is not None:
        # The best epoch replaces the start only by beating it, significantly when replace_start_p is set.
        beats_start = best_score > float(start_cases.mean())
        if beats_start and config.replace_start_p is not None:
            report.start_gain_p = paired_test(best_cases, start_cases, seed=config.seed).p_value
            beats_start = report.start_gain_p < config.replace_start_p
        if not beats_start:
            best_state, report.best_epoch = start_state, 0
    if best_state is not None:
        accelerator.unwrap_model(module).load_state_dict(best_state, strict=False)
    else:
        report.best_epoch = report.epochs
    report.seconds = time.perf_counter() - started
    report.train_seconds = train_seconds
    report.steps = step
    report.sequences_per_second = len(examples) * passes * report.epochs / max(train_seconds, 1e-9)
    module.eval()
    return report


def _trainable_state(module: nn.Module) -> dict[str, torch.Tensor]:
    names = {name for name, p in module.named_parameters() if p.requires_grad}
    return {k: v.detach().clone() for k, v in module.state_dict().items() if k in names}
