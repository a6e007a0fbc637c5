"""The studio's answer and verdicts, through Streamlit's AppTest: colours from the result's data, plain-language
help, people's numbers, the weights said in words when X-Cross kept its start, runs written before answers had
outcomes, and the HTML report that opens offline.

One workspace for the module: two tiny adapters and one small finished proof of concept (6 test users, so its
answer is Inconclusive). Variants of that run are written beside it by editing its results.json.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.studio_helpers import ROOT, finished_poc, tiny_adapters
from tests.test_app import texts
from xcross_core.jobs.verdicts import answer, verdict
from xcross_core.stats import Estimate, PairedTest
from xcross_core.worker import Workspace

APP = ROOT / "app"
TIMEOUT = 120
#: A paired test (X-Cross minus another model, 4 comparisons) for each verdict outcome, with a margin of 0.02.
MARGIN = 0.02
TESTS = {
    "better": PairedTest(Estimate(0.05, 0.02, 0.08, 1 - 0.05 / 4), 0.0004, 400, 4),
    "same": PairedTest(Estimate(0.001, -0.01, 0.012, 1 - 0.05 / 4), 0.8, 400, 4),
    "worse": PairedTest(Estimate(-0.05, -0.08, -0.02, 1 - 0.05 / 4), 0.0004, 400, 4),
    "inconclusive": PairedTest(Estimate(0.02, -0.1, 0.14, 1 - 0.05 / 4), 0.5, 400, 4),
}


@pytest.fixture(scope="module")
def studio(tiny_bert, tmp_path_factory) -> tuple[Workspace, str]:
    workspace = Workspace(tmp_path_factory.mktemp("studio-answer"))
    adapters = tiny_adapters(workspace, tiny_bert)
    return workspace, finished_poc(workspace, adapters, baselines=["popularity", "zero-shot"])


@pytest.fixture(autouse=True)
def environment(studio, monkeypatch) -> None:
    monkeypatch.setenv("XCROSS_HOME", str(studio[0].root))
    monkeypatch.syspath_prepend(str(APP))


def variant(studio, name: str, edit: Callable[[dict[str, Any], Path], None]) -> str:
    """A copy of the module's run as a new finished run, its results.json changed by `edit(report, folder)`."""
    workspace, run_id = studio
    store = workspace.store()
    base = store.get(run_id)
    folder = workspace.runs / name
    if not folder.exists():
        shutil.copytree(base.artifact, folder)
        report = json.loads((folder / "results.json").read_text())
        edit(report, folder)
        (folder / "results.json").write_text(json.dumps(report))
    run = store.create("poc", name, base.params)
    store.start(run.id)
    store.finish(run.id, {}, folder)
    return run.id


def every_outcome(report: dict[str, Any], _: Path) -> None:
    """Four comparisons, one per outcome, and a decisive Yes (texts made by the job's own functions)."""
    reference = report["reference"]
    names = list(report["comparisons_vs_reference"])
    assert len(names) == 4, names  # target LoRA, popularity, two sources alone
    report["comparisons_vs_reference"] = {
        name: test.to_dict() | {"outcome": outcome, "verdict": verdict(reference, name, test, MARGIN)}
        for name, (outcome, test) in zip(names, TESTS.items(), strict=True)
    }
    report["answer"] = answer("Electronics", report["sources"], TESTS["better"], margin=MARGIN, parameter_share=0.1)
    first = next(iter(report["models"].values()))
    for bucket in first["by_history_length"]:
        bucket["users"] = 1


def written_before_outcomes(report: dict[str, Any], _: Path) -> None:
    """results.json as runs wrote it before: the answer as text, verdicts without outcomes, no weights finding."""
    report["answer"] = "Yes: X-Cross over Sports, Kitchen ranks as well as Electronics's own adapter."
    for name, test in report["comparisons_vs_reference"].items():
        report["comparisons_vs_reference"][name] = {
            "difference": test["difference"],
            "p_value": test["p_value"],
            "n": test["n"],
            "verdict": f"{name} is as good as the reference: not significantly different (old wording).",
        }
    del report["weights"]


