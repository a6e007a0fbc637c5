"""Background jobs: long runs execute in their own processes, recorded in the run store.

The studio (and anything else) calls `launch(workspace, kind, name, params)`: the parameters are checked as
the job's spec, the run is recorded as queued and a detached `python -m xcross_core.worker` process is
started for it. The worker rebuilds the spec from the record, marks the run running, streams progress into
the store (throttled), and ends it succeeded with its metrics and artifact folder, or failed with a one-line
reason (the traceback goes to the run's log file, never to the page). Cancelling is a store update; the
worker sees it at its next progress write and stops, leaving no half-written folder (artifacts are written
atomically). A killed worker is marked failed the next time the store is opened, so a browser refresh or an
app restart never loses track of a run.

Kinds (`JOBS`): `adapter` (`jobs.train_adapter`) and `poc` (`jobs.poc_sources`: `jobs.poc`, after training the
adapters of any source categories it names into the adapter library). A run's recorded parameters are its
spec without the output folder, paths relative to the workspace, so a workspace moved as a whole still runs
and reads its records.

`launch` refuses, before anything starts: a name whose folder exists, or that a queued or running run of the
same kind has (both would write one folder); and a run beyond `max_workers()` queued or running ones (the
environment variable XCROSS_MAX_WORKERS, default DEFAULT_MAX_WORKERS: each worker trains with every core).
A worker process that cannot be started leaves its run failed with the reason, never queued.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from xcross_core.data.advice import Message, message_of
from xcross_core.data.report import DataError
from xcross_core.jobs import poc_sources, train_adapter
from xcross_core.jobs.hooks import Hooks, Overall, Stage
from xcross_core.jobs.spec import Spec
from xcross_core.paths import artifact_dir, safe_name
from xcross_core.store import Run, RunStateError, RunStore
from xcross_core.training.events import Cancelled, TrainEvent

#: Seconds between progress writes while training (the last step of an epoch is always written).
PROGRESS_EVERY_S = 1.0
#: Loss values kept in a run's progress for the live curve.
CURVE_POINTS = 400
#: The most the pace of a run's work so far may shrink or stretch the estimate of the work left (`Reporter`).
PACE_BOUNDS = (0.5, 2.0)
#: The environment variable capping how many runs may be queued or running at once, and its default.
MAX_WORKERS_ENV = "XCROSS_MAX_WORKERS"
DEFAULT_MAX_WORKERS = 2


@dataclass(frozen=True)
class Job:
    """A kind of background run: its spec, how to run it, and the metrics its result records in the store."""

    spec: type[Spec]
    run: Callable[[Any, Hooks], Any]
    metrics: Callable[[Any], dict[str, Any]]


def _adapter_metrics(result: train_adapter.TrainedAdapter) -> dict[str, Any]:
    meta = result.metadata
    return {"trainable_parameters": meta.trainable_parameters, **meta.metrics, "data": meta.data}


def _poc_metrics(report: dict[str, Any]) -> dict[str, Any]:
    return {"seconds": report["seconds"], "comparisons": report["comparisons_vs_reference"]}


JOBS: dict[str, Job] = {
    "adapter": Job(train_adapter.TrainAdapterSpec, train_adapter.run, _adapter_metrics),
    "poc": Job(poc_sources.SourcedPocSpec, poc_sources.run, _poc_metrics),
}
KINDS = tuple(JOBS)


@dataclass(frozen=True)
class Workspace:
    """Where the studio keeps its state: the run store, adapters, proof-of-concept runs and logs."""

    root: Path

    @property
    def store_path(self) -> Path:
        return self.root / "studio.db"

    @property
    def adapters(self) -> Path:
        return self.root / "adapters"

    @property
    def runs(self) -> Path:
        return self.root / "poc"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def store(self) -> RunStore:
        return RunStore(self.store_path)

    def output(self, kind: str, name: str) -> Path:
        """The artifact folder of a run `name` of `kind`; ValueError for a name that would escape it."""
        return artifact_dir(self.adapters if kind == "adapter" else self.runs, name)

    def spec(self, kind: str, name: str, params: Mapping[str, Any]) -> Spec:
        """The spec of a run `name` of `kind` with `params` (relative paths are the workspace's), writing to the
        run's artifact folder. Raises ValueError (SpecError) for an unknown kind or bad parameters."""
        if kind not in JOBS:
            raise ValueError(f"unknown kind of run {kind!r}; one of {', '.join(KINDS)}")
        return JOBS[kind].spec.from_dict(dict(params) | {"out": self.output(kind, name)}, root=self.root)

    def run_params(self, run: Run) -> dict[str, Any]:
        """The recorded parameters of `run`, its paths resolved in this workspace (wherever it is now)."""
        job = JOBS.get(run.kind)
        return dict(run.params) if job is None else job.spec.resolve_paths(run.params, self.root)


def max_workers() -> int:
    """How many runs may be queued or running at once: XCROSS_MAX_WORKERS, else DEFAULT_MAX_WORKERS.

    Raises ValueError when the variable is set to anything but a whole number of at least 1.
    """
    text = os.environ.get(MAX_WORKERS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_WORKERS
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{MAX_WORKERS_ENV} must be a whole number of at least 1, not {text!r}")
    return int(text)


def launch(workspace: Workspace, kind: str, name: str, params: Mapping[str, Any]) -> Run:
    """Record a queued run and start its worker process; returns the run as recorded.

    `params` are the fields of the kind's spec but `out` (e.g. `poc_sources.SourcedPocSpec`'s), paths absolute or
    relative to the workspace. Raises ValueError for an unknown kind, an unsafe name, a name taken by a folder or by an
    active run of the kind (RunRefused), one run too many (RunRefused), or parameters the spec refuses: a bad
    request is refused now, not in the background. Raises OSError when the worker process cannot be started;
    the run is then recorded as failed with that reason.
    """
    if kind not in JOBS:
        raise ValueError(f"unknown kind of run {kind!r}; one of {', '.join(KINDS)}")
    out = workspace.output(kind, name)
    name = safe_name(name)  # as the folder is named, so that names compare as folders do
    if out.exists():
        raise ValueError(f"{name!r} is taken: {out} already exists; choose another name")
    recorded = workspace.spec(kind, name, params).to_dict(relative_to=workspace.root)
    del recorded["out"]  # the run's name and kind place it
    limit = max_workers()
    workspace.logs.mkdir(parents=True, exist_ok=True)
    store = workspace.store()
    run = store.create(kind, name, recorded, unique_name=True, max_active=limit)
    try:
        with (workspace.logs / f"{run.id}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "xcross_core.worker", str(workspace.root), run.id],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives the page's script run and ignores its signals
            )
    except OSError as err:  # e.g. out of memory or processes, or the log cannot be written
        reason = f"the worker process could not be started: {err}"
        with suppress(RunStateError):  # cancelled meanwhile: that status stands
            store.fail(run.id, reason)
        raise OSError(f"{name!r} did not start: {reason}") from None
    try:
        return store.start(run.id, process.pid)
    except RunStateError:  # the worker got there first
        return store.get(run.id)


class Reporter:
    """Progress callbacks writing into the store; knows when the run was cancelled."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store, self.run_id = store, run_id
        self.stage: Stage | None = None
        self.overall: Overall | None = None
        self.estimate_s: float | None = None
        self.curve: list[dict[str, Any]] = []
        self.cancelled = False
        self._last = 0.0
        self._event: TrainEvent | None = None
        self._started = time.monotonic()
        self._work_started: float | None = None  # when the job's first share of work began (after its speed probe)
        self.error: Message | None = None  # why the run failed, as data for the studio to word

    def hooks(self) -> Hooks:
        """The job's hooks: stages and steps into the store, cancellation from it, notes to the run's log."""
        return Hooks(
            progress=self.on_event, cancel=self.cancel, stage=self.on_stage, overall=self.on_overall, note=print
        )

    def on_stage(self, stage: Stage) -> None:
        self.stage, self._event = stage, None
        self.estimate_s = stage.estimate_s if stage.estimate_s is not None else self.estimate_s
        self._write(force=True)

    def on_overall(self, overall: Overall) -> None:
        if self._work_started is None:
            self._work_started = time.monotonic()
        self.overall = overall
        self._write(force=False)

    def on_event(self, event: TrainEvent) -> None:
        self._event = event
        label = event.model or (self.stage.label if self.stage else "")
        point = {"stage": label, "step": event.step, "loss": event.loss}
        self.curve = [*self.curve[-(CURVE_POINTS - 1) :], point]
        self._write(force=event.valid_ndcg10 is not None or event.step == event.total_steps)

    def cancel(self) -> bool:
        return self.cancelled

    def failed(self, message: Message | None) -> None:
        """Keep why the run failed as data in its progress (`error_message`), beside the library's words that the
        store's `error` holds, for the studio to word with its own controls."""
        if message is not None:
            self.error = message
            self._write(force=True)

    def _overall(self) -> dict[str, Any]:
        """The whole run's progress (0..1) and seconds left, when the job reports it against an estimate.

        Until the run is 2% done the first estimate stands. After that the estimate of the work left is scaled by the
        pace of the work so far (its seconds over the estimate's for the share done), which corrects an estimate made
        on a machine that has since got busier. The pace is read from the work alone, not from the speed probe before
        it, and held within PACE_BOUNDS: a few percent of a run are too few to scale all the rest by more (an
        extrapolation from the first 2% once said "1 h 14 min" of a run that took minutes).
        """
        if self.estimate_s is None:
            return {}
        overall = self.overall.fraction if self.overall is not None else 0.0
        now = time.monotonic()
        if overall < 0.02 or self._work_started is None:
            left = self.estimate_s - (now - self._started)
        else:
            work_s = max(self.estimate_s - (self._work_started - self._started), 1e-9)  # the estimate's, for the work
            pace = (now - self._work_started) / (work_s * overall)
            left = work_s * (1 - overall) * min(max(pace, PACE_BOUNDS[0]), PACE_BOUNDS[1])
        return {"overall": overall, "overall_eta_s": max(left, 0.0), "estimate_s": self.estimate_s}

    def _write(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_EVERY_S:
            return
        self._last = now
        event: dict[str, Any] = {"curve": self.curve}
        if self.stage is not None:
            running = self.overall.running if self.overall is not None and self.overall.running else (self.stage.label,)
            event |= {"stage": " + ".join(running), "stage_index": self.stage.index, "stages": self.stage.total}
        if self._event is not None:
            event |= asdict(self._event) | {"eta_s": self._event.eta_s}
        event |= self._overall()
        if self.error is not None:
            event["error_message"] = self.error.to_dict()
        try:
            self.store.progress(self.run_id, event)
        except RunStateError as err:
            self.cancelled = err.status == "cancelled"
            if not self.cancelled:
                raise


def work(workspace: Workspace, run_id: str) -> int:
    """Execute run `run_id` in this process; the exit status says how it ended (0 done, 1 failed, 130 cancelled)."""
    store = workspace.store()
    run = store.get(run_id)
    try:
        store.start(run_id)
    except RunStateError as err:
        if err.status == "cancelled":
            return 130
        # `launch` already marked it running with our pid.
    reporter = Reporter(store, run_id)
    out = workspace.output(run.kind, run.name)
    try:
        job = JOBS[run.kind]
        metrics = job.metrics(job.run(workspace.spec(run.kind, run.name, run.params), reporter.hooks()))
    except Cancelled:
        return 130
    except Exception as err:  # noqa: BLE001 - any failure ends the run with a readable reason
        traceback.print_exc()  # the full story goes to the run's log file
        expected = isinstance(err, (DataError, ValueError, KeyError, FileNotFoundError))
        reason = f"{err}" if expected else f"unexpected error ({type(err).__name__}: {err}); see logs/{run_id}.log"
        with suppress(RunStateError):  # cancelled meanwhile: that status stands
            reporter.failed(message_of(err) if expected else None)
            store.fail(run_id, reason)
        return 1
    try:
        store.finish(run_id, metrics, artifact=out)
    except RunStateError:  # cancelled after the last check: honour it, keep no artifact
        shutil.rmtree(out, ignore_errors=True)
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one recorded studio job (started by `launch`).")
    parser.add_argument("workspace", type=Path)
    parser.add_argument("run_id")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return work(Workspace(args.workspace), args.run_id)


if __name__ == "__main__":
    sys.exit(main())
