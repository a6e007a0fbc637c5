"""Adapter-combination baselines that X-Cross is compared against.

All three keep the base model and the n source adapters frozen, and run ONE stream (X-Cross runs n):

- uniform merge: peft's `add_weighted_adapter` folds the sources into one adapter whose update is the
  mean of theirs, (1/n) sum_i ΔW_i. Nothing trains.
- static mix: every targeted module adds sum_i w_i ΔW_i x with w = softmax(θ), one θ ∈ R^n for the whole
  model (no per-input, no per-layer variation). n parameters.
- gating (X-LoRA / MoLE style; X-Cross without its cross-stream refinement): at layer l,
  w = softmax(G_l pool(h)) from the layer's input h, per input and per layer, weights the sources'
  updates inside that layer. h is pooled over the input's real tokens (mean; last real token for
  decoders), one weighting per input where X-Cross weighs per token and also refines the streams with
  each other. (H n + n) parameters per adapted layer.

Static mix and gating use `StackedLoRA`'s mixture mode: the n updates in one batched op, then weighted.
Their contribution weights have X-Cross's shape [users, adapted layers + 1, n]; as a single stream has no
separate output combination, the last ("output") entry is the average of the layers' weights: the
model's overall lean towards each source (for the static mix every entry is softmax(θ)).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from xcross_core.data.dataset import DomainData
from xcross_core.models.adapters import check_adapter_fits
from xcross_core.models.base import BaseModelInfo, layer_stack, pool
from xcross_core.models.sources import StackedLoRA, adapted_layers, load_sources, stack_adapters
from xcross_core.models.text import TextConfig, TextEncoder, TextRecommender
from xcross_core.models.xcross import XCROSS_LOOP, SourceMixRecommender
from xcross_core.training.loop import LoopConfig

#: Name of the merged adapter inside the uniform merge's peft model.
MERGED = "uniform"


def uniform_merge_recommender(
    domain: DomainData, adapters: Sequence[str | Path], text: TextConfig | None = None
) -> TextRecommender:
    """The mean of the source adapters' updates as one peft adapter (frozen: 0 trainable parameters)."""
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer

    model, tokenizer, info, _, text = load_sources(adapters, text)
    names = [f"source{i}" for i in range(len(adapters))]
    for path in adapters:  # refused before peft builds anything from files that do not fit this base
        check_adapter_fits(path, model)
    peft_model = PeftModel.from_pretrained(model, str(adapters[0]), adapter_name=names[0])
    for name, path in zip(names[1:], adapters[1:], strict=True):
        peft_model.load_adapter(str(path), adapter_name=name)
    # `cat` stacks the (weight * scaling * A_i) and B_i blocks, so B A is exactly sum_i w_i s_i B_i A_i for
    # any ranks; `linear` would merge A and B separately, (sum w B)(sum w A), which is not the mean update.
    peft_model.add_weighted_adapter(names, [1 / len(names)] * len(names), MERGED, combination_type="cat")
    for layer in peft_model.modules():
        # The scalings are baked into A, so the merged adapter must scale by 1: peft sets alpha = r for
        # that, which an rslora first source turns into sqrt(r).
        if isinstance(layer, LoraLayer) and MERGED in layer.scaling:
            layer.scaling[MERGED] = 1.0
    peft_model.set_adapter(MERGED, inference_mode=True)  # without inference_mode it would become trainable
    for name in names:
        peft_model.delete_adapter(name)
    # The merged adapter's new modules are made in training mode: its LoRA dropout would perturb every score.
    peft_model.eval()
    return TextRecommender(domain, TextEncoder(peft_model, info), tokenizer, text, name="uniform-merge")


class MixtureEncoder(nn.Module):
    """Base model + n stacked source adapters run as one stream with learned mixture weights -> unit vectors.

    gated=False: the static mix (θ ∈ R^n for the whole model); gated=True: a gate per layer.
    """

    def __init__(self, model: nn.Module, info: BaseModelInfo, adapters: Sequence[str | Path], gated: bool) -> None:
        super().__init__()
        self.model, self.info, self.n, self.gated = model, info, len(adapters), gated
        self.stacked = stack_adapters(model, adapters)
        self.layers = adapted_layers(model, info)  # the blocks that hold adapters
        self.recorded: list[torch.Tensor] = []  # per layer [B, n] weights of the last forward
        self._mask: torch.Tensor | None = None
        if not gated:
            self.logits = nn.Parameter(torch.zeros(self.n))  # zero: the uniform mix
            return
        self.gates = nn.ModuleList(nn.Linear(info.hidden_size, self.n) for _ in self.layers)
        for gate in self.gates:  # zero: every layer starts as the uniform mix
            nn.init.zeros_(gate.weight)
            nn.init.zeros_(gate.bias)
        blocks = layer_stack(model, info.num_layers)
        for index, layer in enumerate(self.layers):
            modules = [m for m in blocks[layer].modules() if isinstance(m, StackedLoRA)]
            blocks[layer].register_forward_pre_hook(self._gate_hook(index, modules), with_kwargs=True)

    def _gate_hook(self, index: int, modules: list[StackedLoRA]):
        def hook(layer: nn.Module, args: tuple, kwargs: dict) -> None:
            hidden = args[0] if args else kwargs["hidden_states"]
            weights = self.gates[index](pool(hidden, self._mask, self.info.decoder)).softmax(-1)  # [B, n]
            for module in modules:
                module.mix = weights
            self.recorded.append(weights.detach())

        return hook

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        self._mask, self.recorded = attention_mask, []
        if not self.gated:
            weights = self.logits.softmax(-1).expand(input_ids.shape[0], -1)
            for module in self.stacked:
                module.mix = weights
            self.recorded = [weights.detach()] * len(self.layers)
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        for module in self.stacked:
            module.mix = None  # hold no reference to this forward's graph
        return F.normalize(pool(hidden, attention_mask, self.info.decoder), dim=-1)

    def contributions(self) -> torch.Tensor:
        """[B, len(layers) + 1, n] source weights of the last forward: each adapted layer, then their average."""
        layers = torch.stack(self.recorded, dim=1)
        return torch.cat([layers, layers.mean(1, keepdim=True)], dim=1)


def _mixture_recommender(
    domain: DomainData,
    adapters: Sequence[str | Path],
    gated: bool,
    text: TextConfig | None,
    loop: LoopConfig | None,
) -> SourceMixRecommender:
    model, tokenizer, info, sources, text = load_sources(adapters, text)
    encoder = MixtureEncoder(model, info, adapters, gated)
    name = "gating" if gated else "static-mix"
    return SourceMixRecommender(domain, encoder, tokenizer, text, loop or XCROSS_LOOP, name=name, sources=sources)


def static_mix_recommender(
    domain: DomainData,
    adapters: Sequence[str | Path],
    text: TextConfig | None = None,
    loop: LoopConfig | None = None,
) -> SourceMixRecommender:
    """One learned softmax weight per source for the whole model (n trainable parameters), starting uniform."""
    return _mixture_recommender(domain, adapters, False, text, loop)


def gating_recommender(
    domain: DomainData,
    adapters: Sequence[str | Path],
    text: TextConfig | None = None,
    loop: LoopConfig | None = None,
) -> SourceMixRecommender:
    """Per-layer, per-input softmax gates over the sources, no cross-stream refinement; starts uniform."""
    return _mixture_recommender(domain, adapters, True, text, loop)
