"""Benchmark: two models' training steps one after the other on all threads, against side by side in two lanes.

A proof of concept trains its models two at a time, each lane on half the threads (`xcross_core/jobs/lanes.py`).
This measures that choice on the same batches in one process, so machine noise is shared: `rounds` X-Cross steps
(3 sources) and twice as many target-LoRA steps (a LoRA step costs about half), first one after the other on every
thread, then in two lanes at once; the wall time of each, their ratio, the share of CPU time spent in the kernel,
and the peak RSS. `--mmap-threshold BYTES` first makes glibc serve every block of that size or more by mmap (the
memory setting the CLI and the worker used before `xcross_core.memory.release_freed`), to show what that cost.

    python bench/lanes.py                               # sequential vs lanes, the product's memory handling
    python bench/lanes.py --mmap-threshold 65536        # the same under the former memory setting
"""

from __future__ import annotations

import argparse
import ctypes
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch
from step_ratio import ROOT, throwaway_adapters, training_batch

from xcross_core.data.load import load_interactions
from xcross_core.estimate import train_step
from xcross_core.evaluation.splits import make_split
from xcross_core.jobs.hooks import Hooks
from xcross_core.jobs.lanes import Task, run_lanes
from xcross_core.models.adapters import load_adapter, lora_recommender
from xcross_core.models.xcross import xcross_recommender


def timed(work) -> tuple[float, float]:
    """(wall seconds, kernel share of the process's CPU seconds) of `work()`."""
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    work()
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    return wall, system / max(user + system, 1e-9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="X-Cross steps per measurement")
    parser.add_argument("--mmap-threshold", type=int, default=None, help="glibc M_MMAP_THRESHOLD to set first")
    args = parser.parse_args()
    print(f"command: python bench/lanes.py {' '.join(sys.argv[1:])}".rstrip(), flush=True)
    if args.mmap_threshold is not None:
        ctypes.CDLL("libc.so.6").mallopt(-3, args.mmap_threshold)  # M_MMAP_THRESHOLD
    data = load_interactions(ROOT / "sample_data" / "interactions.csv", ROOT / "sample_data" / "items.csv")
    domain = data.interactions.domain("Electronics")
    batch = training_batch(lora_recommender(domain), make_split(domain, "users", seed=0), 32)
    adapters = throwaway_adapters(domain, 3, Path(tempfile.mkdtemp()))
    models = [load_adapter(adapters[0], domain, trainable=True), xcross_recommender(domain, adapters)]
    for model in models:
        model.encoder.train()
    lora, xcross = (train_step(model, batch) for model in models)
    for step in (lora, xcross, lora, xcross):  # warm-up: kept states, allocator
        step()
    cores = torch.get_num_threads()

    def repeat(step, times: int) -> None:
        for _ in range(times):
            step()

    def sequential() -> None:
        repeat(xcross, args.rounds)
        repeat(lora, 2 * args.rounds)

    def lanes() -> None:
        # The product's own lanes: the same scheduler, thread shares and hooks a proof of concept uses.
        work = {"x-cross": (xcross, args.rounds), "lora": (lora, 2 * args.rounds)}

        def make(key: str) -> Task[None]:
            step, times = work[key]
            return Task(key, lambda progress, cancel: repeat(step, times))

        run_lanes(list(work), make, Hooks(), [0.5, 0.5], lanes=2)

    one_after, one_after_kernel = timed(sequential)
    side_by_side, side_by_side_kernel = timed(lanes)
    report = {
        "threads": cores,
        "mmap_threshold": args.mmap_threshold,
        "one_after_the_other_s": round(one_after, 2),
        "two_lanes_s": round(side_by_side, 2),
        "lanes_speedup": round(one_after / side_by_side, 3),
        "kernel_share_one_after_the_other": round(one_after_kernel, 3),
        "kernel_share_two_lanes": round(side_by_side_kernel, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
