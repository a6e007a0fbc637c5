"""Tables the pages show and the charts draw, built from a load report, a domain's arrays or a proof of
concept's results.json. Nothing here draws; the pages pass these frames to st.dataframe and to `charts`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from messages import answered_pair
from runs import read_run

from xcross_core.data.dataset import DomainData
from xcross_core.data.load import LoadResult
from xcross_core.data.report import CHECKS, spreadsheet_safe
from xcross_core.jobs.verdicts import kept_start
from xcross_core.models.registry import model_entries, plan_entry
from xcross_core.store import Run

#: What a table shows in a cell that has no value (st.dataframe's placeholder, the HTML report's na_rep).
MISSING = "–"

# -- the data --------------------------------------------------------------------------------------------------


def domain_table(result: LoadResult) -> pd.DataFrame:
    """The per-domain statistics with readable headers."""
    frame = result.report.domains.copy()
    frame.columns = [c.replace("seq_len_", "length ").replace("_", " ") for c in frame.columns]
    return frame


def dropped_summary(report: Any) -> pd.DataFrame:
    """Dropped rows of a load report counted by file, reason and severity."""
    dropped = report.dropped
    if not len(dropped):
        return pd.DataFrame(columns=["file", "reason", "severity", "rows"])
    labelled = dropped.assign(reason=dropped["check"].map(CHECKS).fillna(dropped["check"]))
    return labelled.groupby(["file", "reason", "severity"], sort=False).size().rename("rows").reset_index()


def dropped_csv(report: Any) -> bytes:
    """The dropped rows as CSV, safe to open in a spreadsheet."""
    return spreadsheet_safe(report.dropped).to_csv(index=False).encode("utf-8-sig")


def item_label(domain: DomainData, index: int) -> str:
    """An item as title and id."""
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


# -- proof-of-concept results ------------------------------------------------------------------------------


def model_metrics(report: dict[str, Any], metrics: tuple[str, ...] = ("ndcg@10", "hit@10")) -> pd.DataFrame:
    """Long frame model, metric, mean, low, high from results.json."""
    rows = [
        {"model": model, "metric": m, **{k: info["metrics"][m][k] for k in ("mean", "low", "high")}}
        for model, info in report["models"].items()
        for m in metrics
        if m in info["metrics"]
    ]
    return pd.DataFrame(rows, columns=["model", "metric", "mean", "low", "high"])


#: The difference column of `comparison_frame`: X-Cross minus the row's model, or, in a run written before
#: X-Cross became the reference of every comparison, the row's model minus the target LoRA.
DIFFERENCE = "Δ NDCG@10 (X-Cross − model)"
OLD_DIFFERENCE = "Δ NDCG@10 (model − reference)"


def model_help(key: str) -> str:
    """What the model of results.json's `key` is, in plain words (a path is a source adapter applied alone)."""
    entry = plan_entry(key)
    return entry.poc_help or entry.help


def ready_models() -> dict[str, str]:
    """The registered models that rank without a split (Try it's list), by name, with the title the page shows."""
    return {e.name: e.title or e.name for e in model_entries() if e.ready}


def ready_defaults() -> list[str]:
    """The ready models Try it ticks first: those a proof of concept runs by default too (popularity)."""
    return [e.name for e in model_entries() if e.ready and e.baseline == "default"]


def training_note(fit: dict[str, Any]) -> str:
    """Which weights training kept, in a few words: "kept its start", "epoch 2 of 3", or "no training"."""
    if not fit.get("epochs"):
        return "no training"
    if kept_start(fit):
        return "kept its start"
    return f"epoch {fit['best_epoch']} of {fit['epochs']}"


