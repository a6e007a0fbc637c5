"""Benchmark: the target LoRA's learning rate against its data budget, on the sample data's PoC split.

Trains the target LoRA at each learning rate and each share of the target's training users, on the split the
README's proof of concept uses (Electronics, `--max-users 1000`, seed 0, at most 3 epochs), and prints the
validation log-likelihood per epoch (what decides), validation NDCG@10, the kept epoch and test NDCG@10.
A fair comparison needs each baseline at the learning rate that suits its data; this shows whether one does.

    python bench/lora_lr.py                                  # shares 0.25 and 1.0, lrs 1e-3, 2e-3 and 3e-3
    python bench/lora_lr.py --fractions 1.0 --lrs 1e-3
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from xcross_core.data.load import load_interactions
from xcross_core.evaluation.protocol import evaluate
from xcross_core.evaluation.splits import make_split
from xcross_core.models.adapters import ADAPTER_LOOP, lora_recommender

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.25, 1.0])
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 2e-3, 3e-3])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-users", type=int, default=1000)
    args = parser.parse_args()
    domain = load_interactions(SAMPLE / "interactions.csv", SAMPLE / "items.csv").interactions.domain("Electronics")
    for fraction in args.fractions:
        split = make_split(domain, "users", fraction=fraction, seed=0, max_users=args.max_users)
        for lr in args.lrs:
            model = lora_recommender(domain, None, loop=replace(ADAPTER_LOOP, epochs=args.epochs, lr=lr))
            fit = model.fit(split)
            test = evaluate(model, split.test).summary["ndcg@10"]
            print(
                f"fraction {fraction:g} ({len(split.train)} users) lr {lr:g}: kept epoch {fit.best_epoch}; "
                f"validation log-likelihood {[round(x, 3) for x in fit.valid_log_likelihood]}, "
                f"NDCG@10 {[round(x, 4) for x in fit.valid_ndcg10]}; test NDCG@10 {test.mean:.4f} "
                f"[{test.low:.4f}, {test.high:.4f}]",
                flush=True,
            )


if __name__ == "__main__":
    main()
