"""Background runs from the studio's side: a proof of concept's source adapters (and the categories it can train one
for first), users and time before it starts, an adapter training's time, starting one, its live progress with a
cancel button, the finished runs and their results, and deleting a run."""

from __future__ import annotations

import shutil
from contextlib import suppress
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import charts
import pandas as pd
import streamlit as st
from loaders import adapter_label, domain_data, page_message, stamp
from messages import USER_ERRORS
from plain import md, plain
from state import Dataset, in_workspace, is_sample, store, workspace

from xcross_core.data.advice import Message
from xcross_core.data.report import spreadsheet_safe
from xcross_core.estimate import Speed, human_seconds
from xcross_core.jobs.inputs import SplitSpec
from xcross_core.jobs.poc import PocSpec, poc_estimate, poc_seconds, poc_speed, poc_split, probed_baselines, read_poc
from xcross_core.jobs.poc_sources import SourcedEstimate, SourcedPocSpec, sourced_estimate
from xcross_core.jobs.train_adapter import adapter_seconds, adapter_speed
from xcross_core.models.adapters import ADAPTER_LOOP, catalogue_key, read_metadata
from xcross_core.models.artifacts import ArtifactError
from xcross_core.paths import inside, real
from xcross_core.store import ACTIVE, Run, RunRefused, RunStateError
from xcross_core.worker import MAX_WORKERS_ENV, launch, max_workers

#: Seconds between refreshes of a running job's progress.
POLL_S = 2.0
#: The help beside every "Epochs" input of a run form.
EPOCHS_HELP = (
    f"Validation runs after every epoch and early stopping keeps the best. An epoch is at least "
    f"{ADAPTER_LOOP.min_epoch_steps} optimiser steps: a small training set is passed over several times, so "
    "models trained on few users are not cut short."
)


# -- before a run: its source adapters -----------------------------------------------------------------------

#: How a bundled sample adapter is marked among the sources.
SYNTHETIC = "trained on synthetic sample data"


def source_choices(library: pd.DataFrame, dataset: Dataset, domains: list[str]) -> pd.DataFrame:
    """The adapter library as a proof of concept's sources: adapters trained on `dataset` first, bundled sample
    adapters last while other data is current, each with its `label` and whether it is `here` (trained on one of
    the dataset's `domains`, on that domain's catalogue) or `synthetic` (a sample adapter offered for other data)."""
    here = [_trained_here(path, dataset, domains) for path in library["path"]]
    synthetic = (library["library"] == "bundled") & (not is_sample(dataset))
    choices = library.assign(here=here, synthetic=synthetic)
    choices["label"] = [adapter_label(row) + _trained_on(row) for _, row in choices.iterrows()]
    order = choices["synthetic"].astype(int) * 2 + (~choices["here"]).astype(int)
    return choices.iloc[order.argsort(kind="stable")].reset_index(drop=True)


def default_sources(choices: pd.DataFrame, target: str) -> list[str]:
    """The sources to pre-tick for `target` (X-Cross integrates adapters of one base model): every other category's
    adapter trained on this data, or failing that every other one of the workspace, never a synthetic one."""
    others = choices[(choices["domain"] != target) & ~choices["synthetic"]]
    if others["here"].any():
        others = others[others["here"]]
    return others.loc[others["base"] == others["base"].iloc[0], "path"].tolist() if len(others) else []


def untrained_categories(choices: pd.DataFrame, domains: list[str], target: str) -> list[str]:
    """The data's categories but `target` that have no adapter trained on this data among `choices`
    (`source_choices`): those a proof of concept can train a source adapter for first."""
    trained = set(choices.loc[choices["here"], "domain"]) if len(choices) else set()
    return [d for d in domains if d != target and d not in trained]


def _trained_on(row: pd.Series) -> str:
    """What a source's label adds: that it was trained on the sample data, or on this data (else nothing)."""
    if row["library"] == "bundled":
        return f" · {SYNTHETIC}"
    return " · trained on this data" if row["here"] else ""


