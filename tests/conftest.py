"""Small generated fixtures shared by the tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from xcross_core.data.dataset import DomainData
from xcross_core.models.text import TextConfig

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def make_domain(sequences: list[list[int]], n_items: int, name: str = "Toy") -> DomainData:
    """A DomainData straight from item-index sequences (users named u0, u1, ...)."""
    lengths = [len(s) for s in sequences]
    return DomainData(
        name=name,
        item_ids=np.array([f"i{i:03d}" for i in range(n_items)], dtype=object),
        item_text=tuple(f"Item number {i}" for i in range(n_items)),
        user_ids=np.array([f"u{u:04d}" for u in range(len(sequences))], dtype=object),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        items=np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]),
    )


@pytest.fixture
def cyclic_domain() -> DomainData:
    """300 users walking a 40-item cycle (i -> i+1) from random starts: perfectly learnable order."""
    rng = np.random.default_rng(0)
    n_items = 40
    seqs = []
    for _ in range(300):
        start, length = rng.integers(n_items), rng.integers(4, 9)
        seqs.append([(start + k) % n_items for k in range(length)])
    return make_domain(seqs, n_items)


def _save_tiny(model_cls, config, path) -> str:
    """Save a small random model with the packaged model's tokenizer: a real HF folder, fast to run."""
    import torch
    from transformers import AutoTokenizer

    from xcross_core.models.base import resolve_base

    tokenizer = AutoTokenizer.from_pretrained(resolve_base(None))
    torch.manual_seed(0)
    model_cls(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    """A 2-layer, 32-wide BERT encoder folder."""
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    return _save_tiny(BertModel, config, tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> str:
    """A 2-layer, 32-wide GPT-2 decoder folder (last-token pooling, c_attn LoRA target)."""
    from transformers import GPT2Config, GPT2Model

    config = GPT2Config(vocab_size=30522, n_embd=32, n_layer=2, n_head=2, n_positions=256)
    return _save_tiny(GPT2Model, config, tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="session")
def sample_electronics() -> DomainData:
    """The bundled sample data's Electronics domain."""
    from xcross_core.data.load import load_interactions

    return load_interactions(SAMPLE / "interactions.csv", SAMPLE / "items.csv").interactions.domain("Electronics")


#: A text config small enough for tiny models and quick tests.
FAST_TEXT = TextConfig(max_history=4, prompt_tokens=48, item_tokens=16, valid_cases=40)


def save_tiny_adapters(
    folder: Path,
    base: str,
    domain: DomainData,
    names: Sequence[str],
    ranks: Sequence[int] | None = None,
    top_layers: int | None = None,
) -> list[str]:
    """One adapter per name on the tiny `base` (on its last `top_layers` blocks, or all), with random non-zero
    LoRA weights (untrained: tests check the plumbing, not the model), saved in peft format as `folder / name`;
    returns their paths."""
    import torch

    from xcross_core.models.adapters import (
        ADAPTER_FORMAT,
        AdapterMetadata,
        LoraSettings,
        lora_recommender,
        save_adapter,
    )
    from xcross_core.training.loop import LoopConfig

    paths = []
    for i, (name, rank) in enumerate(zip(names, ranks or [4] * len(names), strict=True)):
        lora = LoraSettings(rank=rank, top_layers=top_layers)
        rec = lora_recommender(domain, base, lora, FAST_TEXT, LoopConfig(seed=i))
        with torch.no_grad():
            for param_name, p in rec.encoder.named_parameters():
                if "lora_B" in param_name:
                    p.normal_(0, 0.5)
        meta = AdapterMetadata(
            domain=name,
            base=base,
            lora={**asdict(rec.lora), "rank": rank, "alpha": 16, "dropout": 0.0},
            text=FAST_TEXT.__dict__,
            loop={},
            data={"train_users": 0},
            trainable_parameters=rec.trainable_parameters,
            metrics={"valid_ndcg@10": None},
            format=ADAPTER_FORMAT,
        )
        paths.append(str(save_adapter(rec, meta, folder / name)))
    return paths


def small_poc_params(adapters: list[str], **changes: object) -> dict[str, object]:
    """Proof-of-concept parameters small enough for a test: 60 sample users of Electronics, one epoch."""
    params = {
        "interactions": str(SAMPLE / "interactions.csv"),
        "items": str(SAMPLE / "items.csv"),
        "target": "Electronics",
        "adapters": adapters,
        "max_users": 60,
        "epochs": 1,
        "baselines": ["popularity"],
        "test_users": None,  # the cap's own 6 test users, none topped up from outside it
    }
    return params | changes


@pytest.fixture(scope="session")
def source_adapters(sample_electronics, tiny_bert, tmp_path_factory) -> list[str]:
    """Three tiny-BERT adapters (domains Source0-2) of ranks 4, 8, 8."""
    names = [f"Source{i}" for i in range(3)]
    return save_tiny_adapters(tmp_path_factory.mktemp("adapters"), tiny_bert, sample_electronics, names, (4, 8, 8))
