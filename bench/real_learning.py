"""Benchmark: does the recommender learn real purchase logs? One table per development category.

For each of the four categories in ../shared/data/amazon_dev (never copied into the repository): one user split
(6,000 users drawn, so 4,000 train, 1,000 validate and 1,000 test), full-catalogue ranking, one seed, and on it
popularity, SASRec, the untrained base model and an adapter trained with `train-adapter`'s defaults. For the
adapter it also records the training loss against ln(catalogue), the epoch validation kept, and the test NDCG@10
of the start and of every epoch (so a reader sees whether the kept epoch is one that tests best).

Each (category, model) is one stage. Its result is written when it ends and a rerun skips it, so a run that is
stopped continues where it left off:

    <out>/<category>/<model>.json      summary: commit, command, machine, seconds, metrics with 95% CIs, fit report
    <out>/<category>/<model>.csv       NDCG@10 of every test user, by a digest of its id (the paired tests use these)

`--table` prints the Markdown tables from the files alone; `--write-docs` puts them into docs/results.md, between
its `real_learning` markers (the docs' figures are generated from the files, never typed).

    python bench/real_learning.py                                # every category and model, resumable
    python bench/real_learning.py --categories Prime_Pantry --models popularity base
    python bench/real_learning.py --table                        # the tables, from the result files
    python bench/real_learning.py --write-docs                   # ... written into docs/results.md
    PYTHONPATH=/path/to/old/checkout python bench/real_learning.py --label before   # an older recipe, same split
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from real_sources import DEV, FILES  # the development categories' files (bench/ is on the path)

import xcross_core
from xcross_core.data.load import load_interactions
from xcross_core.evaluation.protocol import evaluate
from xcross_core.evaluation.splits import Split, make_split
from xcross_core.models.registry import make_model
from xcross_core.stats import paired_test

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("popularity", "sasrec", "base", "lora")
OUT = ROOT / "bench" / "results" / "real_learning"
#: 6,000 users drawn per category, a sixth tested and a sixth validated: 4,000 training users, 1,000 test users.
SPLIT = {"mode": "users", "seed": 0, "max_users": 6000, "test_share": 1 / 6, "valid_share": 1 / 6}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def commit_of(package_dir: Path) -> str:
    """The commit the code under test comes from (with "+dirty" when its tree has uncommitted changes)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=package_dir, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def split_of(category: str) -> Split:
    name = FILES[category]
    loaded = load_interactions(DEV / f"{name}.csv", DEV / f"items_{name}.csv")
    return make_split(loaded.interactions.domain(category), **SPLIT)


def run_stage(split: Split, model_name: str) -> tuple[dict[str, object], pd.DataFrame]:
    """Train (if it trains) and test one model on `split`; the adapter is also tested at its start and every epoch."""
    started = time.perf_counter()
    model = make_model(model_name, split.domain, seed=SPLIT["seed"])
    epochs_tested: list[float] = []
    start_test = None
    if model_name == "lora":
        start_test = float(evaluate(model, split.test).per_case["ndcg@10"].mean())

        def progress(event: object) -> None:
            if getattr(event, "valid_ndcg10", None) is not None:  # an epoch's end: test it as it stands
                epochs_tested.append(float(evaluate(model, split.test).per_case["ndcg@10"].mean()))
                log(f"  epoch {event.epoch}: loss {event.loss:.3f}, test NDCG@10 {epochs_tested[-1]:.4f}")

        report = model.fit(split, progress=progress)
    else:
        report = model.fit(split)
    result = evaluate(model, split.test)
    fit = report.to_dict()
    summary: dict[str, object] = {
        "model": model_name,
        "metrics": {name: ci.to_dict() for name, ci in result.summary.items()},
        "trainable_parameters": model.trainable_parameters,
        "seconds": round(time.perf_counter() - started, 1),
        "fit": fit,
        "ln_catalogue": math.log(split.domain.n_items),
    }
    if model_name == "lora":
        summary["test_ndcg10_start"] = start_test
        summary["test_ndcg10_by_epoch"] = epochs_tested
        summary["item_temperature"] = _temperature(model)
    per_user = result.per_case[["user", "history_length", "ndcg@10"]].assign(user=lambda f: f["user"].map(pseudonym))
    return summary, per_user


def pseudonym(user_id: object) -> str:
    """A test user's id as a short digest: the result files pair models user by user without holding the
    development data's reviewer ids (the data stays out of the repository)."""
    return hashlib.sha1(str(user_id).encode()).hexdigest()[:12]


def _temperature(model: object) -> float | None:
    head = getattr(model.encoder, "item_head", None)
    return None if head is None else float(torch.exp(-head.log_scale).item())


