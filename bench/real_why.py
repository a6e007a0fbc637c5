"""Benchmark: what X-Cross's training does to its ranking on a real target, one epoch against its start.

On both real targets of bench/real_sources, X-Cross @25% kept its untrained start: every epoch validated below it
while the validation likelihood rose. This bench trains the same X-Cross (the same sources, split, budget and
settings) for one epoch with no validation, so the epoch is kept, and compares it with the start on the same test
users. The start's NDCG@10 is real_sources' `x-cross-25` (it kept its start); for both it measures, on the test users:

- the mean log-likelihood of each user's next purchase under the full-catalogue softmax (what training raises), and
  the item head's scale (how sharp that softmax is; a uniform guess scores -ln(catalogue));
- how alike the users' prompt vectors are: their mean pairwise cosine, and their mean distance from their mean;
- the top-10 lists: how many distinct items fill them, and the median popularity rank of those items (0 = the item
  bought most often by the training users);
- each user's rank of the next purchase (0 = first), grouped by where the start ranked it.

One result file pair per target: `bench/results/real_why/<target>/x-cross-25-one-epoch.json` and `.csv` (per user:
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
from xcross_core.models.text import TextRecommender
from xcross_core.models.xcross import XCROSS_LOOP, xcross_recommender
from xcross_core.training.events import epoch_logger

OUT = real_sources.ROOT / "bench" / "results" / "real_why"
STAGE = f"x-cross-{real_sources.BUDGET}-one-epoch"
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


def run_target(target: str) -> None:
    """Train X-Cross @25% on `target` for one epoch, kept whatever it validates, and measure it against its start."""
    started = time.perf_counter()
    adapters = real_sources.adapters_for(target)
    test, train = split_of(target), split_of(target, real_sources.BUDGET / 100)
    text = replace(sources_text(adapters), valid_cases=0, min_valid_cases=0)  # no validation: the epoch is kept
    model = xcross_recommender(test.domain, adapters, text=text, loop=replace(XCROSS_LOOP, epochs=1))
    counts = np.bincount(np.concatenate(train.train), minlength=test.domain.n_items)
    popularity_rank = np.argsort(np.argsort(-counts, kind="stable"))
    before, start_ranks = measure(model, test.test, popularity_rank)
    fit = model.fit(train, progress=epoch_logger(f"  {STAGE}"))
    after, ranks = measure(model, test.test, popularity_rank)
    result = evaluate(model, test.test)
    users = test.domain.user_ids[test.test.users]  # as the results name them
    ranked = pd.DataFrame({"user": users, "start_rank": start_ranks, "rank": ranks})
    result = replace(result, per_case=result.per_case.merge(ranked, on="user", validate="one_to_one"))
    summary = {
        "stage": STAGE,
        "sources": list(real_sources.SOURCES[target]),
        "train_users": len(train.train),
        "fit": fit.to_dict(),
        "start": before,
        "after": after,
        "groups": groups(start_ranks, ranks),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_result(OUT / target, STAGE, summary, result, test, columns=("start_rank", "rank"))


def table() -> str:
    """The Markdown table of docs/results.md, from the result files."""
    lines = []
    for target in real_sources.SOURCES:
        path = OUT / target / f"{STAGE}.json"
        if not path.is_file():
            continue
        summary = json.loads(path.read_text())
        start = per_user(real_sources.OUT / target, real_sources.REFERENCE)
        after = per_user(OUT / target, STAGE)
        ndcg = {"start": start.mean(), "after": after.mean()}
        lines += [
            f"**{target}**, X-Cross @{real_sources.BUDGET}% ({summary['train_users']:,} training users) at its start "
            f"and after one epoch, on {len(after):,} test users (NDCG@10 after − start: {versus(after, start)}; a "
            f"uniform guess's log-likelihood: {-np.log(summary['split']['catalogue_items']):.2f}):",
            "",
            "| | NDCG@10 | log-likelihood of the next purchase | item head's scale | mean pairwise cosine of users | "
            "distance from their mean | distinct items in top-10s | median popularity rank in top-10s | median rank "
            "of the next purchase |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for moment in ("start", "after"):
            f = summary[moment]
            lines.append(
                f"| {'start' if moment == 'start' else 'after one epoch'} | {ndcg[moment]:.4f} | "
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
        lines.append("")
    return "\n".join(lines).rstrip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", choices=tuple(real_sources.SOURCES), default=list(real_sources.SOURCES))
    table_options(parser)
    args = parser.parse_args()
    if not tables_asked(args, "real_why", table):
        for target in args.targets:
            if (OUT / target / f"{STAGE}.json").is_file():
                log(f"[{target}] done already")
            else:
                log(f"[{target}] {STAGE} ...")
                run_target(target)


if __name__ == "__main__":
    main()
