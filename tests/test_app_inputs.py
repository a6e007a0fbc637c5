"""The studio's input pages under hostile or mistaken input, through Streamlit's AppTest: uploads that fail or
reuse a name, messages in the page's own words, data shown as text (never as Markdown), Try it never
recommending what was bought, spreadsheet-safe exports, and runs refused beyond the worker limit.

Each test has its own empty workspace; no model is trained.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from tests.test_app import APP, BAD, assert_clean, button, open_page, texts, upload

#: A title that, rendered as Markdown, makes the browser fetch a URL.
PIXEL = "![pixel](http://127.0.0.1:9/p.png)"


@pytest.fixture(autouse=True)
def studio(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XCROSS_HOME", str(tmp_path / "studio"))
    monkeypatch.syspath_prepend(str(APP))  # as `streamlit run app/Home.py` does
    return tmp_path / "studio"


def _rendered(at) -> list[str]:
    """The raw text of every element that Streamlit renders as Markdown."""
    kinds = ("markdown", "caption", "error", "warning", "info", "success", "subheader", "title")
    return [str(e.value) for kind in kinds for e in at.get(kind)]


def test_a_failed_upload_keeps_the_working_dataset_until_its_columns_are_mapped(studio) -> None:
    at = upload(open_page("views/data.py"), "shop.csv", (BAD / "wrong_columns.csv").read_bytes())
    error = texts(at.error)
    assert "Upload: shop.csv cannot be used yet: shop.csv is missing required columns" in error
    assert "--column" not in error and "the Column names fields" in error
    assert "'userId' for user_id, 'itemId' for item_id" in error
    assert at.session_state["dataset"].label.startswith("Sample data")  # still the working dataset
    assert {m.label: m.value for m in at.metric}["Status"] == "OK"  # its report stays on the page
    assert open_page("views/data.py").session_state["dataset"].label.startswith("Sample data")  # a refresh too
    # The page's own fields fix it; then it becomes the working dataset.
    for ours, theirs in {
        "user_id": "userId",
        "item_id": "itemId",
        "timestamp": "time",
        "domain": "category",
        "title": "name",
    }.items():
        at.text_input(key=f"col-{ours}").set_value(theirs)
    button(at, "Apply column names").click().run()
    assert_clean(at)
    dataset = at.session_state["dataset"]
    assert dataset.interactions == str(studio / "uploads" / "shop.csv")
    assert dict(dataset.columns)["user_id"] == "userId" and not at.error
    assert "Now using **Upload: shop.csv**." in texts(at.success)


def _category(prefix: str, users: int, domain: str | None = None) -> bytes:
    """A category's purchase log as CSV: three purchases per user; a domain column when `domain` is given."""
    header = "user_id,item_id,timestamp,title" + (",domain" if domain else "")
    rows = [
        f"{prefix}{u},{prefix}-i{i},2022-01-0{i + 1},Item {i}" + (f",{domain}" if domain else "")
        for u in range(users)
        for i in range(3)
    ]
    return "\n".join([header, *rows, ""]).encode()


def test_the_data_page_merges_one_file_per_category(studio) -> None:
    at = open_page("views/data.py")
    at.radio[0].set_value("upload").run()
    assert "from each file's name (beauty.csv gives the domain beauty)" in texts(at.caption)
    files = [("beauty.csv", _category("b", 6), "text/csv"), ("toys.csv", _category("t", 5), "text/csv")]
    at.file_uploader[0].set_value(files).run()
    button(at, "Use these files").click().run()
    assert_clean(at)
    assert not at.error
    dataset = at.session_state["dataset"]
    assert dataset.label == "Upload: beauty.csv + toys.csv"
    assert Path(dataset.interactions) == studio / "uploads" / "merged" / "merged-beauty-toys.csv"
    notes = texts(at.info)
    assert "beauty.csv: 18 rows, rows 1 to 18 of merged-beauty-toys.csv; domain 'beauty', from its name." in notes
    assert "toys.csv: 15 rows, rows 19 to 33 of merged-beauty-toys.csv; domain 'toys', from its name." in notes
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Status"], metrics["Domains usable"], metrics["Purchases kept"]) == ("OK", "2 of 2", "33")

    # Files that do not fit together are refused, naming the file and why; the merged dataset stays in use.
    files = [("games.csv", _category("g", 6), "text/csv"), ("sports.csv", _category("s", 6, "Sports"), "text/csv")]
    at.file_uploader[0].set_value(files).run()
    button(at, "Use these files").click().run()
    assert_clean(at)
    assert "These files cannot be merged: games.csv has no 'domain' column, but sports.csv has one" in texts(at.error)
    assert "--" not in texts(at.error)
    assert at.session_state["dataset"] == dataset
    assert not list((studio / "uploads" / "merged").glob("merged-games*"))  # nothing half-merged is left


