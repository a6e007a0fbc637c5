"""X-Cross integration: equivalence to its adapters when neutral, input-dependent weights, frozen parts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from xcross_core.evaluation.splits import make_split
from xcross_core.models.adapters import load_adapter
from xcross_core.models.registry import make_model
from xcross_core.models.xcross import XCrossConfig, xcross_recommender
from xcross_core.training.loop import LoopConfig


@pytest.fixture(scope="module")
def small_split(sample_electronics):
    return make_split(sample_electronics, "users", seed=0, max_users=200)


def test_one_source_with_neutral_integration_is_that_adapter(small_split, source_adapters) -> None:
    histories = small_split.test.histories[:6]
    adapter = load_adapter(source_adapters[1], small_split.domain)
    xcross = xcross_recommender(small_split.domain, source_adapters[1:2])
    assert torch.allclose(xcross.score(histories), adapter.score(histories), atol=1e-3)


def test_streams_share_the_blocks_below_the_lowest_adapted_one(small_split, tiny_bert, tmp_path) -> None:
    from tests.conftest import save_tiny_adapters
    from xcross_core.models.base import layer_stack
    from xcross_core.models.xcross import weights_frame

    top = save_tiny_adapters(tmp_path, tiny_bert, small_split.domain, ["A", "B"], top_layers=1)
    histories = small_split.test.histories[:5]
    xcross = xcross_recommender(small_split.domain, top)
    assert xcross.encoder.layers == [1]  # tiny BERT's blocks 0, 1: the adapters sit on block 1 only
    batches = []
    layer_stack(xcross.encoder.model, 2)[0].register_forward_hook(lambda m, a, out: batches.append(out.shape[0]))
    scores = xcross.score(histories)
    assert batches == [len(histories)]  # block 0 ran once per prompt, not once per stream
    # Neutral, the model is still the adapters side by side: one source alone is that adapter.
    alone = xcross_recommender(small_split.domain, top[:1])
    assert torch.allclose(alone.score(histories), load_adapter(top[0], small_split.domain).score(histories), atol=1e-3)
    assert scores.shape == alone.score(histories).shape
    frame = weights_frame(xcross, np.arange(2), histories[:2])
    assert list(dict.fromkeys(frame["layer"])) == ["2", "output"]  # weighed from the adapted block up


def test_weights_are_distributions_that_depend_on_the_input(small_split, source_adapters) -> None:
    xcross = xcross_recommender(small_split.domain, source_adapters)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in xcross.encoder.parameters():
            if p.requires_grad:
                p.normal_(0, 0.5)
    weights = xcross.contribution_weights(small_split.test.histories[:2])
    assert weights.shape == (2, 2 + 1, 3)  # 2 users, tiny BERT's 2 layers + the final mix, 3 sources
    assert np.allclose(weights.sum(-1), 1, atol=1e-5)
    assert not np.allclose(weights[0], weights[1])


def test_n_streams_encode_n_times_fewer_texts_per_pass_with_the_same_scores(small_split, source_adapters) -> None:
    histories = small_split.test.histories[:7]
    xcross = xcross_recommender(small_split.domain, source_adapters)
    assert xcross.encode_step == xcross.config.encode_batch // 3  # 3 sources: n streams per text
    whole = xcross.score(histories)
    xcross.config = replace(xcross.config, encode_batch=6)  # 2 texts per pass: several passes
    xcross._item_vectors = None
    assert torch.allclose(xcross.score(histories), whole, atol=1e-5)


def _fit_changes_only_trainable(recommender, split) -> None:
    """Fit, and check that frozen parameters and buffers stay bit-identical while the trainable ones move.

    Without validation cases, so the last epoch's weights stay (validation may keep the starting ones).
    """
    split = replace(split, valid=split.valid.subset(np.array([], dtype=np.int64)))
    encoder = recommender.encoder
    # The item head trains with whatever trains (it is frozen until then, so that an untrained model has none).
    head = {n for n, _ in encoder.named_parameters() if n.startswith("item_head.")}
    frozen = {n: p.detach().clone() for n, p in encoder.named_parameters() if not p.requires_grad and n not in head}
    buffers = {n: b.detach().clone() for n, b in encoder.named_buffers()}
    trainable = {n: p.detach().clone() for n, p in encoder.named_parameters() if p.requires_grad}
    report = recommender.fit(split)
    assert report.epochs >= 1 and np.isfinite(report.losses).all()
    params = dict(encoder.named_parameters())
    assert all(torch.equal(params[n], p) for n, p in frozen.items())
    assert all(torch.equal(b, buffers[n]) for n, b in encoder.named_buffers())
    assert any(not torch.equal(params[n], p) for n, p in trainable.items())


def test_training_changes_only_the_integration(small_split, source_adapters) -> None:
    xcross = xcross_recommender(small_split.domain, source_adapters, loop=LoopConfig(epochs=2, batch_size=16, lr=1e-2))
    _fit_changes_only_trainable(xcross, small_split)
    assert 0 < xcross.trainable_parameters < sum(p.numel() for p in xcross.encoder.parameters())


def test_per_token_weights_start_neutral_train_and_ignore_padding(small_split, source_adapters) -> None:
    histories = small_split.test.histories[:4]
    loop = LoopConfig(epochs=1, batch_size=16, lr=1e-2)
    token = xcross_recommender(small_split.domain, source_adapters, loop=loop)
    # Untrained, the integration is the adapters side by side: every source weighs 1/n at every layer.
    assert np.allclose(token.contribution_weights(histories), 1 / 3)
    _fit_changes_only_trainable(token, small_split)
    # A user's weights average over their own tokens only: padded beside a longer history, they are unchanged.
    lengths = np.array([len(h) for h in small_split.test.histories])
    short, long = small_split.test.histories[lengths.argmin()], small_split.test.histories[lengths.argmax()]
    alone = token.contribution_weights([short])
    padded = token.contribution_weights([short, long])
    assert np.allclose(alone[0], padded[0], atol=1e-5)
    assert not np.allclose(padded[0], padded[1])


def test_run_folder_reloads_with_the_same_scores_after_the_workspace_moves(
    small_split, source_adapters, tmp_path
) -> None:
    import json
    import shutil

    from xcross_core.models.xcross_run import RUN_CONFIG, RUN_WEIGHTS, load_run, save_run

    workspace = tmp_path / "workspace"
    adapters = [shutil.copytree(a, workspace / "adapters" / Path(a).name) for a in source_adapters]
    loop = LoopConfig(epochs=1, batch_size=16, lr=1e-2)
    xcross = xcross_recommender(small_split.domain, adapters, XCrossConfig(summary_dim=8), loop=loop)
    xcross.fit(replace(small_split, valid=small_split.valid.subset(np.array([], dtype=np.int64))))  # trained: kept
    run = save_run(xcross, workspace / "runs" / "run", adapters)
    assert sorted(p.name for p in run.iterdir()) == sorted([RUN_CONFIG, RUN_WEIGHTS])
    assert all(not Path(a).is_absolute() for a in json.loads((run / RUN_CONFIG).read_text())["adapters"])
    moved = shutil.move(workspace, tmp_path / "elsewhere")
    histories = small_split.test.histories[:5]
    again = load_run(Path(moved) / "runs" / "run", small_split.domain)
    assert torch.allclose(xcross.score(histories), again.score(histories), atol=1e-4)
    assert np.allclose(xcross.contribution_weights(histories), again.contribution_weights(histories), atol=1e-5)
    head = again.encoder.item_head  # the item head it trained on the target comes back with it
    assert head.log_scale.item() == xcross.encoder.item_head.log_scale.item() != pytest.approx(-np.log(0.05))


def test_a_run_of_a_retired_integration_form_is_refused(small_split, source_adapters, tmp_path) -> None:
    import json

    from xcross_core.models.xcross_run import RUN_CONFIG, load_run, save_run

    run = save_run(xcross_recommender(small_split.domain, source_adapters), tmp_path / "run", source_adapters)
    config = json.loads((run / RUN_CONFIG).read_text())
    config["xcross"] |= {"weights": "softmax", "refine": "replace"}
    (run / RUN_CONFIG).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="no longer available"):
        load_run(run, small_split.domain)


def test_cli_train_xcross_recommend_weights_and_evaluate(tiny_bert, tmp_path, capsys) -> None:
    import json

    import pandas as pd

    from xcross_core.cli import main

    data = ["sample_data/interactions.csv", "--items", "sample_data/items.csv"]
    adapters = []
    for domain in ("Sports", "Kitchen"):
        out = tmp_path / domain
        code = main(
            [
                "train-adapter",
                *data,
                "--domain",
                domain,
                "--out",
                str(out),
                "--base",
                tiny_bert,
                "--max-users",
                "100",
                "--epochs",
                "1",
                "--batch-size",
                "16",
            ]
        )
        assert code == 0, capsys.readouterr().err
        adapters.append(str(out))
    run = tmp_path / "run"
    code = main(
        [
            "train-xcross",
            *data,
            "--target",
            "Electronics",
            "--adapters",
            *adapters,
            "--out",
            str(run),
            "--max-users",
            "100",
            "--epochs",
            "1",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "from Sports, Kitchen" in capsys.readouterr().out
    assert json.loads((run / "xcross_run.json").read_text())["target"] == "Electronics"

    weights = tmp_path / "w.csv"
    assert main(["weights", str(run), *data, "--domain", "Electronics", "--out", str(weights)]) == 0
    table = pd.read_csv(weights, dtype={"layer": str})
    assert list(table.columns) == ["user_id", "layer", "source", "weight"]
    assert set(table["source"]) == {"Sports", "Kitchen"} and set(table["layer"]) == {"1", "2", "output"}
    assert table.groupby(["user_id", "layer"])["weight"].sum().between(0.999, 1.001).all()
    assert table["user_id"].nunique() == 2000

    recs = tmp_path / "recs.csv"
    assert main(["recommend", str(run), *data, "--domain", "Electronics", "--k", "3", "--out", str(recs)]) == 0
    assert (pd.read_csv(recs).groupby("user_id").size() == 3).all()

    metrics = tmp_path / "m.json"
    code = main(
        [
            "evaluate",
            "popularity",
            *data,
            "--domain",
            "Electronics",
            "--against",
            str(run),
            "--max-users",
            "150",
            "--out",
            str(metrics),
        ]
    )
    assert code == 0, capsys.readouterr().err
    models = json.loads(metrics.read_text())["models"]
    assert models["x-cross (run)"]["trainable_parameters"] > 0

    # Every combination of the same sources, compared on one split with paired tests.
    argv = ["evaluate", "x-cross", *data, "--domain", "Electronics", "--against", "uniform-merge", "static-mix"]
    argv += ["gating", "--adapters", *adapters, "--max-users", "150", "--epochs", "1", "--out", str(metrics)]
    assert main(argv) == 0, capsys.readouterr().err
    result = json.loads(metrics.read_text())
    assert list(result["models"]) == ["x-cross", "uniform-merge", "static-mix", "gating"]
    assert result["models"]["uniform-merge"]["trainable_parameters"] == 0
    assert result["models"]["static-mix"]["trainable_parameters"] == 2
    assert set(result["comparisons"]) == {f"{m} - x-cross" for m in ("uniform-merge", "static-mix", "gating")}
    assert main(["evaluate", "gating", *data, "--domain", "Electronics", "--out", str(metrics)]) == 2
    assert "--adapters" in capsys.readouterr().err

    code = main(
        [
            "train-xcross",
            *data,
            "--target",
            "Electronics",
            "--adapters",
            str(tmp_path / "nope"),
            "--out",
            str(tmp_path / "run2"),
        ]
    )
    assert code == 2 and "not an adapter folder" in capsys.readouterr().err


# --- adapter-combination baselines ---------------------------------------------------------------


def _lora_deltas(peft_model, adapter: str) -> dict[str, torch.Tensor]:
    """{module path: scaling * B @ A} of one adapter, read from peft's own LoRA layers."""
    from peft.tuners.lora import LoraLayer

    return {
        path.removeprefix("base_model.model."): layer.scaling[adapter]
        * layer.lora_B[adapter].weight.detach()
        @ layer.lora_A[adapter].weight.detach()
        for path, layer in peft_model.named_modules()
        if isinstance(layer, LoraLayer) and adapter in layer.lora_A
    }


