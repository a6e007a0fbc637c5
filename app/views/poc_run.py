"""PoC run: configure and start a proof of concept for a new domain, from existing source adapters and categories of
the data to train one for first (one run does both), with its estimated time; and follow the runs in progress."""

from datetime import datetime

import streamlit as st
from loaders import adapter_library, current_domains
from messages import guarded
from plain import md
from runs import (
    EPOCHS_HELP,
    active_runs,
    default_sources,
    finished_pocs,
    launch_run,
    poc_estimate_seconds,
    poc_users,
    run_label,
    source_choices,
    sourced_estimate_seconds,
    speeds_folder,
    untrained_categories,
)
from state import Dataset, current_dataset, workspace

from xcross_core.estimate import human_seconds
from xcross_core.jobs.poc import BASELINES, DEFAULT_BASELINES, PocSpec, baseline_help
from xcross_core.jobs.poc_sources import SourcedPocSpec
from xcross_core.jobs.verdicts import MIN_TEST_USERS
from xcross_core.models.adapters import ADAPTER_FORMAT

#: The test users a proof of concept asks for (topped up from customers outside the cap).
TEST_USERS = PocSpec.__dataclass_fields__["test_users"].default


def spec_help(name: str) -> str:
    """The PoC setting's help as `xcross poc --help` words it, as the start of a sentence."""
    text = PocSpec.help_for(name)
    return text[:1].upper() + text[1:]


def say_users(dataset: Dataset, spec: PocSpec) -> None:
    """How many customers the run would train and test with these settings, and when too few are tested to
    answer, that the answer will be Inconclusive for that reason."""
    split = guarded(lambda: poc_users(dataset, spec), "Cannot count the customers")
    if split is None:
        return
    trained, tested = split["train_users"], split["test_cases"]
    st.markdown(
        md(
            "With these settings **{:,} customers train** X-Cross and the target LoRA, and every model is **tested "
            "on {:,} other customers**.",
            trained,
            tested,
        )
    )
    if split.get("note"):
        st.caption(md("{}.", split["note"]))
    if tested < MIN_TEST_USERS:
        st.warning(
            md(
                "Only {:,} customers would be tested: an answer needs at least {}, so it will be **Inconclusive** "
                "for that reason, whatever the models do. A lower cap on users tests more customers (those outside "
                "it) and trains fewer.",
                tested,
                MIN_TEST_USERS,
            )
        )


def say_estimate(dataset: Dataset, spec: SourcedPocSpec) -> None:
    """How long the run should take here, before it starts: with source adapters to train first, each training's
    time and the proof of concept's."""
    how = (
        "at its full epoch budget (from the data's sizes and a speed measured here on the target's own prompts; "
        "early stopping can only shorten it)"
    )
    if not spec.train_sources:
        seconds = guarded(lambda: poc_estimate_seconds(dataset, spec), "Cannot estimate the run")
        if seconds is not None:
            st.markdown(f"**Estimated time: about {human_seconds(seconds)}** on this machine, for every model {how}.")
        return
    estimate = guarded(lambda: sourced_estimate_seconds(dataset, spec), "Cannot estimate the run")
    if estimate is None:
        return
    trainings = zip(spec.train_sources, estimate.trainings, strict=True)
    st.markdown(
        md("**Estimated time: about {}** on this machine: ", human_seconds(estimate.total))
        + "training "
        + ", ".join(md("the adapter of {} (about {})", c, human_seconds(s)) for c, s in trainings)
        + f", then the proof of concept over every source (about {human_seconds(estimate.poc)}); each model {how}."
    )


st.title("PoC run")
st.caption(
    "X-Cross is trained on a small share of the new domain's customers and compared with the domain's own LoRA "
    "adapter trained on the same share, plus the baselines you pick. Everyone is tested on the same customers."
)

dataset = current_dataset()
domains = current_domains() or []
library = adapter_library()
stale = library[library["format"] != ADAPTER_FORMAT]
library = library[library["format"] == ADAPTER_FORMAT]
if len(stale):
    st.caption(
        md(
            "Not offered: {}, trained with an earlier recipe (format {}). Retrain them on the **Adapters** page to "
            "use them.",
            ", ".join(stale["adapter"]),
            ", ".join(map(str, sorted(set(stale["format"])))),
        )
    )

if not domains:
    st.info("Choose data with at least one usable domain on the **Data** page first.")
