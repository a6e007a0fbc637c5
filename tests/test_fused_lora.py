"""The fused forward of peft's LoRA layers computes what peft computes."""

from __future__ import annotations

import copy

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from xcross_core.models.fused_lora import fuse_lora
from xcross_core.training.loop import own_dropout


class TwoProjections(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q, self.k = nn.Linear(16, 12), nn.Linear(16, 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.q(x) * self.k(x)


def _lora(dropout: float) -> nn.Module:
    torch.manual_seed(0)
    model = get_peft_model(
        TwoProjections(), LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout, target_modules=["q", "k"])
    )
    for name, p in model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero: make the update count
            nn.init.normal_(p)
    return model


def _fused_and_peft(dropout: float) -> tuple[nn.Module, nn.Module]:
    peft_model = _lora(dropout)
    return fuse_lora(copy.deepcopy(peft_model)), peft_model


def _grads(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    x.grad = None
    model(x).square().sum().backward()
    return [x.grad, *(p.grad for p in model.parameters() if p.requires_grad)]


def _peft_runs(model: nn.Module) -> list[str]:
    """A list that hears each time peft's own forward runs B of a layer of `model` (the fused one reads B's weights)."""
    heard: list[str] = []
    for name, module in model.named_modules():
        if name.endswith("lora_B.default"):
            module.register_forward_hook(lambda *_, name=name: heard.append(name))
    return heard


def test_the_fused_forward_and_its_gradients_match_peft() -> None:
    fused, peft_model = _fused_and_peft(0.0)
    x = torch.randn(3, 5, 16, requires_grad=True)
    heard = _peft_runs(fused)
    torch.testing.assert_close(fused(x), peft_model(x))
    assert not heard  # the fused forward ran, not peft's
    for ours, theirs in zip(_grads(fused, x), _grads(peft_model, x), strict=True):
        torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("own", [True, False])
def test_training_dropout_masks_the_adapters_input_as_peft_does(own: bool) -> None:
    # With the same masks, peft's forward and the fused one agree: the masks are the runs' draws, q's then k's.
    fused, peft_model = _fused_and_peft(0.5)
    fused.train()
    x = torch.randn(3, 5, 16)
    if own:
        with own_dropout(fused, seed=7, device=torch.device("cpu")):
            out = fused(x)
        draws = torch.Generator().manual_seed(7)
    else:
        torch.manual_seed(7)
        out = fused(x)
        draws = torch.Generator().manual_seed(7)
    masks = [torch.rand(x.shape, generator=draws) >= 0.5 for _ in range(2)]
    by_hand = []
    for name, mask in zip(("q", "k"), masks, strict=True):
        layer = getattr(peft_model.base_model.model, name)
        update = layer.lora_B["default"](layer.lora_A["default"](x * mask / 0.5)) * layer.scaling["default"]
        by_hand.append(layer.base_layer(x) + update)
    torch.testing.assert_close(out, by_hand[0] * by_hand[1])
    fused.eval()
    torch.testing.assert_close(fused(x), peft_model.eval()(x))  # no dropout in evaluation


def test_states_the_fused_forward_does_not_cover_run_peft_forward() -> None:
    fused, peft_model = _fused_and_peft(0.0)
    fused.eval(), peft_model.eval()
    x = torch.randn(2, 16)
    heard = _peft_runs(fused)
    mixed = ["default", "default"]  # an adapter per input
    torch.testing.assert_close(fused(x, adapter_names=mixed), peft_model(x, adapter_names=mixed))
    assert heard  # peft's forward ran
    with fused.disable_adapter(), peft_model.disable_adapter():
        torch.testing.assert_close(fused(x), peft_model.base_model.model(x))
    fused.merge_adapter()
    torch.testing.assert_close(fused(x), peft_model(x))
