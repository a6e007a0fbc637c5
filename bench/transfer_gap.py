"""Benchmark: on which next purchases does the target's own LoRA beat what the sources already know?

On the sample data (the split of bench/xcross.py's sample part: 1,000 Electronics users, half of them
test users, seed 0), every test case is put in one class by how its true next item relates to the
user's history, read from the titles (`<Brand> <Series> <Model> <Product type>`):

- series: an item of the same brand and series is in the history (an accessory of a main item, or the
  series' next model);
- brand: the brand is in the history, the series is not;
- new: neither (a new brand for this user; the generator's random, popularity-drawn purchases land here).

It prints NDCG@10 with a 95% CI per class for popularity, each source adapter zero-shot, the untrained
X-Cross start (the sources side by side, uniform) and a target LoRA trained on the budget share of the
training users, then the LoRA minus the best source per class (paired test). Where the gap sits says
what the target's own adapter learns that integrating frozen sources cannot: patterns the sources share
(series, brand) or the new catalogue itself (which of its items sell).

    python bench/transfer_gap.py                  # 25% budget, about 20 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
from xcross import log, probe_arguments, probe_setup, trained, untrained

from xcross_core.data.dataset import DomainData
from xcross_core.evaluation.splits import EvalCases
from xcross_core.evaluation.stats import bootstrap_ci, paired_test
from xcross_core.models.adapters import ADAPTER_LOOP, load_adapter, lora_recommender, read_metadata
from xcross_core.models.registry import make_model
from xcross_core.models.xcross import xcross_recommender

METRIC = "ndcg@10"
CLASSES = ("series", "brand", "new")


def relation_classes(domain: DomainData, cases: EvalCases) -> np.ndarray:
    """Each case's class (CLASSES) from its target's and history's title words; vectorised over cases."""
    words = pd.Series(domain.item_titles or domain.item_text).str.split()
    brand = pd.factorize(words.str[0])[0]
    series = pd.factorize(words.str[0] + " " + words.str[1].fillna(""))[0]
    flat = np.concatenate(cases.histories)
    case = np.repeat(np.arange(len(cases)), [len(h) for h in cases.histories])
    seen_series = np.bincount(case, series[flat] == series[cases.targets[case]], minlength=len(cases)) > 0
    seen_brand = np.bincount(case, brand[flat] == brand[cases.targets[case]], minlength=len(cases)) > 0
    return np.where(seen_series, "series", np.where(seen_brand, "brand", "new"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    probe_arguments(parser)
    args = parser.parse_args()
    log(f"command: python bench/transfer_gap.py {' '.join(sys.argv[1:])}".rstrip())
    sources, domain, split, small = probe_setup(args)
    tag, pct = "gap", f"@{args.budget:.0%}"
    rows = [
        trained(tag, f"popularity {pct}", make_model("popularity", domain, seed=args.seed), small, split, args.seed)
    ]
    rows += [untrained(tag, f"{s.name} zero-shot", load_adapter(s, domain), split, args.seed) for s in sources]
    rows.append(untrained(tag, "X-Cross start (uniform)", xcross_recommender(domain, sources), split, args.seed))
    loop = replace(ADAPTER_LOOP, seed=args.seed)
    lora = lora_recommender(domain, read_metadata(sources[0]).base, loop=loop)
    rows.append(trained(tag, f"{args.target} LoRA {pct}", lora, small, split, args.seed))

    classes = relation_classes(domain, split.test)
    table = []
    for row in rows:
        values = row.result.per_case[METRIC].to_numpy()
        for name in CLASSES:
            est = bootstrap_ci(values[classes == name], seed=args.seed)
            table.append({"model": row.label, "class": name, "cases": int((classes == name).sum()), METRIC: str(est)})
    log("\n" + pd.DataFrame(table).pivot(index="model", columns="class", values=METRIC)[list(CLASSES)].to_string())
    log("cases per class: " + ", ".join(f"{c} {int((classes == c).sum())}" for c in CLASSES))
    zero_shot = rows[1 : 1 + len(sources)]
    best = max(zero_shot, key=lambda r: r.result.summary[METRIC].mean)
    lora_values, best_values = rows[-1].result.per_case[METRIC].to_numpy(), best.result.per_case[METRIC].to_numpy()
    for name in CLASSES:
        mask = classes == name
        test = paired_test(lora_values[mask], best_values[mask], seed=args.seed)
        diff = f"{METRIC} {test.difference} p={test.p_value:.4f}"
        log(f"{rows[-1].label} - {best.label}, {name} ({mask.sum()} cases): {diff}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
