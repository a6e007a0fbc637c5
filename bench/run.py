"""The benchmarks' one entry point: each benchmark by a name, with the arguments that make its configuration.

    python bench/run.py                          # the names, what each measures, and the command each runs
    python bench/run.py real-learning            # run one (more arguments go to its script: --help shows them)
    python bench/run.py docs                     # regenerate docs/results.md's tables from the committed result files

The real-data benchmarks (`real-*`) keep one result file pair per model under bench/results/ and skip what is done, so
a stopped run continues; docs/results.md's generated tables are read from those files. The others print their
figures with the command that reproduces them (docs/results.md quotes them with their commit).
"""

from __future__ import annotations

import importlib
import sys

#: name -> (script in bench/, its arguments): one configuration each.
BENCHES: dict[str, tuple[str, tuple[str, ...]]] = {
    "real-learning": ("real_learning", ()),
    "real-learning-wide": ("real_learning", ("--wide",)),
    "real-sources": ("real_sources", ()),
    "real-sources-curve": ("real_sources", ("--curve",)),
    "real-sources-levers": ("real_sources", ("--levers",)),
    "real-sources-wide": ("real_sources", ("--wide",)),
    "real-why": ("real_why", ()),
    "real-poc": ("real_poc", ()),
    "poc": ("perf", ("--parts", "poc")),
    "perf": ("perf", ()),
    "step-ratio": ("step_ratio", ()),
    "lanes": ("lanes", ()),
    "top-layers": ("top_layers", ()),
    "adapters": ("adapters", ()),
    "baselines": ("baselines", ()),
    "xcross": ("xcross", ()),
    "transfer-gap": ("transfer_gap", ()),
    "xcross-lr": ("xcross_lr", ()),
    "lora-lr": ("lora_lr", ()),
}
#: The scripts whose tables docs/results.md holds, each regenerated with --write-docs.
DOCS = ("real_learning", "real_sources", "real_why", "real_poc")


def call(script: str, args: list[str]) -> int:
    """Run `script`'s main() as `python bench/<script>.py ARGS` would."""
    sys.argv = [f"bench/{script}.py", *args]
    return importlib.import_module(script).main() or 0


def listing() -> str:
    lines = ["benchmarks (python bench/run.py NAME [more arguments]):"]
    for name, (script, args) in BENCHES.items():
        about = (importlib.import_module(script).__doc__ or "").splitlines()[0].removeprefix("Benchmark: ")
        lines.append(f"  {name:<20} python bench/{script}.py {' '.join(args)}".rstrip() + f"\n  {'':<20} {about}")
    lines.append(f"  {'docs':<20} python bench/<script>.py --write-docs, for {', '.join(DOCS)}")
    return "\n".join(lines)


def main() -> int:
    name, *more = sys.argv[1:] or [""]
    if name == "docs":
        return max(call(script, ["--write-docs"]) for script in DOCS)
    if name not in BENCHES:
        print(listing())
        return 0 if name in ("", "-h", "--help") else 2
    script, args = BENCHES[name]
    return call(script, [*args, *more])


if __name__ == "__main__":
    sys.exit(main())
