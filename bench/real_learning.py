"""Benchmark: does the recommender learn real purchase logs? One table per development category.

For each of the four categories in ../shared/data/amazon_dev (never copied into the repository): one user split
(6,000 users drawn, so 4,000 train, 1,000 validate and 1,000 test), full-catalogue ranking, one seed, and on it
popularity, SASRec, the untrained base model and an adapter trained with `train-adapter`'s defaults. For the
adapter it also records the training loss against ln(catalogue), the epoch validation kept, and the test NDCG@10
of the start and of every epoch (so a reader sees whether the kept epoch is one that tests best).

Each (category, model) is one stage. Its result is written when it ends and a rerun skips it, so a run that is
stopped continues where it left off. The files, `bench/results/real_learning/<category>/<model>.json` and `.csv`, are
described in bench/real_data.py. The adapter is also saved in bench/out/adapters/<category> (not committed), where
bench/real_sources.py takes it as that category's source adapter.

`--wide` tests again, on up to 5,000 users: the split's 1,000 test users and users outside its 6,000 drawn, none of
whom trains. The models are the ones above (popularity and the untrained base rebuilt and checked to test as before
on the split's own users; the adapter loaded from bench/out/adapters and checked to be the training `lora.json`
reports), so only the test is larger: a gain of a few thousandths of NDCG@10 that 1,000 users cannot tell from noise
can be told on 5,000. Every model is tested in this one process. Its files are `wide-<model>.json` and `.csv`.

`--table` prints the Markdown tables from the files alone; `--write-docs` puts them into docs/results.md, between
its `real_learning` markers (the docs' figures are generated from the files, never typed).

    python bench/real_learning.py                                # every category and model, resumable
    python bench/real_learning.py --categories Prime_Pantry --models popularity base
    python bench/real_learning.py --wide                         # the same models, tested on up to 5,000 users
    python bench/real_learning.py --table                        # the tables, from the result files
    python bench/real_learning.py --write-docs                   # ... written into docs/results.md
    PYTHONPATH=/path/to/old/checkout python bench/real_learning.py --label before   # an older recipe, same split
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
from real_data import (
    FILES,
    ROOT,
    SPLIT,
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
from xcross_core.models.adapters import adapter_metadata, load_adapter, read_metadata, save_adapter
from xcross_core.models.registry import make_model

MODELS = ("popularity", "sasrec", "base", "lora")
OUT = ROOT / "bench" / "results" / "real_learning"
#: Where the trained adapters are kept (not committed): bench/real_sources uses them as source adapters.
ADAPTERS = ROOT / "bench" / "out" / "adapters"


def run_stage(split: Split, model_name: str, label: str = "") -> None:
    """Train (if it trains) and test one model on `split`, and keep its result files; the adapter is also tested at
    its start and after every epoch, and saved (in ADAPTERS, for bench/real_sources to use as a source)."""
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
        save_adapter(model, adapter_metadata(model, split, report, None), ADAPTERS / split.domain.name)
    else:
        report = model.fit(split)
    result = evaluate(model, split.test)
    summary: dict[str, object] = {
        "model": model_name,
        "trainable_parameters": model.trainable_parameters,
        "seconds": round(time.perf_counter() - started, 1),
        "fit": report.to_dict(),
        "ln_catalogue": math.log(split.domain.n_items),
    }
    if model_name == "lora":
        summary["test_ndcg10_start"] = start_test
        summary["test_ndcg10_by_epoch"] = epochs_tested
        summary["item_temperature"] = _temperature(model)
    write_result(OUT / split.domain.name, label + model_name, summary, result, split)


def _temperature(model: object) -> float | None:
    head = getattr(model.encoder, "item_head", None)
    return None if head is None else float(torch.exp(-head.log_scale).item())


#: `--wide`: the models tested again, on this many test users (the split's own and users outside its draw).
WIDE_TEST = 5000
WIDE = ("popularity", "base", "lora")
#: What makes the saved adapter the training `lora.json` reports.
WIDE_SAME_FIT = ("losses", "valid_mrr", "best_epoch")


def run_wide(categories: list[str]) -> None:
    """Every category's WIDE models tested on WIDE_TEST users, where the result file is missing."""
    for category in categories:
        todo = [m for m in WIDE if not (OUT / category / f"wide-{m}.json").is_file()]
        if todo:
            split = split_of(category, test_users=WIDE_TEST)
            log(f"[{category}] wide test: {json.dumps(split.summary())}")
            for model_name in todo:
                wide_stage(split, model_name)


def wide_stage(split: Split, model_name: str) -> None:
    """Test one of the split's models on its wide test users. Popularity and the base are rebuilt and must test as
    their kept results on the split's own test users; the adapter is the saved one, whose training must be the one
    `lora.json` reports (the same losses, validation curve and kept epoch)."""
    started = time.perf_counter()
    folder = OUT / split.domain.name
    if model_name == "lora":
        model = load_adapter(ADAPTERS / split.domain.name, split.domain)
        fit, kept = read_metadata(ADAPTERS / split.domain.name).fit, folder / "lora.json"
        reported = json.loads(kept.read_text())["fit"] if kept.is_file() else None
        same = reported is not None and all(fit[k] == reported[k] for k in WIDE_SAME_FIT)
    else:
        model = make_model(model_name, split.domain, seed=SPLIT["seed"])
        model.fit(split)
    result = evaluate(model, split.test)
    if model_name != "lora":
        same = tests_as_kept(folder, model_name, result)
    if not same:
        raise SystemExit(
            f"[{split.domain.name}] {model_name} is not the model of {model_name}.json: rerun its stage first "
            f"(python bench/real_learning.py --categories {split.domain.name} --models {model_name}, after moving "
            "its result files away)"
        )
    summary = {"model": model_name, "seconds": round(time.perf_counter() - started, 1)}
    write_result(folder, f"wide-{model_name}", summary, result, split)


