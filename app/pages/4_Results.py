"""Results: one proof of concept in full, and the data-efficiency curve over every run of its target."""

import charts
import streamlit as st
import widgets

from xcross_core.estimate import human_seconds

widgets.page("Results")
run = widgets.pick_poc("results-run")
if run is None:
    st.stop()
report, _, _ = widgets.guarded(lambda: widgets.read_run(run), "Could not read the run") or st.stop()

split = report["split"]
st.markdown(f"**{report['target']}**, bootstrapped from {', '.join(report['sources'])}")
cols = st.columns(4)
cols[0].metric("Training users", f"{split['train_users']:,}", help=f"{split['fraction']:.0%} of the training users")
cols[1].metric("Test users", f"{split['test_cases']:,}")
cols[2].metric("Catalogue", f"{split['catalogue_items']:,} items")
cols[3].metric("Run time", human_seconds(report.get("seconds")))

if report.get("answer"):  # runs from before the answer was written have none
    st.subheader("Can it be bootstrapped?")
    st.markdown(report["answer"])

st.subheader(f"Verdicts against the reference: {report['reference']}")
for model, test in report["comparisons_vs_reference"].items():
    widgets.verdict_box(model, test)

st.plotly_chart(charts.metric_bars(widgets.model_metrics(report)), width="stretch")
st.dataframe(
    widgets.comparison_frame(report),
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

st.plotly_chart(charts.history_breakdown(widgets.history_buckets(report)), width="stretch")

points, full = widgets.efficiency_points(widgets.finished_pocs(report["target"]))
st.plotly_chart(charts.efficiency_curve(points, full), width="stretch")
budgets = points["fraction"].nunique()
if budgets < 2:
    st.info(
        f"Only one data budget so far for {report['target']}: run the proof of concept again with other budgets "
        "(e.g. 10%, 50%, 100%) to draw the curve."
    )
if full.empty:
    st.caption("Tick the `lora-full` baseline in a run to add the target LoRA on all users as a reference line.")
