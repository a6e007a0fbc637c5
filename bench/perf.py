"""Benchmark: the studio's performance figures, as ratios and exponents measured in one run.

- PoC: wall time and peak memory (RSS) of the sample-data proof of concept with the studio's defaults
  (three sample adapters -> Electronics, 1,000 users, 25% of the training users, 3 epochs), run as
  `xcross poc` in a child process, as the studio's worker runs it.
- Recommend: users/s over a 10,000-item catalogue (Beauty's first 10,000 items from the development
  data, else every sample item), and the share of the time spent in the language model.
- Scaling: adapter training time per epoch and recommend time at 1x, 2x and 4x users; the exponent b
  of time ~ users^b from a log-log fit (1.0 is linear).

    python bench/perf.py                      # all parts
    python bench/perf.py --parts scaling      # one part

The X-Cross step ratio is `bench/step_ratio.py`; concurrent requests are checked in tests/test_text.py.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from xcross_core.data.load import load_interactions
from xcross_core.evaluation.splits import make_split
from xcross_core.models.adapters import lora_recommender
from xcross_core.models.recommender import top_k
from xcross_core.models.text import TextRecommender
from xcross_core.training.loop import LoopConfig

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
DEV = ROOT.parent / "shared" / "data" / "amazon_dev"


def log(message: str) -> None:
    print(message, flush=True)


def poc(fraction: float, max_users: int) -> dict[str, object]:
    """Wall time and peak RSS of `xcross poc` on the sample data, three sources -> Electronics, with the
    studio's defaults otherwise (3 epochs; popularity, target LoRA on 100% and zero-shot baselines)."""
    sources = [str(SAMPLE / "adapters" / d) for d in ("Sports", "Kitchen", "Home_Office")]
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "xcross_core.cli", "poc", str(SAMPLE / "interactions.csv")]
        command += ["--items", str(SAMPLE / "items.csv"), "--target", "Electronics", "--adapters", *sources]
        command += ["--fraction", str(fraction), "--max-users", str(max_users), "--out", f"{tmp}/poc"]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"the PoC failed:\n{done.stderr[-3000:]}")
        results = json.loads((Path(tmp) / "poc" / "results.json").read_text())
    # ru_maxrss of the children is the largest peak of any child: here, the one PoC process.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    log(done.stdout)
    return {
        "command": " ".join(command[1:]),
        "fraction": fraction,
        "max_users": max_users,
        "train_users": results["models"][results["reference"]]["train_users"],
        "wall_seconds": round(seconds, 1),
        "peak_rss_mb": round(peak_mb),
        "models": list(results["models"]),
    }


def catalogue_domain(max_items: int):
    """Beauty (development data) cut to its first `max_items` items, else the sample Electronics domain."""
    if (DEV / "beauty.csv").exists():
        domain = load_interactions(DEV / "beauty.csv", DEV / "items_beauty.csv").interactions.domain("Beauty")
        return domain.first_items(max_items)
    return load_interactions(SAMPLE / "interactions.csv", SAMPLE / "items.csv").interactions.domain("Electronics")


def recommend(model: TextRecommender, n_users: int) -> dict[str, object]:
    """users/s of top-10 over `model`'s whole catalogue, and the share of that time spent in the model.

    The catalogue is encoded first (once per model, cached); recommending is then prompt encoding plus
    one matrix product and a top-k, so the model's share should be close to 1.
    """
    domain = model.domain
    histories = [h for h in domain.sequences() if len(h)][:n_users]
    start = time.perf_counter()
    model.item_vectors()
    catalogue_s = time.perf_counter() - start
    encoded = 0.0
    encode = model.encode_prompts

    def timed(*args, **kwargs):  # time spent inside the language model, measured where it is called
        nonlocal encoded
        t0 = time.perf_counter()
        out = encode(*args, **kwargs)
        encoded += time.perf_counter() - t0
        return out

    model.encode_prompts = timed
    start = time.perf_counter()
    top_k(model, histories, 10)
    total = time.perf_counter() - start
    return {
        "catalogue_items": domain.n_items,
        "users": len(histories),
        "catalogue_encoding_seconds": round(catalogue_s, 1),
        "recommend_seconds": round(total, 2),
        "users_per_second": round(len(histories) / total, 1),
        "model_share": round(encoded / total, 3),
    }


def exponent(sizes: list[int], seconds: list[float]) -> float:
    """b in seconds ~ sizes^b, least squares on logs."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def scaling(base_users: int, repeats: int) -> dict[str, object]:
    """Train time per epoch and recommend time at 1x, 2x, 4x users of the sample data (median of repeats)."""
    domain = load_interactions(SAMPLE / "interactions.csv", SAMPLE / "items.csv").interactions.domain("Electronics")
    sizes = [base_users, 2 * base_users, 4 * base_users]
    histories = domain.sequences()
    train = {size: [] for size in sizes}
    serve = {size: [] for size in sizes}
    # Sizes interleaved within each repeat, so a change in machine load hits every size alike.
    for r in range(repeats):
        for size in sizes:
            split = make_split(domain, "users", seed=0, max_users=int(size / 0.8) + 1, test_share=0.1, valid_share=0.1)
            model = lora_recommender(domain, loop=LoopConfig(epochs=1, batch_size=32, seed=r, patience=1))
            train[size].append(model.fit(split).train_seconds)
            model.item_vectors()
            t0 = time.perf_counter()
            top_k(model, histories[: 4 * size], 10)
            serve[size].append(time.perf_counter() - t0)
            log(
                f"[scaling] repeat {r + 1}: {size} train users {train[size][-1]:.1f} s/epoch; "
                f"{4 * size} users served in {serve[size][-1]:.2f} s"
            )
    train_s = [float(np.median(train[size])) for size in sizes]
    recommend_s = [float(np.median(serve[size])) for size in sizes]
    return {
        "train_users": sizes,
        "train_seconds_per_epoch": [round(s, 2) for s in train_s],
        "train_exponent": round(exponent(sizes, train_s), 3),
        "recommend_users": [4 * s for s in sizes],
        "recommend_seconds": [round(s, 3) for s in recommend_s],
        "recommend_exponent": round(exponent([4 * s for s in sizes], recommend_s), 3),
        "repeats": repeats,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts", nargs="+", choices=["poc", "recommend", "scaling"], default=["poc", "recommend", "scaling"]
    )
    parser.add_argument("--poc-fraction", type=float, default=0.25)
    parser.add_argument("--poc-max-users", type=int, default=1000, help="the studio's default cap")
    parser.add_argument("--users", type=int, default=1000, help="users for the recommend part")
    parser.add_argument("--catalogue", type=int, default=10_000, help="catalogue size for the recommend part")
    parser.add_argument("--scaling-users", type=int, default=100, help="training users at 1x")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "perf.json")
    args = parser.parse_args()
    log(f"command: python bench/perf.py {' '.join(sys.argv[1:])}".rstrip())
    log(f"torch threads: {torch.get_num_threads()}")
    report: dict[str, object] = {}
    if "poc" in args.parts:
        report["poc"] = poc(args.poc_fraction, args.poc_max_users)
        log(f"[poc] {json.dumps(report['poc'])}")
    if "recommend" in args.parts:
        report["recommend"] = recommend(lora_recommender(catalogue_domain(args.catalogue)), args.users)
        log(f"[recommend] {json.dumps(report['recommend'])}")
    if "scaling" in args.parts:
        report["scaling"] = scaling(args.scaling_users, args.repeats)
        log(f"[scaling] {json.dumps(report['scaling'])}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    log(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
