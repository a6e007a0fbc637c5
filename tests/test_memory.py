"""Freed memory is handed back only above the resident budget."""

from __future__ import annotations

import pytest

from xcross_core import memory
from xcross_core.memory import release_freed, resident_bytes


@pytest.mark.skipif(memory._glibc() is None, reason="hands memory back through glibc (Linux)")
def test_freed_memory_is_handed_back_only_above_the_budget() -> None:
    held = resident_bytes()
    assert held is not None and held > 0
    assert not release_freed(above=held + 2**40)  # under the budget: the pages stay for the next step
    assert release_freed(above=0)
