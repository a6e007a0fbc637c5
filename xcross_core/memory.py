"""Keeping a process's resident memory bounded without paying for it on every step.

A training step allocates and frees hundreds of megabytes of activations, in blocks whose sizes change with each
batch's prompt length. glibc serves large blocks from its heap once its adaptive mmap threshold has grown (up to
32 MB) and keeps freed heap memory for reuse, so the resident size ratchets up to far more than a step needs (4 GB
in the sample proof of concept). `release_freed` hands the freed pages back to the system once the process holds
more than `RESIDENT_BUDGET`: the training loop calls it after every step, and a text recommender after every
encoding pass. Below the budget the pages stay and the next step reuses them; handing them back after every step
made each step fault its activations in afresh, 17% of a proof of concept's CPU time spent in the kernel.

Serving every block of 64 KB or more by mmap instead also bounds the resident size, but each new block then
faults in its pages one by one: over a quarter of a step's CPU time went to the kernel, and the same steps took
24.1-26.6 s against 19.2-21.1 s (`bench/lanes.py --mmap-threshold 65536`, docs/results.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from functools import cache

#: Resident bytes above which `release_freed` hands freed memory back: with a step's activations on top, the sample
#: proof of concept stays under 2 GB (docs/results.md).
RESIDENT_BUDGET = 1200 * 2**20


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


def resident_bytes() -> int | None:
    """Bytes of this process's memory resident now (Linux; elsewhere None)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def release_freed(above: int | None = None) -> bool:
    """Hand the heap's freed pages back to the system if the process holds more than `above` bytes (default:
    `RESIDENT_BUDGET`; glibc only, elsewhere a no-op). Returns whether it did."""
    libc = _glibc()
    held = resident_bytes()
    if libc is None or held is None or held <= (RESIDENT_BUDGET if above is None else above):
        return False
    libc.malloc_trim(0)
    return True
