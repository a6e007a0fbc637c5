"""A proof of concept for one target domain: X-Cross from source adapters against baselines, on one split.

This is the job the studio runs (and `xcross poc` from a terminal): train X-Cross on a small budget of
the target's users, train and evaluate the chosen baselines on the same split (the models two at a time, in
`lanes`), paired-test X-Cross against
every other model (corrected together for the number of comparisons), answer the question (Yes, No or
Inconclusive; see `verdicts`), and keep the contribution weights of the test users. Everything is written to
one run folder, atomically:

- `results.json`: the settings (paths relative to the run folder), split, every model's metrics with CIs,
  parameters, timings and training report; `reference`, the model every other is compared with (X-Cross);
  `comparisons_vs_reference`, per other model, X-Cross minus it (interval, p-values, outcome, verdict);
  `answer` (outcome, reasons, text); `weights`, what the contribution weights show; the history-length
  breakdown;
- `comparison.csv`: the same table, one row per model (`diff_ndcg@10`: X-Cross minus the row's model);
- `weights.csv`: user_id, layer, source, weight for every test user (X-Cross's contribution weights);
- `per_case.csv`: every model's metrics for every test user (user, history_length, metrics, model), for
  paired comparisons across runs;
- `xcross/`: the X-Cross run folder (reloadable with `load_run`, usable as a model by `recommend`).
"""

from __future__ import annotations

import gc
import hashlib
import json
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd

from xcross_core.data.dataset import DomainData
from xcross_core.data.output import atomic_file
from xcross_core.data.report import spreadsheet_safe
from xcross_core.estimate import Speed, StageEstimate, estimate_poc, measure_speed, total_seconds, wall_seconds
from xcross_core.evaluation.protocol import EvalResult, compare_each, comparison_table, evaluate
from xcross_core.evaluation.splits import Split, make_split
from xcross_core.jobs.hooks import SILENT, Hooks, Stage
from xcross_core.jobs.inputs import DataSpec, check_sources, domain_of, load_data
from xcross_core.jobs.lanes import Cancel, Progress, Task, lane_count, run_lanes
from xcross_core.jobs.outputs import check_out, save_or_keep
from xcross_core.jobs.spec import SpecError, option
from xcross_core.jobs.verdicts import (
    answer,
    kept_start,
    outcome,
    same_margin,
    still_improving,
    verdict,
    weights_finding,
)
from xcross_core.models.adapters import atomic_folder, read_metadata
from xcross_core.models.lora_files import LORA_WEIGHTS
from xcross_core.models.recommender import Recommender
from xcross_core.models.registry import Cost, ModelOptions, Names, model_entry, model_names, model_with_role, plan_entry
from xcross_core.models.text import training_sequences
from xcross_core.models.xcross import weights_frame
from xcross_core.models.xcross_run import save_run
from xcross_core.paths import portable
from xcross_core.training.events import FitReport

#: The model every other is compared with (X-Cross), and the yardstick of the answer (the target's own LoRA
#: trained on the same data budget): both always run.
SUBJECT = model_with_role("subject").name
OWN = model_with_role("yardstick").name


def default_baselines() -> tuple[str, ...]:
    """The registered baselines a proof of concept runs unless told otherwise."""
    return tuple(n for n in model_names(baseline=True) if model_entry(n).baseline == "default")


def __getattr__(name: str) -> tuple[str, ...]:
    """`BASELINES` (every baseline a proof of concept can add) and `DEFAULT_BASELINES`, read from the registry when
    imported, so a page that imports them on every rerun offers a model registered after this module loaded."""
    if name == "BASELINES":
        return model_names(baseline=True)
    if name == "DEFAULT_BASELINES":
        return default_baselines()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def baseline_help(name: str) -> str:
    """What baseline `name` is, in the words the CLI and the studio show."""
    return model_entry(name).help


