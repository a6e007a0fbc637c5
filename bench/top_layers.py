"""Benchmark: a LoRA training step with adapters on the top k layers only, against adapters on every layer.

A lever for a faster proof of concept: below the lowest adapted layer nothing trains, so the backward pass
stops there (and X-Cross's streams could share those layers). Steps of each variant are interleaved on the
same batch (median length of the sample target's training prompts); the ratios are medians of per-round
ratios, so machine noise cancels. Quality is not measured here.

    python bench/top_layers.py                 # top 2 and top 3 of the default base's 6 layers, 5 rounds
    python bench/top_layers.py --top 1 2 3 --rounds 7
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from peft import LoraConfig, get_peft_model

from xcross_core.data.load import load_interactions
from xcross_core.estimate import train_step_seconds
from xcross_core.evaluation.splits import make_split
from xcross_core.models.adapters import LoraSettings
from xcross_core.models.base import load_base
from xcross_core.models.text import ADAPTER_LOOP, TextEncoder, TextRecommender, training_sequences

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, nargs="+", default=[2, 3], help="numbers of top layers to adapt")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    domain = load_interactions(SAMPLE / "interactions.csv", SAMPLE / "items.csv").interactions.domain("Electronics")
    split = make_split(domain, "users", fraction=0.25, seed=0, max_users=1000)
    lora = LoraSettings()
    models: dict[str, TextRecommender] = {}
    for top in [None, *args.top]:
        model, tokenizer, info = load_base(None)
        layers = None if top is None else list(range(info.num_layers - top, info.num_layers))
        config = LoraConfig(
            r=lora.rank,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(info.lora_targets),
            layers_to_transform=layers,
        )
        encoder = TextEncoder(get_peft_model(model, config), info)
        models["all" if top is None else f"top {top}"] = TextRecommender(domain, encoder, tokenizer)
    reference = models["all"]
    batches = reference.cut_batches(training_sequences(split), ADAPTER_LOOP.batch_size, np.random.default_rng(0))
    batch = sorted(batches, key=lambda b: reference.prompt_lengths([h for h, _ in b]).mean())[len(batches) // 2]
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            times[name].append(train_step_seconds(model, batch, 1))
    out = {
        name: {
            "median_step_s": round(float(np.median(times[name])), 3),
            "ratio_to_all_layers": round(float(np.median(np.array(times[name]) / np.array(times["all"]))), 3),
            "trainable_parameters": sum(p.numel() for p in model.encoder.parameters() if p.requires_grad),
        }
        for name, model in models.items()
    }
    print(json.dumps({"batch_size": len(batch), "rounds": args.rounds, "variants": out}, indent=2))


if __name__ == "__main__":
    main()