def learned(report: dict[str, Any], folder: Path) -> None:
    """X-Cross's integration learned (its second epoch was kept), and its weights differ between users."""
    xcross = next(info for info in report["models"].values() if info["key"] == "x-cross")
    xcross["fit"] |= {"epochs": 2, "best_epoch": 2}
    weights = pd.read_csv(folder / "weights.csv", dtype={"layer": str})
    rng = np.random.default_rng(0)
    weights["weight"] = rng.random(len(weights)) + 0.1
    weights["weight"] /= weights.groupby(["user_id", "layer"])["weight"].transform("sum")
    weights.to_csv(folder / "weights.csv", index=False)


def learned_on_top_blocks(report: dict[str, Any], folder: Path) -> None:
    """`learned`, from sources that adapt only the top blocks: the weights start at layer 5 of 6."""
    learned(report, folder)
    weights = pd.read_csv(folder / "weights.csv", dtype={"layer": str})
    weights["layer"] = weights["layer"].replace({"1": "5", "2": "6"})
    weights.to_csv(folder / "weights.csv", index=False)


def kept(report: dict[str, Any], _: Path) -> None:
    xcross = next(info for info in report["models"].values() if info["key"] == "x-cross")
    xcross["fit"] |= {"epochs": 2, "best_epoch": 0}


def open_page(page: str, **state: object):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP / "Home.py"), default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_small_run_answers_inconclusive_in_amber_and_says_why(studio) -> None:
    at = open_page("views/results.py", poc_run=studio[1])
    answer_text = texts(at.warning)
    assert "**Inconclusive: the data can't say whether X-Cross over Sports, Kitchen" in answer_text
    assert "- Only 6 test users: at least 100 are needed" in answer_text
    assert "raise the number of test users" in answer_text
    assert "X-Cross against each model" in texts(at.subheader)
    assert "corrected together (Bonferroni)" in texts(at.caption)
    table = at.dataframe[0].value
    assert (
        table.loc[table["model"] == "popularity", "what it is"].item()
        == "the items bought most often in the training data"
    )
    assert set(table["training kept"]) <= {"no training", "kept its start", "epoch 1 of 1"}
    about = at.table[0].value  # what each model is and how it trained, as people read numbers
    report = json.loads((studio[0].runs / "tiny poc" / "results.json").read_text())
    for model, info in report["models"].items():
        assert about.loc[model, "trainable parameters"] == f"{info['trainable_parameters']:,}"
    assert any("," in v for v in about["trainable parameters"])  # the target LoRA has thousands of them
    assert "What these words mean" in [e.label for e in at.expander]


def test_verdicts_are_coloured_by_their_recorded_outcome(studio) -> None:
    run_id = variant(studio, "every outcome", every_outcome)
    at = open_page("views/results.py", poc_run=run_id)
    report = json.loads((studio[0].runs / "every outcome" / "results.json").read_text())
    by_outcome = {t["outcome"]: t["verdict"] for t in report["comparisons_vs_reference"].values()}
    # The target LoRA's comparison ("better") is the one the answer settles: worded and coloured as the answer.
    assert "Yes (the answer above): X-Cross (50% of users) ranks significantly better than target LoRA" in texts(
        at.success
    )
    assert by_outcome["better"] not in texts([*at.markdown, *at.success])
    assert by_outcome["same"] in texts(at.info)
    assert by_outcome["worse"] in texts(at.error)
    assert by_outcome["inconclusive"] in texts(at.warning)
    assert texts(at.success).startswith("**Yes: X-Cross over Sports, Kitchen ranks significantly better")
    assert not any("Inconclusive" in str(w.value) for w in at.warning)
    # History-length buckets of one user read "1 user".
    spec = next(c.proto.spec for c in at.get("plotly_chart") if "history length" in c.proto.spec)
    assert "(1 user)" in spec and "(1 users)" not in spec


