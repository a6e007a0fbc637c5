"""Base language model loading: the packaged default, other architectures, clear errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from xcross_core.cli.options import describe
from xcross_core.evaluation.splits import make_split
from xcross_core.jobs.train_adapter import TrainAdapterSpec
from xcross_core.models.base import DEFAULT_BASE, BaseModelError, is_decoder, load_base, lora_targets, pool


def test_default_base_loads_offline(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, tokenizer, info = load_base()
    assert info.name == DEFAULT_BASE and info.model_type == "bert" and not info.decoder
    assert (info.hidden_size, info.num_layers) == (384, 6)
    assert info.lora_targets == ("query", "key", "value")
    assert not any(p.requires_grad for p in model.parameters())
    batch = tokenizer(["lip balm", "trail running shoes"], return_tensors="pt", padding=True)
    out = model(**batch).last_hidden_state
    assert out.shape[-1] == 384


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_gpt2"])
def test_a_frozen_base_adds_no_dropout_noise_in_training_mode(fixture, request) -> None:
    model, tokenizer, _ = load_base(request.getfixturevalue(fixture))
    model.train()  # as during adapter training: only the adapters' own dropout may act
    batch = tokenizer(["lip balm", "trail running shoes"], return_tensors="pt", padding=True)
    assert torch.equal(model(**batch).last_hidden_state, model(**batch).last_hidden_state)


def test_decoder_is_detected(tiny_gpt2) -> None:
    _, tokenizer, info = load_base(tiny_gpt2)
    assert info.decoder and info.pooling == "last" and info.lora_targets == ("c_attn",)
    assert tokenizer.pad_token is not None


@pytest.mark.parametrize(
    ("model_type", "settings", "decoder"),
    [
        ("bert", {}, False),  # has a causal LM head too: the encoder run as a decoder
        ("bert", {"is_decoder": True}, True),
        ("distilbert", {}, False),
        ("gpt2", {}, True),
        ("llama", {}, True),
        ("bloom", {}, True),  # never listed by hand: transformers' mappings know it
        ("t5", {}, False),  # an encoder-decoder
    ],
)
def test_decoders_are_told_by_transformers_task_mappings(model_type, settings, decoder) -> None:
    from transformers import AutoConfig

    assert is_decoder(AutoConfig.for_model(model_type, **settings)) is decoder


def test_lora_targets_are_this_studios_choice_else_peft_default() -> None:
    assert lora_targets("bert") == ("query", "key", "value")  # the default base's, where peft has query, value
    assert lora_targets("mpnet") == ("q", "k", "v")  # peft has none
    assert lora_targets("gpt2") == ("c_attn",) and lora_targets("bloom") == ("query_key_value",)  # peft's
    assert lora_targets("no-such-family") == ()


def test_unknown_base_is_a_clear_error_without_network_wait() -> None:
    with pytest.raises(BaseModelError, match="pass download=True to fetch it") as caught:
        load_base("no-such-org/no-such-model")
    assert "pass --download to fetch it" in describe(caught.value, TrainAdapterSpec, ())  # the command line's words


def test_folder_that_is_not_a_model(tmp_path) -> None:
    with pytest.raises(BaseModelError, match="config.json"):
        load_base(str(tmp_path))


def test_pooling_ignores_padding() -> None:
    hidden = torch.tensor([[[1.0], [3.0], [100.0]], [[2.0], [4.0], [6.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert pool(hidden, mask, last_token=False).squeeze(1).tolist() == [2.0, 4.0]
    assert pool(hidden, mask, last_token=True).squeeze(1).tolist() == [3.0, 6.0]
    left_padded = torch.tensor([[0, 1, 1], [1, 1, 1]])
    assert pool(hidden, left_padded, last_token=True).squeeze(1).tolist() == [100.0, 6.0]


def test_models_on_one_base_share_its_frozen_weights_and_train_their_own_adapters(sample_electronics) -> None:
    from xcross_core.models.adapters import ADAPTER_LOOP, lora_recommender

    quick = replace(ADAPTER_LOOP, epochs=1, min_epoch_steps=2)
    first, second = (lora_recommender(sample_electronics, loop=quick) for _ in range(2))
    base = dict(first.encoder.model.named_parameters())
    shared = [n for n, p in second.encoder.model.named_parameters() if "lora_" not in n]
    assert shared and all(
        p.data_ptr() == base[n].data_ptr() for n, p in second.encoder.model.named_parameters() if n in shared
    )
    # Each keeps its own adapter: training one moves only its LoRA weights, never the shared base.
    histories = [np.array([0, 1, 2]), np.array([3, 4])]
    before = second.prompt_vectors(histories)
    first.fit(make_split(sample_electronics, "users", seed=0, max_users=60), cancel=None)
    assert torch.equal(second.prompt_vectors(histories), before)
    assert all(not p.requires_grad for n, p in first.encoder.model.named_parameters() if n in shared)
