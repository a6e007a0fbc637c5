"""Benchmark: LoRA domain adapters against the baselines on the development data, plus speed.

For each of Beauty and Prime Pantry (../shared/data/amazon_dev, never copied into the repository),
one user split (the same for every model) and full-catalogue ranking with 95% bootstrap CIs:
popularity, SASRec-style, the base model with no adapter, a LoRA adapter trained on 100% and on 25%
of the training users, and the other domain's 100% adapter applied zero-shot. Then speed: training
throughput and recommend latency for 1,000 users over a 10,000-item catalogue, with the share of
that time spent encoding prompts.

    python bench/adapters.py                       # users capped at 4,000 per domain, half of them test users
    python bench/adapters.py --max-users 1000 --epochs 1   # a quick look
    python bench/adapters.py --domains Beauty      # one domain (zero-shot from the other's saved adapter)
    python bench/adapters.py --reuse               # keep adapters already trained on this split with these settings
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from perf import recommend  # bench/ is on the path when this script runs

from xcross_core.data.load import load_interactions
from xcross_core.evaluation.protocol import EvalResult, compare, evaluate
from xcross_core.evaluation.splits import Split, make_split
from xcross_core.jobs import train_adapter
from xcross_core.jobs.hooks import logged
from xcross_core.jobs.train_adapter import TrainAdapterSpec
from xcross_core.models.adapters import ADAPTER_LOOP, base_recommender, load_adapter, read_metadata
from xcross_core.models.registry import make_model, training_loop
from xcross_core.models.text import TextConfig, training_sequences
from xcross_core.training.events import epoch_logger
from xcross_core.training.loop import LoopConfig, passes_per_epoch

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "data" / "amazon_dev"
DATASETS = {
    "Beauty": (DEV / "beauty.csv", DEV / "items_beauty.csv"),
    "Prime_Pantry": (DEV / "prime_pantry.csv", DEV / "items_prime_pantry.csv"),
}


def log(message: str) -> None:
    print(message, flush=True)


def show(domain: str, result: EvalResult, params: int, extra: str = "") -> dict[str, object]:
    s = result.summary
    log(f"[{domain}] {result.model:28s} hit@10 {s['hit@10']}  ndcg@10 {s['ndcg@10']}  params {params:>10,} {extra}")
    return {"hit@10": s["hit@10"].to_dict(), "ndcg@10": s["ndcg@10"].to_dict(), "trainable_parameters": params}


SPLIT_KEYS = ("domain", "mode", "seed", "fraction", "train_users", "valid_cases", "test_cases", "catalogue_items")


def adapter_mismatch(folder: Path, split: Split, loop: LoopConfig | None = None) -> str | None:
    """Why `folder` is not an adapter trained on `split` (and, when given, with `loop` and today's text
    settings), or None when it is."""
    try:
        meta = read_metadata(folder)
    except FileNotFoundError:
        return f"no adapter at {folder}"
    want = split.summary()
    differ = {k: (meta.data.get(k), want[k]) for k in SPLIT_KEYS if meta.data.get(k) != want[k]}
    if differ:
        return f"{folder} was trained on another split (adapter vs here: {differ})"
    if loop is not None:
        settings = {
            "loop": (schedule(meta.loop, split), schedule(asdict(loop), split)),
            "text": (meta.text, asdict(TextConfig())),
        }
        differ = {k: v for k, v in settings.items() if v[0] != v[1]}
        if differ:
            return f"{folder} was trained with other settings (adapter vs here: {differ})"
    return None


def schedule(loop: dict[str, object], split: Split) -> dict[str, object]:
    """A loop's settings with `min_epoch_steps` replaced by the passes per epoch it makes on `split`, so two
    loops that train alike compare equal (an adapter trained before that setting existed, on a set large
    enough for one pass an epoch, matches one trained with it)."""
    settings = dict(loop)
    passes = passes_per_epoch(LoopConfig(**settings), len(training_sequences(split)))
    settings.pop("min_epoch_steps", None)
    return settings | {"passes_per_epoch": passes}


def train_lora(split: Split, out: Path, label: str, args: argparse.Namespace) -> tuple[object, dict[str, object]]:
    """Train (or, with --reuse, load when it matches) the adapter at `out`; its training figures."""
    loop = training_loop(ADAPTER_LOOP, seed=args.seed, epochs=args.epochs)
    why = adapter_mismatch(out, split, loop) if args.reuse else "not reusing"
    if why is None:
        log(f"[{split.domain.name}]   {label}: reusing {out} (same split and settings; its recorded training)")
        model, fit = load_adapter(out, split.domain), read_metadata(out).fit
    else:
        if args.reuse:
            log(f"[{split.domain.name}]   {label}: training ({why})")
        interactions, items = DATASETS[split.domain.name]
        spec = TrainAdapterSpec(
            interactions=interactions,
            items=items,
            domain=split.domain.name,
            drop_invalid=True,  # the rows `main` drops when it loads the data
            seed=args.seed,
            max_users=args.max_users,
            test_share=args.test_share,
            fraction=split.fraction,
            epochs=args.epochs,
            out=out,
            overwrite=True,
        )
        trained = train_adapter.run(spec, logged(f"[{split.domain.name}]   {label} ", sys.stdout))
        model, fit = trained.model, trained.metadata.fit
    info = {
        "epochs": fit["epochs"],
        "best_epoch": fit["best_epoch"],
        "train_seconds_per_epoch": round(fit["train_seconds"] / max(fit["epochs"], 1), 1),
        "sequences_per_second": round(fit["sequences_per_second"], 2),
        "train_users": len(split.train),
        "reused": why is None,
    }
    return model, info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-users", type=int, default=4000, help="users per domain (seeded sample); same for all")
    parser.add_argument("--test-share", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, help=f"max LoRA epochs (default {ADAPTER_LOOP.epochs}, early-stopped)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "adapters")
    parser.add_argument("--domains", nargs="+", choices=tuple(DATASETS), default=list(DATASETS))
    parser.add_argument(
        "--reuse", action="store_true", help="load an adapter in --out trained on the same split with the same settings"
    )
    args = parser.parse_args()
    command = f"python bench/adapters.py {' '.join(sys.argv[1:])}".rstrip()
    log(f"command: {command}")
    log(f"cap: {args.max_users} users per domain, user split with {args.test_share:.0%} test users, seed {args.seed}")
    torch.manual_seed(args.seed)
    report: dict[str, dict[str, object]] = {}
    domains, splits, results = {}, {}, {}
    for name in args.domains:
        interactions, items = DATASETS[name]
        if not interactions.exists():
            log(f"[{name}] skipped: {interactions} not found")
            continue
        domain = load_interactions(interactions, items).interactions.domain(name)
        split = make_split(domain, "users", seed=args.seed, max_users=args.max_users, test_share=args.test_share)
        domains[name], splits[name] = domain, split
        report[name] = {"command": command, "split": split.summary(), "models": {}}
        log(f"[{name}] split {json.dumps(split.summary())}")
        res = {}
        for model_name in ("popularity", "sasrec"):
            model = make_model(model_name, domain, seed=args.seed)
            model.fit(split, progress=epoch_logger(f"[{name}]   {model_name}", sys.stdout))
            res[model_name] = evaluate(model, split.test, seed=args.seed)
            report[name]["models"][model_name] = show(name, res[model_name], model.trainable_parameters)
        base = base_recommender(domain)
        res["base"] = evaluate(base, split.test, seed=args.seed)
        report[name]["models"]["base"] = show(name, res["base"], 0)
        for fraction in (1.0, 0.25):
            label = f"lora {fraction:.0%}"
            fsplit = make_split(
                domain, "users", seed=args.seed, max_users=args.max_users, test_share=args.test_share, fraction=fraction
            )
            model, info = train_lora(fsplit, args.out / f"{name}-{fraction:g}", label, args)
            model.name = label
            res[label] = evaluate(model, split.test, seed=args.seed)
            report[name]["models"][label] = show(name, res[label], model.trainable_parameters, json.dumps(info))
            report[name]["models"][label]["training"] = info
        results[name] = res
    for name, res in results.items():
        for other in DATASETS:
            if other == name:
                continue
            if not (args.out / f"{other}-1").is_dir():
                log(f"[{name}] no {other} adapter in {args.out}: zero-shot transfer skipped (run that domain too)")
                continue
            model = load_adapter(args.out / f"{other}-1", domains[name])
            model.name = f"{other} adapter zero-shot"
            res[model.name] = evaluate(model, splits[name].test, seed=args.seed)
            report[name]["models"][model.name] = show(name, res[model.name], model.trainable_parameters)
        for ref in ("popularity", "base", "sasrec"):
            test = compare(res["lora 100%"], res[ref], "ndcg@10")
            report[name][f"lora 100% - {ref}"] = test.to_dict()
            log(f"[{name}] lora 100% - {ref}: ndcg@10 {test.difference} p={test.p_value:.4f}")
    if "Beauty" in results:
        catalogue = domains["Beauty"].first_items(10_000)
        report["speed"] = recommend(load_adapter(args.out / "Beauty-1", catalogue), n_users=1000)
        log(f"[speed] {json.dumps(report['speed'])}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "report.json"
    # A run of some domains updates their entries and keeps the others' (each names its command).
    previous = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps(previous | report, indent=2, default=float))
    log(f"written to {path}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
