"""Job specifications: frozen dataclasses that check themselves, read from dicts, and carry their own help.

Every job of this package is described by a spec: a frozen, keyword-only dataclass derived from `Spec`. Its
fields are declared with `option(help, default, ...)`; the help text is the field's `metadata["help"]`, so the
CLI's --help and the studio's labels show the same words. Declared rules (`minimum`, `positive`, `bounds`,
`choices`) are checked for every field; a spec adds its cross-field checks (and those that read files) in
`check`.

Building a spec normalises and checks the type of every field (a path may come as text, a tuple as a list,
a float as an int), so parameters read back from JSON (`from_dict`, which also refuses unknown and missing
keys) and a spec built in code (the CLI, a bench, a test) are checked alike. Problems raise `SpecError`.
"""

from __future__ import annotations

import functools
import math
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Self

from xcross_core.paths import portable, resolve


class SpecError(ValueError):
    """A setting of a job that cannot be used; `field` names it (None when the problem is not one field's)."""

    def __init__(self, field: str | None, problem: str) -> None:
        super().__init__(f"{field} {problem}" if field else problem)
        self.field, self.problem = field, problem


def option(
    help: str | Callable[[], str], default: Any = MISSING, *, factory: Callable[[], Any] | Any = MISSING, **rules: Any
) -> Any:
    """A spec field with its help text, its default (or a default `factory`), and rules checked on every spec.

    Rules: `minimum` and `maximum` (inclusive), `positive` (above 0), `bounds` (an interval such as "(0, 1]"),
    `choices` (the allowed values; for a tuple, of each item). A number must be finite (no nan or inf) whatever
    the rules. For the CLI: `flag` (the option's name when it is not the
    field's), `metavar`, and `required` (the CLI asks for it although the spec can do without, e.g. an output).
    """
    return field(default=default, default_factory=factory, metadata={"help": help, **rules})


def help_text(f: Field[Any]) -> str:
    """Field `f`'s help text. A help given as a function is read now, so a text that lists what is registered (the
    models) lists what was registered after the spec was defined too."""
    text = f.metadata.get("help", "")
    return text() if callable(text) else text


