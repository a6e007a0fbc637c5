"""The PoC's time estimate: counted from the sizes, converted with speeds measured here, and used to weight
the stages of the run's one progress bar."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.conftest import small_poc_params
from xcross_core.estimate import (
    Speed,
    StageEstimate,
    estimate_poc,
    human_seconds,
    measure_speed,
    total_seconds,
    wall_seconds,
)
from xcross_core.evaluation.splits import every_next_item, make_split
from xcross_core.jobs import poc
from xcross_core.jobs.hooks import Hooks, Overall, Stage
from xcross_core.jobs.lanes import lane_count
from xcross_core.jobs.poc import PocSpec, plan_keys
from xcross_core.models.adapters import ADAPTER_LOOP
from xcross_core.models.registry import Cost
from xcross_core.models.text import TextConfig, training_sequences

SPEED = Speed(
    train_prompt_s=0.1,
    xcross_prompt_s=0.25,
    encode_prompt_s=0.01,
    xcross_encode_prompt_s=0.02,
    load_s=2.0,
    sasrec_sequence_s=0.001,
)


@pytest.fixture(scope="module")
def split(sample_electronics):
    return make_split(sample_electronics, "users", seed=0, max_users=200, fraction=0.5)


def test_each_model_is_counted_from_its_sizes(split) -> None:
    full = 3 * len(training_sequences(split))
    keys = ["x-cross", "lora", "lora-full", "popularity", "sasrec", "static-mix", "gating", "uniform-merge"]
    keys.append("/adapters/Sports")
    stages = estimate_poc(keys, split, full, epochs=2, speed=SPEED)
    plan = {s.key: s.seconds for s in stages}
    n, tests = len(training_sequences(split)), len(split.test)
    valid = min(len(every_next_item(split.valid)), TextConfig.valid_cases)
    passes = -(-ADAPTER_LOOP.min_epoch_steps // -(-n // ADAPTER_LOOP.batch_size))  # small sets pass several times
    catalogue = split.domain.n_items * SPEED.encode_prompt_s
    calibration = min(n, TextConfig.calibration_cases)  # the item head's starting scale, fitted on training cuts
    xcross = 2.0 + n * passes * 2 * 0.25 + (calibration + 3 * valid) * 0.02 + 2 * tests * 0.02
    assert plan["x-cross"] == pytest.approx(xcross + catalogue)
    assert plan["lora"] == pytest.approx(2.0 + n * passes * 2 * 0.1 + (calibration + 3 * valid) * 0.01 + tests * 0.01)
    assert plan["static-mix"] == plan["gating"] == plan["lora"]  # one stream trains, like a LoRA
    full_passes = -(-ADAPTER_LOOP.min_epoch_steps // -(-full // ADAPTER_LOOP.batch_size))
    full_calibration = min(full, TextConfig.calibration_cases)
    assert plan["lora-full"] == pytest.approx(
        2.0 + full * full_passes * 2 * 0.1 + (full_calibration + 3 * valid) * 0.01 + tests * 0.01
    )
    assert plan["popularity"] == 0.0
    assert plan["sasrec"] == pytest.approx(n * 2 * 0.001)
    assert plan["/adapters/Sports"] == pytest.approx(2.0 + tests * 0.01)  # zero-shot: loaded and tested only
    assert plan["uniform-merge"] == plan["/adapters/Sports"]
    assert [s.key for s in stages if s.alone] == ["sasrec"]  # its dropout draws from the global generator
    assert total_seconds(estimate_poc(keys, split, full, 2, SPEED)) == pytest.approx(sum(plan.values()))


def test_the_speed_is_measured_without_changing_any_weights(split, source_adapters) -> None:
    speed = measure_speed(split, source_adapters, costs={Cost.TRAINS_SASREC}, lanes=2, batch_size=8, repeats=1)
    assert all(value > 0 for value in vars(speed).values())
    assert speed.encode_prompt_s < speed.train_prompt_s  # a forward pass is cheaper than a training step


def test_a_poc_reports_its_estimate_stages_and_one_bar_for_the_whole_run(source_adapters, tmp_path) -> None:
    params = small_poc_params(source_adapters[:2], baselines=["popularity", "zero-shot"])
    config = PocSpec.from_dict(params | {"out": str(tmp_path / "poc")})
    stages: list[Stage] = []
    overall: list[Overall] = []
    report = poc.run(config, Hooks(stage=stages.append, overall=overall.append))
    assert stages[0].index == 0 and stages[0].estimate_s is None  # measuring the speed comes first
    planned = stages[1:]
    # Two models run at once, so the second may announce itself first.
    assert sorted(s.index for s in planned) == list(range(1, len(plan_keys(config.adapters, config.baselines)) + 1))
    assert all(s.estimate_s == planned[0].estimate_s > 0 for s in planned)
    assert report["estimated_seconds"] == pytest.approx(planned[0].estimate_s, abs=0.1)
    fractions = [o.fraction for o in overall]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0) and overall[-1].running == ()
    assert max(len(o.running) for o in overall) == lane_count(len(planned))  # X-Cross beside the target LoRA


def test_the_wall_time_schedules_the_models_in_lanes() -> None:
    speed = replace(SPEED, lane_slowdown=1.5)
    plan = [StageEstimate("x-cross", 10.0), StageEstimate("lora", 4.0), StageEstimate("popularity", 0.0)]
    plan.append(StageEstimate("lora-full", 4.0))
    # On half the cores each: X-Cross takes 15 s on one lane while the other runs the rest in 6 + 0 + 6 s.
    assert wall_seconds(plan, speed, 2) == pytest.approx(15.0)
    assert wall_seconds(plan, speed, 1) == pytest.approx(total_seconds(plan)) == 18.0
    # A model that runs alone waits for the lanes to empty, and those after it wait for it.
    plan = [StageEstimate("x-cross", 10.0), StageEstimate("sasrec", 2.0, alone=True), StageEstimate("lora", 4.0)]
    assert wall_seconds(plan, speed, 2) == pytest.approx(15.0 + 3.0 + 6.0)


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "–"), (4.4, "4 s"), (59.6, "1 min 00 s"), (245, "4 min 05 s"), (3720, "1 h 02 min")]
)
def test_times_read_as_people_say_them(seconds, text) -> None:
    assert human_seconds(seconds) == text


def test_a_kept_speed_is_read_back_instead_of_measured_and_the_run_starts_from_it(
    source_adapters, tmp_path, sample_electronics
) -> None:
    """What a page measured (kept in a speed cache) is what its run reads: no probe, the same first estimate."""
    params = small_poc_params(source_adapters[:2], baselines=["popularity"]) | {"speed_cache": str(tmp_path / "s")}
    page = PocSpec.from_dict(params | {"fraction": 0.5})  # the budget is not part of the key: speed is per prompt
    assert poc.kept_speed(page) is None
    measured = poc.poc_speed(page, sample_electronics)
    assert measured.probe_s > 0 and len(list((tmp_path / "s").glob("speed-*.json"))) == 1
    config = PocSpec.from_dict(params | {"out": str(tmp_path / "poc")})
    kept = poc.kept_speed(config)
    assert kept == measured  # the measured figures themselves: no second measurement
    ran = replace(kept, probe_s=0.0)  # a run that reads it back spends nothing measuring
    expected = poc.poc_seconds(ran, poc.poc_estimate(config, sample_electronics, ran))
    stages: list[Stage] = []
    report = poc.run(config, Hooks(stage=stages.append))
    assert min(s.index for s in stages) == 1  # no "measuring this machine's speed" stage
    assert report["estimated_seconds"] == pytest.approx(expected, abs=0.1)
    other = PocSpec.from_dict(params | {"adapters": [str(a) for a in source_adapters[1:3]]})
    assert poc.kept_speed(other) is None  # other sources: measured afresh