@pytest.fixture(scope="module")
def rslora_adapter(source_adapters, tmp_path_factory) -> str:
    """Source 0 (rank 4) declared rslora: scaling alpha / sqrt(r) = 8, not alpha / r = 4."""
    import json
    import shutil

    folder = shutil.copytree(source_adapters[0], tmp_path_factory.mktemp("rslora") / "source0")
    config_path = folder / "adapter_config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "use_rslora": True}))
    return str(folder)


@pytest.mark.parametrize("rslora_first", [False, True])
def test_uniform_merge_update_is_the_mean_of_the_sources(
    small_split, source_adapters, rslora_adapter, rslora_first
) -> None:
    from xcross_core.models.combine import MERGED, uniform_merge_recommender

    # Ranks 4, 8, 8; with rslora first, peft would give the merged adapter rslora scaling too.
    adapters = [rslora_adapter, *source_adapters[1:]] if rslora_first else source_adapters
    merged = uniform_merge_recommender(small_split.domain, adapters)
    got = _lora_deltas(merged.encoder.model, MERGED)
    sources = [_lora_deltas(load_adapter(a, small_split.domain).encoder.model, "default") for a in adapters]
    assert set(got) == set().union(*sources) and len(got) == 6  # query, key, value in 2 layers
    for path, delta in got.items():
        expected = sum(s[path] for s in sources) / len(sources)
        assert torch.allclose(delta, expected, rtol=1e-5, atol=1e-6), path
    assert merged.trainable_parameters == 0 and merged.fit(small_split).epochs == 0
    assert not any(m.training for m in merged.encoder.model.modules())  # no LoRA dropout when scoring