@dataclass(frozen=True, kw_only=True)
class PocSpec(DataSpec):
    """Proof of concept: X-Cross on a small target budget against baselines."""

    target: str = option("target domain (the new product category)")
    adapters: tuple[Path, ...] = option("source adapter folders (same base model)")
    out: Path | None = option("run folder to create (results, weights, X-Cross run)", None, required=True)
    fraction: float = option("share of the target's training users that train (the data budget)", 0.25, bounds="(0, 1]")
    max_users: int | None = option(
        "cap the target's users (a seeded sample) for quick runs: the budget's training users and the validation "
        "users are drawn from within the cap, the test users are topped up from outside it",
        None,
        minimum=1,
    )
    test_users: int | None = option(
        "test users wanted: users from outside the cap on users are added to those held out within it until this "
        "many are tested (seeded, the same for every model and budget; they never train)",
        1000,
        minimum=1,
    )
    epochs: int | None = option("maximum epochs per trained model (early stopping still applies)", 3, minimum=1)
    baselines: tuple[str, ...] = option(
        "models besides X-Cross and the same-budget target LoRA", default_baselines(), choices=Names(baseline=True)
    )
    seed: int = option("random seed of the split and of training", 0, minimum=0, maximum=2**32 - 1)
    speed_cache: Path | None = option(
        "folder that keeps this machine's measured speed per data file, target, sources and lanes: a proof of "
        "concept with the same ones reads it instead of measuring again (the studio keeps one in its workspace, so "
        "a run starts from the speed its page measured)",
        None,
    )

    def check(self) -> None:
        super().check()
        check_out(self.out)
        check_sources(self.adapters)


def plan_keys(adapters: Sequence[str | Path], baselines: Sequence[str]) -> list[str]:
    """The models a proof of concept over `adapters` with `baselines` runs, in order: X-Cross, the same-budget
    target LoRA, the baselines, then each source adapter alone (a folder path) when a baseline that runs per source
    is chosen."""
    per_source = [model_entry(b).per_source for b in baselines]
    plan = [SUBJECT, OWN, *[b for b, each in zip(baselines, per_source, strict=True) if not each]]
    return plan + ([str(a) for a in adapters] if any(per_source) else [])


def probed_baselines(spec: PocSpec) -> tuple[str, ...]:
    """The chosen baselines whose step the speed probe times besides the language models' (SASRec's): the measured
    speed depends on these and on no other baseline."""
    return tuple(b for b in spec.baselines if model_entry(b).cost is Cost.TRAINS_SASREC)


def poc_split(spec: PocSpec, domain: DomainData, fraction: float | None = None) -> Split:
    """The split of the proof of concept: its training users the budget's (or `fraction`'s), its test users the
    ones every model is tested on, whatever the budget."""
    return make_split(
        domain,
        "users",
        seed=spec.seed,
        fraction=spec.fraction if fraction is None else fraction,
        max_users=spec.max_users,
        test_users=spec.test_users,
    )


def poc_splits(spec: PocSpec, domain: DomainData) -> tuple[Split, Split]:
    """(the budget split every model is tested on, the same split with all training users for a model that trains
    on them all)."""
    return poc_split(spec, domain), poc_split(spec, domain, 1.0)


def poc_speed(spec: PocSpec, domain: DomainData) -> Speed:
    """This machine's speed on the target's prompts, for the PoC's estimate: read from `spec.speed_cache` when it
    keeps one for the same data, target, sources and lanes (`kept_speed`), else measured (and kept there)."""
    kept = kept_speed(spec)
    if kept is not None:
        return kept
    keys = plan_keys(spec.adapters, spec.baselines)
    split, costs = poc_splits(spec, domain)[0], {plan_entry(key).cost for key in keys}
    speed = measure_speed(split, spec.adapters, costs=costs, lanes=lane_count(len(keys)))
    gc.collect()  # the probe's models hold reference cycles (forward hooks): free them before the run needs the room
    if spec.speed_cache is not None:
        with atomic_file(_speed_file(spec)) as tmp:
            tmp.write_text(json.dumps(asdict(speed), indent=2) + "\n")
    return speed


def kept_speed(spec: PocSpec) -> Speed | None:
    """The speed `spec.speed_cache` keeps for `spec`'s data, target, sources and lanes (its `probe_s` what measuring
    it took), or None. The budget and the cap are not part of the key: the speed is per prompt."""
    path = None if spec.speed_cache is None else _speed_file(spec)
    if path is None or not path.is_file():
        return None
    with suppress(OSError, ValueError, TypeError):  # unreadable or from another version: measured again
        return Speed(**json.loads(path.read_text()))
    return None