def test_a_run_written_before_answers_had_outcomes_shows_its_text_without_a_colour(studio) -> None:
    run_id = variant(studio, "before outcomes", written_before_outcomes)
    at = open_page("views/results.py", poc_run=run_id)
    shown = texts(at.markdown)
    assert "Yes: X-Cross over Sports, Kitchen ranks as well as Electronics's own adapter." in shown
    assert "is as good as the reference: not significantly different (old wording)." in shown
    coloured = texts([*at.success, *at.info, *at.warning, *at.error])
    assert "old wording" not in coloured and "Yes: X-Cross over" not in coloured
    assert "Verdicts against the reference" in texts(at.subheader)
    assert "Δ NDCG@10 (model − reference)" in at.dataframe[0].value.columns
    sources = open_page("views/which_sources_help.py", poc_run=run_id)  # no weights finding stored: computed
    assert sources.get("plotly_chart")


def test_which_sources_help_says_in_words_when_x_cross_kept_its_start(studio) -> None:
    at = open_page("views/which_sources_help.py", poc_run=variant(studio, "kept its start", kept))
    assert "X-Cross kept its starting weights" in texts(at.warning) and "not a finding" in texts(at.warning)
    assert len(at.get("plotly_chart")) == 1  # the one customer's attribution; no heatmap of equal weights
    assert not at.select_slider
    assert "One customer in detail" in texts(at.subheader)


def test_which_sources_help_shows_learned_weights_and_their_spread_per_layer(studio) -> None:
    at = open_page("views/which_sources_help.py", poc_run=variant(studio, "learned", learned))
    assert "X-Cross learned its weights: they vary between customers most at" in texts(at.info)
    assert len(at.get("plotly_chart")) == 4  # heatmap, totals, spread, attribution
    spread = next(d.value for d in at.dataframe if "layer 1" in list(d.value.index))
    weights = pd.read_csv(studio[0].runs / "learned" / "weights.csv", dtype={"layer": str})
    expected = weights[weights["layer"] == "1"].groupby("source")["weight"].std()
    assert spread.loc["layer 1", list(expected.index)].to_numpy() == pytest.approx(expected.to_numpy())
    assert "final mix" in spread.index


def test_layers_without_adapters_are_explained_not_left_out_silently(studio) -> None:
    at = open_page("views/which_sources_help.py", poc_run=variant(studio, "learned", learned))
    assert "hold no adapter" not in texts(at.caption)  # the tiny sources adapt every block
    at = open_page("views/which_sources_help.py", poc_run=variant(studio, "top blocks", learned_on_top_blocks))
    assert "Layers below 5 hold no adapter: every source shares them" in texts(at.caption)
    assert "layer 5" in list(next(d.value for d in at.dataframe if "final mix" in d.value.index).index)


def test_the_html_report_is_self_contained_and_coloured(studio) -> None:
    from export import report_html
    from runs import read_run

    run = studio[0].store().get(variant(studio, "every outcome", every_outcome))
    report, _, _ = read_run(run)
    page = report_html(run, report)
    assert not re.search(r"<script[^>]+src=[\"']?https?://", page, re.IGNORECASE)  # nothing fetched from the internet
    assert "plotly.js" in page and len(page) > 1_000_000  # the chart library itself, inline
    for outcome in ("same", "worse", "inconclusive"):
        assert f"class='box {outcome}'" in page
    # The answer, and the target LoRA's comparison it settles, worded as the answer.
    assert page.count("class='box yes'") == 2 and "Yes (the answer above)" in page
    assert "Bonferroni" in page and "<dt>NDCG@10</dt>" in page and "<dt>final mix</dt>" in page


# -- a page that reads clearly: one wording per comparison, no "None", whole titles, words defined ---------------

