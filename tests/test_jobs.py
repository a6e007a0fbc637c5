"""The jobs layer: specs that check themselves and carry their help, the quick jobs run end to end, and the estimates of
an adapter's training and of a proof of concept that trains sources first."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest

from xcross_core.cli import build_parser
from xcross_core.jobs import evaluate, recommend, train_adapter, validate
from xcross_core.jobs.evaluate import EvaluateSpec
from xcross_core.jobs.hooks import Hooks, Stage, logged
from xcross_core.jobs.outputs import OutputError
from xcross_core.jobs.poc import PocSpec
from xcross_core.jobs.recommend import RecommendSpec
from xcross_core.jobs.spec import SpecError
from xcross_core.jobs.study import StudySpec
from xcross_core.jobs.train_adapter import TrainAdapterSpec
from xcross_core.jobs.train_xcross import TrainXCrossSpec
from xcross_core.jobs.validate import ValidateSpec
from xcross_core.jobs.weights import WeightsSpec
from xcross_core.models.adapters import METADATA, read_metadata

SPECS = [ValidateSpec, RecommendSpec, EvaluateSpec, TrainAdapterSpec, TrainXCrossSpec, WeightsSpec, StudySpec, PocSpec]
COMMANDS = {
    "validate": ValidateSpec,
    "recommend": RecommendSpec,
    "evaluate": EvaluateSpec,
    "train-adapter": TrainAdapterSpec,
    "train-xcross": TrainXCrossSpec,
    "weights": WeightsSpec,
    "study": StudySpec,
    "poc": PocSpec,
}


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """Six users of Books buying b0, b1, b2 in order; titles inline."""
    rows = [f"u{u},b{i},{i + 1},Books,Book {i}" for u in range(6) for i in range(3)]
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,timestamp,domain,title\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_every_setting_has_help_and_the_cli_shows_the_same_words(capsys: pytest.CaptureFixture[str]) -> None:
    subcommands = build_parser()._subparsers._group_actions[0].choices
    for command, spec in COMMANDS.items():
        text = " ".join(subcommands[command].format_help().split())
        for f in fields(spec):
            assert spec.help_for(f.name), f"{spec.__name__}.{f.name} has no help"
            assert " ".join(spec.help_for(f.name).split()) in text, (command, f.name)


def test_from_dict_normalises_types_and_refuses_unknown_missing_and_wrong_ones(log: Path) -> None:
    spec = EvaluateSpec.from_dict(
        {"model": "popularity", "interactions": str(log), "domain": "Books", "against": ["sasrec"], "test_share": 1 / 5}
    )
    assert spec.interactions == log and spec.against == ("sasrec",) and spec.fraction == 1.0
    assert EvaluateSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    problems = {
        "unknown settings 'k'": {"k": 3},
        "against must be a list of text, not str 'sasrec'": {"against": "sasrec"},
        "seed must be a whole number, not float 1.5": {"seed": 1.5},
        "keep_history must be true or false, not str 'yes'": {"keep_history": "yes"},
        "split must be one of 'users', 'loo', not str 'time'": {"split": "time"},
        "test_share and valid_share must sum to less than 1, not 0.5 + 0.5": {"test_share": 0.5, "valid_share": 0.5},
        "each model may be named once": {"against": ["popularity"]},
        "unknown model 'magic'": {"against": ["magic"]},
        "model 'x-cross' combines source adapters": {"against": ["x-cross"]},
    }
    base = {"model": "popularity", "interactions": str(log), "domain": "Books"}
    for message, change in problems.items():
        with pytest.raises(SpecError, match=re.escape(message)):
            EvaluateSpec.from_dict(base | change)
    with pytest.raises(SpecError, match="missing settings 'domain'"):
        EvaluateSpec.from_dict({"model": "popularity", "interactions": str(log)})


def test_relative_paths_are_read_from_a_root_and_written_relative_to_one(log: Path, tmp_path: Path) -> None:
    root = tmp_path / "workspace"
    spec = ValidateSpec.from_dict({"interactions": "../log.csv", "dropped_out": "dropped.csv"}, root=root)
    assert spec.interactions == log.resolve() and spec.dropped_out == root.resolve() / "dropped.csv"
    assert spec.to_dict(relative_to=root)["interactions"] == "../log.csv"


def test_outputs_that_would_be_lost_are_refused(log: Path, tmp_path: Path) -> None:
    taken = tmp_path / "adapter"
    taken.mkdir()
    settings = {"interactions": log, "domain": "Books", "out": taken}
    with pytest.raises(SpecError, match="already exists; choose another, or allow overwriting") as err:
        TrainAdapterSpec(**settings)
    assert err.value.field == "out"
    # Only a folder this job wrote may be overwritten: --out pointing at, say, the data folder deletes nothing.
    with pytest.raises(SpecError, match="is not a folder this job wrote"):
        TrainAdapterSpec(**settings, overwrite=True)
    (taken / METADATA).write_text("{}")
    assert TrainAdapterSpec(**settings, overwrite=True).overwrite
    with pytest.raises(SpecError, match="lr must be above 0"):
        TrainAdapterSpec(**settings, overwrite=True, lr=0)


def test_every_output_is_checked_before_any_work(log: Path, tmp_path: Path) -> None:
    problems = {
        "is a folder; name a file to write": {"out": tmp_path},
        "is one of this job's input files": {"out": log},
        "is a file, not a folder": {"out": log / "recs.csv"},
    }
    for message, change in problems.items():
        with pytest.raises(SpecError, match=message) as err:
            RecommendSpec(**{"model": "popularity", "interactions": log, "domain": "Books", "out": tmp_path} | change)
        assert err.value.field == "out"
    with pytest.raises(SpecError, match="is one of this job's input files") as err:
        ValidateSpec(interactions=log, dropped_out=log)
    assert err.value.field == "dropped_out"


def test_a_result_that_cannot_be_written_is_kept_and_the_error_says_where(log: Path, tmp_path: Path) -> None:
    out = tmp_path / "later" / "metrics.json"  # the folder does not exist yet: the spec accepts it

    def block(stage: Stage) -> None:  # while the job runs, a file takes the folder's name: writing must fail
        (tmp_path / "later").write_text("in the way")

    spec = EvaluateSpec(model="popularity", interactions=log, domain="Books", out=out)
    with pytest.raises(OutputError, match=r"could not save the metrics to .*; it was kept in (\S+)$") as err:
        evaluate.run(spec, Hooks(stage=block))
    kept = Path(str(err.value).rsplit(" ", 1)[-1])
    try:
        assert json.loads(kept.read_text())["models"]["popularity"]["cases"] == 1
        assert "Not a directory" in str(err.value) or "File exists" in str(err.value)
    finally:
        shutil.rmtree(kept.parent)


def test_a_trained_adapter_that_cannot_be_saved_is_kept(log: Path, tmp_path: Path, tiny_bert: str) -> None:
    out = tmp_path / "later" / "adapter"

    def block(event: object) -> None:  # a file takes the folder's name during training
        (tmp_path / "later").write_text("in the way")

    spec = TrainAdapterSpec(interactions=log, domain="Books", out=out, base=tiny_bert, epochs=1)
    with pytest.raises(OutputError, match="could not save the trained adapter") as err:
        train_adapter.run(spec, Hooks(progress=block))
    kept = Path(re.search(r"it was kept in (\S+): ", str(err.value)).group(1))
    try:
        metadata = read_metadata(kept)
        assert metadata.domain == "Books" and metadata.fit["steps"] > 0
    finally:
        shutil.rmtree(kept.parent)


def test_degenerate_domains_are_refused_before_training(tmp_path: Path) -> None:
    path = tmp_path / "solo.csv"
    rows = [f"u0,b{i},{i + 1},Books,Book {i}" for i in range(5)]
    path.write_text("user_id,item_id,timestamp,domain,title\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "adapter"
    with pytest.raises(SpecError, match=r"only 1 user \(at least 5 needed\)"):
        train_adapter.run(TrainAdapterSpec(interactions=path, domain="Books", out=out))
    with pytest.raises(SpecError, match="leaves no users to test on"):
        evaluate.run(EvaluateSpec(model="popularity", interactions=path, domain="Books", min_users=1))
    assert list(tmp_path.iterdir()) == [path]


def test_recommend_refuses_models_that_need_a_split(log: Path, tmp_path: Path) -> None:
    out = tmp_path / "recs.csv"
    for model in ("sasrec", "lora"):
        with pytest.raises(SpecError, match="needs a trained model"):
            RecommendSpec(model=model, interactions=log, domain="Books", out=out)
    with pytest.raises(SpecError, match="train only applies to the popularity model") as err:
        RecommendSpec(model="base", interactions=log, domain="Books", out=out, train=log)
    assert err.value.field == "train"


def test_validate_and_recommend_run_and_report_through_the_hooks(log: Path, tmp_path: Path) -> None:
    result = validate.run(ValidateSpec(interactions=log))
    assert result.usable and result.report.ok
    notes: list[str] = []
    spec = RecommendSpec(model="popularity", interactions=log, domain="Books", k=2, out=tmp_path / "r" / "recs.csv")
    recs = recommend.run(spec, Hooks(note=notes.append))
    assert recs.short == 6 and any("fewer than 2 items not yet bought" in n for n in notes)
    written = pd.read_csv(spec.out)
    assert len(written) == len(recs.frame) == 0  # every user bought all three books
    with pytest.raises(SpecError, match="domain 'Games' is not in the data"):
        recommend.run(RecommendSpec(model="popularity", interactions=log, domain="Games", out=spec.out))


def test_evaluate_runs_every_model_as_one_stage_without_writing_when_no_out_is_named(log: Path) -> None:
    stages: list[Stage] = []
    spec = EvaluateSpec(model="popularity", interactions=log, domain="Books", split="loo", min_users=1)
    result = evaluate.run(spec, Hooks(stage=stages.append))
    assert [(s.index, s.total, s.label) for s in stages] == [(1, 1, "training popularity")]
    assert result.report["models"]["popularity"]["cases"] == 6


def test_logged_hooks_print_stages_and_notes(capsys: pytest.CaptureFixture[str]) -> None:
    hooks = logged("[bench] ")
    hooks.on_stage(Stage(1, 2, "x-cross @ 0.5"))
    hooks.say("split: {}")
    err = capsys.readouterr().err
    assert "[bench] [1/2] x-cross @ 0.5" in err and "[bench] split: {}" in err


def test_a_training_and_a_poc_that_trains_a_source_first_are_estimated_before_they_start(
    tmp_path: Path, tiny_bert: str, source_adapters: list[str]
) -> None:
    from tests.conftest import SAMPLE, small_poc_params
    from xcross_core.data.load import load_interactions
    from xcross_core.estimate import Speed
    from xcross_core.jobs import poc, poc_sources
    from xcross_core.jobs.inputs import SplitSpec

    data = load_interactions(SAMPLE / "interactions.csv", SAMPLE / "items.csv").interactions
    sports, target = data.domain("Sports"), data.domain("Electronics")
    speed = train_adapter.adapter_speed(sports, tiny_bert)
    assert speed.train_prompt_s > 0 and speed.encode_prompt_s > 0 and speed.probe_s > 0
    one, three = (train_adapter.adapter_seconds(SplitSpec(max_users=60, epochs=e), sports, speed) for e in (1, 3))
    assert 0 < one < three
    params = small_poc_params(source_adapters[:1], train_sources=["Sports"], library=tmp_path / "library")
    spec = poc_sources.SourcedPocSpec(**params, out=tmp_path / "run")
    (training,) = poc_sources.training_specs(spec)  # with the PoC's cap and epochs, on its source's base model
    assert (training.domain, training.out, training.max_users, training.epochs) == (
        "Sports",
        tmp_path / "library" / "Sports adapter",
        60,
        1,
    )
    assert training.base == tiny_bert
    # A speed as measured over the one existing source, X-Cross's step as dear as a LoRA's (on a busy machine a
    # measured one can make either lane the longer).
    probe = Speed(
        train_prompt_s=0.01, xcross_prompt_s=0.01, encode_prompt_s=0.003, xcross_encode_prompt_s=0.003, load_s=1
    )
    estimate = poc_sources.sourced_estimate(spec, data.domain, {"Sports": speed}.__getitem__, probe)
    assert estimate.trainings == (one,)
    assert estimate.total == pytest.approx(estimate.probe_s + one + estimate.poc)
    # Its X-Cross runs over two sources: at the same speed, longer than over the one that exists.
    alone = poc.poc_seconds(probe, poc.poc_estimate(spec.poc(spec.adapters), target, probe))
    assert estimate.poc > alone


def test_adapters_trained_first_get_free_folder_names_and_bad_requests_are_refused(tmp_path: Path, log: Path) -> None:
    from xcross_core.jobs.poc_sources import SourcedPocSpec, adapter_folder

    assert adapter_folder(tmp_path, "Books") == tmp_path / "Books adapter"
    (tmp_path / "Books adapter").mkdir()
    assert adapter_folder(tmp_path, "Books") == tmp_path / "Books adapter 2"
    assert adapter_folder(tmp_path, "Books", {tmp_path / "Books adapter 2"}) == tmp_path / "Books adapter 3"
    assert adapter_folder(tmp_path, "Toys/Games\\x") == tmp_path / "Toys_Games_x adapter"
    base = {"interactions": log, "target": "Books", "adapters": (), "library": tmp_path, "out": tmp_path / "run"}
    for changes, problem in [
        ({"train_sources": ("Games", "Games")}, "names 'Games' more than once"),
        ({"train_sources": ("Books",)}, "names the target 'Books'"),
        ({"train_sources": ("Games",), "library": None}, "must name the adapter library"),
        ({"train_sources": ()}, "at least one source adapter"),
    ]:
        with pytest.raises(SpecError, match=problem):
            SourcedPocSpec(**base | changes)
    assert SourcedPocSpec(**base | {"train_sources": ("Games",)}).base() is None  # no source: the packaged model
