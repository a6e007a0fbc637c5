"""Benchmark: X-Cross with three real source categories per target, on the development data, staged and resumable.

The product's question on real purchase logs: does a new category (the target) rank better from a small budget of
its own users when X-Cross integrates adapters trained on the business's other categories (the sources)?

Every category uses bench/real_learning's split (6,000 users drawn: 4,000 train, 1,000 validate, 1,000 test; full
ranking; seed 0). A category's adapter is real_learning's `lora` stage (its 4,000 training users, train-adapter's
defaults), saved in bench/out/adapters: it is a source for the other targets and the target's LoRA @100%. On each
target, with the same held-out users, this bench runs as stages:

    zero-shot-<source>   each source adapter alone, untrained on the target
    uniform-merge        the three sources merged with equal weights
    x-cross-25           X-Cross on 25% of the target's training users (the budget)
    lora-25              the target's own LoRA on the same budget
    static-mix-25        the sources with one trained weight each, same budget
    gating-25            one input-dependent weight per source (not per layer), same budget
    --curve adds lora-10, x-cross-10, lora-50, x-cross-50 and x-cross-100 (the data-efficiency curve)
    --levers [NAME ...] adds X-Cross @25% with other training settings (LEVERS; all when none is named), shown in a
    table of their own
    --wide tests X-Cross @25% (its saved run), each source alone and the merge again on 5,000 of the target's users
    (the split's own test users and users outside its draw, none of whom trains; each model checked to test its own
    users as its kept result), so that gains of a few thousandths can be told from noise
    --seeds N [N ...] adds the budget's trained stages with other training seeds (<stage>-seed<N>: the same split,
    sources and training users; seed 0 is the stage itself), and a table of them with every test user's NDCG@10
    averaged over the seeds, paired against each source alone and the merge

and takes popularity, SASRec @100%, the untrained base and the LoRA @100% from bench/results/real_learning (the same
split), running any of them that is missing. Every stage keeps its result files when it ends
(`bench/results/real_sources/<target>/<stage>.json` and `.csv`, as bench/real_data.py describes), and a rerun skips
the stages that have them, so a stopped run continues where it left off. X-Cross's runs are also saved under
bench/out/real_sources/ (`xcross weights --run ...` reads them); their summaries hold the spread of the weights.

    python bench/real_sources.py                               # both targets, one seed, resumable
    python bench/real_sources.py --targets Prime_Pantry --curve
    python bench/real_sources.py --wide                        # X-Cross, the sources and the merge on 5,000 users
    python bench/real_sources.py --targets Toys_and_Games --seeds 1 2
    python bench/real_sources.py --table                       # the tables, from the result files
    python bench/real_sources.py --write-docs                  # ... written into docs/results.md
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import real_learning
from real_data import (
    ROOT,
    log,
    ndcg_cell,
    per_user,
    split_of,
    table_options,
    tables_asked,
    tests_as_kept,
    versus,
    write_result,
)

from xcross_core.evaluation.protocol import evaluate
from xcross_core.evaluation.splits import Split
from xcross_core.jobs.verdicts import kept_start, weights_finding
from xcross_core.models.adapters import METADATA, load_adapter
from xcross_core.models.registry import make_model
from xcross_core.models.sources import sources_text
from xcross_core.models.xcross import XCROSS_LOOP, weights_frame, xcross_recommender
from xcross_core.models.xcross_run import load_run, save_run
from xcross_core.training.events import epoch_logger

SOURCES = {
    "Prime_Pantry": ("Beauty", "Sports_and_Outdoors", "Toys_and_Games"),
    "Toys_and_Games": ("Beauty", "Sports_and_Outdoors", "Prime_Pantry"),
}
OUT = ROOT / "bench" / "results" / "real_sources"
RUNS = ROOT / "bench" / "out" / "real_sources"
BUDGET = 25
#: Trained stages: (registered model, % of the target's training users).
TRAINED = {f"x-cross-{BUDGET}": ("x-cross", BUDGET), f"lora-{BUDGET}": ("lora", BUDGET)} | {
    f"{name}-{BUDGET}": (name, BUDGET) for name in ("static-mix", "gating")
}
CURVE = {f"{name}-{share}": (name, share) for share in (10, 50) for name in ("lora", "x-cross")} | {
    "x-cross-100": ("x-cross", 100)
}
#: Levers on X-Cross @25%: (% of users, changes to its loop, changes to its text settings). Levers measured on the
#: earlier, uncalibrated recipe (a learning rate of 1e-4, no item head, a popularity prior in training, a starting
#: scale of 15) are in commit 6f8640b's LEVERS and result files, and docs/results.md.
LEVERS = {
    # The item head's scale started at 1 / temperature, not fitted to the target's training data.
    "x-cross-25-uncalibrated": (BUDGET, {}, {"calibration_cases": 0}),
    # The best epoch replaces the start whenever it validates above it, significantly or not.
    "x-cross-25-best-epoch": (BUDGET, {"replace_start_p": None}, {}),
}
#: From bench/results/real_learning, on the same split: (its stage, the name the tables give it).
SHARED = {"popularity": "popularity", "sasrec": "SASRec @100%", "base": "base, untrained", "lora": "target LoRA @100%"}
NAMES = {"x-cross": "X-Cross", "lora": "target LoRA", "static-mix": "static mix", "gating": "gating"}


def adapters_for(target: str) -> tuple[Path, ...]:
    """The target's source adapters, trained first (real_learning's adapter stage) where they are missing, and the
    real_learning results the tables read (a source's base, the target's shared baselines), run where missing."""
    for category in (*SOURCES[target], target):
        wanted = SHARED if category == target else {"base": "", "lora": ""}  # a source is compared with its base
        needed = [m for m in wanted if not (real_learning.OUT / category / f"{m}.json").is_file()]
        if category != target and not (real_learning.ADAPTERS / category / METADATA).is_file():
            needed = sorted(set(needed) | {"lora"})  # (retrained where only its result was kept: it was not saved)
        for stage in needed:
            log(f"[{category}] {stage} ...")
            real_learning.run_stage(split_of(category), stage)
    return tuple(real_learning.ADAPTERS / s for s in SOURCES[target])


def seeded(stage: str) -> tuple[str, int]:
    """A stage's name without its training seed, and the seed (0 where the name carries none)."""
    name, _, seed = stage.partition(SEED)
    return name, int(seed or 0)


