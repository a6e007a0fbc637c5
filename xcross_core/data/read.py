"""Reading a user's file: every column as text, and the data-row number of every row.

CSV/TSV, Parquet and JSON Lines are read without type guessing, so that a title "NA" or an id "0012"
stays what it is. A file that cannot be read at all raises `DataError` with a message for the user:
the wrong extension, binary or compressed content, a bad encoding (with the line of the first bad
byte), a malformed CSV (with the data row where parsing broke), invalid JSON Lines (with the line), a
header that names a column twice, or values that are not one text, number or date each (nested JSON,
Parquet lists, structs, maps and binary columns), which would otherwise be flattened into text silently.

Memory: reading costs far more than a file's bytes (a 27 MB Parquet file can hold 20 million rows), so
the number of data rows is checked against `max_rows` before anything is read: from the Parquet
metadata, or by a streaming count of a text file's lines (1 MiB at a time), and only when the lines
exceed the limit by counting the records themselves (quoted line breaks), stopping at the limit.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from xcross_core.data.report import DataError

#: File extensions we read, and the separator of the text ones (None: JSON Lines).
_TEXT_FORMATS = {".csv": ",", ".tsv": "\t", ".jsonl": None, ".ndjson": None}
SUPPORTED_FORMATS = (".csv", ".tsv", ".parquet", ".jsonl", ".ndjson")

#: Default limit on a file's data rows. Reading and validating alone peaked at about 0.7 GB per million rows
#: (a 500,000-row log of short ids and titles), and the jobs after it need more, so the default keeps a run
#: within a laptop's memory; `--max-rows` (CLI) and `max_rows` (library) change it.
MAX_ROWS = 2_000_000
_CHUNK = 1 << 20  # bytes per read when counting lines


def read_table(
    path: str | Path, *, encoding: str | None, max_bytes: int | None, max_rows: int | None = MAX_ROWS
) -> tuple[pd.DataFrame, np.ndarray]:
    """Every column of a file as text ("" where missing), and the 1-based data-row number of each row.

    A file with more than `max_rows` data rows (None: no limit) is refused before it is read.
    """
    path = Path(path)
    name, suffix = path.name, path.suffix.lower()
    if suffix not in SUPPORTED_FORMATS:
        raise DataError(
            f"{name}: unsupported file type {suffix or '(no extension)'}; supported formats are "
            f"{', '.join(SUPPORTED_FORMATS)} (.tsv is tab-separated; .jsonl/.ndjson hold one JSON object "
            "per line)"
        )
    if not path.is_file():
        raise DataError(f"{name}: no such file ({path})")
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise DataError(f"{name} is {_size(size)}, over the limit of {_size(max_bytes)}")
    if size == 0:
        raise DataError(f"{name} is empty (0 bytes)")
    if suffix == ".parquet":
        frame = _read_parquet(path, max_rows)
        rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    else:
        if max_rows is not None:
            _check_text_rows(path, _TEXT_FORMATS[suffix], encoding, max_rows)
        data = path.read_bytes()
        if encoding is None:
            _refuse_binary(data, name)
        text = _decode(data, name, encoding)
        if not text.strip():
            raise DataError(f"{name} is empty (it holds only whitespace)")
        separator = _TEXT_FORMATS[suffix]
        if separator is None:
            frame, rows = _parse_jsonl(text, name)
        else:
            _refuse_repeated_names(_csv_header(text, separator), name)
            frame = _parse_csv(text, name, separator)
            rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    if frame.empty:
        header = f" (its header: {', '.join(map(str, frame.columns))})" if len(frame.columns) else ""
        raise DataError(f"{name} has no data rows{header}")
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame.reset_index(drop=True), rows


def _too_many_rows(name: str, rows: str, max_rows: int) -> DataError:
    return DataError(
        f"{name} has {rows} data rows, over the limit of {max_rows:,}: reading it could exhaust memory. "
        "Use a sample of it, or raise the limit with --max-rows if this machine has the memory."
    )


def _check_text_rows(path: Path, separator: str | None, encoding: str | None, max_rows: int) -> None:
    """Refuse a CSV/TSV/JSON Lines file with more than `max_rows` data rows, reading 1 MiB at a time.

    Line breaks bound the rows from above (the header and blank lines take lines too, and a quoted CSV
    value may hold a line break); only when they exceed the limit are the records counted, up to it.
    """
    header = 0 if separator is None else 1
    lines, tail = 0, b""
    with path.open("rb") as f:
        while (chunk := f.read(_CHUNK)) and lines - header <= max_rows:
            lines += chunk.count(b"\n")
            tail = chunk[-1:]
    lines += tail not in (b"", b"\n")  # a last line without a line break
    if lines - header <= max_rows:
        return
    try:
        records = _count_records(path, separator, encoding, stop_after=max_rows)
    except (UnicodeDecodeError, LookupError, csv.Error):  # unreadable: the line count is all there is
        raise _too_many_rows(path.name, f"about {lines - header:,}", max_rows) from None
    if records > max_rows:
        raise _too_many_rows(path.name, f"more than {max_rows:,}", max_rows)


def _count_records(path: Path, separator: str | None, encoding: str | None, stop_after: int) -> int:
    """Data records of a text file (non-blank lines of JSON Lines, CSV records after the header), counted
    while streaming and stopping once there are more than `stop_after`."""
    count = 0
    with path.open(encoding=encoding or "utf-8-sig", newline="" if separator else None) as f:
        records = csv.reader(f, delimiter=separator) if separator else (line for line in f if line.strip())
        if separator:
            next(records, None)  # the header
        for record in records:
            count += bool(record)  # csv gives [] for a blank line, which pandas skips too
            if count > stop_after:
                break
    return count


def _csv_header(text: str, separator: str) -> list[str]:
    """The first record of CSV/TSV text: the column names as written."""
    return next(csv.reader(io.StringIO(text), delimiter=separator), [])


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
            "give each column its own name, or remove the copies"
        )


def _refuse_binary(data: bytes, name: str) -> None:
    """Recognise files that are not text at all, and say what they look like."""
    head = data[:4096]
    if head.startswith(b"PAR1"):
        raise DataError(f"{name} is a Parquet file; give it the .parquet extension")
    if head.startswith(b"\x1f\x8b"):
        raise DataError(f"{name} is gzip-compressed; decompress it first")
    if head.startswith(b"PK\x03\x04"):
        raise DataError(f"{name} is a ZIP archive (an Excel workbook?); export or save it as CSV")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{name} is UTF-16 text; re-save it as UTF-8, or pass --encoding utf-16")
    control = sum(head.count(bytes([b])) for b in (*range(0, 9), 11, 12, *range(14, 32)))
    if b"\x00" in head or control > len(head) // 10:
        raise DataError(f"{name} does not look like a text file (it holds binary data)")


def _decode(data: bytes, name: str, encoding: str | None) -> str:
    """Bytes to text; a decoding error names the line of the first bad byte."""
    codec = encoding or "utf-8-sig"
    try:
        codecs.lookup(codec)
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r} (try utf-8, latin-1 or cp1252)") from None
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        near = data[start : exc.start + 20].decode(codec, errors="replace").splitlines()[0][:60]
        where = f"line {line} has byte 0x{data[exc.start]:02X} (near {near!r})"
        if encoding is None:
            raise DataError(
                f"{name} is not valid UTF-8: {where}. Re-save the file as UTF-8, or pass "
                "--encoding latin-1 (or cp1252) if that is its encoding."
            ) from None
        raise DataError(f"{name} cannot be read as {encoding}: {where}") from None
    return text.removeprefix("\ufeff")


def _parse_csv(text: str, name: str, separator: str) -> pd.DataFrame:
    """CSV/TSV text to a frame of strings. Quoted fields may hold separators and newlines.

    A row with too few fields is padded with "" (its empty values are then reported row by row); a
    row with too many, or an unclosed quote, makes the file unreadable.
    """
    kind, mark = ("TSV", "a tab") if separator == "\t" else ("CSV", "a comma")
    try:
        frame = pd.read_csv(io.StringIO(text), sep=separator, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{name} is empty (no header line)") from None
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().removeprefix("Error tokenizing data. C error: ")
        raise DataError(
            f"{name} is not a well-formed {kind} file: {_where_csv_breaks(detail)} (parser: {detail}). "
            f"A value that contains {mark}, a double quote or a line break must be in double quotes."
        ) from None
    if len(frame.columns) == 1:
        found = [sep for sep in (";", "\t", ",", "|") if sep != separator and sep in str(frame.columns[0])]
        if found:
            raise DataError(
                f"{name} seems to be separated by {found[0]!r}, not {mark}: its header reads "
                f"{str(frame.columns[0])[:80]!r}. Save it with {mark} as separator"
                + (" (or name it .tsv if it is tab-separated)." if found[0] == "\t" else ".")
            )
    return frame


def _where_csv_breaks(detail: str) -> str:
    """The C parser's position, in our numbering (1-based data rows; the header is not counted).

    It counts records, not physical lines: "line N" counts the header as 1, "row N" as 0.
    """
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", detail)
    if fields:
        expected, line, saw = (int(v) for v in fields.groups())
        return f"data row {line - 1} has {saw} fields, but the header has {expected}"
    quote = re.search(r"EOF inside string starting at row (\d+)", detail)
    if quote:
        return f"a quoted value that starts in data row {quote.group(1)} is never closed"
    return "the parser stopped"


def _parse_jsonl(text: str, name: str) -> tuple[pd.DataFrame, np.ndarray]:
    """JSON Lines (one object per line) to a frame of strings; rows are the objects' line numbers."""
    lines = pd.Series(text.split("\n"), dtype="str").str.strip()
    filled = lines.ne("").to_numpy()
    rows = np.flatnonzero(filled) + 1  # pandas skips blank lines
    # Every line must hold one object: pandas reads a line holding an array or a scalar into odd columns.
    objects = (lines.str.startswith("{") & lines.str.endswith("}")).to_numpy()
    if not objects[filled].all():
        raise DataError(f"{name} is not valid JSON Lines: {_first_bad_json_line(text)}")
    try:
        frame = pd.read_json(io.StringIO(text), lines=True, dtype=False, **_JSON_OPTIONS)
    except (ValueError, TypeError):
        raise DataError(f"{name} is not valid JSON Lines: {_first_bad_json_line(text)}") from None
    if len(rows) != len(frame) or not all(isinstance(column, str) for column in frame.columns):
        raise DataError(f"{name} is not valid JSON Lines: {_first_bad_json_line(text)}")
    for column in frame.columns:
        _refuse_nested(frame[column], rows, name)
    return frame.apply(_as_text), rows.astype(np.int64)


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
            "or true/false. Flatten nested values into columns of their own."
        )


