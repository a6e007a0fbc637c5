"""Shared pieces of the studio pages: the workspace, the chosen dataset, cached loaders, run progress and
the frames the charts draw. Pages are short scripts over this module and `xcross_core`; nothing here
trains, splits or scores on its own."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import charts
import pandas as pd
import streamlit as st

from xcross_core.data.dataset import DomainData
from xcross_core.data.load import SUPPORTED_FORMATS, ColumnMap, DataError, LoadResult, load_interactions
from xcross_core.data.report import CHECKS, spreadsheet_safe
from xcross_core.estimate import Speed, human_seconds, measure_speed, total_seconds
from xcross_core.models.adapters import ADAPTER_LOOP, list_adapters
from xcross_core.models.popularity import Popularity
from xcross_core.models.recommender import Recommender
from xcross_core.models.registry import make_model
from xcross_core.poc import PocConfig, poc_estimate, poc_splits, read_poc
from xcross_core.store import ACTIVE, Run, RunStateError, RunStore, safe_name
from xcross_core.worker import Workspace

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "sample_data"
SAMPLE_ADAPTERS = SAMPLE_DIR / "adapters"
DEV_DIR = ROOT.parent / "shared" / "data" / "amazon_dev"
#: Seconds between refreshes of a running job's progress.
POLL_S = 2.0
EPOCHS_HELP = (
    f"Validation runs after every epoch and early stopping keeps the best. An epoch is at least "
    f"{ADAPTER_LOOP.min_epoch_steps} optimiser steps: a small training set is passed over several times, so "
    "models trained on few users are not cut short."
)
#: Errors whose message is meant for the user; anything else is a bug and may show a traceback.
USER_ERRORS = (DataError, ValueError, KeyError, FileNotFoundError, FileExistsError, RunStateError, OSError)
OUR_COLUMNS = ("user_id", "item_id", "timestamp", "domain", "title")


# -- page frame and workspace ----------------------------------------------------------------------------


def page(title: str, icon: str = "🔀") -> None:
    """Page config, title, and the current dataset in the sidebar."""
    st.set_page_config(page_title=f"{title} · X-Cross studio", page_icon=icon, layout="wide")
    st.title(title)
    with st.sidebar:
        st.caption(f"Data: **{current_dataset().label}**")
        st.caption(f"Workspace: `{workspace().root}`")


def workspace() -> Workspace:
    """The studio's workspace: env XCROSS_HOME, else runs/studio in the repository (ignored by git)."""
    return Workspace(Path(os.environ.get("XCROSS_HOME") or ROOT / "runs" / "studio"))


def store() -> RunStore:
    """The run store (opening it marks runs whose worker died as failed)."""
    return workspace().store()


def show_error(err: BaseException, what: str = "") -> None:
    """A user-facing error: the message, no traceback."""
    message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    st.error(f"{what}{': ' if what else ''}{message}")


# -- datasets --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """A purchase log to work on: its files and column mapping (our name -> the file's name)."""

    label: str
    interactions: str
    items: str | None = None
    columns: tuple[tuple[str, str], ...] = ()

    def column_map(self) -> ColumnMap:
        return ColumnMap(**dict(self.columns))

    def params(self) -> dict[str, Any]:
        """The data part of a run's parameters."""
        return {"interactions": self.interactions, "items": self.items, "columns": dict(self.columns)}

    @classmethod
    def from_params(cls, params: dict[str, Any], label: str = "run data") -> Dataset:
        columns = tuple(sorted((params.get("columns") or {}).items()))
        return cls(label, str(params["interactions"]), params.get("items"), columns)


def sample_dataset() -> Dataset:
    return Dataset(
        "Sample data (4 synthetic shops)", str(SAMPLE_DIR / "interactions.csv"), str(SAMPLE_DIR / "items.csv")
    )


def dev_datasets() -> list[Dataset]:
    """The development data (Amazon Beauty, Prime Pantry) when it sits beside the repository."""
    found = []
    for name, label in (("beauty", "Amazon Beauty (dev data)"), ("prime_pantry", "Amazon Prime Pantry (dev data)")):
        path, items = DEV_DIR / f"{name}.csv", DEV_DIR / f"items_{name}.csv"
        if path.is_file():
            found.append(Dataset(label, str(path), str(items) if items.is_file() else None))
    return found


