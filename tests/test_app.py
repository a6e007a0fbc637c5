"""The Streamlit studio, page by page, through Streamlit's AppTest (no browser; see test_e2e.py for that).

One workspace for the module: two tiny adapters (Sports, Kitchen) and one finished small proof of
concept for Electronics. Every test checks that its page raised nothing and shows its key elements.
"""

from __future__ import annotations

import html
import os
import re
import sys
import time
from pathlib import Path

import pytest

from tests.studio_helpers import ROOT, SAMPLE, finished_poc, tiny_adapters
from xcross_core.store import ACTIVE
from xcross_core.worker import Workspace

APP = ROOT / "app"
BAD = ROOT / "tests" / "data" / "bad"
TIMEOUT = 120


@pytest.fixture(scope="module")
def studio(tiny_bert, tmp_path_factory) -> Workspace:
    workspace = Workspace(tmp_path_factory.mktemp("studio"))
    adapters = tiny_adapters(workspace, tiny_bert)
    finished_poc(workspace, adapters)
    return workspace


@pytest.fixture(autouse=True)
def environment(studio, monkeypatch) -> Workspace:
    monkeypatch.setenv("XCROSS_HOME", str(studio.root))
    monkeypatch.syspath_prepend(str(APP))  # as `streamlit run app/Home.py` does
    (studio.root / "dataset.json").unlink(missing_ok=True)  # every test starts on the sample data
    return studio


def open_page(page: str | None = None, **state: object):
    """The app at `page` (a script under app/ as the frame registers it, e.g. "views/data.py"), with `state`
    in session_state. The frame runs once first: switch_page finds a page among those st.navigation registered
    (and refuses a script it did not register)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP / "Home.py"), default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def shown(markdown: str) -> str:
    """Markdown text as the page shows it: the backslash escapes and invisible word joiners that keep data from
    rendering as Markdown removed."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def texts(elements) -> str:
    """The elements' text as the page shows it (see `shown`)."""
    return shown("\n".join(str(e.value) for e in elements))


def button(at, label: str):
    """The button labelled `label`."""
    return next(b for b in at.button if b.label == label)


def upload(at, name: str, data: bytes):
    """Upload `data` as file `name` on the Data page `at`, as a user does; the page must raise nothing."""
    at.radio[0].set_value("upload").run()
    at.file_uploader[0].set_value((name, data, "text/csv")).run()
    button(at, "Use these files").click().run()
    assert_clean(at)
    return at


def upload_from_corpus(studio, name: str):
    """A file of the bad-input corpus as an upload in the studio's workspace: its Dataset."""
    from state import Dataset

    path = studio.root / "uploads" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes((BAD / name).read_bytes())
    return Dataset(f"Upload: {name}", str(path))


def charts(at) -> list:
    return at.get("plotly_chart")


def test_home_shows_the_workflow_and_counts(studio) -> None:
    at = open_page()
    assert_clean(at)
    assert at.title[0].value == "X-Cross studio"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Adapters"] == str(2 + len(_bundled()))
    assert metrics["Finished PoC runs"] == "1"
    assert len(at.get("page_link")) == 7


def test_the_frame_registers_every_view() -> None:
    at = open_page()
    assert_clean(at)
    for script in sorted((APP / "views").glob("*.py")):
        at.switch_page(f"views/{script.name}")  # ValueError for a script st.navigation did not register


def _bundled() -> list[Path]:
    folder = ROOT / "sample_data" / "adapters"
    return [p for p in folder.iterdir() if (p / "xcross_adapter.json").is_file()] if folder.is_dir() else []


def test_data_page_validates_the_sample_data_by_default() -> None:
    at = open_page("views/data.py")
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Status"] == "OK"
    assert metrics["Domains usable"] == "4 of 4"
    assert at.radio[0].value.startswith("Sample data")
    domains = at.dataframe[0].value
    assert sorted(domains["domain"]) == ["Electronics", "Home_Office", "Kitchen", "Sports"]
    assert {"users", "items", "length median"} <= set(domains.columns)
    # Browse: a domain's items and one customer's history.
    at.selectbox(key="browse-domain").set_value("Kitchen").run()
    assert_clean(at)
    user = at.selectbox(key="browse-user").value
    assert user.startswith("KI-")
    history = at.dataframe[-1].value
    assert len(history) >= 1 and {"item_id", "title"} <= set(history.columns)