#: X-Cross minus the target LoRA in the proof of concept that showed a green Yes above an amber "Can't tell yet":
#: the interval rules out a loss beyond the margin (the answer's Yes) but reaches beyond +margin (the verdict's
#: inconclusive), p = 1.000 after correction.
SETTLED = PairedTest(Estimate(0.01, -0.005, 0.03, 1 - 0.05 / 4), 0.25, 400, 4)
OWN = "target LoRA (50% of users)"


def answered(report: dict[str, Any], _: Path) -> None:
    """That proof of concept's results: the answer Yes over an inconclusive verdict for the same pair, X-Cross's
    trainable parameters not recorded, no test user with 1-2 items bought before, and 6 min 23 s measured by the
    job (the store's start and end of the copied run are a moment apart)."""
    reference = report["reference"]
    report["comparisons_vs_reference"][OWN] = SETTLED.to_dict() | {
        "outcome": "inconclusive",
        "verdict": verdict(reference, OWN, SETTLED, MARGIN),
    }
    report["answer"] = answer("Electronics", report["sources"], SETTLED, margin=MARGIN, parameter_share=0.1)
    report["models"][reference]["trainable_parameters"] = None
    report["seconds"] = 383.0
    for info in report["models"].values():
        for bucket in info["by_history_length"]:
            bucket["users"] = 0 if bucket["bucket"] == "1-2" else max(bucket["users"], 1)


def without_own(report: dict[str, Any], _: Path) -> None:
    """A run without the target LoRA (its NDCG@10 unknown)."""
    del report["models"][OWN], report["comparisons_vs_reference"][OWN]


def one_source(report: dict[str, Any], folder: Path) -> None:
    """X-Cross learned, over one source: that source's weight is 1 at every layer."""
    learned(report, folder)
    report["sources"] = report["sources"][:1]
    weights = pd.read_csv(folder / "weights.csv", dtype={"layer": str})
    weights = weights[weights["source"] == report["sources"][0]].assign(weight=1.0)
    weights.to_csv(folder / "weights.csv", index=False)


def equal_mix(report: dict[str, Any], folder: Path) -> None:
    """X-Cross learned, but gives every customer the same mix at every layer."""
    learned(report, folder)
    weights = pd.read_csv(folder / "weights.csv", dtype={"layer": str})
    weights.assign(weight=0.5).to_csv(folder / "weights.csv", index=False)


def column_widths(table) -> dict[str, str]:
    """The width each data column of an st.dataframe is configured with ("small", "medium", "large"); the index
    (hidden or not) left out."""
    columns = json.loads(table.proto.columns or "{}").items()
    return {name: config.get("width") for name, config in columns if name != "_index"}


def test_the_comparison_the_answer_settles_is_worded_once(studio) -> None:
    from export import report_html
    from runs import read_run

    run_id = variant(studio, "answered", answered)
    at = open_page("views/results.py", poc_run=run_id)
    shown = texts([*at.markdown, *at.success, *at.info, *at.warning, *at.error])
    report = json.loads((studio[0].runs / "answered" / "results.json").read_text())
    unsettled = report["comparisons_vs_reference"][OWN]["verdict"]
    assert unsettled.startswith("Can't tell yet whether X-Cross (50% of users) ranks better or worse than target")
    assert texts(at.success).startswith("**Yes: X-Cross over Sports, Kitchen ranks as well as")
    assert unsettled not in shown and not any(OWN in str(w.value) for w in at.warning)
    assert f"Yes (the answer above): X-Cross (50% of users) ranks no worse than {OWN} beyond the margin" in texts(
        at.success
    )
    table = at.dataframe[0].value
    assert table.loc[table["model"] == OWN, "verdict"].item() == "yes (the answer)"
    page = html.unescape(report_html(studio[0].store().get(run_id), read_run(studio[0].store().get(run_id))[0]))
    assert unsettled not in page and "Yes (the answer above)" in page


