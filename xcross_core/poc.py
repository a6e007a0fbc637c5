"""A proof of concept for one target domain: X-Cross from source adapters against baselines, on one split.

This is the job the studio runs (and `xcross poc` from a terminal): train X-Cross on a small budget of
the target's users, train and evaluate the chosen baselines on the same split, paired-test every model
against the target LoRA trained on the same budget, and keep the contribution weights of the test users.
Everything is written to one run folder, atomically:

- `results.json`: split, every model's metrics with CIs, parameters and timings, the paired tests and
  their plain-language verdicts, the history-length breakdown;
- `comparison.csv`: the same table, one row per model;
- `weights.csv`: user_id, layer, source, weight for every test user (X-Cross's contribution weights);
- `per_case.csv`: every model's metrics for every test user (user, history_length, metrics, model), for
  paired comparisons across runs;
- `xcross/`: the X-Cross run folder (reloadable with `load_run`, usable as a model by `recommend`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from xcross_core.data.dataset import DomainData
from xcross_core.data.load import ColumnMap, load_interactions
from xcross_core.data.report import spreadsheet_safe
from xcross_core.estimate import Speed, StageEstimate, estimate_poc, measure_speed, total_seconds
from xcross_core.evaluation.protocol import EvalResult, compare, comparison_table, evaluate
from xcross_core.evaluation.splits import Split, make_split
from xcross_core.evaluation.stats import PairedTest
from xcross_core.models.adapters import ADAPTER_LOOP, atomic_folder, load_adapter, lora_recommender, read_metadata
from xcross_core.models.recommender import Recommender
from xcross_core.models.registry import make_model
from xcross_core.models.text import training_sequences
from xcross_core.models.xcross import XCROSS_LOOP, XCrossConfig, save_run, weights_frame, xcross_recommender
from xcross_core.training.events import FitReport, TrainEvent

#: Baselines a proof of concept can add next to X-Cross and the same-budget target LoRA (always run).
BASELINES = ("popularity", "sasrec", "lora-full", "zero-shot", "uniform-merge", "static-mix", "gating")
DEFAULT_BASELINES = ("popularity", "lora-full", "zero-shot")
#: The reference every model is paired-tested against: the target LoRA on the same data budget.
REFERENCE = "lora"


@dataclass(frozen=True)
class PocConfig:
    """What to run. Paths are as the worker will see them; `adapters` are source adapter folders."""

    interactions: str
    target: str
    adapters: list[str]
    items: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # our column name -> the name in the file
    fraction: float = 0.25
    max_users: int | None = None
    epochs: int | None = 3
    baselines: tuple[str, ...] = DEFAULT_BASELINES
    seed: int = 0
    weights: str = XCrossConfig.weights
    refine: str = XCrossConfig.refine

    def __post_init__(self) -> None:
        if not self.adapters:
            raise ValueError("pick at least one source adapter")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"the data budget must be a fraction in (0, 1], not {self.fraction}")
        unknown = sorted(set(self.baselines) - set(BASELINES))
        if unknown:
            raise ValueError(f"unknown baselines {unknown}; choose from {', '.join(BASELINES)}")

    @classmethod
    def from_dict(cls, params: dict[str, object]) -> PocConfig:
        known = {k: v for k, v in params.items() if k in cls.__dataclass_fields__}
        if "baselines" in known:
            known["baselines"] = tuple(known["baselines"])
        return cls(**known)

    def to_dict(self) -> dict[str, object]:
        return asdict(self) | {"baselines": list(self.baselines)}


@dataclass(frozen=True)
class Stage:
    """Which part of the proof of concept is running, for progress displays.

    `done` and `share` place the stage on one bar for the whole run: the estimated share of the run's time
    spent before it, and its own share (see `estimate`). `estimate_s` is the whole run's first estimate.
    """

    index: int  # 1-based; 0 while the machine's speed is measured, before the plan is known
    total: int
    label: str
    done: float = 0.0
    share: float = 0.0
    estimate_s: float | None = None


def plan_keys(config: PocConfig) -> list[str]:
    """The models a proof of concept runs, in order: X-Cross, the reference, the baselines, then each source
    adapter zero-shot (a folder path) when that baseline is chosen."""
    plan = ["x-cross", REFERENCE, *[b for b in config.baselines if b != "zero-shot"]]
    return plan + (list(config.adapters) if "zero-shot" in config.baselines else [])


def poc_splits(config: PocConfig, domain: DomainData) -> tuple[Split, Split]:
    """(the budget split every model is tested on, the same split with all training users for lora-full)."""
    args = {"seed": config.seed, "max_users": config.max_users}
    return make_split(domain, "users", fraction=config.fraction, **args), make_split(domain, "users", **args)


def poc_estimate(config: PocConfig, domain: DomainData, speed: Speed | None = None) -> list[StageEstimate]:
    """Seconds each model of the PoC should take here; `speed` is measured on the target's prompts when not given."""
    split, full = poc_splits(config, domain)
    if speed is None:
        speed = measure_speed(split, config.adapters, sasrec="sasrec" in config.baselines)
    return estimate_poc(
        plan_keys(config), split, len(training_sequences(full)), len(config.adapters), config.epochs, speed
    )


