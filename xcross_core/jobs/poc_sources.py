"""A proof of concept that first trains the source adapters it lacks: one job, started once, from a purchase log.

The studio's PoC page runs proofs of concept through this job. Its spec is `poc.PocSpec` plus `train_sources`,
categories of the data with no adapter yet: the job trains an adapter for each (as `train_adapter` does, on the
base model of the other sources, else the packaged one; with the proof of concept's cap on users, epochs and seed),
saves it in the adapter `library` as the Adapters page would, so the next run reuses it, and then runs the proof
of concept on the existing sources and the new ones. With no category to train it is `poc.run` itself.

Its progress is the whole job's: stages number the trainings first ("training source k of n"), then the proof of
concept's ("PoC: ..."), and one bar covers them all, each part weighted by its estimated seconds. Before it
starts, `sourced_estimate` says how long it should take: each training at its own category's measured speed
(`train_adapter.adapter_seconds`), then the proof of concept as `poc` estimates it, its X-Cross over every source.
Cancelled or failed midway, the adapters already trained stay in the library, complete.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

from xcross_core.data.dataset import DomainData
from xcross_core.estimate import Speed, estimate_poc, wall_seconds
from xcross_core.jobs import poc, train_adapter
from xcross_core.jobs.hooks import SILENT, Hooks, Overall, Stage
from xcross_core.jobs.inputs import DataSpec, check_sources, domain_of, load_data
from xcross_core.jobs.lanes import lane_count
from xcross_core.jobs.outputs import check_out
from xcross_core.jobs.poc import PocSpec
from xcross_core.jobs.spec import SpecError, option
from xcross_core.jobs.train_adapter import TrainAdapterSpec, adapter_seconds, adapter_speed, lora_settings
from xcross_core.models.adapters import read_metadata
from xcross_core.models.text import training_sequences
from xcross_core.paths import safe_name
from xcross_core.training.events import TrainEvent


@dataclass(frozen=True, kw_only=True)
class SourcedPocSpec(PocSpec):
    """Proof of concept that first trains an adapter for each source category that has none."""

    train_sources: tuple[str, ...] = option(
        "source categories to train an adapter for first (on the other sources' base model, else the packaged one; "
        "with this run's cap on users, epochs and seed), each then a source like those of `adapters`",
        (),
    )
    library: Path | None = option("adapter library folder in which the adapters trained first are saved", None)

    def check(self) -> None:
        # PocSpec's checks, but of its sources only those that exist: the others are trained first.
        super(PocSpec, self).check()
        check_out(self.out)
        if self.adapters or not self.train_sources:
            check_sources(self.adapters)
        if not self.train_sources:
            return
        if self.library is None:
            raise SpecError("library", "must name the adapter library in which the adapters trained first are saved")
        if self.library.exists() and not self.library.is_dir():
            raise SpecError("library", f"{self.library} is not a folder")
        repeated = sorted({c for c in self.train_sources if self.train_sources.count(c) > 1})
        if repeated:
            raise SpecError("train_sources", f"names {', '.join(map(repr, repeated))} more than once")
        if self.target in self.train_sources:
            raise SpecError("train_sources", f"names the target {self.target!r}: its own adapter would leak its data")

    def poc(self, adapters: Sequence[Path]) -> PocSpec:
        """This proof of concept as `poc.run` takes it, on source adapters `adapters`."""
        return PocSpec(**{f.name: getattr(self, f.name) for f in fields(PocSpec)} | {"adapters": tuple(adapters)})

    def base(self) -> str | None:
        """The base model the queued adapters train on: the existing sources' (X-Cross stacks adapters of one
        base), else None for the packaged one."""
        return read_metadata(self.adapters[0]).base if self.adapters else None


def adapter_folder(library: Path, category: str, taken: Collection[Path] = ()) -> Path:
    """A new folder of `library` for `category`'s adapter: "<category> adapter", or with " 2", " 3", ... when that
    exists or is `taken`. Characters a folder name cannot hold become "_"."""
    stem = re.sub(r"[\x00-\x1f\x7f/\\]+", "_", category).strip(" .") or "source"
    for n in range(1, 1000):
        folder = library / safe_name(f"{stem[:100]} adapter" + (f" {n}" if n > 1 else ""))
        if folder not in taken and not folder.exists():
            return folder
    raise SpecError("train_sources", f"{library} has no free folder name for an adapter of {category!r}")


def training_specs(spec: SourcedPocSpec) -> list[TrainAdapterSpec]:
    """The adapter trainings `spec` queues, in order, each into a free folder of its library (as free now)."""
    data = {f.name: getattr(spec, f.name) for f in fields(DataSpec)} | {"dropped_out": None}  # the PoC writes it
    base, taken, specs = spec.base(), set(), []
    for category in spec.train_sources:
        out = adapter_folder(spec.library, category, taken)
        taken.add(out)
        settings = {"domain": category, "out": out, "base": base, "epochs": spec.epochs, "seed": spec.seed}
        specs.append(TrainAdapterSpec(**data, **settings, max_users=spec.max_users))
    return specs


def final_plan(spec: SourcedPocSpec, queued: Sequence[Path]) -> list[str]:
    """The models the proof of concept will run once the `queued` sources exist (with a per-source baseline such
    as zero-shot, each source trained first is a model of the plan too)."""
    return poc.plan_keys((*spec.adapters, *queued), spec.baselines)


@dataclass(frozen=True)
class SourcedEstimate:
    """How long a proof of concept with adapters trained first should take here, in seconds."""

    trainings: tuple[float, ...]  # each queued adapter's training, in order
    poc: float  # the proof of concept once they exist, its own speed measurement included
    probe_s: float  # measuring the speeds this estimate needs, which the job does first

    @property
    def work(self) -> float:
        """The seconds of the trainings and the proof of concept."""
        return sum(self.trainings) + self.poc

    @property
    def total(self) -> float:
        """The whole job's seconds."""
        return self.probe_s + self.work


