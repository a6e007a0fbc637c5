"""Background runs in real worker processes: success, cancellation, failure, a worker killed mid-epoch, and a proof
of concept that trains a missing source adapter first."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import SAMPLE, small_poc_params
from xcross_core import worker
from xcross_core.cli.options import cli_words
from xcross_core.data.advice import Message
from xcross_core.jobs.hooks import Overall, Stage
from xcross_core.jobs.poc import PocSpec
from xcross_core.models.adapters import read_metadata
from xcross_core.models.library import list_adapters
from xcross_core.store import RunStore
from xcross_core.worker import Workspace, launch


def wait_for(store: RunStore, run_id: str, done, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = store.get(run_id)
        if done(run):
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not get there in {timeout:.0f} s: {store.get(run_id)}")


def wait_exit(pid: int, timeout: float = 60.0) -> None:
    """Wait until process `pid` (our child) has exited, reaping it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.1)
    raise AssertionError(f"worker {pid} still running after {timeout:.0f} s")


def training(run) -> bool:
    return run.status == "running" and bool(run.progress) and run.progress.get("step", 0) > 0


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    return Workspace(tmp_path / "studio")


def test_a_poc_runs_to_completion_in_the_background(workspace, source_adapters) -> None:
    run = launch(workspace, "poc", "first", small_poc_params(source_adapters[:2]))
    assert run.status in ("queued", "running") and run.pid
    store = workspace.store()
    done = wait_for(store, run.id, lambda r: r.status not in ("queued", "running"))
    assert done.status == "succeeded", (done.error, (workspace.logs / f"{run.id}.log").read_text()[-2000:])
    assert Path(done.artifact) == workspace.output("poc", "first")
    assert (Path(done.artifact) / "results.json").is_file()
    assert set(done.metrics["comparisons"]) == {"target LoRA (25% of users)", "popularity"}  # each against X-Cross
    assert done.progress["stage_index"] == done.progress["stages"] == 3
    # One bar for the whole run: the last stage (popularity, estimated at no time) starts where the language
    # models, weighted by their estimates, end.
    assert done.progress["overall"] == pytest.approx(1.0) and done.progress["estimate_s"] > 0
    assert done.progress["overall_eta_s"] >= 0
    assert done.progress["curve"], "the loss curve is recorded"
    # The record keeps its paths relative to the workspace; they resolve wherever the workspace now is.
    recorded = [done.params["interactions"], done.params["items"], *done.params["adapters"]]
    assert not any(Path(p).is_absolute() for p in recorded)
    resolved = workspace.run_params(done)
    assert resolved["interactions"] == str((SAMPLE / "interactions.csv").resolve())
    assert resolved["adapters"] == [str(Path(a).resolve()) for a in source_adapters[:2]]
    wait_exit(run.pid)


def test_cancelling_stops_the_worker_and_leaves_no_folder(workspace, source_adapters) -> None:
    run = launch(workspace, "poc", "cancel-me", small_poc_params(source_adapters[:1], max_users=400, epochs=50))
    store = workspace.store()
    wait_for(store, run.id, training)
    store.cancel(run.id)
    wait_exit(run.pid)
    assert store.get(run.id).status == "cancelled"
    assert not workspace.output("poc", "cancel-me").exists()


def test_a_failing_run_is_marked_failed_with_a_readable_reason(workspace, source_adapters) -> None:
    params = small_poc_params(source_adapters[:1], target="Garden")
    run = launch(workspace, "poc", "no-such-domain", params)
    done = wait_for(workspace.store(), run.id, lambda r: r.status not in ("queued", "running"))
    assert done.status == "failed"
    assert "Garden" in done.error and "Traceback" not in done.error
    assert "Traceback" in (workspace.logs / f"{run.id}.log").read_text()  # the details stay in the log


@pytest.mark.parametrize("name", ["../escape", "/abs/path", "nul\x00byte", ""])
def test_unsafe_names_are_refused_before_anything_starts(workspace, source_adapters, name) -> None:
    with pytest.raises(ValueError):
        launch(workspace, "poc", name, small_poc_params(source_adapters[:1]))
    assert workspace.store().list() == []


def test_a_bad_configuration_is_refused_before_anything_starts(workspace) -> None:
    with pytest.raises(ValueError, match="at least one source adapter"):
        launch(workspace, "poc", "empty", small_poc_params([]))
    adapter = {"interactions": str(SAMPLE / "interactions.csv"), "domain": "Sports"}
    with pytest.raises(ValueError, match="rank must be at least 1"):
        launch(workspace, "adapter", "rank zero", adapter | {"rank": 0})
    with pytest.raises(ValueError, match="unknown settings 'learning_rate'"):
        launch(workspace, "adapter", "typo", adapter | {"learning_rate": 0.1})
    with pytest.raises(ValueError, match="unknown kind of run 'sweep'"):
        launch(workspace, "sweep", "a sweep", adapter)
    assert workspace.store().list() == []


