"""The `xcross` command: the library's jobs for scripts and batch jobs.

Each subcommand's arguments are its job's spec (see `options.py`): the same settings, checks and help text as
the studio. Every subcommand loads and validates its input the same way; a file with invalid rows stops with
exit status 2 and a message naming the rows, unless `--drop-invalid` accepts dropping them (they are then
counted, and written out with `--dropped-out`). Any other bad input is one "error: ..." line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from xcross_core.cli.commands import (
    EXIT_BAD_INPUT,
    cmd_evaluate,
    cmd_poc,
    cmd_recommend,
    cmd_study,
    cmd_train_adapter,
    cmd_train_xcross,
    cmd_validate,
    cmd_weights,
)
from xcross_core.cli.options import add_command, describe
from xcross_core.data.report import DataError
from xcross_core.jobs.evaluate import EvaluateSpec
from xcross_core.jobs.poc import PocSpec
from xcross_core.jobs.recommend import RecommendSpec
from xcross_core.jobs.spec import SpecError
from xcross_core.jobs.study import StudySpec
from xcross_core.jobs.train_adapter import TrainAdapterSpec
from xcross_core.jobs.train_xcross import TrainXCrossSpec
from xcross_core.jobs.validate import ValidateSpec
from xcross_core.jobs.weights import WeightsSpec
from xcross_core.memory import return_freed_memory
from xcross_core.models.base import BaseModelError


def build_parser() -> argparse.ArgumentParser:
    """The `xcross` parser: one subcommand per job, its arguments built from the job's spec."""
    parser = argparse.ArgumentParser(prog="xcross", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    validate = add_command(sub, "validate", ValidateSpec, cmd_validate)
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    add_command(sub, "recommend", RecommendSpec, cmd_recommend, positional=("model", "interactions"))
    add_command(sub, "evaluate", EvaluateSpec, cmd_evaluate, positional=("model", "interactions"))
    add_command(sub, "train-adapter", TrainAdapterSpec, cmd_train_adapter)
    add_command(sub, "train-xcross", TrainXCrossSpec, cmd_train_xcross)
    add_command(sub, "weights", WeightsSpec, cmd_weights, positional=("run", "interactions"))
    add_command(sub, "poc", PocSpec, cmd_poc)
    add_command(sub, "study", StudySpec, cmd_study)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `xcross ARGV`; returns the exit status (bad input: "error: ..." on stderr, status 2)."""
    args = build_parser().parse_args(argv)
    return_freed_memory()
    try:
        return args.handler(args)
    except SpecError as err:
        print(f"error: {describe(err, args.spec, args.positional)}", file=sys.stderr)
    except (DataError, BaseModelError) as err:
        print(f"error: {err}", file=sys.stderr)
    except BrokenPipeError:  # the reader went away (`xcross validate --json | head`): nothing more to write
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that exiting flushes into nothing
        return 1
    return EXIT_BAD_INPUT
