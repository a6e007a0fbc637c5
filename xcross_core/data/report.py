"""What ingestion found in a purchase log: per-domain statistics, every dropped row, and messages.

`load_interactions` fills a `ValidationReport`; the CLI prints `to_text()`, the app shows the frames and
offers `write_dropped()` as a download. Row numbers are 1-based data rows of the named file (the header
is not counted), so a user can find them in a spreadsheet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xcross_core.data.advice import Hint, Message
from xcross_core.data.output import atomic_file

#: Columns of `ValidationReport.dropped`: where the row was, why it was dropped, and its original values.
#: `check` is a stable code for the reason (e.g. "unparseable_timestamp") that the app can filter on.
DROPPED_COLUMNS = (
    "file",
    "row",
    "reason",
    "severity",
    "check",
    "user_id",
    "item_id",
    "timestamp",
    "domain",
    "title",
)

#: Columns of `ValidationReport.domains`, one row per domain.
DOMAIN_COLUMNS = (
    "domain",
    "users",
    "items",
    "interactions",
    "items_without_text",
    "duplicate_rows",
    "single_interaction_users",
    "seq_len_min",
    "seq_len_median",
    "seq_len_mean",
    "seq_len_p90",
    "seq_len_max",
    "usable",
    "note",
)

#: Short labels of the checks, used to summarise dropped rows by reason.
CHECKS = {
    "field_count": "wrong number of fields",
    "repeated_header": "repeats the header",
    "control_character": "control character",
    "invisible_character": "invisible character",
    "empty_user_id": "empty user_id",
    "empty_item_id": "empty item_id",
    "empty_domain": "empty domain",
    "empty_timestamp": "empty timestamp",
    "unparseable_timestamp": "unparseable timestamp",
    "negative_timestamp": "negative timestamp",
    "timestamp_out_of_range": "timestamp out of range",
    "fractional_position": "sequence position is not a whole number",
    "mixed_timestamp_format": "timestamp format differs from the rest of the file",
    "empty_title": "empty title",
    "duplicate_row": "duplicate row",
    "duplicate_item": "item listed more than once",
    "unused_item": "item not used",
}

#: A spreadsheet treats a cell starting with one of these as a formula (CSV injection).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def empty_dropped() -> pd.DataFrame:
    """A `dropped` frame with no rows and the right columns."""
    frame = pd.DataFrame({name: pd.Series(dtype="str") for name in DROPPED_COLUMNS})
    return frame.astype({"row": np.int64})


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` fit to write as CSV for a spreadsheet: text cells that a spreadsheet would run as a
    formula (starting with =, +, -, @, tab or carriage return) get a leading single quote.

    Numeric and boolean columns are left as they are; every other column is written as text.
    """
    frame = frame.copy()
    for name in frame.columns:
        if frame[name].dtype.kind in "iufb":
            continue
        values = frame[name].astype("str")
        risky = values.str.startswith(_FORMULA_PREFIXES).fillna(False)
        frame[name] = values.where(~risky, "'" + values)
    return frame


def format_rows(rows: np.ndarray | list[int], first: int = 5) -> str:
    """'row 7' or 'rows 2, 5, 9, 12, 15 and 7 more': the first few row numbers, then a count."""
    shown = ", ".join(str(int(r)) for r in rows[:first])
    if len(rows) == 1:
        return f"row {shown}"
    more = f" and {len(rows) - first} more" if len(rows) > first else ""
    return f"rows {shown}{more}"


def summarise_dropped(dropped: pd.DataFrame) -> tuple[list[str], list[str]]:
    """One message per (file, check): how many rows, the first row numbers and an example reason.

    Returns (errors, warnings) by the rows' severity. Rows with warnings are always left out, so their messages
    say "dropped"; rows with errors only when the user accepts it (`drop_invalid`), so theirs do not.
    """
    errors: list[str] = []
    warnings: list[str] = []
    if dropped.empty:
        return errors, warnings
    # Few groups (one per file and reason), so a loop over groups is cheap.
    for (file, check, severity), group in dropped.groupby(["file", "check", "severity"], sort=False):
        label = CHECKS.get(check, check)
        rows = np.sort(group["row"].to_numpy())
        n = len(rows)
        example = group["reason"].iloc[0]
        left_out = severity == "warning"
        if n == 1:
            message = f"{file} {format_rows(rows)}: {example}{' (dropped)' if left_out else ''}"
        else:
            detail = f"; e.g. {example}" if example != label else ""
            message = f"{file} {format_rows(rows)}: {label} ({n} rows{' dropped' if left_out else ''}{detail})"
        (errors if severity == "error" else warnings).append(message)
    return errors, warnings


