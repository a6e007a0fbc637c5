"""What jobs share: the data files and how to read them, the split, the base model, source adapters, outputs.

Each job's spec combines the parts it needs (`DataSpec`, `SplitSpec`, `ModelSpec`), and the checks of source
adapters (`check_sources`) and of output folders (`check_out`) live here once, for every job and caller.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from xcross_core.data.clean import OUR_COLUMNS
from xcross_core.data.dataset import DomainData
from xcross_core.data.load import ColumnMap, LoadResult, load_interactions
from xcross_core.data.report import DataError
from xcross_core.evaluation.splits import Split, make_split
from xcross_core.jobs.hooks import Hooks
from xcross_core.jobs.spec import Spec, SpecError, option
from xcross_core.models.adapters import METADATA, AdapterMetadata
from xcross_core.models.base import DEFAULT_BASE
from xcross_core.models.xcross import source_metadata


@dataclass(frozen=True, kw_only=True)
class DataSpec(Spec):
    """Which files make the data, and how strictly they are read."""

    interactions: Path = option("interactions file (.csv, .tsv, .parquet, .jsonl)")
    items: Path | None = option("item file: item_id, title, optional domain/brand/category/...", None)
    columns: dict[str, str] = option(
        f"the file's name for each of our columns ({', '.join(OUR_COLUMNS)}) that it names differently",
        factory=dict,
        flag="--column",
        metavar="THEIRS=OURS",
    )
    encoding: str | None = option("text encoding of CSV/JSON Lines input (default UTF-8)", None)
    min_users: int = option("users a domain needs to be usable", 5, minimum=1)
    drop_invalid: bool = option("continue without rows that fail validation (they are counted)", False)
    dropped_out: Path | None = option("write the dropped rows and their reasons to this CSV", None)

    def check(self) -> None:
        super().check()
        existing_file("interactions", self.interactions)
        if self.items is not None:
            existing_file("items", self.items)
        unknown = sorted(set(self.columns) - set(OUR_COLUMNS))
        if unknown:
            raise SpecError("columns", f"maps {unknown}, which are not our columns ({', '.join(OUR_COLUMNS)})")

    def column_map(self) -> ColumnMap:
        """The column mapping as the loader takes it."""
        return ColumnMap(**self.columns)


@dataclass(frozen=True, kw_only=True)
class SplitSpec(Spec):
    """How a domain's users are split for training and evaluation, and how long models train."""

    split: Literal["users", "loo"] = option(
        "'users': hold out whole users; 'loo': leave the last item out per user", "users"
    )
    test_share: float = option("share of users held out for test (users split)", 0.1, bounds="(0, 1)")
    valid_share: float = option("share of users held out for validation (users split)", 0.1, bounds="[0, 1)")
    fraction: float = option("share of training users to train on (data budget)", 1.0, bounds="(0, 1]")
    max_users: int | None = option("cap the domain's users (seeded sample) for quick runs", None, minimum=1)
    epochs: int | None = option("maximum epochs for trained models (early stopping still applies)", None, minimum=1)
    seed: int = option("random seed of the split and of training", 0)

    def check(self) -> None:
        super().check()
        if self.test_share + self.valid_share >= 1:
            shares = f"{self.test_share} + {self.valid_share}"
            raise SpecError(None, f"test_share and valid_share must sum to less than 1, not {shares}")

    def make_split(self, domain: DomainData, sampled: int | None = None) -> Split:
        """This split of `domain`; `sampled` switches evaluation to that many sampled negatives."""
        with as_spec_error():
            return make_split(
                domain,
                self.split,
                seed=self.seed,
                test_share=self.test_share,
                valid_share=self.valid_share,
                fraction=self.fraction,
                max_users=self.max_users,
                sampled_negatives=sampled,
            )


@dataclass(frozen=True, kw_only=True)
class ModelSpec(Spec):
    """Which base language model the models of a job start from."""

    base: str | None = option(
        f"base language model: a local folder or Hugging Face id (default: packaged {DEFAULT_BASE})", None
    )
    download: bool = option("allow fetching the base model from the Hugging Face hub", False)


def existing_file(name: str, path: Path) -> None:
    """Refuse setting `name` when `path` is not a file."""
    if not path.is_file():
        raise SpecError(name, f"{path}: no such file")


def check_out(path: Path | None, *, overwrite: bool | None = None) -> None:
    """Refuse an output folder or file that exists (unless `overwrite`): writing it would lose what is there.

    `overwrite` None: the job offers no overwriting.
    """
    if path is not None and path.exists() and not overwrite:
        hint = "" if overwrite is None else ", or allow overwriting"
        raise SpecError("out", f"{path} already exists; choose another{hint}")


def check_sources(adapters: Sequence[Path]) -> list[AdapterMetadata]:
    """The metadata of source adapters a job can integrate: at least one, each an adapter folder of this
    version, all on one base model. Raises SpecError naming the problem."""
    if not adapters:
        raise SpecError("adapters", "must name at least one source adapter")
    for folder in adapters:
        if not (folder / METADATA).is_file():
            raise SpecError("adapters", f"{folder} is not an adapter folder (no {METADATA}); train one first")
    with as_spec_error():
        return source_metadata(adapters)


@contextmanager
def as_spec_error(field: str | None = None) -> Iterator[None]:
    """Report a ValueError (or a missing file) raised inside as a SpecError: a problem with what was asked."""
    try:
        yield
    except (DataError, SpecError):
        raise
    except (ValueError, FileNotFoundError) as err:
        raise SpecError(field, str(err)) from None


def load_data(spec: DataSpec, hooks: Hooks, path: Path | None = None, *, strict: bool = True) -> LoadResult:
    """Read `spec`'s data (or another file `path` with the same settings), passing on its warnings.

    Rows dropped from the interactions file are written to `dropped_out` when set. With `strict`, rows with
    errors stop the job unless `drop_invalid` accepts dropping them.
    """
    result = load_interactions(
        path or spec.interactions,
        spec.items,
        columns=spec.column_map(),
        encoding=spec.encoding,
        min_users=spec.min_users,
    )
    report = result.report
    if spec.dropped_out and path is None and len(report.dropped):
        report.write_dropped(spec.dropped_out)
    if strict and report.errors and not spec.drop_invalid:
        raise DataError(
            "\n".join(report.errors)
            + "\nFix these rows, or pass --drop-invalid to continue without them (--dropped-out FILE lists them)."
        )
    for message in report.warnings:
        hooks.say(f"warning: {message}")
    return result


def domain_of(result: LoadResult, name: str) -> DomainData:
    """Domain `name` of the loaded data; SpecError naming the domains there are when it is not one of them."""
    try:
        return result.interactions.domain(name)
    except KeyError as err:
        raise SpecError(None, err.args[0]) from None