def run_stage(target: str, stage: str, adapters: tuple[Path, ...], splits: dict[int, Split]) -> None:
    """Build, train (if the stage trains) and test one stage on the target's test users; keep its result files."""
    started = time.perf_counter()
    test = splits[100]
    summary: dict[str, object] = {"stage": stage, "sources": list(SOURCES[target])}
    stage, seed = seeded(stage)
    if stage.startswith("zero-shot-"):
        model, train = load_adapter(real_learning.ADAPTERS / stage.removeprefix("zero-shot-"), test.domain), None
    elif stage == "uniform-merge":
        model, train = make_model(stage, test.domain, adapters=adapters), None
    else:
        name, share = (TRAINED | CURVE)[stage] if stage not in LEVERS else ("x-cross", LEVERS[stage][0])
        if share not in splits:
            splits[share] = split_of(target, share / 100)
        train = splits[share]
        if stage in LEVERS:
            _, loop, text = LEVERS[stage]
            text = replace(sources_text(adapters), **text)
            model = xcross_recommender(test.domain, adapters, text=text, loop=replace(XCROSS_LOOP, **loop))
            summary["lever"] = {"loop": loop, "text": LEVERS[stage][2]}
        else:
            model = make_model(name, test.domain, adapters=adapters, seed=seed)
            summary["seed"] = seed
    summary["train_users"] = 0 if train is None else len(train.train)
    if train is not None:
        summary["fit"] = model.fit(train, progress=epoch_logger(f"  {stage}")).to_dict()
    summary["trainable_parameters"] = model.trainable_parameters
    result = evaluate(model, test.test)
    if stage.startswith("x-cross-"):
        weights = weights_frame(model, test.domain.user_ids[test.test.users], test.test.histories)
        summary["weights"] = weights_finding(weights, kept_start(summary["fit"]))
        save_run(model, RUNS / target / summary["stage"], adapters, {"data": train.summary(), "fit": summary["fit"]})
    summary["seconds"] = round(time.perf_counter() - started, 1)
    write_result(OUT / target, summary["stage"], summary, result, test)