def _speed_file(spec: PocSpec) -> Path:
    files = [spec.interactions, spec.items, *(Path(a) / LORA_WEIGHTS for a in spec.adapters)]
    identity = {
        "files": [None if f is None else [str(Path(f).resolve()), *_stat(Path(f))] for f in files],
        "target": spec.target,
        "columns": sorted(spec.columns.items()),
        "probed": probed_baselines(spec),  # the only baselines whose step it times
        "lanes": lane_count(len(plan_keys(spec.adapters, spec.baselines))),
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    return spec.speed_cache / f"speed-{digest}.json"


def _stat(path: Path) -> tuple[int, int]:
    """A file's size and modification time (nanoseconds); (-1, -1) when it cannot be read."""
    try:
        info = path.stat()
    except OSError:
        return -1, -1
    return info.st_size, info.st_mtime_ns


def poc_estimate(spec: PocSpec, domain: DomainData, speed: Speed) -> list[StageEstimate]:
    """Seconds each model of the PoC should take here with the machine to itself."""
    split, full = poc_splits(spec, domain)
    keys = plan_keys(spec.adapters, spec.baselines)
    return estimate_poc(keys, split, len(training_sequences(full)), spec.epochs, speed)


def poc_seconds(speed: Speed, plan: list[StageEstimate]) -> float:
    """The PoC's estimated wall seconds here: measuring its speed, then its `plan` (`poc_estimate`) in lanes."""
    return speed.probe_s + wall_seconds(plan, speed, lane_count(len(plan)))


def run(spec: PocSpec, hooks: Hooks = SILENT) -> dict[str, object]:
    """Run the proof of concept and write its run folder `out` (see the module docstring); returns results.json.

    `hooks.stage` hears when each model starts, `hooks.progress` gets every training step, and `hooks.cancel`
    is polled during training: when it says stop, `Cancelled` propagates and nothing is written.
    """
    if spec.out is None:
        raise SpecError("out", "must name the run folder to create")
    started = time.perf_counter()
    domain = domain_of(load_data(spec, hooks, domain=spec.target), spec.target)
    split, full = poc_splits(spec, domain)
    if split.note:
        hooks.say(split.note)
    # The target LoRA sits on the sources' base model; models that combine sources use the adapters' own.
    options = ModelOptions(spec.seed, spec.epochs, read_metadata(spec.adapters[0]).base, adapters=spec.adapters)
    keys = plan_keys(spec.adapters, spec.baselines)
    entries = {key: plan_entry(key) for key in keys}
    per_source = [key for key in keys if entries[key].per_source]  # source adapter folders, each run alone
    full_key = next((key for key in keys if entries[key].users == "all"), None)

    def build(key: str) -> tuple[str, Recommender, Split]:
        """(display name, model, split it trains on) for one entry of the plan."""
        entry = entries[key]
        if entry.per_source:
            label = entry.row_label(spec.fraction, read_metadata(key).domain)
            return label, entry.make(domain, replace(options, adapters=(key,))), split
        return entry.row_label(spec.fraction), entry.make(domain, options), full if entry.users == "all" else split

    results: dict[str, EvalResult] = {}
    fits: dict[str, FitReport] = {}
    models: dict[str, dict[str, object]] = {}
    kept: dict[str, Recommender] = {}  # X-Cross, for its weights and its run folder; every other model is let go

    def task(key: str) -> Task[None]:
        """The plan entry's model, ready to train on its split and be tested on the budget split's test users."""
        label, model, train_split = build(key)
        model.name = label

        def run(progress: Progress, cancel: Cancel) -> None:
            t0 = time.perf_counter()
            fit = fits[key] = model.fit(train_split, progress=progress, cancel=cancel)
            train_s = time.perf_counter() - t0
            result = results[key] = evaluate(model, split.test, seed=spec.seed)
            models[label] = {
                "key": portable(key, spec.out) if key in per_source else key,
                "train_users": 0 if key in per_source else len(train_split.train),
                "trainable_parameters": model.trainable_parameters,
                "train_seconds": round(train_s, 2),
                "fit": fit.to_dict(),
                "still_improving": still_improving(fit),
                "kept_start": kept_start(fit),
                **result.to_dict(),
            }
            if key == SUBJECT:
                kept[key] = model

        return Task(label, run, alone=entries[key].alone)

    speed = kept_speed(spec)
    if speed is None:
        hooks.on_stage(Stage(0, len(keys), "measuring this machine's speed"))
        speed = poc_speed(spec, domain)
    else:
        speed = replace(speed, probe_s=0.0)  # read back: this run spends nothing measuring it
    estimates = poc_estimate(spec, domain, speed)
    total_s, work_s = poc_seconds(speed, estimates), total_seconds(estimates)
    shares = [e.seconds / work_s if work_s > 0 else 1 / len(keys) for e in estimates]
    run_lanes(keys, task, hooks, shares, total_s)
    # The lanes finish in any order: tables and comparisons follow the plan's.
    results, fits = {k: results[k] for k in keys}, {k: fits[k] for k in keys}
    models = {results[k].model: models[results[k].model] for k in keys}
    xcross = kept[SUBJECT]
    subject, own = results[SUBJECT], results[OWN]
    by_name = compare_each(subject, [r for k, r in results.items() if k != SUBJECT], seed=spec.seed)
    tests = {key: by_name[r.model] for key, r in results.items() if key != SUBJECT}
    margin = same_margin(own.summary["ndcg@10"].mean)
    comparisons = {}
    for key, test in tests.items():
        pair = [(subject.model, fits[SUBJECT]), (results[key].model, fits[key])]
        comparisons[results[key].model] = test.to_dict() | {
            "outcome": outcome(test, margin),
            "verdict": verdict(
                subject.model,
                results[key].model,
                test,
                margin,
                unsettled=[m for m, fit in pair if still_improving(fit)],
                started=[m for m, fit in pair if kept_start(fit)],
            ),
        }
    # The X-Cross row's parameters over the same-budget LoRA's (both are always trained, so never zero).
    share = xcross.trainable_parameters / models[own.model]["trainable_parameters"]
    weights = weights_frame(xcross, domain.user_ids[split.test.users], split.test.histories)
    settings = spec.to_dict(relative_to=spec.out)
    del settings["out"]
    report = {
        "config": settings,
        "target": domain.name,
        "sources": xcross.sources,
        "answer": answer(
            domain.name,
            xcross.sources,
            tests[OWN],
            margin=margin,
            parameter_share=share,
            xcross_kept_start=kept_start(fits[SUBJECT]),
            own_kept_start=kept_start(fits[OWN]),
            vs_full=tests.get(full_key),
            full_kept_start=full_key is not None and kept_start(fits[full_key]),
            vs_sources={read_metadata(key).domain: tests[key] for key in per_source},
        ),
        "split": split.summary(),
        "reference": subject.model,
        "models": models,
        "comparisons_vs_reference": comparisons,
        "weights": weights_finding(weights, kept_start(fits[SUBJECT])),
        "seconds": round(time.perf_counter() - started, 1),
        "estimated_seconds": round(total_s, 1),
    }
    table = comparison_table(list(results.values()), by_name)
    table["trainable_parameters"] = [models[r.model]["trainable_parameters"] for r in results.values()]
    per_case = pd.concat([r.per_case.assign(model=r.model) for r in results.values()], ignore_index=True)

    def write(folder: Path) -> None:
        with atomic_folder(folder) as tmp:
            fit = models[xcross.name]["fit"]
            save_run(xcross, tmp / "xcross", spec.adapters, {"data": split.summary(), "fit": fit})
            (tmp / "results.json").write_text(json.dumps(report, indent=2, default=float))
            spreadsheet_safe(table).to_csv(tmp / "comparison.csv", index=False)
            spreadsheet_safe(weights).to_csv(tmp / "weights.csv", index=False)
            spreadsheet_safe(per_case).to_csv(tmp / "per_case.csv", index=False)

    save_or_keep(write, Path(spec.out), "proof of concept's results")
    return report


def read_poc(out_dir: str | Path) -> tuple[dict[str, object], pd.DataFrame, pd.DataFrame]:
    """(results.json, comparison table, contribution weights) of a finished proof-of-concept folder.

    Paths in results.json's "config" are relative to the folder: `PocSpec.from_dict(config, root=out_dir)`
    reads them back wherever the folder (with the workspace around it) now is.
    """
    out_dir = Path(out_dir)
    report = json.loads((out_dir / "results.json").read_text())
    return report, pd.read_csv(out_dir / "comparison.csv"), pd.read_csv(out_dir / "weights.csv")
