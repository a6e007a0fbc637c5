"""What a training run reports while it runs and when it ends (read by the CLI and the app)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TextIO

import numpy as np


@dataclass(frozen=True)
class TrainEvent:
    """One progress tick: `step` of `total_steps` optimiser steps done, in `epoch` (1-based)."""

    epoch: int
    epochs: int
    step: int
    total_steps: int
    loss: float
    valid_ndcg10: float | None = None  # set on the last tick of an epoch, after validation
    elapsed_s: float = 0.0
    model: str = ""  # the model training, named by a job that trains several at once (`jobs.lanes`)

    @property
    def eta_s(self) -> float:
        """Seconds left if the remaining steps run at the rate so far."""
        return self.elapsed_s / max(self.step, 1) * (self.total_steps - self.step)


@dataclass
class FitReport:
    """What training did: epochs run, the loss curve, and validation NDCG@10, MRR and log-likelihood per epoch.

    The measure named by `selected_on` (`LoopConfig.select`: MRR by default) decides early stopping and whether an
    epoch beats the start; NDCG@10 is what people read.
    """

    epochs: int = 0
    best_epoch: int = 0
    steps: int = 0  # optimiser steps run (an epoch may pass over a small training set several times)
    losses: list[float] = field(default_factory=list)
    valid_ndcg10: list[float] = field(default_factory=list)
    valid_mrr: list[float] = field(default_factory=list)
    valid_log_likelihood: list[float] = field(default_factory=list)
    start_valid_ndcg10: float | None = None  # the starting weights' (best_epoch 0 unless an epoch beat them)
    start_valid_mrr: float | None = None
    start_valid_log_likelihood: float | None = None
    selected_on: str = ""  # the validation measure that chose the kept weights ("mrr" or "log_likelihood")
    start_gain_p: float | None = None  # paired test of the best epoch's validation gain over the start
    seconds: float = 0.0  # wall time, validation included
    train_seconds: float = 0.0  # optimiser steps only
    sequences_per_second: float = 0.0
    stopped_early: bool = False

    @property
    def best_valid_ndcg10(self) -> float | None:
        """Validation NDCG@10 of the epoch whose weights were kept (None without validation)."""
        if not self.valid_ndcg10:
            return None
        return self.valid_ndcg10[self.best_epoch - 1] if self.best_epoch else self.start_valid_ndcg10

    def kept(self) -> str:
        """Which weights training kept and why, in words (for logs and the CLI)."""
        if self.best_epoch:
            gain = "" if self.start_gain_p is None else f"; gain over the start p={self.start_gain_p:.3g}"
            return f"epoch {self.best_epoch} of {self.epochs}, {self.steps} optimiser steps in all{gain}"
        if self.start_gain_p is not None:  # tested against the start, and not significant
            curve, start = self.selection_curve()
            best = int(np.argmax(curve)) + 1
            return (
                f"the untrained starting weights: the best of {self.epochs} epochs (epoch {best}, validation NDCG@10 "
                f"{self.valid_ndcg10[best - 1]:.4f}, {self.selected_on} {curve[best - 1]:.4f} against "
                f"{start:.4f}) was not significantly better (p={self.start_gain_p:.3g})"
            )
        return f"the untrained starting weights: none of {self.epochs} epochs ranked better on validation"

    def selection_curve(self) -> tuple[list[float], float | None]:
        """The selection measure per epoch and at the start."""
        if self.selected_on == "log_likelihood":
            return self.valid_log_likelihood, self.start_valid_log_likelihood
        return self.valid_mrr, self.start_valid_mrr

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def epoch_logger(label: str, stream: TextIO | None = None) -> Callable[[TrainEvent], None]:
    """A progress callback printing one line per validated epoch (for logs, benchmarks, non-terminals)."""

    def log(event: TrainEvent) -> None:
        if event.valid_ndcg10 is not None:
            print(
                f"{label}: epoch {event.epoch}/{event.epochs} loss {event.loss:.4f} "
                f"val_ndcg@10 {event.valid_ndcg10:.4f} ({event.elapsed_s:.0f}s)",
                file=stream or sys.stderr,
                flush=True,
            )

    return log


class Cancelled(Exception):
    """Raised inside training when the caller asked it to stop; nothing half-written is kept."""