def verdict(name: str, reference: str, test: PairedTest, metric: str = "ndcg@10", unsettled: Sequence[str] = ()) -> str:
    """One sentence a manager can read: is `name` better, worse or not distinguishable from `reference`?

    `unsettled` names models that were still improving when their epochs ran out; the sentence says so.
    """
    d = test.difference
    numbers = f"{metric.upper()} difference {d.mean:+.4f}, 95% CI [{d.low:+.4f}, {d.high:+.4f}], p = {test.p_value:.3f}"
    if not test.significant:
        sentence = f"{name} is as good as {reference}: not significantly different ({numbers})."
    else:
        side = "better" if d.mean > 0 else "worse"
        sentence = f"{name} is significantly {side} than {reference} ({numbers})."
    if unsettled:
        sentence += (
            f" {' and '.join(unsettled)} still improved on validation in the last epoch allowed: "
            "more epochs may change this."
        )
    return sentence


def answer(
    target: str,
    sources: Sequence[str],
    vs_budget: PairedTest,
    parameter_share: float,
    vs_full: PairedTest | None = None,
) -> str:
    """The question the proof of concept is for, answered in plain words from X-Cross's paired tests.

    `vs_budget` is X-Cross minus the target's own LoRA on the same users, `vs_full` minus a LoRA on all of
    the target's training users (when that baseline ran); `parameter_share` is X-Cross's trainable
    parameters over LoRA's.
    """
    named = ", ".join(sources)
    own = f"{target}'s own adapter trained on the same users"
    if vs_budget.significant and vs_budget.difference.mean < 0:
        text = (
            f"Not at this budget: {own} ranks better than X-Cross over {named}. What those categories learned "
            f"does not cover what {target}'s buyers do; train {target}'s own adapter, or try other sources."
        )
    else:
        how = "better than" if vs_budget.significant else "as well as"
        text = f"Yes: X-Cross over {named} ranks {how} {own}, training {parameter_share:.0%} of its parameters."
    if vs_full is not None:
        if vs_full.significant and vs_full.difference.mean < 0:
            text += f" An adapter on all of {target}'s training users is better still: more {target} data pays."
        else:
            text += f" It is not significantly worse than an adapter on all of {target}'s training users."
    return text


def still_improving(fit: FitReport) -> bool:
    """Whether validation NDCG@10 was still rising in the last epoch run, so the epoch cap cut training short."""
    # An early stop always follows epochs that did not validate best, so it needs no test of its own.
    return fit.start_valid_ndcg10 is not None and fit.epochs > 0 and fit.best_epoch == fit.epochs


