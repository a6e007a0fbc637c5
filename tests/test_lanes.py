"""Lanes: a job's models run two at a time in one process, each lane on a fixed share of the cores, and a model
draws the same random numbers as alone."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from tests.test_loop import Noisy, _noisy_loss
from xcross_core.jobs.hooks import Hooks, Overall, Stage
from xcross_core.jobs.lanes import Task, run_lanes
from xcross_core.training.events import Cancelled, TrainEvent
from xcross_core.training.loop import LoopConfig, fit_loop

TWO_CORES = pytest.mark.skipif(torch.get_num_threads() < 2, reason="lanes share at least two threads")


def _event(step: int, total: int) -> TrainEvent:
    return TrainEvent(1, 1, step, total, 0.0)


@TWO_CORES
def test_models_run_two_at_a_time_on_a_share_of_the_threads_and_come_back_in_plan_order() -> None:
    cores = torch.get_num_threads()
    both = threading.Barrier(2, timeout=20)  # broken unless the first two models run at the same time
    threads: dict[str, int] = {}
    calls: list[threading.Thread] = []

    def make(key: str) -> Task[str]:
        def run(progress, cancel) -> str:
            if key in "ab":
                both.wait()
            progress(_event(1, 2))
            threads[key] = torch.get_num_threads()
            progress(_event(2, 2))
            return key.upper()

        return Task(f"model {key}", run)

    stages: list[Stage] = []
    overall: list[Overall] = []
    events: list[TrainEvent] = []

    def heard(hook):
        def call(value) -> None:
            calls.append(threading.current_thread())
            hook(value)

        return call

    hooks = Hooks(progress=heard(events.append), stage=heard(stages.append), overall=heard(overall.append))
    assert run_lanes(["a", "b", "c"], make, hooks, [0.5, 0.25, 0.25], estimate_s=9.0, lanes=2) == ["A", "B", "C"]
    assert threads == {"a": cores // 2, "b": cores // 2, "c": cores // 2}  # a lane's share, even when alone
    assert sorted(s.index for s in stages) == [1, 2, 3] and all(s.total == 3 and s.estimate_s == 9.0 for s in stages)
    assert {e.model for e in events} == {"model a", "model b", "model c"}
    fractions = [o.fraction for o in overall]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert any(o.running == ("model a", "model b") for o in overall)
    assert set(calls) == {threading.main_thread()}  # hooks are only ever called on the calling thread
    assert torch.get_num_threads() == cores


@TWO_CORES
def test_a_model_that_cannot_share_the_process_runs_alone() -> None:
    spans: dict[str, tuple[float, float]] = {}

    def make(key: str) -> Task[None]:
        def run(progress, cancel) -> None:
            start = time.perf_counter()
            time.sleep(0.2)
            spans[key] = (start, time.perf_counter())

        return Task(key, run, alone=key == "sasrec")

    run_lanes(["x-cross", "sasrec", "lora", "popularity"], make, Hooks(), [0.25] * 4, lanes=2)
    start, end = spans.pop("sasrec")
    assert all(e <= start or s >= end for s, e in spans.values())


def test_a_failing_model_stops_the_other_lane_and_its_error_is_raised() -> None:
    stopped = threading.Event()

    def make(key: str) -> Task[None]:
        def run(progress, cancel) -> None:
            if key == "bad":
                time.sleep(0.1)
                raise ValueError("out of memory")
            while not cancel():
                time.sleep(0.01)
            stopped.set()
            raise Cancelled("stopped")

        return Task(key, run)

    with pytest.raises(ValueError, match="out of memory"):
        run_lanes(["long", "bad", "never"], make, Hooks(), [0.4, 0.3, 0.3], lanes=2)
    assert stopped.is_set()


def test_a_cancelled_job_raises_cancelled_and_starts_nothing_more() -> None:
    started: list[str] = []

    def make(key: str) -> Task[None]:
        def run(progress, cancel) -> None:
            started.append(key)
            while not cancel():
                time.sleep(0.01)
            raise Cancelled("stopped")

        return Task(key, run)

    with pytest.raises(Cancelled):
        run_lanes(["a", "b", "c", "d"], make, Hooks(cancel=lambda: True), [0.25] * 4, lanes=2)
    assert len(started) <= 2


def test_models_trained_side_by_side_draw_what_they_draw_alone() -> None:
    config = LoopConfig(epochs=3, batch_size=2, lr=0.1)
    seeds = {"a": 1, "b": 2}

    def train(key: str, progress=None, cancel=None) -> torch.Tensor:
        model = Noisy()  # seeds torch's global generator, as a model's making does
        data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        fit_loop(model, data, _noisy_loss, LoopConfig(**{**config.__dict__, "seed": seeds[key]}), progress=progress)
        return model.layer[1].weight.detach().clone()

    alone = [train("a"), train("b")]

    def make(key: str) -> Task[torch.Tensor]:
        model = Noisy()
        data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        loop = LoopConfig(**{**config.__dict__, "seed": seeds[key]})

        def run(progress, cancel) -> torch.Tensor:
            fit_loop(model, data, _noisy_loss, loop, progress=lambda e: (progress(e), torch.rand(3)), cancel=cancel)
            return model.layer[1].weight.detach().clone()

        return Task(key, run)

    together = run_lanes(["a", "b"], make, Hooks(), [0.5, 0.5], lanes=2)
    assert all(torch.equal(x, y) for x, y in zip(alone, together, strict=True))
