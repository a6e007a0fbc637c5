"""The item tower: catalogue vectors from the frozen base model, computed once and shared.

Every text recommender scores a history's prompt vector (base model plus its adapters) against item
vectors from the base model alone. The item side never trains, so a catalogue is encoded once per base
model and item-token budget, and every model on that base reuses the same vectors: a target LoRA, the
source adapters applied zero-shot, their merge and X-Cross all rank against one item space. Training
then encodes prompts only, and its softmax runs over the whole catalogue (every item a negative) for
the cost of one matrix product.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

from xcross_core.models.base import BaseModelInfo, load_base, pool

_lock = threading.Lock()
_cache: dict[tuple[str, int, str], torch.Tensor] = {}


@lru_cache(maxsize=4)
def frozen_base(name: str, device: str = "cpu") -> tuple[torch.nn.Module, object, BaseModelInfo]:
    """The base model `name` loaded once per process and device, frozen, for what every model on it shares
    (the item tower, the trunk)."""
    model, tokenizer, info = load_base(name)
    tokenizer.truncation_side = "right"  # an item's text keeps its start: the title
    return model.to(device), tokenizer, info


def _key(base: str, max_tokens: int, texts: Sequence[str]) -> tuple[str, int, str]:
    digest = hashlib.sha1("\x1f".join(texts).encode("utf-8", "surrogatepass")).hexdigest()
    return base, max_tokens, digest


def item_vectors(base: str, texts: Sequence[str], max_tokens: int, batch: int) -> torch.Tensor:
    """[len(texts), H] unit vectors of `texts` under the frozen base model `base` (CPU, cached per process).

    `base` is the name the base model was loaded by (a recommender's `encoder.info.name`); `batch` texts go
    through the model per pass (a text recommender's `TextConfig.encode_batch`).
    """
    key = _key(base, max_tokens, texts)
    with _lock:
        if key not in _cache:
            _cache[key] = _encode(base, texts, max_tokens, batch)
        return _cache[key]


def _encode(base: str, texts: Sequence[str], max_tokens: int, batch: int) -> torch.Tensor:
    model, tokenizer, info = frozen_base(base)
    # Batches of similar length waste little compute on padding.
    order = np.argsort([len(t) for t in texts], kind="stable")
    parts = []
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            chunk = [texts[i] for i in order[start : start + batch]]
            tokens = tokenizer(chunk, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
            hidden = model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).last_hidden_state
            parts.append(torch.nn.functional.normalize(pool(hidden, tokens["attention_mask"], info.decoder), dim=-1))
        vectors = torch.cat(parts) if parts else torch.zeros((0, model.config.hidden_size))
        out = torch.empty_like(vectors)
        out[torch.from_numpy(order)] = vectors
    return out.clone()  # a normal tensor: inference tensors cannot take part in autograd later


def clear_cache() -> None:
    """Forget every cached catalogue (tests; a long-lived process that has moved on to other data)."""
    with _lock:
        _cache.clear()
