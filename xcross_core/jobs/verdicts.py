"""A proof of concept's findings, as data and in plain words: a verdict per paired test (better, same, worse or
inconclusive), the answer to its question (Yes, No or Inconclusive, with why and what to do), and what
X-Cross's contribution weights show.

The rules (docs/method.md, "How the answer is decided"):

- Two models rank **the same** when the whole interval of their difference lies within ±`margin`, the
  `SAME_MARGIN` share of the target's own adapter's NDCG@10; **better** or **worse** when the interval
  excludes 0 (no difference); otherwise the data can't tell (**inconclusive**).
- The answer is **Inconclusive** with fewer than `MIN_TEST_USERS` test users, when X-Cross or the target's own
  adapter kept its starting weights, or when the interval of X-Cross minus that adapter holds 0 but reaches
  below -margin. Otherwise **No** when the adapter is significantly better, and **Yes** when X-Cross is
  better or its interval rules out a loss larger than the margin. When only a kept start makes it Inconclusive,
  the headline says that what training adds is open, and a note says what the comparison did settle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from xcross_core.stats import CORRECTION, PairedTest
from xcross_core.training.events import FitReport

#: Fewer test users than this and the answer is Inconclusive, whatever the intervals say (docs/method.md).
MIN_TEST_USERS = 100
#: Two models count as ranking the same when their difference stays within this share of the target's own
#: adapter's NDCG@10 (docs/method.md).
SAME_MARGIN = 0.2
METRIC_NAMES = {"ndcg@10": "NDCG@10", "hit@10": "Hit@10"}


def count(n: int, noun: str) -> str:
    """`n` with thousands separators and `noun`, plural unless n is 1: "1 user", "1,200 users"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def listed(names: Sequence[str]) -> str:
    """Names joined as people write them: "A", "A and B", "A, B and C"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def kept_start(fit: FitReport | Mapping[str, Any]) -> bool:
    """Whether training ran but no epoch beat the starting weights on validation, so the start was kept.

    `fit` is a training report or its dict, as results.json and xcross_run.json store it."""
    epochs, best = (
        (fit.get("epochs", 0), fit.get("best_epoch", 0)) if isinstance(fit, Mapping) else (fit.epochs, fit.best_epoch)
    )
    return epochs > 0 and best == 0


def same_margin(reference_mean: float) -> float:
    """The difference within which two models count as the same: `SAME_MARGIN` of the reference's metric."""
    return SAME_MARGIN * max(reference_mean, 0.0)


def outcome(test: PairedTest, margin: float) -> str:
    """better / worse when the interval excludes 0; same when it lies within ±margin; else inconclusive."""
    d = test.difference
    if d.low > 0:
        return "better"
    if d.high < 0:
        return "worse"
    return "same" if -margin <= d.low and d.high <= margin else "inconclusive"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _numbers(test: PairedTest, metric: str) -> str:
    d = test.difference
    text = (
        f"{METRIC_NAMES.get(metric, metric)} difference {d.mean:+.4f}, {test.level:.0%} CI [{d.low:+.4f}, "
        f"{d.high:+.4f}], {_p(test.p_adjusted)}"
    )
    if test.comparisons > 1:
        text += f"; interval and p adjusted for {test.comparisons} comparisons ({CORRECTION})"
    return text


def verdict(
    name: str,
    other: str,
    test: PairedTest,
    margin: float,
    metric: str = "ndcg@10",
    unsettled: Sequence[str] = (),
    started: Sequence[str] = (),
) -> str:
    """One sentence a manager can read: does `name` rank better than, the same as or worse than `other`, or can't
    the data tell? `test` is `name` minus `other`; `margin` the difference that counts as the same.

    `unsettled` names models still improving when their epochs ran out, `started` models that kept their
    starting weights; the sentence says so.
    """
    numbers = _numbers(test, metric)
    within = f"±{margin:.4f}, the difference that counts as the same"
    sentence = {
        "better": f"{name} ranks significantly better than {other} ({numbers}).",
        "worse": f"{name} ranks significantly worse than {other} ({numbers}).",
        "same": f"{name} ranks the same as {other}: the whole interval lies within {within} ({numbers}).",
        "inconclusive": (
            f"Can't tell yet whether {name} ranks better or worse than {other}: the interval holds both no "
            f"difference and differences beyond {within} ({numbers}). More test users narrow it."
        ),
    }[outcome(test, margin)]
    if started:
        sentence += f" {listed(started)} kept {'its' if len(started) == 1 else 'their'} starting weights."
    if unsettled:
        sentence += (
            f" {listed(unsettled)} still improved on validation in the last epoch allowed: more epochs may change this."
        )
    return sentence


