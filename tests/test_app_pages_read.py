"""Pages that read clearly (issue 30), on the bundled sample data through Streamlit's AppTest: the Data page's
per-domain table sized to fit and its column hints, and the Try it page's controls and whole titles. The result
pages' checks live in test_app_answer.py, beside the finished run they read."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.studio_helpers import ROOT, SAMPLE_ITEMS
from tests.test_app import assert_clean, open_page, texts, upload
from tests.test_app_answer import column_widths

APP = ROOT / "app"


@pytest.fixture(autouse=True)
def environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XCROSS_HOME", str(tmp_path / "workspace"))
    monkeypatch.syspath_prepend(str(APP))  # as `streamlit run app/Home.py` does


def test_the_per_domain_table_sizes_every_column_to_fit_the_page() -> None:
    at = open_page("views/data.py")
    assert_clean(at)
    table = at.dataframe[0]
    widths = column_widths(table)
    assert set(widths) == set(table.value.columns)  # none left to the grid's default width
    assert widths["note"] == "large" and widths["domain"] == "medium"
    assert {widths[c] for c in table.value.columns if c not in ("note", "domain")} == {"small"}
    assert table.proto.placeholder == "–" and "–: no purchase of the domain was kept" in texts(at.caption)
    assert "min, median, mean, p90, max: purchases per customer" in texts(at.caption)


def test_a_product_id_column_is_never_offered_as_the_domain() -> None:
    data = b"user_id,item_id,asin,timestamp,title\nu1,i1,B01,2022-01-01,A thing\nu1,i2,B02,2022-01-02,Another\n"
    at = upload(open_page("views/data.py"), "amazon.csv", data)
    shown = texts(at.error)
    assert "missing required column domain" in shown and "add a domain column" in shown
    assert "'asin' for domain" not in shown and "asin=domain" not in shown


def test_try_it_labels_the_list_length_and_shows_whole_titles() -> None:
    at = open_page("views/try_it.py")
    assert_clean(at)
    assert at.slider(key="try-k").label == "How many recommendations"
    at.multiselect[1].set_value(["popularity"])  # the models: not the bundled adapters, slow to load here
    at.selectbox(key="try-domain").set_value("Electronics")
    at.radio(key="try-how").set_value("An existing customer").run()
    assert_clean(at)
    history = at.text[0].value.split(" → ")
    items = pd.read_csv(SAMPLE_ITEMS)
    assert set(history) <= set(items.loc[items["domain"] == "Electronics", "title"])
    assert "Score: How strongly a model recommends an item" in texts(at.caption)
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 10
