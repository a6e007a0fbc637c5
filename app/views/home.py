"""Overview: what the studio answers, where things stand, and the steps of a proof of concept."""

import streamlit as st
from loaders import adapter_library
from messages import GLOSSARY, glossary
from plain import plain
from runs import finished_pocs
from state import current_dataset, store

st.title("X-Cross studio")
st.markdown(
    "Can recommendations in a **new product category** be bootstrapped from the categories you already have? "
    "X-Cross combines one small adapter per existing category and is compared, with confidence intervals, "
    "against fair baselines trained on the same data."
)

runs = store().list()
cols = st.columns(4)
cols[0].metric("Dataset", plain(current_dataset().label.split(" (")[0]))
cols[1].metric("Adapters", len(adapter_library()), help=GLOSSARY["LoRA"])
cols[2].metric("Running jobs", sum(r.status in ("queued", "running") for r in runs))
cols[3].metric("Finished PoC runs", len(finished_pocs()))

st.subheader("How a proof of concept goes")
steps = [
    ("views/data.py", "1. Data", "choose the sample data or upload your purchase log; check the validation report"),
    ("views/adapters.py", "2. Adapters", "one adapter per existing category (bundled ones are ready to use)"),
    ("views/poc_run.py", "3. PoC run", "pick the new category, the source adapters and a data budget; start"),
    ("views/results.py", "4. Results", "the answer (Yes, No or Inconclusive) and X-Cross against each baseline"),
    ("views/which_sources_help.py", "5. Which sources help", "how much each existing category contributes"),
    ("views/try_it.py", "6. Try it", "type a purchase history and compare recommendations side by side"),
    ("views/history.py", "7. History & export", "every run; export a report as HTML, CSV or JSON"),
]
for target, label, help_text in steps:
    left, right = st.columns([1, 3])
    left.page_link(target, label=label)
    right.caption(help_text)
glossary(list(GLOSSARY), "Words the studio uses")