def test_data_page_uploads_a_good_file(studio) -> None:
    at = open_page("views/data.py")
    at.radio[0].set_value("upload").run()
    assert_clean(at)
    text = (BAD / "duplicate_rows.csv").read_bytes()
    at.file_uploader[0].set_value(("my shop.csv", text, "text/csv")).run()
    at.button[0].click().run()  # "Use these files"
    assert_clean(at)
    saved = studio.root / "uploads" / "my shop.csv"
    assert saved.read_bytes() == text
    assert at.session_state["dataset"].interactions == str(saved)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows dropped"] == "2"  # the two exact duplicates, reported as warnings
    assert "Dropped rows" in texts(at.subheader)
    assert any(b.label.startswith("Download the dropped rows") for b in at.download_button)
    # The choice survives a browser refresh (a new session).
    again = open_page("views/data.py")
    assert again.session_state["dataset"].interactions == str(saved)


@pytest.mark.parametrize("name", sorted(p.name for p in BAD.glob("*.csv")))
def test_every_file_of_the_bad_input_corpus_gets_a_clear_page(studio, name) -> None:
    """The app's upload path over the whole corpus: a message for files that cannot be used, the validation
    report for the rest, and never a traceback."""
    from loaders import page_message

    from tests.test_bad_inputs import FATAL
    from xcross_core.data.report import DataError

    dataset = upload_from_corpus(studio, name)
    at = open_page("views/data.py", dataset=dataset)
    assert_clean(at)
    if name not in FATAL:
        assert {m.label: m.value for m in at.metric}["Status"] in ("OK", "Problems found")
        return
    shown = page_message(DataError(FATAL[name]))  # the message in the page's words (no command-line options)
    assert shown.split(". ")[0].split(" (")[0] in texts(at.error)
    # Pages that need data say so instead of failing.
    for page in ("views/adapters.py", "views/poc_run.py", "views/try_it.py"):
        other = open_page(page, dataset=dataset)
        assert_clean(other)
        assert shown.split(" (")[0].split(". ")[0] in texts(other.error)


def test_data_page_maps_columns_of_a_file_with_other_names(studio) -> None:
    at = open_page("views/data.py", dataset=upload_from_corpus(studio, "wrong_columns.csv"))
    assert_clean(at)
    assert "missing" in texts(at.error).lower()
    for ours, theirs in {"user_id": "userId", "item_id": "itemId", "timestamp": "time", "domain": "category"}.items():
        at.text_input(key=f"col-{ours}").set_value(theirs)
    at.text_input(key="col-title").set_value("name")
    next(b for b in at.button if b.label == "Apply column names").click().run()
    assert_clean(at)
    assert not at.error
    assert {m.label: m.value for m in at.metric}["Status"] == "OK"
    assert dict(at.session_state["dataset"].columns)["user_id"] == "userId"


def test_data_page_lists_rows_dropped_for_errors(studio) -> None:
    at = open_page("views/data.py", dataset=upload_from_corpus(studio, "mixed_timestamps.csv"))
    assert_clean(at)
    assert {m.label: m.value for m in at.metric}["Status"] == "Problems found"
    assert "rows 4, 11" in texts(at.error)
    summary = next(d.value for d in at.dataframe if "reason" in d.value.columns)
    assert summary["rows"].sum() == 2