def _full_note(target: str, vs_full: PairedTest, margin: float, full_kept_start: bool) -> str:
    full = f"an adapter on all of {target}'s training users"
    if full_kept_start:
        return f"The comparison with {full} says nothing: that adapter kept its starting weights."
    return {
        "worse": f"{full[0].upper()}{full[1:]} ranks significantly better still: more {target} data pays.",
        "better": f"X-Cross even ranks significantly better than {full}.",
        "same": f"X-Cross ranks the same as {full}.",
        "inconclusive": f"Against {full}, the data can't tell yet.",
    }[outcome(vs_full, margin)]


def _source_notes(target: str, outcomes: Mapping[str, str]) -> list[str]:
    """What the answer says of the source adapters that X-Cross does not beat when they are applied alone."""
    beat = [f"the {s} adapter" for s, o in outcomes.items() if o == "worse"]
    level = [f"the {s} adapter" for s, o in outcomes.items() if o in ("same", "inconclusive")]
    notes = []
    if beat:
        one = len(beat) == 1
        notes.append(
            f"{listed(beat)[0].upper()}{listed(beat)[1:]} alone, with no {target} training, rank{'s' if one else ''} "
            f"significantly better than X-Cross: use {'it' if one else 'the best of them'} as it is."
        )
    if level:
        notes.append(
            f"X-Cross has not shown an advantage over {listed(level)} alone (used with no {target} training): "
            f"{'it ranks' if len(level) == 1 else 'they rank'} as well as X-Cross, or the data can't tell them apart."
        )
    return notes


def answer(
    target: str,
    sources: Sequence[str],
    vs_own: PairedTest,
    *,
    margin: float,
    parameter_share: float,
    xcross_kept_start: bool = False,
    own_kept_start: bool = False,
    vs_full: PairedTest | None = None,
    full_kept_start: bool = False,
    vs_sources: Mapping[str, PairedTest] | None = None,
) -> dict[str, object]:
    """The question the proof of concept is for, answered from X-Cross's paired tests (see the module docstring).

    `vs_own` is X-Cross minus the target's own adapter trained on the same users, `vs_full` minus an adapter on
    all of the target's training users (when that baseline ran), `vs_sources` minus each source adapter applied
    alone (by source domain). `margin` is the difference that counts as the same, `parameter_share` X-Cross's
    trainable parameters over the adapter's; the `*_kept_start` flags say which of the two kept its starting
    weights. Returns the outcome ("yes", "no" or "inconclusive"); the headline; the reasons of an inconclusive
    answer, each saying what to do; notes on the adapter on all users and on sources that match or beat X-Cross
    alone; `text`, all of these in one paragraph; and the figures the rules used.
    """
    named = ", ".join(sources)
    own = f"{target}'s own adapter trained on the same users"
    d = vs_own.difference
    more_users = "a larger data budget or a higher cap on users"
    reasons = []
    if vs_own.n < MIN_TEST_USERS:
        reasons.append(
            f"Only {count(vs_own.n, 'test user')}: at least {MIN_TEST_USERS} are needed before an answer can be "
            f"trusted. Test more of {target}'s customers: raise the number of test users (they are taken from "
            "outside the cap on users, so testing more costs no training)."
        )
    if xcross_kept_start:
        reasons.append(
            f"X-Cross kept its starting weights: no epoch of training on {target}'s users beat them on validation, "
            f"so it learned nothing from {target}. Give it more training users ({more_users}) or more epochs."
        )
    if own_kept_start:
        reasons.append(
            f"{target}'s own adapter kept its starting weights (the base model): no epoch of training beat them on "
            f"validation, so it is not yet a fair yardstick. Give it more training users ({more_users}) or more "
            "epochs."
        )
    # Reasons about the test itself (too few users, too wide an interval) make the comparison the open question;
    # otherwise what is open is what training adds, and the comparison, which the data did settle, is said as well.
    untested = bool(reasons) and vs_own.n < MIN_TEST_USERS
    if not reasons and d.low < -margin and d.high >= 0:
        untested = True
        reasons.append(
            f"The {vs_own.level:.0%} interval of X-Cross minus {target}'s own adapter, [{d.low:+.4f}, {d.high:+.4f}] "
            f"NDCG@10, holds no difference but reaches below -{margin:.4f} (a loss of {SAME_MARGIN:.0%} of the "
            "adapter's NDCG@10): the data can't tell 'as good' from 'worse'. More test users narrow it: raise the "
            "cap on users."
        )
    share = f"training {parameter_share:.0%} of its parameters"
    notes = []
    if reasons and untested:
        result = "inconclusive"
        headline = f"Inconclusive: the data can't say whether X-Cross over {named} ranks as well as {own}."
    elif reasons:
        result = "inconclusive"
        learned_nothing = "X-Cross" if xcross_kept_start else own
        headline = (
            f"Inconclusive: {learned_nothing} learned nothing from {target}'s users in this run, so it can't say "
            f"what training X-Cross over {named} on {target} adds."
        )
        settled = {"better": "significantly better than", "worse": "significantly worse than", "same": "as well as"}
        said = settled.get(outcome(vs_own, margin))
        if said:
            notes.append(
                f"As they are, X-Cross over {named} ranks {said} {own} (NDCG@10 difference {d.mean:+.4f}, "
                f"{vs_own.level:.0%} CI [{d.low:+.4f}, {d.high:+.4f}])."
            )
    elif d.high < 0:
        result = "no"
        headline = (
            f"No, not at this budget: {own} ranks significantly better than X-Cross over {named}. What those "
            f"categories learned does not cover what {target}'s buyers do; train {target}'s own adapter, or try "
            "other sources."
        )
    elif d.low > 0:
        result, headline = "yes", f"Yes: X-Cross over {named} ranks significantly better than {own}, {share}."
    else:
        result = "yes"
        headline = (
            f"Yes: X-Cross over {named} ranks as well as {own}, {share}: the {vs_own.level:.0%} interval of the "
            f"difference rules out a loss of more than {SAME_MARGIN:.0%} of the adapter's NDCG@10 (it starts at "
            f"{d.low:+.4f}; the margin is -{margin:.4f})."
        )
    sources_alone = {source: outcome(test, margin) for source, test in (vs_sources or {}).items()}
    notes += [] if vs_full is None else [_full_note(target, vs_full, margin, full_kept_start)]
    notes += _source_notes(target, sources_alone)
    return {
        "outcome": result,
        "headline": headline,
        "reasons": reasons,
        "notes": notes,
        "text": " ".join([headline, *reasons, *notes]),
        "test_users": vs_own.n,
        "min_test_users": MIN_TEST_USERS,
        "margin": margin,
        "vs_full": None if vs_full is None else outcome(vs_full, margin),
        "sources_not_beaten": [{"source": s, "outcome": o} for s, o in sources_alone.items() if o != "better"],
    }


