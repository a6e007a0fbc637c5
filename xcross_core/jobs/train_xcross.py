"""Train X-Cross: integrate frozen source adapters for a target domain, trained on the target's users, and
save the run folder (its config, integration weights and metrics)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from xcross_core.jobs.hooks import SILENT, Hooks, Stage
from xcross_core.jobs.inputs import DataSpec, SplitSpec, as_spec_error, check_out, check_sources, domain_of, load_data
from xcross_core.jobs.spec import option
from xcross_core.models.xcross import XCROSS_LOOP, XCrossRecommender, save_run, xcross_recommender
from xcross_core.training.events import FitReport


@dataclass(frozen=True, kw_only=True)
class TrainXCrossSpec(DataSpec, SplitSpec):
    """Integrate source adapters for a target domain (X-Cross)."""

    target: str = option("target domain whose users train the integration")
    adapters: tuple[Path, ...] = option("source adapter folders (same base model)")
    out: Path = option("run folder to create")
    overwrite: bool = option("replace an existing run folder", False)
    lr: float = option("learning rate", XCROSS_LOOP.lr, positive=True)

    def check(self) -> None:
        super().check()
        check_out(self.out, overwrite=self.overwrite)
        check_sources(self.adapters)


@dataclass(frozen=True)
class TrainedXCross:
    """The trained X-Cross model, what its training did, and its run folder."""

    model: XCrossRecommender
    fit: FitReport
    folder: Path


def run(spec: TrainXCrossSpec, hooks: Hooks = SILENT) -> TrainedXCross:
    """Split the target, train the integration on its training users, and save the run folder to `out`."""
    domain = domain_of(load_data(spec, hooks), spec.target)
    split = spec.make_split(domain)
    hooks.say(f"split: {json.dumps(split.summary())}")
    loop = replace(XCROSS_LOOP, epochs=spec.epochs or XCROSS_LOOP.epochs, lr=spec.lr, seed=spec.seed)
    hooks.on_stage(Stage(1, 1, f"x-cross {domain.name}"))
    with as_spec_error():
        model = xcross_recommender(domain, spec.adapters, loop=loop)
        fit = model.fit(split, progress=hooks.progress, cancel=hooks.cancel)
    save_run(model, spec.out, spec.adapters, {"data": split.summary(), "fit": fit.to_dict()})
    return TrainedXCross(model, fit, spec.out)
