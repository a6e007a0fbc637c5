"""Which sources help: X-Cross's contribution weights per layer and source, and one customer in detail."""

from pathlib import Path

import charts
import numpy as np
import streamlit as st
from frames import history_frame, item_label, mean_weights
from loaders import domain_data, load_model
from messages import guarded
from runs import pick_poc, read_run, run_dataset

from xcross_core.models.recommender import top_k

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

table = mean_weights(weights)
left, right = st.columns([3, 2])
left.plotly_chart(charts.weights_heatmap(table), width="stretch")
right.plotly_chart(charts.source_totals(table.mean(axis=0)), width="stretch")
users = weights["user_id"].nunique()
right.caption(
    f"Averaged over {users:,} test customers of {report['target']}. Each layer's weights sum to 1; "
    "equal weights mean no preference."
)

layers = [str(i) for i in table.index]
layer = st.select_slider(
    "Layer", layers, value=layers[-1], format_func=lambda v: "final mix" if v == "output" else f"layer {v}"
)
st.plotly_chart(charts.weights_spread(weights, layer), width="stretch")

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
labels = [f"{rank}. {domain.titles()[i][:40]}" for rank, i in enumerate(items, start=1)]
attribution.index = labels

a, b = st.columns([2, 3])
a.markdown("**Their purchases (oldest first)**")
a.dataframe(history_frame(domain, history), hide_index=True)
hit = np.flatnonzero(items == held_out)
actual = item_label(domain, held_out)
if len(hit):
    a.success(f"Actual next purchase, ranked #{hit[0] + 1}: {actual}")
else:
    a.info(f"Actual next purchase (not in the top 10): {actual}")
b.plotly_chart(charts.attribution_bars(attribution), width="stretch")
detail = attribution.copy()
detail.insert(0, "score", scores)
b.dataframe(detail.round(3), width="stretch")
