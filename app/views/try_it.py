"""Try it: a purchase history in, top-K from several saved models side by side.

Titles and model names are data: they are shown in tables and as plain text, never rendered as Markdown. Items
the customer already bought are never recommended back.
"""

from pathlib import Path

import numpy as np
import streamlit as st
from frames import history_frame, item_label, ready_defaults, ready_models
from loaders import adapter_label, adapter_library, current_domains, domain_data, library_problems, load_model
from messages import GLOSSARY, guarded
from plain import md
from runs import finished_pocs, run_label
from state import current_dataset

from xcross_core.models.recommender import top_k

st.title("Try it")
dataset = current_dataset()
domains = current_domains()
if domains is None:
    st.stop()
if not domains:
    st.info("Choose data with at least one usable domain on the **Data** page first.")
    st.stop()

a, b = st.columns([1, 3])
name = a.selectbox("Domain", domains, key="try-domain")
domain = domain_data(dataset, name)
how = a.radio("History", ["Pick items", "An existing customer"], key="try-how")
if how == "Pick items":
    history = b.multiselect(
        "Items bought, oldest first",
        range(domain.n_items),
        format_func=lambda i: item_label(domain, i),
        max_selections=20,
        key=f"try-items-{name}",
        placeholder="Type to search the catalogue",
    )
else:
    user = b.selectbox("Customer", domain.user_ids.tolist(), key=f"try-user-{name}")
    history = domain.sequence(domain.user_index[user]).tolist()
    b.text(" → ".join(domain.titles()[i] for i in history[-8:]))

library = adapter_library()
models = ready_models()
models |= {row["path"]: f"Adapter: {adapter_label(row)}" for _, row in library.iterrows()}
for run in finished_pocs():
    models[str(Path(run.artifact) / "xcross")] = f"X-Cross: {run_label(run)}"
default = [m for m in models if m in ready_defaults() or f"— {name} ·" in models[m]][:3]
c, d = st.columns([3, 1])
chosen = c.multiselect("Models", list(models), default=default, format_func=models.get, max_selections=4)
k = d.slider("How many recommendations", 5, 20, 10, key="try-k", help="K: the length of each model's list.")
problems = library_problems()
if problems:
    with st.expander(f"{len(problems)} adapter folder{'s' if len(problems) > 1 else ''} cannot be used"):
        for problem in problems:
            st.text(problem)
if not history:
    st.info("Pick at least one item (or a customer) to get recommendations.")
    st.stop()
if not chosen:
    st.info("Pick at least one model.")
    st.stop()

for column, key in zip(st.columns(len(chosen)), chosen, strict=True):
    column.markdown(md("**{}**", models[key]))
    model = None
    with column:
        model = guarded(lambda key=key: load_model(key, dataset, domain), "Could not load the model")
    if model is None:
        continue
    items, scores = top_k(model, [np.asarray(history, dtype=np.int64)], k)
    # Bought items score -inf and come last: when fewer than K items are left, they would fill the list.
    keep = np.isfinite(scores[0]) & ~np.isin(items[0], history)
    frame = history_frame(domain, items[0][keep]).rename(columns={"#": "rank"}).assign(score=scores[0][keep])
    column.dataframe(
        frame.drop(columns=["item_id"]).round({"score": 3}),
        hide_index=True,
        width="stretch",
        column_config={
            "rank": st.column_config.NumberColumn(width="small"),
            "title": st.column_config.TextColumn(width="large"),
            "score": st.column_config.NumberColumn(help=GLOSSARY["score"]),
        },
    )
    if keep.sum() < k:
        column.caption(md("Only {} items of {} are left that this history has not bought.", keep.sum(), name))
st.caption(f"Score: {GLOSSARY['score']}")
