"""The model registry: every model known by name, described once, with what it needs and how to build it.

`register_model` (after peft's `register_peft_method`) records one `ModelEntry` per model: the factory that
builds it for a domain, its default training settings, its help texts and labels, whether fitting it learns from
the training split, whether it combines source adapters, whether a proof of concept offers it as a baseline, what
its stage of a proof of concept costs and whether it runs alone. The CLI's choices and help, the proof of concept's
plan and estimate, and the studio's lists and glossary all read this registry, so a new model is one
`register_model` call below and nothing else switches on its name.

Two entries are ways a proof of concept runs a registered model rather than models of their own (`poc_only`):
`lora-full` (the target LoRA on all of the target's training users) and `zero-shot` (each source adapter alone).

A name that is not registered may still be a saved model: an adapter folder (zero-shot when its domain is not
the one being ranked) or an X-Cross run folder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import numpy as np

from xcross_core.data.advice import Hint, Message
from xcross_core.data.dataset import DomainData
from xcross_core.models.adapters import ADAPTER_LOOP, METADATA, base_recommender, load_adapter, lora_recommender
from xcross_core.models.combine import gating_recommender, static_mix_recommender, uniform_merge_recommender
from xcross_core.models.popularity import Popularity
from xcross_core.models.recommender import Recommender
from xcross_core.models.sasrec import SASREC_LOOP, SASRec
from xcross_core.models.xcross import XCROSS_LOOP, xcross_recommender
from xcross_core.models.xcross_run import RUN_CONFIG, load_run
from xcross_core.training.loop import LoopConfig


class Cost(Enum):
    """What a model's stage of a proof of concept costs: `estimate.estimate_poc` turns it into seconds."""

    COUNTS = "counts purchases: no measurable time"
    SCORES = "loads a frozen language model and encodes the test users only (nothing trains)"
    TRAINS_TEXT = "loads the language model and trains one stream of it for its loop, validating every epoch"
    TRAINS_XCROSS = "trains X-Cross's source streams for its loop; the test users are encoded twice (rank, weights)"
    TRAINS_SASREC = "trains an ID-based SASRec for its loop (the speed probe times its step)"

    @property
    def trains(self) -> bool:
        """Whether the stage runs a training loop (the model's `loop` sets its epochs and batches)."""
        return self in (Cost.TRAINS_TEXT, Cost.TRAINS_XCROSS, Cost.TRAINS_SASREC)


def training_loop(loop: LoopConfig, *, seed: int | None = None, epochs: int | None = None) -> LoopConfig:
    """`loop` with a caller's seed and epoch cap applied (None keeps the loop's own)."""
    return replace(loop, seed=loop.seed if seed is None else seed, epochs=epochs or loop.epochs)


@dataclass(frozen=True)
class ModelOptions:
    """What a factory may use besides the domain: the seed, the epoch cap, the base model and source adapters."""

    seed: int = 0
    epochs: int | None = None  # None: the model's own default
    base: str | None = None  # base language model; None: the packaged default
    allow_download: bool = False
    adapters: tuple[str | Path, ...] = field(default_factory=tuple)  # source adapters of the models that combine them
    loop: LoopConfig | None = None  # the entry's training loop with the seed and epochs above; None: it has none


Factory = Callable[[DomainData, ModelOptions], Recommender]
Fitter = Callable[[Any, Sequence[np.ndarray]], Recommender]