def _trained_here(path: str, dataset: Dataset, domains: list[str]) -> bool:
    """Whether the adapter at `path` was trained on one of `domains` of `dataset`, judged by its catalogue: the
    digest of its item head, else its recorded number of items (an adapter that records neither cannot say)."""
    try:
        metadata = read_metadata(path)
    except ArtifactError:  # changed since the library was listed: nothing is known of it
        return False
    if metadata.domain not in domains:
        return False
    catalogue = catalogue_key(domain_data(dataset, metadata.domain))
    if metadata.item_head:
        return metadata.item_head == catalogue
    return metadata.data.get("catalogue_items") == catalogue["items"]


# -- before a run: its users and estimated time --------------------------------------------------------------


def poc_users(dataset: Dataset, spec: PocSpec) -> dict[str, Any]:
    """The summary of the split the proof of concept `spec` would run on: its training and test users."""
    return poc_split(spec, domain_data(dataset, spec.target)).summary()


def speeds_folder() -> Path:
    """The workspace's speed cache (`PocSpec.speed_cache`): what a page measured, the run it starts reads."""
    return workspace().root / "speeds"


@st.cache_resource(show_spinner="Measuring this machine's speed on the target's prompts…")
def _speed(dataset: Dataset, target: str, sources: tuple[str, ...], probed: tuple[str, ...], stamps: tuple) -> Speed:
    # The speed is measured on the default budget's split: it depends on the prompts, not on the budget, and on the
    # baselines whose step it times (`probed_baselines`), not on the others. It is kept in the workspace's speed
    # cache, from which a run over these sources reads it instead of measuring again.
    params = dataset.params() | {"target": target, "adapters": sources, "baselines": probed}
    return poc_speed(PocSpec.from_dict(params | {"speed_cache": str(speeds_folder())}), domain_data(dataset, target))


def poc_estimate_seconds(dataset: Dataset, spec: PocSpec) -> float:
    """The whole PoC's estimated seconds on this machine (the speed is measured once per target and sources)."""
    domain = domain_data(dataset, spec.target)
    sources = tuple(str(a) for a in spec.adapters)
    speed = _speed(dataset, spec.target, sources, probed_baselines(spec), stamp(*sources))
    ran = replace(speed, probe_s=0.0)  # the run reads this speed from the workspace's cache: it measures nothing
    return poc_seconds(ran, poc_estimate(spec, domain, ran))


@st.cache_resource(show_spinner="Measuring this machine's speed on a category's prompts (a few seconds)…")
def _adapter_speed(dataset: Dataset, domain: str, base: str | None, stamps: tuple) -> Speed:
    # At the default LoRA settings: the rank changes a step's cost little.
    return adapter_speed(domain_data(dataset, domain), base)


def adapter_estimate_seconds(dataset: Dataset, domain: str, split: SplitSpec, base: str | None = None) -> float:
    """An adapter's training on `domain` with `split`'s users and epochs (e.g. the training's own spec), in
    estimated seconds on this machine (the speed is measured once per category and base model)."""
    speed = _adapter_speed(dataset, domain, base, stamp(dataset.interactions, dataset.items))
    return adapter_seconds(split, domain_data(dataset, domain), speed)


def sourced_estimate_seconds(dataset: Dataset, spec: SourcedPocSpec) -> SourcedEstimate:
    """A proof of concept's estimated seconds on this machine when it trains source adapters first: each training,
    then the proof of concept over every source (speeds measured once per category, target and sources)."""
    base, stamps = spec.base(), stamp(dataset.interactions, dataset.items)
    sources = tuple(str(a) for a in spec.adapters)
    if sources:
        probe = _speed(dataset, spec.target, sources, probed_baselines(spec), stamp(*sources))
    else:
        probe = _adapter_speed(dataset, spec.target, base, stamps)
    return sourced_estimate(
        spec,
        lambda name: domain_data(dataset, name),
        lambda name: _adapter_speed(dataset, name, base, stamps),
        probe,
    )


# -- starting, following, cancelling and deleting ------------------------------------------------------------