def weights_finding(weights: pd.DataFrame, kept: bool) -> dict[str, object]:
    """What X-Cross's contribution weights (user_id, layer, source, weight) show, as data and in words.

    When the integration `kept` its starting weights, every source still has its starting, equal share: that is
    said in words instead of reported as a finding. Otherwise `spread` is, per layer, the standard deviation of a
    source's weight across users (averaged over sources): how much the mix adapts to the customer there. One
    source, weights that do not vary, or vary alike at every layer are said plainly, so that no layer is named as
    both where the weights vary most and where they vary least.
    """
    sources = list(weights["source"].unique()) if "source" in weights else []
    if len(sources) == 1:
        return {
            "learned": not kept,
            "text": (
                f"X-Cross had one source, {sources[0]}, so there was nothing to mix: its weight is 1 at every layer "
                "for every customer. Which sources help can only be told with two or more source adapters."
            ),
            "spread": [],
        }
    if kept:
        return {
            "learned": False,
            "text": (
                "X-Cross kept its starting weights: no epoch of training beat them on validation, so every source "
                "still has the same share at every layer. These equal weights are where training started, not a "
                "finding about which sources help; train X-Cross on more users (a larger data budget or a higher "
                "cap on users) or for more epochs."
            ),
            "spread": [],
        }
    if weights.empty:
        return {"learned": True, "text": "X-Cross learned, but no test users' weights were kept.", "spread": []}
    per_source = weights.groupby(["layer", "source"], sort=False)["weight"].agg(["mean", "std"]).fillna(0.0)
    spread = per_source["std"].groupby(level="layer", sort=False).mean()
    layers = [str(layer) for layer in spread.index]

    def name(layer: str) -> str:
        return "the final mix" if layer == "output" else f"layer {layer}"

    most, least = layers[int(spread.to_numpy().argmax())], layers[int(spread.to_numpy().argmin())]
    high, low = round(float(spread.max()), 3), round(float(spread.min()), 3)  # as the sentence shows them
    if high == 0:
        text = "X-Cross learned its weights, but they do not vary between customers: every customer gets the same mix."
    elif high == low:
        text = (
            "X-Cross learned its weights: they vary between customers by about as much at every layer (standard "
            f"deviation {high:.3f} across users)."
        )
    else:
        text = (
            f"X-Cross learned its weights: they vary between customers most at {name(most)} (standard deviation "
            f"{high:.3f} across users) and least at {name(least)} ({low:.3f})."
        )
    return {
        "learned": True,
        "text": text,
        "spread": [{"layer": layer, "sd": float(sd)} for layer, sd in zip(layers, spread, strict=True)],
        "by_source": [
            {"layer": str(layer), "source": str(source), "mean": float(row["mean"]), "sd": float(row["std"])}
            for (layer, source), row in per_source.iterrows()
        ],
    }


def still_improving(fit: FitReport) -> bool:
    """Whether validation NDCG@10 was still rising in the last epoch run, so the epoch cap cut training short."""
    # An early stop always follows epochs that did not validate best, so it needs no test of its own.
    return fit.start_valid_ndcg10 is not None and fit.epochs > 0 and fit.best_epoch == fit.epochs
