"""Results: one proof of concept in full, and the data-efficiency curve over every run of its target."""

import charts
import streamlit as st
from frames import (
    DIFFERENCE,
    MISSING,
    OLD_DIFFERENCE,
    comparison_frame,
    efficiency_points,
    history_buckets,
    model_metrics,
    shown_values,
)
from messages import GLOSSARY, answer_box, comparison_verdicts, glossary, guarded, model_glossary, verdict_box
from plain import md, plain, plain_table
from runs import duration, finished_pocs, pick_poc, read_run

from xcross_core.estimate import human_seconds
from xcross_core.jobs.verdicts import count

st.title("Results")
run = pick_poc("results-run")
if run is None:
    st.stop()
report, _, _ = guarded(lambda: read_run(run), "Could not read the run") or st.stop()

split = report["split"]
st.markdown(md("**{}**, bootstrapped from {}", report["target"], ", ".join(report["sources"])))
cols = st.columns(4)
cols[0].metric("Training users", f"{split['train_users']:,}", help=f"{split['fraction']:.0%} of the training users")
cols[1].metric("Test users", f"{split['test_cases']:,}", help="Customers held out: every model is scored on them.")
cols[2].metric("Catalogue", f"{split['catalogue_items']:,} items")
cols[3].metric("Run time", duration(run), help="From the start of the run to its end, as History shows it.")
if split.get("note"):  # fewer customers tested than were asked for, and why
    st.caption(plain(split["note"]))

if report.get("answer"):  # a results.json without an answer still shows the rest
    st.subheader("Can it be bootstrapped?")
    answer_box(report["answer"])

tests = report["comparisons_vs_reference"]
outcomes = [t.get("outcome") for t in tests.values()]
if all(outcomes):
    st.subheader("X-Cross against each model")
    comparisons = next(iter(tests.values()), {}).get("comparisons", 1)
    st.caption(
        "Each box compares X-Cross with one model on the same test users. Green: X-Cross ranks significantly "
        "better; blue: the same (the whole interval within the margin); red: significantly worse; amber: the data "
        f"can't tell. The {count(comparisons, 'comparison')} are corrected together (Bonferroni), so all "
        "intervals hold together at 95%. The comparison with the target LoRA is the one the answer above settles: "
        "it is worded as the answer."
    )
else:  # a run written before verdicts had outcomes: its sentences, uncoloured
    st.subheader(md("Verdicts against the reference: {}", report["reference"]))
for text, outcome in comparison_verdicts(report):
    verdict_box(text, outcome)
glossary(
    ["NDCG@10", "Hit@10", "95% CI", "p-value", "verdict", "same", "Inconclusive", *model_glossary(), "LoRA"]
    + ["kept its start", "trainable parameters"]
)

st.plotly_chart(charts.metric_bars(model_metrics(report)), width="stretch")
number, text = st.column_config.NumberColumn, st.column_config.TextColumn
frame = comparison_frame(report)
difference = DIFFERENCE if DIFFERENCE in frame else OLD_DIFFERENCE
# Two tables, so that neither is wider than the page: how well each model ranks, then what it is and its training.
st.dataframe(
    frame,
    hide_index=True,
    width="stretch",
    placeholder=MISSING,
    column_order=["model", "NDCG@10", "NDCG@10 95% CI", "Hit@10", "Hit@10 95% CI", difference, "p-value", "verdict"],
    column_config={
        "model": text(width="medium", pinned=True),
        "NDCG@10": number(format="%.4f", help=GLOSSARY["NDCG@10"]),
        "NDCG@10 95% CI": text(help=GLOSSARY["95% CI"]),
        "Hit@10": number(format="%.4f", help=GLOSSARY["Hit@10"]),
        "Hit@10 95% CI": text(help=GLOSSARY["95% CI"]),
        DIFFERENCE: number("X-Cross − model", format="%+.4f", help="X-Cross's NDCG@10 minus this model's."),
        OLD_DIFFERENCE: number("model − reference", format="%+.4f", help="This model's NDCG@10 minus the reference's."),
        "p-value": number(format="%.3f", help=GLOSSARY["p-value"]),
        "verdict": text(width="medium", help=GLOSSARY["verdict"]),
    },
)
st.caption(
    "Full-catalogue ranking of each test user's last purchase; 95% bootstrap intervals over test users. "
    f"{MISSING} in X-Cross's row: every other model is compared with X-Cross, so it has no difference, p-value or "
    "verdict of its own."
)
about = frame.set_index("model").rename(columns={"training time (s)": "training time"})
about = about[["what it is", "trainable parameters", "training users", "training kept", "training time"]]
whole = "{:,.0f}".format
formats = {"trainable parameters": whole, "training users": whole, "training time": human_seconds}
st.table(plain_table(shown_values(about, formats)))
st.caption(f"Trainable parameters: {GLOSSARY['trainable parameters']} {MISSING}: not recorded for this model.")

st.plotly_chart(charts.history_breakdown(history_buckets(report)), width="stretch")

points, full = efficiency_points(finished_pocs(report["target"]))
st.plotly_chart(charts.efficiency_curve(points, full), width="stretch")
budgets = points["fraction"].nunique()
if budgets < 2:
    st.info(
        md(
            "Only one data budget so far for {}: run the proof of concept again with other budgets "
            "(e.g. 10%, 50%, 100%) to draw the curve.",
            report["target"],
        )
    )
if full.empty:
    st.caption("Tick the `lora-full` baseline in a run to add the target LoRA on all users as a reference line.")
