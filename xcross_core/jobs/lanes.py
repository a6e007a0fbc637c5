"""A job's models trained side by side: lanes of one process that share the machine's cores.

A proof of concept does not keep a CPU's cores evenly busy on one model (validation, tests and a step's small
operations leave them idle), so two models at once on half the threads each finish sooner than the same two one
after the other on all of them (docs/results.md; training steps alone gain nothing, `bench/lanes.py`). A job with
several models hands them to `run_lanes`: each starts, in plan order, on the first free lane, and each lane runs on
its share of the cores. The share is fixed, even when a lane is left alone at the end: floating-point sums depend on the
number of threads, and a model's results must not depend on when the other lane's work happened to end.

Lanes share the process's caches (the item tower, the trunk) and the base's frozen weights, none of which they
write. A model is made under one lock, since making it seeds torch's global generator; its training then draws
from a generator of its own (`training.loop`), so it draws the same random numbers in a lane as alone. A model that
cannot (its registry entry's `alone`) runs alone. Only the calling thread talks to the job's hooks: lanes post
their progress to it, and it polls the job's cancel hook for them, so hooks need not be thread-safe (the worker's
run store is not).
"""

from __future__ import annotations

import gc
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import torch

from xcross_core.jobs.hooks import Hooks, Overall, Stage
from xcross_core.training.events import Cancelled, TrainEvent

#: Lanes on a machine with at least that many cores; one lane on one core.
LANES = 2
#: Seconds between polls of the job's cancel hook while lanes run.
POLL_S = 0.2

R = TypeVar("R")
Progress = Callable[[TrainEvent], None]
Cancel = Callable[[], bool]


@dataclass(frozen=True)
class Task(Generic[R]):
    """One model of a plan, made and ready to run: `run(progress, cancel)` trains and evaluates it."""

    label: str
    run: Callable[[Progress, Cancel], R]
    alone: bool = False  # no other task may run at the same time


#: A lock held while a model is made: making one seeds torch's global generator and draws from it.
making = threading.Lock()


def lane_count(tasks: int) -> int:
    """Lanes for `tasks` models: `LANES`, but no more than this thread's torch threads or the models."""
    return max(1, min(LANES, torch.get_num_threads(), tasks))


def run_lanes(
    keys: Sequence[str],
    make: Callable[[str], Task[R]],
    hooks: Hooks,
    shares: Sequence[float],
    estimate_s: float | None = None,
    lanes: int | None = None,
) -> list[R]:
    """Each key's `make(key)` then its task's `run`, on `lanes` lanes (default: `lane_count`); the results in the
    order of `keys`.

    `hooks` hear, on the calling thread: a `Stage` as each task starts (index by plan order), every training step
    (the event names its task), and an `Overall` after each, weighting task i by `shares[i]`. When the cancel hook
    says stop, or a task fails, the other lanes stop at their next step and the first error is raised
    (`Cancelled` when the job was cancelled).
    """
    cores = torch.get_num_threads()
    count = lanes or lane_count(len(keys))
    board = _Board(len(keys))
    posts: queue.Queue[tuple[str, int, object]] = queue.Queue()

    def lane() -> None:
        torch.set_num_threads(max(1, cores // count))
        while (index := board.take()) is not None:
            began = alone = False
            try:
                with making:
                    task = make(keys[index])
                alone = task.alone
                board.begin(alone)
                began = True
                posts.put(("start", index, task.label))

                def progress(event: TrainEvent, index: int = index, label: str = task.label) -> None:
                    posts.put(("step", index, replace(event, model=label)))

                posts.put(("done", index, task.run(progress, board.stop.is_set)))
            except BaseException as err:  # noqa: BLE001 - handed to the calling thread, which raises it
                board.stop.set()
                posts.put(("error", index, err))
            finally:
                task = None
                # A model's modules hold reference cycles (hooks, patched forwards): free a finished one now.
                gc.collect()
                if began:
                    board.end(alone)

    threads = [threading.Thread(target=lane, name=f"lane-{i}", daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    results: dict[int, R] = {}
    fraction, labels, errors, cancelled = [0.0] * len(keys), {}, [], False
    try:
        while any(t.is_alive() for t in threads) or not posts.empty():
            if not cancelled and hooks.cancel is not None and hooks.cancel():
                cancelled = True
                board.stop.set()
            try:
                kind, index, value = posts.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if kind == "error":
                errors.append(value)
                labels.pop(index, None)
                continue
            if kind == "start":
                labels[index] = value
                hooks.on_stage(Stage(index + 1, len(keys), value, estimate_s))
            elif kind == "step":
                fraction[index] = value.step / value.total_steps if value.total_steps else 0.0
                if hooks.progress is not None:
                    hooks.progress(value)
            else:
                fraction[index], results[index] = 1.0, value
                labels.pop(index)
            done = sum(s * f for s, f in zip(shares, fraction, strict=True))
            hooks.on_overall(Overall(min(done, 1.0), tuple(labels[i] for i in sorted(labels))))
    finally:
        board.stop.set()
        for thread in threads:
            thread.join()
        torch.set_num_threads(cores)
    if errors:
        # A lane stopped by another's failure raises Cancelled; the failure is the cause to report.
        raise next((e for e in errors if not isinstance(e, Cancelled)), errors[0])
    if len(results) < len(keys):
        raise Cancelled(f"cancelled after {len(results)} of {len(keys)} models")
    return [results[i] for i in range(len(keys))]


class _Board:
    """What the lanes share: the next task, the tasks running, whether one runs alone, and the stop flag."""

    def __init__(self, tasks: int) -> None:
        self.tasks = tasks
        self.next = self.running = self.waiting_alone = 0
        self.alone = False
        self.stop = threading.Event()
        self.cond = threading.Condition()

    def take(self) -> int | None:
        """The next task's index for the calling lane; None when none is left or the job stops."""
        with self.cond:
            if self.next >= self.tasks or self.stop.is_set():
                return None
            self.next += 1
            return self.next - 1

    def begin(self, alone: bool) -> None:
        """Wait until the task may start: a task that runs alone waits for the running ones to end, and no task
        starts while one runs alone or waits to."""
        with self.cond:
            if alone:
                self.waiting_alone += 1
                self.cond.wait_for(lambda: not self.alone and self.running == 0)
                self.waiting_alone -= 1
                self.alone = True
            else:
                self.cond.wait_for(lambda: not self.alone and self.waiting_alone == 0)
            self.running += 1

    def end(self, alone: bool) -> None:
        """The calling lane's task, begun with `alone`, ended."""
        with self.cond:
            if alone:
                self.alone = False
            self.running -= 1
            self.cond.notify_all()
