"""JSON Lines input: the checks made while streaming the file (its number of records, a value too long), and
parsing it into a frame, refusing any line that is not one flat JSON object (see `read.py`)."""

from __future__ import annotations

import io
import json
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

from xcross_core.data.report import DataError
from xcross_core.data.scan import LONGER_VALUES, too_many_rows

_CHUNK = 1 << 18  # bytes per read when streaming a JSON Lines file
#: A JSON string holds a character in at most 12 bytes (a surrogate pair of \u escapes): a longer run of bytes
#: without a double quote cannot be one value within the limit.
_JSON_BYTES_PER_CHAR = 12


def check_json_lines(path: Path, max_rows: int | None, max_field_chars: int | None) -> None:
    """Refuse a JSON Lines file with more than `max_rows` records, or with a value too long for
    `max_field_chars`, reading 256 KiB at a time.

    Line breaks bound the records from above (blank lines take lines too); only when they exceed the limit are
    the records counted, up to it. A value is taken to be a run of bytes without a double quote or line break (an
    escaped quote splits one, so this misses some; `_refuse_long_values` checks every value once read).
    """
    longest = None if max_field_chars is None else _JSON_BYTES_PER_CHAR * max_field_chars
    lines, offset, last, tail = 0, 0, -1, b""
    with path.open("rb") as f:
        while (chunk := f.read(_CHUNK)) and (max_rows is None or lines <= max_rows):
            if longest is not None:
                end, last = _long_run(chunk, offset, last, longest)
                if end is not None:
                    line = lines + chunk.count(b"\n", 0, end) + 1
                    raise DataError(
                        f"{path.name} line {line} holds a value longer than {max_field_chars:,} characters, the limit",
                        LONGER_VALUES,
                        file=path.name,
                        rows=[line],
                    )
                offset += len(chunk)
            lines += chunk.count(b"\n")
            tail = chunk[-1:]
    lines += tail not in (b"", b"\n")  # a last line without a line break
    if max_rows is None or lines <= max_rows:
        return
    if _count_json_records(path, stop_after=max_rows) > max_rows:
        raise too_many_rows(path.name, f"more than {max_rows:,}", max_rows)


def _long_run(chunk: bytes, offset: int, last: int, longest: int) -> tuple[int | None, int]:
    """Where in `chunk` (starting at byte `offset` of its file) a run of more than `longest` bytes without a
    double quote or line break ends (None: none does), and the file position of the last such mark, given the
    one before the chunk (`last`). A run still open at the chunk's end counts as ending there."""
    buffer = np.frombuffer(chunk, dtype=np.uint8)
    marks = offset + np.flatnonzero((buffer == ord('"')) | (buffer == ord("\n")))
    ends = np.append(marks, offset + len(chunk))
    too_long = np.flatnonzero(np.diff(ends, prepend=last) - 1 > longest)
    end = int(ends[too_long[0]]) - offset if len(too_long) else None
    return end, int(marks[-1]) if len(marks) else last


def _count_json_records(path: Path, stop_after: int) -> int:
    """Non-blank lines of a JSON Lines file, counted while streaming and stopping once there are more than
    `stop_after` (lines are read as bytes: counting needs no decoding)."""
    with path.open("rb") as f:
        return sum(1 for _ in islice((line for line in f if line.strip()), stop_after + 1))


def parse_jsonl(text: str, name: str) -> tuple[pd.DataFrame, np.ndarray]:
    """JSON Lines (one object per line) to a frame as pandas reads it (numbers typed); rows are the objects' line
    numbers. Raises DataError naming the first line that is not one flat JSON object."""
    lines = pd.Series(text.split("\n"), dtype="str").str.strip()
    filled = lines.ne("").to_numpy()
    rows = np.flatnonzero(filled) + 1  # pandas skips blank lines
    # Every line must hold one object: pandas reads a line holding an array or a scalar into odd columns.
    objects = (lines.str.startswith("{") & lines.str.endswith("}")).to_numpy()
    if not objects[filled].all():
        raise DataError(f"{name} is not valid JSON Lines: {_first_bad_json_line(text)}", file=name)
    try:
        frame = pd.read_json(io.StringIO(text), lines=True, dtype=False, **_JSON_OPTIONS)
    except (ValueError, TypeError, RecursionError):  # RecursionError: lists or objects nested thousands deep
        raise DataError(f"{name} is not valid JSON Lines: {_first_bad_json_line(text)}", file=name) from None
    if len(rows) != len(frame) or not all(isinstance(column, str) for column in frame.columns):
        raise DataError(f"{name} is not valid JSON Lines: {_first_bad_json_line(text)}", file=name)
    for column in frame.columns:
        _refuse_nested(frame[column], rows, name)
    return frame, rows.astype(np.int64)


def _refuse_nested(values: pd.Series, rows: np.ndarray, name: str) -> None:
    """Refuse a JSON Lines column holding an object or a list on some line: it has no one text to stand for."""
    if values.dtype != object or pd.api.types.infer_dtype(values, skipna=True) not in ("mixed", "mixed-integer"):
        return  # plain text, numbers or booleans throughout (the common case, checked without a loop)
    nested = values.map(lambda v: isinstance(v, dict | list)).to_numpy(dtype=bool)
    if nested.any():
        first, more = int(np.argmax(nested)), int(nested.sum()) - 1
        kind = "an object" if isinstance(values.iloc[first], dict) else "a list"
        others = f" (and on {more:,} more line{'s' if more > 1 else ''})" if more else ""
        raise DataError(
            f"{name} line {rows[first]}: {values.name!r} holds {kind}{others}; each value must be text, a number "
            "or true/false. Flatten nested values into columns of their own.",
            file=name,
            rows=[rows[first]],
        )


# pandas < 3 turns columns named like "timestamp" into dates unless told not to.
_JSON_OPTIONS = {"convert_dates": False} if int(pd.__version__.split(".")[0]) < 3 else {}


def _first_bad_json_line(text: str) -> str:
    """Where JSON Lines parsing fails. Only called on failure, so a Python loop is fine here."""
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, parse_int=_int64)
        except json.JSONDecodeError as exc:
            return f"line {number}: {exc.msg} (column {exc.colno})"
        except RecursionError:
            return f"line {number} nests lists or objects too deeply to read"
        except OverflowError as exc:
            return f"line {number} holds the number {exc}, too large to read; write it as text, in double quotes"
        if not isinstance(value, dict):
            return f"line {number} is not a JSON object ({type(value).__name__})"
    return "each line must be one JSON object"


def _int64(digits: str) -> int:
    """A JSON integer, as pandas reads it: one beyond 64 bits raises OverflowError (the reader's "Value is too
    big!")."""
    value = int(digits)
    if not -(2**63) <= value < 2**64:
        raise OverflowError(digits)
    return value
