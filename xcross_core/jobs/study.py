"""The data-efficiency study: X-Cross and a target LoRA trained on growing shares of the target's users.

Every fraction uses the same held-out test users (fractions only shrink the training users, and a
smaller budget is a subset of a larger one), so the curve compares like with like. At each fraction
both models are paired-tested; the catch-up point is the smallest fraction from which LoRA is no
longer significantly worse than X-Cross.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from xcross_core.data.dataset import DomainData
from xcross_core.evaluation.protocol import EvalResult, compare, evaluate
from xcross_core.evaluation.splits import make_split
from xcross_core.jobs.hooks import SILENT, Hooks, Stage
from xcross_core.jobs.inputs import DataSpec, check_sources, check_split, domain_of, load_data
from xcross_core.jobs.outputs import check_out, save_or_keep
from xcross_core.jobs.spec import SpecError, option
from xcross_core.models.adapters import atomic_folder, read_metadata
from xcross_core.models.registry import make_model, model_with_role

METRIC = "ndcg@10"


@dataclass(frozen=True, kw_only=True)
class StudySpec(DataSpec):
    """Data efficiency: X-Cross vs target LoRA at several budgets."""

    target: str = option("target domain")
    adapters: tuple[Path, ...] = option("source adapter folders (same base model)")
    fractions: tuple[float, ...] = option(
        "shares of the target's training users", (0.1, 0.25, 0.5, 1.0), bounds="(0, 1]"
    )
    out: Path | None = option("folder to create for study.json and study.csv", None, required=True)
    max_users: int | None = option("cap the target's users (seeded sample) for quick runs", None, minimum=1)
    epochs: int | None = option("maximum epochs per model (early stopping still applies)", None, minimum=1)
    test_share: float = option("share of users held out for test", 0.1, bounds="(0, 1)")
    seed: int = option("random seed of the split and of training", 0, minimum=0, maximum=2**32 - 1)

    def check(self) -> None:
        super().check()
        if not self.fractions:
            raise SpecError("fractions", "must name at least one share")
        check_out(self.out)
        check_sources(self.adapters)


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


def run(spec: StudySpec, hooks: Hooks = SILENT) -> StudyResult:
    """Run the study on `spec`'s target; write study.json and study.csv to `out` (atomically) when set.

    Raises OutputError when `out` cannot be written; the results are then kept elsewhere, and it says where.
    """
    result = study_domain(domain_of(load_data(spec, hooks, domain=spec.target), spec.target), spec, hooks)
    if spec.out is not None:
        save_or_keep(lambda folder: _save(result, folder), spec.out, "study")
    return result


def _save(result: StudyResult, folder: Path) -> None:
    with atomic_folder(folder) as tmp:
        result.table.to_csv(tmp / "study.csv", index=False)
        (tmp / "study.json").write_text(json.dumps(result.to_dict(), indent=2, default=float))


def study_domain(domain: DomainData, spec: StudySpec, hooks: Hooks = SILENT) -> StudyResult:
    """Train and evaluate X-Cross and a target LoRA at each fraction of `domain`'s training users."""
    base = read_metadata(spec.adapters[0]).base  # the target LoRA sits on the sources' base model
    xcross, lora = model_with_role("subject").name, model_with_role("yardstick").name
    rows, tests, evaluations = [], [], {}
    fractions = sorted(spec.fractions)
    for step, fraction in enumerate(fractions):
        split = make_split(
            domain, "users", seed=spec.seed, fraction=fraction, max_users=spec.max_users, test_share=spec.test_share
        )
        check_split(split, spec.max_users, ordered=True)
        results: dict[str, EvalResult] = {}
        for offset, name in enumerate((xcross, lora)):
            hooks.on_stage(Stage(2 * step + offset + 1, 2 * len(fractions), f"{name} @ {fraction:g}"))
            model = make_model(name, domain, seed=spec.seed, epochs=spec.epochs, base=base, adapters=spec.adapters)
            start = time.perf_counter()
            fit = model.fit(split, progress=hooks.progress, cancel=hooks.cancel)
            seconds = time.perf_counter() - start
            model.name = name
            results[name] = evaluations[(fraction, name)] = evaluate(model, split.test, seed=spec.seed)
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
        test = compare(results[lora], results[xcross], METRIC, seed=spec.seed)
        tests.append(
            {
                "fraction": fraction,
                "metric": METRIC,
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
