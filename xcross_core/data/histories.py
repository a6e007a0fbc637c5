"""Purchase histories as masks over a domain's catalogue.

A history is one user's bought item indices, oldest first (see `DomainData.sequence`). Splits use the
mask to draw negatives outside what a user already bought; evaluation and `top_k` use it to take
already-bought items out of a ranking.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def history_mask(histories: Sequence[np.ndarray], n_items: int) -> torch.Tensor:
    """[len(histories), n_items] bool: True where the item is in that user's history (already bought)."""
    mask = torch.zeros((len(histories), n_items), dtype=torch.bool)
    lengths = [len(h) for h in histories]
    if sum(lengths):
        rows = np.repeat(np.arange(len(histories)), lengths)
        mask[torch.from_numpy(rows), torch.from_numpy(np.concatenate(histories).astype(np.int64))] = True
    return mask
