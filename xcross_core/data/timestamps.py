"""Timestamps: detect a column's format by majority and turn every value into an int64 ordering key.

Formats are ISO dates, epoch seconds, epoch milliseconds and sequence positions. Dates become
nanoseconds since 1970; positions stay the number itself. A value in another format than most of the
file, or one that cannot be read, gets a problem code and a reason instead of a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

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


@dataclass(frozen=True)
class Stamps:
    """Parsed timestamps: an int64 ordering key per row, and a problem code and reason where bad."""

    key: np.ndarray  # ns since 1970 for dates, the number itself for positions; 0 where bad
    check: np.ndarray  # object; "" where the value is fine
    reason: np.ndarray  # object
    format: str  # "iso", "epoch_s", "epoch_ms" or "position"


def parse_timestamps(values: pd.Series) -> Stamps:
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
    return Stamps(key=key[codes], check=check[codes], reason=reason[codes], format=winner)


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