def _choice_file() -> Path:
    return workspace().root / "dataset.json"


def current_dataset() -> Dataset:
    """The dataset chosen on the Data page (kept in the workspace, so a browser refresh keeps it)."""
    if "dataset" not in st.session_state:
        chosen = sample_dataset()
        try:
            saved = json.loads(_choice_file().read_text())
            saved["columns"] = tuple(tuple(pair) for pair in saved.get("columns", ()))
            candidate = Dataset(**saved)
            if Path(candidate.interactions).is_file():
                chosen = candidate
        except (OSError, ValueError, TypeError):
            pass
        st.session_state["dataset"] = chosen
    return st.session_state["dataset"]


def set_dataset(dataset: Dataset) -> None:
    st.session_state["dataset"] = dataset
    try:
        _choice_file().parent.mkdir(parents=True, exist_ok=True)
        _choice_file().write_text(json.dumps(asdict(dataset)))
    except OSError:
        pass  # only the convenience of surviving a refresh is lost


def max_upload_bytes() -> int:
    """Streamlit's upload limit (server.maxUploadSize, in MB) in bytes; the loader enforces it too."""
    return int(st.get_option("server.maxUploadSize")) * 1024 * 1024


def save_upload(filename: str, data: bytes, folder: Path | None = None) -> Path:
    """Write an uploaded file under the workspace's uploads folder with a safe name; returns its path.

    Raises ValueError for an unsafe name, an unsupported type or a file over the upload limit.
    """
    name = safe_name(Path(filename).name)
    if Path(name).suffix.lower() not in SUPPORTED_FORMATS:
        raise DataError(f"{name}: unsupported file type; supported formats are {', '.join(SUPPORTED_FORMATS)}")
    if len(data) > max_upload_bytes():
        raise DataError(
            f"{name} is {len(data) / 1e6:.1f} MB, over the upload limit of {max_upload_bytes() // 2**20} MB"
        )
    folder = folder or workspace().root / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def _stamp(*paths: str | None) -> tuple[float, ...]:
    """Modification times, so that cached loads see a changed file."""
    return tuple(Path(p).stat().st_mtime if p and Path(p).exists() else 0.0 for p in paths)


@st.cache_data(show_spinner="Reading and validating the data…", max_entries=6)
def _load(
    path: str, items: str | None, columns: tuple[tuple[str, str], ...], max_bytes: int | None, stamp: tuple[float, ...]
) -> LoadResult:
    return load_interactions(path, items, columns=ColumnMap(**dict(columns)), max_bytes=max_bytes)


def load_dataset(dataset: Dataset) -> LoadResult:
    """The dataset loaded and validated (cached by path, mapping and modification time). Raises DataError.

    Uploaded files (those in the workspace) are held to the upload limit; bundled and dev data are not.
    """
    uploaded = Path(dataset.interactions).resolve().is_relative_to(workspace().root.resolve())
    limit = max_upload_bytes() if uploaded else None
    return _load(
        dataset.interactions, dataset.items, dataset.columns, limit, _stamp(dataset.interactions, dataset.items)
    )


@st.cache_resource(max_entries=8)
def _domain(path: str, items: str | None, columns: tuple, stamp: tuple, name: str, _result: LoadResult) -> DomainData:
    return _result.interactions.domain(name)


def domain_data(dataset: Dataset, name: str) -> DomainData:
    """One domain's arrays (cached). Raises DataError / KeyError."""
    result = load_dataset(dataset)
    stamp = _stamp(dataset.interactions, dataset.items)
    return _domain(dataset.interactions, dataset.items, dataset.columns, stamp, name, result)


@st.cache_resource(show_spinner="Measuring this machine's speed on the target's prompts (a few seconds)…")
def _speed(dataset: Dataset, target: str, sources: tuple[str, ...], sasrec: bool, stamp: tuple) -> Speed:
    config = PocConfig(dataset.interactions, target, list(sources), baselines=("sasrec",) if sasrec else ())
    split, _ = poc_splits(config, domain_data(dataset, target))
    return measure_speed(split, sources, sasrec=sasrec)


