"""Purchase-log ingestion: read a user's files, check every row, and return clean frames plus a report.

`load_interactions` reads an interaction file (CSV/TSV, Parquet or JSON Lines) and, optionally, an item
file with titles and other attributes, and returns an `Interactions` (see `dataset.py`) together with a
`ValidationReport`. The steps, each vectorised over the whole file:

1. read every column as text, so that a title "NA" or an id "0012" stays what it is, and mark the rows whose
   fields cannot be told apart (`read`);
2. rename the user's columns to ours (`ColumnMap`) and check that the required ones are there;
3. clean values: strip ids; decode HTML entities and collapse whitespace in titles and attributes
   (`clean`);
4. detect the timestamp format (ISO dates, epoch seconds or milliseconds, sequence positions) and
   turn each timestamp into an int64 ordering key (`timestamps`);
5. give each item (identity: domain and item_id) a title, from the item file first, then inline
   (`catalogue`);
6. flag bad rows (the first problem found wins: fields that cannot be told apart, control or invisible
   characters, empty values, timestamps, titles), drop exact duplicates, count everything per domain.

A problem that makes a file unusable raises `DataError`, whose message is meant for the user. A problem
in one row drops that row and records it, with its reason, in `ValidationReport.dropped`: nothing is
dropped silently. Row numbers are 1-based data rows of the named file (the header is not counted).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from xcross_core.data.advice import Hint
from xcross_core.data.catalogue import build_catalogue, build_items, item_titles
from xcross_core.data.clean import (
    OUR_COLUMNS,
    Issues,
    clean_values,
    dropped_rows,
    flag_characters,
    flag_duplicates,
)
from xcross_core.data.dataset import INTERACTION_COLUMNS, Interactions
from xcross_core.data.read import MAX_FIELD_CHARS, MAX_ROWS, read_table
from xcross_core.data.report import DOMAIN_COLUMNS, DataError, ValidationReport, summarise_dropped
from xcross_core.data.timestamps import parse_timestamps

#: A column name that holds a product id (asin, parent_asin, sku, isbn, item_id, productId, article number, ...):
#: never guessed for any of our columns but item_id.
_PRODUCT_ID = re.compile(
    r"(?i)^(parent[\s_-]?)?(asin|sku|isbn(1[03])?|upc|ean(13)?|gtin(1[234])?|mpn)$"
    r"|(item|product|prod|article|asin|sku)[\s_-]?(id|no|nr|number|code|key)s?$"
)
#: The column map, where a message is about it as a whole.
_COLUMNS = Hint("columns", "{}: ", role="given")
#: A name a user's file might give each of our columns, for the example in a missing-column message.
_EXAMPLE_NAMES = {"user_id": "customer", "item_id": "sku", "timestamp": "date", "domain": "category", "title": "name"}


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
                given = Hint("columns", "{} ", (repr(pair),), "given")
                raise DataError(given, "should look like theirs=ours, e.g. customer=user_id")
            if ours not in ours_names:
                given = Hint("columns", "{}: ", (repr(pair),), "given")
                raise DataError(given, f"{ours!r} is not one of our columns ({', '.join(ours_names)})")
            if mapping.get(ours, theirs) != theirs:
                raise DataError(_COLUMNS, f"{ours} is mapped twice ({mapping[ours]!r} and {theirs!r})")
            mapping[ours] = theirs
        sources = list(mapping.values())
        twice = sorted({name for name in sources if sources.count(name) > 1})
        if twice:
            raise DataError(_COLUMNS, f"{', '.join(map(repr, twice))} is mapped to more than one column")
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
    max_rows: int | None = MAX_ROWS,
    max_field_chars: int | None = MAX_FIELD_CHARS,
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
        max_rows: refuse files with more data rows than this (None: no limit), before reading them.
        max_field_chars: refuse files holding a value longer than this many characters (None: no limit), before
            reading a CSV/TSV or JSON Lines file whole.

    Raises:
        DataError: a file cannot be used at all (unreadable, missing columns, no usable rows).
    """
    name = Path(path).name
    if domain is not None and not domain.strip():
        raise DataError("the domain name given for the whole file must not be empty")
    required = ["user_id", "item_id", "timestamp"]
    required += [] if domain else ["domain"]
    required += [] if items_path else ["title"]
    read = partial(
        read_table, encoding=encoding, max_bytes=max_bytes, max_rows=max_rows, max_field_chars=max_field_chars
    )
    table = read(path)
    headers = {name: list(table.frame.columns)}
    if items_path is not None:
        items_name = Path(items_path).name
        item_table = read(items_path)
        headers[items_name] = list(item_table.frame.columns)
    _refuse_absent_mapped(columns, headers)
    raw = _apply_columns(table.frame, columns, name, required, has_items_file=items_path is not None)
    rows = table.rows
    catalogue = None
    if items_path is not None:
        item_table.frame = _apply_columns(
            item_table.frame, columns, items_name, ["item_id", "title"], has_items_file=True
        )
        catalogue = build_catalogue(item_table, items_name)

    frame, warnings = clean_values(raw, name, domain)
    issues = Issues(len(frame))
    issues.flag(table.check != "", table.check, table.reason)
    flag_characters(raw if domain is None else raw.drop(columns="domain", errors="ignore"), issues)
    for column in ("user_id", "item_id", "domain"):
        issues.flag(frame[column].eq("").to_numpy(), f"empty_{column}", f"empty {column}")
    ids_ok = ~issues.bad
    stamps = parse_timestamps(raw["timestamp"])
    issues.flag(stamps.check != "", stamps.check, stamps.reason)
    frame["timestamp"] = stamps.key

    # Every (domain, item) seen in a row with valid ids gets one title: the item file's, else inline.
    titles, title_warnings = item_titles(frame[ids_ok], catalogue, name)
    warnings += title_warnings
    frame = frame.merge(titles[["domain", "item_id", "item_title"]], on=["domain", "item_id"], how="left")
    no_title = ids_ok & frame["item_title"].fillna("").eq("").to_numpy()
    issues.flag(no_title, "empty_title", ("empty title for item '" + frame["item_id"] + "'").to_numpy())

    flag_duplicates(frame.assign(row=rows), issues)

    clean = frame.assign(row=rows)[~issues.bad]
    domains_seen = sorted(set(frame.loc[ids_ok, "domain"]))
    items, item_dropped, item_warnings = build_items(clean, titles, catalogue, name)
    warnings += item_warnings
    row_dropped = dropped_rows(name, raw, rows, issues)
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
        reasons = "; ".join((row_errors + row_warnings)[:8])
        raise DataError(
            f"{name}: no usable rows; each of its {len(frame)} rows has a problem: {reasons}", file=name, report=report
        )

    clean = clean.sort_values(["domain", "user_id", "timestamp", "row"], kind="stable")
    clean = clean[list(INTERACTION_COLUMNS)].reset_index(drop=True)
    clean = clean.astype({"timestamp": np.int64, "row": np.int64})
    return LoadResult(interactions=Interactions(frame=clean, items=items), report=report)


