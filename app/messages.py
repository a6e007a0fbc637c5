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

from xcross_core.data.advice import Hint
from xcross_core.data.report import DataError
from xcross_core.jobs.verdicts import MIN_TEST_USERS, SAME_MARGIN
from xcross_core.models.registry import model_entries, plan_entry
from xcross_core.store import RunStateError

#: Errors whose message is meant for the user; anything else is a bug and may show a traceback. OSError and
#: sqlite3.Error are the workspace's: a full disk, a file in the way of a folder, a broken link.
USER_ERRORS = (DataError, ValueError, KeyError, RunStateError, OSError, sqlite3.Error)


def model_glossary() -> dict[str, str]:
    """Plain-language help of every registered model that has some, by the word the pages call it, in registry
    order; read when asked, so a model registered later is explained too."""
    return {e.word: e.glossary for e in model_entries() if e.glossary}


#: Plain-language help for every metric, model name and term the result pages show (the models' from the registry).
GLOSSARY = {
    "NDCG@10": "How high each test customer's actual next purchase ranks among the 10 recommendations: 1 when it "
    "is first, less the lower it is (1 / log2(rank + 1)), 0 when it is not in the top 10; averaged over customers.",
    "Hit@10": "The share of test customers whose actual next purchase is among the 10 recommendations.",
    "LoRA": "A small add-on (a low-rank adapter) that teaches the shared language model one product category; "
    "only the add-on trains, a small fraction of the model's size.",
    **model_glossary(),
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
    "verdict": "X-Cross against one model on the same test customers: better, the same, worse, or inconclusive "
    "(the data can't tell). The target LoRA's row shows the answer instead, which settles that comparison.",
    "trainable parameters": "The weights training changed; the language model itself stays frozen.",
    "contribution weight": "How much X-Cross draws on one source adapter at one layer for one customer; the weights "
    "of a layer sum to 1, and equal weights mean no preference.",
    "final mix": "The last of X-Cross's mixes: the weights with which it combines the source streams' final vectors "
    "into the one vector that scores the items (the `output` entry of the weights file).",
    "standard deviation": "How much a source's weight varies between test customers at one layer: 0 when every "
    "customer gets the same mix there, larger when the mix depends on what the customer bought.",
    "score": "How strongly a model recommends an item; only the order within one model's list matters. For a "
    "language-model recommender (an adapter, X-Cross, the base model) it is the cosine similarity of the "
    "customer's history and the item, times a learned scale, plus the item's learned popularity bias where the model "
    "has one; for popularity, the item's purchases in the training data.",
    "item popularity": "The part of an item's score that comes from how often it sells in the new category's "
    "training data (a bias X-Cross learns per item), whatever the sources say.",
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


#: The studio's control for each setting a library message may name (see `xcross_core.data.advice`), beyond the
#: column names (`page_words`). A setting the studio does not offer (an encoding, the row and length limits, the
#: minimum of users) has none: its clause is left out rather than point at something the page cannot set.
PAGE_CONTROLS = {"max_users": "the Cap users setting"}


def page_words(hint: Hint) -> str | None:
    """A setting named in a library message, as the page's control: a column mapping as the Column names fields
    on the Data page with the names to type there; None when the studio has no such control."""
    if hint.option != "columns":
        return PAGE_CONTROLS.get(hint.option)
    named = ", ".join(_column_pair(value) for value in hint.values)
    if hint.role == "given":
        return f"the column name {named}" if named else "the column names"
    return f"the Column names fields on the Data page ({'e.g.' if hint.role == 'example' else 'perhaps'} {named})"


def _column_pair(value: str) -> str:
    """'sku' for item_id, from the library's sku=item_id (their name, then ours)."""
    theirs, sep, ours = value.rpartition("=")
    return f"{theirs!r} for {ours}" if sep else value


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


def answered_pair(report: dict[str, Any]) -> str | None:
    """The model whose comparison with X-Cross the answer settles (the target LoRA on the same users), when the
    run recorded an answer with an outcome; None otherwise (the verdicts then stand alone)."""
    answer = report.get("answer")
    if not isinstance(answer, dict) or "outcome" not in answer:
        return None
    tests = report.get("comparisons_vs_reference", {})
    models = report.get("models", {}).items()
    own = (m for m, info in models if plan_entry(str(info.get("key"))).role == "yardstick" and m in tests)
    return next(own, None)


def _answered(report: dict[str, Any], model: str) -> str:
    """The answered pair's sentence, worded from the answer: the answer's rules (a margin for "as well as", at
    least 100 test users) may settle a pair that its plain verdict calls inconclusive, and the page must not say
    both."""
    answer, reference = report["answer"], report["reference"]
    result = answer["outcome"]
    if result == "yes" and report["comparisons_vs_reference"][model]["difference"]["low"] > 0:
        finding = f"{reference} ranks significantly better than {model}"
    elif result == "yes":
        finding = f"{reference} ranks no worse than {model} beyond the margin (±{answer['margin']:.4f} NDCG@10)"
    elif result == "no":
        finding = f"{reference} ranks significantly worse than {model}"
    else:
        finding = f"the data can't tell yet whether {reference} ranks no worse than {model}"
    return f"{result.capitalize()} (the answer above): {finding}. The table below has the numbers."


def comparison_verdicts(report: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(sentence, outcome) of each comparison in results.json, in its order: the pair the answer settles worded
    and coloured as the answer (yes, no, inconclusive), every other pair by its verdict (better, same, worse,
    inconclusive; None in a run written before verdicts had outcomes)."""
    answered = answered_pair(report)
    verdicts = []
    for model, test in report.get("comparisons_vs_reference", {}).items():
        if model == answered:
            verdicts.append((_answered(report, model), report["answer"]["outcome"]))
        else:
            verdicts.append((test.get("verdict") or f"{model}: p = {test['p_value']:.3f}", test.get("outcome")))
    return verdicts


def verdict_box(text: str, outcome: str | None) -> None:
    """A comparison's sentence (`comparison_verdicts`) coloured by its outcome: green better or yes, blue the same,
    red worse or no, amber can't tell."""
    _styled(OUTCOME_STYLE | ANSWER_STYLE, outcome, plain(text))


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
    """An expander explaining `terms` (keys of GLOSSARY, or words of registered models) in plain language."""
    meanings = GLOSSARY | model_glossary()
    with st.expander(label, icon=":material/menu_book:"):
        st.markdown("\n".join(f"- **{term}**: {meanings[term]}" for term in terms))
