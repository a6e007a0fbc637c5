"""Adapters: the library of per-domain LoRA adapters, and training a new one in the background."""

import streamlit as st
from loaders import adapter_library, current_domains
from runs import EPOCHS_HELP, active_runs, launch_run
from state import current_dataset

st.title("Adapters")
st.caption("An adapter teaches the shared language model one product category; X-Cross combines several.")

library = adapter_library()
if library.empty:
    st.info(
        "No adapters yet. Train one below (one per existing category), or add bundled ones to sample_data/adapters."
    )
else:
    st.dataframe(
        library.drop(columns=["path"]),
        hide_index=True,
        width="stretch",
        column_config={
            "train_users": st.column_config.NumberColumn("training users", format="%d"),
            "train_interactions": st.column_config.NumberColumn("training purchases", format="%d"),
            "valid_ndcg@10": st.column_config.NumberColumn("validation NDCG@10", format="%.4f"),
            "trainable_parameters": st.column_config.NumberColumn("parameters", format="%d"),
            "base": st.column_config.TextColumn("base model"),
        },
    )

st.subheader("Train a new adapter")
dataset = current_dataset()
domains = current_domains()
if domains:
    with st.form("train-adapter"):
        st.caption(f"From **{dataset.label}**. Training runs in the background; you can leave this page.")
        a, b, c = st.columns(3)
        domain = a.selectbox("Domain", domains)
        name = b.text_input("Adapter name", placeholder=f"{domains[0]} adapter")
        epochs = c.number_input("Epochs (at most)", 1, 50, 3, help=EPOCHS_HELP)
        fraction = a.slider("Share of the domain's training users", 0.05, 1.0, 1.0, 0.05)
        cap = b.number_input("Cap users (0 = no cap; for a quick trial)", 0, 1_000_000, 0, step=100)
        rank = c.select_slider("LoRA rank", [4, 8, 16, 32], 8)
        if st.form_submit_button("Start training", type="primary"):
            params = dataset.params() | {
                "domain": domain,
                "fraction": fraction,
                "max_users": int(cap) or None,
                "epochs": int(epochs),
                "seed": 0,
                "rank": rank,
                "alpha": 2 * rank,
            }
            launch_run("adapter", name.strip() or f"{domain} adapter", params)
elif domains is not None:
    st.info("Choose data with at least one usable domain on the **Data** page first.")

st.subheader("Training now")
active_runs("adapter")
