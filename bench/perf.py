"""Benchmark: the studio's performance figures, as ratios and exponents measured in one run.

- PoC: wall time and peak memory (RSS) of the README's `xcross poc` on the sample data (three sample
  adapters -> Electronics, 1,000 users, the studio's defaults otherwise), run in a child process as the
  studio's worker runs it; its first estimate against the actual time; the same wall time as a ratio that
  survives a noisy machine: PoC wall / the time to encode that PoC's catalogue and test prompts once with
  the base model, measured in the same run. With `--before-poc DIR` (a PoC folder with per_case.csv, e.g.
  from an earlier version), X-Cross's and the target LoRA's NDCG@10 are paired-tested against it on the
  same test users.
- Throughput: `xcross train-adapter` sequences/s on the same real data (Beauty, development data), in this
  checkout and, with `--before-checkout DIR`, in another one (an earlier version) in the same run; each
  adapter's test NDCG@10 from `xcross evaluate` on the same split, paired-tested.
- Steps: one X-Cross training step over 3 sources / (3 x one LoRA step), on the same batch
  (`bench/step_ratio.py`), and peak memory.
- Recommend: users/s over a 10,000-item catalogue (Beauty's first 10,000 items from the development
  data, else every sample item), and the share of the time spent in the language model.
- Scaling: adapter training time per epoch and recommend time at 1x, 2x and 4x users; the exponent b
  of time ~ users^b from a log-log fit (1.0 is linear).

    python bench/perf.py                                       # poc, steps, recommend, scaling
    python bench/perf.py --parts poc --before-poc runs/poc-before
    python bench/perf.py --parts throughput --before-checkout ../before

The X-Cross step ratio is `bench/step_ratio.py`; concurrent requests are checked in tests/test_text.py.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from step_ratio import step_ratio, throwaway_adapters, training_batch

from xcross_core.data.load import load_interactions
from xcross_core.evaluation.splits import make_split
from xcross_core.jobs.poc import PocSpec
from xcross_core.models.adapters import ADAPTER_LOOP, base_recommender, lora_recommender
from xcross_core.models.items import clear_cache
from xcross_core.models.recommender import top_k
from xcross_core.models.text import TextRecommender
from xcross_core.stats import paired_test
from xcross_core.training.loop import LoopConfig

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
DEV = ROOT.parent / "shared" / "data" / "amazon_dev"
METRIC = "ndcg@10"


def log(message: str) -> None:
    print(message, flush=True)


def paired(after: pd.DataFrame, before: pd.DataFrame, model: str, before_model: str | None = None) -> dict:
    """NDCG@10 of `model` in `after` minus `before_model` (default the same name) in `before`, paired by user."""
    a = after[after["model"] == model].set_index("user")[METRIC]
    b = before[before["model"] == (before_model or model)].set_index("user")[METRIC]
    if set(a.index) != set(b.index):
        raise SystemExit(f"{model}: the two runs were not tested on the same users")
    test = paired_test(a.to_numpy(), b.loc[a.index].to_numpy())
    d = test.difference
    return {
        "model": model,
        "after": round(float(a.mean()), 4),
        "before": round(float(b.mean()), 4),
        "difference": round(d.mean, 4),
        "ci": [round(d.low, 4), round(d.high, 4)],
        "p_value": round(test.p_value, 4),
        "significantly_worse": bool(test.significant and d.mean < 0),
    }


def base_encoding_seconds(domain, test_histories) -> float:
    """Seconds to encode `domain`'s catalogue and the test prompts once with the bare base model."""
    clear_cache()
    model = base_recommender(domain)
    start = time.perf_counter()
    model.item_vectors()
    model.prompt_vectors(test_histories)
    return time.perf_counter() - start


def poc(fraction: float, max_users: int, before: Path | None) -> dict[str, object]:
    """Wall time, peak RSS and estimate of the README's `xcross poc` on the sample data, the base-encoding
    ratio, and (with `before`) paired NDCG@10 tests against an earlier run of the same command."""
    sources = [str(SAMPLE / "adapters" / d) for d in ("Sports", "Kitchen", "Home_Office")]
    run = ROOT / "bench" / "out" / "poc-sample"  # kept for inspection (bench/out is not committed)
    shutil.rmtree(run, ignore_errors=True)
    command = [sys.executable, "-m", "xcross_core.cli", "poc", str(SAMPLE / "interactions.csv")]
    command += ["--items", str(SAMPLE / "items.csv"), "--target", "Electronics", "--adapters", *sources]
    command += ["--fraction", str(fraction), "--max-users", str(max_users), "--out", str(run)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"the PoC failed:\n{done.stderr[-3000:]}")
    results = json.loads((run / "results.json").read_text())
    per_case = pd.read_csv(run / "per_case.csv")
    # ru_maxrss of the children is the largest peak of any child: here, the one PoC process.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    log(done.stdout)
    domain = load_interactions(SAMPLE / "interactions.csv", SAMPLE / "items.csv").interactions.domain("Electronics")
    split = make_split(domain, "users", seed=0, fraction=fraction, max_users=max_users, test_users=PocSpec.test_users)
    encode_s = base_encoding_seconds(domain, split.test.histories)
    out = {
        "command": " ".join(command[1:]),
        "fraction": fraction,
        "max_users": max_users,
        "train_users": results["models"][results["reference"]]["train_users"],
        "wall_seconds": round(seconds, 1),
        "estimated_seconds": results["estimated_seconds"],
        "actual_over_estimate": round(seconds / results["estimated_seconds"], 2),
        "peak_rss_mb": round(peak_mb),
        "base_encoding_seconds": round(encode_s, 2),
        "wall_over_base_encoding": round(seconds / encode_s, 1),
        "models": {
            name: {"ndcg@10": m["metrics"][METRIC]["mean"], "train_seconds": m["train_seconds"]}
            for name, m in results["models"].items()
        },
    }
    if before is not None:
        old = pd.read_csv(before / "per_case.csv")
        xcross = next(m for m in per_case["model"].unique() if m.startswith("X-Cross"))
        lora = next(name for name, model in results["models"].items() if model["key"] == "lora")
        out["vs_before"] = [paired(per_case, old, xcross), paired(per_case, old, lora)]
    return out


