"""Decoder bases (GPT-2 style): the trunk, the fused LoRA and X-Cross on a tiny decoder built here.

A decoder is pooled at its last real token, and with right padding its real tokens never see the padding: a
prompt's vector in a padded batch is its model's state at the prompt's last token, the prompt run alone. The
references run peft and transformers directly on unpadded prompts, so a wrong pooling position, padding side or
stream layout fails them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from peft import LoraConfig, PeftModel, get_peft_model

from tests.conftest import FAST_TEXT, make_domain, save_tiny_adapters
from tests.test_fused_lora import _peft_runs
from tests.test_trunk import _randomised, _runs_of_block
from tests.test_xcross import _fit_changes_only_trainable
from xcross_core.data.dataset import DomainData
from xcross_core.evaluation.splits import make_split
from xcross_core.models import trunk
from xcross_core.models.adapters import LoraSettings, lora_recommender
from xcross_core.models.base import load_base
from xcross_core.models.xcross import xcross_recommender
from xcross_core.training.loop import LoopConfig, own_dropout

TEXT = replace(FAST_TEXT, max_history=3, prompt_tokens=64)
#: Histories whose prompts hold one to three items: prompts of different lengths, so a batch of them is padded.
HISTORIES = [np.array([3]), np.array([5, 6, 7]), np.array([10, 11]), np.array([0, 1, 2, 3]), np.array([20])]
WORDS = ["usb", "cable", "wireless", "mouse", "charger", "laptop", "stand", "hdmi", "speaker", "case", "lamp"]
EOS = "<|endoftext|>"


@pytest.fixture(scope="module")
def domain() -> DomainData:
    """120 users walking a 30-item cycle; item texts of one to four words."""
    rng = np.random.default_rng(0)
    n_items = 30
    starts, lengths = rng.integers(0, n_items, 120), rng.integers(2, 6, 120)
    sequences = [[(s + k) % n_items for k in range(n)] for s, n in zip(starts, lengths, strict=True)]
    texts = tuple(" ".join(rng.choice(WORDS, rng.integers(1, 5))) for _ in range(n_items))
    return replace(make_domain(sequences, n_items, "Gadgets"), item_text=texts)


@pytest.fixture(scope="module")
def decoder(domain, tmp_path_factory) -> str:
    """A 3-layer, 32-wide GPT-2 folder whose byte-level BPE tokenizer has no pad token and is saved padding on the
    left, as some decoders' are."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    bpe.train_from_iterator(
        [*domain.item_text, TEXT.separator],
        trainers.BpeTrainer(vocab_size=400, special_tokens=[EOS], initial_alphabet=alphabet),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOS, bos_token=EOS, padding_side="left")
    eos = tokenizer.eos_token_id
    config = GPT2Config(
        vocab_size=len(tokenizer), n_embd=32, n_layer=3, n_head=2, n_positions=64, bos_token_id=eos, eos_token_id=eos
    )
    folder = tmp_path_factory.mktemp("tiny-decoder")
    torch.manual_seed(0)
    GPT2Model(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def sources(domain, decoder, tmp_path_factory) -> list[str]:
    """Three adapters on the decoder's top two blocks: block 0 is the trunk, X-Cross integrates blocks 1 and 2."""
    folder = tmp_path_factory.mktemp("decoder-sources")
    return save_tiny_adapters(folder, decoder, domain, ["A", "B", "C"], top_layers=2)


def _last_states(model: torch.nn.Module, tokenizer: object, prompts: list[str]) -> torch.Tensor:
    """[len(prompts), H] `model`'s state at each prompt's last token, every prompt run alone (no padding)."""
    with torch.no_grad():
        return torch.stack([model(**tokenizer(p, return_tensors="pt")).last_hidden_state[0, -1] for p in prompts])


def _padded_batch(recommender) -> dict[str, torch.Tensor]:
    """HISTORIES' prompts as one padded batch, checked to hold padding and no truncation."""
    batch = recommender.tokenizer(recommender.prompts(HISTORIES), padding=True, return_tensors="pt")
    assert (batch["attention_mask"] == 0).any() and batch["input_ids"].shape[1] < TEXT.prompt_tokens
    return batch


def test_a_decoder_pads_on_the_right_whatever_its_tokenizer_was_saved_with(decoder) -> None:
    model, tokenizer, info = load_base(decoder)
    assert info.decoder and info.pooling == "last" and info.lora_targets == ("c_attn",)
    assert (info.hidden_size, info.num_layers) == (32, 3)
    assert tokenizer.padding_side == "right" and tokenizer.pad_token == EOS
    with torch.no_grad():  # prompts are encoded whole: no key/value cache is kept for a continuation
        assert model(**tokenizer("usb cable", return_tensors="pt")).cache is None


def test_vectors_through_the_trunk_are_each_prompts_last_token_alone(domain, decoder) -> None:
    trunk.clear_trunks()
    model = _randomised(lora_recommender(domain, decoder, LoraSettings(top_layers=2), TEXT))
    assert model.trunk is not None and model.trunk.first == 1
    _padded_batch(model)
    alone = F.normalize(_last_states(model.encoder.model, model.tokenizer, model.prompts(HISTORIES)), dim=-1)
    lower = _runs_of_block(model, 0)
    kept = model.prompt_vectors(HISTORIES)
    assert lower == []  # block 0 came from the trunk
    torch.testing.assert_close(kept, alone, atol=2e-3, rtol=0)  # the trunk keeps its states in half precision
    whole, model.trunk = model.trunk, None
    torch.testing.assert_close(model.prompt_vectors(HISTORIES), alone, atol=1e-5, rtol=0)
    assert lower
    # Left padding would move a decoder's real tokens: the trunk is only shared over right-padded prompts.
    model.tokenizer.padding_side = "left"
    assert trunk.trunk_for(model.encoder.model, model.encoder.info, model.tokenizer) is None
    model.tokenizer.padding_side, model.trunk = "right", whole


def test_the_fused_lora_on_a_decoder_computes_what_peft_computes(domain, decoder) -> None:
    # In double precision: in single, reordered additions through three blocks move the gradients by 3e-4 of their
    # size, which would hide a real difference.
    settings = LoraSettings(rank=4, dropout=0.3, top_layers=None)
    recommender = _randomised(lora_recommender(domain, decoder, settings, TEXT))
    fused = recommender.encoder.model.double()
    config = LoraConfig(r=4, lora_alpha=settings.alpha, lora_dropout=0.3, target_modules=["c_attn"])
    peft_model = get_peft_model(load_base(decoder)[0], config).double()
    peft_model.load_state_dict(fused.state_dict())
    heard = _peft_runs(fused)
    batch = _padded_batch(recommender)
    outputs, grads = [], []
    for model in (fused, peft_model):
        model.train()  # the adapters' dropout acts; the loop's own generator draws the same masks for both
        with own_dropout(model, seed=3, device=torch.device("cpu")):
            out = model(**batch).last_hidden_state
        out.square().sum().backward()
        outputs.append(out.detach())
        grads.append([p.grad for p in model.parameters() if p.requires_grad])
    assert not heard  # the fused forward ran, not peft's
    torch.testing.assert_close(outputs[0], outputs[1])
    assert len(grads[0]) == 2 * 3  # A and B of c_attn in every block
    for ours, theirs in zip(*grads, strict=True):
        torch.testing.assert_close(ours, theirs)
    fused.eval(), peft_model.eval()
    with torch.no_grad():
        torch.testing.assert_close(fused(**batch).last_hidden_state, peft_model(**batch).last_hidden_state)


def test_xcross_on_a_decoder_starts_as_the_uniform_mix_of_its_sources_alone(domain, decoder, sources) -> None:
    trunk.clear_trunks()
    xcross = xcross_recommender(domain, sources, text=TEXT)
    xcross.encoder.eval()
    assert xcross.trunk is not None and xcross.trunk.first == 1
    assert xcross.encoder.layers == [1, 2] and xcross.encoder.kept_space is not None
    _padded_batch(xcross)
    prompts = xcross.prompts(HISTORIES)
    states = [
        _last_states(PeftModel.from_pretrained(load_base(decoder)[0], source).eval(), xcross.tokenizer, prompts)
        for source in sources
    ]
    mix = F.normalize(torch.stack(states).mean(0), dim=-1)
    vectors = xcross.prompt_vectors(HISTORIES)
    torch.testing.assert_close(vectors.norm(dim=-1), torch.ones(len(HISTORIES)))
    torch.testing.assert_close(vectors, mix, atol=2e-3, rtol=0)  # trunk and first block kept in half precision
    xcross.trunk, xcross.encoder.kept_space = None, None
    torch.testing.assert_close(xcross.prompt_vectors(HISTORIES), mix, atol=1e-5, rtol=0)


def test_xcross_on_a_decoder_serves_its_first_block_from_kept_states(domain, decoder, sources) -> None:
    trunk.clear_trunks()
    xcross = xcross_recommender(domain, sources, text=TEXT)
    torch.manual_seed(0)
    with torch.no_grad():  # an integration that refines the streams and weighs them unevenly
        for p in xcross.encoder.parameters():
            if p.requires_grad:
                p.normal_(0, 0.5)
    xcross.encoder.eval()
    runs = _runs_of_block(xcross, xcross.encoder.layers[0])
    kept = xcross.prompt_vectors(HISTORIES)
    assert torch.equal(xcross.prompt_vectors(HISTORIES), kept)
    assert runs == [3 * len(HISTORIES)]  # three streams of each prompt ran through the block once
    xcross.encoder.kept_space = None
    torch.testing.assert_close(xcross.prompt_vectors(HISTORIES), kept, atol=2e-3, rtol=0)
    # Run whole, a prompt's vector does not depend on the prompts padded beside it.
    xcross.trunk = None
    batched = xcross.prompt_vectors(HISTORIES)
    alone = torch.cat([xcross.prompt_vectors([h]) for h in HISTORIES])
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=0)


def test_training_xcross_on_a_decoder_changes_only_the_integration(domain, decoder, sources) -> None:
    loop = LoopConfig(epochs=1, batch_size=16, lr=1e-2)
    xcross = xcross_recommender(domain, sources, text=TEXT, loop=loop)
    _fit_changes_only_trainable(xcross, make_split(domain, "users", seed=0))
