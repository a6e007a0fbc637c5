"""How the studio tells the user things: errors as messages without a traceback, the answer and each verdict
in the colour of its outcome (read from the result's data, never from its wording), and plain-language help
for the words the pages use. Verdicts, answers and error messages quote names from the data: they are shown
as plain text."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

import streamlit as st
from plain import md, plain

from xcross_core.data.report import DataError
from xcross_core.jobs.verdicts import MIN_TEST_USERS, SAME_MARGIN
from xcross_core.store import RunStateError

#: Errors whose message is meant for the user; anything else is a bug and may show a traceback. OSError and
#: sqlite3.Error are the workspace's: a full disk, a file in the way of a folder, a broken link.
USER_ERRORS = (DataError, ValueError, KeyError, RunStateError, OSError, sqlite3.Error)

#: Plain-language help for every metric, model name and term the result pages show.
GLOSSARY = {
    "NDCG@10": "How high each test customer's actual next purchase ranks among the 10 recommendations: 1 when it "
    "is first, less the lower it is (1 / log2(rank + 1)), 0 when it is not in the top 10; averaged over customers.",
    "Hit@10": "The share of test customers whose actual next purchase is among the 10 recommendations.",
    "LoRA": "A small add-on (a low-rank adapter) that teaches the shared language model one product category; "
    "only the add-on trains, a small fraction of the model's size.",
    "X-Cross": "Runs the source categories' adapters side by side and mixes them layer by layer, with weights that "
    "depend on the customer; only the mixing trains, on the new category's customers.",
    "target LoRA": "The new category's own adapter, trained on the same customers as X-Cross: the yardstick.",
    "zero-shot": "A source category's adapter used on the new category as it is, with no training on it.",
    "lora-full": "The new category's own adapter trained on all its training customers, not only the data budget: "
    "what more of its data would buy.",
    "popularity": "Recommends the items bought most often. Any model worth using should beat it.",
    "kept its start": "Training ran, but no epoch beat the model's starting weights on the validation customers, "
    "so those were kept and nothing measurable was learned (X-Cross: its sources mixed equally; a LoRA: the base "
    "model).",
    "95% CI": "The range the true value lies in with 95% confidence, from the spread over test customers. For "
    "comparisons the intervals hold together at 95% (Bonferroni: each is widened for the number of comparisons).",
    "p-value": "How surprising a difference this large would be if the two models ranked equally well; below 0.05 "
    "counts as a real difference. Multiplied by the number of comparisons (Bonferroni).",
    "same": f"Two models rank the same when the whole interval of their difference lies within {SAME_MARGIN:.0%} of "
    "the target LoRA's NDCG@10.",
    "Inconclusive": f"The data can't decide: fewer than {MIN_TEST_USERS} test customers, a model that kept its start, "
    "or an interval too wide to tell 'as good' from 'worse'.",
}

#: How each verdict outcome (X-Cross against another model) is shown: the alert that colours it, and its icon.
OUTCOME_STYLE = {
    "better": (st.success, ":material/trending_up:"),
    "same": (st.info, ":material/drag_handle:"),
    "worse": (st.error, ":material/trending_down:"),
    "inconclusive": (st.warning, ":material/help:"),
}
#: The answer's outcomes, styled the same way.
ANSWER_STYLE = {
    "yes": (st.success, ":material/check_circle:"),
    "no": (st.error, ":material/cancel:"),
    "inconclusive": (st.warning, ":material/help:"),
}


def error_text(err: BaseException) -> str:
    """An error's message in words: a KeyError's without its quotes, a file-system error as "path: reason"."""
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    if isinstance(err, OSError) and err.strerror:
        return f"{err.filename}: {err.strerror}" if err.filename else err.strerror
    return str(err)


def show_error(err: BaseException, what: str = "") -> None:
    """A user-facing error, "what: message" as plain text (both may quote the data), without a traceback."""
    st.error(md("{}: {}", what, error_text(err)) if what else plain(error_text(err)))


def guarded(action: Callable[[], Any], what: str = "") -> Any:
    """Run `action`, showing a user error instead of a traceback; None when it failed."""
    try:
        return action()
    except USER_ERRORS as err:
        show_error(err, what)
        return None


def _styled(styles: dict, outcome: object, text: str) -> None:
    """Markdown `text` in the alert of `outcome`; a result written before outcomes were recorded shows without a
    colour."""
    if outcome in styles:
        alert, icon = styles[outcome]
        alert(text, icon=icon)
    else:
        with st.container(border=True):
            st.markdown(text)


def verdict_box(model: str, test: dict[str, Any]) -> None:
    """A paired test's sentence coloured by its outcome: green better, blue the same, red worse, amber can't tell."""
    text = test.get("verdict") or f"{model}: p = {test['p_value']:.3f}"
    _styled(OUTCOME_STYLE, test.get("outcome"), plain(text))


def answer_box(answer: dict[str, Any] | str) -> None:
    """The proof of concept's answer coloured by its outcome (Yes green, No red, Inconclusive amber): the headline,
    the reasons of an inconclusive one as a list, then the notes. An answer stored as text alone (a run from
    before answers had outcomes) shows as it is, without a colour."""
    if isinstance(answer, str):
        _styled(ANSWER_STYLE, None, plain(answer))
        return
    parts = [
        md("**{}**", answer["headline"]),
        *(md("- {}", r) for r in answer["reasons"]),
        plain(" ".join(answer["notes"])),
    ]
    _styled(ANSWER_STYLE, answer["outcome"], "\n\n".join(p for p in parts if p))


def glossary(terms: Iterable[str], label: str = "What these words mean") -> None:
    """An expander explaining `terms` (keys of GLOSSARY) in plain language."""
    with st.expander(label, icon=":material/menu_book:"):
        st.markdown("\n".join(f"- **{term}**: {GLOSSARY[term]}" for term in terms))
