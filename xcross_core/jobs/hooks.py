"""How a running job talks to whoever runs it: progress events, cancel polling, stages and notes for the user.

The CLI turns these into progress bars and stderr lines, the worker into rows of the run store, a bench into
log lines, a test into lists. Every hook is optional: `Hooks()` runs a job silently.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from xcross_core.training.events import TrainEvent, epoch_logger


@dataclass(frozen=True)
class Stage:
    """A part of a job that starts, for progress displays (in a job with lanes, one may start while another runs).

    `estimate_s` is the whole job's first estimate (None if not estimated).
    """

    index: int  # 1-based; 0 for a preparation step before the plan is known
    total: int
    label: str
    estimate_s: float | None = None


@dataclass(frozen=True)
class Overall:
    """Where a job whose stages carry estimated shares stands as a whole: one bar for the whole job."""

    fraction: float  # of the job's estimated work done (each stage weighted by its estimate)
    running: tuple[str, ...]  # labels of the stages running now


@dataclass(frozen=True)
class Hooks:
    """Callbacks a job calls while it runs."""

    progress: Callable[[TrainEvent], None] | None = None  # every training step
    cancel: Callable[[], bool] | None = None  # polled during training; True stops it (`Cancelled` is raised)
    stage: Callable[[Stage], None] | None = None  # when each stage of the job starts
    overall: Callable[[Overall], None] | None = None  # the whole job's progress, when its stages are estimated
    note: Callable[[str], None] | None = None  # a line for the user: a warning, the split used, a model's score

    def on_stage(self, stage: Stage) -> None:
        """Tell the `stage` hook, if any, that `stage` starts."""
        if self.stage is not None:
            self.stage(stage)

    def on_overall(self, overall: Overall) -> None:
        """Tell the `overall` hook, if any, where the whole job stands."""
        if self.overall is not None:
            self.overall(overall)

    def say(self, text: str) -> None:
        """Pass `text` to the `note` hook, if any."""
        if self.note is not None:
            self.note(text)


#: No hooks: the job runs silently.
SILENT = Hooks()


def logged(prefix: str = "", stream: TextIO | None = None) -> Hooks:
    """Hooks that log to `stream` (default stderr): each stage, one line per validated epoch (labelled with the
    model when the job names it), and the notes."""
    out = stream or sys.stderr
    current: dict[str, Callable[[TrainEvent], None]] = {"log": epoch_logger(prefix.strip() or "training", out)}

    def stage(s: Stage) -> None:
        print(f"{prefix}[{s.index}/{s.total}] {s.label}", file=out, flush=True)
        current["log"] = epoch_logger(f"{prefix}  {s.label}", out)

    def progress(event: TrainEvent) -> None:
        log = epoch_logger(f"{prefix}  {event.model}", out) if event.model else current["log"]
        log(event)

    return Hooks(
        progress=progress,
        stage=stage,
        note=lambda text: print(f"{prefix}{text}", file=out, flush=True),
    )
