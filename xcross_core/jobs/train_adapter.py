"""Train a domain adapter: a LoRA adapter on the base model, trained on one domain's users and saved in peft's
format with our metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

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
    lora = LoraSettings(spec.rank, spec.alpha, LoraSettings.dropout, spec.lora_targets, spec.top_layers)
    loop = replace(
        ADAPTER_LOOP, epochs=spec.epochs or ADAPTER_LOOP.epochs, lr=spec.lr, batch_size=spec.batch_size, seed=spec.seed
    )
    model = lora_recommender(domain, spec.base, lora, None, loop, allow_download=spec.download)
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
