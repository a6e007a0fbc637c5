"""peft's LoRA linear layers, run with fewer passes over memory.

peft computes `base(x) + lora_B(lora_A(dropout(x))) * scaling`. In training that makes five tensors the size of
the layer's input or output (dropout's float mask, the dropped input, B's product, its scaled copy, the sum),
each one more pass over memory: on the default base's top blocks, small matrices on a CPU, those passes and the
mask's random draws took about a seventh of a target LoRA's training step (docs/results.md). Here the mask is
booleans, dropout's 1/keep joins the scaling, and B's product is added to the base's output by one `addmm`:

    out = addmm(base(x), A (x * mask), B^T, alpha = scaling / keep)

The weights, the files and the maths are peft's; only the order of floating-point operations differs. A layer in
any state this does not cover (merged, adapters disabled, a LoRA variant such as DoRA, a bias on B, mixed
adapters per input, another dtype) runs peft's own forward.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xcross_core.training.loop import keep_mask


def fuse_lora(model: nn.Module) -> nn.Module:
    """Run every peft LoRA linear layer inside `model` with the fused forward; returns `model`."""
    from peft.tuners.lora.layer import Linear

    for module in model.modules():
        if isinstance(module, Linear):
            module.forward = _fused_forward(module, module.forward)
    return model


def _fused_forward(layer: nn.Module, peft_forward):
    def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        active = [name for name in layer.active_adapters if name in layer.lora_A]
        if (
            args
            or kwargs
            or layer.disable_adapters
            or layer.merged
            or any(name in layer.lora_variant or layer.lora_B[name].bias is not None for name in active)
            or any(x.dtype != layer.lora_A[name].weight.dtype for name in active)
        ):
            return peft_forward(x, *args, **kwargs)
        result = layer.base_layer(x)
        for name in active:
            dropout = layer.lora_dropout[name]
            mask = keep_mask(dropout, x)
            low = F.linear(x if mask is None else x * mask, layer.lora_A[name].weight)
            alpha = layer.scaling[name] / (1.0 if mask is None else 1.0 - dropout.p)
            flat = torch.addmm(
                result.reshape(-1, result.shape[-1]),
                low.reshape(-1, low.shape[-1]),
                layer.lora_B[name].weight.t(),
                alpha=alpha,
            )
            result = flat.view(result.shape)
        return result

    return forward