def poc_estimate_seconds(dataset: Dataset, config: PocConfig) -> float:
    """The whole PoC's estimated seconds on this machine (the speed is measured once per target and sources)."""
    domain = domain_data(dataset, config.target)
    sasrec = "sasrec" in config.baselines
    speed = _speed(dataset, config.target, tuple(config.adapters), sasrec, _stamp(*config.adapters))
    return total_seconds(poc_estimate(config, domain, speed))


def usable_domains(result: LoadResult) -> list[str]:
    frame = result.report.domains
    return frame.loc[frame["usable"].astype(bool), "domain"].tolist()


def current_domains() -> list[str] | None:
    """The usable domains of the current dataset; None (after showing why) when it cannot be loaded."""
    try:
        return usable_domains(load_dataset(current_dataset()))
    except DataError as err:
        show_error(err, "The current data cannot be used")
        return None


def domain_table(result: LoadResult) -> pd.DataFrame:
    """The per-domain statistics with readable headers."""
    frame = result.report.domains.copy()
    frame.columns = [c.replace("seq_len_", "length ").replace("_", " ") for c in frame.columns]
    return frame


def dropped_summary(result_report: Any) -> pd.DataFrame:
    """Dropped rows counted by file, reason and severity."""
    dropped = result_report.dropped
    if not len(dropped):
        return pd.DataFrame(columns=["file", "reason", "severity", "rows"])
    labelled = dropped.assign(reason=dropped["check"].map(CHECKS).fillna(dropped["check"]))
    return labelled.groupby(["file", "reason", "severity"], sort=False).size().rename("rows").reset_index()


def dropped_csv(report: Any) -> bytes:
    """The dropped rows as CSV, safe to open in a spreadsheet."""
    return spreadsheet_safe(report.dropped).to_csv(index=False).encode("utf-8-sig")


def item_label(domain: DomainData, index: int) -> str:
    return f"{domain.titles()[index]} ({domain.item_ids[index]})"


def history_frame(domain: DomainData, items: Any) -> pd.DataFrame:
    """A purchase history (item indices, oldest first) as a table."""
    titles = domain.titles()
    return pd.DataFrame(
        {
            "#": range(1, len(items) + 1),
            "item_id": [domain.item_ids[i] for i in items],
            "title": [titles[i] for i in items],
        }
    )


# -- adapters and models -------------------------------------------------------------------------------


def adapter_library() -> pd.DataFrame:
    """Adapters trained in the workspace, then those bundled with the sample data, one row each."""
    frames = []
    for folder, library in ((workspace().adapters, "workspace"), (SAMPLE_ADAPTERS, "bundled")):
        try:
            frame = list_adapters(folder)
        except (OSError, ValueError, TypeError):
            continue  # an unreadable folder hides its adapters rather than the page
        frames.append(frame.assign(library=library))
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else list_adapters(workspace().adapters).assign(library=[])


def adapter_label(row: pd.Series) -> str:
    return f"{row['domain']} · {row['adapter']} ({row['library']})"


@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def _model(name: str, data_key: tuple, domain_name: str, _domain: DomainData) -> Recommender:
    if name == "popularity":
        return Popularity(_domain).fit_sequences(_domain.sequences())  # counted over every user of the domain
    model = make_model(name, _domain)
    if hasattr(model, "encoder"):
        model.encoder.eval()
    return model


def load_model(name: str, dataset: Dataset, domain: DomainData) -> Recommender:
    """A saved model (adapter folder, X-Cross run folder, 'popularity' or 'base') for `domain`, cached."""
    stamp = _stamp(name) if Path(name).exists() else ()
    key = (dataset.interactions, dataset.items, dataset.columns, _stamp(dataset.interactions, dataset.items), stamp)
    return _model(name, key, domain.name, domain)


# -- runs ----------------------------------------------------------------------------------------------------


def finished_pocs(target: str | None = None) -> list[Run]:
    """Succeeded proof-of-concept runs whose folder still exists, newest first."""
    runs = [r for r in store().list(kind="poc", status="succeeded") if r.artifact and Path(r.artifact).is_dir()]
    return [r for r in runs if target is None or r.params.get("target") == target]


