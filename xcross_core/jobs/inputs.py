"""What jobs share: the data files and how to read them, the split, the base model and source adapters.

Each job's spec combines the parts it needs (`DataSpec`, `SplitSpec`, `ModelSpec`), and the checks of source
adapters (`check_sources`), of a domain's size (`domain_of`) and of a split's (`SplitSpec.make_split`) live
here once, for every job and caller. Outputs are checked in `outputs.py`.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from xcross_core.data.advice import Hint, Message, message_of
from xcross_core.data.clean import OUR_COLUMNS
from xcross_core.data.dataset import DomainData
from xcross_core.data.load import ColumnMap, LoadResult, load_interactions
from xcross_core.data.read import MAX_FIELD_CHARS, MAX_ROWS
from xcross_core.data.report import DataError, format_rows, summarise_dropped
from xcross_core.evaluation.splits import Split, make_split
from xcross_core.jobs.hooks import Hooks
from xcross_core.jobs.outputs import check_output_file
from xcross_core.jobs.spec import Spec, SpecError, option
from xcross_core.models.adapters import METADATA, AdapterMetadata
from xcross_core.models.base import DEFAULT_BASE
from xcross_core.models.sources import source_metadata


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
    max_rows: int = option(
        "refuse an input file with more data rows than this before reading it (reading costs memory)",
        MAX_ROWS,
        minimum=1,
    )
    max_field_chars: int = option(
        "refuse an input file holding a value longer than this many characters, before reading it whole (a value "
        "this long is most often a quote left open)",
        MAX_FIELD_CHARS,
        minimum=1,
    )

    def check(self) -> None:
        super().check()
        existing_file("interactions", self.interactions)
        if self.items is not None:
            existing_file("items", self.items)
        unknown = sorted(set(self.columns) - set(OUR_COLUMNS))
        if unknown:
            raise SpecError("columns", f"maps {unknown}, which are not our columns ({', '.join(OUR_COLUMNS)})")
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                problem = f"{self.encoding!r} is not a known encoding (try utf-8, latin-1 or cp1252)"
                raise SpecError("encoding", problem) from None
        check_output_file("dropped_out", self.dropped_out, self.inputs())

    def inputs(self) -> list[Path]:
        """The files this spec reads, which no output may overwrite."""
        return [self.interactions] + ([self.items] if self.items is not None else [])

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
    seed: int = option("random seed of the split and of training", 0, minimum=0, maximum=2**32 - 1)

    def check(self) -> None:
        super().check()
        if self.test_share + self.valid_share >= 1:
            shares = f"{self.test_share} + {self.valid_share}"
            raise SpecError(None, f"test_share and valid_share must sum to less than 1, not {shares}")

    def make_split(
        self, domain: DomainData, sampled: int | None = None, *, tested: bool = True, ordered: bool = False
    ) -> Split:
        """This split of `domain`; `sampled` switches evaluation to that many sampled negatives. Refuses a split
        that leaves nothing to train on, or (when `tested`) nothing to test on (see `check_split`)."""
        with as_spec_error():
            split = make_split(
                domain,
                self.split,
                seed=self.seed,
                test_share=self.test_share,
                valid_share=self.valid_share,
                fraction=self.fraction,
                max_users=self.max_users,
                sampled_negatives=sampled,
            )
        check_split(split, self.max_users, tested=tested, ordered=ordered)
        return split


@dataclass(frozen=True, kw_only=True)
class ModelSpec(Spec):
    """Which base language model the models of a job start from."""

    base: str | None = option(
        f"base language model: a local folder or Hugging Face id (default: packaged {DEFAULT_BASE})", None
    )
    download: bool = option("allow fetching the base model from the Hugging Face hub", False)

    def check(self) -> None:
        super().check()
        if self.base in (None, "", DEFAULT_BASE, "default") or self.download or Path(self.base).expanduser().exists():
            return
        if not _in_hub_cache(self.base):
            fetch = Hint("download", "pass {} to fetch it from the hub (needs network), or ", ("True",))
            problem = Message(
                f"{self.base!r} is not a local model folder, nor a model in the Hugging Face cache; ",
                fetch,
                "name a local folder",
            )
            raise SpecError("base", problem)


def _in_hub_cache(model_id: str) -> bool:
    """Whether hub model `model_id` is in the local Hugging Face cache (looked up on disk, never online)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except ValueError:  # not a valid hub id either
        return False


def check_split(split: Split, max_users: int | None, *, tested: bool = True, ordered: bool = False) -> None:
    """Refuse a split with no users to train on, or (when `tested`) none to test on: a model trained or
    scored on nobody has no result to show (an untrained model, or NaN metrics). With `ordered` (a model
    that learns what follows what), a training user needs 2 or more purchases in the split."""
    domain = split.domain
    users: tuple[str | Hint, ...] = (f"{domain.n_users:,} user{'s' if domain.n_users != 1 else ''}",)
    if max_users is not None and max_users < domain.n_users:
        users += (Hint("max_users", f", {max_users:,} kept by {{}}", role="given"),)
    least = 2 if ordered else 1
    if not any(len(sequence) >= least for sequence in split.train):
        some = " with 2 or more purchases" if ordered else ""
        raise SpecError(
            None, Message(f"domain {domain.name!r} leaves no users{some} to train on in this split (", *users, ")")
        )
    if tested and not len(split.test):
        problem = Message(
            f"domain {domain.name!r} leaves no users to test on in this split (",
            *users,
            "; a test user needs at least 2 purchases): it needs more users",
            Hint("test_share", ", or a larger {}"),
        )
        raise SpecError(None, problem)


