"""DomainData helpers."""

from __future__ import annotations

import numpy as np

from tests.conftest import make_domain


def test_first_items_cuts_the_catalogue_and_every_history_consistently() -> None:
    domain = make_domain([[0, 5, 1], [6, 7], [2, 9, 3, 8]], n_items=10)
    cut = domain.first_items(4)
    assert cut.n_items == 4 and list(cut.item_ids) == list(domain.item_ids[:4])
    assert [s.tolist() for s in cut.sequences()] == [[0, 1], [], [2, 3]]
    assert cut.n_users == domain.n_users and np.array_equal(cut.user_ids, domain.user_ids)
    assert len(cut.titles()) == 4