def run_label(run: Run) -> str:
    target = run.params.get("target", "")
    when = created(run)
    return f"{run.name} — {target} · {when}" if target else f"{run.name} · {when}"


def created(run: Run) -> str:
    return _local(run.created_at)


def _local(stamp: str | None) -> str:
    if not stamp:
        return ""
    return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")


def duration(run: Run) -> str:
    if not run.started_at:
        return ""
    end = datetime.fromisoformat(run.finished_at) if run.finished_at else datetime.now().astimezone()
    return human_seconds((end - datetime.fromisoformat(run.started_at)).total_seconds())


@st.cache_data(max_entries=16)
def _read_poc(folder: str, stamp: tuple[float, ...]) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    return read_poc(folder)


def read_run(run: Run) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """(results.json, comparison table, contribution weights) of a finished PoC run. Raises FileNotFoundError."""
    folder = str(run.artifact)
    return _read_poc(folder, _stamp(str(Path(folder) / "results.json")))


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


def cancel_run(run_id: str) -> None:
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
        head.markdown(f"**{run.name}** · {run.kind} · {run.status} {('· ' + where) if where else ''}")
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
                st.caption(f"this stage: {epoch}step {steps}/{total}")
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
            st.warning(error)
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
        message = f"**{run.name}** ended: {status}."
        if status == "succeeded":
            st.success(message)
        elif status == "failed":
            st.error(f"{message} {run.error or ''}")
        else:
            st.info(message)
        st.session_state["ended"].pop(run_id)


def launch_run(kind: str, name: str, params: dict[str, Any]) -> Run | None:
    """Start a background job; errors in the request are shown, not raised."""
    from xcross_core.worker import launch

    try:
        run = launch(workspace(), kind, name, params)
    except USER_ERRORS as err:
        show_error(err, "Could not start")
        return None
    st.session_state.setdefault(f"active-{kind}", []).append(run.id)
    st.toast(f"Started {name}")
    return run


def delete_run(run: Run, remove_folder: bool) -> None:
    """Forget a run (cancelling it first if active); remove its folder when asked and it lies in the workspace."""
    runs = store()
    if run.status in ACTIVE:
        with suppress(RunStateError):  # it ended meanwhile
            runs.cancel(run.id)
    runs.delete(run.id)
    if remove_folder and run.artifact:
        folder = Path(run.artifact).resolve()
        if folder.is_dir() and folder.is_relative_to(workspace().root.resolve()):
            shutil.rmtree(folder)


# -- results as frames -----------------------------------------------------------------------------------


def model_metrics(report: dict[str, Any], metrics: tuple[str, ...] = ("ndcg@10", "hit@10")) -> pd.DataFrame:
    """Long frame model, metric, mean, low, high from results.json."""
    rows = [
        {"model": model, "metric": m, **{k: info["metrics"][m][k] for k in ("mean", "low", "high")}}
        for model, info in report["models"].items()
        for m in metrics
        if m in info["metrics"]
    ]
    return pd.DataFrame(rows, columns=["model", "metric", "mean", "low", "high"])


def comparison_frame(report: dict[str, Any]) -> pd.DataFrame:
    """One readable row per model: metrics with CIs, difference to the reference, p-value, size and time."""
    tests = report.get("comparisons_vs_reference", {})
    rows = []
    for model, info in report["models"].items():
        m = info["metrics"]
        test = tests.get(model)
        rows.append(
            {
                "model": model,
                "NDCG@10": m["ndcg@10"]["mean"],
                "NDCG@10 95% CI": _ci(m["ndcg@10"]),
                "Hit@10": m["hit@10"]["mean"],
                "Hit@10 95% CI": _ci(m["hit@10"]),
                "Δ NDCG@10 vs reference": None if test is None else test["difference"]["mean"],
                "p-value": None if test is None else test["p_value"],
                "trainable parameters": info.get("trainable_parameters"),
                "training users": info.get("train_users"),
                "training time (s)": info.get("train_seconds"),
            }
        )
    return pd.DataFrame(rows)


def _ci(estimate: dict[str, float]) -> str:
    return f"[{estimate['low']:.4f}, {estimate['high']:.4f}]"