def launch_run(kind: str, name: str, params: dict[str, Any]) -> Run | None:
    """Start a background job; errors in the request are shown, not raised. The folders the job writes to must
    stay in the workspace (a link there that leads elsewhere is refused)."""
    ws = workspace()
    try:
        # A proof of concept that trains sources first writes them into the adapter library too.
        trains = [ws.adapters] if params.get("train_sources") else []
        folders = [ws.adapters] if kind == "adapter" else [ws.runs, *trains]
        for folder in (*folders, ws.logs):
            in_workspace(folder)
        run = launch(ws, kind, name, params)
    except USER_ERRORS as err:
        st.error(md("Could not start: {}", page_message(err)))
        if isinstance(err, RunRefused) and len(store().list(status=ACTIVE)) >= max_workers():
            st.caption(
                f"The studio runs at most {max_workers()} jobs at once; to change that, start it with the "
                f"environment variable {MAX_WORKERS_ENV} set to another number."
            )
        return None
    st.session_state.setdefault(f"active-{kind}", []).append(run.id)
    st.toast(md("Started {}", name))
    return run


def cancel_run(run_id: str) -> None:
    """Cancel an active run; a refusal (it ended meanwhile) is shown on the next rerun of the panel."""
    try:
        store().cancel(run_id)
    except (KeyError, RunStateError) as err:
        st.session_state["cancel_error"] = str(err)


def run_progress(run: Run) -> None:
    """Stage, progress bar, loss curve, time estimate and a cancel button for one active run."""
    progress = run.progress or {}
    with st.container(border=True):
        head, button = st.columns([5, 1])
        stage = progress.get("stage")
        where = (
            f"stage {progress['stage_index']}/{progress['stages']}: {stage}" if stage and "stages" in progress else ""
        )
        head.markdown(md("**{}** · {} · {} {}", run.name, run.kind, run.status, f"· {where}" if where else ""))
        button.button("Cancel", key=f"cancel-{run.id}", on_click=cancel_run, args=(run.id,), width="stretch")
        steps, total = progress.get("step"), progress.get("total_steps")
        if "overall" in progress:  # a PoC: one bar for the whole run, weighted by each stage's estimated time
            st.progress(
                min(max(progress["overall"], 0.0), 1.0),
                text=f"whole run: {progress['overall']:.0%} · about {human_seconds(progress['overall_eta_s'])} left "
                f"(first estimate {human_seconds(progress['estimate_s'])})",
            )
        if steps is not None and total:
            epoch = f"epoch {progress.get('epoch')}/{progress.get('epochs')} · " if progress.get("epochs") else ""
            if "overall" not in progress:
                text = f"{epoch}step {steps}/{total} · about {human_seconds(progress.get('eta_s'))} left"
                st.progress(min(max(steps / total, 0.0), 1.0), text=text)
            else:
                st.caption(md("{}: {}step {}/{}", progress.get("model") or "this stage", epoch, steps, total))
            cols = st.columns(3)
            cols[0].metric("Loss", f"{progress.get('loss', float('nan')):.3f}")
            valid = progress.get("valid_ndcg10")
            cols[1].metric("Validation NDCG@10", "–" if valid is None else f"{valid:.3f}")
            cols[2].metric("Running for", duration(run))
        elif "overall" not in progress:
            st.progress(0.0, text="starting (loading data and model)…")
        if progress.get("curve"):
            st.plotly_chart(charts.loss_curve(progress["curve"]), width="stretch", key=f"curve-{run.id}")


def active_runs(kind: str) -> None:
    """Live progress of this kind's queued and running jobs, refreshed every POLL_S seconds."""

    @st.fragment(run_every=POLL_S)
    def panel() -> None:
        runs = store().list(kind=kind, status=ACTIVE)
        seen = st.session_state.setdefault(f"active-{kind}", [])
        if error := st.session_state.pop("cancel_error", None):
            st.warning(plain(error))
        if not runs:
            st.caption("No job of this kind is running.")
        for run in runs:
            run_progress(run)
        ids = [r.id for r in runs]
        st.session_state[f"active-{kind}"] = ids
        ended = [i for i in seen if i not in ids]
        for run_id in ended:
            try:
                run = store().get(run_id)
            except KeyError:
                continue
            st.session_state.setdefault("ended", {})[run_id] = run.status
        if ended:
            st.rerun()  # the whole page: tables of adapters and runs now include what ended

    panel()
    for run_id, status in list(st.session_state.get("ended", {}).items()):
        try:
            run = store().get(run_id)
        except KeyError:
            continue
        if run.kind != kind:
            continue
        message = md("**{}** ended: {}.", run.name, status)
        if status == "succeeded":
            st.success(message)
        elif status == "failed":
            st.error(f"{message} {plain(run_error(run))}")
        else:
            st.info(message)
        st.session_state["ended"].pop(run_id)


