"""Several files of one kind, one per product category, merged into one file of several domains.

A shop often exports a file per category (beauty.csv, toys.csv). `merge_files` reads each as text (as the loader
does, so a title "NA" or an id "0012" stays what it is), checks that they fit together, and writes them one after
the other, in the order given, as one CSV file that `load_interactions` then validates like any other. Each row's
domain is its file's domain column where the files have one, otherwise the file's name (beauty.csv -> "beauty").

Nothing is dropped, nor guessed, silently: files that do not fit together are refused with a `DataError` naming
the file and the reason. That is a file that cannot be read, two files of the same name, files that do not have
the same columns, a file with a domain column beside one without, two files whose names give the same domain,
and a file with rows whose fields cannot be told apart (their values could land in the wrong columns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xcross_core.data.load import ColumnMap
from xcross_core.data.output import atomic_file
from xcross_core.data.read import MAX_FIELD_CHARS, MAX_ROWS, Table, read_table
from xcross_core.data.report import DataError, format_rows


@dataclass(frozen=True)
class MergedFile:
    """Where one input file's rows are in the merged file, and where their domain came from."""

    file: str
    rows: int
    first_row: int  # the merged file's data row (1-based) of this file's first row
    named_domain: str | None  # the domain its name gives; None when its own column gives each row's


@dataclass(frozen=True)
class Merged:
    """The merged file and, in its order, the files it was made of."""

    path: Path
    files: tuple[MergedFile, ...]


def merge_files(
    paths: Sequence[str | Path],
    out: str | Path,
    *,
    names: Sequence[str] | None = None,
    columns: ColumnMap = ColumnMap(),  # noqa: B008 (frozen, so a shared default is safe)
    domains_from_names: bool = True,
    encoding: str | None = None,
    max_bytes: int | None = None,
    max_rows: int | None = MAX_ROWS,
    max_field_chars: int | None = MAX_FIELD_CHARS,
) -> Merged:
    """Merge `paths` (CSV, TSV, Parquet or JSON Lines) into one CSV file `out`, written whole or not at all.

    Args:
        paths: the files, each read as `load_interactions` reads one (the same limits apply to each).
        out: the merged file; missing parent folders are created, an existing file is replaced.
        names: the files' names as the user knows them, for messages and domains (e.g. those of uploads, which
            may be saved under other names); default: their own.
        columns: the files' names for our columns; only the domain's is looked at here (the rest stay as they
            are, for the loader to map).
        domains_from_names: when the files have no domain column, add one holding each file's name without its
            extension. False (e.g. for item files, whose domain is optional): leave them without one.
        encoding, max_bytes, max_rows, max_field_chars: as for `load_interactions`, per file.

    Raises:
        DataError: naming the file and the reason, when one cannot be read or the files do not fit together
            (see the module docstring).
    """
    names = [Path(path).name for path in paths] if names is None else list(names)
    if len(names) != len(paths):
        raise ValueError(f"{len(paths)} files but {len(names)} names")
    if not names:
        raise DataError("there are no files to merge")
    if repeat := _first_repeat(names):
        later, earlier = names[repeat[1]], names[repeat[0]]
        same = "is given twice" if later == earlier else f"and {earlier} differ only in case"
        raise DataError(f"{later} {same}: give each file once, under a name of its own", file=later)
    tables = [
        _read(Path(path), name, encoding, max_bytes, max_rows, max_field_chars)
        for path, name in zip(paths, names, strict=True)
    ]
    frames = [table.frame for table in tables]
    _refuse_other_columns(names, frames, columns.domain)
    named: list[str | None] = [None] * len(names)
    if domains_from_names and columns.domain not in frames[0].columns:
        named = [Path(name).stem for name in names]
        if repeat := _first_repeat(named):
            later, earlier = names[repeat[1]], names[repeat[0]]
            raise DataError(
                f"{later} and {earlier} would both be domain {named[repeat[1]]!r} (from their names): rename one, or "
                "give every file a domain column",
                file=later,
            )
        frames = [frame.assign(**{columns.domain: domain}) for frame, domain in zip(frames, named, strict=True)]
    merged = pd.concat(frames, ignore_index=True)
    with atomic_file(out) as tmp:
        merged.to_csv(tmp, index=False, encoding="utf-8")
    starts = np.cumsum([1] + [len(frame) for frame in frames[:-1]])
    files = tuple(
        MergedFile(name, len(frame), int(start), domain)
        for name, frame, start, domain in zip(names, frames, starts, named, strict=True)
    )
    return Merged(Path(out), files)


def _read(
    path: Path, name: str, encoding: str | None, max_bytes: int | None, max_rows: int | None, max_chars: int | None
) -> Table:
    """File `path` (called `name` in messages) as text; refused when it cannot be read whole or has rows whose
    fields cannot be told apart."""
    try:
        table = read_table(path, encoding=encoding, max_bytes=max_bytes, max_rows=max_rows, max_field_chars=max_chars)
    except OSError as err:  # the loader's own checks raise DataError; the file system's errors are said alike
        raise DataError(f"{name} cannot be read: {err.strerror or err}", file=name) from err
    except DataError as err:
        if name == path.name:
            raise
        # The reader names the file it read; the user knows it by another name (e.g. an upload saved as x-2.csv).
        raise DataError(f"{name} (saved as {path.name}): ", *err.message.parts, file=name, rows=err.rows) from err
    bad = np.flatnonzero(table.check != "")
    if len(bad):
        rows = table.rows[bad]
        raise DataError(
            f"{name} {format_rows(rows)}: {table.reason[bad[0]]}; its fields cannot be told apart, so it cannot be "
            "merged as it is: fix those rows, or load the file on its own to see every problem",
            file=name,
            rows=rows,
        )
    return table


def _first_repeat(keys: list[str]) -> tuple[int, int] | None:
    """(first, later): the positions of the first key given again, compared without case (as many file systems
    and shop exports do); None when every key is its own."""
    seen: dict[str, int] = {}
    for i, key in enumerate(keys):
        first = seen.setdefault(key.casefold(), i)
        if first != i:
            return first, i
    return None


def _refuse_other_columns(names: list[str], frames: list[pd.DataFrame], domain: str) -> None:
    """Refuse files that do not have the same columns, or that are not all with or all without a domain column."""
    with_domain = [name for name, frame in zip(names, frames, strict=True) if domain in frame.columns]
    if with_domain and len(with_domain) < len(names):
        without = next(name for name in names if name not in with_domain)
        raise DataError(
            f"{without} has no {domain!r} column, but {with_domain[0]} has one: give every file a domain column, or "
            "none (each file's domain then comes from its name)",
            file=without,
        )
    every = dict.fromkeys(column for frame in frames for column in frame.columns if column != domain)
    for name, frame in zip(names, frames, strict=True):
        missing = [column for column in every if column not in frame.columns]
        if missing:
            holder = next(n for n, f in zip(names, frames, strict=True) if missing[0] in f.columns)
            raise DataError(
                f"{name} lacks column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}, which "
                f"{holder} has: the files must have the same columns (add them, or remove them from the others)",
                file=name,
            )