def _about(help: str, default: Any = MISSING) -> Any:
    """A field of `ModelEntry` with its help (peft's configs' `metadata={"help": ...}`)."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class ModelEntry:
    """One registered model: everything the CLI, the proof of concept, its estimate and the studio know of it."""

    name: str = _about("the name it is chosen by (CLI, specs, results.json's `key`)")
    factory: Factory = _about("builds it fresh for a domain from `ModelOptions`")
    help: str = _about("what it is, in a few words (CLI help, the studio's baseline list)")
    trains: bool = _about("fitting it learns from the training split")
    cost: Cost = _about("what its stage of a proof of concept costs, for the time estimate")
    loop: LoopConfig | None = _about("its default training settings; None: it has no training loop", None)
    sources: bool = _about("it combines source adapters, which the caller must name", False)
    baseline: Literal["default", "optional"] | None = _about(
        "offered as a proof-of-concept baseline (and chosen by default); None: not offered", None
    )
    role: Literal["subject", "yardstick"] | None = _about(
        "its part in every proof of concept: the subject every model is compared with (its weights kept), or the "
        "yardstick the answer compares it with; None: a baseline or a model of its own",
        None,
    )
    users: Literal["budget", "all"] = _about(
        "the target's training users it trains on in a proof of concept: the data budget's, or all of them",
        "budget",
    )
    per_source: bool = _about("a proof of concept runs it once per source adapter, given that adapter alone", False)
    alone: bool = _about(
        "it trains with no other model beside it (`jobs.lanes`): its training draws randomness from torch's global "
        "generator, which another model training at once would disturb (`training.loop` gives module dropout a "
        "generator of its own; functional dropout, as in `nn.MultiheadAttention`, has none)",
        False,
    )
    fit_sequences: Fitter | None = _about(
        "fits a fresh model on purchase sequences without a split (`recommend` and the studio count it over every "
        "customer); None: it needs a split to train, or nothing",
        None,
    )
    label: str = _about(
        "its row's name in a proof of concept's results: a template of {term}, {budget} (the share of users it "
        "trains on) and {source} (the source adapter it runs)",
        "{term}",
    )
    term: str = _about("the word the studio calls it by in its glossary and charts; empty: the name", "")
    glossary: str = _about("its meaning in plain language for the studio's glossary; empty: not in it", "")
    poc_help: str = _about("what its row in a proof of concept's results is, when it says more than `help`", "")
    title: str = _about("its name in the studio's list of models ready to rank (Try it); empty: the name", "")

    def __post_init__(self) -> None:
        if self.cost.trains and self.loop is None:
            raise ValueError(f"model {self.name!r} is costed as training ({self.cost.name}): give it a loop")

    @property
    def word(self) -> str:
        """The word the studio calls it by."""
        return self.term or self.name

    @property
    def poc_only(self) -> bool:
        """A way a proof of concept runs a registered model (on all users, or per source), not a model of its own:
        it is offered only among the baselines, and `make_model` does not build it by name."""
        return self.users == "all" or self.per_source

    @property
    def ready(self) -> bool:
        """It ranks without a split: frozen, or fitted on whole purchase sequences (`recommend`, Try it)."""
        return not self.poc_only and (self.fit_sequences is not None or not (self.trains or self.sources))

    def training(self, *, seed: int = 0, epochs: int | None = None) -> LoopConfig | None:
        """Its training loop with the caller's seed and epoch cap (None: it has no loop)."""
        return None if self.loop is None else training_loop(self.loop, seed=seed, epochs=epochs)

    def make(self, domain: DomainData, options: ModelOptions) -> Recommender:
        """A fresh model for `domain`, its loop set from `options`' seed and epochs."""
        return self.factory(domain, replace(options, loop=self.training(seed=options.seed, epochs=options.epochs)))

    def row_label(self, budget: float, source: str = "") -> str:
        """Its row's name in a proof of concept trained on the `budget` share of users (`label` filled in)."""
        share = f"{1.0 if self.users == 'all' else budget:.0%} of users"
        return self.label.format(term=self.word, budget=share, source=source)


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, factory: Factory, **description: Any) -> ModelEntry:
    """Make `name` a model described by `ModelEntry`'s fields (`help`, `trains` and `cost` at least):
    `factory(domain, options)` builds it fresh. Raises ValueError for a name taken."""
    if name in _MODELS:
        raise ValueError(f"a model named {name!r} is registered already")
    entry = ModelEntry(name, factory, **description)
    _MODELS[name] = entry
    return entry


def unregister_model(name: str) -> None:
    """Forget model `name` (a test's or a plugin's); KeyError when it is not registered."""
    del _MODELS[name]


def model_entry(name: str) -> ModelEntry | None:
    """The registered model `name`, or None (a folder, or unknown)."""
    return _MODELS.get(name)


def model_entries() -> tuple[ModelEntry, ...]:
    """Every registered entry, in registration order."""
    return tuple(_MODELS.values())


def model_with_role(role: Literal["subject", "yardstick"]) -> ModelEntry:
    """The model that plays `role` in every proof of concept."""
    return next(e for e in _MODELS.values() if e.role == role)


def plan_entry(key: str) -> ModelEntry:
    """The entry of a proof of concept's plan key: a registered name's, or for a source adapter's folder the
    entry that runs each source alone."""
    return _MODELS.get(key) or next(e for e in _MODELS.values() if e.per_source)


def model_names(
    *, sources: bool | None = None, trains: bool | None = None, baseline: bool | None = None
) -> tuple[str, ...]:
    """Registered names in registration order, optionally only those that do (True) or do not (False) combine
    sources, train, or serve as a proof-of-concept baseline. Ways of running a model that only a proof of concept
    has (`ModelEntry.poc_only`) are listed only among the baselines."""
    return tuple(
        e.name
        for e in _MODELS.values()
        if (sources is None or e.sources == sources)
        and (trains is None or e.trains == trains)
        and (baseline is None or (e.baseline is not None) == baseline)
        and (baseline or not e.poc_only)
    )


class Names(Sequence[str]):
    """`model_names(**filters)` read whenever it is used, so a model registered later is among them (a spec's
    `choices`, argparse's)."""

    def __init__(self, **filters: bool | None) -> None:
        self._filters = filters

    def __getitem__(self, index: Any) -> Any:
        return model_names(**self._filters)[index]

    def __len__(self) -> int:
        return len(model_names(**self._filters))

    def __repr__(self) -> str:
        return repr(model_names(**self._filters))