def history_buckets(report: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {"model": model, **bucket} for model, info in report["models"].items() for bucket in info["by_history_length"]
    ]
    return pd.DataFrame(rows, columns=["model", "bucket", "users", "mean", "low", "high"])


def efficiency_points(runs: list[Run]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From finished PoC runs of one target: (X-Cross and target LoRA NDCG@10 at each run's budget,
    the target LoRA on 100% of users wherever a run trained it)."""
    names = {"x-cross": "X-Cross", "lora": "target LoRA"}
    points, full = [], []
    for run in runs:
        try:
            report, _, _ = read_run(run)
        except (OSError, ValueError):
            continue
        fraction = report["config"]["fraction"]
        for info in report["models"].values():
            estimate = info["metrics"]["ndcg@10"]
            row = {"run": run.name, "fraction": fraction, **{k: estimate[k] for k in ("mean", "low", "high")}}
            if info["key"] in names:
                points.append({"model": names[info["key"]], **row})
            elif info["key"] == "lora-full":
                full.append(row)
    columns = ["model", "run", "fraction", "mean", "low", "high"]
    return pd.DataFrame(points, columns=columns), pd.DataFrame(full, columns=columns[1:])


def mean_weights(weights: pd.DataFrame) -> pd.DataFrame:
    """Average weight per layer (rows, in model order, the final mix last) and source (columns)."""
    table = weights.pivot_table(index="layer", columns="source", values="weight", aggfunc="mean")
    order = sorted((i for i in table.index if str(i) != "output"), key=lambda v: int(v))
    order += [i for i in table.index if str(i) == "output"]
    sources = list(dict.fromkeys(weights["source"]))
    return table.loc[order, sources]


def verdict_box(model: str, test: dict[str, Any]) -> None:
    """A paired test's sentence, coloured by its outcome."""
    text = test.get("verdict") or f"{model}: p = {test['p_value']:.3f}"
    if "significantly better" in text:
        st.success(text)
    elif "significantly worse" in text:
        st.warning(text)
    else:
        st.info(text)


def report_html(run: Run, report: dict[str, Any], embed_plotly: bool = False) -> str:
    """A self-contained HTML report of one PoC run: settings, verdicts, the table and the charts."""
    import html

    figures = [charts.metric_bars(model_metrics(report)), charts.history_breakdown(history_buckets(report))]
    points, full = efficiency_points(finished_pocs(report.get("target")))
    if len(points):
        figures.append(charts.efficiency_curve(points, full))
    parts = []
    for i, fig in enumerate(figures):
        include: bool | str = (True if embed_plotly else "cdn") if i == 0 else False
        parts.append(fig.to_html(full_html=False, include_plotlyjs=include))
    verdicts = "".join(
        f"<li>{html.escape(t.get('verdict', m))}</li>" for m, t in report.get("comparisons_vs_reference", {}).items()
    )
    config = report.get("config", {})
    settings = {
        "target": report.get("target"),
        "sources": ", ".join(report.get("sources", [])),
        "data budget": f"{config.get('fraction', 1):.0%} of training users"
        + (f" (users capped at {config['max_users']})" if config.get("max_users") else ""),
        "epochs": config.get("epochs"),
        "reference": report.get("reference"),
        "test users": report.get("split", {}).get("test_cases"),
        "run time": human_seconds(report.get("seconds")),
    }
    settings_html = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in settings.items()
    )
    table = comparison_frame(report).to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="")
    title = html.escape(f"X-Cross proof of concept: {run.name}")
    answer = f"<h2>Can it be bootstrapped?</h2><p>{html.escape(report['answer'])}</p>" if report.get("answer") else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>{title}</h1><p>Created {html.escape(created(run))}</p><table>{settings_html}</table>"
        f"{answer}"
        f"<h2>Verdicts (paired tests against {html.escape(str(report.get('reference')))})</h2><ul>{verdicts}</ul>"
        f"<h2>Models</h2>{table}<h2>Charts</h2>{''.join(parts)}</body></html>"
    )


def guarded(action: Callable[[], Any], what: str = "") -> Any:
    """Run `action`, showing a user error instead of a traceback; None when it failed."""
    try:
        return action()
    except USER_ERRORS as err:
        show_error(err, what)
        return None
