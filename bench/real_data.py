"""The development categories and the result files that the real-data benches keep.

The data lives in ../shared/data/amazon_dev and is never copied into the repository. What the benches keep is
small and committed: per (folder, model) a summary (`<model>.json`: commit, command, machine, seconds, split,
metrics with 95% CIs, fit report) and every test user's NDCG@10 (`<model>.csv`, users named by a digest of their
id), so paired tests can be rerun from the files and the docs' tables are generated from them, never typed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import xcross_core
from xcross_core.data.load import load_interactions
from xcross_core.evaluation.protocol import EvalResult
from xcross_core.evaluation.splits import Split, make_split
from xcross_core.stats import paired_test

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "data" / "amazon_dev"
FILES = {
    "Beauty": "beauty",
    "Sports_and_Outdoors": "sports_and_outdoors",
    "Toys_and_Games": "toys_and_games",
    "Prime_Pantry": "prime_pantry",
}
#: 6,000 users drawn per category, a sixth tested and a sixth validated: 4,000 training users, 1,000 test users.
SPLIT = {"mode": "users", "seed": 0, "max_users": 6000, "test_share": 1 / 6, "valid_share": 1 / 6}
DOCS = ROOT / "docs" / "results.md"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def split_of(category: str, fraction: float = 1.0, test_users: int | None = None) -> Split:
    """The category's bench split; `fraction` keeps that share of its training users (the same held-out users);
    `test_users` tests that many, the split's own test users and users outside its draw (none of whom trains)."""
    if not DEV.exists():
        raise SystemExit(f"this bench needs the development data in {DEV}")
    name = FILES[category]
    loaded = load_interactions(DEV / f"{name}.csv", DEV / f"items_{name}.csv")
    return make_split(loaded.interactions.domain(category), **SPLIT, fraction=fraction, test_users=test_users)


def provenance() -> dict[str, str]:
    """Where a result comes from: the commit of the code under test (+dirty with uncommitted changes), the
    command, the machine."""
    package = Path(xcross_core.__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=package, capture_output=True, text=True).stdout.strip()

    commit = (git("rev-parse", "--short", "HEAD") or "unknown") + (
        "+dirty" if git("status", "--porcelain", "--untracked-files=no") else ""
    )
    return {
        "commit": commit,
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, {platform.python_version()}",
    }


def pseudonym(user_id: object) -> str:
    """A test user's id as a short digest: the result files pair models user by user without holding the
    development data's reviewer ids (the data stays out of the repository)."""
    return hashlib.sha1(str(user_id).encode()).hexdigest()[:12]


def write_result(
    folder: Path, name: str, summary: dict[str, object], result: EvalResult, split: Split, columns: tuple[str, ...] = ()
) -> None:
    """Keep one model's result: `<name>.json` (the summary with metrics, split and provenance) and `<name>.csv`
    (per test user: history length, NDCG@10 and any more of `result.per_case`'s `columns`)."""
    summary = summary | {
        "metrics": {metric: ci.to_dict() for metric, ci in result.summary.items()},
        "split": split.summary(),
        **provenance(),
    }
    per_user = result.per_case[["user", "history_length", "ndcg@10", *columns]]
    per_user = per_user.assign(user=per_user["user"].map(pseudonym))
    folder.mkdir(parents=True, exist_ok=True)
    per_user.to_csv(folder / f"{name}.csv", index=False, float_format="%.6g")
    (folder / f"{name}.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    log(f"[{folder.name}] {name}: NDCG@10 {result.summary['ndcg@10'].mean:.4f} ({summary.get('seconds', 0):.0f} s)")


def per_user(folder: Path, name: str) -> pd.Series | None:
    """A kept result's NDCG@10 by test user (digest), or None when it has not been run."""
    path = folder / f"{name}.csv"
    return pd.read_csv(path, dtype={"user": str}).set_index("user")["ndcg@10"] if path.is_file() else None


def tests_as_kept(folder: Path, name: str, result: EvalResult) -> bool:
    """Whether `result`, tested on a larger set of users, gives the users of the kept result `name` their kept
    NDCG@10 (all but 1%, whose near-tied scores may swap with another padding of their prompts): the model tested is
    the one that result reports."""
    kept = per_user(folder, name)
    now = result.per_case.set_index(result.per_case["user"].map(pseudonym))["ndcg@10"]
    if kept is None or not kept.index.isin(now.index).all():
        return False
    return bool(np.isclose(now[kept.index], kept, rtol=1e-4, atol=1e-6).mean() >= 0.99)


def versus(a: pd.Series | None, b: pd.Series | None, comparisons: int = 1) -> str:
    """`a` minus `b` paired over their common test users: mean [95% CI], p (Bonferroni over `comparisons`)."""
    if a is None or b is None:
        return "–"
    common = a.index.intersection(b.index)
    if len(common) != len(a) or len(common) != len(b):
        raise ValueError("these results were not tested on the same users")
    test = paired_test(a[common].to_numpy(), b[common].to_numpy(), comparisons=comparisons, bounds=(-1.0, 1.0))
    d = test.difference
    p = f"p={test.p_adjusted:.3g}" + (" (adj.)" if comparisons > 1 else "")
    return f"{d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}], {p}"


def ndcg_cell(summary: dict[str, object] | None) -> str:
    if summary is None:
        return "–"
    m = summary["metrics"]["ndcg@10"]
    return f"{m['mean']:.4f} [{m['low']:.4f}, {m['high']:.4f}]"


def table_options(parser: argparse.ArgumentParser) -> None:
    """--table and --write-docs, which every real-data bench takes (`tables_asked` answers them)."""
    parser.add_argument("--table", action="store_true", help="print the results tables from the files and stop")
    parser.add_argument("--write-docs", action="store_true", help="write the tables into docs/results.md and stop")


def tables_asked(args: argparse.Namespace, marker: str, tables: Callable[[], str]) -> bool:
    """Print the bench's `tables` (--table) or write them between docs/results.md's `marker`s (--write-docs), when
    asked; whether they were (the bench then stops instead of running)."""
    if args.table:
        print(tables())
    elif args.write_docs:
        write_docs(marker, tables())
    return args.table or args.write_docs


def write_docs(marker: str, tables: str) -> None:
    """Replace what lies between docs/results.md's `<!-- marker: ... -->` and `<!-- /marker -->` with `tables`."""
    text = DOCS.read_text()
    opening = text.index(f"<!-- {marker}:")
    start, end = text.index("-->", opening) + 3, text.index(f"<!-- /{marker} -->")
    DOCS.write_text(text[:start] + "\n" + tables + "\n" + text[end:])
