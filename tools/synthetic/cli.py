"""The command line that writes the sample data: ``python -m tools.synthetic --out sample_data``."""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.synthetic.describe import render_readme
from tools.synthetic.generate import write_sample_data


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m tools.synthetic --out sample_data [--seed S] [--users N]``.

    Writes interactions.csv, items.csv and a README.md describing them into ``--out``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tools.synthetic",
        description="Write seeded synthetic multi-domain purchase logs (interactions.csv, items.csv, README.md).",
    )
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--users", type=int, default=2000, help="users per domain (default 2000)")
    parser.add_argument("--no-readme", action="store_true", help="do not write README.md")
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users must be at least 1")
    inter_path, items_path = write_sample_data(args.out, seed=args.seed, users_per_domain=args.users)
    if not args.no_readme:
        readme = render_readme(inter_path, items_path, args.seed, args.users)
        (Path(args.out) / "README.md").write_text(readme, encoding="utf-8")
    print(f"wrote {inter_path} and {items_path}" + ("" if args.no_readme else " and README.md"))
    return 0