def test_a_worker_killed_mid_epoch_leaves_a_consistent_store_and_folder_and_can_be_rerun(
    workspace, source_adapters
) -> None:
    params = small_poc_params(source_adapters[:1], max_users=400, epochs=50)
    run = launch(workspace, "poc", "killed", params)
    store = workspace.store()
    wait_for(store, run.id, training)
    os.kill(run.pid, signal.SIGKILL)
    wait_exit(run.pid)
    # A fresh store (as after an app restart) notices the dead worker.
    after = RunStore(workspace.store_path).get(run.id)
    assert after.status == "failed" and "killed or crashed" in after.error
    assert not workspace.output("poc", "killed").exists()
    leftovers = [p.name for p in workspace.runs.iterdir()] if workspace.runs.exists() else []
    assert leftovers == []
    # The same run can be started again, and completes.
    again = launch(workspace, "poc", "killed", params | {"max_users": 60, "epochs": 1})
    done = wait_for(store, again.id, lambda r: r.status not in ("queued", "running"))
    assert done.status == "succeeded", done.error
    wait_exit(again.pid)


def test_sources_on_different_base_models_are_refused_before_anything_starts(workspace, source_adapters) -> None:
    bundled = str(Path(__file__).resolve().parent.parent / "sample_data" / "adapters" / "Sports")
    with pytest.raises(ValueError, match="must share one base model") as err:
        launch(workspace, "poc", "mixed", small_poc_params([source_adapters[0], bundled]))
    assert "Sports (all-MiniLM-L6-v2)" in str(err.value)
    assert workspace.store().list() == []


ADAPTER_PARAMS = {"interactions": str(SAMPLE / "interactions.csv"), "domain": "Sports"}


def test_a_worker_that_cannot_start_leaves_its_run_failed_with_the_reason(workspace, monkeypatch) -> None:
    import xcross_core.worker as worker

    def no_process(*args: object, **kwargs: object) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(worker.subprocess, "Popen", no_process)
    with pytest.raises(OSError, match="'spawn' did not start: the worker process could not be started"):
        launch(workspace, "adapter", "spawn", ADAPTER_PARAMS)
    (run,) = workspace.store().list()
    assert run.status == "failed" and "Resource temporarily unavailable" in run.error
    assert workspace.store().list(status=("queued", "running")) == []


def test_a_name_an_active_run_holds_is_refused_before_anything_starts(workspace) -> None:
    from xcross_core.store import RunRefused

    store = workspace.store()
    active = store.create("adapter", "Sports v2", {})
    store.start(active.id)  # running in this (living) process
    with pytest.raises(RunRefused, match="would write the same folder"):
        launch(workspace, "adapter", "sports V2", ADAPTER_PARAMS)
    assert [r.id for r in store.list()] == [active.id]


def test_runs_beyond_the_worker_limit_are_refused(workspace, monkeypatch) -> None:
    from xcross_core.store import RunRefused
    from xcross_core.worker import DEFAULT_MAX_WORKERS, MAX_WORKERS_ENV, max_workers

    monkeypatch.delenv(MAX_WORKERS_ENV, raising=False)
    assert max_workers() == DEFAULT_MAX_WORKERS
    store = workspace.store()
    store.start(store.create("adapter", "busy", {}).id)
    monkeypatch.setenv(MAX_WORKERS_ENV, "1")
    with pytest.raises(RunRefused, match=r"as many runs as may run at once \(1\)"):
        launch(workspace, "adapter", "one more", ADAPTER_PARAMS)
    assert len(store.list()) == 1
    for bad in ("0", "two", "-3", "1.5"):
        monkeypatch.setenv(MAX_WORKERS_ENV, bad)
        with pytest.raises(ValueError, match=f"{MAX_WORKERS_ENV} must be a whole number of at least 1"):
            launch(workspace, "adapter", "one more", ADAPTER_PARAMS)
    assert len(store.list()) == 1


def sourced_params(workspace: Workspace, adapters: list[str], **changes: object) -> dict[str, object]:
    """A small proof of concept that first trains an adapter for the sample's Sports into the workspace's library."""
    return small_poc_params(adapters, train_sources=["Sports"], library=str(workspace.adapters)) | changes


def test_a_poc_trains_a_missing_source_first_saves_it_in_the_library_and_runs_on_it(workspace, source_adapters) -> None:
    run = launch(workspace, "poc", "with sports", sourced_params(workspace, source_adapters[:1]))
    store = workspace.store()
    done = wait_for(store, run.id, lambda r: r.status not in ("queued", "running"))
    assert done.status == "succeeded", (done.error, (workspace.logs / f"{run.id}.log").read_text()[-2000:])
    # Saved in the library as the Adapters page saves one, on the other source's base model.
    trained = workspace.adapters / "Sports adapter"
    metadata = read_metadata(trained)
    assert metadata.domain == "Sports" and metadata.base == read_metadata(source_adapters[0]).base
    assert metadata.data["train_users"] > 0 and metadata.fit["epochs"] == 1
    assert list(list_adapters(workspace.adapters)["adapter"]) == ["Sports adapter"]
    # The proof of concept ran on the existing source and the one just trained.
    report = json.loads((Path(done.artifact) / "results.json").read_text())
    assert report["sources"] == ["Source0", "Sports"]
    assert report["config"]["adapters"][-1] == "../../adapters/Sports adapter"  # relative to the run folder
    # One run in the store, recorded with its paths relative to the workspace, whose progress is the whole job's:
    # the training is stage 1 of 4, then the proof of concept's three models.
    assert [r.id for r in store.list()] == [run.id]
    assert done.params["train_sources"] == ["Sports"] and done.params["library"] == "adapters"
    assert done.progress["stage_index"] == done.progress["stages"] == 4
    assert done.progress["overall"] == pytest.approx(1.0) and done.progress["estimate_s"] > 0
    stages = {point["stage"] for point in done.progress["curve"]}
    assert "training source 1 of 1: adapter for Sports" in stages and "X-Cross (25% of users)" in stages
    wait_exit(run.pid)


