"""The sample data's proof-of-concept split and sources, shared by the sample-data benches (xcross.py, xcross_lr.py,
transfer_gap.py): the target's user split and its budget, the sample source adapters, and their options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xcross_core.data.dataset import DomainData
from xcross_core.data.load import load_interactions
from xcross_core.evaluation.splits import Split, make_split
from xcross_core.models.adapters import METADATA

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = (ROOT / "sample_data" / "interactions.csv", ROOT / "sample_data" / "items.csv")


def sample_sources(folder: Path, names: list[str]) -> list[Path]:
    """The sample source adapters `folder`/name; exit with how to train one that is missing."""
    sources = [folder / name for name in names]
    for source in sources:
        if not (source / METADATA).is_file():
            sys.exit(
                f"error: no adapter at {source}: train it with `xcross train-adapter sample_data/interactions.csv "
                f"--items sample_data/items.csv --domain {source.name} --max-users 1000 --epochs 3 --seed 0 "
                f"--out {source}`, or give --sample-adapters"
            )
    return sources


def sample_splits(
    target: str, max_users: int, test_share: float, seed: int, budget: float
) -> tuple[DomainData, Split, Split]:
    """The sample target domain, its user split, and the same split with `budget` of its training users."""
    domain = load_interactions(*SAMPLE).interactions.domain(target)
    common = {"seed": seed, "max_users": max_users, "test_share": test_share}
    return domain, make_split(domain, "users", **common), make_split(domain, "users", fraction=budget, **common)


def split_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that fix this bench's sample split (its --sample-target, --sample-max-users, ...)."""
    parser.add_argument("--target", default="Electronics")
    parser.add_argument("--max-users", type=int, default=1000)
    parser.add_argument("--test-share", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)


def probe_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the sample-data probes (xcross_lr.py): this bench's sample split, sources and budget."""
    split_arguments(parser)
    parser.add_argument("--budget", type=float, default=0.25, help="share of target training users")
    parser.add_argument("--sources", nargs="+", default=["Sports", "Kitchen", "Home_Office"])
    parser.add_argument("--sample-adapters", type=Path, default=ROOT / "sample_data" / "adapters")


def probe_setup(args: argparse.Namespace) -> tuple[list[Path], DomainData, Split, Split]:
    """(sources, target domain, its split, the split at the budget) from `probe_arguments`' options."""
    sources = sample_sources(args.sample_adapters, args.sources)
    return sources, *sample_splits(args.target, args.max_users, args.test_share, args.seed, args.budget)
