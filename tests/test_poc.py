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
from xcross_core.jobs.verdicts import MIN_TEST_USERS, answer, outcome, still_improving, verdict, weights_finding
from xcross_core.models.registry import make_model
from xcross_core.models.xcross import POPULARITY
from xcross_core.stats import Estimate, PairedTest
from xcross_core.training.events import Cancelled, FitReport


def tiny_config(adapters: list[str], **changes: object) -> PocSpec:
    """A small PoC on 60 sample users; only the 6 held out within the cap are tested unless `changes` ask more."""
    baselines = ("popularity", "zero-shot", "uniform-merge")
    return PocSpec.from_dict(small_poc_params(adapters, baselines=baselines, test_users=None) | changes)


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


def test_every_model_is_evaluated_on_the_same_test_users_and_compared_with_x_cross(finished) -> None:
    config, out, report = finished
    models = report["models"]
    # x-cross, lora, popularity, uniform-merge, and one zero-shot per source
    assert len(models) == 4 + len(config.adapters)
    assert {m["cases"] for m in models.values()} == {report["split"]["test_cases"]}
    per_case = pd.read_csv(out / "per_case.csv")  # every model's metrics per test user, for paired comparisons
    assert set(per_case["model"]) == set(models)
    assert (per_case.groupby("model")["user"].nunique() == report["split"]["test_cases"]).all()
    assert report["reference"] == "X-Cross (25% of users)"
    comparisons = report["comparisons_vs_reference"]
    assert set(comparisons) == set(models) - {report["reference"]}
    margin = report["answer"]["margin"]
    for name, test in comparisons.items():
        assert test["comparisons"] == len(models) - 1 and test["correction"] == "Bonferroni"
        assert test["p_adjusted"] == pytest.approx(min(1.0, test["p_value"] * test["comparisons"]))
        low, high = test["difference"]["low"], test["difference"]["high"]
        assert low <= test["difference"]["mean"] <= high
        # The outcome is the data's, and the interval and the adjusted p-value agree on it.
        same = -margin <= low <= high <= margin
        assert test["outcome"] == ("better" if low > 0 else "worse" if high < 0 else "same" if same else "inconclusive")
        assert (test["outcome"] in ("better", "worse")) == (test["p_adjusted"] < 0.05)
        assert test["verdict"].endswith(".") and name in test["verdict"] and "(Bonferroni)" in test["verdict"]
        cut_short = models[name]["still_improving"] or models[report["reference"]]["still_improving"]
        assert ("still improved" in test["verdict"]) == cut_short, test["verdict"]
        started = models[name]["kept_start"] or models[report["reference"]]["kept_start"]
        assert ("starting weights" in test["verdict"]) == started, test["verdict"]
    xc = models["X-Cross (25% of users)"]
    assert 0 < xc["trainable_parameters"] < models["target LoRA (25% of users)"]["trainable_parameters"]
    assert models["popularity"]["trainable_parameters"] == 0
    assert not models["popularity"]["kept_start"]  # nothing trained: nothing kept


def test_test_users_are_topped_up_from_outside_the_cap_the_same_for_every_model(
    source_adapters, sample_electronics
) -> None:
    assert PocSpec.help_for("test_users") and "test_users" in tiny_config(source_adapters[:1]).to_dict()
    default = small_poc_params(source_adapters[:1])
    del default["test_users"]
    assert PocSpec.from_dict(default).test_users == 1000
    capped, _ = poc.poc_splits(tiny_config(source_adapters[:1]), sample_electronics)
    split, full = poc.poc_splits(tiny_config(source_adapters[:1], test_users=300), sample_electronics)
    assert len(capped.test) == 6 and len(split.test) == 300
    assert split.test.users.tolist() == full.test.users.tolist()  # the budget's models and lora-full's
    assert set(capped.test.users) < set(split.test.users)
    assert split.train_users.tolist() == capped.train_users.tolist() and len(full.train) <= 60
    assert not set(split.test.users) & (set(full.train_users) | set(full.valid.users))
    assert split.summary()["test_users_asked"] == 300 and "note" not in split.summary()