@pytest.mark.parametrize("kind, expected", [("static-mix", 3), ("gating", 2 * (32 * 3 + 3))])
def test_static_mix_and_gating_train_only_their_weights(small_split, source_adapters, kind, expected) -> None:
    from xcross_core.models.combine import gating_recommender, static_mix_recommender

    build = static_mix_recommender if kind == "static-mix" else gating_recommender
    model = build(small_split.domain, source_adapters, loop=LoopConfig(epochs=1, batch_size=16, lr=1e-2))
    assert model.name == kind and model.trainable_parameters == expected  # tiny BERT: 2 layers, 32 wide
    _fit_changes_only_trainable(model, small_split)


def test_gating_weights_are_distributions_that_depend_on_the_input(small_split, source_adapters) -> None:
    from xcross_core.models.combine import gating_recommender

    gating = gating_recommender(small_split.domain, source_adapters)
    histories = small_split.test.histories[:2]
    assert np.allclose(gating.contribution_weights(histories), 1 / 3)  # zero gates: the uniform mix
    torch.manual_seed(0)
    with torch.no_grad():
        for p in gating.encoder.gates.parameters():
            p.normal_(0, 0.5)
    weights = gating.contribution_weights(histories)
    assert weights.shape == (2, 2 + 1, 3)  # 2 users, 2 layers + their average, 3 sources
    assert np.allclose(weights.sum(-1), 1, atol=1e-5)
    assert np.allclose(weights[:, -1], weights[:, :-1].mean(1))
    assert not np.allclose(weights[0], weights[1])


