"""Results: one proof of concept in full, and the data-efficiency curve over every run of its target."""

import charts
import streamlit as st
from frames import comparison_frame, efficiency_points, history_buckets, model_metrics
from messages import guarded, verdict_box
from runs import finished_pocs, pick_poc, read_run

from xcross_core.estimate import human_seconds

st.title("Results")
run = pick_poc("results-run")
if run is None:
    st.stop()
report, _, _ = guarded(lambda: read_run(run), "Could not read the run") or st.stop()

split = report["split"]
st.markdown(f"**{report['target']}**, bootstrapped from {', '.join(report['sources'])}")
cols = st.columns(4)
cols[0].metric("Training users", f"{split['train_users']:,}", help=f"{split['fraction']:.0%} of the training users")
cols[1].metric("Test users", f"{split['test_cases']:,}")
cols[2].metric("Catalogue", f"{split['catalogue_items']:,} items")
cols[3].metric("Run time", human_seconds(report.get("seconds")))

if report.get("answer"):  # a results.json without an answer still shows the rest
    st.subheader("Can it be bootstrapped?")
    st.markdown(report["answer"])

st.subheader(f"Verdicts against the reference: {report['reference']}")
for model, test in report["comparisons_vs_reference"].items():
    verdict_box(model, test)

st.plotly_chart(charts.metric_bars(model_metrics(report)), width="stretch")
st.dataframe(
    comparison_frame(report),
    hide_index=True,
    width="stretch",
    column_config={
        "NDCG@10": st.column_config.NumberColumn(format="%.4f"),
        "Hit@10": st.column_config.NumberColumn(format="%.4f"),
        "Δ NDCG@10 vs reference": st.column_config.NumberColumn(format="%+.4f"),
        "p-value": st.column_config.NumberColumn(format="%.3f"),
        "trainable parameters": st.column_config.NumberColumn(format="%d"),
    },
)
st.caption("Full-catalogue ranking of each test user's last purchase; 95% bootstrap intervals over test users.")

st.plotly_chart(charts.history_breakdown(history_buckets(report)), width="stretch")

points, full = efficiency_points(finished_pocs(report["target"]))
st.plotly_chart(charts.efficiency_curve(points, full), width="stretch")
budgets = points["fraction"].nunique()
if budgets < 2:
    st.info(
        f"Only one data budget so far for {report['target']}: run the proof of concept again with other budgets "
        "(e.g. 10%, 50%, 100%) to draw the curve."
    )
if full.empty:
    st.caption("Tick the `lora-full` baseline in a run to add the target LoRA on all users as a reference line.")