def test_uploads_are_saved_safely_and_held_to_the_limit(studio, monkeypatch) -> None:
    import loaders
    from state import Dataset

    from xcross_core.data.report import DataError

    saved = loaders.save_upload("../../escape.csv", b"user_id\n")
    assert saved == studio.root / "uploads" / "escape.csv"
    with pytest.raises(ValueError, match="control characters"):
        loaders.save_upload("bad\x07name.csv", b"x")
    with pytest.raises(DataError, match="unsupported file type"):
        loaders.save_upload("notes.txt", b"x")
    assert loaders.max_upload_bytes() == 50 * 2**20  # .streamlit/config.toml
    monkeypatch.setattr(loaders, "max_upload_bytes", lambda: 100)
    with pytest.raises(DataError, match="over the upload limit"):
        loaders.save_upload("big.csv", b"x" * 101)
    # The loader is given the same limit for files in the workspace.
    big = studio.root / "uploads" / "big.csv"
    big.write_bytes((BAD / "single_interaction_user.csv").read_bytes())
    with pytest.raises(DataError, match="over the limit of 100 bytes"):
        loaders.load_dataset(Dataset("Upload: big.csv", str(big)))


def test_adapters_page_lists_the_library_and_offers_training() -> None:
    at = open_page("views/adapters.py")
    assert_clean(at)
    table = at.dataframe[0].value
    assert {"Sports", "Kitchen"} <= set(table["adapter"])
    assert {"domain", "base", "train_users", "valid_ndcg@10", "trainable_parameters"} <= set(table.columns)
    assert at.selectbox[0].options == ["Electronics", "Home_Office", "Kitchen", "Sports"]
    assert "Start training" in [b.label for b in at.get("form_submit_button")] or at.button


def test_adapter_name_that_is_unsafe_is_refused_without_a_traceback() -> None:
    at = open_page("views/adapters.py")
    at.text_input[0].set_value("../escape")
    at.button[0].click().run()  # the form's submit button
    assert_clean(at)
    assert "path separator" in texts(at.error)


def _wait(predicate, timeout: float = 90.0, every: float = 0.5) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"))


def test_poc_page_starts_a_run_in_a_worker_and_cancels_it(studio) -> None:
    at = open_page("views/poc_run.py")
    assert_clean(at)
    assert at.selectbox[0].value == "Electronics"
    sources = at.multiselect(key="sources-Electronics")
    chosen = {Path(p).name for p in sources.value}
    assert {"Kitchen", "Sports"} <= chosen and "Electronics" not in chosen  # every source but the target
    assert at.slider[0].value == 0.25
    assert at.number_input[1].value == 3  # epochs
    assert set(at.multiselect[1].value) == {"popularity", "lora-full", "zero-shot"}
    at.multiselect[1].set_value(["popularity", "sasrec"])
    at.text_input[0].set_value("cancel me")
    at.button[0].click().run()  # start
    assert_clean(at)
    assert "Started" in texts(at.success)
    run = studio.store().list(kind="poc", status=ACTIVE)[0]
    assert run.name == "cancel me" and run.params["target"] == "Electronics"
    # A refresh (a new session) still shows it, with a cancel button.
    again = open_page("views/poc_run.py")
    assert_clean(again)
    again.button(key=f"cancel-{run.id}").click().run()
    assert_clean(again)
    assert studio.store().get(run.id).status == "cancelled"
    pid = studio.store().get(run.id).pid
    assert _wait(lambda: not _alive(pid)), "the worker did not stop after the cancel"
    assert not (studio.runs / "cancel me").exists()
    studio.store().delete(run.id)


def test_poc_page_refuses_a_bad_configuration() -> None:
    at = open_page("views/poc_run.py")
    at.multiselect(key="sources-Electronics").set_value([]).run()
    at.button[0].click().run()
    assert_clean(at)
    assert "at least one source adapter" in texts(at.error)


def test_results_page_shows_the_comparison(studio) -> None:
    at = open_page("views/results.py")
    assert_clean(at)
    assert "**Electronics**, bootstrapped from Sports, Kitchen" in texts(at.markdown)
    assert "Can it be bootstrapped?" in texts(at.subheader)
    assert "**Inconclusive: the data can't say whether X-Cross over Sports, Kitchen" in texts(at.warning)
    assert {m.label: m.value for m in at.metric}["Test users"] == "6"
    verdicts = texts([*at.success, *at.info, *at.warning, *at.error])
    assert "than target LoRA (50% of users)" in verdicts
    assert "Only one data budget" in verdicts
    table = at.dataframe[0].value
    assert {"X-Cross (50% of users)", "target LoRA (50% of users)", "popularity"} == set(table["model"])
    assert {"NDCG@10", "Hit@10", "p-value", "trainable parameters"} <= set(table.columns)
    assert len(charts(at)) == 3  # metrics with CIs, history-length breakdown, data efficiency


