"""Train X-Cross: integrate frozen source adapters for a target domain, trained on the target's users, and
save the run folder (its config, integration weights and metrics)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from xcross_core.jobs.hooks import SILENT, Hooks, Stage
from xcross_core.jobs.inputs import DataSpec, SplitSpec, as_spec_error, check_sources, domain_of, load_data
from xcross_core.jobs.outputs import check_out, save_or_keep
from xcross_core.jobs.spec import option
from xcross_core.models.registry import training_loop
from xcross_core.models.xcross import XCROSS_LOOP, XCrossRecommender, xcross_recommender
from xcross_core.models.xcross_run import RUN_CONFIG, save_run
from xcross_core.training.events import FitReport


@dataclass(frozen=True, kw_only=True)
class TrainXCrossSpec(DataSpec, SplitSpec):
    """Integrate source adapters for a target domain (X-Cross)."""

    target: str = option("target domain whose users train the integration")
    adapters: tuple[Path, ...] = option("source adapter folders (same base model)")
    out: Path = option("run folder to create")
    overwrite: bool = option("replace an existing run folder", False)
    lr: float = option("learning rate", XCROSS_LOOP.lr, positive=True, maximum=10.0)

    def check(self) -> None:
        super().check()
        check_out(self.out, overwrite=self.overwrite, marker=RUN_CONFIG)
        check_sources(self.adapters)


@dataclass(frozen=True)
class TrainedXCross:
    """The trained X-Cross model, what its training did, and its run folder."""

    model: XCrossRecommender
    fit: FitReport
    folder: Path


def run(spec: TrainXCrossSpec, hooks: Hooks = SILENT) -> TrainedXCross:
    """Split the target, train the integration on its training users, and save the run folder to `out`.

    Raises OutputError when the run cannot be saved to `out`; it is then kept elsewhere, and the message says
    where.
    """
    domain = domain_of(load_data(spec, hooks, domain=spec.target), spec.target)
    split = spec.make_split(domain, tested=False, ordered=True)
    hooks.say(f"split: {json.dumps(split.summary())}")
    loop = training_loop(replace(XCROSS_LOOP, lr=spec.lr), seed=spec.seed, epochs=spec.epochs)
    hooks.on_stage(Stage(1, 1, f"x-cross {domain.name}"))
    with as_spec_error():
        model = xcross_recommender(domain, spec.adapters, loop=loop)
        fit = model.fit(split, progress=hooks.progress, cancel=hooks.cancel)
    save_or_keep(
        lambda folder: save_run(model, folder, spec.adapters, {"data": split.summary(), "fit": fit.to_dict()}),
        spec.out,
        "trained X-Cross run",
        "a complete run folder, which names its source adapters relative to itself: use it from there "
        "(e.g. `xcross weights {kept} ...`)",
    )
    return TrainedXCross(model, fit, spec.out)