def test_cancelling_while_a_source_trains_stops_the_whole_run_and_leaves_no_folder(workspace, source_adapters) -> None:
    params = sourced_params(workspace, source_adapters[:1], max_users=400, epochs=50)
    run = launch(workspace, "poc", "cancel while training", params)
    store = workspace.store()
    wait_for(store, run.id, lambda r: training(r) and r.progress["stage"].startswith("training source 1 of 1"))
    store.cancel(run.id)
    wait_exit(run.pid)
    assert store.get(run.id).status == "cancelled"
    assert not workspace.output("poc", "cancel while training").exists()
    assert not workspace.adapters.exists() or not any(workspace.adapters.iterdir())  # nor a half-written adapter


def test_a_poc_with_a_source_to_train_is_checked_before_anything_starts(workspace, source_adapters) -> None:
    with pytest.raises(ValueError, match="names the target 'Electronics'"):
        launch(workspace, "poc", "leak", sourced_params(workspace, source_adapters[:1], train_sources=["Electronics"]))
    with pytest.raises(ValueError, match="library must name the adapter library"):
        launch(workspace, "poc", "nowhere", sourced_params(workspace, [], library=None))
    with pytest.raises(ValueError, match="at least one source adapter"):
        launch(workspace, "poc", "nothing", sourced_params(workspace, [], train_sources=[]))
    assert workspace.store().list() == []


def test_the_time_left_follows_the_work_s_pace_and_never_strays_past_its_bounds(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 240 s estimate whose first 100 s are the speed probe: the time left is the estimate's for the work left,
    scaled by the pace of the work alone and held within PACE_BOUNDS (the rate of the whole run so far, probe
    included, once extrapolated 5 s of work at 2% into over an hour)."""
    clock = [0.0]
    monkeypatch.setattr(worker.time, "monotonic", lambda: clock[0])
    store = workspace.store()
    run = store.start(store.create("poc", "paced", {}).id)
    reporter = worker.Reporter(store, run.id)
    reporter.on_stage(Stage(0, 2, "measuring this machine's speed", estimate_s=240.0))
    clock[0] = 60.0
    assert reporter._overall()["overall_eta_s"] == pytest.approx(180.0)  # before any work: the estimate stands
    clock[0] = 100.0
    reporter.on_overall(Overall(0.0, ("X-Cross",)))  # the work starts when the probe ends, as planned

    def left_at(seconds: float, done: float) -> float:
        clock[0] = 100.0 + seconds
        reporter.overall = Overall(done, ("X-Cross",))
        return reporter._overall()["overall_eta_s"]

    planned = 140.0  # the estimate's seconds for the work
    assert left_at(0.5 * planned, 0.5) == pytest.approx(0.5 * planned)  # on pace: the estimate's own
    assert left_at(0.25 * planned, 0.1) == pytest.approx(0.9 * planned * 2.0)  # 2.5x behind pace: at most doubled
    assert left_at(3.0, 0.1) == pytest.approx(0.9 * planned * 0.5)  # far ahead of pace: at most halved
    assert left_at(30.0, 0.02) == pytest.approx(0.98 * planned * 2.0)  # the early case that said "1 h 14 min"


def test_a_failed_run_keeps_its_message_as_data_for_the_studio_to_word(workspace, source_adapters, tmp_path) -> None:
    """The store's `error` holds the library's words; the run's progress holds the message itself, whose settings
    the studio names by its own controls (the command line's flags and the library's parameters never reach it)."""
    renamed = tmp_path / "renamed.csv"
    renamed.write_text((SAMPLE / "interactions.csv").read_text().replace("user_id", "customer", 1))
    run = launch(workspace, "poc", "renamed", small_poc_params(source_adapters[:1], interactions=str(renamed)))
    done = wait_for(workspace.store(), run.id, lambda r: r.status not in ("queued", "running"))
    assert done.status == "failed" and "customer" in done.error
    kept = Message.from_dict(done.progress["error_message"])
    assert kept == done.error and "columns" in kept.options  # the same message, its settings as data
    assert "--column" not in done.error and "--column" in kept.worded(cli_words(PocSpec))
