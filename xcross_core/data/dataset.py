"""Validated purchase logs as arrays: one catalogue and one set of chronological sequences per domain.

`load_interactions` (in `xcross_core.data.load`) produces the two tidy frames below; everything after
ingestion (splits, models, evaluation) works on `DomainData`, whose sequences are stored CSR-style
(one flat item-index array plus offsets) so that nothing downstream loops over rows in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

#: Columns of the clean interaction frame: one row per purchase, already sorted by
#: (domain, user_id, timestamp, row). `timestamp` is an int64 ordering key; `row` is the 1-based
#: data-row number in the source file, kept so that any later message can name it.
INTERACTION_COLUMNS = ("user_id", "item_id", "domain", "timestamp", "row")

#: Required columns of the clean item frame: one row per (domain, item_id). `text` is what a
#: language model reads (title plus any other attributes); further attribute columns may follow.
ITEM_COLUMNS = ("domain", "item_id", "title", "text")


@dataclass(frozen=True)
class DomainData:
    """One domain's catalogue and every user's purchase sequence (oldest first) as item indices."""

    name: str
    item_ids: np.ndarray  # str, catalogue order; item index i means item_ids[i]
    item_text: tuple[str, ...]  # text of item i, what a language model reads
    user_ids: np.ndarray  # str; user index u means user_ids[u]
    offsets: np.ndarray  # int64 [n_users + 1]; user u's sequence is items[offsets[u]:offsets[u + 1]]
    items: np.ndarray  # int64, all sequences concatenated
    item_titles: tuple[str, ...] = ()  # titles alone, for display; defaults to item_text

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sequence(self, user: int) -> np.ndarray:
        """Item indices bought by user index `user`, oldest first."""
        return self.items[self.offsets[user] : self.offsets[user + 1]]

    def sequences(self) -> list[np.ndarray]:
        """Every user's sequence, as views into one flat array."""
        return np.split(self.items, self.offsets[1:-1])

    @cached_property
    def item_index(self) -> dict[str, int]:
        return {item: i for i, item in enumerate(self.item_ids.tolist())}

    @cached_property
    def user_index(self) -> dict[str, int]:
        return {user: u for u, user in enumerate(self.user_ids.tolist())}

    def titles(self) -> tuple[str, ...]:
        return self.item_titles or self.item_text

    def first_items(self, n: int) -> DomainData:
        """This domain with its catalogue cut to the first `n` items; purchases of the others are removed.

        For benchmarks that need a catalogue of a given size from real data.
        """
        keep = self.items < n
        counts = np.add.reduceat(keep, self.offsets[:-1]) if len(self.items) else np.zeros(self.n_users, dtype=int)
        counts = np.where(self.lengths > 0, counts, 0)  # reduceat reads the next user's first item for empty users
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return replace(
            self,
            item_ids=self.item_ids[:n],
            item_text=self.item_text[:n],
            offsets=offsets,
            items=self.items[keep],
            item_titles=self.item_titles[:n],
        )


@dataclass(frozen=True)
class Interactions:
    """A validated, multi-domain purchase log: the clean frames `load_interactions` returns."""

    frame: pd.DataFrame  # INTERACTION_COLUMNS
    items: pd.DataFrame  # ITEM_COLUMNS (+ attributes)

    @property
    def domains(self) -> list[str]:
        return sorted(set(self.items["domain"]) | set(self.frame["domain"]))

    def domain(self, name: str) -> DomainData:
        """Arrays for one domain; its catalogue is every item of `name` in the item frame."""
        if name not in self.domains:
            known = ", ".join(self.domains) or "none"
            raise KeyError(f"domain {name!r} is not in the data (domains: {known})")
        items = self.items[self.items["domain"] == name].sort_values("item_id", kind="stable")
        item_ids = items["item_id"].to_numpy(dtype=object)
        frame = self.frame[self.frame["domain"] == name]
        # The frame is sorted by (domain, user_id, timestamp, row), so each user's rows are contiguous.
        codes = pd.Index(item_ids).get_indexer(frame["item_id"])
        if (codes < 0).any():
            missing = frame.loc[codes < 0, "item_id"].iloc[0]
            raise ValueError(f"item {missing!r} of domain {name!r} has no row in the item table")
        users, starts = np.unique(frame["user_id"].to_numpy(dtype=object), return_index=True)
        order = np.argsort(starts)
        users, starts = users[order], starts[order]
        offsets = np.append(starts, len(frame)).astype(np.int64)
        return DomainData(
            name=name,
            item_ids=item_ids,
            item_text=tuple(items["text"].tolist()),
            user_ids=users,
            offsets=offsets,
            items=codes.astype(np.int64),
            item_titles=tuple(items["title"].tolist()),
        )