def test_one_source_static_mix_and_gating_are_that_adapter(small_split, source_adapters) -> None:
    from xcross_core.models.combine import gating_recommender, static_mix_recommender

    histories = small_split.test.histories[:6]
    expected = load_adapter(source_adapters[1], small_split.domain).score(histories)
    torch.manual_seed(0)
    for build in (static_mix_recommender, gating_recommender):
        model = build(small_split.domain, source_adapters[1:2])
        with torch.no_grad():
            for p in model.encoder.parameters():
                if p.requires_grad:
                    p.normal_(0, 1.0)  # a single source gets weight 1 whatever the logits
        assert torch.allclose(model.score(histories), expected, atol=1e-5)  # bit-equal here; BLAS may round


def test_registry_builds_source_models_only_with_adapters(small_split, source_adapters) -> None:
    from xcross_core.models.registry import model_names

    for name in model_names(sources=True):
        with pytest.raises(ValueError, match="combines source adapters"):
            make_model(name, small_split.domain)
        model = make_model(name, small_split.domain, seed=3, epochs=2, adapters=source_adapters)
        assert model.name == name and (model.trainable_parameters == 0) == (name == "uniform-merge")
        if name != "uniform-merge":
            assert model.loop.seed == 3 and model.loop.epochs == 2


def test_fresh_static_mix_and_gating_score_like_the_uniform_merge(small_split, source_adapters) -> None:
    from xcross_core.models.combine import gating_recommender, static_mix_recommender, uniform_merge_recommender

    # Both start from the uniform mix, computed by StackedLoRA's mixture mode rather than by peft.
    histories = small_split.test.histories[:6]
    expected = uniform_merge_recommender(small_split.domain, source_adapters).score(histories)
    for build in (static_mix_recommender, gating_recommender):
        assert torch.allclose(build(small_split.domain, source_adapters).score(histories), expected, atol=1e-4)


