"""Small generated fixtures shared by the tests."""

from __future__ import annotations

import numpy as np
import pytest

from xcross_core.data.dataset import DomainData


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
