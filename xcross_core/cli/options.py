"""A job's spec as command-line options, and back: the CLI's options, types, choices and help come from the spec.

Every field of a spec becomes one option (`--field-name`, or the flag its metadata names) or, when the
command lists it, a positional argument. The help is the field's own help text, so the CLI and the studio say
the same; the type, choices (from a `Literal` or the field's `choices`), repetition (tuples) and requiredness
come from the field. `spec_from_args` turns the parsed namespace back into the spec, which checks itself.
"""

from __future__ import annotations

import argparse
import typing
from collections.abc import Sequence
from dataclasses import MISSING, Field, fields
from pathlib import Path
from typing import Any, Literal

from xcross_core.data.advice import Hint, Wording, message_of
from xcross_core.data.load import ColumnMap
from xcross_core.jobs.spec import Spec, SpecError, field_hint, help_text, unwrap_optional


def add_command(
    sub: Any, name: str, spec: type[Spec], summary: str, positional: Sequence[str] = ("interactions",)
) -> argparse.ArgumentParser:
    """A subcommand `name` whose arguments are `spec`'s fields (`positional` ones in that order, first);
    `summary` is its line in the command list, the spec's docstring its description."""
    description = (spec.__doc__ or "").strip().splitlines()[0]
    parser = sub.add_parser(name, help=summary, description=description)
    by_name = {f.name: f for f in fields(spec)}
    for field_name in positional:
        _add(parser, spec, by_name[field_name], positional=True)
    for f in _own_fields_first(spec):
        if f.name not in positional:
            _add(parser, spec, f, positional=False)
    parser.set_defaults(spec=spec, positional=tuple(positional))
    return parser


def spec_from_args(spec: type[Spec], args: argparse.Namespace) -> Spec:
    """The spec of the parsed `args` (its fields only); raises SpecError, or DataError for a bad column pair."""
    values = {}
    for f in fields(spec):
        value = getattr(args, f.name)
        if typing.get_origin(unwrap_optional(field_hint(spec, f.name))) is dict:
            value = {ours: theirs for theirs, ours in ColumnMap.parse(value).renames().items()}
        values[f.name] = value
    return spec(**values)


def describe(err: Exception, spec: type[Spec], positional: Sequence[str]) -> str:
    """`err` (a SpecError, or a library error carrying a `Message`) in the CLI's words: each setting named as the
    option (or positional argument) that sets it."""
    message = message_of(err)
    if not isinstance(err, SpecError):
        return message.worded(cli_words(spec)) if message is not None else str(err)
    problem = message.worded(cli_words(spec)) if message is not None else err.problem
    by_name = {f.name: f for f in fields(spec)}
    if err.field is None:
        return problem
    if err.field not in by_name or err.field in positional:
        return f"{err.field} {problem}"
    return f"{_flag(by_name[err.field])} {problem}"


def cli_words(spec: type[Spec]) -> Wording:
    """How the command line names a message's settings (`Hint`s): as the options of `spec`'s command, with their
    values; a setting the command does not have is left out."""
    by_name = {f.name: f for f in fields(spec)}

    def words(hint: Hint) -> str | None:
        if hint.option not in by_name:
            return None
        flag = _flag(by_name[hint.option])
        kind = unwrap_optional(field_hint(spec, hint.option))
        if kind is bool or not hint.values:  # a switch takes no value
            return flag
        if hint.role == "given":
            return f"{flag} {' '.join(hint.values)}"
        if typing.get_origin(kind) is dict:  # the column map: THEIRS=OURS pairs, given together
            pairs = " ".join(f"{flag} {value}" for value in hint.values)
            return f"{flag} theirs=ours ({'e.g.' if hint.role == 'example' else 'perhaps'} {pairs})"
        return f"{flag} {hint.values[0]}" + "".join(f" (or {value})" for value in hint.values[1:])

    return words


def _own_fields_first(spec: type[Spec]) -> list[Field[Any]]:
    """The spec's fields, those it declares itself first, then its bases' in method resolution order."""

    def declared_at(f: Field[Any]) -> int:
        return next(i for i, cls in enumerate(spec.__mro__) if f.name in vars(cls).get("__annotations__", {}))

    return sorted(fields(spec), key=declared_at)


def _flag(f: Field[Any]) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _default(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not MISSING else None


def _help(f: Field[Any], default: Any, shown: bool) -> str:
    text = help_text(f)
    if shown and default not in (None, False, (), {}):
        value = " ".join(map(str, default)) if isinstance(default, tuple) else default
        text += f" (default: {value})"
    return text.replace("%", "%%")  # argparse formats help with %


def _add(parser: argparse.ArgumentParser, spec: type[Spec], f: Field[Any], positional: bool) -> None:
    hint = unwrap_optional(field_hint(spec, f.name))
    origin = typing.get_origin(hint)
    default = _default(f)
    required = positional or (f.default is MISSING and f.default_factory is MISSING) or f.metadata.get("required")
    kwargs: dict[str, Any] = {"help": _help(f, default, not required)}
    if f.metadata.get("metavar"):
        kwargs["metavar"] = f.metadata["metavar"]
    if hint is bool:
        parser.add_argument(_flag(f), dest=f.name, action="store_true", help=kwargs["help"])
        return
    if origin is dict:  # the column map: repeated THEIRS=OURS pairs
        kwargs["help"] += "; repeatable"
        parser.add_argument(_flag(f), dest=f.name, action="append", default=[], **kwargs)
        return
    item = typing.get_args(hint)[0] if origin is tuple else hint
    if origin is tuple:
        kwargs["nargs"] = "*" if isinstance(f.default, tuple) else "+"
    if typing.get_origin(item) is Literal:
        kwargs["choices"] = typing.get_args(item)
    elif f.metadata.get("choices"):
        kwargs["choices"] = f.metadata["choices"]
    kwargs["type"] = {Path: Path, int: int, float: float}.get(item, str)
    if positional:
        parser.add_argument(f.name, **kwargs)
        return
    if isinstance(default, tuple):
        default = list(default)
    parser.add_argument(_flag(f), dest=f.name, required=bool(required), default=default, **kwargs)
