"""The `xcross` command: the library's jobs for scripts and batch jobs, and the studio's launcher.

Each job subcommand's arguments are its job's spec (see `options.py`): the same settings, checks and help text
as the studio. Every subcommand loads and validates its input the same way; rows with errors in the domain a job
works on (or whose domain cannot be told) stop it with exit status 2 and a message naming the rows, unless
`--drop-invalid` accepts dropping them (one line then says what was dropped; `--dropped-out` writes them out);
rows with errors in other domains are not used, and a warning names them. Any other bad input is one
"error: ..." line on stderr, exit 2;
a result that could not be written, or an unexpected failure, is one "error: ..." line with exit status 1.

Importing this package is cheap: only the chosen subcommand's job (and with it pandas, torch, transformers) is
imported, so `xcross --help` and `xcross --version` answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from xcross_core.cli.status import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_FAILED


@dataclass(frozen=True)
class Command:
    """A job subcommand: its job module in `xcross_core.jobs`, its spec class, its positional fields, and the
    one-line summary `xcross --help` shows (the spec's docstring's first line; a test keeps them equal)."""

    module: str
    spec: str
    positional: tuple[str, ...]
    summary: str


COMMANDS = {
    "validate": Command("validate", "ValidateSpec", ("interactions",), "check a purchase log and print its report"),
    "recommend": Command(
        "recommend", "RecommendSpec", ("model", "interactions"), "top-K items of a domain for each of its users"
    ),
    "evaluate": Command(
        "evaluate", "EvaluateSpec", ("model", "interactions"), "train and evaluate models on one split of a domain"
    ),
    "train-adapter": Command(
        "train_adapter", "TrainAdapterSpec", ("interactions",), "train a LoRA adapter on one domain"
    ),
    "train-xcross": Command(
        "train_xcross", "TrainXCrossSpec", ("interactions",), "integrate source adapters for a target domain (X-Cross)"
    ),
    "weights": Command(
        "weights", "WeightsSpec", ("run", "interactions"), "export per-user, per-layer source weights of a run"
    ),
    "poc": Command(
        "poc", "PocSpec", ("interactions",), "proof of concept: X-Cross on a small target budget against baselines"
    ),
    "study": Command(
        "study", "StudySpec", ("interactions",), "data efficiency: X-Cross vs target LoRA at several budgets"
    ),
}
STUDIO_SUMMARY = "open the studio in the browser, on this machine only"


class Parser(argparse.ArgumentParser):
    """argparse with the command's one error style: one "error: ..." line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser(commands: Iterable[str] = (*COMMANDS, "studio")) -> argparse.ArgumentParser:
    """The `xcross` parser. Every subcommand is listed; only those in `commands` get their arguments (building
    a job's arguments imports its job), so `main` builds just the one it runs."""
    parser = Parser(prog="xcross", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"xcross {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = set(commands)
    for name, command in COMMANDS.items():
        if name not in chosen:
            sub.add_parser(name, help=command.summary)
            continue
        from xcross_core.cli.options import add_command

        spec = getattr(importlib.import_module(f"xcross_core.jobs.{command.module}"), command.spec)
        job = add_command(sub, name, spec, command.summary, command.positional)
        job.add_argument("--verbose", action="store_true", help="show third-party warnings, progress and tracebacks")
        if name == "validate":
            job.add_argument("--json", action="store_true", help="print the report as JSON")
    studio = sub.add_parser("studio", help=STUDIO_SUMMARY, description=STUDIO_SUMMARY)
    if "studio" in chosen:
        from xcross_core.cli.studio import add_studio_arguments

        add_studio_arguments(studio)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `xcross ARGV`; returns the exit status (bad input: "error: ..." on stderr, status 2)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_chosen(argv)).parse_args(argv)
    if args.command == "studio":
        from xcross_core.cli.studio import launch

        return launch(args)
    if not args.verbose:
        from xcross_core.cli.noise import quiet_third_party

        quiet_third_party()
    try:
        return _run(args)
    except BrokenPipeError:  # the reader went away (`xcross validate --json | head`): nothing more to write
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that exiting flushes into nothing
        return EXIT_FAILED


def _chosen(argv: list[str]) -> list[str]:
    """The subcommand named in `argv` (its first word that is not an option), as a list; empty when none is."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return [word] if word in COMMANDS or word == "studio" else []


def _run(args: argparse.Namespace) -> int:
    """Run the parsed job subcommand; every failure a user can meet becomes one "error: ..." line."""
    from xcross_core.cli import commands
    from xcross_core.cli.options import describe
    from xcross_core.data.report import DataError
    from xcross_core.jobs.outputs import OutputError
    from xcross_core.jobs.spec import SpecError
    from xcross_core.models.artifacts import ArtifactError
    from xcross_core.models.base import BaseModelError
    from xcross_core.training.events import Cancelled

    handler = getattr(commands, "cmd_" + COMMANDS[args.command].module)
    try:
        return handler(args)
    except (SpecError, DataError, BaseModelError, ArtifactError) as err:
        return _error(describe(err, args.spec, args.positional), EXIT_BAD_INPUT)
    except OutputError as err:
        return _error(str(err), EXIT_FAILED)
    except (KeyboardInterrupt, Cancelled):
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:
        raise
    except MemoryError:
        return _error("out of memory; try a smaller file, --max-users, or a machine with more memory", EXIT_FAILED)
    except OSError as err:
        where = f": {err.filename}" if err.filename else ""
        return _error(f"{err.strerror or err}{where}", EXIT_FAILED)
    except Exception as err:  # a fault of ours: one line, and the traceback with --verbose
        if args.verbose:
            raise
        return _error(f"unexpected {type(err).__name__}: {err} (run again with --verbose for details)", EXIT_FAILED)


def _error(message: str, status: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("xcross-studio")
    except PackageNotFoundError:
        return "(not installed)"