@dataclass(frozen=True, kw_only=True)
class Spec:
    """Base of every job's spec: type normalisation, the declared rules, `check`, dict conversion and help."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in fields(self):
            value = _coerce(f.name, getattr(self, f.name), hints[f.name])
            _check_rules(f, value)
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Checks across fields, and those that read files; a spec that adds some calls `super().check()` first."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], root: str | os.PathLike[str] | None = None) -> Self:
        """The spec of `data` (e.g. parameters stored as JSON); relative paths are taken from `root` when given.

        Raises SpecError naming unknown or missing keys, and any setting of the wrong type or out of range.
        """
        if not isinstance(data, Mapping):
            raise SpecError(None, f"settings must be a mapping of names to values, not {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise SpecError(None, f"unknown settings {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
        missing = [name for name, f in known.items() if name not in data and _required(f)]
        if missing:
            raise SpecError(None, f"missing settings {', '.join(map(repr, missing))}")
        return cls(**(dict(data) if root is None else cls.resolve_paths(data, root)))

    @classmethod
    def resolve_paths(cls, data: Mapping[str, Any], root: str | os.PathLike[str]) -> dict[str, Any]:
        """`data` with the paths among its settings (those of path fields) taken from `root`, as absolute text."""
        hints = _hints(cls)
        return {
            name: _resolved(value, root) if name in hints and _is_path_hint(hints[name]) else value
            for name, value in data.items()
        }

    def to_dict(self, relative_to: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """JSON-ready settings: paths as text (relative to `relative_to` when given), tuples as lists."""
        return {f.name: _plain(getattr(self, f.name), relative_to) for f in fields(self)}

    @classmethod
    def help_for(cls, name: str) -> str:
        """The help text of field `name` (what the CLI's --help and the studio show)."""
        for f in fields(cls):
            if f.name == name:
                return help_text(f)
        raise KeyError(f"{cls.__name__} has no field {name!r}")


def field_hint(spec: type[Spec], name: str) -> Any:
    """The resolved type annotation of field `name`."""
    return _hints(spec)[name]


def unwrap_optional(hint: Any) -> Any:
    """`X` of `X | None`; any other hint unchanged."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


# -- types and rules ---------------------------------------------------------------------------------------


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _required(f: Field[Any]) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _is_path_hint(hint: Any) -> bool:
    hint = unwrap_optional(hint)
    if typing.get_origin(hint) is tuple:
        hint = unwrap_optional(typing.get_args(hint)[0])
    return hint is Path


def _resolved(value: Any, root: str | os.PathLike[str]) -> Any:
    if isinstance(value, str | os.PathLike) and str(value):
        return str(resolve(value, root))
    if isinstance(value, list | tuple):
        return [_resolved(v, root) for v in value]
    return value  # None, or a wrong type that the type check names


def _plain(value: Any, relative_to: str | os.PathLike[str] | None) -> Any:
    if isinstance(value, Path):
        return str(value) if relative_to is None else portable(value, relative_to)
    if isinstance(value, tuple | list):
        return [_plain(v, relative_to) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, relative_to) for k, v in value.items()}
    return value


def _describe(hint: Any) -> str:
    hint = unwrap_optional(hint)
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(hint)))
    if origin is tuple:
        item = _describe(typing.get_args(hint)[0])
        return f"a list of {item.removeprefix('a ')}" + ("" if item == "text" else "s")
    if origin is dict:
        return "a mapping of text to text"
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "text", Path: "a path"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """`value` as the type `hint` names (text to Path, list to tuple, int to float); SpecError if it is not one."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _coerce(name, value, unwrap_optional(hint))
    wrong = SpecError(name, f"must be {_describe(hint)}, not {type(value).__name__} {value!r}")
    if origin is Literal:
        if value not in args:
            raise wrong
        return value
    if origin is tuple:
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            raise wrong
        return tuple(_coerce(name, v, args[0]) for v in value)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise wrong
        return {_coerce(name, k, args[0]): _coerce(name, v, args[1]) for k, v in value.items()}
    if hint is Path:
        if not isinstance(value, str | os.PathLike) or not str(value):
            raise wrong
        return Path(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        return float(value)
    if hint is int and isinstance(value, bool):
        raise wrong
    if hint in (int, str, bool) and not isinstance(value, hint):
        raise wrong
    return value


def _within(value: float, bounds: str) -> bool:
    """Whether `value` lies in the interval written as `bounds`, e.g. "(0, 1]" or "[0, inf)"."""
    low, high = (float(part) for part in bounds[1:-1].split(","))
    above = value >= low if bounds[0] == "[" else value > low
    below = value <= high if bounds[-1] == "]" else value < high
    return above and below


def _check_rules(f: Field[Any], value: Any) -> None:
    rules = f.metadata
    if value is None:
        return
    items = value if isinstance(value, tuple) else (value,)
    choices = rules.get("choices")
    if choices is not None:
        unknown = [v for v in items if v not in choices]
        if unknown and isinstance(value, tuple):
            raise SpecError(f.name, f"names unknown choices {unknown}; choose from {', '.join(choices)}")
        if unknown:
            raise SpecError(f.name, f"must be one of {', '.join(choices)}, not {value!r}")
    for v in items:
        if isinstance(v, float) and not math.isfinite(v):
            raise SpecError(f.name, f"must be a finite number, not {v}")
        if "minimum" in rules and v < rules["minimum"]:
            raise SpecError(f.name, f"must be at least {rules['minimum']}, not {v}")
        if "maximum" in rules and v > rules["maximum"]:
            raise SpecError(f.name, f"must be at most {rules['maximum']:,}, not {v:,}")
        if rules.get("positive") and not v > 0:
            raise SpecError(f.name, f"must be above 0, not {v}")
        if "bounds" in rules and not _within(v, rules["bounds"]):
            raise SpecError(f.name, f"must be in {rules['bounds']}, not {v}")
