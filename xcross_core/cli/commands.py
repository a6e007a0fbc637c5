"""The subcommands: each turns its arguments into the job's spec, runs the job, and prints what it found.

Results go to stdout; progress, notes and warnings to stderr. A job interrupted with Ctrl-C leaves nothing
half-written and exits with status 130. Each imports its job when it runs, so a command loads only what it uses.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

import pandas as pd

from xcross_core.cli.options import spec_from_args
from xcross_core.cli.status import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_OK
from xcross_core.cli.terminal import terminal_hooks
from xcross_core.jobs.verdicts import kept_start
from xcross_core.training.events import FitReport

if TYPE_CHECKING:
    from xcross_core.evaluation.protocol import EvalResult


def cmd_validate(args: argparse.Namespace) -> int:
    """`xcross validate`: print the report; exit 2 unless the data can be used."""
    from xcross_core.jobs import validate

    result = validate.run(spec_from_args(validate.ValidateSpec, args), terminal_hooks())
    report = result.report
    print(json.dumps(report.to_dict(), indent=2, default=str) if args.json else report.to_text())
    if result.usable:  # as it is, or without its rows with errors (--drop-invalid, which said what it dropped)
        return EXIT_OK
    if report.domains["usable"].any():  # then only rows with errors stand in the way
        more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
        problem = (
            f"not usable as it is: {report.errors[0]}{more}; see the errors above. Rows with errors would be dropped "
            "with --drop-invalid."
        )
    else:
        above = "the errors and warnings" if report.errors else "the warnings"
        problem = f"not usable: no domain has enough users to work with (see {above} above, and --min-users)."
    print(f"\nerror: {problem}", file=sys.stderr)
    return EXIT_BAD_INPUT


def cmd_recommend(args: argparse.Namespace) -> int:
    """`xcross recommend`: write the top K items of every user of the domain."""
    from xcross_core.jobs import recommend

    spec = spec_from_args(recommend.RecommendSpec, args)
    result = recommend.run(spec, terminal_hooks())
    each = f"up to {result.k}" if result.short else f"{result.k}"
    print(
        f"wrote {len(result.frame):,} recommendations ({each} for each of {result.users:,} users of "
        f"{result.domain}) to {spec.out}"
    )
    return EXIT_OK


def _format_table(results: list[EvalResult]) -> str:
    rows = [{"model": r.model} | {m: str(r.summary[m]) for m in ("hit@10", "ndcg@10", "mrr")} for r in results]
    return pd.DataFrame(rows).to_string(index=False)


def _format_breakdown(results: list[EvalResult]) -> str:
    """NDCG@10 per history-length bucket (users in brackets): the cold-start view."""
    table = {}
    for r in results:
        buckets = r.by_history_length()
        table[r.model] = {f"{b.bucket} ({b.users})": f"{b.mean:.4f}" if b.users else "-" for b in buckets.itertuples()}
    return pd.DataFrame(table).T.to_string()


def cmd_evaluate(args: argparse.Namespace) -> int:
    """`xcross evaluate`: write the metrics JSON and print the table, the cold-start view and the tests."""
    from xcross_core.jobs import evaluate

    spec = spec_from_args(evaluate.EvaluateSpec, args)
    result = evaluate.run(spec, terminal_hooks())
    results, report = result.results, result.report
    print(f"{report['split']['protocol']} ranking, {report['split']['test_cases']:,} test users, 95% bootstrap CIs:")
    print(_format_table(results))
    print("\nNDCG@10 by prior items in the history (users):")
    print(_format_breakdown(results))
    for key, tests in report["comparisons"].items():
        t = tests["ndcg@10"]
        print(
            f"{key}: ndcg@10 difference {t['difference']['mean']:+.4f} "
            f"[{t['difference']['low']:+.4f}, {t['difference']['high']:+.4f}], p = {t['p_value']:.4f}"
        )
    print(f"metrics written to {spec.out}")
    return EXIT_OK


def _validation_summary(report: FitReport) -> str:
    """The kept weights' validation NDCG@10 and which epoch they come from."""
    best = report.best_valid_ndcg10
    if best is None:
        return "no validation users"
    return f"kept validation NDCG@10 {best:.4f} ({report.kept()})"


