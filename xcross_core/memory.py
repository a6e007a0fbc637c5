"""Keeping a training process's resident memory to what one step needs, without paying for it on every block.

A training step allocates and frees hundreds of megabytes of activations, in blocks whose sizes change with each
batch's prompt length. glibc serves large blocks from its heap once its adaptive mmap threshold has grown (up to
32 MB) and keeps freed heap memory for reuse, so the resident size ratchets up to far more than a step needs.
`release_freed` hands the freed pages back to the system: the training loop calls it after every step, and a text
recommender after every encoding pass.

Serving every block of 64 KB or more by mmap instead also bounds the resident size, but each new block then
faults in its pages one by one: over a quarter of a step's CPU time went to the kernel, and the same steps took
24.1-26.6 s against 19.2-21.1 s (`bench/lanes.py --mmap-threshold 65536`, docs/results.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache


@cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_freed() -> bool:
    """Hand the heap's freed pages back to the system (glibc only; elsewhere a no-op). Returns whether it could."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
