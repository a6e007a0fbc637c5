"""Benchmark: popularity and SASRec-style full-ranking quality, with 95% CIs and wall time.

Runs on the development data (Amazon Beauty and Prime Pantry, ../shared/data/amazon_dev, never
copied into the repository) and on one domain of the bundled sample data. Leave-one-out by default,
the protocol of the published SASRec figures (Kang & McAuley, 2018), for orientation.

    python bench/baselines.py                      # everything, leave-one-out
    python bench/baselines.py --split users        # held-out users instead
    python bench/baselines.py --only sample --max-users 1000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from xcross_core.jobs import evaluate
from xcross_core.jobs.evaluate import EvaluateSpec
from xcross_core.jobs.hooks import logged

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "data" / "amazon_dev"
DATASETS = {
    "beauty": (DEV / "beauty.csv", DEV / "items_beauty.csv", "Beauty"),
    "pantry": (DEV / "prime_pantry.csv", DEV / "items_prime_pantry.csv", "Prime_Pantry"),
    "sample": (ROOT / "sample_data" / "interactions.csv", ROOT / "sample_data" / "items.csv", "Electronics"),
}


def run(name: str, args: argparse.Namespace) -> dict[str, object]:
    interactions, items, domain_name = DATASETS[name]
    if name == "sample" and args.sample_domain:
        domain_name = args.sample_domain
    if not interactions.exists():
        print(f"[{name}] skipped: {interactions} not found", flush=True)
        return {}
    spec = EvaluateSpec(
        model="popularity",
        against=("sasrec",),
        interactions=interactions,
        items=items,
        domain=domain_name,
        drop_invalid=True,  # as loaded before any validation: rows with errors are dropped, and counted
        split=args.split,
        seed=args.seed,
        max_users=args.max_users,
    )
    started = time.perf_counter()
    evaluation = evaluate.run(spec, logged(f"[{name}]   ", sys.stdout))
    report = evaluation.report
    out: dict[str, object] = {"split": report["split"], "seconds": round(time.perf_counter() - started, 1)}
    out["models"] = {}
    for result in evaluation.results:
        info, fit = report["models"][result.model], report["models"][result.model]["fit"]
        out["models"][result.model] = {
            "hit@10": result.summary["hit@10"].to_dict(),
            "ndcg@10": result.summary["ndcg@10"].to_dict(),
            "trainable_parameters": info["trainable_parameters"],
            "epochs": fit["epochs"],
            "best_epoch": fit["best_epoch"],
            "train_seconds": round(fit["seconds"], 1),
        }
        print(
            f"[{name}] {result.model:10s} hit@10 {result.summary['hit@10']}  ndcg@10 {result.summary['ndcg@10']}  "
            f"epochs {fit['epochs']} (best {fit['best_epoch']})  training {fit['seconds']:.1f}s",
            flush=True,
        )
    test = report["comparisons"]["sasrec - popularity"]["ndcg@10"]
    out["sasrec_minus_popularity_ndcg@10"] = test
    difference = test["difference"]
    print(
        f"[{name}] sasrec - popularity ndcg@10: {difference['mean']:.4f} [{difference['low']:.4f}, "
        f"{difference['high']:.4f}] p={test['p_value']:.4f}",
        flush=True,
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(DATASETS), default=["sample", "pantry", "beauty"])
    parser.add_argument("--split", choices=["loo", "users"], default="loo")
    parser.add_argument("--max-users", type=int, help="cap users per domain (seeded sample)")
    parser.add_argument("--sample-domain", help="which sample-data domain (default Electronics)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "baselines.json")
    args = parser.parse_args()
    print(f"command: python bench/baselines.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}")
    report = {name: run(name, args) for name in args.only}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