def cmd_train_adapter(args: argparse.Namespace) -> int:
    """`xcross train-adapter`: train and save a domain adapter."""
    from xcross_core.jobs import train_adapter

    spec = spec_from_args(train_adapter.TrainAdapterSpec, args)
    try:
        meta = train_adapter.run(spec, terminal_hooks()).metadata
    except KeyboardInterrupt:
        print(f"cancelled: nothing was written to {spec.out}", file=sys.stderr)
        return EXIT_CANCELLED
    print(
        f"adapter for {meta.domain} saved to {spec.out}: {meta.trainable_parameters:,} trainable parameters, "
        f"{_validation_summary(FitReport(**meta.fit))}, "
        f"{meta.fit['sequences_per_second']:.1f} training sequences/s"
    )
    if kept_start(meta.fit):
        print(
            "note: no epoch ranked better than the untrained model on the validation users, so the saved adapter is "
            "the untrained model; try more training users or epochs, or another learning rate",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_train_xcross(args: argparse.Namespace) -> int:
    """`xcross train-xcross`: train and save an X-Cross run."""
    from xcross_core.jobs import train_xcross

    spec = spec_from_args(train_xcross.TrainXCrossSpec, args)
    try:
        result = train_xcross.run(spec, terminal_hooks())
    except KeyboardInterrupt:
        print(f"cancelled: nothing was written to {spec.out}", file=sys.stderr)
        return EXIT_CANCELLED
    model = result.model
    print(
        f"X-Cross run for {model.domain.name} from {', '.join(model.sources)} saved to {spec.out}: "
        f"{model.trainable_parameters:,} trainable parameters, {_validation_summary(result.fit)}"
    )
    return EXIT_OK


def cmd_weights(args: argparse.Namespace) -> int:
    """`xcross weights`: write a run's per-user, per-layer source weights."""
    from xcross_core.jobs import weights
    from xcross_core.jobs.verdicts import kept_start, weights_finding
    from xcross_core.models.xcross_run import read_run_config

    spec = spec_from_args(weights.WeightsSpec, args)
    table = weights.run(spec, terminal_hooks())
    users = table["user_id"].nunique()
    print(f"wrote {len(table):,} weights ({users:,} users of {spec.domain}) to {spec.out}")
    print(weights_finding(table, kept_start(read_run_config(spec.run).get("fit") or {}))["text"])
    return EXIT_OK


def cmd_study(args: argparse.Namespace) -> int:
    """`xcross study`: run the data-efficiency study and print its table and catch-up point."""
    from xcross_core.jobs import study

    spec = spec_from_args(study.StudySpec, args)
    result = study.run(spec, terminal_hooks())
    columns = ["fraction", "model", "train_users", "trainable_parameters", "ndcg@10", "ndcg@10_low", "ndcg@10_high"]
    print(result.table[columns].to_string(index=False, float_format="%.4f"))
    caught = result.catch_up
    print(
        "LoRA is significantly worse than X-Cross at every fraction studied"
        if caught is None
        else f"LoRA is no longer significantly worse than X-Cross from {caught:.0%} of the training users on"
    )
    print(f"results written to {spec.out / 'study.json'} and {spec.out / 'study.csv'}")
    return EXIT_OK


def cmd_poc(args: argparse.Namespace) -> int:
    """`xcross poc`: run a proof of concept and print its table, answer and verdicts."""
    from xcross_core.jobs import poc

    spec = spec_from_args(poc.PocSpec, args)
    try:
        report = poc.run(spec, terminal_hooks())
    except KeyboardInterrupt:
        print(f"cancelled: nothing was written to {spec.out}", file=sys.stderr)
        return EXIT_CANCELLED
    _, table, _ = poc.read_poc(spec.out)
    shown = ["model", "trainable_parameters", "hit@10", "hit@10_low", "hit@10_high", "ndcg@10", "ndcg@10_low"]
    print(
        f"{report['target']} from {', '.join(report['sources'])}: {report['split']['test_cases']:,} test users, "
        "full-catalogue ranking, 95% bootstrap CIs"
    )
    if report["split"].get("note"):  # fewer test users than --test-users asked for, and why
        print(report["split"]["note"])
    print(table[[*shown, "ndcg@10_high"]].to_string(index=False, float_format="%.4f"))
    print(report["answer"]["text"])
    for test in report["comparisons_vs_reference"].values():
        print(f"- {test['verdict']}")
    print(report["weights"]["text"])
    seconds, estimated = report["seconds"], report["estimated_seconds"]
    print(f"finished in {seconds:.0f} s (estimated {estimated:.0f} s); results in {spec.out}")
    return EXIT_OK
