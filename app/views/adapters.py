"""Adapters: the library of per-domain LoRA adapters, and training a new one in the background, with its estimated
time before it starts."""

from pathlib import Path

import pandas as pd
import streamlit as st
from frames import training_note
from loaders import adapter_library, current_domains
from messages import GLOSSARY, glossary, guarded
from plain import md
from runs import EPOCHS_HELP, active_runs, adapter_estimate_seconds, launch_run
from state import current_dataset

from xcross_core.estimate import human_seconds
from xcross_core.jobs.inputs import SplitSpec

st.title("Adapters")
st.caption("An adapter teaches the shared language model one product category; X-Cross combines several.")

library = adapter_library()
if library.empty:
    st.info(
        "No adapters yet. Train one below (one per existing category), or add bundled ones to sample_data/adapters."
    )
else:
    text, number = st.column_config.TextColumn, st.column_config.NumberColumn
    st.dataframe(
        # The base model by its name (the full path is in each adapter's metadata).
        library.drop(columns=["path"]).assign(
            base=library["base"].map(lambda b: Path(str(b)).name),
            training=[
                training_note({"best_epoch": k, "epochs": 0 if pd.isna(e) else int(e)})
                for k, e in zip(library["kept_epoch"], library["epochs"], strict=True)
            ],
        ),
        hide_index=True,
        width="stretch",
        # The columns that fit the page; the rest (purchases, date, recipe) are in each adapter's metadata.
        column_order=[
            "adapter",
            "domain",
            "base",
            "train_users",
            "valid_ndcg@10",
            "training",
            "trainable_parameters",
            "library",
        ],
        column_config={
            "adapter": text(pinned=True),
            "base": text("base model", help="The shared language model the adapter is an add-on to."),
            "train_users": number("training users", format="%,d"),
            "valid_ndcg@10": number(
                "validation NDCG@10", format="%.4f", help=GLOSSARY["NDCG@10"] + " On the domain's validation users."
            ),
            "training": text("training kept", help="The epoch whose weights were kept. " + GLOSSARY["kept its start"]),
            "trainable_parameters": number(
                "parameters", format="%,d", help="Weights the adapter trained; the language model stays frozen."
            ),
            "library": text(help="workspace: trained here; bundled: shipped with the sample data."),
        },
    )
    glossary(["LoRA", "NDCG@10", "kept its start"])

st.subheader("Train a new adapter")
dataset = current_dataset()
domains = current_domains()
if domains:
    with st.container(border=True):
        st.caption(md("From **{}**. Training runs in the background; you can leave this page.", dataset.label))
        a, b, c = st.columns(3)
        domain = a.selectbox("Domain", domains)
        name = b.text_input("Adapter name", placeholder=f"{domain} adapter")
        epochs = c.number_input("Epochs (at most)", 1, 50, 3, help=EPOCHS_HELP)
        fraction = a.slider("Share of the domain's training users", 0.05, 1.0, 1.0, 0.05)
        cap = b.number_input("Cap users (0 = no cap; for a quick trial)", 0, 1_000_000, 0, step=100)
        rank = c.select_slider("LoRA rank", [4, 8, 16, 32], 8, help="The adapter's size: higher can learn more.")
        split = SplitSpec(fraction=fraction, max_users=int(cap) or None, epochs=int(epochs))
        seconds = guarded(lambda: adapter_estimate_seconds(dataset, domain, split), "Cannot estimate the training")
        if seconds is not None:
            st.markdown(
                f"**Estimated time: about {human_seconds(seconds)}** on this machine, at the full epoch budget (from "
                "the domain's size and a speed measured here on its own prompts; early stopping can only shorten it)."
            )
        if st.button("Start training", type="primary"):
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