def wide_stages(target: str) -> list[str]:
    """The stages `--wide` tests again: X-Cross @25%, then what it must beat (each source alone, the merge)."""
    return [REFERENCE, *(f"zero-shot-{s}" for s in SOURCES[target]), "uniform-merge"]


def xcross_seeds(target: str) -> list[str]:
    """The kept runs of X-Cross @25% with other training seeds (`--seeds`)."""
    return sorted(p.stem for p in (OUT / target).glob(f"{REFERENCE}{SEED}*.json"))


def run_wide(targets: list[str]) -> None:
    """Every target's `wide_stages` and X-Cross's other seeds tested on real_learning.WIDE_TEST users, where the
    result file is missing."""
    for target in targets:
        stages = [*wide_stages(target), *xcross_seeds(target)]
        todo = [s for s in stages if not (OUT / target / f"wide-{s}.json").is_file()]
        if not todo:
            continue
        adapters = adapters_for(target)
        split = split_of(target, test_users=real_learning.WIDE_TEST)
        for stage in todo:
            if not (OUT / target / f"{stage}.json").is_file():
                raise SystemExit(f"[{target}] {stage} has not run: run `python bench/real_sources.py` first")
            log(f"[{target}] wide {stage} ...")
            started = time.perf_counter()
            if seeded(stage)[0] == REFERENCE:
                model = load_run(RUNS / target / stage, split.domain)
            elif stage.startswith("zero-shot-"):
                model = load_adapter(real_learning.ADAPTERS / stage.removeprefix("zero-shot-"), split.domain)
            else:
                model = make_model(stage, split.domain, adapters=adapters)
            result = evaluate(model, split.test)
            if not tests_as_kept(OUT / target, stage, result):
                raise SystemExit(
                    f"[{target}] {stage} does not test its own users as {stage}.json reports: rerun its stage first "
                    "(after moving its result files away)"
                )
            summary = {"stage": stage, "seconds": round(time.perf_counter() - started, 1)}
            write_result(OUT / target, f"wide-{stage}", summary, result, split)


def run(targets: list[str], curve: bool, levers: list[str], seeds: list[int]) -> None:
    for target in targets:
        adapters = adapters_for(target)
        stages = [f"zero-shot-{s}" for s in SOURCES[target]] + ["uniform-merge", *TRAINED]
        stages += list(CURVE) * curve + levers + [f"{stage}{SEED}{n}" for stage in TRAINED for n in seeds if n]
        todo = [s for s in stages if not (OUT / target / f"{s}.json").is_file()]
        if not todo:
            log(f"[{target}] done already")
            continue
        splits = {100: split_of(target)}
        for stage in todo:
            log(f"[{target}] {stage} ...")
            run_stage(target, stage, adapters, splits)


REFERENCE = f"x-cross-{BUDGET}"
SEED = "-seed"


@dataclass(frozen=True)
class Row:
    """One model's kept result on a target."""

    label: str
    train_users: int
    summary: dict[str, object]
    users: pd.Series  # NDCG@10 by test user

    @property
    def ndcg(self) -> float:
        return self.summary["metrics"]["ndcg@10"]["mean"]


def rows_of(target: str) -> dict[str, Row]:
    """Every kept result on `target`: real_learning's shared stages, then this bench's, by stage name."""
    rows: dict[str, Row] = {}
    for folder, stages in ((real_learning.OUT, SHARED), (OUT, None)):
        for path in sorted((folder / target).glob("*.json")):
            stage = path.stem
            if (stages is not None and stage not in stages) or stage.startswith("wide-") or SEED in stage:
                continue  # wide: `wide_table`; other seeds: `seeds_table`
            summary = json.loads(path.read_text())
            if stages is not None:
                label, users = stages[stage], 0 if stage == "base" else summary["split"]["train_users"]
            else:
                users = summary["train_users"]
                label = stage.replace("-", " ")  # the uniform merge
                if stage.startswith("zero-shot-"):
                    label = f"{stage.removeprefix('zero-shot-')} alone (zero-shot)"
                if stage in TRAINED or stage in CURVE:
                    name, share = (TRAINED | CURVE)[stage]
                    label = f"{NAMES[name]} @{share}%"
                if stage in LEVERS:
                    share, loop, text = LEVERS[stage]
                    label = f"X-Cross @{share}%, " + ", ".join(
                        f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in (loop | text).items()
                    )
            rows[stage] = Row(label, users, summary, per_user(folder / target, stage))
    return rows