def run(args: argparse.Namespace) -> None:
    out: Path = args.out
    commit = commit_of(Path(xcross_core.__file__).resolve().parent)
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    machine = f"{platform.machine()}, {torch.get_num_threads()} torch threads, {platform.python_version()}"
    for category in args.categories:
        todo = [m for m in args.models if not (out / category / f"{args.label}{m}.json").is_file()]
        if not todo:
            log(f"[{category}] done already")
            continue
        split = split_of(category)
        log(f"[{category}] {json.dumps(split.summary())}")
        for model_name in todo:
            log(f"[{category}] {model_name} ...")
            summary, per_user = run_stage(split, model_name)
            summary |= {"commit": commit, "command": command, "machine": machine, "split": split.summary()}
            folder = out / category
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{args.label}{model_name}"
            per_user.to_csv(folder / f"{name}.csv", index=False, float_format="%.6g")
            (folder / f"{name}.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
            log(
                f"[{category}] {model_name}: NDCG@10 {summary['metrics']['ndcg@10']['mean']:.4f} "
                f"({summary['seconds']:.0f} s)"
            )


def _ndcg(found: dict[str, dict], name: str) -> str:
    if name not in found:
        return "–"
    m = found[name]["metrics"]["ndcg@10"]
    return f"{m['mean']:.4f} [{m['low']:.4f}, {m['high']:.4f}]"


def _versus(users: dict[str, np.ndarray], name: str) -> str:
    """The adapter minus `name`, paired over the same test users: mean [95% CI], p."""
    if name not in users or "lora" not in users:
        return "–"
    test = paired_test(users["lora"], users[name])
    d = test.difference
    return f"{d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}], p={test.p_value:.3g}"


def table(out: Path) -> str:
    """The Markdown tables of docs/results.md, from the result files under `out`."""
    rows, learning = [], []
    for category in FILES:
        folder = out / category
        if not any(folder.glob("*.json")):
            continue
        found = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
        users = {p.stem: pd.read_csv(p)["ndcg@10"].to_numpy() for p in sorted(folder.glob("*.csv"))}
        mean = {name: summary["metrics"]["ndcg@10"]["mean"] for name, summary in found.items()}
        ratio = {
            n: f"{mean['lora'] / mean[n]:.2f}×" if {n, "lora"} <= set(mean) else "–" for n in ("popularity", "sasrec")
        }
        items = next(iter(found.values()))["split"]["catalogue_items"]
        rows.append(
            f"| {category} | {items:,} | {_ndcg(found, 'popularity')} | "
            f"{_ndcg(found, 'sasrec')} | {_ndcg(found, 'base')} | {_ndcg(found, 'before-lora')} | "
            f"**{_ndcg(found, 'lora')}** | {_versus(users, 'base')} | {ratio['popularity']} | {ratio['sasrec']} |"
        )
        for label, summary in (("earlier", found.get("before-lora")), ("now", found.get("lora"))):
            if summary is None:
                continue
            fit, by_epoch = summary["fit"], summary.get("test_ndcg10_by_epoch", [])
            best = str(int(np.argmax(by_epoch)) + 1) if by_epoch else "–"
            start = summary.get("test_ndcg10_start")
            learning.append(
                f"| {category} | {label} ({summary['commit']}) | {summary['ln_catalogue']:.2f} | "
                f"{', '.join(f'{x:.2f}' for x in fit['losses'])} | {fit['best_epoch']} of {fit['epochs']} | {best} | "
                f"{'–' if start is None else f'{start:.4f}'} | {', '.join(f'{x:.4f}' for x in by_epoch) or '–'} | "
                f"{fit['seconds'] / 60:.1f} |"
            )
    head3 = (
        "| category | test NDCG@10: start, then by epoch | epoch testing best | validation MRR picks | "
        "validation NDCG@10 picks | validation log-likelihood picks |\n|---|---|---|---|---|---|"
    )
    selection = [_selection_row(category, out) for category in FILES]
    head = (
        "| category | items | popularity | SASRec | base, untrained | adapter, earlier recipe | adapter (now) | "
        "adapter − base (paired) | adapter ÷ popularity | adapter ÷ SASRec |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    head2 = (
        "| category | recipe (commit) | ln(catalogue) | training loss by epoch | epoch kept | epoch testing best | "
        "test NDCG@10 at start | test NDCG@10 by epoch | training minutes |\n|---|---|---|---|---|---|---|---|---|"
    )
    return "\n".join([head, *rows, "", head2, *learning, "", head3, *filter(None, selection)])


def _selection_row(category: str, out: Path) -> str | None:
    """Which epoch (0: the start) each validation measure would keep, against the epoch that tests best."""
    path = out / category / "lora.json"
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    fit, tested = summary["fit"], [summary["test_ndcg10_start"], *summary["test_ndcg10_by_epoch"]]
    measures = [
        [fit["start_valid_mrr"], *fit["valid_mrr"]],
        [fit["start_valid_ndcg10"], *fit["valid_ndcg10"]],
        [fit["start_valid_log_likelihood"], *fit["valid_log_likelihood"]],
    ]
    picks = [f"{int(np.argmax(m))} ({tested[int(np.argmax(m))]:.4f})" for m in measures]
    best = int(np.argmax(tested))
    return (
        f"| {category} | {', '.join(f'{x:.4f}' for x in tested)} | {best} ({tested[best]:.4f}) | {' | '.join(picks)} |"
    )


DOCS = ROOT / "docs" / "results.md"
MARKERS = (
    "<!-- real_learning: generated by `python bench/real_learning.py --write-docs` -->",
    "<!-- /real_learning -->",
)


def write_docs(tables: str) -> None:
    """Replace what lies between the markers in docs/results.md with `tables`."""
    text = DOCS.read_text()
    start, end = text.index(MARKERS[0]) + len(MARKERS[0]), text.index(MARKERS[1])
    DOCS.write_text(text[:start] + "\n" + tables + "\n" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", nargs="+", default=list(FILES), choices=list(FILES))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--out", type=Path, default=OUT, help="folder of result files (committed)")
    parser.add_argument("--label", default="", help="prefix of this run's result files (e.g. before-)")
    parser.add_argument("--table", action="store_true", help="print the results tables from the files and stop")
    parser.add_argument("--write-docs", action="store_true", help="write the tables into docs/results.md and stop")
    args = parser.parse_args()
    if args.label and not args.label.endswith("-"):
        args.label += "-"
    if args.table:
        print(table(args.out))
        return
    if args.write_docs:
        write_docs(table(args.out))
        return
    run(args)


if __name__ == "__main__":
    main()
