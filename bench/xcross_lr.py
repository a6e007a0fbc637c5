"""Benchmark: does X-Cross's trained integration beat its own start, at each learning rate?

On the sample data (three sources -> one target, the split of bench/xcross.py's sample part), a fresh
X-Cross is its sources side by side with uniform weights. For each learning rate this trains X-Cross on
the budget share of the target's training users, then prints which epoch validation kept, the test
NDCG@10 with its 95% CI, and the paired difference from the untrained start.

    python bench/xcross_lr.py                       # lr 1e-4 and 3e-4 (the default 1e-3 is bench/xcross.py's)
    python bench/xcross_lr.py --lrs 3e-5 1e-4 --epochs 6
    python bench/xcross_lr.py --lrs 1e-3 --epochs 8 --patience 3   # one lr, longer
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import numpy as np
from sample_probe import probe_arguments, probe_setup

from xcross_core.evaluation.protocol import compare, evaluate
from xcross_core.models.xcross import XCROSS_LOOP, xcross_recommender
from xcross_core.training.events import epoch_logger

METRIC = "ndcg@10"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-4, 3e-4])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--patience", type=int, default=XCROSS_LOOP.patience)
    probe_arguments(parser)
    args = parser.parse_args()
    print(f"command: python bench/xcross_lr.py {' '.join(sys.argv[1:])}".rstrip(), flush=True)
    sources, domain, split, small = probe_setup(args)
    start = xcross_recommender(domain, sources)
    start.name = "start"
    at_start = evaluate(start, split.test, seed=args.seed)
    print(f"start (untrained): test {METRIC} {at_start.summary[METRIC]}", flush=True)
    for lr in args.lrs:
        loop = replace(XCROSS_LOOP, lr=lr, epochs=args.epochs, patience=args.patience, seed=args.seed)
        model = xcross_recommender(domain, sources, loop=loop)
        fit = model.fit(small, progress=epoch_logger(f"lr {lr:g}", sys.stdout))
        model.name = f"lr {lr:g}"
        result = evaluate(model, split.test, seed=args.seed)
        test = compare(result, at_start, METRIC, seed=args.seed)
        print(
            f"lr {lr:g}: start val {fit.start_valid_ndcg10:.4f}, kept epoch {fit.best_epoch} of {fit.epochs} "
            f"({fit.steps} steps in all), "
            f"test {METRIC} {result.summary[METRIC]} (hit@10 {result.summary['hit@10']}), "
            f"minus start {test.difference} p={test.p_value:.4f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
