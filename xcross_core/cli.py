"""The `xcross` command: the library's operations for scripts and batch jobs.

Every subcommand loads and validates its input the same way; a file with invalid rows stops with
exit status 2 and a message naming the rows, unless `--drop-invalid` accepts dropping them (they
are then counted, and written out with `--dropped-out`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from xcross_core.data.dataset import DomainData
from xcross_core.data.load import ColumnMap, DataError, LoadResult, load_interactions
from xcross_core.data.report import spreadsheet_safe
from xcross_core.estimate import human_seconds
from xcross_core.evaluation.metrics import METRICS
from xcross_core.evaluation.protocol import EvalResult, compare, evaluate
from xcross_core.evaluation.splits import Split, make_split
from xcross_core.evaluation.study import data_efficiency_study
from xcross_core.memory import return_freed_memory
from xcross_core.models.adapters import ADAPTER_LOOP, METADATA, LoraSettings, train_adapter
from xcross_core.models.base import DEFAULT_BASE, BaseModelError
from xcross_core.models.popularity import Popularity
from xcross_core.models.recommender import Recommender, top_k
from xcross_core.models.registry import (
    BUILTIN_MODELS,
    SOURCE_MODELS,
    TRAINED_MODELS,
    check_model_name,
    make_model,
)
from xcross_core.models.xcross import XCROSS_LOOP, XCrossConfig, load_run, save_run, weights_frame, xcross_recommender
from xcross_core.poc import BASELINES, DEFAULT_BASELINES, PocConfig, Stage, read_poc, run_poc
from xcross_core.training.events import FitReport, TrainEvent, epoch_logger

EXIT_OK, EXIT_BAD_INPUT = 0, 2


class UsageError(Exception):
    """A problem with what the user asked for; printed without a traceback, exit status 2."""


def _file_options() -> argparse.ArgumentParser:
    """Which files make the data: the item file and column names (all a background job needs)."""
    files = argparse.ArgumentParser(add_help=False)
    files.add_argument("--items", type=Path, help="item file: item_id, title, optional domain/brand/category/...")
    files.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="THEIRS=OURS",
        help="map a column name of the file to ours (user_id, item_id, timestamp, domain, title); repeatable",
    )
    return files


def _input_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, parents=[_file_options()])
    common.add_argument("--encoding", help="text encoding of CSV/JSON Lines input (default UTF-8)")
    common.add_argument("--min-users", type=int, default=5, help="users a domain needs to be usable (default 5)")
    common.add_argument(
        "--drop-invalid",
        action="store_true",
        help="continue without rows that fail validation (they are counted)",
    )
    common.add_argument("--dropped-out", type=Path, help="write the dropped rows and their reasons to this CSV")
    return common


def _model_options() -> argparse.ArgumentParser:
    opts = argparse.ArgumentParser(add_help=False)
    opts.add_argument(
        "--base", help=f"base language model: a local folder or Hugging Face id (default: packaged {DEFAULT_BASE})"
    )
    opts.add_argument("--download", action="store_true", help="allow fetching --base from the Hugging Face hub")
    return opts


def _split_options() -> argparse.ArgumentParser:
    opts = argparse.ArgumentParser(add_help=False)
    opts.add_argument(
        "--split",
        choices=["users", "loo"],
        default="users",
        help="'users': hold out whole users (default); 'loo': leave the last item out per user",
    )
    opts.add_argument("--test-share", type=float, default=0.1, help="share of users held out for test (users split)")
    opts.add_argument("--valid-share", type=float, default=0.1, help="share held out for validation (users split)")
    opts.add_argument("--fraction", type=float, default=1.0, help="share of training users to train on (data budget)")
    opts.add_argument("--max-users", type=int, help="cap the domain's users (seeded sample) for quick runs")
    opts.add_argument("--epochs", type=int, help="maximum epochs for trained models (early stopping still applies)")
    opts.add_argument("--seed", type=int, default=0)
    return opts


def _split(args: argparse.Namespace, domain: DomainData, sampled: int | None = None) -> Split:
    try:
        return make_split(
            domain,
            args.split,
            seed=args.seed,
            test_share=args.test_share,
            valid_share=args.valid_share,
            fraction=args.fraction,
            max_users=args.max_users,
            sampled_negatives=sampled,
        )
    except ValueError as err:
        raise UsageError(str(err)) from None


def _load(args: argparse.Namespace, path: Path | None = None, *, strict: bool = True) -> LoadResult:
    result = load_interactions(
        path or args.interactions,
        args.items,
        columns=ColumnMap.parse(args.column),
        encoding=args.encoding,
        min_users=args.min_users,
    )
    # --dropped-out lists the rows dropped from INTERACTIONS; a second file (--train) only warns.
    if args.dropped_out and path is None and len(result.report.dropped):
        result.report.write_dropped(args.dropped_out)
    if strict and result.report.errors and not args.drop_invalid:
        raise DataError(
            "\n".join(result.report.errors)
            + "\nFix these rows, or pass --drop-invalid to continue without them (--dropped-out FILE lists them)."
        )
    for message in result.report.warnings:
        print(f"warning: {message}", file=sys.stderr)
    return result


def _domain(result: LoadResult, name: str) -> DomainData:
    try:
        return result.interactions.domain(name)
    except KeyError as err:
        raise UsageError(err.args[0]) from None


def _progress_bar(label: str) -> Callable[[TrainEvent], None]:
    """Training progress on stderr: a live bar on a terminal, one line per epoch in logs."""
    if not sys.stderr.isatty():
        return epoch_logger(label)
    bar = None

    def update(event: TrainEvent) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=event.total_steps, desc=label, unit="step", file=sys.stderr, leave=False)
        bar.n = event.step
        postfix = {"epoch": f"{event.epoch}/{event.epochs}", "loss": f"{event.loss:.3f}"}
        if event.valid_ndcg10 is not None:
            postfix["val_ndcg@10"] = f"{event.valid_ndcg10:.4f}"
        bar.set_postfix(postfix, refresh=True)

    return update


# --- validate ------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    result = _load(args, strict=False)
    report = result.report
    print(json.dumps(report.to_dict(), indent=2, default=str) if args.json else report.to_text())
    if not report.ok:
        if args.drop_invalid and any(report.domains["usable"]):
            print("\nUsable without the rows listed above (--drop-invalid).", file=sys.stderr)
            return EXIT_OK
        print(
            "\nNot usable as it is: see the errors above. Rows with errors would be dropped with --drop-invalid.",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    return EXIT_OK


# --- recommend -----------------------------------------------------------------------------------


def _fitted_model(args: argparse.Namespace, domain: DomainData) -> Recommender:
    if args.model == "popularity":
        model = Popularity(domain)
        if args.train is None:
            return model.fit_sequences(domain.sequences())
        train = _domain(_load(args, args.train), domain.name)
        codes = pd.Index(domain.item_ids).get_indexer(train.item_ids[train.items])
        unknown = int((codes < 0).sum())
        if unknown:
            print(
                f"warning: {unknown} purchases in --train are of items outside the catalogue; not counted",
                file=sys.stderr,
            )
        return model.fit_sequences([codes[codes >= 0]])
    if args.model in TRAINED_MODELS or args.model in SOURCE_MODELS:
        raise UsageError(
            f"`recommend` needs a trained model: 'popularity', 'base' or a saved folder; {args.model!r} is trained "
            "on a split by `xcross evaluate`, or saved with `xcross train-adapter` / `xcross train-xcross`"
        )
    if args.train is not None:
        raise UsageError("--train only applies to the popularity model")
    return _make_model(args, args.model, domain)


def _make_model(args: argparse.Namespace, name: str, domain: DomainData) -> Recommender:
    try:
        return make_model(
            name,
            domain,
            seed=getattr(args, "seed", 0),
            epochs=getattr(args, "epochs", None),
            base=args.base,
            allow_download=args.download,
            adapters=getattr(args, "adapters", None),
        )
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(str(err)) from None


def cmd_recommend(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise UsageError("--k must be at least 1")
    domain = _domain(_load(args), args.domain)
    model = _fitted_model(args, domain)
    histories = domain.sequences()
    items, scores = top_k(model, histories, args.k, exclude_history=not args.keep_history)
    k = items.shape[1]
    recs = pd.DataFrame(
        {
            "user_id": np.repeat(domain.user_ids, k),
            "rank": np.tile(np.arange(1, k + 1), len(histories)),
            "item_id": domain.item_ids[items.ravel()],
            "score": scores.ravel(),
        }
    )
    # A user who bought all but fewer than K items has fewer than K left: top_k fills the list up with
    # bought items scored -inf, which must not be recommended.
    recs = recs[recs["score"] != -np.inf].reset_index(drop=True)
    per_user = recs.groupby("user_id").size().reindex(domain.user_ids, fill_value=0)
    short = int((per_user < k).sum())
    if short:
        print(
            f"warning: {short:,} user{'s have' if short > 1 else ' has'} fewer than {k} items not yet bought; "
            "their lists are shorter",
            file=sys.stderr,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Item and user ids are the user's own text: one such as "=HYPERLINK(...)" must not run in a spreadsheet.
    spreadsheet_safe(recs).to_csv(args.out, index=False)
    each = f"up to {k}" if short else f"{k}"
    print(
        f"wrote {len(recs):,} recommendations ({each} for each of {len(histories):,} users of {domain.name}) "
        f"to {args.out}"
    )
    return EXIT_OK


# --- evaluate ------------------------------------------------------------------------------------


def _format_table(results: list[EvalResult]) -> str:
    rows = []
    for r in results:
        rows.append({"model": r.model} | {m: str(r.summary[m]) for m in ("hit@10", "ndcg@10", "mrr")})
    return pd.DataFrame(rows).to_string(index=False)


def _format_breakdown(results: list[EvalResult]) -> str:
    """NDCG@10 per history-length bucket (users in brackets): the cold-start view."""
    table = {}
    for r in results:
        buckets = r.by_history_length()
        table[r.model] = {f"{b.bucket} ({b.users})": f"{b.mean:.4f}" if b.users else "-" for b in buckets.itertuples()}
    return pd.DataFrame(table).T.to_string()


def cmd_evaluate(args: argparse.Namespace) -> int:
    names = [args.model, *args.against]
    for name in names:
        try:
            check_model_name(name, args.adapters)
        except ValueError as err:
            raise UsageError(str(err)) from None
    if len(set(names)) < len(names):
        raise UsageError("each model may be named once")
    domain = _domain(_load(args), args.domain)
    split = _split(args, domain, args.sampled)
    print(f"split: {json.dumps(split.summary())}", file=sys.stderr)
    results, extra = [], {}
    for name in names:
        model = _make_model(args, name, domain)
        named = name in BUILTIN_MODELS or name in SOURCE_MODELS
        model.name = name if named else f"{model.name} ({Path(name).name})"
        fit = model.fit(split, progress=_progress_bar(f"training {model.name}"))
        extra[model.name] = {"trainable_parameters": model.trainable_parameters, "fit": fit.to_dict()}
        result = evaluate(model, split.test, exclude_history=not args.keep_history, seed=args.seed)
        results.append(result)
        print(f"{name}: ndcg@10 {result.summary['ndcg@10']}", file=sys.stderr)
    out = {
        "split": split.summary(),
        "exclude_history": not args.keep_history,
        "models": {r.model: r.to_dict() | extra[r.model] for r in results},
        "comparisons": {
            f"{r.model} - {results[0].model}": {m: compare(r, results[0], m).to_dict() for m in METRICS}
            for r in results[1:]
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=float))
    if args.per_user:
        per_user = pd.concat([r.per_case.assign(model=r.model) for r in results])
        spreadsheet_safe(per_user).to_csv(args.per_user, index=False)
    print(f"{split.summary()['protocol']} ranking, {len(split.test):,} test users, 95% bootstrap CIs:")
    print(_format_table(results))
    print("\nNDCG@10 by prior items in the history (users):")
    print(_format_breakdown(results))
    for key, tests in out["comparisons"].items():
        t = tests["ndcg@10"]
        print(
            f"{key}: ndcg@10 difference {t['difference']['mean']:+.4f} "
            f"[{t['difference']['low']:+.4f}, {t['difference']['high']:+.4f}], p = {t['p_value']:.4f}"
        )
    print(f"metrics written to {args.out}")
    return EXIT_OK


def _validation_summary(report: FitReport) -> str:
    """The kept weights' validation NDCG@10 and which epoch they come from."""
    best = report.best_valid_ndcg10
    if best is None:
        return "no validation users"
    return f"kept validation NDCG@10 {best:.4f} ({report.kept()})"


