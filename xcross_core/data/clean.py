"""Cleaning values and recording row problems during ingestion.

Ids and domains are stripped; titles and attributes have HTML entities decoded and whitespace
collapsed. `Issues` keeps the first problem found in each row of a file, and `dropped_rows` turns the
flagged rows into the `dropped` report, each with its file, 1-based data-row number, reason and
original values, so that nothing is dropped silently. `flag_characters` flags values holding a control
character (a NUL, say), and ids or domains holding an invisible one, which would make two ids that look the
same differ.
"""

from __future__ import annotations

import html
import unicodedata

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from xcross_core.data.report import DROPPED_COLUMNS

#: Our column names, in the order of the `dropped` report's value columns.
OUR_COLUMNS = ("user_id", "item_id", "timestamp", "domain", "title")

#: Control characters, which no value may hold: C0 but tab, line feed and carriage return (whitespace, collapsed
#: in text), DEL and C1 (which text decoded with the wrong single-byte encoding is full of).
_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
#: Invisible format characters, which an id or domain may not hold: soft hyphen, Arabic letter mark, zero-width
#: space and joiners, direction marks, embeddings, overrides and isolates, word joiner and invisible operators,
#: byte-order mark. (Titles may: an emoji sequence holds a zero-width joiner.)
_INVISIBLE = "\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_NAMED = ("user_id", "item_id", "domain")  # the columns that name something, and may hold no invisible character


def clean_values(raw: pd.DataFrame, name: str, domain: str | None) -> tuple[pd.DataFrame, list[str]]:
    """Our columns, cleaned: ids and domain stripped, titles tidied; `domain` overrides the column."""
    frame = pd.DataFrame(
        {
            "user_id": raw["user_id"].str.strip(),
            "item_id": raw["item_id"].str.strip(),
            "domain": raw["domain"].str.strip() if domain is None else domain.strip(),
            "title": clean_text(raw["title"]) if "title" in raw else "",
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


def clean_text(values: pd.Series) -> pd.Series:
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


class Issues:
    """The first problem found in each row of one file; later checks never overwrite earlier ones."""

    def __init__(self, n: int) -> None:
        self.check = np.full(n, "", dtype=object)
        self.reason = np.full(n, "", dtype=object)
        self.severity = np.full(n, "", dtype=object)

    @property
    def bad(self) -> np.ndarray:
        """Bool per row: True where a problem was recorded."""
        return self.check != ""

    def flag(self, mask: ArrayLike, check: str | np.ndarray, reason: str | np.ndarray, severity: str = "error") -> None:
        """Record `check` (code) and `reason` (scalars or per-row arrays) where `mask` and no problem yet."""
        new = np.asarray(mask, dtype=bool) & ~self.bad
        self.check[new] = check[new] if isinstance(check, np.ndarray) else check
        self.reason[new] = reason[new] if isinstance(reason, np.ndarray) else reason
        self.severity[new] = severity

    def flag_at(self, positions: ArrayLike, check: str, reason: str | ArrayLike, severity: str = "error") -> None:
        """Like `flag`, for the rows at `positions`; `reason` is a scalar or one value per position."""
        positions = np.asarray(positions, dtype=np.int64)
        mask = np.zeros(len(self.check), dtype=bool)
        mask[positions] = True
        full = np.full(len(self.check), "", dtype=object)
        full[positions] = reason
        self.flag(mask, check, full, severity)


def flag_characters(raw: pd.DataFrame, issues: Issues, severity: str = "error") -> None:
    """Flag rows where one of our columns holds a control character, or an id or the domain an invisible one."""
    for column in [c for c in OUR_COLUMNS if c in raw]:
        pattern = f"[{_CONTROL}{_INVISIBLE if column in _NAMED else ''}]"
        bad = raw[column].str.contains(pattern, regex=True).to_numpy(dtype=bool)
        if bad.any():  # rare: each such value described on its own, by the first such character in it
            found = raw[column][bad].str.extract(f"({pattern})", expand=False).to_numpy()
            control = np.array([unicodedata.category(c) == "Cc" for c in found])
            reasons = np.array([f"{column} holds {_describe(c)}" for c in found], dtype=object)
            issues.flag_at(np.flatnonzero(bad)[control], "control_character", reasons[control], severity)
            issues.flag_at(np.flatnonzero(bad)[~control], "invisible_character", reasons[~control], severity)


def _describe(character: str) -> str:
    """'the control character U+0000' or 'an invisible character U+200B (ZERO WIDTH SPACE)'."""
    code = f"U+{ord(character):04X}"
    if 0x80 <= ord(character) <= 0x9F:  # as cp1252 text decoded as latin-1 holds in place of quotes and dashes
        return f"the control character {code} (cp1252 text read as latin-1? try the encoding cp1252)"
    if unicodedata.category(character) == "Cc":  # control characters have no name in unicodedata
        return f"the control character {code}"
    return f"an invisible character {code} ({unicodedata.name(character, 'unnamed')})"


def flag_duplicates(frame: pd.DataFrame, issues: Issues) -> None:
    """Flag exact repeats of an earlier row. The same item bought again at another time is kept."""
    keys = ["user_id", "item_id", "timestamp", "domain"]
    live = frame[~issues.bad]
    repeat = live.duplicated(keys, keep="first")
    if repeat.any():
        first_row = live.groupby(keys, sort=False)["row"].transform("min")[repeat]
        reason = ("duplicate of row " + first_row.astype("str")).to_numpy()
        issues.flag_at(live.index[repeat], "duplicate_row", reason, severity="warning")


def dropped_rows(name: str, raw: pd.DataFrame, rows: np.ndarray, issues: Issues) -> pd.DataFrame:
    """The flagged rows of one file, with their reasons and original values (DROPPED_COLUMNS)."""
    bad = issues.bad
    data = {
        "file": name,
        "row": rows[bad],
        "reason": issues.reason[bad],
        "severity": issues.severity[bad],
        "check": issues.check[bad],
    }
    for column in OUR_COLUMNS:
        data[column] = raw[column].to_numpy(dtype=object)[bad] if column in raw else ""
    frame = pd.DataFrame(data, columns=list(DROPPED_COLUMNS), index=range(int(bad.sum())))
    text_columns = [c for c in DROPPED_COLUMNS if c != "row"]
    return frame.astype(dict.fromkeys(text_columns, "str") | {"row": np.int64})
