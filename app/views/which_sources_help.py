"""Which sources help: X-Cross's contribution weights per layer and source, and one customer in detail."""

from pathlib import Path

import charts
import numpy as np
import streamlit as st
from frames import history_frame, item_label, mean_weights, weights_spread_table, xcross_entry
from loaders import domain_data, load_model
from messages import GLOSSARY, glossary, guarded
from plain import md, plain
from runs import pick_poc, read_run, run_dataset

from xcross_core.jobs.verdicts import count, kept_start, weights_finding
from xcross_core.models.recommender import top_k
from xcross_core.models.xcross import POPULARITY

st.title("Which sources help")
st.caption(
    "At every layer X-Cross decides, per customer, how much to draw on each source adapter. "
    "High weights mean that category's knowledge is used for the new one."
)
run = pick_poc("sources-run")
if run is None:
    st.stop()
report, _, weights = guarded(lambda: read_run(run), "Could not read the run") or st.stop()
if weights.empty:
    st.info("This run kept no contribution weights (it had no test users).")
    st.stop()

_, xcross = xcross_entry(report)
kept = kept_start(xcross.get("fit", {}))
finding = weights_finding(weights, kept)
summary = finding["text"]
terms = ["contribution weight", "final mix", "standard deviation", "score", "item popularity"]
if len(report["sources"]) == 1:  # one source's weight is 1 everywhere: nothing to draw
    st.info(plain(summary))
elif kept:  # equal weights from the untrained start are no finding: say so instead of drawing them
    st.warning(plain(summary), icon=":material/help:")
    terms.append("kept its start")
else:
    st.info(plain(summary))
    table = mean_weights(weights)
    left, right = st.columns([3, 2])
    left.plotly_chart(charts.weights_heatmap(table), width="stretch")
    right.plotly_chart(charts.source_totals(table.mean(axis=0)), width="stretch")
    first = min((int(v) for v in table.index if str(v).isdigit()), default=1)
    below = f" Layers below {first} hold no adapter: every source shares them, so there is no choice there."
    right.caption(
        md(
            "Averaged over {} of {}. Each layer's weights sum to 1; equal weights mean no preference. The final "
            "mix combines the source streams' final vectors into the one that scores the items.{}",
            count(weights["user_id"].nunique(), "test customer"),
            report["target"],
            below if first > 1 else "",
        )
    )
    st.markdown("**How much the mix adapts to the customer**")
    st.dataframe(
        weights_spread_table(finding),
        width="content",
        column_config={"_index": st.column_config.TextColumn("layer")}
        | {s: st.column_config.NumberColumn(format="%.3f") for s in report["sources"]},
    )
    st.caption(
        "The standard deviation of each source's weight across test customers, per layer: 0 means every "
        "customer gets the same mix there; larger means the mix depends on what the customer bought."
    )
    layers = [str(i) for i in table.index]
    layer = st.select_slider(
        "Layer",
        layers,
        value=layers[-1],
        format_func=lambda v: "final mix" if v == "output" else md("layer {}", v),
        help=f"Final mix: {GLOSSARY['final mix']}",
    )
    st.plotly_chart(charts.weights_spread(weights, layer), width="stretch")

glossary(terms)

# -- one customer ------------------------------------------------------------------------------------------
st.subheader("One customer in detail")
dataset = run_dataset(run)
domain = guarded(lambda: domain_data(dataset, report["target"]), "Could not load the run's data")
if domain is None:
    st.stop()
test_users = list(dict.fromkeys(weights["user_id"].astype(str)))
user = st.selectbox("Test customer", test_users, key="sources-user")
sequence = domain.sequence(domain.user_index[user])
history, held_out = sequence[:-1], int(sequence[-1])  # the test case: predict the last purchase from the rest
model = guarded(
    lambda: load_model(str(Path(run.artifact) / "xcross"), dataset, domain), "Could not load the X-Cross model"
)
if model is None:
    st.stop()
items, scores = top_k(model, [history], 10)
items, scores = items[0], scores[0]
attribution = model.attribution(history, items)
titles = [domain.titles()[i] for i in items]
attribution.index = [f"{rank}. {title}" for rank, title in enumerate(titles, start=1)]

a, b = st.columns([2, 3])
a.markdown("**Their purchases (oldest first)**")
a.dataframe(history_frame(domain, history), hide_index=True)
hit = np.flatnonzero(items == held_out)
actual = item_label(domain, held_out)
if len(hit):
    a.success(md("Actual next purchase, ranked #{}: {}", hit[0] + 1, actual))
else:
    a.info(md("Actual next purchase (not in the top 10): {}", actual))
b.plotly_chart(charts.attribution_bars(attribution), width="stretch")
b.caption(f"Score: {GLOSSARY['score']}")
if POPULARITY in attribution.columns:
    b.caption(f"“{POPULARITY}”: {GLOSSARY['item popularity']}")
if kept:
    b.caption("X-Cross's mix is still its start, so this split shows each source adapter's own part of the score.")
# Full width, so that the titles and every source's column fit side by side.
detail = attribution.reset_index(drop=True)
detail.insert(0, "score", scores)
detail.insert(0, "item", titles)
detail.insert(0, "rank", range(1, len(titles) + 1))
number = st.column_config.NumberColumn
st.dataframe(
    detail,
    hide_index=True,
    width="stretch",
    column_config={
        "rank": number(width="small"),
        "item": st.column_config.TextColumn(width="large"),
        "score": number(format="%.3f", help=GLOSSARY["score"]),
    }
    | {source: number(format="%.3f", help="This source's part of the score.") for source in attribution.columns},
)