def test_data_efficiency_study(sample_electronics, source_adapters, tmp_path, capsys) -> None:
    from xcross_core.cli import main
    from xcross_core.jobs.study import StudySpec, study_domain

    spec = StudySpec(
        interactions="sample_data/interactions.csv",
        items="sample_data/items.csv",
        target="Electronics",
        adapters=tuple(source_adapters[:2]),
        fractions=(1.0, 0.5),
        max_users=120,
        epochs=1,
    )
    result = study_domain(sample_electronics, spec)
    table = result.table
    assert list(table["fraction"]) == [0.5, 0.5, 1.0, 1.0] and list(table["model"]) == ["x-cross", "lora"] * 2
    assert table.loc[0, "train_users"] < table.loc[2, "train_users"]
    assert (table["ndcg@10_low"] <= table["ndcg@10"]).all() and (table["ndcg@10"] <= table["ndcg@10_high"]).all()
    assert len(result.tests) == 2 and result.tests["p_value"].between(0, 1).all()
    assert result.catch_up in (None, 0.5, 1.0)
    # Per-user results are kept, so callers can run further paired tests without retraining.
    assert set(result.evaluations) == {(f, m) for f in (0.5, 1.0) for m in ("x-cross", "lora")}
    assert result.evaluations[(1.0, "lora")].summary["ndcg@10"].mean == table.loc[3, "ndcg@10"]
    assert (table["train_seconds"] > 0).all() and table["kept_epoch"].between(0, table["epochs"]).all()

    argv = ["study", "sample_data/interactions.csv", "--items", "sample_data/items.csv", "--target", "Electronics"]
    argv += ["--adapters", *source_adapters[:2], "--fractions", "0.5", "--max-users", "100", "--epochs", "1"]
    assert main([*argv, "--out", str(tmp_path / "study")]) == 0, capsys.readouterr().err
    assert {p.name for p in (tmp_path / "study").iterdir()} == {"study.json", "study.csv"}
    assert main([*argv[:-6], "--fractions", "0", "--out", str(tmp_path / "s2")]) == 2


# -- hostile run folders: each refused with one line naming the file, before anything larger is built -------------


def _run_json(change):
    def apply(run: Path) -> None:
        import json

        config = json.loads((run / "xcross_run.json").read_text())
        change(config)
        (run / "xcross_run.json").write_text(json.dumps(config))

    return apply


def _run_tensors(change):
    def apply(run: Path) -> None:
        from safetensors.torch import load_file, save_file

        tensors = load_file(str(run / "integration.safetensors"))
        change(tensors)
        save_file(tensors, str(run / "integration.safetensors"))

    return apply


def _fewer_sources(config: dict) -> None:
    config["adapters"], config["sources"] = config["adapters"][:2], config["sources"][:2]


RUN_JSON, RUN_TENSORS = "xcross_run.json", "integration.safetensors"

