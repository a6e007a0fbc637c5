"""Benchmark: on which next purchases does the target's own LoRA beat what the sources already know?

It reads the per-case metrics of a `bench/xcross.py --parts sample` run (its per_case.csv) and puts every
test case of that run's split in one class by how its true next item relates to the user's history,
read from the titles (`<Brand> <Series> <Model> <Product type>`):

- model: an item of the same brand, series and model is in the history (an accessory after its main
  item, a main item after its accessory, or another variant of it);
- series: an item of the same brand and series is in the history, of another model (the series' next
  or previous model, or its accessories);
- brand: the brand is in the history, the series is not;
- new: neither (a new brand for this user; the generator's random, popularity-drawn purchases land here).

It prints NDCG@10 with a 95% CI per class for every model of the run, then X-Cross and both target
LoRAs minus the best source, and LoRA minus X-Cross, per class (paired tests). Where a gap sits says
what the target's own adapter learns that integrating frozen sources does not: patterns the sources
share (series, brand) or the new catalogue itself (which of its items sell). Nothing trains here.

    python bench/xcross.py --parts sample --no-study --out bench/out/xcross   # first (about 2 hours)
    python bench/transfer_gap.py --run bench/out/xcross                       # seconds
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from xcross import ROOT, log, probe_arguments, probe_setup

from xcross_core.data.dataset import DomainData
from xcross_core.evaluation.splits import EvalCases
from xcross_core.evaluation.stats import bootstrap_ci, paired_test

METRIC = "ndcg@10"
CLASSES = ("model", "series", "brand", "new")


def relation_classes(domain: DomainData, cases: EvalCases) -> np.ndarray:
    """Each case's class (CLASSES) from its target's and history's title words; vectorised over cases."""
    words = pd.Series(domain.item_titles or domain.item_text).str.split()
    flat = np.concatenate(cases.histories)
    case = np.repeat(np.arange(len(cases)), [len(h) for h in cases.histories])
    seen = {}
    for name, width in (("model", 3), ("brand", 1), ("series", 2)):
        key = pd.factorize(words.str[:width].str.join(" "))[0]  # the title's first `width` words
        seen[name] = np.bincount(case, key[flat] == key[cases.targets[case]], minlength=len(cases)) > 0
    return np.select([seen["model"], seen["series"], seen["brand"]], ["model", "series", "brand"], "new")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    probe_arguments(parser)
    parser.add_argument("--run", type=Path, default=ROOT / "bench" / "out" / "xcross", help="a bench/xcross.py out")
    args = parser.parse_args()
    log(f"command: python bench/transfer_gap.py {' '.join(sys.argv[1:])}".rstrip())
    path = args.run / "per_case.csv"
    if not path.is_file():
        sys.exit(f"error: {path} not found: run `python bench/xcross.py --parts sample --out {args.run}` first")
    _, domain, split, _ = probe_setup(args)
    cases = pd.read_csv(path).query("part == 'sample'")
    users = domain.user_ids[split.test.users].astype(str)
    values = {}
    for model, frame in cases.groupby("model", sort=False):
        if not np.array_equal(frame["user"].astype(str).to_numpy(), users):
            sys.exit(f"error: {path}'s '{model}' rows are not this split's test users (same --seed, --max-users?)")
        values[model] = frame[METRIC].to_numpy()
    classes = relation_classes(domain, split.test)
    table = [
        {"model": model, "class": name, METRIC: str(bootstrap_ci(v[classes == name], seed=args.seed))}
        for model, v in values.items()
        for name in CLASSES
    ]
    pivot = pd.DataFrame(table).pivot(index="model", columns="class", values=METRIC)
    log("\n" + pivot.loc[list(values), list(CLASSES)].to_string())
    log("cases per class: " + ", ".join(f"{c} {int((classes == c).sum())}" for c in CLASSES))
    best = max((m for m in values if m.endswith("zero-shot")), key=lambda m: values[m].mean())
    xcross = next(m for m in values if m.startswith("x-cross"))
    loras = [m for m in values if " LoRA @" in m]
    for a, b in [(xcross, best), *((lora, best) for lora in loras), *((lora, xcross) for lora in loras)]:
        for name in CLASSES:
            mask = classes == name
            test = paired_test(values[a][mask], values[b][mask], seed=args.seed)
            log(f"{a} - {b}, {name} ({mask.sum()} cases): {METRIC} {test.difference} p={test.p_value:.4f}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