def existing_file(name: str, path: Path) -> None:
    """Refuse setting `name` when `path` is not a file."""
    if not path.is_file():
        raise SpecError(name, f"{path}: no such file")


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
        raise SpecError(field, message_of(err) or str(err)) from None  # a Message keeps its hints for the front end


def load_data(
    spec: DataSpec, hooks: Hooks, path: Path | None = None, *, strict: bool = True, domain: str | None = None
) -> LoadResult:
    """Read `spec`'s data (or another file `path` with the same settings), passing on its warnings.

    A job on one `domain` (None: on every domain, as `validate`) is concerned only by rows with errors in that
    domain, or whose domain cannot be told; rows with errors in other domains are not used, and a warning says so.
    With `strict`, the rows of concern stop the job unless `drop_invalid` accepts dropping them; with
    `drop_invalid`, one line says what was dropped. Rows left out of the interactions file are written to
    `dropped_out` when set.
    """
    result = load_interactions(
        path or spec.interactions,
        spec.items,
        columns=spec.column_map(),
        encoding=spec.encoding,
        min_users=spec.min_users,
        max_rows=spec.max_rows,
        max_field_chars=spec.max_field_chars,
    )
    report = result.report
    if spec.dropped_out and path is None and len(report.dropped):
        report.write_dropped(spec.dropped_out)
    errors = report.dropped[report.dropped["severity"] == "error"]
    # The domain of each row with an error ("" when it cannot be told): a job on one domain minds only its own.
    where = errors["domain"].str.strip().where(~errors["check"].isin(_DOMAIN_UNKNOWN), "")
    concerned = where.isin(["", domain]) | (domain is None)
    if strict and concerned.any() and not spec.drop_invalid:
        rows, them = ("these rows", "them") if concerned.sum() > 1 else ("this row", "it")
        raise DataError(
            f"{_described(errors[concerned], where)}. Fix {rows}",
            Hint("drop_invalid", f", or pass {{}} to continue without {them}", ("True",)),
            Hint("dropped_out", f" ({{}} lists {them})", ("FILE",)),
            ".",
            rows=np.sort(errors.loc[concerned, "row"].to_numpy()),
        )
    for message in report.warnings:
        hooks.say(f"warning: {message}")
    if not concerned.all():
        hooks.say(
            f"warning: not used, as this job reads domain {domain!r} only: {_described(errors[~concerned], where)}"
        )
    if spec.drop_invalid:
        hooks.say(_drop_summary(errors[concerned], (path or spec.interactions).name, domain))
    return result


#: Checks of rows whose domain cannot be told: none is given, or the fields of the row cannot be told apart.
_DOMAIN_UNKNOWN = ("empty_domain", "field_count", "repeated_header")


def _described(errors: pd.DataFrame, where: pd.Series) -> str:
    """Rows with errors by file, reason and domain (`where`, "" when unknown), on one line."""
    parts = []
    for domain, rows in errors.groupby(where[errors.index], sort=False):  # one group per domain: few
        place = f"in domain {domain!r}" if domain else "domain unknown"
        parts += [f"{message} ({place})" for message in summarise_dropped(rows)[0]]
    return "; ".join(parts)


def _drop_summary(dropped: pd.DataFrame, name: str, domain: str | None) -> str:
    """The one line `drop_invalid` says for file `name`: the rows with errors dropped, or that there were none."""
    if dropped.empty:
        scope = f" in domain {domain!r}" if domain is not None else ""
        return f"{name} has no rows with errors{scope}; nothing dropped"
    n = len(dropped)
    rows = format_rows(np.sort(dropped["row"].to_numpy()))
    return f"dropped {n:,} row{'s' if n > 1 else ''} with errors from {name} ({rows})"


def domain_of(result: LoadResult, name: str, *, usable: bool = True) -> DomainData:
    """Domain `name` of the loaded data; SpecError naming the domains there are when it is not one of them,
    or (with `usable`, for jobs that train or evaluate) when the report marks it not usable: too few users."""
    try:
        domain = result.interactions.domain(name)
    except KeyError as err:
        raise SpecError(None, err.args[0]) from None
    stats = result.report.domains.set_index("domain")
    if usable and name in stats.index and not stats.loc[name, "usable"]:
        problem = Message(
            f"domain {name!r} cannot be trained or evaluated on: {stats.loc[name, 'note']}",
            Hint("min_users", " (see {})"),
        )
        raise SpecError(None, problem)
    return domain