#: case -> (how the run folder is spoiled, the file the message must name, a phrase it must hold, whether the
#: problem must be found before the integration is built)
HOSTILE_RUNS = {
    "malformed json": (lambda r: (r / RUN_JSON).write_text('{"kind": '), RUN_JSON, "malformed JSON", True),
    "not a run": (_run_json(lambda c: c.update(kind="lora-adapter")), RUN_JSON, "kind is 'lora-adapter'", True),
    "no adapters": (_run_json(lambda c: c.pop("adapters")), RUN_JSON, "is missing 'adapters'", True),
    "adapters not a list": (_run_json(lambda c: c.update(adapters="Source0")), RUN_JSON, "not a list", True),
    "no text": (_run_json(lambda c: c.pop("text")), RUN_JSON, "is missing 'text'", True),
    "xcross unknown key": (
        _run_json(lambda c: c["xcross"].update(depth=3)),
        RUN_JSON,
        "'xcross' has unknown keys 'depth'",
        True,
    ),
    "huge summary": (
        _run_json(lambda c: c["xcross"].update(summary_dim=10**9)),
        RUN_TENSORS,
        "project.bias is [8]; xcross_run.json implies [1000000000]",
        True,
    ),
    "text wrong type": (
        _run_json(lambda c: c["text"].update(prompt_tokens="long")),
        RUN_JSON,
        "'prompt_tokens' is 'long', not a whole number",
        True,
    ),
    "loop unknown key": (_run_json(lambda c: c["loop"].update(momentum=0.9)), RUN_JSON, "unknown keys", True),
    "seed out of range": (_run_json(lambda c: c["loop"].update(seed=-1)), RUN_JSON, "seed -1 is out of range", True),
    "source moved": (
        _run_json(lambda c: c["adapters"].__setitem__(0, "../gone/Source0")),
        RUN_JSON,
        "its source adapter '../gone/Source0'",
        True,
    ),
    "sources contradict": (
        _run_json(lambda c: c.update(sources=["A", "B", "C"])),
        RUN_JSON,
        "records sources ['A', 'B', 'C']",
        True,
    ),
    "fewer sources than trained": (_run_json(_fewer_sources), RUN_TENSORS, "gate.bias is [3]", True),
    "weights truncated": (
        lambda r: (r / RUN_TENSORS).write_bytes((r / RUN_TENSORS).read_bytes()[:-10]),
        RUN_TENSORS,
        "truncated",
        True,
    ),
    "weights missing": (lambda r: (r / RUN_TENSORS).unlink(), RUN_TENSORS, "no such file", True),
    "weights contradict": (
        _run_tensors(lambda t: t.update({"interact.0.weight": torch.zeros(2, 2)})),
        RUN_TENSORS,
        "interact.0.weight has shape [2, 2]",
        False,
    ),
    "weights foreign": (
        _run_tensors(lambda t: t.update({"model.pooler.dense.weight": torch.zeros(2, 2)})),
        RUN_TENSORS,
        "has unknown model.pooler.dense.weight",
        False,
    ),
    "weights lacking": (_run_tensors(lambda t: t.pop("gate.weight")), RUN_TENSORS, "lacks gate.weight", False),
}


@pytest.fixture(scope="module")
def saved_run(small_split, source_adapters, tmp_path_factory) -> Path:
    from xcross_core.models.xcross_run import save_run

    xcross = xcross_recommender(small_split.domain, source_adapters, XCrossConfig(summary_dim=8))
    return save_run(xcross, tmp_path_factory.mktemp("runs") / "run", source_adapters)


@pytest.mark.parametrize("case", sorted(HOSTILE_RUNS))
def test_a_hostile_run_folder_is_refused_naming_the_file(case, saved_run, small_split, monkeypatch) -> None:
    import shutil

    import xcross_core.models.xcross_run as xcross_run
    from xcross_core.models.artifacts import ArtifactError

    spoil, file, phrase, before_build = HOSTILE_RUNS[case]
    run = Path(shutil.copytree(saved_run, saved_run.parent / case))  # a sibling: its adapter paths still resolve
    spoil(run)
    if before_build:

        def build(*args: object, **kwargs: object) -> None:
            raise AssertionError("the integration was built before the problem was found")

        monkeypatch.setattr(xcross_run, "xcross_recommender", build)
    with pytest.raises(ArtifactError) as err:
        xcross_run.load_run(run, small_split.domain)
    message = str(err.value)
    assert message.startswith(f"{run / file}: "), message
    assert phrase in message and "\n" not in message


def test_cli_refuses_a_hostile_run_with_exit_2_and_one_line(saved_run, tmp_path, capsys) -> None:
    import shutil

    from xcross_core.cli import main

    run = Path(shutil.copytree(saved_run, saved_run.parent / "cli"))
    _run_json(lambda c: c["xcross"].update(summary_dim=10**9))(run)
    out = tmp_path / "w.csv"
    data = ["sample_data/interactions.csv", "--items", "sample_data/items.csv", "--domain", "Electronics"]
    assert main(["weights", str(run), *data, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "implies [1000000000]" in err
    assert "Traceback" not in err and not out.exists()