def _check_adapter_folders(folders: Sequence[Path]) -> None:
    for folder in folders:
        if not (folder / METADATA).is_file():
            raise UsageError(f"{folder} is not an adapter folder (no {METADATA}); train one with train-adapter")


# --- train-adapter -------------------------------------------------------------------------------


def cmd_train_adapter(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.overwrite:
        raise UsageError(f"{args.out} already exists; choose another --out or pass --overwrite")
    domain = _domain(_load(args), args.domain)
    split = _split(args, domain)
    print(f"split: {json.dumps(split.summary())}", file=sys.stderr)
    lora = LoraSettings(args.rank, args.alpha, LoraSettings.dropout, tuple(args.lora_targets or ()) or None)
    loop = replace(
        ADAPTER_LOOP, epochs=args.epochs or ADAPTER_LOOP.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed
    )
    try:
        _, meta = train_adapter(
            split,
            args.out,
            base=args.base,
            lora=lora,
            loop=loop,
            progress=_progress_bar(f"adapter {domain.name}"),
            overwrite=args.overwrite,
            allow_download=args.download,
        )
    except KeyboardInterrupt:
        print(f"cancelled: nothing was written to {args.out}", file=sys.stderr)
        return 130
    quality = _validation_summary(FitReport(**meta.fit))
    print(
        f"adapter for {meta.domain} saved to {args.out}: {meta.trainable_parameters:,} trainable parameters, "
        f"{quality}, "
        f"{meta.fit['sequences_per_second']:.1f} training sequences/s"
    )
    return EXIT_OK


# --- X-Cross -------------------------------------------------------------------------------------


def cmd_train_xcross(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.overwrite:
        raise UsageError(f"{args.out} already exists; choose another --out or pass --overwrite")
    _check_adapter_folders(args.adapters)
    domain = _domain(_load(args), args.target)
    split = _split(args, domain)
    print(f"split: {json.dumps(split.summary())}", file=sys.stderr)
    loop = replace(XCROSS_LOOP, epochs=args.epochs or XCROSS_LOOP.epochs, lr=args.lr, seed=args.seed)
    try:
        config = XCrossConfig(args.weights, args.refine, granularity=args.granularity, channel_gain=args.channel_gain)
        model = xcross_recommender(domain, args.adapters, config, loop=loop)
        report = model.fit(split, progress=_progress_bar(f"x-cross {domain.name}"))
    except KeyboardInterrupt:
        print(f"cancelled: nothing was written to {args.out}", file=sys.stderr)
        return 130
    except ValueError as err:
        raise UsageError(str(err)) from None
    save_run(model, args.out, args.adapters, {"data": split.summary(), "fit": report.to_dict()})
    quality = _validation_summary(report)
    print(
        f"X-Cross run for {domain.name} from {', '.join(model.sources)} saved to {args.out}: "
        f"{model.trainable_parameters:,} trainable parameters, {quality}"
    )
    return EXIT_OK


def cmd_weights(args: argparse.Namespace) -> int:
    domain = _domain(_load(args), args.domain)
    try:
        model = load_run(args.run, domain)
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(str(err)) from None
    table = weights_frame(model, domain.user_ids, domain.sequences())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    spreadsheet_safe(table).to_csv(args.out, index=False)
    print(f"wrote {len(table):,} weights ({domain.n_users:,} users of {domain.name}) to {args.out}")
    return EXIT_OK


def cmd_study(args: argparse.Namespace) -> int:
    _check_adapter_folders(args.adapters)
    if any(not 0 < f <= 1 for f in args.fractions):
        raise UsageError("--fractions must lie in (0, 1]")
    domain = _domain(_load(args), args.target)
    result = data_efficiency_study(
        domain,
        args.adapters,
        args.fractions,
        seed=args.seed,
        max_users=args.max_users,
        epochs=args.epochs,
        progress=_progress_bar,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(args.out / "study.csv", index=False)
    (args.out / "study.json").write_text(json.dumps(result.to_dict(), indent=2, default=float))
    columns = ["fraction", "model", "train_users", "trainable_parameters", "ndcg@10", "ndcg@10_low", "ndcg@10_high"]
    print(result.table[columns].to_string(index=False, float_format="%.4f"))
    caught = result.catch_up
    print(
        "LoRA is significantly worse than X-Cross at every fraction studied"
        if caught is None
        else f"LoRA is no longer significantly worse than X-Cross from {caught:.0%} of the training users on"
    )
    print(f"results written to {args.out / 'study.json'} and {args.out / 'study.csv'}")
    return EXIT_OK


# --- poc -----------------------------------------------------------------------------------------


def cmd_poc(args: argparse.Namespace) -> int:
    if args.out.exists():
        raise UsageError(f"{args.out} already exists; choose another --out")
    _check_adapter_folders(args.adapters)
    columns = ColumnMap.parse(args.column)
    try:
        config = PocConfig(
            interactions=str(args.interactions),
            items=None if args.items is None else str(args.items),
            columns={ours: theirs for theirs, ours in columns.renames().items()},
            target=args.target,
            adapters=[str(a) for a in args.adapters],
            fraction=args.fraction,
            max_users=args.max_users,
            epochs=args.epochs,
            baselines=tuple(args.baselines),
            seed=args.seed,
        )
        bars: dict[str, Callable[[TrainEvent], None]] = {}

        def on_stage(stage: Stage) -> None:
            if stage.index == 1 and stage.estimate_s is not None:
                print(f"estimated time for the whole run: {human_seconds(stage.estimate_s)}", file=sys.stderr)
            print(f"[{stage.index}/{stage.total}] {stage.label}", file=sys.stderr, flush=True)
            bars["current"] = _progress_bar(stage.label)

        report = run_poc(config, args.out, on_stage=on_stage, progress=lambda e: bars["current"](e))
    except KeyboardInterrupt:
        print(f"cancelled: nothing was written to {args.out}", file=sys.stderr)
        return 130
    except ValueError as err:
        raise UsageError(str(err)) from None
    _, table, _ = read_poc(args.out)
    shown = ["model", "trainable_parameters", "hit@10", "hit@10_low", "hit@10_high", "ndcg@10", "ndcg@10_low"]
    print(
        f"{report['target']} from {', '.join(report['sources'])}: {report['split']['test_cases']:,} test users, "
        "full-catalogue ranking, 95% bootstrap CIs"
    )
    print(table[[*shown, "ndcg@10_high"]].to_string(index=False, float_format="%.4f"))
    print(report["answer"])
    for test in report["comparisons_vs_reference"].values():
        print(f"- {test['verdict']}")
    print(
        f"finished in {report['seconds']:.0f} s (estimated {report['estimated_seconds']:.0f} s); results in {args.out}"
    )
    return EXIT_OK


# --- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xcross", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    common, model_opts, split_opts = _input_options(), _model_options(), _split_options()

    p = sub.add_parser("validate", parents=[common], help="check a purchase log and print its report")
    p.add_argument("interactions", type=Path, help="interactions file (.csv, .tsv, .parquet, .jsonl)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("recommend", parents=[common, model_opts], help="top-K items of a domain for each of its users")
    p.add_argument(
        "model", help="'popularity', 'base' (the base language model), an adapter folder or an X-Cross run folder"
    )
    p.add_argument("interactions", type=Path, help="histories to recommend for; also defines the catalogue")
    p.add_argument("--domain", required=True, help="domain to recommend in")
    p.add_argument("--k", type=int, default=10, help="items per user (default 10)")
    p.add_argument("--out", type=Path, required=True, help="output CSV: user_id,rank,item_id,score")
    p.add_argument("--train", type=Path, help="count popularity in this file instead of INTERACTIONS")
    p.add_argument("--keep-history", action="store_true", help="allow items the user already bought")
    p.set_defaults(handler=cmd_recommend)

    p = sub.add_parser(
        "evaluate", parents=[common, model_opts, split_opts], help="train and evaluate models on one split of a domain"
    )
    p.add_argument(
        "model",
        help=f"model to evaluate: {', '.join(BUILTIN_MODELS)}, with --adapters {', '.join(SOURCE_MODELS)}, "
        "an adapter folder or an X-Cross run folder",
    )
    p.add_argument("interactions", type=Path)
    p.add_argument("--domain", required=True)
    p.add_argument(
        "--against",
        nargs="*",
        default=[],
        metavar="MODEL",
        help="more models on the same split, each paired-tested against MODEL",
    )
    p.add_argument("--out", type=Path, required=True, help="metrics JSON")
    p.add_argument("--per-user", type=Path, help="also write per-user metrics to this CSV")
    p.add_argument(
        "--sampled",
        type=int,
        metavar="N",
        help="rank the target among N sampled negatives instead of the full catalogue (flatters models)",
    )
    p.add_argument(
        "--adapters",
        nargs="+",
        type=Path,
        metavar="DIR",
        help=f"source adapter folders for the models that combine them: {', '.join(SOURCE_MODELS)}",
    )
    p.add_argument("--keep-history", action="store_true", help="keep already-bought items in the ranking")
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser(
        "train-adapter", parents=[common, model_opts, split_opts], help="train a LoRA adapter on one domain"
    )
    p.add_argument("interactions", type=Path)
    p.add_argument("--domain", required=True, help="domain whose users the adapter learns from")
    p.add_argument("--out", type=Path, required=True, help="adapter folder to create (peft format + metadata)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing adapter folder")
    p.add_argument("--rank", type=int, default=LoraSettings.rank, help=f"LoRA rank (default {LoraSettings.rank})")
    p.add_argument("--alpha", type=int, default=LoraSettings.alpha, help=f"LoRA alpha (default {LoraSettings.alpha})")
    p.add_argument("--lora-targets", nargs="+", help="module names to adapt (default: attention projections)")
    p.add_argument("--lr", type=float, default=ADAPTER_LOOP.lr, help=f"learning rate (default {ADAPTER_LOOP.lr})")
    p.add_argument("--batch-size", type=int, default=ADAPTER_LOOP.batch_size)
    p.set_defaults(handler=cmd_train_adapter)

    p = sub.add_parser(
        "train-xcross", parents=[common, split_opts], help="integrate source adapters for a target domain (X-Cross)"
    )
    p.add_argument("interactions", type=Path)
    p.add_argument("--target", required=True, help="target domain whose users train the integration")
    p.add_argument("--adapters", nargs="+", type=Path, required=True, help="source adapter folders (same base model)")
    p.add_argument("--out", type=Path, required=True, help="run folder to create")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument(
        "--weights",
        choices=["signed", "softmax"],
        default=XCrossConfig.weights,
        help="interaction weights: signed (a source can be suppressed) or softmax-normalised",
    )
    p.add_argument(
        "--refine",
        choices=["add", "replace"],
        default=XCrossConfig.refine,
        help="refined state added to each stream (default) or replacing it",
    )
    p.add_argument(
        "--channel-gain",
        action="store_true",
        help="also learn a gain per layer, stream and hidden channel (a target recalibration, even with one source)",
    )
    p.add_argument(
        "--granularity",
        choices=["input", "token"],
        default=XCrossConfig.granularity,
        help="interaction weights: one set per input, or one at every token position (same parameters)",
    )
    p.add_argument("--lr", type=float, default=XCROSS_LOOP.lr, help=f"learning rate (default {XCROSS_LOOP.lr})")
    p.set_defaults(handler=cmd_train_xcross)

    p = sub.add_parser("weights", parents=[common], help="export per-user, per-layer source weights of a run")
    p.add_argument("run", type=Path, help="X-Cross run folder")
    p.add_argument("interactions", type=Path)
    p.add_argument("--domain", required=True, help="domain whose users to export")
    p.add_argument("--out", type=Path, required=True, help="CSV: user_id,layer,source,weight")
    p.set_defaults(handler=cmd_weights)

    p = sub.add_parser(
        "poc", parents=[_file_options()], help="proof of concept: X-Cross on a small target budget against baselines"
    )
    p.add_argument("interactions", type=Path)
    p.add_argument("--target", required=True, help="target domain (the new product category)")
    p.add_argument("--adapters", nargs="+", type=Path, required=True, help="source adapter folders (same base model)")
    p.add_argument("--out", type=Path, required=True, help="run folder to create (results, weights, X-Cross run)")
    p.add_argument("--fraction", type=float, default=PocConfig.fraction, help="share of the target's training users")
    p.add_argument("--max-users", type=int, help="cap the target's users (seeded sample) for quick runs")
    p.add_argument("--epochs", type=int, default=PocConfig.epochs, help="maximum epochs per trained model")
    p.add_argument(
        "--baselines",
        nargs="*",
        choices=BASELINES,
        default=list(DEFAULT_BASELINES),
        help=f"models besides X-Cross and the same-budget target LoRA (default: {' '.join(DEFAULT_BASELINES)})",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=cmd_poc)

    p = sub.add_parser("study", parents=[common], help="data efficiency: X-Cross vs target LoRA at several budgets")
    p.add_argument("interactions", type=Path)
    p.add_argument("--target", required=True, help="target domain")
    p.add_argument("--adapters", nargs="+", type=Path, required=True, help="source adapter folders")
    p.add_argument(
        "--fractions",
        nargs="+",
        type=float,
        default=[0.1, 0.25, 0.5, 1.0],
        help="shares of the target's training users (default 0.1 0.25 0.5 1.0)",
    )
    p.add_argument("--out", type=Path, required=True, help="folder for study.json and study.csv")
    p.add_argument("--max-users", type=int, help="cap the target's users (seeded sample) for quick runs")
    p.add_argument("--epochs", type=int, help="maximum epochs per model (early stopping still applies)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=cmd_study)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return_freed_memory()
    try:
        return args.handler(args)
    except (DataError, UsageError, BaseModelError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