def test_a_small_poc_answers_inconclusive_and_says_why(finished) -> None:
    _, _, report = finished
    answer, users = report["answer"], report["split"]["test_cases"]
    assert users < MIN_TEST_USERS and answer["test_users"] == users
    assert answer["outcome"] == "inconclusive" and answer["text"].startswith("Inconclusive: ")
    assert answer["reasons"][0].startswith(f"Only {users} test users: at least {MIN_TEST_USERS} are needed")
    assert "raise the number of test users" in answer["reasons"][0]
    assert answer["vs_full"] is None and "all of Electronics's training users" not in answer["text"]
    # Every source adapter that X-Cross does not beat alone is named in the answer.
    for rival in answer["sources_not_beaten"]:
        assert f"the {rival['source']} adapter" in answer["text"]
    assert {r["outcome"] for r in answer["sources_not_beaten"]} <= {"same", "worse", "inconclusive"}


def test_the_weights_are_a_finding_only_when_x_cross_learned(finished) -> None:
    _, out, report = finished
    finding, learned = report["weights"], not report["models"]["X-Cross (25% of users)"]["kept_start"]
    assert finding["learned"] == learned
    if learned:
        weights = pd.read_csv(out / "weights.csv", dtype={"layer": str})
        by_layer = weights.groupby(["layer", "source"])["weight"].std().groupby("layer").mean()
        assert {s["layer"]: s["sd"] for s in finding["spread"]} == pytest.approx(by_layer.to_dict())
    else:
        assert finding["spread"] == [] and "kept its starting weights" in finding["text"]


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
    popularity = [POPULARITY] if model.config.item_bias else []  # the item head's bias, when it trains one
    assert isinstance(parts, pd.DataFrame) and list(parts.columns) == [*model.sources, *popularity]
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


def paired(mean: float, low: float, high: float, p: float, n: int = 500, comparisons: int = 1) -> PairedTest:
    return PairedTest(Estimate(mean, low, high, 1 - 0.05 / comparisons), p, n, comparisons)


def test_verdicts_read_plainly_with_the_outcome_of_the_data() -> None:
    margin = 0.02
    same = verdict("X-Cross (25%)", "LoRA (100%)", paired(0.002, -0.01, 0.014, 0.6), margin)
    assert same.startswith("X-Cross (25%) ranks the same as LoRA (100%): the whole interval lies within ±0.0200")
    better = verdict("A", "B", paired(0.05, 0.02, 0.08, 0.0004, comparisons=4), margin)
    assert better.startswith("A ranks significantly better than B (NDCG@10 difference +0.0500, 95% CI [+0.0200,")
    assert "p = 0.002; interval and p adjusted for 4 comparisons (Bonferroni)" in better
    assert "significantly worse" in verdict("A", "B", paired(-0.05, -0.08, -0.02, 0.0001), margin)
    # The case that read "as good as" before: an interval holding 0 and much more.
    wide = verdict("A", "popularity", paired(0.19, -0.05, 0.44, 0.127), margin)
    assert wide.startswith("Can't tell yet whether A ranks better or worse than popularity")
    cases = [(0.05, 0.02, 0.08, 0.001), (0, -0.01, 0.01, 1), (-0.1, -0.2, -0.01, 0.01), (0, -0.1, 0.1, 1)]
    assert [outcome(paired(*c), margin) for c in cases] == ["better", "same", "worse", "inconclusive"]
    capped = verdict("A", "LoRA", paired(0.05, 0.02, 0.08, 0.001), margin, unsettled=["LoRA"])
    assert capped.endswith("LoRA still improved on validation in the last epoch allowed: more epochs may change this.")
    started = verdict("A", "LoRA", paired(0.0, -0.3, 0.3, 1.0), margin, started=["A", "LoRA"])
    assert "A and LoRA kept their starting weights." in started


