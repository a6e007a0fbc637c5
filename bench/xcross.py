"""Benchmark: X-Cross against target LoRA and the adapter-combination baselines, data efficiency, step cost.

Two parts, each on one user split (the same for every model) with full-catalogue ranking and 95%
bootstrap CIs, every target-trained model on 25% of the target's training users unless named otherwise:

- dev: the development data (../shared/data/amazon_dev, never copied into the repository), Beauty and
  Prime Pantry as source and target both ways. Popularity, SASRec-style, the source adapter zero-shot,
  target LoRA on 25% and on 100% of the training users (loaded from what bench/adapters.py wrote, on the
  same split: run it first), and X-Cross over the one source. With one source, uniform merge, static
  mix and gating are the source adapter itself, so they run only in the sample part.
- sample: sample_data, three source adapters (Sports, Kitchen, Home_Office in sample_data/adapters)
  -> Electronics. Popularity, SASRec-style, each source zero-shot, uniform-merge, static-mix, gating,
  X-Cross, target LoRA on 25% and 100%; the data-efficiency study (X-Cross and target LoRA at each
  fraction, with the catch-up point); and the cost of one X-Cross step with n sources over n
  single-adapter steps on the same batch (bench/step_ratio.py's measurement, target <= 1.0).

Each part prints the table (train users, trainable parameters, Hit@10 / NDCG@10 with CIs, training
seconds), X-Cross minus every other model (paired NDCG@10 test), and whether the claim holds: X-Cross
on 25% is not significantly worse than target LoRA on 25%, and close to LoRA on 100% (LoRA@100% not
significantly better and mean NDCG@10 ratio >= --close-ratio), with fewer trained parameters.

    python bench/adapters.py && python bench/xcross.py   # dev: 4,000 users per domain, half of them test users
    python bench/xcross.py --parts sample --fractions 0.25 1.0      # sample part only, a shorter curve
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from adapters import DATASETS, adapter_mismatch
from sample_probe import ROOT, SAMPLE, sample_sources, sample_splits
from step_ratio import step_ratio, training_batch

from xcross_core.data.dataset import DomainData
from xcross_core.data.load import load_interactions
from xcross_core.evaluation.protocol import EvalResult, compare, evaluate
from xcross_core.evaluation.splits import Split, make_split
from xcross_core.jobs import study as data_efficiency
from xcross_core.jobs.hooks import logged
from xcross_core.jobs.study import StudyResult, StudySpec
from xcross_core.models.adapters import ADAPTER_LOOP, read_metadata
from xcross_core.models.recommender import Recommender
from xcross_core.models.registry import make_model
from xcross_core.models.xcross import XCROSS_LOOP
from xcross_core.training.events import epoch_logger

METRIC = "ndcg@10"


def log(message: str) -> None:
    print(message, flush=True)


@dataclass
class Row:
    """One model of a part's table."""

    label: str
    result: EvalResult
    train_users: int
    params: int
    train_seconds: float

    def to_dict(self) -> dict[str, object]:
        return {
            "train_users": self.train_users,
            "trainable_parameters": self.params,
            "train_seconds": round(self.train_seconds, 1),
            "metrics": {name: est.to_dict() for name, est in self.result.summary.items()},
        }


def trained(tag: str, label: str, model: Recommender, split: Split, test: Split, seed: int) -> Row:
    """Fit `model` on `split` (logging every epoch) and evaluate it on `test`'s test users."""
    start = time.perf_counter()
    fit = model.fit(split, progress=epoch_logger(f"[{tag}]   {label}", sys.stdout))
    seconds = time.perf_counter() - start
    model.name = label
    row = Row(label, evaluate(model, test.test, seed=seed), len(split.train), model.trainable_parameters, seconds)
    kept = ""
    if fit.start_valid_ndcg10 is not None:
        kept = f"; kept {fit.kept()}; at start val_ndcg@10 {fit.start_valid_ndcg10:.4f}"
    log(f"[{tag}] {label}: ndcg@10 {row.result.summary[METRIC]} ({seconds:.0f}s training{kept})")
    return row


