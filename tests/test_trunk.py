"""The trunk: frozen blocks below every adapter run once per prompt, shared by every model on the base."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import FAST_TEXT, save_tiny_adapters
from xcross_core.evaluation.splits import make_split
from xcross_core.models import trunk
from xcross_core.models.adapters import LoraSettings, lora_recommender
from xcross_core.models.base import layer_stack
from xcross_core.models.text import training_sequences
from xcross_core.models.xcross import xcross_recommender


@pytest.fixture(scope="module")
def small_split(sample_electronics):
    return make_split(sample_electronics, "users", seed=0, max_users=120)


def _randomised(recommender):
    """The recommender with non-zero LoRA updates, in evaluation mode (no dropout)."""
    with torch.no_grad():
        for name, p in recommender.encoder.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    recommender.encoder.eval()
    return recommender


def _runs_of_block(recommender, index: int) -> list[int]:
    """Filled with the batch size whenever block `index` of the recommender's own model does its work."""
    calls: list[int] = []
    block = layer_stack(recommender.encoder.model, recommender.encoder.info.num_layers)[index]
    inner = next(block.children())  # the block's first part (attention): runs only when the block computes
    inner.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape[0]))
    return calls


def test_a_top_layer_adapter_starts_from_kept_states_with_the_same_vectors(small_split, tiny_bert) -> None:
    trunk.clear_trunks()
    model = _randomised(lora_recommender(small_split.domain, tiny_bert, LoraSettings(top_layers=1), FAST_TEXT))
    assert model.trunk is not None and model.trunk.first == 1
    histories = small_split.test.histories[:6]
    lower = _runs_of_block(model, 0)
    first = model.prompt_vectors(histories)
    again = model.prompt_vectors(histories)
    assert lower == []  # the model's own lower block never ran: the frozen base computed its states once
    assert torch.equal(first, again)
    whole, model.trunk = model.trunk, None
    assert torch.allclose(model.prompt_vectors(histories), first, atol=1e-3)  # kept in half precision
    assert lower  # without the trunk the block runs
    model.trunk = whole


def test_models_with_adapters_on_every_block_or_none_run_whole(small_split, tiny_bert) -> None:
    assert lora_recommender(small_split.domain, tiny_bert, LoraSettings(), FAST_TEXT).trunk is None
    assert trunk.lowest_adapted_block(*_bare(tiny_bert)) is None


def _bare(base: str):
    from xcross_core.models.base import load_base

    model, _, info = load_base(base)
    return model, info


def test_xcross_over_top_layer_sources_shares_the_trunk(small_split, tiny_bert, tmp_path) -> None:
    sources = save_tiny_adapters(tmp_path, tiny_bert, small_split.domain, ["A", "B"], top_layers=1)
    xcross = xcross_recommender(small_split.domain, sources)
    xcross.encoder.eval()
    histories = small_split.test.histories[:5]
    lower = _runs_of_block(xcross, 0)
    shared = xcross.score(histories)
    assert lower == []
    xcross.trunk = None
    assert torch.allclose(xcross.score(histories), shared, atol=1e-2)  # scores are cosines / 0.05


def test_xcross_runs_its_first_integrated_block_once_per_prompt(small_split, tiny_bert, tmp_path) -> None:
    trunk.clear_trunks()
    sources = save_tiny_adapters(tmp_path, tiny_bert, small_split.domain, ["A", "B"], top_layers=1)
    xcross = xcross_recommender(small_split.domain, sources)
    first = xcross.encoder.layers[0]
    block = layer_stack(xcross.encoder.model, xcross.encoder.info.num_layers)[first]
    histories = small_split.test.histories[:5]
    runs = _runs_of_block(xcross, first)
    xcross.encoder.train()  # a training forward computes the block's states without dropout, and keeps them
    xcross.encode_prompts(histories)
    assert runs == [2 * 5] and block.training  # two streams of five prompts, once; training mode restored
    xcross.encoder.eval()
    kept = xcross.score(histories)
    assert runs == [2 * 5]  # served from the kept states
    xcross.encoder.kept_space = None
    assert torch.allclose(xcross.score(histories), kept, atol=1e-2)  # kept in half precision; scores / 0.05
    assert len(runs) == 2
    swapped = xcross_recommender(small_split.domain, sources[::-1])
    assert swapped.encoder.kept_space != xcross_recommender(small_split.domain, sources).encoder.kept_space


def test_past_the_memory_bound_states_are_computed_and_not_kept(small_split, tiny_bert, monkeypatch) -> None:
    trunk.clear_trunks()
    monkeypatch.setattr(trunk, "TRUNK_BYTES", 0)
    model = _randomised(lora_recommender(small_split.domain, tiny_bert, LoraSettings(top_layers=1), FAST_TEXT))
    histories = small_split.test.histories[:4]
    vectors = model.prompt_vectors(histories)
    assert trunk._kept_bytes == 0 and not any(trunk._kept.values())
    assert torch.equal(model.prompt_vectors(histories), vectors)


def test_training_through_the_trunk_moves_only_the_adapter(small_split, tiny_bert) -> None:
    import numpy as np

    model = lora_recommender(small_split.domain, tiny_bert, LoraSettings(top_layers=1), FAST_TEXT)
    batch = model.cut_batches(training_sequences(small_split)[:8], 8, np.random.default_rng(0))[0]
    model.encoder.train()
    model._loss(model.encoder, batch, torch.device("cpu")).backward()
    grads = {n: p.grad for n, p in model.encoder.named_parameters() if p.requires_grad}
    assert grads and all(g is not None and g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)