# pandas < 3 turns columns named like "timestamp" into dates unless told not to.
_JSON_OPTIONS = {"convert_dates": False} if int(pd.__version__.split(".")[0]) < 3 else {}


def _first_bad_json_line(text: str) -> str:
    """Where JSON Lines parsing fails. Only called on failure, so a Python loop is fine here."""
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            return f"line {number}: {exc.msg} (column {exc.colno})"
        if not isinstance(value, dict):
            return f"line {number} is not a JSON object ({type(value).__name__})"
    return "each line must be one JSON object"


def _read_parquet(path: Path, max_rows: int | None) -> pd.DataFrame:
    """A Parquet file as a frame of text, its schema and row count checked from the metadata first."""
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(path) as parquet:
            schema, n_rows = parquet.schema_arrow, parquet.metadata.num_rows
            _check_parquet_schema(schema, path.name)
            if max_rows is not None and n_rows > max_rows:
                raise _too_many_rows(path.name, f"{n_rows:,}", max_rows)
            frame = parquet.read().to_pandas()
    except DataError:
        raise
    except Exception as exc:  # pyarrow raises many types for a damaged or foreign file
        raise DataError(f"{path.name} could not be read as Parquet ({str(exc).splitlines()[0]})") from None
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
            "number or date. Flatten it into columns of their own, or drop it before saving."
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
