"""Saved artifacts read defensively: JSON files and safetensors headers checked before anything is allocated.

Adapter folders and X-Cross run folders come from disk, and possibly from someone else. What is read here is
checked against what the code will do with it (keys, types, tensor names, dtypes, shapes and byte ranges), so
a malformed or hostile file is refused with one `ArtifactError` that names the file and the problem, before
a tensor is read or a module is built.

A safetensors file is an 8-byte little-endian header length, a JSON header (here at most `MAX_HEADER_BYTES`)
naming each tensor's dtype, shape and byte range, then the data. `tensor_header` reads only the header and
checks that the ranges tile the data section exactly, as the format requires, with the sizes the shapes
imply: a truncated file, an oversized header or a tensor larger than its bytes is refused without reading
any tensor.
"""

from __future__ import annotations

import json
import math
import struct
import types
import typing
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

#: Largest safetensors header read. An adapter's header takes a few KB (about 130 bytes per tensor).
MAX_HEADER_BYTES = 16 * 2**20
#: Largest JSON file read (configs and metadata take a few KB).
MAX_JSON_BYTES = 16 * 2**20
#: Floating-point dtypes a saved weight may have, with their sizes in bytes.
FLOAT_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}

T = TypeVar("T")


class ArtifactError(ValueError):
    """A saved adapter or run file that cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = str(path), problem


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as a safetensors header declares it."""

    dtype: str
    shape: tuple[int, ...]


