"""Turn a model name given by a user (CLI, app) into a `Recommender` for one domain.

Names: `popularity`, `sasrec` and `lora` are trained from the split they are evaluated on; `base` is
the base language model with no adapter; a path is a saved adapter folder (zero-shot when its domain
is not the one being ranked) or X-Cross run folder. Given source adapters, `x-cross` (fresh) and the
adapter-combination baselines `uniform-merge`, `static-mix` and `gating` combine them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from xcross_core.data.dataset import DomainData
from xcross_core.models.adapters import ADAPTER_LOOP, METADATA, base_recommender, load_adapter, lora_recommender
from xcross_core.models.combine import gating_recommender, static_mix_recommender, uniform_merge_recommender
from xcross_core.models.popularity import Popularity
from xcross_core.models.recommender import Recommender
from xcross_core.models.sasrec import SASREC_LOOP, SASRec
from xcross_core.models.xcross import RUN_CONFIG, XCROSS_LOOP, load_run, xcross_recommender

#: Models known by name; anything else must be a saved adapter folder.
BUILTIN_MODELS = ("popularity", "sasrec", "base", "lora")
#: Built-in models that learn from the training split when fitted.
TRAINED_MODELS = ("popularity", "sasrec", "lora")
#: Models that combine source adapters: known by name only when the caller names the adapters.
SOURCE_MODELS = ("x-cross", "uniform-merge", "static-mix", "gating")


def is_model_folder(name: str) -> bool:
    """An adapter folder or an X-Cross run folder."""
    return (Path(name) / METADATA).is_file() or (Path(name) / RUN_CONFIG).is_file()


def check_model_name(name: str, adapters: Sequence[str | Path] | None = None) -> None:
    """Raise ValueError with the choices when `name` is neither a built-in model nor a model folder.

    A source model (SOURCE_MODELS) is valid only with `adapters`.
    """
    if name in SOURCE_MODELS:
        if not adapters:
            raise ValueError(f"model {name!r} combines source adapters: name them (--adapters)")
        return
    if name in BUILTIN_MODELS or is_model_folder(name):
        return
    if Path(name).exists():
        raise ValueError(f"{name} is not a saved model folder (it has neither {METADATA} nor {RUN_CONFIG})")
    raise ValueError(
        f"unknown model {name!r}; use one of {', '.join(BUILTIN_MODELS)}, an adapter folder or an X-Cross run folder"
    )


def make_model(
    name: str,
    domain: DomainData,
    *,
    seed: int = 0,
    epochs: int | None = None,
    base: str | None = None,
    allow_download: bool = False,
    adapters: Sequence[str | Path] | None = None,
) -> Recommender:
    """A model called `name` for `domain`: fresh for built-ins and source models, loaded for folders.

    `adapters` are the source adapter folders that SOURCE_MODELS combine (on the adapters' own base
    model, not `base`); other models ignore them, so one list can serve a whole comparison.
    """
    check_model_name(name, adapters)
    if name in SOURCE_MODELS:
        loop = replace(XCROSS_LOOP, seed=seed, epochs=epochs or XCROSS_LOOP.epochs)
        if name == "uniform-merge":
            return uniform_merge_recommender(domain, adapters)
        builders = {"x-cross": xcross_recommender, "static-mix": static_mix_recommender, "gating": gating_recommender}
        return builders[name](domain, adapters, loop=loop)
    if name == "popularity":
        return Popularity(domain)
    if name == "sasrec":
        return SASRec(domain, loop=replace(SASREC_LOOP, seed=seed, epochs=epochs or SASREC_LOOP.epochs))
    if name == "base":
        return base_recommender(domain, base, allow_download=allow_download)
    if name == "lora":
        loop = replace(ADAPTER_LOOP, seed=seed, epochs=epochs or ADAPTER_LOOP.epochs)
        return lora_recommender(domain, base, loop=loop, allow_download=allow_download)
    if (Path(name) / RUN_CONFIG).is_file():
        return load_run(name, domain)
    return load_adapter(name, domain)
