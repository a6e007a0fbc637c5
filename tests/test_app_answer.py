"""The studio's answer and verdicts, through Streamlit's AppTest: colours from the result's data, plain-language
help, people's numbers, the weights said in words when X-Cross kept its start, runs written before answers had
outcomes, and the HTML report that opens offline.

One workspace for the module: two tiny adapters and one small finished proof of concept (6 test users, so its
answer is Inconclusive). Variants of that run are written beside it by editing its results.json.
"""

from __future__ import annotations

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
    assert "- Only 6 test users: at least 100 are needed" in answer_text and "Raise the cap on users" in answer_text
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
    assert by_outcome["better"] in texts(at.success) and "ranks significantly better than" in by_outcome["better"]
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
    for outcome in ("better", "same", "worse", "inconclusive"):
        assert f"class='box {outcome}'" in page
    assert "class='box yes'" in page and "Bonferroni" in page and "<dt>NDCG@10</dt>" in page