def scaled_speed(speed: Speed, measured: int, sources: int) -> Speed:
    """`speed`, measured with X-Cross over `measured` sources, for X-Cross over `sources`: an X-Cross step runs one
    stream per source, so its cost grows with their number (a slight overestimate: `bench/step_ratio.py` measures
    three streams at 0.77 of three adapter steps)."""
    k = sources / measured
    return replace(
        speed, xcross_prompt_s=speed.xcross_prompt_s * k, xcross_encode_prompt_s=speed.xcross_encode_prompt_s * k
    )


def poc_probe(spec: SourcedPocSpec, target: DomainData) -> Speed:
    """The speed the estimate of the proof-of-concept part starts from: measured over the existing sources when
    there are any (`poc.poc_speed`), else a LoRA's on the target's prompts (`train_adapter.adapter_speed`)."""
    return poc.poc_speed(spec, target) if spec.adapters else adapter_speed(target, spec.base())


def sourced_estimate(
    spec: SourcedPocSpec, domain: Callable[[str], DomainData], speed_of: Callable[[str], Speed], probe: Speed
) -> SourcedEstimate:
    """Seconds of each queued training at its category's `speed_of(category)` (`adapter_speed`), and of the proof
    of concept at `probe` (`poc_probe`) scaled to all its sources; `domain(name)` gives a category's data."""
    specs = training_specs(spec)
    trainings = tuple(adapter_seconds(s, domain(s.domain), speed_of(s.domain)) for s in specs)
    # The job measures first what the estimate needs, but reads the existing sources' speed where it is kept.
    kept = spec.adapters and poc.kept_speed(spec) is not None
    probe_s = (0.0 if kept else probe.probe_s) + sum(speed_of(s.domain).probe_s for s in specs)
    speed = scaled_speed(probe, len(spec.adapters) or 1, len(spec.adapters) + len(spec.train_sources))
    keys = final_plan(spec, [s.out for s in specs])
    split, full = poc.poc_splits(spec, domain(spec.target))
    plan = estimate_poc(keys, split, len(training_sequences(full)), spec.epochs, speed)
    return SourcedEstimate(trainings, speed.probe_s + wall_seconds(plan, speed, lane_count(len(plan))), probe_s)