else:
    if library.empty:
        st.info(
            "No source adapters yet: pick below the categories to train one for first, in the same run, or train "
            "them on the **Adapters** page."
        )
    target = st.selectbox("New domain (target)", domains, help="The category to bootstrap recommendations for.")
    choices = source_choices(library, dataset, domains)
    labels = dict(zip(choices["path"], choices["label"], strict=True))
    sources = (
        st.multiselect(
            "Source adapters",
            list(labels),
            default=default_sources(choices, target),
            format_func=labels.get,
            key=f"sources-{target}",
            help="Adapters of existing categories, all on one base model; those trained on this data come first. "
            "An adapter of the target itself would leak its data.",
        )
        if labels
        else []
    )
    untrained = untrained_categories(choices, domains, target)
    queued = (
        st.multiselect(
            "Source categories to train first",
            untrained,
            key=f"train-{target}",
            help="Categories of this data with no adapter trained on it yet. Starting the run trains an adapter for "
            "each first, on all its customers up to the cap on users below, for at most the epochs below, and on "
            "the base model of the source adapters above (else the packaged one); each is saved in the adapter "
            "library, so later runs use it. Then the proof of concept runs with every source.",
        )
        if untrained
        else []
    )
    synthetic = choices.loc[choices["path"].isin(sources) & choices["synthetic"], "domain"].tolist()
    if synthetic:
        st.warning(
            md(
                "{} {} trained on the bundled synthetic sample data, not on {}: made-up shops, products and "
                "customers. What {} learned is unlikely to carry over to real customers, so X-Cross would be "
                "judged with sources that cannot help it. Train adapters on this data's other categories on the "
                "**Adapters** page.",
                "The sample adapters of" if len(synthetic) > 1 else "The sample adapter of",
                " and ".join(synthetic) + (" were" if len(synthetic) > 1 else " was"),
                dataset.label,
                "they" if len(synthetic) > 1 else "it",
            )
        )
    with st.container(border=True):
        c, d, e, f = st.columns(4)
        fraction = c.slider(
            "Data budget: share of the target's training users",
            0.05,
            1.0,
            0.25,
            0.05,
            format="%.2f",
            help=f"{spec_help('fraction')}. Test users never change with it, so budgets are comparable.",
        )
        cap = d.number_input(
            "Cap users (0 = all)",
            0,
            1_000_000,
            1000,
            step=100,
            help=f"{spec_help('max_users')}, so a first trial takes minutes. 0 uses every user.",
        )
        epochs = e.number_input("Epochs per model (at most)", 1, 50, 3, help=f"{spec_help('epochs')}. {EPOCHS_HELP}")
        tested = f.number_input(
            "Test users",
            1,
            1_000_000,
            TEST_USERS,
            step=100,
            help=f"{spec_help('test_users')}. With fewer than {MIN_TEST_USERS} test users the answer is Inconclusive.",
        )
        baselines = st.multiselect(
            "Baselines",
            BASELINES,
            default=list(DEFAULT_BASELINES),
            help="\n".join(f"- **{b}**: {baseline_help(b)}" for b in BASELINES),
        )
        # Left empty, the name follows the current settings (a typed one is kept as it is).
        default_name = f"{target} {fraction * 100:.0f} pct {datetime.now():%Y-%m-%d %H.%M}"
        # A key of its own: the placeholder changes every minute, and a typed name must survive that.
        name = st.text_input("Run name", placeholder=default_name, key="run-name").strip() or default_name
        params = dataset.params() | {
            "target": target,
            "adapters": list(sources),
            "fraction": float(fraction),
            "max_users": int(cap) or None,
            "test_users": int(tested),
            "epochs": int(epochs),
            "baselines": list(baselines),
            "seed": 0,
            "speed_cache": str(speeds_folder()),  # the run reads the speed this page measured
        }
        if queued:
            params |= {"train_sources": list(queued), "library": str(workspace().adapters)}
        spec = (
            guarded(lambda: SourcedPocSpec.from_dict(params), "Cannot use these settings")
            if sources or queued
            else None
        )
        if spec is not None:
            say_users(dataset, spec)
            say_estimate(dataset, spec)
        start = st.button("Start the proof of concept", type="primary")
    if start and launch_run("poc", name, params):
        first = md("It trains the adapters of {} first. ", ", ".join(queued)) if queued else ""
        st.success(
            md("Started **{}**. ", name) + first + "Its progress shows below; results appear on the **Results** page."
        )

st.subheader("Runs in progress")
active_runs("poc")
recent = finished_pocs()[:3]
if recent:
    st.caption(md("Latest finished: {}", " · ".join(run_label(r) for r in recent)))
    st.page_link("views/results.py", label="See the results →")