def xcross_entry(report: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(label, entry) of X-Cross in results.json's models."""
    return next((label, info) for label, info in report["models"].items() if plan_entry(info["key"]).role == "subject")


def comparison_frame(report: dict[str, Any]) -> pd.DataFrame:
    """One readable row per model: what it is, metrics with CIs, the paired comparison with X-Cross (difference,
    adjusted p-value, outcome: for the pair the answer settles, the answer's), size, and which weights training
    kept. X-Cross's own row has no comparison: those cells are missing (shown as `MISSING`)."""
    tests = report.get("comparisons_vs_reference", {})
    new = any("outcome" in t for t in tests.values())
    answered = answered_pair(report)
    rows = []
    for model, info in report["models"].items():
        m = info["metrics"]
        test = tests.get(model)
        outcome = None if test is None else test.get("outcome")
        if model == answered:  # the page words this pair as the answer does: so does its row
            outcome = f"{report['answer']['outcome']} (the answer)"
        rows.append(
            {
                "model": model,
                "what it is": model_help(info["key"]),
                "NDCG@10": m["ndcg@10"]["mean"],
                "NDCG@10 95% CI": _ci(m["ndcg@10"]),
                "Hit@10": m["hit@10"]["mean"],
                "Hit@10 95% CI": _ci(m["hit@10"]),
                DIFFERENCE if new else OLD_DIFFERENCE: None if test is None else test["difference"]["mean"],
                "p-value": None if test is None else test.get("p_adjusted", test["p_value"]),
                "verdict": outcome,
                "trainable parameters": info.get("trainable_parameters"),
                "training users": info.get("train_users"),
                "training kept": training_note(info.get("fit", {})),
                "training time (s)": info.get("train_seconds"),
            }
        )
    return pd.DataFrame(rows)


def shown_values(frame: pd.DataFrame, formats: dict[str, Callable[[Any], str]]) -> pd.DataFrame:
    """`frame` as text for a table that renders every cell as written (st.table, HTML): the columns in `formats`
    formatted by them, and every missing value `MISSING`, never "None" or "nan"."""
    shown = frame.astype(object)
    for column, style in formats.items():
        shown[column] = frame[column].map(lambda v, style=style: MISSING if pd.isna(v) else style(v))
    return shown.where(shown.notna(), MISSING)


def _ci(estimate: dict[str, float]) -> str:
    return f"[{estimate['low']:.4f}, {estimate['high']:.4f}]"


def history_buckets(report: dict[str, Any]) -> pd.DataFrame:
    """NDCG@10 per model and history-length bucket (cold-start users apart), with CIs; buckets without test users
    are left out."""
    rows = [
        {"model": model, **bucket}
        for model, info in report["models"].items()
        for bucket in info["by_history_length"]
        if bucket["users"]  # a bucket no test user falls in has nothing to show
    ]
    return pd.DataFrame(rows, columns=["model", "bucket", "users", "mean", "low", "high"])


def efficiency_points(runs: list[Run]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From finished PoC runs of one target: (X-Cross and target LoRA NDCG@10 at each run's budget,
    the target LoRA on 100% of users wherever a run trained it). Runs whose results cannot be read are skipped."""
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
            entry = plan_entry(info["key"])
            if entry.role is not None:  # X-Cross and the target LoRA, trained on the run's budget
                points.append({"model": entry.word, **row})
            elif entry.users == "all":
                full.append(row)
    columns = ["model", "run", "fraction", "mean", "low", "high"]
    return pd.DataFrame(points, columns=columns), pd.DataFrame(full, columns=columns[1:])


def weights_spread_table(finding: dict[str, Any]) -> pd.DataFrame:
    """Per layer, how much each source's weight varies across users (standard deviation), from `weights_finding`."""
    frame = pd.DataFrame(finding.get("by_source", []), columns=["layer", "source", "mean", "sd"])
    table = frame.pivot(index="layer", columns="source", values="sd")
    table = table.loc[list(dict.fromkeys(frame["layer"])), list(dict.fromkeys(frame["source"]))]
    table.index = ["final mix" if i == "output" else f"layer {i}" for i in table.index]
    return table


def mean_weights(weights: pd.DataFrame) -> pd.DataFrame:
    """Average weight per layer (rows, in model order, the final mix last) and source (columns)."""
    table = weights.pivot_table(index="layer", columns="source", values="weight", aggfunc="mean")
    order = sorted((i for i in table.index if str(i) != "output"), key=lambda v: int(v))
    order += [i for i in table.index if str(i) == "output"]
    sources = list(dict.fromkeys(weights["source"]))
    return table.loc[order, sources]