def run(categories: list[str], models: list[str], label: str = "") -> None:
    """Every (category, model) stage whose result file is missing."""
    for category in categories:
        todo = [m for m in models if not (OUT / category / f"{label}{m}.json").is_file()]
        if not todo:
            log(f"[{category}] done already")
            continue
        split = split_of(category)
        log(f"[{category}] {json.dumps(split.summary())}")
        for model_name in todo:
            log(f"[{category}] {model_name} ...")
            run_stage(split, model_name, label)


def table() -> str:
    """The Markdown tables of docs/results.md, from the result files."""
    rows, learning = [], []
    for category in FILES:
        folder = OUT / category
        if not any(folder.glob("*.json")):
            continue
        found = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
        mean = {name: summary["metrics"]["ndcg@10"]["mean"] for name, summary in found.items()}
        ratio = {
            n: f"{mean['lora'] / mean[n]:.2f}×" if {n, "lora"} <= set(mean) else "–" for n in ("popularity", "sasrec")
        }
        items = next(iter(found.values()))["split"]["catalogue_items"]
        rows.append(
            f"| {category} | {items:,} | {ndcg_cell(found.get('popularity'))} | "
            f"{ndcg_cell(found.get('sasrec'))} | {ndcg_cell(found.get('base'))} | "
            f"{ndcg_cell(found.get('before-lora'))} | {ndcg_cell(found.get('uncalibrated-lora'))} | "
            f"**{ndcg_cell(found.get('lora'))}** | {versus(per_user(folder, 'lora'), per_user(folder, 'base'))} | "
            f"{ratio['popularity']} | {ratio['sasrec']} |"
        )
        recipes = {"earlier": "before-lora", "uncalibrated start": "uncalibrated-lora", "now": "lora"}
        for label, summary in ((label, found.get(stage)) for label, stage in recipes.items()):
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
    selection = [_selection_row(category) for category in FILES]
    head = (
        "| category | items | popularity | SASRec | base, untrained | adapter, earlier recipe | adapter, uncalibrated "
        "start | adapter (now) | adapter − base (paired) | adapter ÷ popularity | adapter ÷ SASRec |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    head2 = (
        "| category | recipe (commit) | ln(catalogue) | training loss by epoch | epoch kept | epoch testing best | "
        "test NDCG@10 at start | test NDCG@10 by epoch | training minutes |\n|---|---|---|---|---|---|---|---|---|"
    )
    wide = [_wide_row(category) for category in FILES]
    return "\n".join(
        [head, *rows, "", WIDE_HEAD, *filter(None, wide), "", head2, *learning, "", head3, *filter(None, selection)]
    )


WIDE_HEAD = (
    "| category | test users (own + outside the draw) | popularity | base, untrained | adapter, uncalibrated start | "
    "adapter (now) | adapter − base (paired) | adapter − adapter, uncalibrated start (paired) | adapter ÷ popularity |"
    "\n|---|---|---|---|---|---|---|---|---|"
)


def _wide_row(category: str) -> str | None:
    """The `--wide` test of one category, when all its models have run."""
    folder = OUT / category
    found = {m: folder / f"wide-{m}.json" for m in WIDE}
    if not all(f.is_file() for f in found.values()):
        return None
    summary = {m: json.loads(f.read_text()) for m, f in found.items()}
    split = summary["lora"]["split"]
    mean = {m: s["metrics"]["ndcg@10"]["mean"] for m, s in summary.items()}
    earlier = folder / "uncalibrated-wide-lora.json"
    earlier_cell = ndcg_cell(json.loads(earlier.read_text())) if earlier.is_file() else "–"
    lora = per_user(folder, "wide-lora")
    gain = versus(lora, per_user(folder, "uncalibrated-wide-lora")) if earlier.is_file() else "–"
    return (
        f"| {category} | {split['test_cases']:,} | {ndcg_cell(summary['popularity'])} | {ndcg_cell(summary['base'])} "
        f"| {earlier_cell} | **{ndcg_cell(summary['lora'])}** | {versus(lora, per_user(folder, 'wide-base'))} "
        f"| {gain} | {mean['lora'] / mean['popularity']:.2f}× |"
    )


def _selection_row(category: str) -> str | None:
    """Which epoch (0: the start) each validation measure would keep, against the epoch that tests best."""
    path = OUT / category / "lora.json"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", nargs="+", default=list(FILES), choices=list(FILES))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--label", default="", help="prefix of this run's result files (e.g. before-)")
    parser.add_argument("--wide", action="store_true", help=f"test again on up to {WIDE_TEST:,} users (see above)")
    table_options(parser)
    args = parser.parse_args()
    if args.label and not args.label.endswith("-"):
        args.label += "-"
    if tables_asked(args, "real_learning", table):
        return
    if args.wide:
        run_wide(args.categories)
        return
    run(args.categories, args.models, args.label)


if __name__ == "__main__":
    main()
