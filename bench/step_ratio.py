"""Benchmark: one X-Cross training step with n sources vs n single-adapter steps, on the same batch.

Both steps run the same loss (full softmax of the batch's prompts over the cached catalogue vectors)
through the same code; the ratio median(X-Cross step) / (n x median(LoRA step)) is measured in one process,
so machine noise cancels. Target: at most 1.0.

    python bench/step_ratio.py                   # default base model, 3 sources, the training batch (32), 7 repeats
    python bench/step_ratio.py --repeats 3 --batch-size 16
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xcross_core.data.dataset import DomainData
from xcross_core.data.load import load_interactions
from xcross_core.estimate import train_step_seconds
from xcross_core.evaluation.splits import Split, make_split
from xcross_core.models.adapters import ADAPTER_FORMAT, AdapterMetadata, load_adapter, lora_recommender, save_adapter
from xcross_core.models.text import TextRecommender, training_sequences
from xcross_core.models.xcross import XCROSS_LOOP, xcross_recommender

ROOT = Path(__file__).resolve().parent.parent


def training_batch(model: TextRecommender, split: Split, batch_size: int) -> list[tuple[np.ndarray, int]]:
    """`batch_size` training examples (history, next item), cut and drawn as one training pass draws them."""
    return model.cut_batches(training_sequences(split), batch_size, np.random.default_rng(0))[0]


def throwaway_adapters(domain: DomainData, n: int, folder: Path) -> list[str]:
    """`n` fresh (untrained) LoRA adapters on the default base, saved under `folder`: a step costs the same."""
    adapters = []
    for i in range(n):
        lora = lora_recommender(domain)
        meta = AdapterMetadata(
            domain=f"source{i}",
            base="all-MiniLM-L6-v2",
            lora=lora.lora.__dict__,
            text=lora.config.__dict__,
            loop={},
            data={},
            trainable_parameters=lora.trainable_parameters,
            format=ADAPTER_FORMAT,
        )
        adapters.append(str(save_adapter(lora, meta, folder / f"source{i}")))
    return adapters


def step_ratio(
    domain: DomainData, adapters: Sequence[str | Path], batch: list[tuple[np.ndarray, int]], repeats: int
) -> dict[str, object]:
    """median(X-Cross step over `adapters`) / (n x median(single-adapter step)), both on `batch`.

    The single-adapter step trains the first adapter itself (same base, rank and targets as the sources).
    """
    lora = load_adapter(adapters[0], domain, trainable=True)
    lora_s = train_step_seconds(lora, batch, repeats)
    xcross = xcross_recommender(domain, adapters)
    xcross_s = train_step_seconds(xcross, batch, repeats)
    n = len(adapters)
    return {
        "sources": n,
        "batch_size": len(batch),
        "repeats": repeats,
        "lora_step_median_s": round(lora_s, 3),
        "xcross_step_median_s": round(xcross_s, 3),
        "ratio_xcross_over_n_lora": round(xcross_s / (n * lora_s), 3),
        "lora_trainable_parameters": lora.trainable_parameters,
        "xcross_trainable_parameters": xcross.trainable_parameters,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=XCROSS_LOOP.batch_size)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"command: python bench/step_ratio.py {' '.join(sys.argv[1:])}".rstrip(), flush=True)
    data = load_interactions(ROOT / "sample_data" / "interactions.csv", ROOT / "sample_data" / "items.csv")
    domain = data.interactions.domain("Electronics")
    batch = training_batch(lora_recommender(domain), make_split(domain, "users", seed=0), args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        adapters = throwaway_adapters(domain, args.sources, Path(tmp))
        report = step_ratio(domain, adapters, batch, args.repeats)
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
