"""A proof of concept's findings in plain words: a verdict per paired test, and the answer to its question."""

from __future__ import annotations

from collections.abc import Sequence

from xcross_core.stats import PairedTest
from xcross_core.training.events import FitReport


def verdict(name: str, reference: str, test: PairedTest, metric: str = "ndcg@10", unsettled: Sequence[str] = ()) -> str:
    """One sentence a manager can read: is `name` better, worse or not distinguishable from `reference`?

    `unsettled` names models that were still improving when their epochs ran out; the sentence says so.
    """
    d = test.difference
    numbers = f"{metric.upper()} difference {d.mean:+.4f}, 95% CI [{d.low:+.4f}, {d.high:+.4f}], p = {test.p_value:.3f}"
    if not test.significant:
        sentence = f"{name} is as good as {reference}: not significantly different ({numbers})."
    else:
        side = "better" if d.mean > 0 else "worse"
        sentence = f"{name} is significantly {side} than {reference} ({numbers})."
    if unsettled:
        sentence += (
            f" {' and '.join(unsettled)} still improved on validation in the last epoch allowed: "
            "more epochs may change this."
        )
    return sentence


def answer(
    target: str,
    sources: Sequence[str],
    vs_budget: PairedTest,
    parameter_share: float,
    vs_full: PairedTest | None = None,
) -> str:
    """The question the proof of concept is for, answered in plain words from X-Cross's paired tests.

    `vs_budget` is X-Cross minus the target's own LoRA on the same users, `vs_full` minus a LoRA on all of
    the target's training users (when that baseline ran); `parameter_share` is X-Cross's trainable
    parameters over LoRA's.
    """
    named = ", ".join(sources)
    own = f"{target}'s own adapter trained on the same users"
    if vs_budget.significant and vs_budget.difference.mean < 0:
        text = (
            f"Not at this budget: {own} ranks better than X-Cross over {named}. What those categories learned "
            f"does not cover what {target}'s buyers do; train {target}'s own adapter, or try other sources."
        )
    else:
        how = "better than" if vs_budget.significant else "as well as"
        text = f"Yes: X-Cross over {named} ranks {how} {own}, training {parameter_share:.0%} of its parameters."
    if vs_full is not None:
        if vs_full.significant and vs_full.difference.mean < 0:
            text += f" An adapter on all of {target}'s training users is better still: more {target} data pays."
        else:
            text += f" It is not significantly worse than an adapter on all of {target}'s training users."
    return text


def still_improving(fit: FitReport) -> bool:
    """Whether validation NDCG@10 was still rising in the last epoch run, so the epoch cap cut training short."""
    # An early stop always follows epochs that did not validate best, so it needs no test of its own.
    return fit.start_valid_ndcg10 is not None and fit.epochs > 0 and fit.best_epoch == fit.epochs
