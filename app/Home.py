"""X-Cross studio: the home page (run with `streamlit run app/Home.py`)."""

import streamlit as st
import widgets

widgets.page("X-Cross studio")
st.markdown(
    "Can recommendations in a **new product category** be bootstrapped from the categories you already have? "
    "X-Cross combines one small adapter per existing category and is compared, with confidence intervals, "
    "against fair baselines trained on the same data."
)

runs = widgets.store().list()
adapters = widgets.adapter_library()
cols = st.columns(4)
cols[0].metric("Dataset", widgets.current_dataset().label.split(" (")[0])
cols[1].metric("Adapters", len(adapters))
cols[2].metric("Running jobs", sum(r.status in ("queued", "running") for r in runs))
cols[3].metric("Finished PoC runs", len(widgets.finished_pocs()))

st.subheader("How a proof of concept goes")
steps = [
    ("pages/1_Data.py", "1. Data", "choose the sample data or upload your purchase log; check the validation report"),
    ("pages/2_Adapters.py", "2. Adapters", "one adapter per existing category (bundled ones are ready to use)"),
    ("pages/3_PoC_run.py", "3. PoC run", "pick the new category, the source adapters and a data budget; start"),
    ("pages/4_Results.py", "4. Results", "X-Cross against the baselines, with plain-language verdicts"),
    ("pages/5_Which_sources_help.py", "5. Which sources help", "how much each existing category contributes"),
    ("pages/6_Try_it.py", "6. Try it", "type a purchase history and compare recommendations side by side"),
    ("pages/7_History.py", "7. History & export", "every run; export a report as HTML, CSV or JSON"),
]
for target, label, help_text in steps:
    left, right = st.columns([1, 3])
    left.page_link(target, label=label)
    right.caption(help_text)