@dataclass
class ValidationReport:
    """Everything ingestion found; `ok` says whether the data can be used as it is."""

    files: list[str]
    timestamp_format: str  # "iso", "epoch_s", "epoch_ms" or "position"
    domains: pd.DataFrame  # DOMAIN_COLUMNS, one row per domain
    dropped: pd.DataFrame = field(default_factory=empty_dropped)  # DROPPED_COLUMNS, one row per dropped row
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No error-severity problems, and at least one domain has enough users to work with."""
        has_error_rows = bool((self.dropped["severity"] == "error").any()) if len(self.dropped) else False
        usable = bool(self.domains["usable"].any()) if len(self.domains) else False
        return not self.errors and not has_error_rows and usable

    def to_text(self) -> str:
        """The printable report: a table per domain, dropped rows by reason, then the messages."""
        lines = [f"Validation report: {', '.join(self.files)}"]
        lines.append(f"Timestamps read as: {_FORMAT_NAMES.get(self.timestamp_format, self.timestamp_format)}")
        lines.append(f"Status: {'OK' if self.ok else 'PROBLEMS FOUND'}")
        lines.append("")
        lines.append("Domains")
        if len(self.domains):
            lines.append(_indent(_domain_table(self.domains).to_string()))
        else:
            lines.append("  (none)")
        lines.append("")
        n = len(self.dropped)
        lines.append(f"Rows with problems: {n}")
        if n:
            lines.append("  (row numbers are 1-based data rows of the named file; the header is not counted)")
            summary = (
                self.dropped.assign(reason=self.dropped["check"].map(CHECKS).fillna(self.dropped["check"]))
                .groupby(["file", "reason", "severity"], sort=False)
                .size()
                .rename("rows")
                .reset_index()
            )
            lines.append(_indent(summary.to_string(index=False)))
        for title, messages in (("Errors", self.errors), ("Warnings", self.warnings)):
            if messages:
                lines.append("")
                lines.append(f"{title} ({len(messages)})")
                lines.extend(f"  - {message}" for message in messages)
        return "\n".join(lines) + "\n"

    def write_dropped(self, path: str | Path) -> Path:
        """Write the dropped rows as CSV, safe to open in a spreadsheet; returns the path.

        Text cells that a spreadsheet would run as a formula get a leading single quote. The file is
        UTF-8 with a byte-order mark, so that spreadsheet programs detect the encoding. It is written whole
        or not at all (`atomic_file`); missing parent folders are created.
        """
        path = Path(path)
        with atomic_file(path) as tmp:
            spreadsheet_safe(self.dropped).to_csv(tmp, index=False, encoding="utf-8-sig")
        return path

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (dropped rows are summarised; `write_dropped` has them all)."""
        summary = (
            self.dropped.groupby(["file", "check", "severity"], sort=False)["row"]
            .agg(rows="size", first_rows=lambda r: [int(v) for v in np.sort(r.to_numpy())[:10]])
            .reset_index()
            if len(self.dropped)
            else pd.DataFrame(columns=["file", "check", "severity", "rows", "first_rows"])
        )
        return {
            "ok": self.ok,
            "files": list(self.files),
            "timestamp_format": self.timestamp_format,
            "domains": _records(self.domains),
            "n_dropped": len(self.dropped),
            "dropped_summary": _records(summary),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }


class DataError(ValueError):
    """A file cannot be used at all. The message is for the user: it names the file, rows and reason.

    The message is a `Message` (see `advice.py`): its parts, the `file` and `rows` it is about, and the settings
    (`options`) that would get round the problem, which each front end words in its own way (`str()` gives the
    library's). When every row was read but none can be used, `report` holds the full report (dropped rows
    included), so that the user can still download what went wrong.
    """

    def __init__(
        self,
        *parts: str | Hint,
        file: str | None = None,
        rows: Sequence[int] = (),
        report: ValidationReport | None = None,
    ) -> None:
        message = (
            parts[0] if len(parts) == 1 and isinstance(parts[0], Message) else Message(*parts, file=file, rows=rows)
        )
        super().__init__(message)
        self.message, self.report = message, report

    @property
    def file(self) -> str | None:
        """The file the problem is in, when it is one file's."""
        return self.message.file

    @property
    def rows(self) -> tuple[int, ...]:
        """The data rows (or, for a problem found while reading lines, the lines) the message names."""
        return self.message.rows

    @property
    def options(self) -> tuple[str, ...]:
        """Neutral keys of the settings the message points to (e.g. "columns", "encoding", "max_rows")."""
        return self.message.options

    @property
    def reason(self) -> str:
        """What is wrong, without the clauses that name a setting."""
        return self.message.reason


_FORMAT_NAMES = {
    "iso": "ISO 8601 dates",
    "epoch_s": "epoch seconds",
    "epoch_ms": "epoch milliseconds",
    "position": "sequence positions (ordering only)",
}


def _domain_table(domains: pd.DataFrame) -> pd.DataFrame:
    """Statistics as rows and domains as columns (narrow enough for a terminal), numbers rounded."""
    table = domains.set_index("domain").round(1).astype(object).T
    table = table.map(lambda v: int(v) if isinstance(v, float) and v.is_integer() else v)  # a cell per stat
    table.index = [name.replace("_", " ") for name in table.index]
    table.columns.name = None
    return table


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Frame rows as plain-Python dicts (numpy scalars and NaN become int/float/bool/None)."""
    out = []
    for record in frame.to_dict("records"):
        clean = {}
        for key, value in record.items():
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, float) and np.isnan(value):
                value = None
            clean[str(key)] = value
        out.append(clean)
    return out
