"""Benchmark: LoRA adapters on the top k blocks only (the default, k = 3) against adapters on every block.

Below the lowest adapted block nothing trains and every model on the base computes the same states, which
the trunk keeps (`xcross_core/models/trunk.py`): a step then runs the adapted blocks only. This prints
- the step time of each variant as a ratio to the all-block step, on the same batch (the sample target's
  training prompts of median length), steps interleaved so that machine noise cancels; medians of
  per-round ratios; the trunk is warm, as it is from a PoC's second epoch on;
- with `--quality`: each variant trained as the PoC's target LoRA is (Electronics, `--max-users 1000`,
  seed 0, at most `--epochs` 3) on each share of the training users, its wall time, best validation
  log-likelihood and test NDCG@10 paired-tested against the all-block adapter on the same test users.

    python bench/top_layers.py                                  # step ratios, top 2 and 3
    python bench/top_layers.py --top 2 3 --quality --fractions 0.25
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from xcross_core.data.load import load_interactions
from xcross_core.estimate import train_step_seconds
from xcross_core.evaluation.protocol import evaluate
from xcross_core.evaluation.splits import make_split
from xcross_core.models.adapters import LoraSettings, lora_recommender
from xcross_core.models.text import ADAPTER_LOOP, training_sequences
from xcross_core.stats import paired_test

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
EVERY = None  # `top_layers` None: every block


def name(top: int | None) -> str:
    return "every block" if top is EVERY else f"top {top}"


def step_ratios(domain, tops: list[int], rounds: int) -> dict[str, dict[str, float]]:
    split = make_split(domain, "users", fraction=0.25, seed=0, max_users=1000)
    models = {top: lora_recommender(domain, None, LoraSettings(top_layers=top)) for top in [EVERY, *tops]}
    reference = models[EVERY]
    batches = reference.cut_batches(training_sequences(split), ADAPTER_LOOP.batch_size, np.random.default_rng(0))
    batch = sorted(batches, key=lambda b: reference.prompt_lengths([h for h, _ in b]).mean())[len(batches) // 2]
    times: dict[int | None, list[float]] = {top: [] for top in models}
    for _ in range(rounds):
        for top, model in models.items():
            times[top].append(train_step_seconds(model, batch, 1))
    return {
        name(top): {
            "median_step_s": round(float(np.median(times[top])), 3),
            "ratio_to_every_block": round(float(np.median(np.array(times[top]) / np.array(times[EVERY]))), 3),
            "trainable_parameters": model.trainable_parameters,
        }
        for top, model in models.items()
    }


def quality(domain, tops: list[int], fractions: list[float], epochs: int) -> list[dict[str, object]]:
    rows = []
    for fraction in fractions:
        split = make_split(domain, "users", fraction=fraction, seed=0, max_users=1000)
        per_user = {}
        for top in [EVERY, *tops]:
            start = time.perf_counter()
            model = lora_recommender(
                domain, None, LoraSettings(top_layers=top), loop=replace(ADAPTER_LOOP, epochs=epochs)
            )
            fit = model.fit(split)
            result = evaluate(model, split.test)
            per_user[top] = result.per_case["ndcg@10"].to_numpy()
            row = {
                "fraction": fraction,
                "adapter": name(top),
                "seconds": round(time.perf_counter() - start, 1),
                "steps": fit.steps,
                "best_epoch": fit.best_epoch,
                "best_valid_log_likelihood": round(max(fit.valid_log_likelihood, default=float("nan")), 4),
                "test_ndcg@10": round(float(per_user[top].mean()), 4),
            }
            if top != EVERY:
                test = paired_test(per_user[top], per_user[EVERY])
                row |= {
                    "minus_every_block": round(test.difference.mean, 4),
                    "ci": [round(test.difference.low, 4), round(test.difference.high, 4)],
                    "p_value": round(test.p_value, 3),
                }
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, nargs="+", default=[2, 3], help="numbers of top blocks to adapt")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quality", action="store_true", help="also train each variant and test it")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.25, 1.0])
    parser.add_argument("--epochs", type=int, default=3, help="most epochs per adapter (the PoC's default)")
    args = parser.parse_args()
    domain = load_interactions(SAMPLE / "interactions.csv", SAMPLE / "items.csv").interactions.domain("Electronics")
    print(json.dumps({"steps": step_ratios(domain, args.top, args.rounds)}, indent=2), flush=True)
    if args.quality:
        quality(domain, args.top, args.fractions, args.epochs)


if __name__ == "__main__":
    main()