def test_which_sources_help_draws_weights_and_one_customer(studio) -> None:
    from runs import finished_pocs, read_run

    at = open_page("views/which_sources_help.py")
    assert_clean(at)
    report, _, _ = read_run(finished_pocs()[0])
    kept = next(m for m in report["models"].values() if m["key"] == "x-cross")["kept_start"]
    assert len(charts(at)) == (1 if kept else 4)  # heatmap, totals, spread (not for equal weights), attribution
    assert "One customer in detail" in texts(at.subheader)
    assert "Actual next purchase" in texts([*at.success, *at.info])
    attribution = at.dataframe[-1].value
    assert len(attribution) == 10 and {"score", "Sports", "Kitchen"} <= set(attribution.columns)
    if not kept:
        at.select_slider[0].set_value("1").run()
        assert_clean(at)


def test_try_it_ranks_with_several_models_side_by_side(studio) -> None:
    at = open_page("views/try_it.py")
    assert_clean(at)
    at.radio(key="try-how").set_value("An existing customer").run()
    adapter = str(studio.adapters / "Sports")
    at.multiselect[0].set_value(["popularity", adapter]).run()
    assert_clean(at)
    tables = [d.value for d in at.dataframe]
    assert len(tables) == 2 and all(len(t) == 10 for t in tables)
    # Picking items by title instead.
    at.radio(key="try-how").set_value("Pick items").run()
    at.multiselect(key="try-items-Electronics").set_value([0, 5]).run()
    assert_clean(at)
    assert len(at.dataframe) == 2


def test_history_lists_runs_exports_and_deletes(studio) -> None:
    from export import report_html
    from runs import read_run

    failed = studio.store().create("adapter", "broken", {"domain": "Sports"})
    studio.store().fail(failed.id, "Sports: no such domain")
    at = open_page("views/history.py")
    assert_clean(at)
    table = at.dataframe[0].value
    assert {"tiny poc", "broken"} <= set(table["name"])
    assert "Sports: no such domain" in set(table["error"])
    assert any(v.startswith("NDCG@10: X-Cross") for v in table["key metrics"])
    # The PoC run's exports.
    poc = next(r for r in studio.store().list(kind="poc", status="succeeded"))
    at.selectbox(key="history-run").set_value(poc.id).run()
    assert_clean(at)
    labels = [b.label for b in at.download_button]
    assert labels == ["HTML report", "Comparison (CSV)", "Weights (CSV)", "Results (JSON)"]
    report, _, _ = read_run(poc)
    page = report_html(poc, report)
    assert page.startswith("<!doctype html>") and "plotly" in page and "X-Cross (50% of users)" in page
    assert "Can it be bootstrapped?" in page and html.escape(report["answer"]["headline"]) in page
    # Delete the failed run.
    at.selectbox(key="history-run").set_value(failed.id).run()
    assert "Failed: Sports: no such domain" in texts(at.error)
    at.button(key=f"delete-{failed.id}").click().run()
    assert_clean(at)
    with pytest.raises(KeyError):
        studio.store().get(failed.id)


def test_pages_explain_empty_states(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XCROSS_HOME", str(tmp_path / "empty"))
    for page, phrase in [
        ("views/results.py", "No finished proof-of-concept run yet"),
        ("views/which_sources_help.py", "No finished proof-of-concept run yet"),
        ("views/history.py", "No runs yet"),
    ]:
        at = open_page(page)
        assert_clean(at)
        assert phrase in texts(at.info), page
    if not _bundled():
        at = open_page("views/poc_run.py")
        assert_clean(at)
        assert "No source adapters yet" in texts(at.info)


def test_the_sample_data_is_what_the_studio_opens_with() -> None:
    from state import sample_dataset

    assert sample_dataset().interactions == str(SAMPLE)
    assert str(APP) in sys.path
