"""A streaming pass over a CSV/TSV file before it is read: its header, each record's number of fields, and the
problems that stop it being read at all, found while holding one record at a time.

The file is tokenised by the `csv` module (its C reader, run by C-level iteration), which splits records the way
pandas' C parser does: at a line feed, a carriage return or both, outside double quotes. It is strict about
quotes, so a quote left open, or text after a closing quote, is named with its data row, and it refuses a value
longer than `max_field_chars` once that many characters are read, so one huge value costs no more memory than
the limit. Blank lines (empty, or spaces and tabs only) count for `fields` as 0 fields, as they are no data rows.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from xcross_core.data.advice import Hint
from xcross_core.data.report import DataError

#: The advice for a value over the length limit, when it is meant to be that long.
LONGER_VALUES = Hint("max_field_chars", "; if it is meant to be this long, raise the limit with {}")

_BATCH = 1 << 16  # records per step, between which the row limit is checked
_C_LONG_MAX = 2**31 - 1  # the largest field size limit `csv` takes on every platform
# `csv.field_size_limit` is one setting for the whole process: a scan holds it while it runs.
_LIMIT_LOCK = threading.Lock()


@dataclass(frozen=True)
class CsvScan:
    """What a scan found: the header as written, blank lines before it, and each later record's field count."""

    header: list[str]
    leading: int  # blank records before the header
    fields: np.ndarray  # int64, one per record after the header; 0 for a blank line


def scan_csv(path: Path, separator: str, codec: str, *, stop_after: int | None, max_field_chars: int | None) -> CsvScan:
    """Scan `path`, text in `codec` (see the module docstring), stopping once past `stop_after` data rows.

    Raises DataError for a file of blank lines, a value longer than `max_field_chars` (None: no limit), and
    quotes that are never closed or are followed by more text; UnicodeDecodeError when the text cannot be
    decoded (the caller names the bad byte).
    """
    name = path.name
    header: list[str] | None = None
    leading, rows, done, fields = 0, 0, 0, []
    with _field_size_limit(max_field_chars), path.open(encoding=codec, newline="") as f:
        records = csv.reader(f, delimiter=separator, strict=True)
        try:
            for record in records:  # blank lines up to the header
                if _width(record):
                    header = record
                    break
                leading += 1
            # One step per batch of records: `extend` keeps what was read before an error, which gives its row.
            while stop_after is None or rows <= stop_after:
                done = len(fields)
                fields.extend(islice(map(_width, records), _BATCH))
                if len(fields) == done:
                    break
                rows += sum(map(bool, fields[done:]))
        except csv.Error as exc:
            row = None if header is None else rows + sum(map(bool, fields[done:])) + 1
            raise _malformed(name, row, str(exc), separator, max_field_chars) from None
    if header is None:
        raise DataError(f"{name} is empty (it holds only whitespace)", file=name)
    header[0] = header[0].removeprefix("\ufeff")  # a byte-order mark that an explicit encoding left in place
    return CsvScan(header, leading, np.asarray(fields, dtype=np.int64))


def _width(record: list[str]) -> int:
    """A record's number of fields, 0 for a blank line (pandas skips a line of spaces and tabs, not `""`)."""
    if len(record) == 1 and record[0] and not record[0].strip(" \t"):
        return 0
    return len(record)


def _malformed(name: str, row: int | None, problem: str, separator: str, max_field_chars: int | None) -> DataError:
    """The user's words for the `csv` module's error `problem` at data row `row` (None: in the header)."""
    where, rows = ("the header", []) if row is None else (f"data row {row}", [row])
    kind, mark = ("TSV", "tab") if separator == "\t" else ("CSV", "comma")
    if problem.startswith("field larger than field limit"):
        return DataError(
            f"{name} {where} holds a value longer than {max_field_chars:,} characters, the limit (perhaps a double "
            "quote that is never closed)",
            LONGER_VALUES,
            file=name,
            rows=rows,
        )
    if problem == "unexpected end of data":
        cause = "a quoted value that starts there is never closed"
    else:  # "',' expected after '"'": text between a closing quote and the next separator
        cause = f"a quoted value is followed by more text before the next {mark}"
    return DataError(
        f"{name} is not a well-formed {kind} file: {where}: {cause}. A value that contains a {mark}, a double "
        'quote or a line break must be in double quotes, and a double quote inside it written twice ("").',
        file=name,
        rows=rows,
    )


def too_many_rows(name: str, rows: str, max_rows: int) -> DataError:
    """The error for a file with more data rows than the limit: `rows` says how many (or "more than ...")."""
    return DataError(
        f"{name} has {rows} data rows, over the limit of {max_rows:,}: reading it could exhaust memory. "
        "Use a sample of it",
        Hint("max_rows", ", or raise the limit with {} if this machine has the memory"),
        ".",
        file=name,
    )


@contextmanager
def _field_size_limit(limit: int | None) -> Iterator[None]:
    """The `csv` module's field size limit set to `limit` (None: the largest it takes) while the block runs."""
    with _LIMIT_LOCK:
        previous = csv.field_size_limit(_C_LONG_MAX if limit is None else min(limit, _C_LONG_MAX))
        try:
            yield
        finally:
            csv.field_size_limit(previous)
