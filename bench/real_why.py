"""Benchmark: what X-Cross's training does to its ranking on a real target, one epoch against its start.

On both real targets of bench/real_sources, X-Cross @25% kept its untrained start: every epoch validated below it
while the validation likelihood rose. This bench trains the same X-Cross (the same sources, split, budget and
settings) for one epoch with no validation, so the epoch is kept, and compares it with the start on the same test
users, twice: with the item head's scale at the start fitted to the target's training data (the default,
`TextConfig.calibration_cases`) and without (`-uncalibrated`: the fixed starting scale X-Cross first trained with).
For the start (with the scale fitted, also before fitting it) and the epoch it measures, on the test users:

- the mean log-likelihood of each user's next purchase under the full-catalogue softmax (what training raises), and
  the item head's scale (how sharp that softmax is; a uniform guess scores -ln(catalogue));
- how alike the users' prompt vectors are: their mean pairwise cosine, and their mean distance from their mean;
- the top-10 lists: how many distinct items fill them, and the median popularity rank of those items (0 = the item
  bought most often by the training users);
- each user's rank of the next purchase (0 = first), grouped by where the start ranked it.

One result file pair per target and stage: `bench/results/real_why/<target>/<stage>.json` and `.csv` (per user:
NDCG@10 after the epoch, the next purchase's rank at the start and after). Resumable like the other real benches.

    python bench/real_why.py                          # both targets; ~3 min each on 2 CPU cores once real_sources ran
    python bench/real_why.py --table                  # the table, from the result files
    python bench/real_why.py --write-docs             # ... written into docs/results.md
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import real_sources
import torch
from real_data import log, per_user, split_of, table_options, tables_asked, versus, write_result

from xcross_core.data.histories import history_mask
from xcross_core.evaluation.protocol import evaluate
from xcross_core.models.sources import sources_text
from xcross_core.models.text import TextRecommender, training_sequences
from xcross_core.models.xcross import XCROSS_LOOP, xcross_recommender
from xcross_core.training.events import epoch_logger

OUT = real_sources.ROOT / "bench" / "results" / "real_why"
STAGE = f"x-cross-{real_sources.BUDGET}-one-epoch"
#: Stages: changes to X-Cross's text settings.
STAGES = {STAGE: {}, f"{STAGE}-uncalibrated": real_sources.LEVERS["x-cross-25-uncalibrated"][2]}
#: Where the start ranked a user's next purchase: the groups the rank changes are reported by.
GROUPS = ((0, 10), (10, 100), (100, 1000), (1000, None))


def measure(model: TextRecommender, cases, popularity_rank: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    """The model's figures on the test `cases` (see the module's docstring) and each case's rank of its target."""
    vectors = model.prompt_vectors(cases.histories)
    logits = model.logits(vectors).detach().cpu()
    logits = logits.masked_fill(history_mask(cases.histories, logits.shape[1]), -torch.inf)  # ranked as served
    targets = torch.as_tensor(cases.targets)[:, None]
    ranks = (logits > logits.gather(1, targets)).sum(1).numpy()
    likelihood = logits.log_softmax(1).gather(1, targets).squeeze(1)
    top = logits.topk(10, dim=1).indices.numpy()
    n, vectors = len(vectors), vectors.cpu()
    figures = {
        "log_likelihood": float(likelihood[likelihood.isfinite()].mean()),
        "mean_pairwise_cosine": float((vectors.sum(0).square().sum() - n) / (n * (n - 1))),
        "distance_from_mean": float((vectors - vectors.mean(0)).norm(dim=1).mean()),
        "distinct_top10_items": int(len(np.unique(top))),
        "top10_median_popularity_rank": float(np.median(popularity_rank[top])),
        "median_target_rank": float(np.median(ranks)),
        "scale": float(model.encoder.item_head.log_scale.exp()),  # the item head's: how sharp the softmax is
    }
    return figures, ranks


def groups(start: np.ndarray, after: np.ndarray) -> list[dict[str, object]]:
    """Rank changes of the users whose next purchase the start ranked in each of GROUPS."""
    rows = []
    for low, high in GROUPS:
        members = (start >= low) & (start < (high or np.inf))
        change = np.log1p(after[members]) - np.log1p(start[members])
        rows.append(
            {
                "start_rank": f"{low}–{high - 1}" if high else f"{low}+",
                "users": int(members.sum()),
                "median_rank_start": float(np.median(start[members])) if members.any() else None,
                "median_rank_after": float(np.median(after[members])) if members.any() else None,
                "mean_log_rank_change": float(change.mean()) if members.any() else None,
                "share_ranked_lower": float((after[members] > start[members]).mean()) if members.any() else None,
            }
        )
    return rows


