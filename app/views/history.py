"""History & export: every run in the store; delete one; export a proof of concept as HTML, CSV or JSON.

The CSV exports are spreadsheet-safe (a cell that a spreadsheet would run as a formula is quoted); names and
errors are shown as written.
"""

import json
from pathlib import Path

import pandas as pd
import streamlit as st
from export import report_html
from frames import MISSING
from messages import GLOSSARY, guarded
from plain import md
from runs import created, csv_export, delete_run, duration, read_run, run_error, run_label
from state import store

st.title("History & export")
runs = store().list()
if not runs:
    st.info("No runs yet. Adapters you train and proofs of concept you start are all listed here.")
    st.stop()


def key_metrics(run) -> str:
    """A short summary of what a run found."""
    metrics = run.metrics or {}
    if run.kind == "adapter":
        valid = metrics.get("valid_ndcg@10")
        return "" if valid is None else f"validation NDCG@10 {valid:.4f}"
    if run.kind == "poc" and run.status == "succeeded" and run.artifact and Path(run.artifact).is_dir():
        try:
            report, _, _ = read_run(run)
        except (OSError, ValueError):
            return "results missing"
        scores = {info["key"]: f"{info['metrics']['ndcg@10']['mean']:.4f}" for info in report["models"].values()}
        return f"NDCG@10: X-Cross {scores.get('x-cross', MISSING)} · LoRA {scores.get('lora', MISSING)}"
    return ""


table = pd.DataFrame(
    {
        "kind": [r.kind for r in runs],
        "name": [r.name for r in runs],
        "status": [r.status for r in runs],
        "created": [created(r) for r in runs],
        "duration": [duration(r) for r in runs],
        "key metrics": [key_metrics(r) for r in runs],
        "error": [run_error(r) for r in runs],
    }
)
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        "duration": st.column_config.TextColumn(help="From the start of the run to its end (or to now, if running)."),
        "key metrics": st.column_config.TextColumn(width="medium", help=GLOSSARY["NDCG@10"]),
        "error": st.column_config.TextColumn(width="large"),
    },
)

st.subheader("One run")
by_id = {r.id: r for r in runs}
run = by_id[st.selectbox("Run", list(by_id), format_func=lambda i: run_label(by_id[i]), key="history-run")]
if run.status == "failed":
    st.error(md("Failed: {}", run.error))
with st.expander("Parameters"):
    st.json(run.params)

if run.kind == "poc" and run.status == "succeeded":
    loaded = guarded(lambda: read_run(run), "Could not read the run's results")
    if loaded:
        report, comparison, weights = loaded
        slug = "".join(ch if ch.isalnum() else "_" for ch in run.name)
        a, b, c, d = st.columns(4)
        a.download_button("HTML report", lambda: report_html(run, report), f"{slug}.html", "text/html", type="primary")
        b.download_button("Comparison (CSV)", csv_export(comparison), f"{slug}_comparison.csv", "text/csv")
        c.download_button("Weights (CSV)", lambda: csv_export(weights), f"{slug}_weights.csv", "text/csv")
        d.download_button("Results (JSON)", json.dumps(report, indent=2), f"{slug}_results.json", "application/json")

with st.popover("Delete this run"):
    remove = st.checkbox("Also delete its files (adapter or run folder)", key=f"rm-files-{run.id}")
    clicked = st.button("Delete", type="primary", key=f"delete-{run.id}")
    if clicked and guarded(lambda: delete_run(run, remove) or True, "Could not delete"):
        st.toast(md("Deleted {}", run.name))
        st.rerun()