def run_error(run: Run) -> str:
    """Why `run` failed, in the page's words: its message as data where the worker kept one (each setting named by
    the studio's control, or left out), else the library's words."""
    kept = (run.progress or {}).get("error_message")
    return page_message(ValueError(Message.from_dict(kept))) if kept else run.error or ""


def delete_run(run: Run, remove_folder: bool) -> None:
    """Forget a run (cancelling it first if active); remove its folder when asked and it lies in the workspace."""
    runs = store()
    if run.status in ACTIVE:
        with suppress(RunStateError):  # it ended meanwhile
            runs.cancel(run.id)
    runs.delete(run.id)
    if remove_folder and run.artifact and inside(run.artifact, workspace().root):
        folder = real(run.artifact)
        if folder.is_dir():
            shutil.rmtree(folder)


# -- finished runs -------------------------------------------------------------------------------------------


def finished_pocs(target: str | None = None) -> list[Run]:
    """Succeeded proof-of-concept runs whose folder still exists, newest first."""
    runs = [r for r in store().list(kind="poc", status="succeeded") if r.artifact and Path(r.artifact).is_dir()]
    return [r for r in runs if target is None or r.params.get("target") == target]


def run_label(run: Run) -> str:
    """A run as a choice in a list: name, target and when it was created."""
    target = run.params.get("target", "")
    when = created(run)
    return f"{run.name} — {target} · {when}" if target else f"{run.name} · {when}"


def created(run: Run) -> str:
    """When the run was created, in local time."""
    return _local(run.created_at)


def _local(moment: str | None) -> str:
    if not moment:
        return ""
    return datetime.fromisoformat(moment).astimezone().strftime("%Y-%m-%d %H:%M")


def duration(run: Run) -> str:
    """How long the run took (or has been running), in words: the one run time every page and the HTML report
    show, from the store's start and end of the run (results.json's own `seconds` leave out loading and saving)."""
    if not run.started_at:
        return ""
    end = datetime.fromisoformat(run.finished_at) if run.finished_at else datetime.now().astimezone()
    return human_seconds((end - datetime.fromisoformat(run.started_at)).total_seconds())


@st.cache_data(max_entries=16)
def _read_poc(folder: str, stamps: tuple[float, ...]) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    return read_poc(folder)


def csv_export(frame: pd.DataFrame) -> bytes:
    """A run's table as CSV for a spreadsheet: formula-like cells quoted, UTF-8 with a byte-order mark."""
    return spreadsheet_safe(frame).to_csv(index=False).encode("utf-8-sig")


def run_dataset(run: Run) -> Dataset:
    """The dataset a run was started on, its recorded paths (relative to the workspace) resolved."""
    return Dataset.from_params(workspace().run_params(run))


def read_run(run: Run) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """(results.json, comparison table, contribution weights) of a finished PoC run. Raises FileNotFoundError."""
    folder = str(run.artifact)
    return _read_poc(folder, stamp(str(Path(folder) / "results.json")))


def pick_poc(key: str, target: str | None = None) -> Run | None:
    """A select box of finished PoC runs (newest first), remembering the choice across pages."""
    runs = finished_pocs(target)
    if not runs:
        st.info("No finished proof-of-concept run yet. Start one on the **PoC run** page; it appears here when done.")
        return None
    ids = [r.id for r in runs]
    remembered = st.session_state.get("poc_run")
    index = ids.index(remembered) if remembered in ids else 0
    labels = {r.id: run_label(r) for r in runs}
    chosen = st.selectbox("Proof-of-concept run", ids, index=index, format_func=labels.get, key=key)
    st.session_state["poc_run"] = chosen
    return runs[ids.index(chosen)]