def decide(vs_own: PairedTest, **changes: object) -> dict[str, object]:
    args = {"margin": 0.02, "parameter_share": 0.16} | changes
    return answer("Toys", ["Books", "Games"], vs_own, **args)


def test_the_answer_is_yes_no_or_inconclusive_by_its_documented_rules() -> None:
    worse = decide(paired(-0.03, -0.05, -0.01, 0.001))
    assert worse["outcome"] == "no" and worse["reasons"] == []
    assert worse["text"].startswith("No, not at this budget: Toys's own adapter trained on the same users ranks")
    better = decide(paired(0.03, 0.01, 0.05, 0.001))
    assert better["outcome"] == "yes" and "ranks significantly better than Toys's own" in better["text"]
    assert "training 16% of its parameters" in better["text"]
    within = decide(paired(0.002, -0.015, 0.02, 0.6))  # holds 0, but rules out a loss beyond the margin
    assert within["outcome"] == "yes" and within["text"].startswith("Yes: X-Cross over Books, Games ranks as well as")
    wide = decide(paired(0.002, -0.03, 0.03, 0.6))  # reaches below -margin: can't tell "as good" from "worse"
    assert wide["outcome"] == "inconclusive" and len(wide["reasons"]) == 1
    assert wide["reasons"][0].startswith("The 95% interval of X-Cross minus Toys's own adapter, [-0.0300, +0.0300]")
    assert wide["text"] == " ".join([wide["headline"], *wide["reasons"]])


def test_the_answer_is_inconclusive_with_too_few_users_or_a_model_that_kept_its_start() -> None:
    decisive = paired(0.03, 0.01, 0.05, 0.001, n=MIN_TEST_USERS)
    assert decide(decisive)["outcome"] == "yes"
    few = decide(paired(0.03, 0.01, 0.05, 0.001, n=MIN_TEST_USERS - 1))
    assert few["outcome"] == "inconclusive" and few["reasons"][0].startswith(f"Only {MIN_TEST_USERS - 1} test users")
    one = decide(paired(0.03, 0.01, 0.05, 0.001, n=1))
    assert one["reasons"][0].startswith("Only 1 test user:")
    kept = decide(decisive, xcross_kept_start=True)
    assert kept["outcome"] == "inconclusive" and kept["reasons"][0].startswith("X-Cross kept its starting weights")
    assert "more epochs" in kept["reasons"][0]
    own = decide(decisive, own_kept_start=True)
    assert own["outcome"] == "inconclusive" and own["reasons"][0].startswith("Toys's own adapter kept its starting")
    # What is open is what training adds; the comparison the data did settle is said too, never denied.
    assert kept["headline"] == (
        "Inconclusive: X-Cross learned nothing from Toys's users in this run, so it can't say what training X-Cross "
        "over Books, Games on Toys adds."
    )
    assert "As they are, X-Cross over Books, Games ranks significantly better than Toys's own adapter" in kept["text"]
    assert few["headline"].startswith("Inconclusive: the data can't say whether X-Cross")
    assert "As they are" not in few["text"]


