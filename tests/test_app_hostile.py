"""Data shown as text on every page of the studio, through Streamlit's AppTest: a workspace whose data has hostile
category names, titles, user ids and file names (Markdown links and images, raw HTML, Streamlit directives, LaTeX,
bare URLs), and runs with hostile names, errors and progress. No link, image, HTML, directive or formatting from the
data reaches an element that renders Markdown, a chart or the HTML report. test_e2e.py checks the same in a real
browser, with every request the pages make.

One workspace for the module (tests.studio_helpers.hostile_studio); no model is trained beyond a tiny one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser

import pandas as pd
import pytest

from tests.studio_helpers import HOSTILE, HOSTILE_DOMAINS, HOSTILE_FILE, HOSTILE_HOST, TARGET, hostile_studio
from tests.test_app import APP, assert_clean, open_page, shown
from tests.test_app_answer import learned, variant
from xcross_core.worker import Workspace

#: Markup left in rendered text once its escaped characters are set aside: a link or image, HTML or an autolink,
#: an entity, a Streamlit directive or shortcode, LaTeX, and the data's own bold text.
LIVE = re.compile(r"\]\(|<[a-zA-Z/!?]|&[#a-zA-Z]|:[\w/-]+[\[:]|\$|\*\*bold\*\*")
#: Bare links, which GitHub-flavored Markdown finds in the text after its escapes are resolved (as its
#: mdast-util-gfm-autolink-literal does): only an invisible word joiner inside keeps them text.
BARE_LINK = re.compile(r"https?://|\bwww\.|[-.\w+]+@[-\w]+(?:\.[-\w]+)+", re.IGNORECASE)
#: Proto fields that Streamlit renders as Markdown: bodies, labels, tooltips, a progress bar's text.
MARKDOWN_FIELDS = frozenset({"body", "label", "help", "text"})
#: Elements whose options are Markdown too (select boxes and multiselects show theirs as text).
MARKDOWN_OPTIONS = frozenset({"radio", "select_slider", "pills", "segmented_control"})
#: Elements that show their body as it is.
TEXT_ELEMENTS = frozenset({"text", "json", "code"})
#: The tags of the HTML report's own making.
REPORT_TAGS = frozenset(
    {"html", "head", "meta", "title", "style", "body", "script", "h1", "h2", "p", "b", "div", "ul", "li", "dl", "dt"}
    | {"dd", "table", "thead", "tbody", "tr", "th", "td"}
)
#: Hover-template text of the studio's charts other than the data's values (which are referred to, never pasted).
TEMPLATE_WORDS = re.compile(r"%\{[^}]*\}|<br>|</?extra>|[\w .:%()@=-]")


@pytest.fixture(scope="module")
def studio(tiny_bert, tmp_path_factory) -> tuple[Workspace, dict[str, str]]:
    workspace = Workspace(tmp_path_factory.mktemp("hostile-studio"))
    return workspace, hostile_studio(workspace, tiny_bert)


@pytest.fixture(autouse=True)
def environment(studio, monkeypatch) -> None:
    monkeypatch.setenv("XCROSS_HOME", str(studio[0].root))
    monkeypatch.syspath_prepend(str(APP))


def live_markup(text: str) -> list[str]:
    """The markup that Markdown would render in `text`: what LIVE finds once backslash-escaped characters are out,
    and the bare links in the text once escapes are resolved."""
    return LIVE.findall(re.sub(r"\\.", "·", text)) + BARE_LINK.findall(re.sub(r"\\(.)", r"\1", text))


def _strings(message) -> Iterator[tuple[str, str]]:
    """(field name, text) of every string field of a protobuf message, nested messages included."""
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        for one in values:
            if field.type == field.TYPE_MESSAGE:
                yield from _strings(one)
            elif field.type == field.TYPE_STRING:
                yield field.name, one


def _nodes(node) -> Iterator:
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _nodes(child)


def rendered_markdown(at) -> Iterator[tuple[str, str]]:
    """(element type, text) of everything on the page that Streamlit renders as Markdown."""
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None or node.type in TEXT_ELEMENTS or node.type == "plotly_chart":
            continue
        for field, text in _strings(proto):
            if field in MARKDOWN_FIELDS or (field == "options" and node.type in MARKDOWN_OPTIONS):
                yield node.type, text
    for table in at.table:  # st.table renders Markdown in every cell, header and index label
        frame = table.value
        for text in [*map(str, frame.index), *map(str, frame.columns), *frame.astype(str).to_numpy().ravel()]:
            yield "table", text


def chart_problems(spec: str) -> list[str]:
    """Tags in a chart's text other than the line breaks of its templates, and data pasted into a hover template."""
    problems = []

    def visit(value: object, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                visit(v, k)
        elif isinstance(value, list):
            for v in value:
                visit(v, key)
        elif isinstance(value, str):
            if key.endswith("template"):
                if TEMPLATE_WORDS.sub("", value):
                    problems.append(f"{key}: {value}")
            elif re.search(r"<(?!br>)[a-zA-Z/!]", value):
                problems.append(f"{key}: {value}")

    visit(json.loads(spec))
    return problems


def assert_shown_as_text(at) -> str:
    """No markup from the data anywhere on the page; returns the page's Markdown, its escapes removed."""
    assert_clean(at)
    rendered = list(rendered_markdown(at))
    assert not [(kind, text) for kind, text in rendered if live_markup(text)], [
        (kind, text, live_markup(text)) for kind, text in rendered if live_markup(text)
    ]
    for chart in at.get("plotly_chart"):
        assert not chart_problems(chart.proto.spec), chart_problems(chart.proto.spec)
    return shown("\n".join(text for _, text in rendered))


def _data(at) -> None:
    at.selectbox(key="browse-domain").set_value(HOSTILE_DOMAINS["Sports"]).run()


def _adapters(at) -> None:
    at.text_input[0].set_value("../escape")
    at.button[0].click().run()  # a refused name: the error quotes it


def _try_it(at) -> None:
    from loaders import adapter_library

    library = adapter_library()
    adapters = library.loc[library["library"] == "workspace", "path"].tolist()
    at.radio(key="try-how").set_value("An existing customer").run()
    at.multiselect[0].set_value(["popularity", *adapters]).run()


#: Each page, what to do on it, and data it must show (as text).
PAGES: dict[str, tuple[Callable | None, list[str]]] = {
    "views/home.py": (None, [f"Upload: {HOSTILE_FILE}"]),
    "views/data.py": (_data, [f"Using **Upload: {HOSTILE_FILE}**", f"the name it has in {HOSTILE_FILE}"]),
    "views/adapters.py": (_adapters, [HOSTILE[3], HOSTILE[4], "../escape"]),
    "views/poc_run.py": (None, [f"Latest finished: tiny poc — {HOSTILE_DOMAINS[TARGET]}"]),
    "views/results.py": (None, [HOSTILE_DOMAINS[TARGET], HOSTILE_DOMAINS["Sports"], HOSTILE_DOMAINS["Kitchen"]]),
    "views/which_sources_help.py": (None, ["Actual next purchase"]),
    "views/try_it.py": (_try_it, ["Adapter: ", HOSTILE_DOMAINS["Sports"]]),
}


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_shows_hostile_data_as_text(studio, page) -> None:
    drive, expected = PAGES[page]
    at = open_page(page)
    assert_clean(at)
    if drive:
        drive(at)
    page_text = assert_shown_as_text(at)
    for text in expected:  # the data is on the page, as written
        assert text in page_text, (text, page_text)


def test_history_shows_hostile_run_names_and_errors_as_text(studio) -> None:
    _, runs = studio
    at = open_page("views/history.py")
    at.selectbox(key="history-run").set_value(runs["poc"]).run()
    assert [b.label for b in at.download_button][0] == "HTML report"
    assert_shown_as_text(at)
    at.selectbox(key="history-run").set_value(runs["failed"]).run()
    assert f"Failed: {HOSTILE[0]} {HOSTILE[2]}" in assert_shown_as_text(at)
    table = at.dataframe[0].value  # tables show text as it is
    assert HOSTILE[1] in set(table["name"]) and f"{HOSTILE[0]} {HOSTILE[2]}" in set(table["error"])


def test_which_sources_help_shows_learned_weights_of_hostile_sources_as_text(studio) -> None:
    workspace, runs = studio
    at = open_page("views/which_sources_help.py", poc_run=variant((workspace, runs["poc"]), "learned", learned))
    page_text = assert_shown_as_text(at)
    assert "X-Cross learned its weights" in page_text and f"test customers of {HOSTILE_DOMAINS[TARGET]}." in page_text
    assert len(at.get("plotly_chart")) == 4  # heatmap, totals, spread, attribution: all with hostile labels
    spec = "".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "&lt;img src=http:\\u002f\\u002fhostile.invalid\\u002fkitchen.png&gt;" in spec  # shown, as text
    at.select_slider[0].set_value(at.select_slider[0].options[0]).run()
    assert_shown_as_text(at)


def test_the_html_report_shows_hostile_data_as_text(studio) -> None:
    from export import report_html
    from runs import read_run

    from xcross_core.store import RunStore

    workspace, runs = studio
    run = RunStore(workspace.store_path).get(runs["poc"])
    report, _, _ = read_run(run)
    page = report_html(run, report)

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[tuple[str, list]] = []

        def handle_starttag(self, tag: str, attrs: list) -> None:
            self.found.append((tag, attrs))

    parser = Tags()
    parser.feed(page)
    assert not [(t, a) for t, a in parser.found if t in ("a", "img") or any(HOSTILE_HOST in str(v) for _, v in a)]
    assert {t for t, _ in parser.found} <= REPORT_TAGS
    assert "[Electronics](http://hostile.invalid/domain)" in page  # as text: its brackets are not markup in HTML


def test_plain_breaks_every_kind_of_markup() -> None:
    from plain import md, plain, plain_table

    for text in [*HOSTILE, *HOSTILE_DOMAINS.values(), HOSTILE_FILE, "a & b &lt; c", "x\n# heading\n1. one"]:
        assert not live_markup(plain(text)), (text, plain(text))
        assert shown(plain(text)) == text  # and shown exactly as written
    assert md("**{}** of {n:,} at {p:.0%}", "[a](b)", n=12345, p=0.5) == r"**\[a\](b)** of 12,345 at 50%"
    table = plain_table(pd.DataFrame({"$x$": ["[a](b)", 3]}, index=["<b>", "n"]))
    assert list(table.index) == [r"\<b>", "n"] and list(table.columns) == [r"\$x\$"]
    assert table.iloc[:, 0].tolist() == [r"\[a\](b)", 3]  # numbers stay numbers


def test_charts_refer_to_hostile_names_and_escape_them() -> None:
    import charts

    name = HOSTILE_DOMAINS["Kitchen"]
    curve = [{"stage": name, "step": 1, "loss": 1.0}, {"stage": "%{x} <b>", "step": 2, "loss": 0.5}]
    spec = charts.loss_curve(curve).to_json()
    assert not chart_problems(spec), chart_problems(spec)
    assert "&lt;img src=" in spec and "%{x} &lt;b&gt;" in spec  # the names, as text
    bars = charts.attribution_bars(pd.DataFrame({name: [0.5]}, index=[HOSTILE[2]]))
    assert not chart_problems(bars.to_json())