def untrained(
    tag: str, label: str, model: Recommender, test: Split, seed: int, train_users: int = 0, seconds: float = 0.0
) -> Row:
    """A model that learns nothing here (zero-shot, merged or loaded), evaluated on `test`'s test users."""
    model.name = label
    row = Row(label, evaluate(model, test.test, seed=seed), train_users, model.trainable_parameters, seconds)
    log(f"[{tag}] {label}: ndcg@10 {row.result.summary[METRIC]}")
    return row


def loaded(tag: str, label: str, folder: Path, domain: DomainData, test: Split, seed: int) -> Row:
    """A saved adapter; train users and seconds from its metadata when it was trained on `domain`."""
    meta = read_metadata(folder)
    own = meta.domain == domain.name
    users = int(meta.data.get("train_users", 0)) if own else 0
    seconds = float(meta.fit.get("seconds", 0.0)) if own else 0.0
    return untrained(tag, label, make_model(str(folder), domain), test, seed, users, seconds)


def check_adapter(folder: Path, split: Split) -> None:
    """Exit with a clear message unless `folder` is an adapter trained on `split`."""
    why = adapter_mismatch(folder, split)
    if why is not None:
        sys.exit(
            f"error: {why}: run `python bench/adapters.py` first (same --max-users, --test-share, --seed), "
            "or give --adapters-dir"
        )


def show_table(tag: str, rows: list[Row]) -> None:
    log(
        f"[{tag}] {'model':30s} {'train users':>11s} {'trainable':>11s}  {'hit@10 [95% CI]':25s} "
        f"{'ndcg@10 [95% CI]':25s} {'train s':>8s}"
    )
    for r in rows:
        s = r.result.summary
        log(
            f"[{tag}] {r.label:30s} {r.train_users:>11,} {r.params:>11,}  {str(s['hit@10']):25s} "
            f"{str(s[METRIC]):25s} {r.train_seconds:>8.0f}"
        )


def claim(tag: str, rows: dict[str, Row], xcross: str, budget: str, full: str, args: argparse.Namespace) -> dict:
    """X-Cross minus every other model, then the product's claim against target LoRA at the budget and at 100%."""
    x = rows[xcross]
    tests = {}
    for label, row in rows.items():
        if label == xcross:
            continue
        test = compare(x.result, row.result, METRIC, seed=args.seed)
        tests[f"{xcross} - {label}"] = test.to_dict()
        verdict = ("X-Cross better" if test.difference.mean > 0 else "X-Cross worse") if test.significant else "n.s."
        log(f"[{tag}] {xcross} - {label}: {METRIC} {test.difference} p={test.p_value:.4f} ({verdict})")
    vs_budget = compare(x.result, rows[budget].result, METRIC, seed=args.seed)
    vs_full = compare(x.result, rows[full].result, METRIC, seed=args.seed)
    as_good = not (vs_budget.significant and vs_budget.difference.mean < 0)
    full_better = vs_full.significant and vs_full.difference.mean < 0
    full_mean = rows[full].result.summary[METRIC].mean
    ratio = x.result.summary[METRIC].mean / full_mean if full_mean > 0 else math.nan
    close = not full_better and ratio >= args.close_ratio
    param_ratio = x.params / rows[full].params if rows[full].params else math.nan
    holds = as_good and close and param_ratio < 1
    log(
        f"[{tag}] claim: {xcross} at least as good as {budget} (not significantly worse): "
        f"{'yes' if as_good else 'NO'} (difference {vs_budget.difference}, p={vs_budget.p_value:.4f})"
    )
    log(
        f"[{tag}] claim: {xcross} close to {full} ({full} not significantly better and mean {METRIC} ratio "
        f">= {args.close_ratio:g}): {'yes' if close else 'NO'} (ratio {ratio:.3f}; {full} significantly better: "
        f"{'yes' if full_better else 'no'}, difference {vs_full.difference}, p={vs_full.p_value:.4f})"
    )
    log(
        f"[{tag}] claim: trainable parameters {xcross} / LoRA = {x.params:,} / {rows[full].params:,} = "
        f"{param_ratio:.3f}; claim {'HOLDS' if holds else 'DOES NOT HOLD'}"
    )
    return {
        "tests": tests,
        "at_least_as_good_as_budget_lora": as_good,
        "full_lora_significantly_better": full_better,
        "ndcg10_ratio_to_full_lora": ratio if math.isfinite(ratio) else None,
        "close_ratio_threshold": args.close_ratio,
        "close_to_full_lora": close,
        "parameter_ratio_xcross_over_lora": param_ratio if math.isfinite(param_ratio) else None,
        "holds": holds,
    }


