"""Train a domain adapter: a LoRA adapter on the base model, trained on one domain's users and saved in peft's
format with our metadata; and how long that takes on this machine, before it starts (`adapter_speed`,
`adapter_seconds`)."""

from __future__ import annotations

import gc
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from xcross_core.data.dataset import DomainData
from xcross_core.estimate import Speed, estimate_poc, train_step_seconds
from xcross_core.evaluation.splits import make_split
from xcross_core.jobs.hooks import SILENT, Hooks, Stage
from xcross_core.jobs.inputs import DataSpec, ModelSpec, SplitSpec, domain_of, load_data
from xcross_core.jobs.outputs import check_out, save_or_keep
from xcross_core.jobs.spec import option
from xcross_core.models.adapters import (
    ADAPTER_LOOP,
    METADATA,
    AdapterMetadata,
    LoraRecommender,
    LoraSettings,
    adapter_metadata,
    lora_recommender,
    save_adapter,
)
from xcross_core.models.registry import training_loop
from xcross_core.models.text import training_sequences

#: Users of a domain the speed probe cuts its batches from: enough for a batch of median prompt length, few enough
#: that a large domain's prompts are not all tokenised to find it.
PROBE_USERS = 500
#: Prompts in the probe's batch: per-prompt costs hardly depend on the batch size on a CPU.
PROBE_BATCH = 16


@dataclass(frozen=True, kw_only=True)
class TrainAdapterSpec(DataSpec, SplitSpec, ModelSpec):
    """Train a LoRA adapter on one domain."""

    domain: str = option("domain whose users the adapter learns from")
    out: Path = option("adapter folder to create (peft format + metadata)")
    overwrite: bool = option("replace an existing adapter folder", False)
    rank: int = option("LoRA rank", LoraSettings.rank, minimum=1, maximum=1024)
    alpha: int = option("LoRA alpha", LoraSettings.alpha, minimum=1, maximum=1_000_000)
    lora_targets: tuple[str, ...] | None = option(
        "module names to adapt (default: the architecture's attention projections)", None
    )
    top_layers: int = option(
        "adapt only the targets inside the last K transformer layers (the model's depth or more: every layer)",
        LoraSettings.top_layers,
        minimum=1,
        metavar="K",
    )
    lr: float = option("learning rate", ADAPTER_LOOP.lr, positive=True, maximum=10.0)
    batch_size: int = option("training batch size", ADAPTER_LOOP.batch_size, minimum=1, maximum=65_536)

    def check(self) -> None:
        super().check()
        check_out(self.out, overwrite=self.overwrite, marker=METADATA)


@dataclass(frozen=True)
class TrainedAdapter:
    """The adapter as a recommender, its metadata (as saved), and its folder."""

    model: LoraRecommender
    metadata: AdapterMetadata
    folder: Path


def run(spec: TrainAdapterSpec, hooks: Hooks = SILENT) -> TrainedAdapter:
    """Split the domain, train the adapter on the training users, and save it to `out` (atomically).

    Raises OutputError when the trained adapter cannot be saved to `out`; it is then kept elsewhere, and the
    message says where.
    """
    domain = domain_of(load_data(spec, hooks, domain=spec.domain), spec.domain)
    split = spec.make_split(domain, tested=False, ordered=True)
    hooks.say(f"split: {json.dumps(split.summary())}")
    settings = replace(ADAPTER_LOOP, lr=spec.lr, batch_size=spec.batch_size)
    loop = training_loop(settings, seed=spec.seed, epochs=spec.epochs)
    model = lora_recommender(domain, spec.base, lora_settings(spec), None, loop, allow_download=spec.download)
    hooks.on_stage(Stage(1, 1, f"adapter for {domain.name}"))
    fit = model.fit(split, progress=hooks.progress, cancel=hooks.cancel)
    metadata = adapter_metadata(model, split, fit, spec.base)
    save_or_keep(
        lambda folder: save_adapter(model, metadata, folder),
        spec.out,
        "trained adapter",
        "a complete adapter folder; move it to {out} (or use it from where it is) once there is room",
    )
    return TrainedAdapter(model, metadata, spec.out)


def lora_settings(spec: TrainAdapterSpec) -> LoraSettings:
    """The LoRA settings `spec` asks for."""
    return LoraSettings(spec.rank, spec.alpha, LoraSettings.dropout, spec.lora_targets, spec.top_layers)


def adapter_speed(domain: DomainData, base: str | None = None, lora: LoraSettings | None = None) -> Speed:
    """This machine's speed training a LoRA adapter on `base` over `domain`'s prompts, measured in seconds: one
    optimiser step (`estimate.train_step_seconds`) and one encoding on a batch of median prompt length.

    Its X-Cross fields are one stream's (a LoRA is X-Cross over one source), for estimating a proof of concept whose
    sources are not trained yet. Raises ValueError when the domain has no training sequence to measure on.
    """
    split = make_split(domain, "users", seed=0, max_users=PROBE_USERS)
    sequences = training_sequences(split)
    if not sequences:
        raise ValueError(f"domain {domain.name!r} has no training sequences to measure the speed on")
    start = time.perf_counter()
    model = lora_recommender(domain, base, lora)
    load_s = time.perf_counter() - start
    # Cost grows with prompt length, and training batches are grouped by it.
    batches = model.cut_batches(sequences, PROBE_BATCH, np.random.default_rng(0))
    lengths = [model.prompt_lengths([h for h, _ in b]).mean() for b in batches]
    batch = batches[np.argsort(lengths, kind="stable")[len(batches) // 2]]
    train = train_step_seconds(model, batch, repeats=1) / len(batch)  # warmed up first, so encoding needs no warm-up
    began = time.perf_counter()
    with torch.no_grad():
        model.prompt_vectors([h for h, _ in batch])
    encode = (time.perf_counter() - began) / len(batch)
    del model
    gc.collect()  # the probe's model holds reference cycles (forward hooks): free it before a run needs the room
    return Speed(train, train, encode, encode, load_s, probe_s=time.perf_counter() - start)


def adapter_seconds(spec: SplitSpec, domain: DomainData, speed: Speed) -> float:
    """The seconds training an adapter on `domain` with `spec`'s split and epochs should take at `speed`
    (`adapter_speed`), at its full epoch budget: early stopping can only shorten it.

    Counted as a proof of concept counts its target LoRA (`estimate.estimate_poc`), which also encodes the split's
    test users: a few seconds more than the training needs, as the training's is an upper bound anyway.
    """
    split = spec.make_split(domain, tested=False, ordered=True)
    (stage,) = estimate_poc(["lora"], split, len(training_sequences(split)), spec.epochs, speed)
    return stage.seconds
