"""Purchase-log ingestion: read a user's files, check every row, and return clean frames plus a report.

`load_interactions` reads an interaction file (CSV/TSV, Parquet or JSON Lines) and, optionally, an item
file with titles and other attributes, and returns an `Interactions` (see `dataset.py`) together with a
`ValidationReport`. The steps, each vectorised over the whole file:

1. read every column as text, so that a title "NA" or an id "0012" stays what it is;
2. rename the user's columns to ours (`ColumnMap`) and check that the required ones are there;
3. clean values: strip ids; decode HTML entities and collapse whitespace in titles and attributes;
4. detect the timestamp format (ISO dates, epoch seconds or milliseconds, sequence positions) and
   turn each timestamp into an int64 ordering key;
5. give each item (identity: domain and item_id) a title, from the item file first, then inline;
6. flag bad rows (the first problem found wins), drop exact duplicates, count everything per domain.

A problem that makes a file unusable raises `DataError`, whose message is meant for the user. A problem
in one row drops that row and records it, with its reason, in `ValidationReport.dropped`: nothing is
dropped silently. Row numbers are 1-based data rows of the named file (the header is not counted).
"""

from __future__ import annotations

import codecs
import difflib
import html
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from xcross_core.data.dataset import INTERACTION_COLUMNS, ITEM_COLUMNS, Interactions
from xcross_core.data.report import (
    DOMAIN_COLUMNS,
    DROPPED_COLUMNS,
    ValidationReport,
    empty_dropped,
    summarise_dropped,
)

#: File extensions we read, and the separator of the text ones (None: JSON Lines).
_TEXT_FORMATS = {".csv": ",", ".tsv": "\t", ".jsonl": None, ".ndjson": None}
SUPPORTED_FORMATS = (".csv", ".tsv", ".parquet", ".jsonl", ".ndjson")

#: Our column names, in the order of the `dropped` report's value columns.
_OUR_COLUMNS = ("user_id", "item_id", "timestamp", "domain", "title")
#: A name a user's file might give each of our columns, for the example in a missing-column message.
_EXAMPLE_NAMES = {"user_id": "customer", "item_id": "sku", "timestamp": "date", "domain": "category", "title": "name"}

# Timestamp formats. Integers below 1e9 are positions (or dates before 2001, which order the same);
# 1e9..1e11 epoch seconds; 1e11..1e14 epoch milliseconds; larger values are out of range.
_EPOCH_S_FROM, _EPOCH_MS_FROM, _OUT_OF_RANGE_FROM = 1e9, 1e11, 1e14
# Among epoch seconds, values from 1e8 (1973) up are old dates rather than positions.
_OLD_EPOCH_S_FROM = 1e8
_MAX_NS = float(np.iinfo(np.int64).max)
_FORMAT_PREFERENCE = ("iso", "epoch_ms", "epoch_s", "position")  # breaks ties in the majority vote
# How messages name one value, and many values, of each format.
_SINGULAR = {
    "iso": "ISO date",
    "epoch_s": "epoch seconds",
    "epoch_ms": "epoch milliseconds",
    "position": "sequence position",
}
_PLURAL = {
    "iso": "ISO dates",
    "epoch_s": "epoch seconds",
    "epoch_ms": "epoch milliseconds",
    "position": "sequence positions",
}


