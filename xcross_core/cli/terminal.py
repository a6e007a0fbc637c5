"""What a job shows on the terminal while it runs: a progress bar per stage, stage lines and notes on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable

from tqdm import tqdm

from xcross_core.jobs.hooks import Hooks, Stage
from xcross_core.training.events import TrainEvent, epoch_logger


def progress_bar(label: str) -> Callable[[TrainEvent], None]:
    """Training progress on stderr: a live bar on a terminal, one line per epoch in logs."""
    if not sys.stderr.isatty():
        return epoch_logger(label)
    bar = None

    def update(event: TrainEvent) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=event.total_steps, desc=label, unit="step", file=sys.stderr, leave=False)
        bar.n = event.step
        postfix = {"epoch": f"{event.epoch}/{event.epochs}", "loss": f"{event.loss:.3f}"}
        if event.valid_ndcg10 is not None:
            postfix["val_ndcg@10"] = f"{event.valid_ndcg10:.4f}"
        bar.set_postfix(postfix, refresh=True)

    return update


def terminal_hooks() -> Hooks:
    """Hooks for a job run from the terminal: a bar per stage ("[i/n] label" lines when there are several
    stages, the estimated time first when the job has one; stages that run at once each keep their own bar), and
    every note on stderr."""
    current = {"bar": progress_bar("training")}
    bars: dict[str, Callable[[TrainEvent], None]] = {}

    def stage(s: Stage) -> None:
        if s.index == 1 and s.estimate_s is not None:
            from xcross_core.estimate import human_seconds  # only jobs with an estimate, which load torch anyway

            print(f"estimated time for the whole run: {human_seconds(s.estimate_s)}", file=sys.stderr)
        if s.total > 1:
            print(f"[{s.index}/{s.total}] {s.label}", file=sys.stderr, flush=True)
        current["bar"] = bars[s.label] = progress_bar(s.label)

    return Hooks(
        progress=lambda event: bars.get(event.model, current["bar"])(event),
        stage=stage,
        note=lambda text: print(text, file=sys.stderr, flush=True),
    )