def throughput(before: Path | None, max_users: int, epochs: int) -> dict[str, object]:
    """Adapter training sequences/s and test NDCG@10 on Beauty (development data) in this checkout and `before`."""
    if not (DEV / "beauty.csv").exists():
        raise SystemExit(f"the throughput part needs the development data in {DEV}")
    data = [str(DEV / "beauty.csv"), "--items", str(DEV / "items_beauty.csv"), "--domain", "Beauty"]
    checkouts = {"after": ROOT} | ({"before": before.resolve()} if before else {})
    out: dict[str, object] = {"max_users": max_users, "epochs": epochs}
    with tempfile.TemporaryDirectory() as tmp:
        for tag, checkout in checkouts.items():
            folder, per_user = Path(tmp) / f"adapter-{tag}", Path(tmp) / f"per_user-{tag}.csv"
            common = ["--max-users", str(max_users)]
            train = ["train-adapter", *data, *common, "--epochs", str(epochs), "--out", str(folder)]
            start = time.perf_counter()
            run_cli(checkout, train)
            wall = time.perf_counter() - start
            fit = json.loads((folder / "xcross_adapter.json").read_text())["fit"]
            run_cli(
                checkout,
                ["evaluate", str(folder), *data, *common, "--out", f"{tmp}/m-{tag}.json", "--per-user", str(per_user)],
            )
            scores = pd.read_csv(per_user)
            out[tag] = {
                "sequences_per_second": round(fit["sequences_per_second"], 2),
                "train_seconds": round(fit["train_seconds"], 1),
                "wall_seconds": round(wall, 1),
                "kept_epoch": fit["best_epoch"],
                "test_ndcg@10": round(float(scores[METRIC].mean()), 4),
            }
            log(f"[throughput] {tag}: {json.dumps(out[tag])}")
            scores.to_csv(Path(tmp) / f"scores-{tag}.csv", index=False)
        if before:
            after_scores, before_scores = (pd.read_csv(Path(tmp) / f"scores-{t}.csv") for t in ("after", "before"))
            model = after_scores["model"].iloc[0]
            out["speedup"] = round(out["after"]["sequences_per_second"] / out["before"]["sequences_per_second"], 2)
            out["test_vs_before"] = paired(after_scores, before_scores, model, before_scores["model"].iloc[0])
    return out


def run_cli(checkout: Path, args: list[str]) -> None:
    """`xcross ARGS` with the library of `checkout` (its folder first on the import path)."""
    env = os.environ | {"PYTHONPATH": str(checkout)}
    done = subprocess.run(
        [sys.executable, "-m", "xcross_core.cli", *args], capture_output=True, text=True, cwd=checkout, env=env
    )
    if done.returncode:
        raise SystemExit(f"xcross {args[0]} failed in {checkout}:\n{done.stderr[-3000:]}")


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
    parts = ["poc", "throughput", "steps", "recommend", "scaling"]
    parser.add_argument("--parts", nargs="+", choices=parts, default=["poc", "steps", "recommend", "scaling"])
    parser.add_argument("--poc-fraction", type=float, default=0.25)
    parser.add_argument("--poc-max-users", type=int, default=1000, help="the README's and the studio's cap")
    parser.add_argument("--before-poc", type=Path, help="an earlier PoC folder of the same command (per_case.csv)")
    parser.add_argument("--before-checkout", type=Path, help="an earlier checkout to measure throughput against")
    parser.add_argument("--throughput-users", type=int, default=1500, help="Beauty users (80%% train)")
    parser.add_argument("--throughput-epochs", type=int, default=2)
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
        report["poc"] = poc(args.poc_fraction, args.poc_max_users, args.before_poc)
        log(f"[poc] {json.dumps(report['poc'])}")
    if "throughput" in args.parts:
        report["throughput"] = throughput(args.before_checkout, args.throughput_users, args.throughput_epochs)
        log(f"[throughput] {json.dumps(report['throughput'])}")
    if "steps" in args.parts:
        domain = load_interactions(SAMPLE / "interactions.csv", SAMPLE / "items.csv").interactions.domain("Electronics")
        batch = training_batch(lora_recommender(domain), make_split(domain, "users", seed=0), ADAPTER_LOOP.batch_size)
        with tempfile.TemporaryDirectory() as tmp:
            report["steps"] = step_ratio(domain, throwaway_adapters(domain, 3, Path(tmp)), batch, args.repeats)
        log(f"[steps] {json.dumps(report['steps'])}")
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