class DataError(ValueError):
    """A file cannot be used at all. The message is for the user: it names the file, rows and reason.

    When every row was read but none can be used, `report` holds the full report (dropped rows
    included), so that the user can still download what went wrong.
    """

    def __init__(self, message: str, report: ValidationReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class ColumnMap:
    """Which of the user's columns hold our columns. Each field is the user's name for that column."""

    user_id: str = "user_id"
    item_id: str = "item_id"
    timestamp: str = "timestamp"
    domain: str = "domain"
    title: str = "title"

    @classmethod
    def parse(cls, pairs: Sequence[str]) -> ColumnMap:
        """Build a map from command-line pairs such as ``["customer=user_id", "sku=item_id"]``.

        Each pair is ``theirs=ours``; `ours` must be one of user_id, item_id, timestamp, domain, title.
        """
        ours_names = [f.name for f in fields(cls)]
        mapping: dict[str, str] = {}
        for pair in pairs:
            theirs, sep, ours = (part.strip() for part in pair.partition("="))
            if not sep or not theirs or not ours:
                raise DataError(f"--column {pair!r} should look like theirs=ours, e.g. customer=user_id")
            if ours not in ours_names:
                raise DataError(f"--column {pair!r}: {ours!r} is not one of our columns ({', '.join(ours_names)})")
            if mapping.get(ours, theirs) != theirs:
                raise DataError(f"--column: {ours} is mapped twice ({mapping[ours]!r} and {theirs!r})")
            mapping[ours] = theirs
        sources = list(mapping.values())
        twice = sorted({name for name in sources if sources.count(name) > 1})
        if twice:
            raise DataError(f"--column: {', '.join(map(repr, twice))} is mapped to more than one column")
        return cls(**mapping)

    def renames(self) -> dict[str, str]:
        """``{their name: our name}`` for every column whose name differs from ours."""
        return {getattr(self, f.name): f.name for f in fields(self) if getattr(self, f.name) != f.name}


@dataclass(frozen=True)
class LoadResult:
    """The clean data and what was found on the way."""

    interactions: Interactions
    report: ValidationReport


def load_interactions(
    path: str | Path,
    items_path: str | Path | None = None,
    *,
    columns: ColumnMap = ColumnMap(),  # noqa: B008 (frozen, so a shared default is safe)
    encoding: str | None = None,
    domain: str | None = None,
    min_users: int = 5,
    max_bytes: int | None = None,
) -> LoadResult:
    """Read and validate a purchase log; see the module docstring for the steps.

    Args:
        path: interaction file with user_id, item_id, timestamp, domain and title columns (title may
            come from `items_path` instead; domain from `domain`).
        items_path: optional item file with item_id and title, optionally domain, and any further text
            columns (brand, category, ...), which become part of each item's text.
        columns: the user's names for our columns (applied to both files).
        encoding: text encoding of CSV/JSON files; default UTF-8 (a byte-order mark is skipped).
        domain: one domain name for every row of `path` (its domain column, if any, is ignored).
        min_users: a domain with fewer users is reported as not usable (its rows are kept).
        max_bytes: refuse files larger than this.

    Raises:
        DataError: a file cannot be used at all (unreadable, missing columns, no usable rows).
    """
    name = Path(path).name
    if domain is not None and not domain.strip():
        raise DataError("the domain name given for the whole file must not be empty")
    required = ["user_id", "item_id", "timestamp"]
    required += [] if domain else ["domain"]
    required += [] if items_path else ["title"]
    raw, rows = _read_table(path, encoding=encoding, max_bytes=max_bytes)
    raw = _apply_columns(raw, columns, name, required, has_items_file=items_path is not None)
    catalogue = None
    if items_path is not None:
        catalogue = _read_catalogue(Path(items_path), columns, encoding=encoding, max_bytes=max_bytes)

    frame, warnings = _clean_values(raw, name, domain)
    issues = _Issues(len(frame))
    for column in ("user_id", "item_id", "domain"):
        issues.flag(frame[column].eq("").to_numpy(), f"empty_{column}", f"empty {column}")
    ids_ok = ~issues.bad
    stamps = _parse_timestamps(raw["timestamp"])
    issues.flag(stamps.check != "", stamps.check, stamps.reason)
    frame["timestamp"] = stamps.key

    # Every (domain, item) seen in a row with valid ids gets one title: the item file's, else inline.
    titles, title_warnings = _item_titles(frame[ids_ok], catalogue, name)
    warnings += title_warnings
    frame = frame.merge(titles[["domain", "item_id", "item_title"]], on=["domain", "item_id"], how="left")
    no_title = ids_ok & frame["item_title"].fillna("").eq("").to_numpy()
    issues.flag(no_title, "empty_title", ("empty title for item '" + frame["item_id"] + "'").to_numpy())

    _flag_duplicates(frame.assign(row=rows), issues)

    clean = frame.assign(row=rows)[~issues.bad]
    domains_seen = sorted(set(frame.loc[ids_ok, "domain"]))
    items, item_dropped, item_warnings = _build_items(clean, titles, catalogue, name)
    warnings += item_warnings
    row_dropped = _dropped_rows(name, raw, rows, issues)
    dropped = pd.concat([row_dropped, item_dropped], ignore_index=True) if len(item_dropped) else row_dropped
    flagged = frame[["domain", "item_id"]].assign(check=issues.check)
    stats, stat_warnings = _domain_stats(clean, items, flagged, domains_seen, min_users)
    row_errors, row_warnings = summarise_dropped(dropped)
    files = [name] + ([Path(items_path).name] if items_path is not None else [])
    report = ValidationReport(
        files=files,
        timestamp_format=stamps.format,
        domains=stats,
        dropped=dropped,
        errors=row_errors,
        warnings=row_warnings + warnings + stat_warnings,
    )
    if clean.empty:
        reasons = "\n".join(f"  - {message}" for message in (row_errors + row_warnings)[:8])
        raise DataError(f"{name}: no usable rows; all {len(frame)} rows were dropped:\n{reasons}", report)

    clean = clean.sort_values(["domain", "user_id", "timestamp", "row"], kind="stable")
    clean = clean[list(INTERACTION_COLUMNS)].reset_index(drop=True)
    clean = clean.astype({"timestamp": np.int64, "row": np.int64})
    return LoadResult(interactions=Interactions(frame=clean, items=items), report=report)


# --- reading ---------------------------------------------------------------------------------------


def _read_table(path: str | Path, *, encoding: str | None, max_bytes: int | None) -> tuple[pd.DataFrame, np.ndarray]:
    """Every column of a file as text ("" where missing), and the 1-based data-row number of each row."""
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
        frame = _read_parquet(path)
        rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    else:
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
            frame = _parse_csv(text, name, separator)
            rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    if frame.empty:
        header = f" (its header: {', '.join(map(str, frame.columns))})" if len(frame.columns) else ""
        raise DataError(f"{name} has no data rows{header}")
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame.reset_index(drop=True), rows


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
    try:
        frame = pd.read_json(io.StringIO(text), lines=True, dtype=False, **_JSON_OPTIONS)
    except (ValueError, TypeError):
        raise DataError(f"{name} is not valid JSON Lines: {_first_bad_json_line(text)}") from None
    lines = pd.Series(text.split("\n"), dtype="str")
    rows = np.flatnonzero(lines.str.strip().ne("").to_numpy()) + 1  # pandas skips blank lines
    if len(rows) != len(frame) or frame.columns.dtype.kind in "iu":
        raise DataError(f"{name} is not valid JSON Lines: {_first_bad_json_line(text)}")
    return frame.apply(_as_text), rows.astype(np.int64)


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


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a damaged or foreign file
        raise DataError(f"{path.name} could not be read as Parquet ({exc})") from None
    return frame.apply(_as_text) if len(frame.columns) else frame


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


# --- columns and values ----------------------------------------------------------------------------


def _apply_columns(
    frame: pd.DataFrame, columns: ColumnMap, name: str, required: list[str], *, has_items_file: bool
) -> pd.DataFrame:
    """Rename the user's columns to ours and check the required ones are present."""
    original = list(frame.columns)
    renames = {theirs: ours for theirs, ours in columns.renames().items() if theirs in frame.columns}
    # A mapped column replaces one that already carries our name (e.g. "sku=item_id" with an item_id
    # column present): the user said which one to use.
    shadowed = [ours for ours in renames.values() if ours in frame.columns and ours not in renames]
    frame = frame.drop(columns=shadowed).rename(columns=renames)
    missing = [ours for ours in required if ours not in frame.columns]
    if not missing:
        return frame
    described = []
    hints = []
    # A hint never names a column twice, nor one that already serves as one of ours: following the
    # hints must give a valid --column list.
    taken = {c for c in original if c in _OUR_COLUMNS} | set(renames)
    lowered = {str(c).lower(): c for c in original}
    for ours in missing:
        theirs = getattr(columns, ours)
        described.append(ours if theirs == ours else f"{theirs!r} (mapped to {ours})")
        close = difflib.get_close_matches(ours, [c for c in original if c not in taken], n=1, cutoff=0.6)
        guess = lowered.get(ours.lower()) or (close[0] if close else None)
        if guess is not None and guess not in taken:
            taken.add(guess)
            hints.append(f"--column {guess}={ours}")
    shown = ", ".join(map(repr, original[:30])) + (f" and {len(original) - 30} more" if len(original) > 30 else "")
    message = f"{name} is missing required column{'s' if len(missing) > 1 else ''} {', '.join(described)}. "
    message += f"Its columns are: {shown}. "
    message += "Map your column names to ours with --column theirs=ours"
    example = f"--column {_EXAMPLE_NAMES[missing[0]]}={missing[0]}"
    message += f" (perhaps {' '.join(hints)})" if hints else f" (e.g. {example})"
    extras = []
    if "domain" in missing:
        extras.append("add a domain column (a one-domain file can instead be loaded with domain=NAME)")
    if "title" in missing and not has_items_file:
        extras.append("give an item file with item_id and title")
    message += "; or " + "; or ".join(extras) if extras else ""
    raise DataError(message + ".")


def _clean_values(raw: pd.DataFrame, name: str, domain: str | None) -> tuple[pd.DataFrame, list[str]]:
    """Our columns, cleaned: ids and domain stripped, titles tidied; `domain` overrides the column."""
    frame = pd.DataFrame(
        {
            "user_id": raw["user_id"].str.strip(),
            "item_id": raw["item_id"].str.strip(),
            "domain": raw["domain"].str.strip() if domain is None else domain.strip(),
            "title": _clean_text(raw["title"]) if "title" in raw else "",
        }
    ).astype("str")
    warnings = []
    if domain is not None and "domain" in raw:
        other = raw["domain"].str.strip()
        other = other[(other != "") & (other != domain.strip())]
        if len(other):
            warnings.append(
                f"{name}: its domain column was replaced by the domain given for the whole file, {domain.strip()!r} "
                f"({len(other)} rows said otherwise, e.g. {other.iloc[0]!r})"
            )
    return frame, warnings


def _clean_text(values: pd.Series) -> pd.Series:
    """Decode HTML entities and collapse whitespace, once per distinct value."""
    codes, uniques = pd.factorize(values)
    text = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
    # html.unescape is Python-level, so only values that can hold an entity go through it.
    has_entity = text.str.contains("&", regex=False)
    if has_entity.any():
        text[has_entity] = [html.unescape(value) for value in text[has_entity]]
    text = text.str.replace(r"\s+", " ", regex=True).str.strip()
    cleaned = text.to_numpy(dtype=object)[codes] if len(text) else np.array([], dtype=object)
    return pd.Series(cleaned, index=values.index, dtype="str")


# --- timestamps ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stamps:
    """Parsed timestamps: an int64 ordering key per row, and a problem code and reason where bad."""

    key: np.ndarray  # ns since 1970 for dates, the number itself for positions; 0 where bad
    check: np.ndarray  # object; "" where the value is fine
    reason: np.ndarray  # object
    format: str  # "iso", "epoch_s", "epoch_ms" or "position"


def _parse_timestamps(values: pd.Series) -> _Stamps:
    """Detect the column's format by majority and convert; rows in another format are errors."""
    codes, uniques = pd.factorize(values.str.strip())
    text = np.asarray(uniques, dtype=object)
    number = pd.to_numeric(pd.Series(text, dtype=object), errors="coerce").to_numpy(dtype=float)
    kind = np.full(len(text), "unparseable", dtype=object)
    kind[text == ""] = "empty"
    numeric = ~np.isnan(number)
    kind[numeric & (number < 0)] = "negative"
    kind[numeric & (number >= 0)] = "position"
    kind[numeric & (number >= _EPOCH_S_FROM)] = "epoch_s"
    kind[numeric & (number >= _EPOCH_MS_FROM)] = "epoch_ms"
    kind[numeric & (number >= _OUT_OF_RANGE_FROM)] = "out_of_range"

    key = np.zeros(len(text), dtype=np.int64)
    # pandas also reads words such as "now" and "today" as dates; an ISO date starts with its year.
    maybe_date = (kind == "unparseable") & pd.Series(text, dtype=object).str.match(r"\d{4}").to_numpy(dtype=bool)
    if maybe_date.any():
        dates = pd.to_datetime(pd.Series(text[maybe_date]), format="ISO8601", errors="coerce", utc=True)
        date_key, in_range = _to_ns(dates)
        parsed = dates.notna().to_numpy()
        iso_kind = np.where(parsed, np.where(in_range, "iso", "out_of_range"), "unparseable")
        kind[maybe_date] = iso_kind
        key[maybe_date] = np.where(parsed & in_range, date_key, 0)

    # Beside epoch seconds, values from 1e8 up are dates before 2001, not positions (no one buys 1e8 times).
    if (kind == "epoch_s").any():
        kind[(kind == "position") & (number >= _OLD_EPOCH_S_FROM)] = "epoch_s"
    # The format of most rows wins; rows written in another format are reported, not guessed at.
    row_kind = kind[codes]
    counts = {fmt: int((row_kind == fmt).sum()) for fmt in _FORMAT_PREFERENCE}
    winner = max(_FORMAT_PREFERENCE, key=lambda fmt: counts[fmt])  # first in preference on ties

    for fmt, factor in (("epoch_s", 10**9), ("epoch_ms", 10**6)):
        at = kind == fmt
        scaled, fits = _scale(number[at], factor)
        key[at] = scaled
        kind[np.flatnonzero(at)[~fits]] = "out_of_range"
    at = kind == "position"
    whole = number[at] == np.floor(number[at])
    key[np.flatnonzero(at)[whole]] = number[at][whole].astype(np.int64)
    kind[np.flatnonzero(at)[~whole]] = "fractional"

    check, reason = _timestamp_problems(text, kind, winner)
    return _Stamps(key=key[codes], check=check[codes], reason=reason[codes], format=winner)


def _scale(number: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Epoch units to int64 ns, exactly for whole numbers; also whether each value fits in int64."""
    fits = np.abs(number) * factor < _MAX_NS
    key = np.zeros(len(number), dtype=np.int64)
    whole = fits & (number == np.floor(number))
    key[whole] = number[whole].astype(np.int64) * factor
    part = fits & ~whole
    key[part] = np.round(number[part] * factor).astype(np.int64)
    return key, fits


def _to_ns(dates: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """UTC datetimes (any unit) to int64 ns since 1970, and whether each fits (years 1677-2262)."""
    factor = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[dates.dt.unit]
    raw = dates.array.asi8  # NaT is the smallest int64; it is masked out below
    fits = dates.notna().to_numpy() & (np.abs(raw.astype(float)) * factor < _MAX_NS)
    return np.where(fits, raw, 0) * factor, fits


def _timestamp_problems(text: np.ndarray, kind: np.ndarray, winner: str) -> tuple[np.ndarray, np.ndarray]:
    """Problem code and reason per distinct timestamp value ("" where it is fine)."""
    check = np.full(len(text), "", dtype=object)
    reason = np.full(len(text), "", dtype=object)
    for bad, code, label in (
        ("empty", "empty_timestamp", "empty timestamp"),
        ("unparseable", "unparseable_timestamp", "unparseable timestamp"),
        ("negative", "negative_timestamp", "negative timestamp"),
        ("out_of_range", "timestamp_out_of_range", "timestamp out of range"),
        ("fractional", "fractional_position", "sequence position is not a whole number:"),
    ):
        at = np.flatnonzero(kind == bad)
        check[at] = code
        # Only bad values are quoted, so this loop is as long as the list of distinct bad values.
        reason[at] = label if bad == "empty" else [f"{label} {_quote(value)}" for value in text[at]]
    for fmt in _FORMAT_PREFERENCE:
        at = (kind == fmt) & (fmt != winner)
        check[at] = "mixed_timestamp_format"
        reason[at] = f"timestamp format differs from the rest of the file ({_SINGULAR[fmt]} among {_PLURAL[winner]})"
    return check, reason


def _quote(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


# --- row problems ----------------------------------------------------------------------------------


class _Issues:
    """The first problem found in each row of one file; later checks never overwrite earlier ones."""

    def __init__(self, n: int) -> None:
        self.check = np.full(n, "", dtype=object)
        self.reason = np.full(n, "", dtype=object)
        self.severity = np.full(n, "", dtype=object)

    @property
    def bad(self) -> np.ndarray:
        return self.check != ""

    def flag(self, mask, check, reason, severity: str = "error") -> None:
        """Record `check` (code) and `reason` (scalars or per-row arrays) where `mask` and no problem yet."""
        new = np.asarray(mask, dtype=bool) & ~self.bad
        self.check[new] = check[new] if isinstance(check, np.ndarray) else check
        self.reason[new] = reason[new] if isinstance(reason, np.ndarray) else reason
        self.severity[new] = severity

    def flag_at(self, positions, check: str, reason, severity: str = "error") -> None:
        """Like `flag`, for the rows at `positions`; `reason` is a scalar or one value per position."""
        positions = np.asarray(positions, dtype=np.int64)
        mask = np.zeros(len(self.check), dtype=bool)
        mask[positions] = True
        full = np.full(len(self.check), "", dtype=object)
        full[positions] = reason
        self.flag(mask, check, full, severity)


def _flag_duplicates(frame: pd.DataFrame, issues: _Issues) -> None:
    """Flag exact repeats of an earlier row. The same item bought again at another time is kept."""
    keys = ["user_id", "item_id", "timestamp", "domain"]
    live = frame[~issues.bad]
    repeat = live.duplicated(keys, keep="first")
    if repeat.any():
        first_row = live.groupby(keys, sort=False)["row"].transform("min")[repeat]
        reason = ("duplicate of row " + first_row.astype("str")).to_numpy()
        issues.flag_at(live.index[repeat], "duplicate_row", reason, severity="warning")


def _dropped_rows(name: str, raw: pd.DataFrame, rows: np.ndarray, issues: _Issues) -> pd.DataFrame:
    """The flagged rows of one file, with their reasons and original values (DROPPED_COLUMNS)."""
    bad = issues.bad
    data = {
        "file": name,
        "row": rows[bad],
        "reason": issues.reason[bad],
        "severity": issues.severity[bad],
        "check": issues.check[bad],
    }
    for column in _OUR_COLUMNS:
        data[column] = raw[column].to_numpy(dtype=object)[bad] if column in raw else ""
    frame = pd.DataFrame(data, columns=list(DROPPED_COLUMNS), index=range(int(bad.sum())))
    text_columns = [c for c in DROPPED_COLUMNS if c != "row"]
    return frame.astype(dict.fromkeys(text_columns, "str") | {"row": np.int64})


# --- items -----------------------------------------------------------------------------------------


@dataclass
class _Catalogue:
    """The item file, cleaned. `items` holds the rows kept (first of any duplicates), with `_pos`, the
    row's position in the file, so that later checks can still flag it."""

    name: str
    items: pd.DataFrame  # item_id, [domain], title, attribute columns, _pos
    attributes: list[str]
    has_domain: bool
    raw: pd.DataFrame  # original values, for the dropped report
    rows: np.ndarray
    issues: _Issues

    @property
    def key(self) -> list[str]:
        """What identifies an item in this file."""
        return ["domain", "item_id"] if self.has_domain else ["item_id"]


def _read_catalogue(path: Path, columns: ColumnMap, *, encoding: str | None, max_bytes: int | None) -> _Catalogue:
    """Read the item file: item_id and title required, domain optional, other columns are attributes."""
    raw, rows = _read_table(path, encoding=encoding, max_bytes=max_bytes)
    raw = _apply_columns(raw, columns, path.name, ["item_id", "title"], has_items_file=True)
    has_domain = "domain" in raw
    # user_id and timestamp are ours but say nothing about an item; every other column is item text,
    # except the empty, unnamed columns that a trailing separator leaves behind.
    ours = {"item_id", "title", "domain", "user_id", "timestamp"}
    blank = [c for c in raw.columns if str(c).startswith("Unnamed: ") and raw[c].str.strip().eq("").all()]
    attributes = [c for c in raw.columns if c not in ours and c not in blank]
    items = pd.DataFrame({"item_id": raw["item_id"].str.strip()})
    if has_domain:
        items["domain"] = raw["domain"].str.strip()
    items["title"] = _clean_text(raw["title"])
    for column in attributes:
        items[column] = _clean_text(raw[column])
    # Our item frame has its own `text` column; a user's column of that name keeps its content.
    items = items.rename(columns={"text": "text_attribute"})
    attributes = ["text_attribute" if column == "text" else column for column in attributes]
    items["_pos"] = np.arange(len(items))

    issues = _Issues(len(items))
    issues.flag(items["item_id"].eq("").to_numpy(), "empty_item_id", "empty item_id", severity="warning")
    if has_domain:
        issues.flag(items["domain"].eq("").to_numpy(), "empty_domain", "empty domain", severity="warning")
    catalogue = _Catalogue(path.name, items, attributes, has_domain, raw, rows, issues)
    live = items[~issues.bad]
    repeat = live.duplicated(catalogue.key, keep="first")
    if repeat.any():
        first = live[~repeat].set_index(catalogue.key)[["_pos", "title"]]
        later = live[repeat].join(first, on=catalogue.key, suffixes=("", "_first"))
        first_row = pd.Series(rows[later["_pos_first"].to_numpy()], index=later.index).astype("str")
        reason = ("duplicate of row " + first_row).where(
            later["title"] == later["title_first"],
            "item '" + later["item_id"] + "' listed again with a different title (row " + first_row + " kept)",
        )
        issues.flag_at(later["_pos"], "duplicate_item", reason.to_numpy(), severity="warning")
    catalogue.items = items[~issues.bad]
    return catalogue


def _item_titles(frame: pd.DataFrame, catalogue: _Catalogue | None, name: str) -> tuple[pd.DataFrame, list[str]]:
    """One row per (domain, item_id) in `frame`, with `item_title`: the item file's, else the first
    non-empty inline title ("" if neither)."""
    warnings = []
    inline = frame.loc[frame["title"] != "", ["domain", "item_id", "title"]]
    distinct = inline.drop_duplicates()
    several = distinct[distinct.duplicated(["domain", "item_id"])]
    if len(several):
        n = len(several[["domain", "item_id"]].drop_duplicates())
        warnings.append(
            f"{name}: {n} item{'s have' if n > 1 else ' has'} different titles on different rows "
            f"(e.g. {several['item_id'].iloc[0]!r}); the first title is used"
        )
    pairs = frame[["domain", "item_id"]].drop_duplicates()
    pairs = pairs.merge(inline.drop_duplicates(["domain", "item_id"]), on=["domain", "item_id"], how="left")
    pairs = pairs.rename(columns={"title": "item_title"})
    pairs["item_title"] = pairs["item_title"].fillna("").astype("str")
    if catalogue is None:
        return pairs, warnings
    listed = catalogue.items[[*catalogue.key, "title"]].rename(columns={"title": "file_title"})
    pairs = pairs.merge(listed, on=catalogue.key, how="left")
    unlisted = pairs["file_title"].isna()
    if unlisted.any():
        n = int(unlisted.sum())
        warnings.append(
            f"{n} item{'s' if n > 1 else ''} of {name} {'are' if n > 1 else 'is'} not in {catalogue.name} "
            f"(e.g. {pairs.loc[unlisted, 'item_id'].iloc[0]!r}); their titles come from {name} if it has any"
        )
    file_title = pairs.pop("file_title").fillna("").astype("str")
    pairs["item_title"] = file_title.where(file_title != "", pairs["item_title"])
    return pairs, warnings


def _build_items(
    clean: pd.DataFrame, titles: pd.DataFrame, catalogue: _Catalogue | None, name: str
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The item frame (ITEM_COLUMNS + attributes), the item-file rows left out of it, and warnings.

    It holds every item bought in `clean`, plus the item file's unbought items of the same domains
    (they belong to the catalogue and can be recommended).
    """
    bought = clean[["domain", "item_id"]].drop_duplicates()
    items = bought.merge(titles, on=["domain", "item_id"], how="left").rename(columns={"item_title": "title"})
    if catalogue is None:
        items["text"] = items["title"]
        return _tidy_items(items, []), empty_dropped(), []

    listed, attributes, issues = catalogue.items, catalogue.attributes, catalogue.issues
    items = items.merge(listed[[*catalogue.key, *attributes]], on=catalogue.key, how="left")
    if catalogue.has_domain:
        unbought = listed.merge(bought, on=["domain", "item_id"], how="left", indicator=True)
        unbought = unbought[unbought["_merge"] == "left_only"]
        other_domain = ~unbought["domain"].isin(set(clean["domain"]))
        issues.flag_at(
            unbought.loc[other_domain, "_pos"],
            "unused_item",
            ("no usable purchases in domain '" + unbought.loc[other_domain, "domain"] + "'").to_numpy(),
            severity="warning",
        )
        untitled = ~other_domain & unbought["title"].eq("")
        issues.flag_at(
            unbought.loc[untitled, "_pos"],
            "empty_title",
            ("empty title for item '" + unbought.loc[untitled, "item_id"] + "'").to_numpy(),
            severity="warning",
        )
        extra = unbought[~other_domain & ~untitled]
        items = pd.concat([items, extra[["domain", "item_id", "title", *attributes]]], ignore_index=True)
    else:
        # Without a domain column an item's domain comes from its purchases; an unbought one has none.
        never = listed[~listed["item_id"].isin(set(titles["item_id"]))]
        issues.flag_at(
            never["_pos"],
            "unused_item",
            f"item never appears in {name} (and the item file has no domain column)",
            severity="warning",
        )
    dropped = _dropped_rows(catalogue.name, catalogue.raw, catalogue.rows, issues)
    warnings = []
    unused = int((dropped["check"] == "unused_item").sum())
    if unused:
        warnings.append(
            f"{catalogue.name}: {unused} listed item{'s' if unused > 1 else ''} left out, "
            f"because {name} has no usable purchases in {'their domains' if catalogue.has_domain else 'them'}"
        )
    for column in attributes:
        items[column] = items[column].fillna("").astype("str")
    items["text"] = _item_text(items["title"], items[attributes])
    return _tidy_items(items, attributes), dropped, warnings


def _item_text(title: pd.Series, attributes: pd.DataFrame) -> pd.Series:
    """Title, then each non-empty attribute as "column: value", joined with " | "."""
    text = title.astype("str")
    for column in attributes.columns:  # a loop over columns; each step is vectorised over items
        value = attributes[column]
        text = text + (f" | {column}: " + value).where(value != "", "")
    return text


def _tidy_items(items: pd.DataFrame, attributes: list[str]) -> pd.DataFrame:
    columns = [*ITEM_COLUMNS, *attributes]
    items = items[columns].astype(dict.fromkeys(columns, "str"))
    return items.sort_values(["domain", "item_id"], kind="stable").reset_index(drop=True)


# --- statistics ------------------------------------------------------------------------------------


def _domain_stats(
    clean: pd.DataFrame, items: pd.DataFrame, flagged: pd.DataFrame, domains: list[str], min_users: int
) -> tuple[pd.DataFrame, list[str]]:
    """One row per domain (DOMAIN_COLUMNS), and warnings about small domains.

    `flagged` is every input row with its cleaned domain and item_id and its problem code (`check`).
    """
    lengths = clean.groupby(["domain", "user_id"], sort=False).size()
    by_domain = lengths.groupby(level="domain")
    duplicates = flagged[flagged["check"] == "duplicate_row"]
    untitled = flagged[flagged["check"] == "empty_title"].drop_duplicates(["domain", "item_id"])
    stats = pd.DataFrame(
        {
            "users": by_domain.size(),
            "items": items.groupby("domain").size(),
            "interactions": by_domain.sum(),
            "items_without_text": untitled.groupby("domain").size(),
            "duplicate_rows": duplicates.groupby("domain").size(),
            "single_interaction_users": (lengths == 1).groupby(level="domain").sum(),
        }
    )
    stats = stats.reindex(sorted(set(domains) | set(stats.index))).fillna(0).astype(np.int64)
    seq = pd.DataFrame(
        {
            "seq_len_min": by_domain.min(),
            "seq_len_median": by_domain.median(),
            "seq_len_mean": by_domain.mean(),
            "seq_len_p90": by_domain.quantile(0.9),
            "seq_len_max": by_domain.max(),
        }
    )
    stats = stats.join(seq.astype(float))
    stats["usable"] = (stats["users"] >= min_users) & (stats["users"] > 0)
    stats["note"] = ""
    warnings = []
    for domain, row in stats.iterrows():  # one row per domain, not per purchase
        if row["interactions"] == 0:
            stats.loc[domain, "note"] = "no usable rows"
            warnings.append(f"domain {domain!r}: no usable rows (all of its rows were dropped)")
            continue
        if not row["usable"]:
            note = f"only {row['users']} user{'s' if row['users'] != 1 else ''} (at least {min_users} needed)"
            stats.loc[domain, "note"] = note
            warnings.append(f"domain {domain!r}: {note}; its rows are kept, but it cannot be used yet")
        if row["single_interaction_users"]:
            n = row["single_interaction_users"]
            warnings.append(
                f"domain {domain!r}: {n} user{'s have' if n > 1 else ' has'} a single purchase "
                "(kept, but there is no history to learn from)"
            )
    stats.index.name = "domain"
    stats = stats.reset_index().astype({"domain": "str", "note": "str", "usable": bool})
    return stats[list(DOMAIN_COLUMNS)], warnings
