"""Source adapters on one frozen base: read from their peft folders, checked, and stacked.

X-Cross and the mixture baselines (`combine`) run n source adapters together on one base model. Each
targeted linear layer becomes a `StackedLoRA` that holds the n frozen updates and applies them either as n
streams (X-Cross) or as one input-weighted mixture (static mix, gating).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from xcross_core.models.adapters import AdapterMetadata, check_adapter_fits, current_metadata
from xcross_core.models.artifacts import ArtifactError
from xcross_core.models.base import BaseModelInfo, load_base
from xcross_core.models.lora_files import check_fits, linear_shape, lora_files
from xcross_core.models.text import TextConfig
from xcross_core.models.trunk import adapted_blocks

_PREFIX = "base_model.model."


class StackedLoRA(nn.Module):
    """One frozen linear layer plus n frozen LoRA updates ΔW_i = s_i B_i A_i, applied in one of two modes.

    streams (X-Cross; `mix` is None): the batch is n streams, stream i getting update i.
    mixture (`mix` set to [B, n] weights by the owner before each forward): one stream, input b getting
    sum_i mix[b, i] ΔW_i x. The weights may carry gradients; the adapters never do.
    """

    def __init__(self, base: nn.Module, lora_a: torch.Tensor, lora_b: torch.Tensor, scaling: torch.Tensor) -> None:
        super().__init__()
        self.base = base
        # [n, r, in], [n, out, r], [n]: buffers, not parameters, so they never train.
        self.register_buffer("lora_a", lora_a)
        self.register_buffer("lora_b", lora_b)
        self.register_buffer("scaling", scaling)
        self.mix: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.lora_a.shape[0]
        if self.mix is None:
            # The batch is stream-major ([n * B, ...]). Scaled in rank space and added to the base's output by one
            # batched matmul: no [n, ..., out] product, scaled copy and sum of it.
            out = self.base(x)
            low = x.reshape(n, -1, x.shape[-1]) @ self.lora_a.transpose(1, 2) * self.scaling[:, None, None]
            return torch.baddbmm(out.reshape(n, -1, out.shape[-1]), low, self.lora_b.transpose(1, 2)).view(out.shape)
        # All n projections A_i x in one op, weighted in rank space: sum_i w_i s_i B_i (A_i x) then is a
        # single matmul over the n * r columns, with no [n, ..., out] intermediate.
        low = torch.einsum("...i,nri->...nr", x, self.lora_a)
        weights = (self.mix * self.scaling).reshape(x.shape[0], *(1,) * (x.dim() - 2), n, 1)
        return self.base(x) + torch.einsum("...nr,nor->...o", low * weights, self.lora_b)


def read_lora(folder: str | Path, model: nn.Module) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], float]:
    """peft adapter folder -> ({module path: (A [r, in], B [out, r])}, scaling), in `model`'s dtype.

    The folder's files are checked against each other and against `model`'s layers before a tensor is read
    (`lora_files`, `check_fits`): ArtifactError naming the file and the problem.
    """
    lora = lora_files(folder)
    check_fits(lora, model)
    try:
        weights = load_file(str(lora.weights_path))
    except (SafetensorError, OSError) as err:
        raise ArtifactError(lora.weights_path, f"cannot be read: {err}") from None
    dtype = next(model.parameters()).dtype
    modules = {
        path: tuple(weights[f"{_PREFIX}{path}.lora_{ab}.weight"].to(dtype) for ab in "AB") for path in lora.modules
    }
    return modules, lora.scaling


def adapted_layers(model: nn.Module, info: BaseModelInfo) -> list[int]:
    """Indices of the transformer blocks that hold stacked adapters, in order.

    Raises ValueError when an adapted module lies outside every block: integration works block by block.
    """
    blocks, outside = adapted_blocks(model, info)
    if outside:
        raise ValueError(f"source adapters adapt {', '.join(outside)}, outside the transformer layers")
    return blocks


def stack_adapters(model: nn.Module, adapters: Sequence[str | Path]) -> list[StackedLoRA]:
    """Replace every linear layer that any of `adapters` targets by a StackedLoRA of all n; return those.

    Every adapter is checked against `model` before any is read (ArtifactError naming the file).
    """
    for adapter in adapters:
        check_adapter_fits(adapter, model)
    loaded = [read_lora(a, model) for a in adapters]
    paths = sorted(set().union(*(m for m, _ in loaded)))
    rank = max(a.shape[0] for m, _ in loaded for a, _ in m.values())
    stacked = []
    for path in paths:
        base = model.get_submodule(path)
        a_list, b_list = [], []
        out_f, in_f = linear_shape(base)
        for modules, _ in loaded:
            # An adapter that leaves this module alone contributes a zero update.
            a, b = modules.get(path, (base.weight.new_zeros(rank, in_f), base.weight.new_zeros(out_f, rank)))
            # Pad smaller ranks with zero rows/columns: they add nothing.
            a_list.append(F.pad(a, (0, 0, 0, rank - a.shape[0])))
            b_list.append(F.pad(b, (0, rank - b.shape[1])))
        scaling = torch.tensor([s for _, s in loaded])
        parent_path, _, name = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        stacked.append(StackedLoRA(base, torch.stack(a_list), torch.stack(b_list), scaling))
        setattr(parent, name, stacked[-1])
    return stacked


def load_sources(
    adapters: Sequence[str | Path], text: TextConfig | None = None
) -> tuple[nn.Module, object, BaseModelInfo, list[str], TextConfig]:
    """The source adapters' common base, loaded frozen (model, tokenizer, info), their domains, and the
    text config: `text`, else the first adapter's with the default validation and item head."""
    metas = source_metadata(adapters)
    model, tokenizer, info = load_base(metas[0].base)
    return model, tokenizer, info, [m.domain for m in metas], text or _target_text(metas[0])


def sources_text(adapters: Sequence[str | Path]) -> TextConfig:
    """The text config a combination of `adapters` trains with by default: the first adapter's, with the default
    validation and item head."""
    return _target_text(source_metadata(adapters)[0])


def _target_text(first: AdapterMetadata) -> TextConfig:
    # The sources fix how prompts and items become text; validation and the item head belong to the training at
    # hand (the target's).
    own = {
        k: getattr(TextConfig, k)
        for k in (
            "valid_cases",
            "min_valid_cases",
            "item_head",
            "item_bias",
            "train_prior",
            "calibration_cases",
        )
    }
    return replace(TextConfig(**first.text), **own)


def source_metadata(adapters: Sequence[str | Path]) -> list[AdapterMetadata]:
    """The metadata of source adapters that can be integrated: at least one, all on one base model.

    Raises ValueError (FileNotFoundError for a folder that is not an adapter) naming the problem.
    """
    metas = [current_metadata(a) for a in adapters]
    if not metas:
        raise ValueError("no source adapters given")
    bases = {m.base for m in metas}
    if len(bases) > 1:
        named = ", ".join(f"{Path(a).name} ({m.base})" for a, m in zip(adapters, metas, strict=True))
        raise ValueError(f"source adapters must share one base model; these do not: {named}")
    return metas