def test_a_merge_of_uploads_is_not_held_to_the_limit_of_one_upload(studio) -> None:
    from streamlit import config

    limit = config.get_option("server.maxUploadSize")
    config.set_option("server.maxUploadSize", 1)  # MB: each file is under it, their merge is not
    try:
        files = [(f"{name}.csv", _category(name[0], 8_000), "text/csv") for name in ("beauty", "toys")]
        assert all(0.5 * 2**20 < len(data) < 2**20 for _, data, _ in files)
        at = open_page("views/data.py")
        at.radio[0].set_value("upload").run()
        at.file_uploader[0].set_value(files).run()
        button(at, "Use these files").click().run()
    finally:
        config.set_option("server.maxUploadSize", limit)
    assert_clean(at)
    assert not at.error
    assert {m.label: m.value for m in at.metric}["Purchases kept"] == "48,000"


def test_an_upload_under_a_taken_name_is_saved_beside_it(studio) -> None:
    import loaders

    earlier = b"user_id,item_id,timestamp,domain,title\n"
    (studio / "uploads").mkdir(parents=True)
    (studio / "uploads" / "shop.csv").write_bytes(earlier)
    good = (BAD / "duplicate_rows.csv").read_bytes()
    at = upload(open_page("views/data.py"), "shop.csv", good)
    assert "An earlier upload is called shop.csv, so this file was saved as shop-2.csv." in texts(at.info)
    assert at.session_state["dataset"].interactions == str(studio / "uploads" / "shop-2.csv")
    assert (studio / "uploads" / "shop.csv").read_bytes() == earlier  # never overwritten
    # The same bytes again reuse their file; other bytes take the next free name.
    assert loaders.save_upload("shop.csv", good) == studio / "uploads" / "shop-2.csv"
    assert loaders.save_upload("shop.csv", good + b"u9,b9,2022-01-09,Books,T\n") == studio / "uploads" / "shop-3.csv"