def test_the_answer_notes_the_full_adapter_and_sources_that_match_or_beat_x_cross() -> None:
    decisive = paired(0.03, 0.01, 0.05, 0.001)
    more_data = decide(decisive, vs_full=paired(-0.04, -0.06, -0.02, 0.001))
    assert more_data["vs_full"] == "worse" and more_data["text"].endswith("better still: more Toys data pays.")
    level = decide(decisive, vs_full=paired(0.0, -0.01, 0.01, 0.9))
    assert level["text"].endswith("X-Cross ranks the same as an adapter on all of Toys's training users.")
    useless = decide(decisive, vs_full=paired(0.0, -0.01, 0.01, 0.9), full_kept_start=True)
    assert useless["text"].endswith("says nothing: that adapter kept its starting weights.")
    sources = {
        "Books": paired(-0.04, -0.07, -0.01, 0.001),  # Books alone ranks better than X-Cross
        "Games": paired(0.01, -0.2, 0.2, 0.5),  # can't tell
        "Music": paired(0.05, 0.02, 0.08, 0.001),  # X-Cross better
    }
    rivals = decide(decisive, vs_sources=sources)
    assert rivals["sources_not_beaten"] == [
        {"source": "Books", "outcome": "worse"},
        {"source": "Games", "outcome": "inconclusive"},
    ]
    assert "The Books adapter alone, with no Toys training, ranks significantly better than X-Cross" in rivals["text"]
    assert "X-Cross has not shown an advantage over the Games adapter alone" in rivals["text"]
    assert "Music" not in rivals["text"]


def test_the_weights_finding_says_when_x_cross_kept_its_start() -> None:
    weights = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u2", "u1", "u1", "u2", "u2"],
            "layer": ["1", "1", "1", "1", "output", "output", "output", "output"],
            "source": ["A", "B"] * 4,
            "weight": [0.2, 0.8, 0.6, 0.4, 0.5, 0.5, 0.5, 0.5],
        }
    )
    kept = weights_finding(weights.assign(weight=0.5), kept=True)
    assert kept["learned"] is False and kept["spread"] == [] and "not a finding" in kept["text"]
    learned = weights_finding(weights, kept=False)
    sd = float(np.std([0.2, 0.6], ddof=1))
    assert learned["spread"] == [{"layer": "1", "sd": pytest.approx(sd)}, {"layer": "output", "sd": 0.0}]
    assert "most at layer 1" in learned["text"] and "least at the final mix" in learned["text"]
    assert {"layer": "1", "source": "A", "mean": pytest.approx(0.4), "sd": pytest.approx(sd)} in learned["by_source"]


def test_the_weights_finding_says_plainly_when_there_is_one_source_or_no_variation() -> None:
    weights = pd.DataFrame({"user_id": ["u1", "u2"] * 2, "layer": ["1", "1", "2", "2"], "source": "A", "weight": 1.0})
    one = weights_finding(weights, kept=False)
    assert "one source, A, so there was nothing to mix" in one["text"] and "most at" not in one["text"]
    two = pd.concat([weights.assign(weight=0.5), weights.assign(source="B", weight=0.5)])
    same = weights_finding(two, kept=False)
    assert "do not vary between customers" in same["text"] and "most at" not in same["text"]
    alike = two.assign(weight=[0.4, 0.6, 0.4, 0.6, 0.6, 0.4, 0.6, 0.4])  # the same spread at both layers
    assert "about as much at every layer" in weights_finding(alike, kept=False)["text"]


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
    code = main([str(a) for a in [*argv, "--baselines", "popularity", "--test-users", "50"]])
    printed, errors = capsys.readouterr()
    assert code == 0, errors
    assert "[1/3] X-Cross (25% of users)" in errors
    assert "X-Cross (25% of users)" in printed and "target LoRA (25% of users)" in printed
    assert "Electronics from Source0: 50 test users" in printed  # 6 held out within the cap, 44 from outside it
    assert json.loads((out / "results.json").read_text())["config"]["test_users"] == 50
    # 50 test users: too few to answer, and the CLI prints the job's answer as it is.
    assert any(line.startswith("Inconclusive: the data can't say whether X-Cross") for line in printed.splitlines())
    verdicts = [line for line in printed.splitlines() if line.startswith("- ")]
    assert len(verdicts) == 2 and all("target LoRA (25% of users)" in v or "popularity" in v for v in verdicts)
    assert (out / "results.json").is_file() and (out / "xcross").is_dir()
    # An existing folder is refused, not overwritten.
    assert main([str(a) for a in argv]) == 2
    assert "already exists" in capsys.readouterr().err