def report_rows(rows: dict[str, Row]) -> dict[str, object]:
    return {label: row.to_dict() for label, row in rows.items()}


def case_rows(tag: str, rows: dict[str, Row]) -> pd.DataFrame:
    """Every model's per-case Hit@10 and NDCG@10 in long form (per_case.csv), for bench/transfer_gap.py."""
    frames = [r.result.per_case[["user", "hit@10", METRIC]].assign(part=tag, model=label) for label, r in rows.items()]
    return pd.concat(frames, ignore_index=True)


def dev_part(args: argparse.Namespace, cases: list[pd.DataFrame]) -> dict[str, object]:
    """Beauty <-> Prime Pantry, one source each way, target LoRA adapters loaded from bench/adapters.py."""
    pct = f"{args.budget:.0%}"
    domains, splits, budget_splits = {}, {}, {}
    for name, (interactions, items) in DATASETS.items():
        if not interactions.exists():
            sys.exit(f"error: {interactions} not found (the development data lives in ../shared/data/amazon_dev)")
        domains[name] = load_interactions(interactions, items).interactions.domain(name)
        common = {"seed": args.seed, "max_users": args.max_users, "test_share": args.test_share}
        splits[name] = make_split(domains[name], "users", **common)
        budget_splits[name] = make_split(domains[name], "users", fraction=args.budget, **common)
    # Every adapter this part needs, checked against its split before anything trains.
    for name in DATASETS:
        check_adapter(args.adapters_dir / f"{name}-1", splits[name])
        if name in args.dev_targets:
            check_adapter(args.adapters_dir / f"{name}-{args.budget:g}", budget_splits[name])
    out: dict[str, object] = {}
    for target in args.dev_targets:
        source = next(name for name in DATASETS if name != target)
        tag = f"dev {source}->{target}"
        domain, split, small = domains[target], splits[target], budget_splits[target]
        log(f"[{tag}] split {json.dumps(split.summary())}; {pct}: {len(small.train)} training users")
        source_folder = args.adapters_dir / f"{source}-1"
        rows: dict[str, Row] = {}
        for name in ("popularity", "sasrec"):
            rows[f"{name} @{pct}"] = trained(
                tag, f"{name} @{pct}", make_model(name, domain, seed=args.seed), small, split, args.seed
            )
        rows[f"{source} zero-shot"] = loaded(tag, f"{source} zero-shot", source_folder, domain, split, args.seed)
        log(
            f"[{tag}] uniform-merge, static-mix and gating over one source weight it by 1: they rank exactly like "
            f"'{source} zero-shot', so they are not run here (see the sample part, 3 sources)"
        )
        for fraction in (args.budget, 1.0):
            label = f"{target} LoRA @{fraction:.0%}"
            rows[label] = loaded(tag, label, args.adapters_dir / f"{target}-{fraction:g}", domain, split, args.seed)
        xcross = make_model("x-cross", domain, seed=args.seed, epochs=args.epochs, adapters=[source_folder])
        rows[f"x-cross @{pct}"] = trained(tag, f"x-cross @{pct}", xcross, small, split, args.seed)
        show_table(tag, list(rows.values()))
        verdict = claim(tag, rows, f"x-cross @{pct}", f"{target} LoRA @{pct}", f"{target} LoRA @100%", args)
        out[f"{source}->{target}"] = {"split": split.summary(), "models": report_rows(rows), "claim": verdict}
        cases.append(case_rows(tag, rows))
    return out


