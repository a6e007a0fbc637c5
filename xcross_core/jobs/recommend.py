"""Recommend: the top K items of a domain for each of its users, from a saved or untrained model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xcross_core.data.dataset import DomainData
from xcross_core.data.output import atomic_file
from xcross_core.data.report import spreadsheet_safe
from xcross_core.jobs.hooks import SILENT, Hooks
from xcross_core.jobs.inputs import DataSpec, ModelSpec, as_spec_error, domain_of, load_data
from xcross_core.jobs.outputs import check_output_file
from xcross_core.jobs.spec import SpecError, option
from xcross_core.models.recommender import Recommender, top_k
from xcross_core.models.registry import check_model_name, make_model, model_entries, model_entry


@dataclass(frozen=True, kw_only=True)
class RecommendSpec(DataSpec, ModelSpec):
    """Top-K items of a domain for each of its users."""

    model: str = option(
        ", ".join(f"{e.name!r} ({e.help})" for e in model_entries() if e.ready)
        + ", an adapter folder or an X-Cross run folder"
    )
    domain: str = option("domain to recommend in")
    k: int = option("items per user", 10, minimum=1)
    out: Path = option("output CSV: user_id,rank,item_id,title,score")
    train: Path | None = option("count popularity in this file instead of the interactions file", None)
    keep_history: bool = option("allow items the user already bought", False)

    def check(self) -> None:
        super().check()
        with as_spec_error():
            check_model_name(self.model)
        entry = model_entry(self.model)
        if entry is not None and not entry.ready:
            ready = ", ".join(repr(e.name) for e in model_entries() if e.ready)
            raise SpecError(
                None,
                f"`recommend` needs a trained model: {ready} or a saved folder; {self.model!r} is "
                "trained on a split by `xcross evaluate`, or saved with `xcross train-adapter` / `xcross train-xcross`",
            )
        if self.train is not None and (entry is None or entry.fit_sequences is None):
            counted = " or ".join(e.name for e in model_entries() if e.fit_sequences is not None)
            raise SpecError("train", f"only applies to the {counted} model")
        check_output_file("out", self.out, [*self.inputs(), self.train])


@dataclass(frozen=True)
class Recommendations:
    """What was written: the recommendations, K, the users, and how many users got fewer than K items."""

    frame: pd.DataFrame  # user_id, rank, item_id, title, score
    k: int
    users: int
    short: int
    domain: str


def run(spec: RecommendSpec, hooks: Hooks = SILENT) -> Recommendations:
    """Fit or load the model, rank the domain's catalogue for every user, and write `out` (whole or not at all)."""
    domain = domain_of(load_data(spec, hooks, domain=spec.domain), spec.domain, usable=False)
    model = _fitted(spec, domain, hooks)
    histories = domain.sequences()
    items, scores = top_k(model, histories, spec.k, exclude_history=not spec.keep_history)
    k = items.shape[1]
    recs = pd.DataFrame(
        {
            "user_id": np.repeat(domain.user_ids, k),
            "rank": np.tile(np.arange(1, k + 1), len(histories)),
            "item_id": domain.item_ids[items.ravel()],
            "title": np.asarray(domain.titles(), dtype=object)[items.ravel()],
            "score": scores.ravel(),
        }
    )
    # A user who bought all but fewer than K items has fewer than K left: top_k fills the list up with
    # bought items scored -inf, which must not be recommended.
    recs = recs[recs["score"] != -np.inf].reset_index(drop=True)
    per_user = recs.groupby("user_id").size().reindex(domain.user_ids, fill_value=0)
    short = int((per_user < k).sum())
    if short:
        hooks.say(
            f"warning: {short:,} user{'s have' if short > 1 else ' has'} fewer than {k} items not yet bought; "
            "their lists are shorter"
        )
    # Ids and titles are the user's own text: one such as "=HYPERLINK(...)" must not run in a spreadsheet.
    with atomic_file(spec.out) as tmp:
        spreadsheet_safe(recs).to_csv(tmp, index=False)
    return Recommendations(recs, k, len(histories), short, domain.name)


def _fitted(spec: RecommendSpec, domain: DomainData, hooks: Hooks) -> Recommender:
    entry = model_entry(spec.model)
    if entry is not None and entry.fit_sequences is not None:
        model = make_model(spec.model, domain, base=spec.base, allow_download=spec.download)
        if spec.train is None:
            return entry.fit_sequences(model, domain.sequences())
        train = domain_of(load_data(spec, hooks, spec.train, domain=domain.name), domain.name, usable=False)
        codes = pd.Index(domain.item_ids).get_indexer(train.item_ids[train.items])
        unknown = int((codes < 0).sum())
        if unknown:
            hooks.say(
                f"warning: {unknown} purchases in {spec.train.name} are of items outside the catalogue; not counted"
            )
        return entry.fit_sequences(model, [codes[codes >= 0]])
    with as_spec_error():
        return make_model(spec.model, domain, base=spec.base, allow_download=spec.download)
