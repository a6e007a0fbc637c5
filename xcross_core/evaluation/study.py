"""The data-efficiency study: X-Cross and a target LoRA trained on growing shares of the target's users.

Every fraction uses the same held-out test users (fractions only shrink the training users, and a
smaller budget is a subset of a larger one), so the curve compares like with like. At each fraction
both models are paired-tested; the catch-up point is the smallest fraction from which LoRA is no
longer significantly worse than X-Cross.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from xcross_core.data.dataset import DomainData
from xcross_core.evaluation.protocol import EvalResult, compare, evaluate
from xcross_core.evaluation.splits import make_split
from xcross_core.models.adapters import ADAPTER_LOOP, lora_recommender, read_metadata
from xcross_core.models.xcross import XCROSS_LOOP, XCrossConfig, xcross_recommender
from xcross_core.training.events import TrainEvent


@dataclass(frozen=True)
class StudyResult:
    """One row per (fraction, model) and the paired tests between the two models per fraction."""

    table: pd.DataFrame  # fraction, model, train_users, trainable_parameters, train_seconds, metric mean/low/high ...
    tests: pd.DataFrame  # fraction, difference (lora - x-cross) mean/low/high, p_value
    catch_up: float | None  # smallest fraction from which LoRA is not significantly worse; None if never
    evaluations: dict[tuple[float, str], EvalResult]  # (fraction, model) -> per-user results, for more tests

    def to_dict(self) -> dict[str, object]:
        return {
            "results": self.table.to_dict(orient="records"),
            "lora_minus_xcross": self.tests.to_dict(orient="records"),
            "lora_catches_up_at": self.catch_up,
        }


def data_efficiency_study(
    domain: DomainData,
    adapters: Sequence[str | Path],
    fractions: Sequence[float] = (0.1, 0.25, 0.5, 1.0),
    *,
    seed: int = 0,
    max_users: int | None = None,
    test_share: float = 0.1,
    epochs: int | None = None,
    xcross: XCrossConfig | None = None,
    metric: str = "ndcg@10",
    progress: Callable[[str], Callable[[TrainEvent], None]] | None = None,
) -> StudyResult:
    """Train and evaluate X-Cross and a target LoRA at each fraction of the target's training users."""
    base = read_metadata(adapters[0]).base  # the target LoRA sits on the sources' base model
    rows, tests, evaluations = [], [], {}
    for fraction in sorted(fractions):
        split = make_split(domain, "users", seed=seed, fraction=fraction, max_users=max_users, test_share=test_share)
        results: dict[str, EvalResult] = {}
        for name in ("x-cross", "lora"):
            if name == "x-cross":
                loop = replace(XCROSS_LOOP, seed=seed, epochs=epochs or XCROSS_LOOP.epochs)
                model = xcross_recommender(domain, adapters, xcross, loop=loop)
            else:
                loop = replace(ADAPTER_LOOP, seed=seed, epochs=epochs or ADAPTER_LOOP.epochs)
                model = lora_recommender(domain, base, loop=loop)
            start = time.perf_counter()
            fit = model.fit(split, progress=progress(f"{name} @ {fraction:g}") if progress else None)
            seconds = time.perf_counter() - start
            model.name = name
            results[name] = evaluations[(fraction, name)] = evaluate(model, split.test, seed=seed)
            row = {
                "fraction": fraction,
                "model": name,
                "train_users": len(split.train),
                "trainable_parameters": model.trainable_parameters,
                "epochs": fit.epochs,
                "kept_epoch": fit.best_epoch,  # 0: the starting weights (no epoch beat them significantly)
                "steps": fit.steps,
                "train_seconds": round(seconds, 1),
            }
            for key, est in results[name].summary.items():
                row |= {key: est.mean, f"{key}_low": est.low, f"{key}_high": est.high}
            rows.append(row)
        test = compare(results["lora"], results["x-cross"], metric, seed=seed)
        tests.append(
            {
                "fraction": fraction,
                "metric": metric,
                "difference": test.difference.mean,
                "low": test.difference.low,
                "high": test.difference.high,
                "p_value": test.p_value,
                "lora_significantly_worse": test.significant and test.difference.mean < 0,
            }
        )
    tests_frame = pd.DataFrame(tests)
    worse = tests_frame["lora_significantly_worse"].to_numpy()
    # The catch-up point: LoRA is not significantly worse here and at every larger fraction.
    catch_up = next((float(f) for i, f in enumerate(tests_frame["fraction"]) if not worse[i:].any()), None)
    return StudyResult(pd.DataFrame(rows), tests_frame, catch_up, evaluations)