def run_poc(
    config: PocConfig,
    out_dir: str | Path,
    *,
    on_stage: Callable[[Stage], None] | None = None,
    progress: Callable[[TrainEvent], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> dict[str, object]:
    """Run the proof of concept and write its run folder (see the module docstring); returns results.json.

    `on_stage` hears when each model starts, `progress` gets every training step, and `cancel()` is
    polled during training: when it says stop, `Cancelled` propagates and nothing is written.
    """
    started = time.perf_counter()
    data = load_interactions(config.interactions, config.items, columns=ColumnMap(**config.columns))
    domain = data.interactions.domain(config.target)
    split, full = poc_splits(config, domain)
    base = read_metadata(config.adapters[0]).base
    budget = f"{config.fraction:.0%} of users"

    def build(name: str) -> tuple[str, Recommender, object]:
        """(display name, model, split it trains on) for one entry of the plan."""
        if name == "x-cross":
            loop = replace(XCROSS_LOOP, seed=config.seed, epochs=config.epochs or XCROSS_LOOP.epochs)
            xc = XCrossConfig(config.weights, config.refine)
            return f"X-Cross ({budget})", xcross_recommender(domain, config.adapters, xc, loop=loop), split
        if name in ("lora", "lora-full"):
            loop = replace(ADAPTER_LOOP, seed=config.seed, epochs=config.epochs or ADAPTER_LOOP.epochs)
            if name == "lora":
                return f"target LoRA ({budget})", lora_recommender(domain, base, loop=loop), split
            return "target LoRA (100% of users)", lora_recommender(domain, base, loop=loop), full
        model = make_model(name, domain, seed=config.seed, epochs=config.epochs, adapters=config.adapters)
        return name, model, split

    keys = plan_keys(config)
    if on_stage:
        on_stage(Stage(0, len(keys), "measuring this machine's speed"))
    estimates = poc_estimate(config, domain)
    total_s = total_seconds(estimates)
    shares = [e.seconds / total_s if total_s > 0 else 1 / len(keys) for e in estimates]
    results: dict[str, EvalResult] = {}
    models: dict[str, dict[str, object]] = {}
    unsettled: set[str] = set()  # labels of models still improving when their epochs ran out
    xcross = None
    for index, key in enumerate(keys, start=1):
        zero_shot = key in config.adapters
        if zero_shot:
            meta = read_metadata(key)
            label, model, train_split = f"{meta.domain} adapter (zero-shot)", load_adapter(key, domain), split
        else:
            label, model, train_split = build(key)
        if on_stage:
            on_stage(Stage(index, len(keys), label, sum(shares[: index - 1]), shares[index - 1], total_s))
        t0 = time.perf_counter()
        fit = model.fit(train_split, progress=progress, cancel=cancel)
        train_s = time.perf_counter() - t0
        model.name = label
        results[key] = evaluate(model, split.test, seed=config.seed)
        improving = still_improving(fit)
        models[label] = {
            "key": key,
            "train_users": 0 if zero_shot else len(train_split.train),
            "trainable_parameters": model.trainable_parameters,
            "train_seconds": round(train_s, 2),
            "fit": fit.to_dict(),
            "still_improving": improving,
            **results[key].to_dict(),
        }
        if improving:
            unsettled.add(label)
        if key == "x-cross":
            xcross = model
    reference = results[REFERENCE]
    comparisons, tests = {}, {}
    for key, result in results.items():
        if key == REFERENCE:
            continue
        test = tests[key] = compare(result, reference, "ndcg@10", seed=config.seed)
        caveat = [m for m in (result.model, reference.model) if m in unsettled]
        comparisons[result.model] = test.to_dict() | {
            "verdict": verdict(result.model, reference.model, test, unsettled=caveat)
        }
    # The X-Cross row's parameters over the reference LoRA's (both are always trained, so never zero).
    share = xcross.trainable_parameters / models[reference.model]["trainable_parameters"]
    full = results.get("lora-full")
    vs_full = compare(results["x-cross"], full, "ndcg@10", seed=config.seed) if full else None
    report = {
        "config": config.to_dict(),
        "target": domain.name,
        "sources": xcross.sources,
        "answer": answer(domain.name, xcross.sources, tests["x-cross"], share, vs_full),
        "split": split.summary(),
        "reference": reference.model,
        "models": models,
        "comparisons_vs_reference": comparisons,
        "seconds": round(time.perf_counter() - started, 1),
        "estimated_seconds": round(total_s, 1),
    }
    table = comparison_table(list(results.values()), reference=reference.model)
    table["trainable_parameters"] = [models[r.model]["trainable_parameters"] for r in results.values()]
    weights = weights_frame(xcross, domain.user_ids[split.test.users], split.test.histories)
    with atomic_folder(out_dir) as tmp:
        save_run(xcross, tmp / "xcross", config.adapters, {"data": split.summary(), "fit": models[xcross.name]["fit"]})
        (tmp / "results.json").write_text(json.dumps(report, indent=2, default=float))
        spreadsheet_safe(table).to_csv(tmp / "comparison.csv", index=False)
        weights.to_csv(tmp / "weights.csv", index=False)
        per_case = pd.concat([r.per_case.assign(model=r.model) for r in results.values()], ignore_index=True)
        spreadsheet_safe(per_case).to_csv(tmp / "per_case.csv", index=False)
    return report


def read_poc(out_dir: str | Path) -> tuple[dict[str, object], pd.DataFrame, pd.DataFrame]:
    """(results.json, comparison table, contribution weights) of a finished proof-of-concept folder."""
    out_dir = Path(out_dir)
    report = json.loads((out_dir / "results.json").read_text())
    return report, pd.read_csv(out_dir / "comparison.csv"), pd.read_csv(out_dir / "weights.csv")