def _refuse_absent_mapped(columns: ColumnMap, headers: dict[str, list[str]]) -> None:
    """Refuse a mapping `theirs=ours` when no file has a column `theirs`: the user named a column that is not
    there, and a column already called `ours` would otherwise be used in its place without a word."""
    for theirs, ours in columns.renames().items():
        if not any(theirs in names for names in headers.values()):
            files = " or ".join(headers)
            found = "; ".join(f"{file}: {', '.join(map(repr, names[:30]))}" for file, names in headers.items())
            given = Hint("columns", "{}: ", (f"{theirs}={ours}",), "given")
            raise DataError(given, f"there is no column {theirs!r} in {files} (columns: {found})")


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
    # hints must give a valid column map.
    taken = {c for c in original if c in OUR_COLUMNS} | set(renames)
    lowered = {str(c).lower(): c for c in original}
    for ours in missing:
        theirs = getattr(columns, ours)
        described.append(ours if theirs == ours else f"{theirs!r} (mapped to {ours})")
        # A product id is only ever a guess for item_id: spelled close to "domain" ("asin") it is no category.
        free = [c for c in original if c not in taken and (ours == "item_id" or not _PRODUCT_ID.search(str(c)))]
        close = difflib.get_close_matches(ours, free, n=1, cutoff=0.6)
        ids = [c for c in free if _PRODUCT_ID.search(str(c))] if ours == "item_id" else []
        guess = lowered.get(ours.lower()) or (close[0] if close else None) or (ids[0] if ids else None)
        if guess is not None and guess not in taken:
            taken.add(guess)
            hints.append(f"{guess}={ours}")
    shown = ", ".join(map(repr, original[:30])) + (f" and {len(original) - 30} more" if len(original) > 30 else "")
    message = f"{name} is missing required column{'s' if len(missing) > 1 else ''} {', '.join(described)}. "
    message += f"Its columns are: {shown}. "
    message += "Map your column names to ours"
    example = (f"{_EXAMPLE_NAMES[missing[0]]}={missing[0]}",)
    mapping = (
        Hint("columns", " with {}", tuple(hints), "suggested")
        if hints
        else Hint("columns", " with {}", example, "example")
    )
    extras = []
    if "domain" in missing:
        extras.append("add a domain column naming each row's product category")
    if "title" in missing and not has_items_file:
        extras.append("give an item file with item_id and title")
    after = "; or " + "; or ".join(extras) if extras else ""
    raise DataError(message, mapping, after + ".", file=name)


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
            warnings.append(f"domain {domain!r}: no usable rows (each of its rows has a problem)")
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