def sources_table() -> list[str]:
    lines = [
        "| category | base, untrained | adapter (4,000 users) | adapter − base (paired) |",
        "|---|---|---|---|",
    ]
    for category in sorted({c for t in SOURCES for c in (*SOURCES[t], t)}):
        folder = real_learning.OUT / category
        cells = [
            ndcg_cell(json.loads(p.read_text())) if p.is_file() else "–"
            for p in (folder / "base.json", folder / "lora.json")
        ]
        difference = versus(per_user(folder, "lora"), per_user(folder, "base"))
        lines.append(f"| {category} | {' | '.join(cells)} | {difference} |")
    return lines


def target_table(target: str, rows: dict[str, Row]) -> list[str]:
    subject = rows[REFERENCE]
    others = [k for k in rows if k != REFERENCE and k not in LEVERS and k not in CURVE]
    lines = [
        f"**{target}** ← {', '.join(SOURCES[target])}: X-Cross @{BUDGET}% against each model, paired over the same "
        f"{len(subject.users):,} test users, Bonferroni over {len(others)} comparisons.",
        "",
        f"| model | target users trained on | epoch kept | NDCG@10 [95% CI] | X-Cross @{BUDGET}% − model | "
        "X-Cross ÷ model | minutes |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in [REFERENCE, *others]:
        row = rows[key]
        difference = "" if key == REFERENCE else versus(subject.users, row.users, len(others))
        ratio = "" if key == REFERENCE or not row.ndcg else f"{subject.ndcg / row.ndcg:.2f}×"
        lines.append(
            f"| {row.label} | {row.train_users:,} | {_kept(row.summary)} | {ndcg_cell(row.summary)} | {difference} | "
            f"{ratio} | "
            f"{row.summary['seconds'] / 60:.1f} |"
        )
    levers = [k for k in rows if k in LEVERS]
    if levers:
        lines += [
            "",
            f"Levers on X-Cross @{BUDGET}% (`--levers`): validation MRR at the start, then after each epoch.",
            "",
            "| X-Cross trained with | epoch kept | NDCG@10 [95% CI] | validation MRR | validation log-likelihood |",
            "|---|---|---|---|---|",
        ]
        for key in [REFERENCE, *levers]:
            fit = rows[key].summary["fit"]
            mrr = ", ".join(f"{x:.4f}" for x in [fit["start_valid_mrr"], *fit["valid_mrr"]])
            ll = ", ".join(f"{x:.2f}" for x in [fit["start_valid_log_likelihood"], *fit["valid_log_likelihood"]])
            label = "the defaults" if key == REFERENCE else rows[key].label.split(", ", 1)[1]
            lines.append(f"| {label} | {_kept(rows[key].summary)} | {ndcg_cell(rows[key].summary)} | {mrr} | {ll} |")
    lines += curve_table(target, rows) + seeds_table(target, rows) + wide_table(target, rows)
    lines += seeds_table(target, rows, "wide-") + overlap_table(target)
    weights = subject.summary.get("weights", {})
    lines += ["", f"X-Cross @{BUDGET}% on {target}: {weights.get('text', '')}"]
    if weights.get("spread"):
        spread = weights["spread"]
        lines += [
            "",
            "| layer | " + " | ".join(str(s["layer"]) for s in spread) + " |",
            "|---|" + "---|" * len(spread),
            "| standard deviation of a source's weight across test users | "
            + " | ".join(f"{s['sd']:.3f}" for s in spread)
            + " |",
        ]
    return lines


def curve_table(target: str, rows: dict[str, Row]) -> list[str]:
    """X-Cross against the target's LoRA at each share of the training users X-Cross has run at (`--curve`)."""
    shares = [s for s in (10, BUDGET, 50, 100) if f"x-cross-{s}" in rows]
    if len(shares) < 2:
        return []
    lora = {s: rows.get("lora" if s == 100 else f"lora-{s}") for s in shares}
    full = lora.get(100) or rows.get("lora")
    lines = [
        "",
        f"Data efficiency (`--curve`): X-Cross and the target's LoRA trained on a share of the {target} training "
        f"users, paired over the same test users (Bonferroni over {len(shares)} comparisons).",
        "",
        "| share | users trained on | X-Cross NDCG@10 | target LoRA NDCG@10 | X-Cross − LoRA | X-Cross ÷ LoRA @100% |",
        "|---|---|---|---|---|---|",
    ]
    for share in shares:
        x, other = rows[f"x-cross-{share}"], lora[share]
        difference = versus(x.users, other.users if other else None, len(shares))
        ratio = f"{x.ndcg / full.ndcg:.2f}×" if full and full.ndcg else "–"
        lines.append(
            f"| {share}% | {x.train_users:,} | {ndcg_cell(x.summary)} | {ndcg_cell(other.summary if other else None)} "
            f"| {difference} | {ratio} |"
        )
    return lines


def seeds_table(target: str, rows: dict[str, Row], prefix: str = "") -> list[str]:
    """The budget's trained stages over every training seed kept (`--seeds`; with `prefix` "wide-", as tested on the
    wide users): NDCG@10 per seed, then every test user's NDCG@10 averaged over the seeds, X-Cross's paired against
    each model's."""
    runs: dict[str, dict[int, pd.Series]] = {}
    for stage in TRAINED:
        paths = [OUT / target / f"{prefix}{stage}.json", *sorted((OUT / target).glob(f"{prefix}{stage}{SEED}*.json"))]
        kept = {seeded(p.stem)[1]: p.stem for p in paths if p.is_file()}
        if len(kept) > 1:
            runs[stage] = {seed: per_user(OUT / target, name) for seed, name in sorted(kept.items())}
    if REFERENCE not in runs:
        return []
    seeds = sorted(runs[REFERENCE])
    averaged = {stage: pd.concat(by_seed.values(), axis=1).mean(axis=1) for stage, by_seed in runs.items()}
    for key in rows:  # the sources alone and the merge train nothing: no seed
        if key.startswith("zero-shot-") or key == "uniform-merge":
            averaged[key] = per_user(OUT / target, f"{prefix}{key}")
    others = [k for k in averaged if k != REFERENCE and averaged[k] is not None]
    subject = averaged[REFERENCE]
    where = f"tested on {len(subject):,} users (`--wide`), " if prefix else ""
    lines = [
        "",
        f"Training seeds {', '.join(map(str, seeds))} (`--seeds`: the same split, sources and training users), "
        f"{where}each test user's NDCG@10 averaged over the seeds, then paired with X-Cross's averaged the same way "
        f"(Bonferroni over {len(others)} comparisons); the sources alone and the merge train nothing, so they have "
        "no seed.",
        "",
        "| model | " + " | ".join(f"seed {n}" for n in seeds) + f" | mean over seeds | X-Cross @{BUDGET}% − model |",
        "|---|" + "---|" * len(seeds) + "---|---|",
    ]
    for key in [REFERENCE, *others]:
        by_seed = runs.get(key, {})
        cells = [f"{by_seed[n].mean():.4f}" if n in by_seed else "–" for n in seeds]
        difference = "" if key == REFERENCE else versus(subject, averaged[key], len(others))
        lines.append(f"| {rows[key].label} | {' | '.join(cells)} | {averaged[key].mean():.4f} | {difference} |")
    return lines


def wide_table(target: str, rows: dict[str, Row]) -> list[str]:
    """X-Cross @25% against each source alone and the merge on the wide test users, when all have been tested."""
    stages = wide_stages(target)
    paths = [OUT / target / f"wide-{s}.json" for s in stages]
    if not all(p.is_file() for p in paths):
        return []
    summaries = [json.loads(p.read_text()) for p in paths]
    subject = per_user(OUT / target, f"wide-{REFERENCE}")
    others = len(stages) - 1
    lines = [
        "",
        f"Tested again on {summaries[0]['split']['test_cases']:,} of {target}'s users (`--wide`: the split's own test "
        f"users and users outside its draw, none of whom trains; Bonferroni over {others} comparisons):",
        "",
        f"| model | NDCG@10 [95% CI] | X-Cross @{BUDGET}% − model |",
        "|---|---|---|",
    ]
    for stage, summary in zip(stages, summaries, strict=True):
        difference = "" if stage == REFERENCE else versus(subject, per_user(OUT / target, f"wide-{stage}"), others)
        lines.append(f"| {rows[stage].label} | {ndcg_cell(summary)} | {difference} |")
    return lines


#: The models that combine the sources, beside the sources in `overlap_table`: (its column, the stage).
OVERLAP_MIXES = {f"X-Cross @{BUDGET}%": REFERENCE, "uniform merge": "uniform-merge"}


def overlap_table(target: str) -> list[str]:
    """Whether the sources know different customers: the share of test users each source alone ranks the next
    purchase in its top 10 for (NDCG@10 above 0), any of them, all of them, and X-Cross and the merge; on the wide
    test users where they have been tested. The per-user best of the sources is an upper bound that picks with
    hindsight, which no model can."""
    prefix = "wide-" if (OUT / target / f"wide-{REFERENCE}.csv").is_file() else ""
    sources = {s: per_user(OUT / target, f"{prefix}zero-shot-{s}") for s in SOURCES[target]}
    mixes = {name: per_user(OUT / target, f"{prefix}{stage}") for name, stage in OVERLAP_MIXES.items()}
    if any(v is None for v in (*sources.values(), *mixes.values())):
        return []
    frame = pd.DataFrame(sources)
    hits = frame > 0
    correlation = frame.corr().to_numpy()[np.triu_indices(len(sources), 1)]
    cells = [*(f"{h:.1%}" for h in hits.mean()), f"{hits.any(axis=1).mean():.1%}", f"{hits.all(axis=1).mean():.1%}"]
    cells += [f"{(m > 0).mean():.1%}" for m in mixes.values()]
    return [
        "",
        f"Do the sources know different {target} customers? The share of {len(frame):,} test users whose next purchase "
        f"each model ranks in its top 10 (per-user NDCG@10 of the sources correlates {correlation.min():.2f}–"
        f"{correlation.max():.2f} between them). Picking, for every user, the source that ranked their purchase best "
        f"would score NDCG@10 {frame.max(axis=1).mean():.4f} against the best source's {frame.mean().max():.4f}: "
        "an upper bound that chooses with hindsight.",
        "",
        "| " + " | ".join([*(f"{s} alone" for s in sources), "any source", "every source", *mixes]) + " |",
        "|---" * (len(cells)) + "|",
        "| " + " | ".join(cells) + " |",
    ]


def _kept(summary: dict[str, object]) -> str:
    """Which epoch training kept: "start" when no epoch beat the untrained weights on validation."""
    fit = summary.get("fit")
    if not fit or not fit.get("epochs"):
        return "–"
    return "start (kept)" if kept_start(fit) else f"{fit['best_epoch']} of {fit['epochs']}"


def table() -> str:
    """The Markdown tables of docs/results.md, from the result files."""
    lines = [
        "Each category's adapter on its own test users (bench/real_learning's `lora` and `base`):",
        "",
        *sources_table(),
    ]
    for target in SOURCES:
        rows = rows_of(target)
        if REFERENCE in rows:
            lines += ["", *target_table(target, rows)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", choices=tuple(SOURCES), default=list(SOURCES))
    parser.add_argument("--curve", action="store_true", help="also the data-efficiency curve (10, 50, 100%%)")
    parser.add_argument(
        "--levers", nargs="*", choices=list(LEVERS), help="also these levers on X-Cross (LEVERS; none named: all)"
    )
    parser.add_argument("--wide", action="store_true", help="test X-Cross, the sources and the merge on 5,000 users")
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[],
        metavar="N",
        help="also the budget's trained stages with these seeds",
    )
    table_options(parser)
    args = parser.parse_args()
    if tables_asked(args, "real_sources", table):
        return
    if args.wide:
        run_wide(args.targets)
    else:
        run(args.targets, args.curve, list(LEVERS) if args.levers == [] else args.levers or [], args.seeds)


if __name__ == "__main__":
    main()
