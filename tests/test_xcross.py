"""X-Cross integration: equivalence to its adapters when neutral, input-dependent weights, frozen parts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xcross_core.evaluation.splits import make_split
from xcross_core.models.adapters import AdapterMetadata, load_adapter, lora_recommender, save_adapter
from xcross_core.models.text import TextConfig
from xcross_core.models.xcross import XCrossConfig, xcross_recommender
from xcross_core.training.loop import LoopConfig

FAST_TEXT = TextConfig(max_history=4, prompt_tokens=48, item_tokens=16, negatives=16, valid_cases=40)


@pytest.fixture(scope="module")
def small_split(sample_electronics):
    return make_split(sample_electronics, "users", seed=0, max_users=200)


@pytest.fixture(scope="module")
def source_adapters(small_split, tiny_bert, tmp_path_factory) -> list[str]:
    """Three adapters with random (non-zero) LoRA weights and different ranks, saved in peft format."""
    folder = tmp_path_factory.mktemp("adapters")
    paths = []
    for i, rank in enumerate((4, 8, 8)):
        from xcross_core.models.adapters import LoraSettings

        rec = lora_recommender(small_split.domain, tiny_bert, LoraSettings(rank=rank), FAST_TEXT, LoopConfig(seed=i))
        with torch.no_grad():
            for name, p in rec.encoder.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.5)
        meta = AdapterMetadata(
            domain=f"Source{i}",
            base=tiny_bert,
            lora={"rank": rank, "alpha": 16, "dropout": 0.0, "targets": list(rec.lora.targets)},
            text=FAST_TEXT.__dict__,
            loop={},
            data={},
            trainable_parameters=rec.trainable_parameters,
        )
        paths.append(str(save_adapter(rec, meta, folder / f"source{i}")))
    return paths


def test_one_source_with_neutral_integration_is_that_adapter(small_split, source_adapters) -> None:
    histories = small_split.test.histories[:6]
    adapter = load_adapter(source_adapters[1], small_split.domain)
    xcross = xcross_recommender(small_split.domain, source_adapters[1:2])
    assert torch.allclose(xcross.score(histories), adapter.score(histories), atol=1e-3)


def test_weights_are_distributions_that_depend_on_the_input(small_split, source_adapters) -> None:
    xcross = xcross_recommender(small_split.domain, source_adapters, XCrossConfig(weights="softmax", refine="replace"))
    torch.manual_seed(0)
    with torch.no_grad():
        for p in xcross.encoder.parameters():
            if p.requires_grad:
                p.normal_(0, 0.5)
    weights = xcross.contribution_weights(small_split.test.histories[:2])
    assert weights.shape == (2, 2 + 1, 3)  # 2 users, tiny BERT's 2 layers + the final mix, 3 sources
    assert np.allclose(weights.sum(-1), 1, atol=1e-5)
    assert not np.allclose(weights[0], weights[1])


def test_training_changes_only_the_integration(small_split, source_adapters) -> None:
    xcross = xcross_recommender(small_split.domain, source_adapters, loop=LoopConfig(epochs=2, batch_size=16, lr=1e-2))
    frozen = {n: p.detach().clone() for n, p in xcross.encoder.named_parameters() if not p.requires_grad}
    buffers = {n: b.detach().clone() for n, b in xcross.encoder.named_buffers()}
    trainable = {n: p.detach().clone() for n, p in xcross.encoder.named_parameters() if p.requires_grad}
    report = xcross.fit(small_split)
    assert report.epochs >= 1 and np.isfinite(report.losses).all()
    params = dict(xcross.encoder.named_parameters())
    assert all(torch.equal(params[n], p) for n, p in frozen.items())
    assert all(torch.equal(b, buffers[n]) for n, b in xcross.encoder.named_buffers())
    assert any(not torch.equal(params[n], p) for n, p in trainable.items())
    assert 0 < xcross.trainable_parameters < sum(p.numel() for p in xcross.encoder.parameters())


def test_run_folder_reloads_with_the_same_scores(small_split, source_adapters, tmp_path) -> None:
    from xcross_core.models.xcross import RUN_CONFIG, RUN_WEIGHTS, load_run, save_run

    xcross = xcross_recommender(small_split.domain, source_adapters, loop=LoopConfig(epochs=1, batch_size=16, lr=1e-2))
    xcross.fit(small_split)
    run = save_run(xcross, tmp_path / "run", source_adapters)
    assert sorted(p.name for p in run.iterdir()) == sorted([RUN_CONFIG, RUN_WEIGHTS])
    histories = small_split.test.histories[:5]
    again = load_run(run, small_split.domain)
    assert torch.allclose(xcross.score(histories), again.score(histories), atol=1e-4)
    assert np.allclose(xcross.contribution_weights(histories), again.contribution_weights(histories), atol=1e-5)


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
