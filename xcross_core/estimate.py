"""How long a proof of concept will take on this machine, before it starts and while it runs.

The work of every model in a PoC is counted from the sizes (training sequences, passes, epochs, streams,
validation and test prompts) and turned into seconds with speeds measured here, on the target's own
prompts (`measure_speed`: a few training steps and one encoding batch, seconds on a laptop). The models run
in lanes (`jobs.lanes`), so the run's wall time is the lanes' schedule of those seconds, each model slower on
its lane's share of the cores (`wall_seconds`). The same per-model estimates weight the PoC's overall progress
bar, so a model that is half the work fills half the bar; the time remaining is then read from the rate
actually achieved.

    speed = measure_speed(split, adapters, lanes=lanes)
    plan = estimate_poc(keys, split, full_train_users, epochs, speed)
    wall_seconds(plan, speed, lanes)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from xcross_core.evaluation.splits import Split, validation_set
from xcross_core.memory import release_freed
from xcross_core.models.registry import Cost, plan_entry
from xcross_core.models.text import TextConfig, TextRecommender, training_sequences
from xcross_core.training.loop import LoopConfig, backward_in_pieces, passes_per_epoch


@dataclass(frozen=True)
class Speed:
    """Seconds per prompt on this machine, measured on the target's own prompts."""

    train_prompt_s: float  # one prompt through a LoRA training step (forward, backward, update)
    xcross_prompt_s: float  # one prompt through an X-Cross training step over the chosen sources
    encode_prompt_s: float  # one prompt encoded without gradients, one stream
    xcross_encode_prompt_s: float  # one prompt encoded by X-Cross without gradients (n streams, shared below)
    load_s: float  # loading the base model and its adapters once
    sasrec_sequence_s: float = 0.0  # one sequence through a SASRec training step (measured when asked)
    lane_slowdown: float = 1.0  # an X-Cross step in a lane, beside a LoRA step in another, over one alone
    probe_s: float = 0.0  # this measurement's own seconds (a run measures its speed first)


@dataclass(frozen=True)
class StageEstimate:
    """One model of the plan and the seconds its training and evaluation should take with the machine to itself."""

    key: str
    seconds: float
    alone: bool = False  # it runs with no other model beside it (its registry entry's `alone`)


def _median_seconds(step: Callable[[], object], repeats: int) -> float:
    step()  # the first call warms up allocators and kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def train_step(model: TextRecommender, batch: list[tuple[np.ndarray, int]]) -> Callable[[], None]:
    """One full optimiser step of `model` on `batch`, as the training loop takes it, at learning rate 0: timing it
    does not change the weights. The caller puts the encoder in training mode."""
    params = [p for p in model.encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=0.0)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        backward_in_pieces(model.encoder, batch, model._loss, torch.device("cpu"), model.pieces)
        optimizer.step()
        release_freed()

    return step


def train_step_seconds(model: TextRecommender, batch: list[tuple[np.ndarray, int]], repeats: int) -> float:
    """Median seconds of `repeats` full optimiser steps on `batch`, after one warm-up; the weights do not change."""
    model.encoder.train()
    try:
        return _median_seconds(train_step(model, batch), repeats)
    finally:
        model.encoder.eval()