def read_json(path: str | Path) -> dict[str, Any]:
    """The JSON object in file `path`; ArtifactError naming the file for a missing, oversized or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(path, "no such file")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ArtifactError(path, f"{path.stat().st_size:,} bytes, over the {MAX_JSON_BYTES:,} a config may take")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ArtifactError(path, f"not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise ArtifactError(path, f"malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    except (ValueError, RecursionError) as err:  # e.g. an integer of thousands of digits, or deep nesting
        raise ArtifactError(path, f"malformed JSON: {str(err)[:120]}") from None
    if not isinstance(data, dict):
        raise ArtifactError(path, f"must hold a JSON object, not {type(data).__name__}")
    return data


def tensor_header(path: str | Path) -> dict[str, TensorInfo]:
    """The tensors a safetensors file holds (name -> dtype and shape), from its header alone.

    Raises ArtifactError for a missing file, a header that is oversized or malformed, a dtype that is not
    floating point, or byte ranges that do not tile the file's data section exactly (e.g. a truncated file).
    """
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(path, "no such file")
    size = path.stat().st_size
    with path.open("rb") as file:
        head = file.read(8)
        if len(head) < 8:
            raise ArtifactError(path, f"not a safetensors file ({size} bytes, shorter than its 8-byte header length)")
        (length,) = struct.unpack("<Q", head)
        if length > MAX_HEADER_BYTES:
            raise ArtifactError(path, f"declares a {length:,}-byte header, over the {MAX_HEADER_BYTES:,} allowed")
        if 8 + length > size:
            raise ArtifactError(path, f"truncated: declares a {length:,}-byte header, but {size - 8:,} bytes follow")
        raw = file.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise ArtifactError(path, "not a safetensors file (its header is not valid JSON)") from None
    if not isinstance(header, dict):
        raise ArtifactError(path, "not a safetensors file (its header is not a JSON object)")
    header.pop("__metadata__", None)
    tensors, ranges = {}, []
    for name, entry in header.items():
        tensors[name], span = _tensor_entry(path, name, entry)
        ranges.append((*span, name))
    data_size, end = size - 8 - length, 0
    for begin, stop, name in sorted(ranges):
        if begin != end:
            problem = "overlaps the tensor before it" if begin < end else f"leaves a gap of {begin - end} bytes"
            raise ArtifactError(path, f"tensor {name!r} {problem}")
        end = stop
    if end != data_size:
        state = "truncated" if end > data_size else "corrupt"
        raise ArtifactError(path, f"{state}: its tensors take {end:,} bytes of data, the file holds {data_size:,}")
    return tensors


def _tensor_entry(path: Path, name: str, entry: Any) -> tuple[TensorInfo, tuple[int, int]]:
    """One header entry checked: a float dtype, a shape of non-negative ints, and a byte range of its size."""
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
        raise ArtifactError(path, f"tensor {name!r} has no dtype, shape and data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in FLOAT_DTYPES:
        raise ArtifactError(path, f"tensor {name!r} has dtype {dtype!r}; weights must be one of {sorted(FLOAT_DTYPES)}")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise ArtifactError(path, f"tensor {name!r} has shape {shape!r}, not a list of sizes")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) and o >= 0 for o in offsets)):
        raise ArtifactError(path, f"tensor {name!r} has data_offsets {offsets!r}, not [begin, end]")
    begin, end = offsets
    if end - begin != math.prod(shape) * FLOAT_DTYPES[dtype]:
        raise ArtifactError(path, f"tensor {name!r} of shape {shape} takes {end - begin:,} bytes, not its size")
    return TensorInfo(dtype, tuple(shape)), (begin, end)


def dataclass_from(
    cls: type[T],
    data: Any,
    path: str | Path,
    what: str,
    *,
    positive: tuple[str, ...] = (),
    required: tuple[str, ...] = (),
) -> T:
    """An instance of dataclass `cls` from `data` (a JSON object read from `path`, where it is `what`).

    Refused with ArtifactError: `data` that is not an object, an unknown key, a missing key of `required`
    or without a default, a value of the wrong type (a float field takes an int; numbers must be finite), and
    a field of `positive` that is not above 0. Lists become tuples where the field is a tuple.
    """
    if not isinstance(data, dict):
        raise ArtifactError(path, f"{what} must be a JSON object, not {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ArtifactError(path, f"{what} has unknown keys {', '.join(map(repr, unknown))}")
    missing = [n for n, f in known.items() if n not in data and (n in required or _no_default(f))]
    if missing:
        raise ArtifactError(path, f"{what} is missing {', '.join(map(repr, missing))}")
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if not _fits(value, hint):
            raise ArtifactError(path, f"{what}: {name!r} is {value!r}, not {_describe(hint)}")
        if name in positive and value is not None and not value > 0:
            raise ArtifactError(path, f"{what}: {name!r} is {value!r}; it must be above 0")
        values[name] = _convert(value, hint)
    return cls(**values)


def _no_default(f: Any) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _members(hint: Any) -> tuple[Any, ...]:
    """The types of a union hint (X | None), or the hint alone."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _fits(value: Any, hint: Any) -> bool:
    for member in _members(hint):
        origin = typing.get_origin(member) or member
        if member is type(None) and value is None:
            return True
        if member in (Any, object):
            return True
        if origin is int and _is_int(value):
            return True
        if origin is float and (_is_int(value) or isinstance(value, float)) and math.isfinite(value):
            return True
        if origin in (str, bool, dict) and isinstance(value, origin):
            return True
        if origin in (list, tuple) and isinstance(value, list):
            args = [a for a in typing.get_args(member) if a is not Ellipsis]
            return all(_fits(v, args[0]) for v in value) if args else True
    return False


def _convert(value: Any, hint: Any) -> Any:
    members = _members(hint)
    if isinstance(value, list) and any((typing.get_origin(m) or m) is tuple for m in members):
        return tuple(value)
    if _is_int(value) and float in members and int not in members:
        return float(value)
    return value


def _describe(hint: Any) -> str:
    names = {int: "a whole number", float: "a number", str: "text", bool: "true or false", dict: "a JSON object"}
    parts = []
    for member in _members(hint):
        origin = typing.get_origin(member) or member
        parts.append(
            "null" if member is type(None) else names.get(origin, "a list" if origin in (list, tuple) else str(member))
        )
    return " or ".join(parts)