def _measured(spec: SourcedPocSpec, trainings: list[TrainAdapterSpec], hooks: Hooks) -> SourcedEstimate:
    """The job's estimate, from speeds measured now on the data (read once for all of them)."""
    result = load_data(spec, hooks, strict=False)  # each training reads its category strictly, as on its own
    speeds = {t.domain: adapter_speed(domain_of(result, t.domain), t.base, lora_settings(t)) for t in trainings}
    probe = poc_probe(spec, domain_of(result, spec.target))
    return sourced_estimate(spec, lambda name: domain_of(result, name), speeds.__getitem__, probe)


class _Whole:
    """Hooks for each part of the job in turn (a training, then the proof of concept) that report to the job's
    hooks as stages and progress of the whole job: the parts' stages numbered on, each part's progress weighted by
    its share of the estimated seconds."""

    def __init__(self, hooks: Hooks, stages: int, estimate_s: float, shares: Sequence[float]) -> None:
        self.hooks, self.stages, self.estimate_s, self.shares = hooks, stages, estimate_s, shares
        self.part, self.first, self.done = 0, 1, 0.0

    def next(self, label: Callable[[str], str], stages: int, own_overall: bool) -> Hooks:
        """Hooks for the next part, whose stages (`stages` of them) are labelled `label(theirs)`; a part whose job
        reports no `Overall` of its own (`own_overall` False) is one model, and its steps say how far it is."""
        first, share, done = self.first, self.shares[self.part], self.done
        self.part, self.first, self.done = self.part + 1, first + stages, done + share
        whole = self.hooks

        def stage(s: Stage) -> None:
            # A part's preparation (index 0) counts as its first stage.
            whole.on_stage(Stage(first + max(s.index, 1) - 1, self.stages, label(s.label), self.estimate_s))

        def overall(o: Overall) -> None:
            whole.on_overall(Overall(min(done + share * o.fraction, 1.0), tuple(map(label, o.running))))

        def progress(event: TrainEvent) -> None:
            if whole.progress is not None:
                whole.progress(event)
            if not own_overall and event.total_steps:
                overall(Overall(event.step / event.total_steps, ()))

        return Hooks(progress=progress, cancel=whole.cancel, stage=stage, overall=overall, note=whole.note)


def run(spec: SourcedPocSpec, hooks: Hooks = SILENT) -> dict[str, object]:
    """Train an adapter for each of `spec.train_sources` into the library, then run the proof of concept on every
    source (see the module docstring); returns its results.json, as `poc.run`.

    `Cancelled` (from `hooks.cancel`) stops it at the next training step; adapters already trained stay.
    """
    if not spec.train_sources:
        return poc.run(spec.poc(spec.adapters), hooks)
    trainings = training_specs(spec)
    n, models = len(trainings), len(final_plan(spec, [t.out for t in trainings]))
    hooks.on_stage(Stage(0, n + models, "measuring this machine's speed"))
    estimate = _measured(spec, trainings, hooks)
    gc.collect()  # the probes' models hold reference cycles (forward hooks): free them before training
    shares = [s / estimate.work if estimate.work > 0 else 1 / (n + 1) for s in (*estimate.trainings, estimate.poc)]
    whole = _Whole(hooks, n + models, estimate.total, shares)
    adapters = list(spec.adapters)
    for k, training in enumerate(trainings, 1):
        label = f"training source {k} of {n}: adapter for {training.domain}"
        trained = train_adapter.run(training, whole.next(lambda _, label=label: label, 1, own_overall=False))
        hooks.say(f"trained and saved {trained.folder}")
        adapters.append(trained.folder)
        del trained
        gc.collect()
    return poc.run(spec.poc(adapters), whole.next(lambda text: f"PoC: {text}", models, own_overall=True))
