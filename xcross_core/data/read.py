"""Reading a user's file: every column as text, the data-row number of every row, and the rows whose fields
cannot be told apart.

CSV/TSV, Parquet and JSON Lines are read without type guessing, so that a title "NA" or an id "0012"
stays what it is. A file that cannot be read at all raises `DataError` with a message for the user:
the wrong extension, binary or compressed content, a bad encoding (with the line of the first bad
byte), broken CSV quoting (with the data row), invalid JSON Lines (with the line), a header that names a
column twice, a value longer than `max_field_chars`, or values that are not one text, number or date each
(nested JSON, Parquet lists, structs, maps and binary columns), which would otherwise be flattened into text
silently. A CSV row with more or fewer fields than the header, or one that repeats the header, is read but
marked (`Table.check`), so that the loader reports it as a bad row, by its true number, and keeps the rest.

Memory: reading costs far more than a file's bytes (a 27 MB Parquet file can hold 20 million rows), so
the number of data rows is checked against `max_rows` before anything is read: from the Parquet metadata,
by a streaming count of a JSON Lines file's lines (256 KiB at a time, then its records only when the lines
exceed the limit), and by the scan of a CSV/TSV file (`scan.py`), which also refuses a value over the length
limit once it is that long. A JSON Lines file is refused first when a run of its bytes without a double quote
is too long to be a value within the limit; every value is checked exactly once read.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xcross_core.data.encoding import codec_of, decode, decoding_error, file_head, refuse_binary
from xcross_core.data.jsonl import check_json_lines, parse_jsonl
from xcross_core.data.report import DataError
from xcross_core.data.scan import LONGER_VALUES, scan_csv, too_many_rows

#: File extensions we read, and the separator of the text ones (None: JSON Lines).
_TEXT_FORMATS = {".csv": ",", ".tsv": "\t", ".jsonl": None, ".ndjson": None}
SUPPORTED_FORMATS = (".csv", ".tsv", ".parquet", ".jsonl", ".ndjson")

#: Default limit on a file's data rows. Reading and validating alone peaked at about 0.7 GB per million rows
#: (a 500,000-row log of short ids and titles), and the jobs after it need more, so the default keeps a run
#: within a laptop's memory; `--max-rows` (CLI) and `max_rows` (library) change it.
MAX_ROWS = 2_000_000
#: Default limit on one value's length, in characters. Product titles and descriptions are far shorter; a longer
#: value is most often a quote that was never closed, swallowing the rest of the file, and one of 200 MB took
#: ten times that in memory to read. `--max-field-chars` (CLI) and `max_field_chars` (library) change it.
MAX_FIELD_CHARS = 100_000


@dataclass
class Table:
    """A file read as text: every column as strings ("" where missing), each row's 1-based data-row number
    (JSON Lines: its line), and per row a check code and reason where its fields cannot be trusted ("" else)."""

    frame: pd.DataFrame
    rows: np.ndarray
    check: np.ndarray
    reason: np.ndarray

    @classmethod
    def sound(cls, frame: pd.DataFrame, rows: np.ndarray) -> Table:
        """A table none of whose rows is marked."""
        return cls(frame, rows, np.full(len(frame), "", dtype=object), np.full(len(frame), "", dtype=object))


def read_table(
    path: str | Path,
    *,
    encoding: str | None,
    max_bytes: int | None,
    max_rows: int | None = MAX_ROWS,
    max_field_chars: int | None = MAX_FIELD_CHARS,
) -> Table:
    """Every column of a file as text, each row's number, and the rows whose fields cannot be told apart.

    A file with more than `max_rows` data rows, or a value longer than `max_field_chars` characters (None: no
    limit), is refused; when the file is CSV, TSV or JSON Lines, before it is read whole.
    """
    path = Path(path)
    name, suffix = path.name, path.suffix.lower()
    if suffix not in SUPPORTED_FORMATS:
        raise DataError(
            f"{name}: unsupported file type {suffix or '(no extension)'}; supported formats are "
            f"{', '.join(SUPPORTED_FORMATS)} (.tsv is tab-separated; .jsonl/.ndjson hold one JSON object "
            "per line)",
            file=name,
        )
    if not path.is_file():
        raise DataError(f"{name}: no such file ({path})", file=name)
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise DataError(f"{name} is {_size(size)}, over the limit of {_size(max_bytes)}", file=name)
    if size == 0:
        raise DataError(f"{name} is empty (0 bytes)", file=name)
    separator = _TEXT_FORMATS.get(suffix)
    if suffix == ".parquet":
        frame = _read_parquet(path, max_rows)
        table = Table.sound(frame, np.arange(1, len(frame) + 1, dtype=np.int64))
    else:
        if encoding is None:
            refuse_binary(file_head(path), name)
        if separator is None:
            table = _read_jsonl(path, encoding, max_rows, max_field_chars)
        else:
            table = _read_csv(path, separator, encoding, max_rows, max_field_chars)
    frame = table.frame
    if frame.empty:
        header = f" (its header: {', '.join(map(str, frame.columns))})" if len(frame.columns) else ""
        raise DataError(f"{name} has no data rows{header}", file=name)
    if max_field_chars is not None and separator is None:  # the scan of a CSV/TSV file has checked its values
        _refuse_long_values(table, name, "data row" if suffix == ".parquet" else "line", max_field_chars)
    frame.columns = [str(column).strip() for column in frame.columns]
    table.frame = frame.reset_index(drop=True)
    return table


def _refuse_long_values(table: Table, name: str, unit: str, limit: int) -> None:
    """Refuse a value longer than `limit` characters, naming its row and column (one pass per column)."""
    for column in table.frame.columns:
        long = (table.frame[column].str.len() > limit).to_numpy()
        if long.any():
            first = int(np.argmax(long))
            n = len(table.frame[column].iloc[first])
            raise DataError(
                f"{name} {unit} {table.rows[first]}: {str(column).strip()!r} holds {n:,} characters, over the "
                f"limit of {limit:,}",
                LONGER_VALUES,
                file=name,
                rows=[table.rows[first]],
            )


def _refuse_repeated_names(names: list[str], name: str) -> None:
    """Refuse a header that names a column twice: which of the two holds the data cannot be guessed."""
    stripped = [str(column).strip() for column in names]
    repeated = [column for column, n in Counter(stripped).items() if n > 1 and column]
    if repeated:
        first = repeated[0]
        where = [i + 1 for i, column in enumerate(stripped) if column == first]
        more = f" (also {', '.join(map(repr, repeated[1:]))})" if len(repeated) > 1 else ""
        raise DataError(
            f"{name} names column {first!r} more than once (columns {', '.join(map(str, where))}){more}; "
            "give each column its own name, or remove the copies",
            file=name,
        )


def _read_csv(
    path: Path, separator: str, encoding: str | None, max_rows: int | None, max_field_chars: int | None
) -> Table:
    """A CSV/TSV file, scanned first (`scan_csv`), then parsed by pandas with every record kept in place, so
    that each row's number and field count come from the scan."""
    name = path.name
    codec = codec_of(encoding)
    try:
        scan = scan_csv(path, separator, codec, stop_after=max_rows, max_field_chars=max_field_chars)
    except UnicodeDecodeError:
        raise decoding_error(path, encoding) from None
    if max_rows is not None and np.count_nonzero(scan.fields) > max_rows:
        raise too_many_rows(name, f"more than {max_rows:,}", max_rows)
    _refuse_repeated_names(scan.header, name)
    _refuse_other_separator(scan.header, name, separator)
    width = len(scan.header)
    data = path.read_bytes()
    # No header line and every column named (pandas would take a first row with a field more than the header's
    # for an index); blank lines kept, as rows the scan counted; fields past the header's are left unread.
    frame = pd.read_csv(
        io.BytesIO(data),
        sep=separator,
        encoding=codec,
        header=None,
        names=range(width),
        usecols=range(width),
        index_col=False,
        skip_blank_lines=False,
        dtype=str,
        keep_default_na=False,
        na_filter=False,
    ).iloc[scan.leading + 1 :]
    if len(frame) != len(scan.fields):
        raise DataError(f"{name} could not be read: its records were counted differently by two readings", file=name)
    filled = scan.fields > 0
    frame = frame[filled]
    frame.columns = [column if column.strip() else f"Unnamed: {i}" for i, column in enumerate(scan.header)]
    table = Table.sound(frame, np.arange(1, len(frame) + 1, dtype=np.int64))
    # The text is needed only to explain rows with too few fields (a rare case): decoded then, not before.
    text = data.decode(codec) if (scan.fields[filled] < width).any() else ""
    _mark_bad_rows(table, scan.header, scan.fields[filled], text)
    return table


