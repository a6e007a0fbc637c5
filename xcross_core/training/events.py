"""What a training run reports while it runs and when it ends (read by the CLI and the app)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


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

    @property
    def eta_s(self) -> float:
        """Seconds left if the remaining steps run at the rate so far."""
        return self.elapsed_s / max(self.step, 1) * (self.total_steps - self.step)


@dataclass
class FitReport:
    """What training did: epochs run, the loss curve and validation NDCG@10 per epoch."""

    epochs: int = 0
    best_epoch: int = 0
    losses: list[float] = field(default_factory=list)
    valid_ndcg10: list[float] = field(default_factory=list)
    seconds: float = 0.0  # wall time, validation included
    train_seconds: float = 0.0  # optimiser steps only
    sequences_per_second: float = 0.0
    stopped_early: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class Cancelled(Exception):
    """Raised inside training when the caller asked it to stop; nothing half-written is kept."""
