"""The PoC page's source adapters and its users, through Streamlit's AppTest: adapters trained on the current data
come first and are pre-ticked, the bundled sample adapters are marked as trained on synthetic data and never
pre-ticked on other data (choosing them there warns why), and the page says before a run starts how many customers
train and are tested, and when too few are tested to answer.

One workspace for the module: the sample data copied in as an upload (other data than the sample, by its file) with
Home_Office cut to 400 customers, two tiny adapters whose metadata records that data's catalogues, and one trained
on a category it lacks.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.studio_helpers import SAMPLE, SAMPLE_ITEMS, TARGET, tiny_adapters
from tests.test_app import APP, _bundled, assert_clean, open_page, texts
from xcross_core.data.load import load_interactions
from xcross_core.models.adapters import METADATA
from xcross_core.worker import Workspace

pytestmark = pytest.mark.skipif(not _bundled(), reason="needs the sample adapters bundled in sample_data/adapters")

#: The sources trained on the uploaded data, and a category that data does not have.
HERE, ELSEWHERE = ("Sports", "Kitchen"), "Books"
#: The category with 400 customers: too few to test 100 of them.
SMALL = "Home_Office"


@pytest.fixture(scope="module")
def studio(tiny_bert, tmp_path_factory) -> Workspace:
    workspace = Workspace(tmp_path_factory.mktemp("sources-studio"))
    uploads = workspace.root / "uploads"
    uploads.mkdir()
    log = pd.read_csv(SAMPLE)
    small = log["domain"].eq(SMALL) & ~log["user_id"].isin(log.loc[log["domain"].eq(SMALL), "user_id"].unique()[:400])
    data = {"interactions": str(uploads / "interactions.csv"), "items": str(shutil.copy(SAMPLE_ITEMS, uploads))}
    log[~small].to_csv(data["interactions"], index=False)
    loaded = load_interactions(data["interactions"], data["items"]).interactions
    for adapter in tiny_adapters(workspace, tiny_bert, (*HERE, ELSEWHERE)):
        meta = Path(adapter) / METADATA
        recorded = json.loads(meta.read_text())
        if recorded["domain"] in HERE:  # as train-adapter records them: the category and its catalogue's size
            recorded["data"] = {
                "domain": recorded["domain"],
                "catalogue_items": loaded.domain(recorded["domain"]).n_items,
            }
        meta.write_text(json.dumps(recorded))
    chosen = {"label": "Upload: interactions.csv", **data, "columns": []}
    (workspace.root / "dataset.json").write_text(json.dumps(chosen))
    return workspace


@pytest.fixture(autouse=True)
def environment(studio, monkeypatch) -> None:
    monkeypatch.setenv("XCROSS_HOME", str(studio.root))
    monkeypatch.syspath_prepend(str(APP))


def sources(at, target: str = TARGET):
    """The page's source adapters for `target`."""
    return at.multiselect(key=f"sources-{target}")


def test_sources_trained_on_this_data_come_first_and_sample_adapters_are_marked_and_not_ticked() -> None:
    at = open_page("views/poc_run.py")
    assert_clean(at)
    listed = sources(at).options  # as the page lists them, in order
    here = [f"{d} · {d} (workspace) · trained on this data" for d in sorted(HERE)]
    assert sorted(listed[:2]) == here and listed[2] == f"{ELSEWHERE} · {ELSEWHERE} (workspace)"
    assert all(label.endswith("(bundled) · trained on synthetic sample data") for label in listed[3:]) and listed[3:]
    assert sorted(Path(p).name for p in sources(at).value) == sorted(HERE)  # the workspace's, none bundled
    assert not set(sources(at).value) & {str(p) for p in _bundled()}
    assert not at.warning


def test_choosing_a_sample_adapter_with_other_data_warns_why() -> None:
    at = open_page("views/poc_run.py")
    sample = sorted(_bundled())[-1]
    sources(at).set_value([*sources(at).value, str(sample)]).run()
    assert_clean(at)
    warning = texts(at.warning)
    assert f"The sample adapter of {sample.name} was trained on the bundled synthetic sample data" in warning
    assert "not on Upload: interactions.csv: made-up shops, products and customers" in warning
    assert "Train adapters on this data's other categories on the **Adapters** page" in warning


def test_on_the_sample_data_the_sample_adapters_are_ticked_without_a_warning(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XCROSS_HOME", str(tmp_path / "empty"))  # no adapters of its own: only the bundled ones
    at = open_page("views/poc_run.py")
    assert_clean(at)
    ticked = {Path(p).name for p in sources(at).value}
    assert ticked == {p.name for p in _bundled()} - {TARGET}
    assert not at.warning


def test_the_page_says_who_trains_and_is_tested_before_a_run_starts() -> None:
    at = open_page("views/poc_run.py")
    at.number_input[0].set_value(400).run()  # 400 of Electronics's 2,000 customers; a quarter of 320 train
    assert_clean(at)
    said = "With these settings **80 customers train** X-Cross and the target LoRA, and every model is **tested on "
    assert said + "1,000 other customers**." in texts(at.markdown)  # 40 held out within the cap, 960 outside it
    assert not at.warning
    next(n for n in at.number_input if n.label == "Test users").set_value(300).run()
    assert said + "300 other customers**." in texts(at.markdown)


def test_too_few_test_customers_are_said_to_make_the_answer_inconclusive() -> None:
    at = open_page("views/poc_run.py")
    at.selectbox[0].set_value(SMALL).run()  # its 400 customers are all within the cap: a tenth of them are tested
    assert_clean(at)
    assert sorted(Path(p).name for p in sources(at, SMALL).value) == sorted(HERE)
    assert "**tested on 40 other customers**" in texts(at.markdown)
    assert "40 test users, not the 1,000 asked for: all 400 users are within the cap" in texts(at.caption)
    assert texts(at.warning).startswith(
        "Only 40 customers would be tested: an answer needs at least 100, so it will be **Inconclusive** for that "
        "reason, whatever the models do."
    )
