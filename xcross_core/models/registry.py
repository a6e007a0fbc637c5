"""Turn a model name given by a user (CLI, app) into a `Recommender` for one domain."""

from __future__ import annotations

from dataclasses import replace

from xcross_core.data.dataset import DomainData
from xcross_core.models.popularity import Popularity
from xcross_core.models.recommender import Recommender
from xcross_core.models.sasrec import SASREC_LOOP, SASRec

#: Models that are trained from the split itself, by name.
BUILTIN_MODELS = ("popularity", "sasrec")


def make_model(name: str, domain: DomainData, *, seed: int = 0, epochs: int | None = None) -> Recommender:
    """A fresh, unfitted model called `name` for `domain`."""
    if name == "popularity":
        return Popularity(domain)
    if name == "sasrec":
        return SASRec(domain, loop=replace(SASREC_LOOP, seed=seed, epochs=epochs or SASREC_LOOP.epochs))
    raise ValueError(f"unknown model {name!r}; available: {', '.join(BUILTIN_MODELS)}")