def _refuse_other_separator(header: list[str], name: str, separator: str) -> None:
    """Refuse a header of one column that holds another separator: the file is separated by that one."""
    mark = "a tab" if separator == "\t" else "a comma"
    found = [sep for sep in (";", "\t", ",", "|") if len(header) == 1 and sep != separator and sep in header[0]]
    if found:
        raise DataError(
            f"{name} seems to be separated by {found[0]!r}, not {mark}: its header reads "
            f"{header[0][:80]!r}. Save it with {mark} as separator"
            + (" (or name it .tsv if it is tab-separated)." if found[0] == "\t" else "."),
            file=name,
        )


def _mark_bad_rows(table: Table, header: list[str], fields: np.ndarray, text: str) -> None:
    """Mark rows with another number of fields than the `header` (their values may sit in the wrong columns), and
    rows that repeat it (files joined together). `text` is the file's, for the cause of a split row."""
    width = len(header)
    wrong = fields != width
    if wrong.any():
        counts = pd.Series(fields[wrong]).map("{:,}".format) + np.where(fields[wrong] == 1, " field", " fields")
        reason = counts + f", but the header has {width}"
        # csv and pandas end a line at a carriage return alone as well: one among line feeds splits a row in two.
        if text.count("\r") > text.count("\r\n") and "\n" in text:
            mixed = reason + " (the file mixes line ends: a carriage return alone among line feeds splits a row)"
            reason = reason.where(fields[wrong] > width, mixed)
        table.check[wrong] = "field_count"
        table.reason[wrong] = reason.to_numpy()
    names = [column.replace("\ufeff", "").strip() for column in header]
    first = table.frame.iloc[:, 0].str.replace("\ufeff", "").str.strip().eq(names[0]).to_numpy() & ~wrong
    if first.any():
        candidates = table.frame[first].apply(lambda values: values.str.replace("\ufeff", "").str.strip())
        repeats = np.flatnonzero(first)[(candidates == names).all(axis=1).to_numpy()]
        table.check[repeats] = "repeated_header"
        table.reason[repeats] = "repeats the header (two files joined together?)"


