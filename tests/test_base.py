"""Base language model loading: the packaged default, other architectures, clear errors."""

from __future__ import annotations

import pytest
import torch

from xcross_core.models.base import DEFAULT_BASE, BaseModelError, load_base, pool


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


def test_unknown_base_is_a_clear_error_without_network_wait() -> None:
    with pytest.raises(BaseModelError, match="--download"):
        load_base("no-such-org/no-such-model")


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
