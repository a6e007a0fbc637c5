"""The trunk: the base model's blocks below every adapter, run once per prompt and shared.

When a model's adapters sit on the top blocks of the base only (`LoraSettings.top_layers`), the blocks below
them are the same frozen base for every model of a run: a prompt's states there do not depend on the target
LoRA, the sources, X-Cross's integration or the epoch. So they are computed once, by the frozen base model
the item tower also uses, and kept per process, keyed by the prompt's token ids. A model with a trunk then
skips its own lower blocks: its top blocks start from the kept states. Training steps, every validation
pass and the test encode only the adapted blocks.

The states are computed on the device of the model that asks, and kept on the CPU in half precision (a
prompt of 60 tokens on a 384-wide base: 46 KB), up to `TRUNK_BYTES` per process; prompts past that are
computed each time and not kept. `kept_rows` keeps any such frozen per-token states (X-Cross keeps its first
integrated block's streams with it). The frozen base runs in evaluation mode, so the lower blocks apply no
dropout while adapters train (they are frozen features). A model whose tokenizer pads on the left, whose
blocks return more than their states, or whose adapters reach below the blocks has no trunk and runs whole.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from xcross_core.models.base import BaseModelInfo, layer_of, layer_stack
from xcross_core.models.items import frozen_base

#: Most bytes of kept states per process (every trunk's and X-Cross's first-block streams, together).
TRUNK_BYTES = 768 * 2**20

_lock = threading.Lock()
_kept: dict[Hashable, dict[bytes, torch.Tensor]] = {}  # per space (whose states), per prompt's token ids
_kept_bytes = 0
_run_lock = threading.Lock()  # one trunk pass at a time through the shared frozen base (it carries a hook)


class _Reached(Exception):
    """Raised inside the frozen base once the trunk's last block has run: the blocks above are not needed."""


def adapted_blocks(model: nn.Module, info: BaseModelInfo) -> tuple[list[int], list[str]]:
    """The sorted indices of the transformer blocks that hold an adapter (a peft LoRA, or a stacked one: a
    module with `lora_a`), and the paths of adapter modules that lie outside every block."""
    owner = layer_of(model, info.num_layers)
    paths = [p for p, m in model.named_modules() if p.rpartition(".")[2].startswith("lora_") or hasattr(m, "lora_a")]
    return sorted({owner[p] for p in paths if p in owner}), [p for p in paths if p not in owner]


def lowest_adapted_block(model: nn.Module, info: BaseModelInfo) -> int | None:
    """Index of the lowest block that holds an adapter; None if none does or one lies outside the blocks (then
    there is no frozen trunk to share)."""
    blocks, outside = adapted_blocks(model, info)
    return None if outside or not blocks else blocks[0]


class Trunk:
    """The kept lower states of one model: installed on its blocks below `first`, which then pass them on."""

    def __init__(self, model: nn.Module, info: BaseModelInfo, first: int) -> None:
        self.base, self.first = info.name, first
        self.states: torch.Tensor | None = None  # [B, T, H] for the forward in progress, else None
        for index, block in enumerate(layer_stack(model, info.num_layers)[:first]):
            block.forward = self._bypass(block.forward, last=index == first - 1)

    def _bypass(self, forward, *, last: bool):
        def run(hidden_states: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
            if self.states is None:
                return forward(hidden_states, *args, **kwargs)
            return self.states if last else hidden_states

        return run

    @contextmanager
    def feeding(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, dtype: torch.dtype) -> Iterator[None]:
        """Within the block, the model's forward of these `input_ids` starts from their kept states (in `dtype`)."""
        self.states = lower_states(self.base, self.first, input_ids, attention_mask).to(dtype)
        try:
            yield
        finally:
            self.states = None


def trunk_for(model: nn.Module, info: BaseModelInfo, tokenizer: object) -> Trunk | None:
    """A trunk for `model` when it has frozen blocks below its adapters that can be shared; else None."""
    first = lowest_adapted_block(model, info)
    if not first or getattr(tokenizer, "padding_side", "right") != "right":
        return None
    probe = torch.tensor([[getattr(tokenizer, "cls_token_id", None) or 0]])
    if not isinstance(_run_trunk(info.name, first, probe, torch.ones_like(probe)), torch.Tensor):
        return None
    return Trunk(model, info, first)


def lower_states(base: str, first: int, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """[B, T, H] states after block `first` - 1 of the frozen `base` for each row (zeros at padding), from the
    kept ones where known; the others are computed in one pass and kept while there is room."""

    def compute(rows: torch.Tensor) -> torch.Tensor:
        return _run_trunk(base, first, input_ids[rows], attention_mask[rows])

    return kept_rows((base, first), input_ids, attention_mask, compute)


def kept_rows(
    space: Hashable,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    compute: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """[B, T, ...] frozen per-token states of each row (zeros at padding), kept per process in `space` under the
    row's real token ids: the kept ones where known; for the others `compute(rows)` gives [len(rows), T, ...]
    (rows: their indices, on the ids' device) in one call, and they are kept while `TRUNK_BYTES` has room."""
    global _kept_bytes
    ids, mask = input_ids.cpu(), attention_mask.cpu().bool()
    keys = [row[real].numpy().tobytes() for row, real in zip(ids, mask, strict=True)]
    with _lock:
        kept = _kept.setdefault(space, {})
        found = {i: kept[key] for i, key in enumerate(keys) if key in kept}
    missing = [i for i in range(len(keys)) if i not in found]
    if missing:
        rows = torch.tensor(missing, device=input_ids.device)  # computed where the model runs: a GPU's run stays there
        computed = compute(rows)
        with _lock:
            for i, states in zip(missing, computed, strict=True):
                found[i] = states[mask[i].to(states.device)].to("cpu", torch.float16)
                if keys[i] not in kept and _kept_bytes < TRUNK_BYTES:
                    kept[keys[i]] = found[i]
                    _kept_bytes += found[i].numel() * found[i].element_size()
    # Row-major, the mask's real positions are the rows' real tokens one row after another.
    real = torch.cat([found[i] for i in range(len(keys))])
    out = real.new_zeros((*ids.shape, *real.shape[1:]), dtype=torch.float32)
    out[mask] = real.float()
    return out.to(input_ids.device)


def _run_trunk(base: str, first: int, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> object:
    """The output of block `first` - 1 of the frozen `base` for these rows; the blocks above do not run."""
    model, _, info = frozen_base(base, str(input_ids.device))
    caught: list[object] = []

    def stop(module: nn.Module, args: tuple, output: object) -> None:
        caught.append(output)
        raise _Reached

    with _run_lock:
        handle = layer_stack(model, info.num_layers)[first - 1].register_forward_hook(stop)
        try:
            with torch.inference_mode():
                model(input_ids=input_ids, attention_mask=attention_mask)
        except _Reached:
            pass
        finally:
            handle.remove()
    output = caught[0]
    return output.clone() if isinstance(output, torch.Tensor) else output


def clear_trunks() -> None:
    """Forget every kept state (tests; a long-lived process that has moved on to other data)."""
    global _kept_bytes
    with _lock:
        _kept.clear()
        _kept_bytes = 0