def _write_log(path: Path, timestamps: list[str], titles: dict[str, str]) -> Path:
    """Six customers of one domain; u0 bought four of the six items."""
    bought = {"u0": ["i0", "i1", "i2", "i3"], **{f"u{u}": ["i4", "i5"] for u in range(1, 6)}}
    rows = [
        {"user_id": user, "item_id": item, "timestamp": timestamps[n], "domain": "Shop", "title": titles[item]}
        for user, items in bought.items()
        for n, item in enumerate(items)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_the_data_page_says_how_timestamps_were_read(studio) -> None:
    from state import Dataset

    at = open_page("views/data.py")
    assert_clean(at)
    assert "Timestamps were read as dates and times (ISO 8601)" in texts(at.caption)
    titles = {f"i{i}": f"Item {i}" for i in range(6)}
    path = _write_log(studio.parent / "positions.csv", ["1", "2", "3", "4"], titles)
    at = open_page("views/data.py", dataset=Dataset("Upload: positions.csv", str(path)))
    assert_clean(at)
    assert "Timestamps were read as positions in each customer's sequence" in texts(at.caption)


def test_try_it_shows_titles_as_text_and_never_recommends_what_was_bought(studio) -> None:
    from state import Dataset

    titles = {"i0": PIXEL, "i1": "*bold* and $x$", "i2": ":red[alarm]", "i3": "1. first", "i4": "[a](b)", "i5": "ok"}
    path = _write_log(studio.parent / "hostile.csv", ["2022-01-01", "2022-01-02", "2022-01-03", "2022-01-04"], titles)
    at = open_page("views/try_it.py", dataset=Dataset("Upload: hostile.csv", str(path)))
    assert_clean(at)
    at.radio(key="try-how").set_value("An existing customer").run()
    at.selectbox(key="try-user-Shop").set_value("u0").run()
    at.multiselect[0].set_value(["popularity"]).run()
    assert_clean(at)
    assert PIXEL in texts(at.text)  # the history, as plain text
    for raw in _rendered(at):
        assert "![" not in raw and "](" not in raw.replace("\\](", ""), raw
    table = at.dataframe[0].value
    assert sorted(table["title"]) == sorted([titles["i4"], titles["i5"]])  # never i0..i3, which u0 bought
    assert table["score"].map(lambda s: s > float("-inf")).all()
    assert "Only 2 items of Shop are left that this history has not bought." in texts(at.caption)


def test_weights_and_comparison_exports_are_spreadsheet_safe() -> None:
    from runs import csv_export

    frame = pd.DataFrame(
        {"user_id": ['=HYPERLINK("http://x")', "u1"], "source": ["+cmd", "Sports"], "weight": [0.25, -0.5]}
    )
    rows = list(csv.reader(io.StringIO(csv_export(frame).decode("utf-8-sig"))))
    assert rows[1] == ['\'=HYPERLINK("http://x")', "'+cmd", "0.25"]
    assert rows[2] == ["u1", "Sports", "-0.5"]  # numbers stay numbers


def test_page_message_speaks_of_the_page_not_of_flags(tmp_path) -> None:
    """The library's errors carry the settings they name as data: the page words them as its own controls, and
    leaves out advice on a setting it does not have, without rewriting any text."""
    from loaders import page_message

    from xcross_core.data.advice import Hint, Message
    from xcross_core.data.load import ColumnMap, load_interactions
    from xcross_core.data.report import DataError
    from xcross_core.jobs.spec import SpecError

    def refused(name: str, **settings) -> DataError:
        with pytest.raises(DataError) as info:
            load_interactions(BAD / name, **settings)
        return info.value

    columns = page_message(refused("missing_column.csv"))
    assert columns == (
        "missing_column.csv is missing required column timestamp. Its columns are: 'user_id', 'item_id', 'domain', "
        "'title'. Map your column names to ours with the Column names fields on the Data page (e.g. 'date' for "
        "timestamp)."
    )
    guessed = page_message(refused("wrong_columns.csv"))
    assert "(perhaps 'userId' for user_id, 'itemId' for item_id, 'time' for timestamp)" in guessed
    absent = page_message(refused("missing_column.csv", columns=ColumnMap(timestamp="date")))
    assert absent.startswith("the column name 'date' for timestamp: there is no column 'date' in missing_column.csv")
    encoding = page_message(refused("latin1.csv"))
    assert encoding.endswith("Re-save the file as UTF-8.") and encoding.startswith("latin1.csv is not valid UTF-8")
    limit = page_message(refused("max_rows.csv", max_rows=5))
    assert limit.endswith("reading it could exhaust memory. Use a sample of it.")
    for shown in (columns, guessed, absent, encoding, limit):
        assert "--" not in shown and "raise the limit" not in shown
    plain = "a message without settings, e.g. from the studio itself"
    assert page_message(DataError(plain)) == plain
    # A job's setting: named as the run's control where the page has one, left out where it has none.
    split = Message(
        "no users to test on (6 users",
        Hint("max_users", ", 4 kept by {}", role="given"),
        "): it needs more users",
        Hint("test_share", ", or a larger {}"),
    )
    assert (
        page_message(SpecError(None, split))
        == "no users to test on (6 users, 4 kept by the Cap users setting): it needs more users"
    )


def test_plain_shows_markdown_as_written() -> None:
    from plain import plain

    assert plain(PIXEL) == "!\\[pixel\\](http\u2060\\://127.0.0.1\\:9/p.png)"  # a word joiner ends the bare link
    assert plain("*b* $x$ :red[y] `c` <a> #h a_b") == r"\*b\* \$x\$ \:red\[y\] \`c\` \<a> \#h a\_b"
    assert plain("1. one\n- two\n> three") == "1\\. one\n\\- two\n\\> three"
    assert plain("Error: plain words, 4.5 stay") == "Error: plain words, 4.5 stay"


def test_a_launch_beyond_the_worker_limit_is_refused_with_a_clear_message(studio, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.conftest import SAMPLE
    from xcross_core.store import RunStore
    from xcross_core.worker import MAX_WORKERS_ENV

    store = RunStore(studio / "studio.db")
    busy = store.create("adapter", "busy", {})
    store.start(busy.id, os.getpid())
    monkeypatch.setenv(MAX_WORKERS_ENV, "1")
    params = {"interactions": str(SAMPLE / "interactions.csv"), "domain": "Sports"}
    script = f"import runs\nruns.launch_run('adapter', 'one more', {json.dumps(params)})\n"
    at = AppTest.from_string(script, default_timeout=60).run()
    assert_clean(at)
    assert "Could not start: as many runs as may run at once (1) are queued or running already" in texts(at.error)
    assert f"environment variable {MAX_WORKERS_ENV}" in texts(at.caption)
    assert [r.name for r in store.list()] == ["busy"]