def measure_speed(
    split: Split,
    adapters: Sequence[str | Path],
    *,
    costs: Collection[Cost] = (),
    lanes: int = 1,
    batch_size: int = 16,
    repeats: int = 1,
) -> Speed:
    """Time LoRA and X-Cross training steps and prompt encoding on one batch of `split`'s training prompts, a SASRec
    step when the plan's `costs` hold one, and with more than one of `lanes`, an X-Cross step in one lane while LoRA
    steps run in another (`Speed.lane_slowdown`).

    Each is timed after one warm-up call; per-prompt costs hardly depend on the batch size on a CPU, so a small
    batch keeps the probe to seconds.
    """
    from xcross_core.models.adapters import lora_recommender
    from xcross_core.models.xcross import xcross_recommender

    sequences = training_sequences(split)
    if not sequences:
        raise ValueError("no training sequences to measure the speed on: the training split is empty")
    start = time.perf_counter()
    text = TextConfig()
    domain = split.domain
    lora = lora_recommender(domain, _base_of(adapters), text=text)
    load_s = time.perf_counter() - start
    # The batch of median prompt length: cost grows with length, and training batches are grouped by it.
    batches = lora.cut_batches(sequences, batch_size, np.random.default_rng(0))
    batch = sorted(batches, key=lambda b: lora.prompt_lengths([h for h, _ in b]).mean())[len(batches) // 2]
    per = len(batch)
    train = train_step_seconds(lora, batch, repeats) / per
    with torch.no_grad():
        encode = _median_seconds(lambda: lora.prompt_vectors([h for h, _ in batch]), repeats) / per
    xcross = xcross_recommender(domain, adapters, text=text)
    xcross_train = train_step_seconds(xcross, batch, repeats) / per
    with torch.no_grad():
        xcross_encode = _median_seconds(lambda: xcross.prompt_vectors([h for h, _ in batch]), repeats) / per
    slowdown = _beside_seconds(xcross, lora, batch, lanes) / per / xcross_train if lanes > 1 else 1.0
    sasrec_s = 0.0
    if Cost.TRAINS_SASREC in costs:
        from xcross_core.models.sasrec import SASRec

        model = SASRec(domain)
        seqs = sequences[: model.loop.batch_size]
        model.network.train()
        sasrec_s = _median_seconds(
            lambda: model._loss(model.network, seqs, torch.device("cpu")).backward(), repeats
        ) / len(seqs)
    return Speed(train, xcross_train, encode, xcross_encode, load_s, sasrec_s, slowdown, time.perf_counter() - start)


def _beside_seconds(
    model: TextRecommender, other: TextRecommender, batch: list[tuple[np.ndarray, int]], lanes: int
) -> float:
    """Seconds of one training step of `model` on one lane's share of the threads while `other` repeats its steps on
    another lane: the pace of a proof of concept's models, which run side by side and contend for the machine."""
    threads = torch.get_num_threads()
    share = max(1, threads // lanes)
    done = threading.Event()

    def beside(step: Callable[[], None]) -> None:
        torch.set_num_threads(share)
        while not done.is_set():
            step()

    for recommender in (model, other):
        recommender.encoder.train()
    lane = threading.Thread(target=beside, args=(train_step(other, batch),), daemon=True)
    step = train_step(model, batch)
    torch.set_num_threads(share)
    try:
        lane.start()
        start = time.perf_counter()
        step()  # warm already: it was timed on all threads
        return time.perf_counter() - start
    finally:
        done.set()
        lane.join()
        torch.set_num_threads(threads)
        for recommender in (model, other):
            recommender.encoder.eval()


def _base_of(adapters: Sequence[str | Path]) -> str:
    from xcross_core.models.adapters import read_metadata

    return read_metadata(adapters[0]).base


def _text_model_seconds(
    train_prompt_s: float, encode_prompt_s: float, n_train: int, loop: LoopConfig, valid_cases: int, test_cases: int
) -> float:
    """Seconds of training `n_train` sequences for `loop`, fitting the item head's starting scale, validating after
    every epoch and at the start, and encoding the test prompts; loading is counted by the caller."""
    passes = passes_per_epoch(loop, n_train)
    train = n_train * passes * loop.epochs * train_prompt_s
    calibration = min(TextConfig.calibration_cases, n_train)
    return train + (calibration + (loop.epochs + 1) * valid_cases + test_cases) * encode_prompt_s


def estimate_poc(
    keys: Sequence[str],
    split: Split,
    full_train: int,
    epochs: int | None,
    speed: Speed,
) -> list[StageEstimate]:
    """Seconds each model of a PoC plan (`keys`, in run order; a path is a source run alone) should take, from the
    cost its registry entry declares, on the training users it trains on (`full_train` sequences for one that
    trains on all of them).

    Counts assume every model runs its full epoch budget: early stopping only makes a run shorter.
    """
    valid_cases = len(validation_set(split, TextConfig.valid_cases, TextConfig.min_valid_cases, 0))
    n_train, n_test = len(training_sequences(split)), len(split.test)
    out = []
    for key in keys:
        entry = plan_entry(key)
        size = full_train if entry.users == "all" else n_train
        loop = entry.training(epochs=epochs)
        if entry.cost is Cost.TRAINS_XCROSS:
            # The test users are encoded twice: once to rank, once to record their contribution weights.
            seconds = speed.load_s + _text_model_seconds(
                speed.xcross_prompt_s, speed.xcross_encode_prompt_s, size, loop, valid_cases, 2 * n_test
            )
        elif entry.cost is Cost.TRAINS_TEXT:
            seconds = speed.load_s + _text_model_seconds(
                speed.train_prompt_s, speed.encode_prompt_s, size, loop, valid_cases, n_test
            )
        elif entry.cost is Cost.TRAINS_SASREC:
            seconds = size * loop.epochs * speed.sasrec_sequence_s
        elif entry.cost is Cost.COUNTS:
            seconds = 0.0
        else:  # Cost.SCORES: loaded and run on the test users only
            seconds = speed.load_s + n_test * speed.encode_prompt_s
        out.append(StageEstimate(key, seconds, alone=entry.alone))
    if out:  # the catalogue is encoded once, by the item tower, when the first language model needs it
        catalogue = split.domain.n_items * speed.encode_prompt_s
        out[0] = replace(out[0], seconds=out[0].seconds + catalogue)
    return out


def total_seconds(plan: Sequence[StageEstimate]) -> float:
    """The whole plan's estimated work: its models' seconds one after another."""
    return float(sum(stage.seconds for stage in plan))


def wall_seconds(plan: Sequence[StageEstimate], speed: Speed, lanes: int) -> float:
    """The plan's estimated wall seconds in `lanes` (`jobs.lanes`): each model starts in plan order on the first
    free lane, at `speed.lane_slowdown` times its seconds when lanes share the cores; one that runs alone waits
    for the lanes to empty and holds them."""
    slowdown = speed.lane_slowdown if lanes > 1 else 1.0
    free = [0.0] * lanes  # when each lane is next free
    for stage in plan:
        if stage.alone:
            free = [max(free)] * lanes
        lane = free.index(min(free))
        free[lane] += stage.seconds * slowdown
        if stage.alone:
            free = [free[lane]] * lanes
    return max(free, default=0.0)


def human_seconds(seconds: float | None) -> str:
    """Seconds as people read them: '45 s', '4 min 05 s', '1 h 02 min'; '–' when unknown."""
    if seconds is None:
        return "–"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