def is_model_folder(name: str | Path) -> bool:
    """An adapter folder or an X-Cross run folder."""
    return (Path(name) / METADATA).is_file() or (Path(name) / RUN_CONFIG).is_file()


def check_model_name(name: str, adapters: Sequence[str | Path] | None = None) -> None:
    """Raise ValueError with the choices when `name` is neither a registered model nor a model folder.

    A model that combines sources is valid only with `adapters`.
    """
    entry = model_entry(name)
    if entry is not None and not entry.poc_only:
        if entry.sources and not adapters:
            raise ValueError(Message(f"model {name!r} combines source adapters: name them", Hint("adapters", " ({})")))
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
        return entry.make(domain, ModelOptions(seed, epochs, base, allow_download, tuple(adapters or ())))
    if (Path(name) / RUN_CONFIG).is_file():
        return load_run(name, domain)
    return load_adapter(name, domain)


def _lora(domain: DomainData, o: ModelOptions) -> Recommender:
    return lora_recommender(domain, o.base, loop=o.loop, allow_download=o.allow_download)


register_model(
    "popularity",
    lambda domain, o: Popularity(domain),
    help="the items bought most often in the training data",
    trains=True,
    cost=Cost.COUNTS,
    baseline="default",
    fit_sequences=Popularity.fit_sequences,
    glossary="Recommends the items bought most often. Any model worth using should beat it.",
    title="Popularity (most bought)",
)
register_model(
    "sasrec",
    lambda domain, o: SASRec(domain, loop=o.loop),
    help="an ID-based sequential model (SASRec-style) trained on the target",
    trains=True,
    cost=Cost.TRAINS_SASREC,
    loop=SASREC_LOOP,
    baseline="optional",
    alone=True,  # its attention's functional dropout draws from the global generator
)
register_model(
    "base",
    lambda domain, o: base_recommender(domain, o.base, allow_download=o.allow_download),
    help="the base language model with no adapter",
    trains=False,
    cost=Cost.SCORES,
    title="Base language model (no adapter)",
)
register_model(
    "lora",
    _lora,
    help="a LoRA adapter trained on the target",
    trains=True,
    cost=Cost.TRAINS_TEXT,
    loop=ADAPTER_LOOP,
    role="yardstick",
    label="{term} ({budget})",
    term="target LoRA",
    glossary="The new category's own adapter, trained on the same customers as X-Cross: the yardstick.",
    poc_help="the target's own LoRA adapter, trained on the same users as X-Cross (the yardstick)",
)
register_model(
    "x-cross",
    lambda domain, o: xcross_recommender(domain, o.adapters, loop=o.loop),
    help="X-Cross: the source adapters integrated layer by layer, trained on the target",
    trains=True,
    cost=Cost.TRAINS_XCROSS,
    loop=XCROSS_LOOP,
    sources=True,
    role="subject",
    label="{term} ({budget})",
    term="X-Cross",
    glossary="Runs the source categories' adapters side by side and mixes them layer by layer, with weights that "
    "depend on the customer; only the mixing trains, on the new category's customers.",
)
register_model(
    "uniform-merge",
    lambda domain, o: uniform_merge_recommender(domain, o.adapters),
    help="the source adapters merged into one with equal weights (nothing trains)",
    trains=False,
    cost=Cost.SCORES,
    sources=True,
    baseline="optional",
)
register_model(
    "static-mix",
    lambda domain, o: static_mix_recommender(domain, o.adapters, loop=o.loop),
    help="the source adapters mixed with one trained weight each",
    trains=True,
    cost=Cost.TRAINS_TEXT,
    loop=XCROSS_LOOP,
    sources=True,
    baseline="optional",
)
register_model(
    "gating",
    lambda domain, o: gating_recommender(domain, o.adapters, loop=o.loop),
    help="the source adapters weighted per input and layer by a trained gate, without X-Cross's refinement",
    trains=True,
    cost=Cost.TRAINS_TEXT,
    loop=XCROSS_LOOP,
    sources=True,
    baseline="optional",
)
register_model(
    "lora-full",
    _lora,
    help="a target LoRA trained on all of the target's training users, not only the budget",
    trains=True,
    cost=Cost.TRAINS_TEXT,
    loop=ADAPTER_LOOP,
    baseline="default",
    users="all",
    label="target LoRA ({budget})",
    glossary="The new category's own adapter trained on all its training customers, not only the data budget: "
    "what more of its data would buy.",
)
register_model(
    "zero-shot",
    lambda domain, o: load_adapter(o.adapters[0], domain),
    help="each source adapter alone on the target, as it is (nothing trains)",
    trains=False,
    cost=Cost.SCORES,
    sources=True,
    baseline="default",
    per_source=True,
    label="{source} adapter (zero-shot)",
    glossary="A source category's adapter used on the new category as it is, with no training on it.",
    poc_help="one source adapter alone, applied to the target as it is (zero-shot)",
)
