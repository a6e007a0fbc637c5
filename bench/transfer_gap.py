"""Benchmark: on which next purchases does the target's own LoRA beat what the sources already know?

It reads the per-case metrics of a `bench/xcross.py --parts sample` run (its per_case.csv) and puts every
test case of that run's split in one class by how its true next item relates to the user's history,
read from the titles (`<Brand> <Series> <Model> <Product type>`) and the items' categories:

- accessory: an accessory of the main item just bought (same brand, series and model; its category is
  an "... Accessories" one, the last item's is not): the generator's accessory-after-main-item step;
- model: any other case with an item of the same brand, series and model in the history (a main item
  after its accessory, another accessory of it, another variant);
- series: an item of the same brand and series is in the history, of another model (the series' next
  or previous model, or its accessories);
- brand: the brand is in the history, the series is not;
- new: neither (a new brand for this user; the generator's random, popularity-drawn purchases land here).

It prints NDCG@10 with a 95% CI per class for every model of the run, then X-Cross and both target
LoRAs minus the best source, and LoRA minus X-Cross, per class (paired tests). Where a gap sits says
what the target's own adapter learns that integrating frozen sources does not: patterns the sources
share (series, brand) or what only the target's own data shows (which of its product types are the
accessories that follow a main item, which of its items sell). Nothing trains here.

    python bench/xcross.py --parts sample --no-study --out bench/out/xcross   # first (about 2 hours)
    python bench/transfer_gap.py --run bench/out/xcross                       # seconds
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sample_probe import ROOT, SAMPLE, sample_splits, split_arguments
from xcross import log

from xcross_core.data.dataset import DomainData
from xcross_core.evaluation.splits import EvalCases
from xcross_core.stats import bootstrap_ci, paired_test

METRIC = "ndcg@10"
CLASSES = ("accessory", "model", "series", "brand", "new")


def relation_classes(domain: DomainData, cases: EvalCases, accessory: np.ndarray) -> np.ndarray:
    """Each case's class (CLASSES) from its items' title words and `accessory` flags; vectorised over cases."""
    words = pd.Series(domain.item_titles or domain.item_text).str.split()
    lengths = np.array([len(h) for h in cases.histories])
    flat = np.concatenate(cases.histories)
    case = np.repeat(np.arange(len(cases)), lengths)
    last, target = flat[np.cumsum(lengths) - 1], cases.targets
    seen, key = {}, {}
    for name, width in (("model", 3), ("brand", 1), ("series", 2)):
        key[name] = pd.factorize(words.str[:width].str.join(" "))[0]  # the title's first `width` words
        seen[name] = np.bincount(case, key[name][flat] == key[name][target[case]], minlength=len(cases)) > 0
    after_main = (key["model"][last] == key["model"][target]) & accessory[target] & ~accessory[last]
    conditions = [after_main, seen["model"], seen["series"], seen["brand"]]
    return np.select(conditions, ["accessory", "model", "series", "brand"], "new")


def accessories(domain: DomainData) -> np.ndarray:
    """[n_items] bool: the sample catalogue's accessories (an '... Accessories' category)."""
    category = pd.read_csv(SAMPLE[1]).set_index("item_id")["category"]
    return category.loc[list(domain.item_ids)].str.endswith("Accessories").to_numpy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    split_arguments(parser)
    parser.add_argument("--run", type=Path, default=ROOT / "bench" / "out" / "xcross", help="a bench/xcross.py out")
    args = parser.parse_args()
    log(f"command: python bench/transfer_gap.py {' '.join(sys.argv[1:])}".rstrip())
    path = args.run / "per_case.csv"
    if not path.is_file():
        sys.exit(f"error: {path} not found: run `python bench/xcross.py --parts sample --out {args.run}` first")
    domain, split, _ = sample_splits(args.target, args.max_users, args.test_share, args.seed, budget=1.0)
    cases = pd.read_csv(path).query("part == 'sample'")
    users = domain.user_ids[split.test.users].astype(str)
    values = {}
    for model, frame in cases.groupby("model", sort=False):
        if not np.array_equal(frame["user"].astype(str).to_numpy(), users):
            sys.exit(f"error: {path}'s '{model}' rows are not this split's test users (same --seed, --max-users?)")
        values[model] = frame[METRIC].to_numpy()
    classes = relation_classes(domain, split.test, accessories(domain))
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