def test_no_table_shows_none_or_nan(studio) -> None:
    at = open_page("views/results.py", poc_run=variant(studio, "answered", answered))
    table = at.dataframe[0]
    assert table.value.loc[table.value["model"] == "X-Cross (50% of users)", "verdict"].isna().all()
    for frame in at.dataframe:  # a missing value reads "–", not Streamlit's "None"
        assert not frame.value.isna().to_numpy().any() or frame.proto.placeholder == "–"
    about = at.table[0].value
    cells = about.astype(str).to_numpy().ravel()
    assert (
        not {"None", "nan", "NaN"} & set(cells) and about.loc["X-Cross (50% of users)", "trainable parameters"] == "–"
    )
    assert "– in X-Cross's row: every other model is compared with X-Cross" in texts(at.caption)
    assert "–: not recorded for this model" in texts(at.caption)
    history = open_page("views/history.py", poc_run=variant(studio, "without own", without_own)).dataframe[0].value
    assert "NDCG@10: X-Cross" in " ".join(history["key metrics"]) and "nan" not in " ".join(history["key metrics"])
    assert any(v.endswith("LoRA –") for v in history["key metrics"])


def test_long_text_columns_are_wide_enough_to_read(studio) -> None:
    at = open_page("views/results.py", poc_run=variant(studio, "answered", answered))
    widths = column_widths(at.dataframe[0])
    assert widths["verdict"] in ("medium", "large") and widths["model"] in ("medium", "large")


def test_history_length_buckets_without_users_are_left_out(studio) -> None:
    at = open_page("views/results.py", poc_run=variant(studio, "answered", answered))
    spec = next(c.proto.spec for c in at.get("plotly_chart") if "history length" in c.proto.spec)
    assert "(0 users)" not in spec and "1-2 (" not in spec and "3-5 (" in spec


def test_the_run_time_is_one_value_on_every_page(studio) -> None:
    from export import report_html
    from runs import duration, read_run

    run_id = variant(studio, "answered", answered)
    run = studio[0].store().get(run_id)
    results = open_page("views/results.py", poc_run=run_id)
    shown = {m.label: m.value for m in results.metric}["Run time"]
    history = open_page("views/history.py").dataframe[0].value
    assert shown == duration(run) != "6 min 23 s"
    assert set(history.loc[history["name"] == "answered", "duration"]) == {shown}
    assert f"<th>run time</th><td>{shown}</td>" in report_html(run, read_run(run)[0])


def test_which_sources_help_defines_its_words_and_shows_whole_titles(studio) -> None:
    at = open_page("views/which_sources_help.py", poc_run=variant(studio, "learned", learned))
    words = texts(at.markdown)
    assert "**final mix**: The last of X-Cross's mixes" in words and "**score**:" in words and "cosine" in words
    assert "Score: How strongly a model recommends an item" in texts(at.caption)
    assert "Final mix: The last of X-Cross's mixes" in at.select_slider[0].help
    titles = set(pd.read_csv(ROOT / "sample_data" / "items.csv")["title"])
    detail = at.dataframe[-1].value  # the attribution, full width: rank, whole title, score, each source's part
    assert list(detail.columns[:3]) == ["rank", "item", "score"] and set(detail["item"]) <= titles
    assert max(map(len, detail["item"])) > 40 and column_widths(at.dataframe[-1])["item"] == "large"
    attribution = json.loads(at.get("plotly_chart")[-1].proto.spec)["data"][0]["y"]
    labels = [html.unescape(label.replace("<br>", " ")) for label in attribution]
    assert labels == [f"{rank}. {title}" for rank, title in zip(detail["rank"], detail["item"], strict=True)]


def test_one_source_or_an_unvarying_mix_is_said_plainly(studio) -> None:
    at = open_page("views/which_sources_help.py", poc_run=variant(studio, "one source", one_source))
    assert "X-Cross had one source, Sports, so there was nothing to mix" in texts(at.info)
    assert "most at" not in texts(at.info) and len(at.get("plotly_chart")) == 1  # the one customer's attribution
    at = open_page("views/which_sources_help.py", poc_run=variant(studio, "equal mix", equal_mix))
    assert "they do not vary between customers" in texts(at.info) and "most at" not in texts(at.info)
