"""The model registry: every model known by name, registered once, with what it needs and how to build it.

`register_model` (after peft's `register_peft_method`) records a name, the factory that builds the model for a
domain, its help text, whether fitting it learns from the training split, whether it combines source adapters,
and whether a proof of concept offers it as a baseline. The CLI's choices and help, the proof of concept's
baselines and the studio's lists all read this registry, so a new model is one `register_model` call below.

A name that is not registered may still be a saved model: an adapter folder (zero-shot when its domain is not
the one being ranked) or an X-Cross run folder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from xcross_core.data.dataset import DomainData
from xcross_core.models.adapters import ADAPTER_LOOP, METADATA, base_recommender, load_adapter, lora_recommender
from xcross_core.models.combine import gating_recommender, static_mix_recommender, uniform_merge_recommender
from xcross_core.models.popularity import Popularity
from xcross_core.models.recommender import Recommender
from xcross_core.models.sasrec import SASREC_LOOP, SASRec
from xcross_core.models.xcross import XCROSS_LOOP, xcross_recommender
from xcross_core.models.xcross_run import RUN_CONFIG, load_run
from xcross_core.training.loop import LoopConfig


@dataclass(frozen=True)
class ModelOptions:
    """What a factory may use besides the domain: the seed, the epoch cap, the base model and source adapters."""

    seed: int = 0
    epochs: int | None = None  # None: the model's own default
    base: str | None = None  # base language model; None: the packaged default
    allow_download: bool = False
    adapters: tuple[str | Path, ...] = field(default_factory=tuple)  # source adapters of the models that combine them


Factory = Callable[[DomainData, ModelOptions], Recommender]


@dataclass(frozen=True)
class ModelEntry:
    """One registered model."""

    name: str
    factory: Factory
    help: str
    trains: bool  # fitting it learns from the training split
    sources: bool = False  # it combines source adapters, which the caller must name
    baseline: Literal["default", "optional"] | None = None  # offered by a proof of concept (and chosen by default)


_MODELS: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    factory: Factory,
    *,
    help: str,
    trains: bool,
    sources: bool = False,
    baseline: Literal["default", "optional"] | None = None,
) -> ModelEntry:
    """Make `name` a model: `factory(domain, options)` builds it fresh. Raises ValueError for a name taken."""
    if name in _MODELS:
        raise ValueError(f"a model named {name!r} is registered already")
    entry = ModelEntry(name, factory, help, trains, sources, baseline)
    _MODELS[name] = entry
    return entry


def model_entry(name: str) -> ModelEntry | None:
    """The registered model `name`, or None (a folder, or unknown)."""
    return _MODELS.get(name)


def model_names(
    *, sources: bool | None = None, trains: bool | None = None, baseline: bool | None = None
) -> tuple[str, ...]:
    """Registered names in registration order, optionally only those that do (True) or do not (False) combine
    sources, train, or serve as a proof-of-concept baseline."""
    return tuple(
        e.name
        for e in _MODELS.values()
        if (sources is None or e.sources == sources)
        and (trains is None or e.trains == trains)
        and (baseline is None or (e.baseline is not None) == baseline)
    )


def is_model_folder(name: str | Path) -> bool:
    """An adapter folder or an X-Cross run folder."""
    return (Path(name) / METADATA).is_file() or (Path(name) / RUN_CONFIG).is_file()


def check_model_name(name: str, adapters: Sequence[str | Path] | None = None) -> None:
    """Raise ValueError with the choices when `name` is neither a registered model nor a model folder.

    A model that combines sources is valid only with `adapters`.
    """
    entry = model_entry(name)
    if entry is not None:
        if entry.sources and not adapters:
            raise ValueError(f"model {name!r} combines source adapters: name them (--adapters)")
        return
    if is_model_folder(name):
        return
    if Path(name).exists():
        raise ValueError(f"{name} is not a saved model folder (it has neither {METADATA} nor {RUN_CONFIG})")
    raise ValueError(
        f"unknown model {name!r}; use one of {', '.join(model_names(sources=False))}, an adapter folder or an "
        "X-Cross run folder"
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
    """A model called `name` for `domain`: fresh for registered names, loaded for folders.

    `adapters` are the source adapter folders that source-combining models use (on the adapters' own base
    model, not `base`); other models ignore them, so one list can serve a whole comparison.
    """
    check_model_name(name, adapters)
    entry = model_entry(name)
    if entry is not None:
        options = ModelOptions(seed, epochs, base, allow_download, tuple(adapters or ()))
        return entry.factory(domain, options)
    if (Path(name) / RUN_CONFIG).is_file():
        return load_run(name, domain)
    return load_adapter(name, domain)


def _xcross_loop(options: ModelOptions) -> LoopConfig:
    return replace(XCROSS_LOOP, seed=options.seed, epochs=options.epochs or XCROSS_LOOP.epochs)


def _sasrec(domain: DomainData, options: ModelOptions) -> Recommender:
    return SASRec(domain, loop=replace(SASREC_LOOP, seed=options.seed, epochs=options.epochs or SASREC_LOOP.epochs))


def _lora(domain: DomainData, options: ModelOptions) -> Recommender:
    loop = replace(ADAPTER_LOOP, seed=options.seed, epochs=options.epochs or ADAPTER_LOOP.epochs)
    return lora_recommender(domain, options.base, loop=loop, allow_download=options.allow_download)


register_model(
    "popularity",
    lambda domain, options: Popularity(domain),
    help="the items bought most often in the training data",
    trains=True,
    baseline="default",
)
register_model(
    "sasrec",
    _sasrec,
    help="an ID-based sequential model (SASRec-style) trained on the target",
    trains=True,
    baseline="optional",
)
register_model(
    "base",
    lambda domain, o: base_recommender(domain, o.base, allow_download=o.allow_download),
    help="the base language model with no adapter",
    trains=False,
)
register_model("lora", _lora, help="a LoRA adapter trained on the target", trains=True)
register_model(
    "x-cross",
    lambda domain, o: xcross_recommender(domain, o.adapters, loop=_xcross_loop(o)),
    help="X-Cross: the source adapters integrated layer by layer, trained on the target",
    trains=True,
    sources=True,
)
register_model(
    "uniform-merge",
    lambda domain, o: uniform_merge_recommender(domain, o.adapters),
    help="the source adapters merged into one with equal weights (nothing trains)",
    trains=False,
    sources=True,
    baseline="optional",
)
register_model(
    "static-mix",
    lambda domain, o: static_mix_recommender(domain, o.adapters, loop=_xcross_loop(o)),
    help="the source adapters mixed with one trained weight each",
    trains=True,
    sources=True,
    baseline="optional",
)
register_model(
    "gating",
    lambda domain, o: gating_recommender(domain, o.adapters, loop=_xcross_loop(o)),
    help="the source adapters weighted per input and layer by a trained gate, without X-Cross's refinement",
    trains=True,
    sources=True,
    baseline="optional",
)
