"""The proof-of-concept job: every model on one split, paired tests, verdicts, weights, an atomic run folder
that still loads after its workspace moves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import SAMPLE, small_poc_params
from xcross_core.jobs import poc
from xcross_core.jobs.hooks import Hooks
from xcross_core.jobs.poc import PocSpec, read_poc
from xcross_core.jobs.verdicts import answer, still_improving, verdict
from xcross_core.models.registry import make_model
from xcross_core.stats import Estimate, PairedTest
from xcross_core.training.events import Cancelled, FitReport


def tiny_config(adapters: list[str], **changes: object) -> PocSpec:
    baselines = ("popularity", "zero-shot", "uniform-merge")
    return PocSpec.from_dict(small_poc_params(adapters, baselines=baselines) | changes)


@pytest.fixture(scope="module")
def finished(source_adapters, tmp_path_factory) -> tuple[PocSpec, Path, dict[str, object]]:
    """A finished PoC inside one workspace folder that also holds its data and source adapters."""
    workspace = tmp_path_factory.mktemp("poc") / "workspace"
    (workspace / "data").mkdir(parents=True)
    data = [shutil.copy(SAMPLE / name, workspace / "data" / name) for name in ("interactions.csv", "items.csv")]
    adapters = [str(shutil.copytree(a, workspace / "adapters" / Path(a).name)) for a in source_adapters[:2]]
    out = workspace / "poc" / "run"
    config = tiny_config(adapters, interactions=data[0], items=data[1], out=out)
    stages = []
    report = poc.run(config, Hooks(stage=stages.append))
    assert [s.index for s in stages] == list(range(len(stages)))  # 0: measuring this machine's speed
    return config, out, report


def test_every_model_is_evaluated_on_the_same_test_users_and_tested_against_the_lora(finished) -> None:
    config, out, report = finished
    models = report["models"]
    # x-cross, lora, popularity, uniform-merge, and one zero-shot per source
    assert len(models) == 4 + len(config.adapters)
    assert {m["cases"] for m in models.values()} == {report["split"]["test_cases"]}
    per_case = pd.read_csv(out / "per_case.csv")  # every model's metrics per test user, for paired comparisons
    assert set(per_case["model"]) == set(models)
    assert (per_case.groupby("model")["user"].nunique() == report["split"]["test_cases"]).all()
    assert report["reference"] == "target LoRA (25% of users)"
    assert set(report["comparisons_vs_reference"]) == set(models) - {report["reference"]}
    for name, test in report["comparisons_vs_reference"].items():
        assert ")." in test["verdict"], test["verdict"]
        cut_short = models[name]["still_improving"] or models[report["reference"]]["still_improving"]
        assert ("still improved" in test["verdict"]) == cut_short, test["verdict"]
        low, high = test["difference"]["low"], test["difference"]["high"]
        assert low <= test["difference"]["mean"] <= high
    x_test = report["comparisons_vs_reference"]["X-Cross (25% of users)"]
    worse = x_test["p_value"] < 0.05 and x_test["difference"]["mean"] < 0
    yes = f"Yes: X-Cross over {', '.join(report['sources'])}"
    assert report["answer"].startswith("Not at this budget" if worse else yes)
    assert "all of Electronics's training users" not in report["answer"]  # lora-full did not run
    xc = models["X-Cross (25% of users)"]
    assert 0 < xc["trainable_parameters"] < models[report["reference"]]["trainable_parameters"]
    assert models["popularity"]["trainable_parameters"] == 0


def test_the_run_folder_holds_results_table_weights_and_a_reloadable_xcross_run(finished, sample_electronics) -> None:
    config, out, report = finished
    saved, table, weights = read_poc(out)
    assert saved == json.loads(json.dumps(report, default=float))
    assert list(table["model"]) == list(report["models"])
    assert {"ndcg@10", "ndcg@10_low", "ndcg@10_high", "trainable_parameters"} <= set(table.columns)
    assert list(weights.columns) == ["user_id", "layer", "source", "weight"]
    layers = weights["layer"].nunique()
    assert len(weights) == report["split"]["test_cases"] * layers * len(config.adapters)
    totals = weights.groupby(["user_id", "layer"])["weight"].sum()
    np.testing.assert_allclose(totals, 1.0, atol=1e-5)
    model = make_model(str(out / "xcross"), sample_electronics)
    assert model.sources == report["sources"]
    # Nothing but JSON, CSV and safetensors is written.
    suffixes = {p.suffix for p in out.rglob("*") if p.is_file()}
    assert suffixes <= {".json", ".csv", ".safetensors"}


def test_attribution_splits_each_score_exactly_by_source(finished, sample_electronics) -> None:
    _, out, _ = finished
    model = make_model(str(out / "xcross"), sample_electronics)
    history = sample_electronics.sequences()[3][:5]
    items = np.array([0, 7, 42, 100])
    parts = model.attribution(history, items)
    assert isinstance(parts, pd.DataFrame) and list(parts.columns) == model.sources
    scores = model.score([history])[0, torch.as_tensor(items)].numpy()
    np.testing.assert_allclose(parts.sum(axis=1).to_numpy(), scores, rtol=1e-4, atol=1e-4)


def test_results_keep_their_paths_relative_and_the_moved_workspace_loads(finished, sample_electronics) -> None:
    config, out, report = finished
    settings = report["config"]
    assert "out" not in settings
    stored = [settings["interactions"], settings["items"], *settings["adapters"]]
    stored += [m["key"] for m in report["models"].values() if m["key"].startswith("..")]  # the zero-shot sources
    assert len(stored) == 6 and not any(Path(p).is_absolute() for p in stored)
    workspace = out.parent.parent
    moved = workspace.parent / "moved"
    workspace.rename(moved)  # nothing may still point into the old place
    try:
        again, _, weights = read_poc(moved / "poc" / "run")
        assert again == json.loads(json.dumps(report, default=float)) and len(weights)
        spec = PocSpec.from_dict(again["config"], root=moved / "poc" / "run")
        assert spec.interactions == moved / "data" / "interactions.csv" and spec.interactions.is_file()
        assert spec.adapters == tuple(moved / "adapters" / Path(a).name for a in config.adapters)
        model = make_model(str(moved / "poc" / "run" / "xcross"), sample_electronics)
        assert model.sources == report["sources"]
    finally:
        moved.rename(workspace)


def test_cancelled_poc_writes_nothing(source_adapters, tmp_path) -> None:
    out = tmp_path / "run"
    with pytest.raises(Cancelled):
        poc.run(tiny_config(source_adapters[:1], out=out), Hooks(cancel=lambda: True))
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"adapters": []}, "adapters must name at least one source adapter"),
        ({"adapters": ["somewhere"]}, "somewhere is not an adapter folder"),
        ({"fraction": 0.0}, "fraction must be in (0, 1], not 0.0"),
        ({"fraction": "a quarter"}, "fraction must be a number, not str 'a quarter'"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"baselines": ("popularity", "magic")}, "baselines names unknown choices ['magic']"),
        ({"baselines": "popularity"}, "baselines must be a list of text"),
        ({"target": None}, "target must be text, not NoneType"),
        ({"weights": "signed"}, "unknown settings 'weights'"),
        ({"interactions": "nowhere.csv"}, "interactions nowhere.csv: no such file"),
    ],
)
def test_bad_configurations_are_refused_with_a_reason(source_adapters, changes, message) -> None:
    changes = {"adapters": source_adapters[:1]} | changes
    with pytest.raises(ValueError) as err:
        tiny_config(**changes)
    assert message in str(err.value)


def test_an_existing_run_folder_is_refused(source_adapters, tmp_path) -> None:
    with pytest.raises(ValueError, match="already exists; choose another"):
        tiny_config(source_adapters[:1], out=tmp_path)


def test_config_round_trips_through_json(source_adapters) -> None:
    config = tiny_config(source_adapters[:2], fraction=0.1)
    assert PocSpec.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_verdicts_read_plainly() -> None:
    def test(mean: float, low: float, high: float, p: float) -> PairedTest:
        return PairedTest(Estimate(mean, low, high), p, 100)

    same = verdict("X-Cross (25%)", "LoRA (100%)", test(0.002, -0.01, 0.014, 0.6))
    assert same.startswith("X-Cross (25%) is as good as LoRA (100%): not significantly different")
    assert "significantly better" in verdict("A", "B", test(0.05, 0.02, 0.08, 0.001))
    assert "significantly worse" in verdict("A", "B", test(-0.05, -0.08, -0.02, 0.001))
    capped = verdict("A", "LoRA", test(0.05, 0.02, 0.08, 0.001), unsettled=["LoRA"])
    assert capped.endswith("LoRA still improved on validation in the last epoch allowed: more epochs may change this.")


def test_the_answer_follows_x_cross_against_the_target_lora_on_the_same_users_and_on_all() -> None:
    def test(mean: float, p: float) -> PairedTest:
        return PairedTest(Estimate(mean, mean - 0.01, mean + 0.01), p, 100)

    worse = answer("Toys", ["Books", "Games"], test(-0.03, 0.001), 0.16)
    assert worse.startswith("Not at this budget: Toys's own adapter trained on the same users ranks better than ")
    assert "X-Cross over Books, Games" in worse and "train Toys's own adapter" in worse
    tie = answer("Toys", ["Books"], test(0.002, 0.6), 0.16, vs_full=test(-0.04, 0.001))
    assert tie.startswith("Yes: X-Cross over Books ranks as well as Toys's own adapter")
    assert "training 16% of its parameters" in tie and tie.endswith("better still: more Toys data pays.")
    better = answer("Toys", ["Books"], test(0.03, 0.001), 0.16, vs_full=test(-0.004, 0.4))
    assert "ranks better than Toys's own adapter" in better
    assert better.endswith("not significantly worse than an adapter on all of Toys's training users.")


def test_a_model_is_still_improving_when_its_last_epoch_validated_best() -> None:
    assert still_improving(FitReport(epochs=3, best_epoch=3, start_valid_ndcg10=0.1))
    assert not still_improving(FitReport(epochs=3, best_epoch=2, start_valid_ndcg10=0.1))
    assert not still_improving(FitReport(epochs=3, best_epoch=0, start_valid_ndcg10=0.1))  # kept its start
    assert not still_improving(FitReport(epochs=3, best_epoch=3))  # no validation: nothing is known
    assert not still_improving(FitReport())  # nothing trained (zero-shot, popularity)


def test_cli_poc_prints_the_table_and_verdicts_and_writes_the_run_folder(source_adapters, tmp_path, capsys) -> None:
    from xcross_core.cli import main

    out = tmp_path / "poc"
    argv = ["poc", SAMPLE / "interactions.csv", "--items", SAMPLE / "items.csv", "--target", "Electronics"]
    argv += ["--adapters", source_adapters[0], "--out", out, "--max-users", "60", "--epochs", "1"]
    code = main([str(a) for a in [*argv, "--baselines", "popularity"]])
    printed, errors = capsys.readouterr()
    assert code == 0, errors
    assert "[1/3] X-Cross (25% of users)" in errors
    assert "X-Cross (25% of users)" in printed and "target LoRA (25% of users)" in printed
    assert any(line.startswith(("Yes: X-Cross over", "Not at this budget")) for line in printed.splitlines())
    verdicts = [line for line in printed.splitlines() if line.startswith("- ")]
    assert len(verdicts) == 2 and all("than target LoRA" in v or "as good as target LoRA" in v for v in verdicts)
    assert (out / "results.json").is_file() and (out / "xcross").is_dir()
    # An existing folder is refused, not overwritten.
    assert main([str(a) for a in argv]) == 2
    assert "already exists" in capsys.readouterr().err