def _read_jsonl(path: Path, encoding: str | None, max_rows: int | None, max_field_chars: int | None) -> Table:
    """A JSON Lines file, its rows and value lengths checked first while streaming (`check_json_lines`)."""
    check_json_lines(path, max_rows, max_field_chars)
    text = decode(path.read_bytes(), path.name, encoding)
    if not text.strip():
        raise DataError(f"{path.name} is empty (it holds only whitespace)", file=path.name)
    frame, rows = parse_jsonl(text, path.name)
    return Table.sound(frame.apply(_as_text), rows)


def _read_parquet(path: Path, max_rows: int | None) -> pd.DataFrame:
    """A Parquet file as a frame of text, its schema and row count checked from the metadata first."""
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(path) as parquet:
            schema, n_rows = parquet.schema_arrow, parquet.metadata.num_rows
            _check_parquet_schema(schema, path.name)
            if max_rows is not None and n_rows > max_rows:
                raise too_many_rows(path.name, f"{n_rows:,}", max_rows)
            frame = parquet.read().to_pandas()
    except DataError:
        raise
    except Exception as exc:  # pyarrow raises many types for a damaged or foreign file
        raise DataError(
            f"{path.name} could not be read as Parquet ({str(exc).splitlines()[0]})", file=path.name
        ) from None
    return frame.apply(_as_text) if len(frame.columns) else frame


def _check_parquet_schema(schema: object, name: str) -> None:
    """Refuse repeated column names, and columns whose values are not one text, number or date each."""
    import pyarrow as pa

    _refuse_repeated_names(list(schema.names), name)
    for field in schema:
        kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        if pa.types.is_struct(kind) or pa.types.is_map(kind) or pa.types.is_union(kind):
            held = "records"
        elif pa.types.is_nested(kind):
            held = "lists"
        elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
            held = "binary data"
        else:
            continue
        raise DataError(
            f"{name}: column {field.name!r} holds {held} (Parquet type {kind}); each value must be one text, "
            "number or date. Flatten it into columns of their own, or drop it before saving.",
            file=name,
        )


def _as_text(values: pd.Series) -> pd.Series:
    """A typed column (Parquet, JSON) as strings, "" where missing; whole floats lose their ".0"."""
    if values.dtype.kind == "f":
        finite = values.dropna()
        if (finite == np.floor(finite)).all() and (finite.abs() < 2**53).all():
            values = values.astype("Int64")
    text = values.astype("str")
    return text.where(values.notna(), "").astype("str")


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n:,} bytes"
