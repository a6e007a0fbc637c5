"""Validate a purchase log: read it, check every row, and say whether it can be used."""

from __future__ import annotations

from dataclasses import dataclass

from xcross_core.data.report import ValidationReport
from xcross_core.jobs.hooks import SILENT, Hooks
from xcross_core.jobs.inputs import DataSpec, load_data


@dataclass(frozen=True, kw_only=True)
class ValidateSpec(DataSpec):
    """Check a purchase log and print its report."""


@dataclass(frozen=True)
class Validation:
    """The report, and whether the data can be used: as it is, or without its bad rows when `drop_invalid`."""

    report: ValidationReport
    usable: bool


def run(spec: ValidateSpec, hooks: Hooks = SILENT) -> Validation:
    """Read and check `spec`'s files; rows that would be dropped are written to `dropped_out` when set."""
    report = load_data(spec, hooks, strict=False).report
    usable = report.ok or (spec.drop_invalid and bool(report.domains["usable"].any()))
    return Validation(report, usable)
