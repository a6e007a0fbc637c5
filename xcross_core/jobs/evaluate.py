"""Evaluate: train models on one split of a domain, rank its test users, and paired-test them against the first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from xcross_core.data.advice import Hint, Message
from xcross_core.data.output import atomic_file
from xcross_core.data.report import spreadsheet_safe
from xcross_core.evaluation.metrics import METRICS
from xcross_core.evaluation.protocol import EvalResult, compare, evaluate
from xcross_core.jobs.hooks import SILENT, Hooks, Stage
from xcross_core.jobs.inputs import DataSpec, ModelSpec, SplitSpec, as_spec_error, check_sources, domain_of, load_data
from xcross_core.jobs.outputs import check_output_file, save_or_keep
from xcross_core.jobs.spec import SpecError, option
from xcross_core.models.registry import check_model_name, make_model, model_entry, model_names


@dataclass(frozen=True, kw_only=True)
class EvaluateSpec(DataSpec, SplitSpec, ModelSpec):
    """Train and evaluate models on one split of a domain."""

    model: str = option(
        lambda: (
            f"model to evaluate: {', '.join(model_names(sources=False))}, with adapters "
            f"{', '.join(model_names(sources=True))}, an adapter folder or an X-Cross run folder"
        )
    )
    domain: str = option("domain to evaluate on")
    against: tuple[str, ...] = option("more models on the same split, each paired-tested against the model", ())
    adapters: tuple[Path, ...] = option(
        lambda: f"source adapter folders for the models that combine them: {', '.join(model_names(sources=True))}", ()
    )
    out: Path | None = option("metrics JSON", None, required=True)
    per_user: Path | None = option("also write per-user metrics to this CSV", None)
    sampled: int | None = option(
        "rank the target among N sampled negatives instead of the full catalogue (flatters models)",
        None,
        minimum=1,
        metavar="N",
    )
    keep_history: bool = option("keep already-bought items in the ranking", False)

    @property
    def names(self) -> list[str]:
        return [self.model, *self.against]

    def check(self) -> None:
        super().check()
        for name in self.names:
            with as_spec_error():
                check_model_name(name, self.adapters)
        if len(set(self.names)) < len(self.names):
            raise SpecError(None, "each model may be named once")
        if self.adapters:
            check_sources(self.adapters)
        check_output_file("out", self.out, self.inputs())
        check_output_file("per_user", self.per_user, self.inputs())
        if self.out is not None and self.per_user is not None and self.out.absolute() == self.per_user.absolute():
            also = Message(f"{self.per_user} is also the metrics file", Hint("out", " ({})"), "; name another file")
            raise SpecError("per_user", also)


@dataclass(frozen=True)
class Evaluation:
    """Every model's results on the split, and the JSON report written to `out`."""

    results: list[EvalResult]
    report: dict[str, Any]


def run(spec: EvaluateSpec, hooks: Hooks = SILENT) -> Evaluation:
    """Fit each model on the split, evaluate it on the test users, compare each with the first; write `out`.

    Outputs are written whole or not at all; one that cannot be written is kept elsewhere (OutputError says where).
    """
    domain = domain_of(load_data(spec, hooks, domain=spec.domain), spec.domain)
    split = spec.make_split(domain, spec.sampled)
    hooks.say(f"split: {json.dumps(split.summary())}")
    results, extra = [], {}
    for index, name in enumerate(spec.names, start=1):
        with as_spec_error():
            model = make_model(
                name,
                domain,
                seed=spec.seed,
                epochs=spec.epochs,
                base=spec.base,
                allow_download=spec.download,
                adapters=spec.adapters,
            )
        model.name = name if model_entry(name) is not None else f"{model.name} ({Path(name).name})"
        hooks.on_stage(Stage(index, len(spec.names), f"training {model.name}"))
        fit = model.fit(split, progress=hooks.progress, cancel=hooks.cancel)
        extra[model.name] = {"trainable_parameters": model.trainable_parameters, "fit": fit.to_dict()}
        result = evaluate(model, split.test, exclude_history=not spec.keep_history, seed=spec.seed)
        results.append(result)
        hooks.say(f"{name}: ndcg@10 {result.summary['ndcg@10']}")
    report = {
        "split": split.summary(),
        "exclude_history": not spec.keep_history,
        "models": {r.model: r.to_dict() | extra[r.model] for r in results},
        "comparisons": {
            f"{r.model} - {results[0].model}": {m: compare(r, results[0], m).to_dict() for m in METRICS}
            for r in results[1:]
        },
    }
    if spec.out is not None:
        text = json.dumps(report, indent=2, default=float)
        save_or_keep(lambda path: _write(path, text.encode()), spec.out, "metrics")
    if spec.per_user is not None:
        per_user = spreadsheet_safe(pd.concat([r.per_case.assign(model=r.model) for r in results]))
        table = per_user.to_csv(index=False).encode()
        save_or_keep(lambda path: _write(path, table), spec.per_user, "per-user metrics")
    return Evaluation(results, report)


def _write(path: Path, data: bytes) -> None:
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