def run_target(target: str, stage: str) -> None:
    """Train X-Cross @25% on `target` for one epoch, kept whatever it validates, and measure it against its start."""
    started = time.perf_counter()
    adapters = real_sources.adapters_for(target)
    test, train = split_of(target), split_of(target, real_sources.BUDGET / 100)
    # No validation: the epoch is kept.
    text = replace(sources_text(adapters), valid_cases=0, min_valid_cases=0, **STAGES[stage])
    model = xcross_recommender(test.domain, adapters, text=text, loop=replace(XCROSS_LOOP, epochs=1))
    counts = np.bincount(np.concatenate(train.train), minlength=test.domain.n_items)
    popularity_rank = np.argsort(np.argsort(-counts, kind="stable"))
    moments = {}
    if text.calibration_cases:  # the start at the fixed scale, then as training starts from it (fitted)
        moments["start_fixed_scale"], _ = measure(model, test.test, popularity_rank)
        model.calibrate_scale(training_sequences(train))
        model.config = replace(model.config, calibration_cases=0)  # fitted already: `fit` would encode them again
    before, start_ranks = measure(model, test.test, popularity_rank)
    fit = model.fit(train, progress=epoch_logger(f"  {stage}"))
    after, ranks = measure(model, test.test, popularity_rank)
    result = evaluate(model, test.test)
    users = test.domain.user_ids[test.test.users]  # as the results name them
    ranked = pd.DataFrame({"user": users, "start_rank": start_ranks, "rank": ranks})
    result = replace(result, per_case=result.per_case.merge(ranked, on="user", validate="one_to_one"))
    summary = {
        "stage": stage,
        "lever": {"calibration_cases": text.calibration_cases},
        "sources": list(real_sources.SOURCES[target]),
        "train_users": len(train.train),
        "fit": fit.to_dict(),
        **moments,
        "start": before,
        "after": after,
        "groups": groups(start_ranks, ranks),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_result(OUT / target, stage, summary, result, test, columns=("start_rank", "rank"))


def table() -> str:
    """The Markdown table of docs/results.md, from the result files."""
    lines = []
    for target in real_sources.SOURCES:
        for stage in STAGES:
            path = OUT / target / f"{stage}.json"
            if path.is_file():
                lines += [*stage_table(target, stage, json.loads(path.read_text())), ""]
    return "\n".join(lines).rstrip()


def stage_table(target: str, stage: str, summary: dict[str, object]) -> list[str]:
    after = per_user(OUT / target, stage)
    ranks = pd.read_csv(OUT / target / f"{stage}.csv", index_col="user")["start_rank"].reindex(after.index)
    start = pd.Series(np.where(ranks < 10, 1 / np.log2(ranks + 2), 0.0), index=after.index)  # one next purchase
    ndcg = {"start": start.mean(), "after": after.mean()}
    scale = "fitted to the training data" if summary["lever"]["calibration_cases"] else "fixed"
    lines = [
        f"**{target}**, X-Cross @{real_sources.BUDGET}% ({summary['train_users']:,} training users; the item head's "
        f"starting scale {scale}) at its start and after one epoch, on {len(after):,} test users (NDCG@10 after − "
        f"start: {versus(after, start)}; a uniform guess's log-likelihood: "
        f"{-np.log(summary['split']['catalogue_items']):.2f}):",
        "",
        "| | NDCG@10 | log-likelihood of the next purchase | item head's scale | mean pairwise cosine of users | "
        "distance from their mean | distinct items in top-10s | median popularity rank in top-10s | median rank "
        "of the next purchase |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    names = {"start_fixed_scale": "start, scale not fitted", "start": "start", "after": "after one epoch"}
    for moment in [m for m in names if m in summary]:
        f = summary[moment]
        lines.append(
            f"| {names[moment]} | {ndcg.get(moment, ndcg['start']):.4f} | "
            f"{f['log_likelihood']:.2f} | {f['scale']:.2f} | {f['mean_pairwise_cosine']:.3f} | "
            f"{f['distance_from_mean']:.3f} | "
            f"{f['distinct_top10_items']:,} | {f['top10_median_popularity_rank']:,.0f} | "
            f"{f['median_target_rank']:,.0f} |"
        )
    lines += [
        "",
        "| start ranked the next purchase | users | median rank at start | after one epoch | mean change of "
        "ln(1 + rank) | share ranked lower |",
        "|---|---|---|---|---|---|",
    ]
    for g in summary["groups"]:
        if g["users"]:
            lines.append(
                f"| {g['start_rank']} | {g['users']:,} | {g['median_rank_start']:,.0f} | "
                f"{g['median_rank_after']:,.0f} | {g['mean_log_rank_change']:+.2f} | "
                f"{g['share_ranked_lower']:.0%} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", choices=tuple(real_sources.SOURCES), default=list(real_sources.SOURCES))
    table_options(parser)
    args = parser.parse_args()
    if not tables_asked(args, "real_why", table):
        for target in args.targets:
            for stage in STAGES:
                if (OUT / target / f"{stage}.json").is_file():
                    log(f"[{target}] {stage} done already")
                else:
                    log(f"[{target}] {stage} ...")
                    run_target(target, stage)


if __name__ == "__main__":
    main()