def sample_part(args: argparse.Namespace, cases: list[pd.DataFrame]) -> dict[str, object]:
    """Three sample-data sources -> one target: every comparison, the data-efficiency study, the step cost."""
    pct, target = f"{args.budget:.0%}", args.sample_target
    sources = sample_sources(args.sample_adapters, args.sample_sources)
    tag = f"sample {'+'.join(args.sample_sources)}->{target}"
    domain, split, small = sample_splits(target, args.sample_max_users, args.test_share, args.seed, args.budget)
    log(f"[{tag}] split {json.dumps(split.summary())}; {pct}: {len(small.train)} training users")
    base = read_metadata(sources[0]).base  # the target LoRA sits on the sources' base model
    rows: dict[str, Row] = {}
    for name in ("popularity", "sasrec"):
        rows[f"{name} @{pct}"] = trained(
            tag, f"{name} @{pct}", make_model(name, domain, seed=args.seed), small, split, args.seed
        )
    for folder in sources:
        rows[f"{folder.name} zero-shot"] = loaded(tag, f"{folder.name} zero-shot", folder, domain, split, args.seed)
    merged = make_model("uniform-merge", domain, adapters=sources)
    rows["uniform-merge"] = untrained(tag, "uniform-merge", merged, split, args.seed)
    for name in ("static-mix", "gating"):
        model = make_model(name, domain, seed=args.seed, epochs=args.epochs, adapters=sources)
        rows[f"{name} @{pct}"] = trained(tag, f"{name} @{pct}", model, small, split, args.seed)
    study_result = None if args.no_study else study(tag, sources, args)
    for fraction, fsplit, name in ((args.budget, small, "x-cross"), (args.budget, small, "lora"), (1.0, split, "lora")):
        label = f"x-cross @{pct}" if name == "x-cross" else f"{target} LoRA @{fraction:.0%}"
        if study_result is not None and (fraction, name) in study_result.evaluations:  # trained there already
            row = study_result.table.set_index(["fraction", "model"]).loc[(fraction, name)]
            result = replace(study_result.evaluations[(fraction, name)], model=label)
            rows[label] = Row(
                label, result, int(row["train_users"]), int(row["trainable_parameters"]), float(row["train_seconds"])
            )
            continue
        extra = {"adapters": sources} if name == "x-cross" else {"base": base}
        model = make_model(name, domain, seed=args.seed, epochs=args.epochs, **extra)
        rows[label] = trained(tag, label, model, fsplit, split, args.seed)
    show_table(tag, list(rows.values()))
    verdict = claim(tag, rows, f"x-cross @{pct}", f"{target} LoRA @{pct}", f"{target} LoRA @100%", args)
    out: dict[str, object] = {"split": split.summary(), "models": report_rows(rows), "claim": verdict}
    cases.append(case_rows("sample", rows))
    if study_result is not None:
        out["study"] = study_result.to_dict()
    if not args.no_speed:
        batch = training_batch(split, args.speed_batch_size)
        speed = step_ratio(domain, sources, batch, args.speed_repeats)
        log(
            f"[{tag}] step cost: x-cross step with {speed['sources']} sources {speed['xcross_step_median_s']}s, "
            f"single-adapter step {speed['lora_step_median_s']}s (median of {speed['repeats']}, batch "
            f"{speed['batch_size']}): ratio x-cross / (n x single) = {speed['ratio_xcross_over_n_lora']} "
            f"({'within' if speed['ratio_xcross_over_n_lora'] <= 1.0 else 'OVER'} the 1.0 target)"
        )
        out["step_ratio"] = speed
    return out


def study(tag: str, sources: list[Path], args: argparse.Namespace) -> StudyResult:
    """The library's data-efficiency study on the part's split settings, printed as a table."""
    spec = StudySpec(
        interactions=SAMPLE[0],
        items=SAMPLE[1],
        target=args.sample_target,
        adapters=sources,
        fractions=args.fractions,
        seed=args.seed,
        max_users=args.sample_max_users,
        test_share=args.test_share,
        epochs=args.epochs,
    )
    result = data_efficiency.run(spec, logged(f"[{tag}]   study ", sys.stdout))
    log(
        f"[{tag}] data efficiency: {'fraction':>8s} {'model':8s} {'train users':>11s} {'trainable':>11s}  "
        f"{'hit@10 [95% CI]':25s} {'ndcg@10 [95% CI]':25s} kept epoch"
    )
    for r in result.table.to_dict(orient="records"):
        hit = f"{r['hit@10']:.4f} [{r['hit@10_low']:.4f}, {r['hit@10_high']:.4f}]"
        ndcg = f"{r[METRIC]:.4f} [{r[f'{METRIC}_low']:.4f}, {r[f'{METRIC}_high']:.4f}]"
        log(
            f"[{tag}] data efficiency: {r['fraction']:>8.0%} {r['model']:8s} {r['train_users']:>11,} "
            f"{r['trainable_parameters']:>11,}  {hit:25s} {ndcg:25s} {r['kept_epoch'] or 'start'} of {r['epochs']}"
        )
    for t in result.tests.to_dict(orient="records"):
        log(
            f"[{tag}] data efficiency: {t['fraction']:.0%}: lora - x-cross {t['metric']} {t['difference']:.4f} "
            f"[{t['low']:.4f}, {t['high']:.4f}] p={t['p_value']:.4f}"
            f"{' (LoRA significantly worse)' if t['lora_significantly_worse'] else ''}"
        )
    at = result.catch_up
    log(
        f"[{tag}] data efficiency: LoRA is no longer significantly worse than X-Cross from "
        + (f"{at:.0%} of the training users on" if at is not None else "none of the fractions run")
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=("dev", "sample"), default=["dev", "sample"])
    parser.add_argument(
        "--epochs",
        type=int,
        help="max epochs of every model trained here (default: each model's own, early-stopped; a cap of 3 left "
        "target LoRA still improving on the sample data)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-share", type=float, default=0.5, help="test users' share (both parts)")
    parser.add_argument("--budget", type=float, default=0.25, help="share of target training users (default 25%%)")
    parser.add_argument("--close-ratio", type=float, default=0.9, help="'close to LoRA@100%%': NDCG@10 ratio floor")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "xcross")
    dev = parser.add_argument_group("dev part (must match the bench/adapters.py run whose adapters it loads)")
    dev.add_argument("--max-users", type=int, default=4000, help="users per domain (seeded sample)")
    dev.add_argument("--adapters-dir", type=Path, default=ROOT / "bench" / "out" / "adapters")
    dev.add_argument("--dev-targets", nargs="+", choices=tuple(DATASETS), default=list(DATASETS))
    sample = parser.add_argument_group("sample part")
    sample.add_argument("--sample-adapters", type=Path, default=ROOT / "sample_data" / "adapters")
    sample.add_argument("--sample-sources", nargs="+", default=["Sports", "Kitchen", "Home_Office"])
    sample.add_argument("--sample-target", default="Electronics")
    sample.add_argument("--sample-max-users", type=int, default=1000)
    sample.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.25, 0.5, 1.0])
    sample.add_argument("--no-study", action="store_true", help="skip the data-efficiency study")
    sample.add_argument("--no-speed", action="store_true", help="skip the step-cost ratio")
    sample.add_argument("--speed-batch-size", type=int, default=XCROSS_LOOP.batch_size)
    sample.add_argument("--speed-repeats", type=int, default=7)
    args = parser.parse_args()
    log(f"command: python bench/xcross.py {' '.join(sys.argv[1:])}".rstrip())
    log(
        f"settings: user split with {args.test_share:.0%} test users, seed {args.seed}, budget {args.budget:.0%} of "
        f"the target's training users, max epochs {args.epochs or 'each model default'} (an epoch of a language "
        f"model at least {ADAPTER_LOOP.min_epoch_steps} optimiser steps); "
        f"dev capped at {args.max_users} users per domain, "
        f"sample at {args.sample_max_users}; full-catalogue ranking, 95% bootstrap CIs, paired tests on {METRIC}"
    )
    torch.manual_seed(args.seed)
    report: dict[str, object] = {"command": sys.argv[1:], "settings": {k: str(v) for k, v in vars(args).items()}}
    cases: list[pd.DataFrame] = []
    if "dev" in args.parts:
        report["dev"] = dev_part(args, cases)
    if "sample" in args.parts:
        report["sample"] = sample_part(args, cases)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2, default=float))
    pd.concat(cases, ignore_index=True).to_csv(args.out / "per_case.csv", index=False)
    log(f"written to {args.out / 'report.json'} and {args.out / 'per_case.csv'}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
