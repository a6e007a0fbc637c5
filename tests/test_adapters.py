"""LoRA domain adapters: training, peft-format saving, reloading, cancelling, listing, the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import FAST_TEXT
from xcross_core.cli import main
from xcross_core.evaluation.splits import make_split
from xcross_core.models.adapters import (
    METADATA,
    LoraSettings,
    base_recommender,
    list_adapters,
    load_adapter,
    lora_recommender,
    train_adapter,
)
from xcross_core.training.events import Cancelled
from xcross_core.training.loop import LoopConfig

ROOT_ARGS = ["sample_data/interactions.csv", "--items", "sample_data/items.csv", "--domain", "Electronics"]


@pytest.fixture(scope="module")
def small_split(sample_electronics):
    return make_split(sample_electronics, "users", seed=0, max_users=240)


def test_training_reduces_the_loss_and_keeps_the_base_frozen(small_split, tiny_bert) -> None:
    model = lora_recommender(
        small_split.domain, tiny_bert, text=FAST_TEXT, loop=LoopConfig(epochs=4, batch_size=16, lr=5e-3, patience=10)
    )
    frozen = {n: p.detach().clone() for n, p in model.encoder.named_parameters() if not p.requires_grad}
    report = model.fit(small_split)
    assert report.epochs == 4 and len(report.valid_ndcg10) == 4
    assert report.losses[-1] < report.losses[0]
    after = dict(model.encoder.named_parameters())
    assert all(torch.equal(after[n], p) for n, p in frozen.items())
    assert 0 < model.trainable_parameters < sum(p.numel() for p in model.encoder.parameters()) / 10


def test_items_come_from_the_frozen_base_once_for_every_model_on_it(small_split, tiny_bert) -> None:
    model = lora_recommender(
        small_split.domain, tiny_bert, text=FAST_TEXT, loop=LoopConfig(epochs=1, batch_size=16, lr=5e-2)
    )
    base = base_recommender(small_split.domain, tiny_bert, text=FAST_TEXT)
    assert model.item_vectors() is base.item_vectors()  # one cached catalogue for both
    before = model.item_vectors().clone()
    prompts_before = model.prompt_vectors(small_split.test.histories[:8])
    unvalidated = replace(small_split, valid=small_split.valid.subset(np.array([], dtype=np.int64)))
    model.fit(unvalidated)  # no validation: the trained weights are kept whatever they score
    torch.testing.assert_close(model.item_vectors(), before)  # training moves prompts only
    assert not torch.allclose(model.prompt_vectors(small_split.test.histories[:8]), prompts_before)
    # The cached vectors are the base model's own pooled item texts.
    tokens = base.tokenizer(list(small_split.domain.item_text[:5]), padding=True, truncation=True, max_length=16)
    direct = base.encoder(torch.tensor(tokens["input_ids"]), torch.tensor(tokens["attention_mask"]))
    torch.testing.assert_close(before[:5], direct, atol=1e-5, rtol=1e-4)


def test_an_adapter_of_the_earlier_format_is_refused_with_what_to_do(small_split, tiny_bert, tmp_path) -> None:
    out = tmp_path / "old"
    train_adapter(small_split, out, base=tiny_bert, text=FAST_TEXT, loop=LoopConfig(epochs=1, batch_size=16))
    meta = json.loads((out / METADATA).read_text())
    del meta["format"]
    (out / METADATA).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="format 1.*Retrain it with `xcross train-adapter`"):
        load_adapter(out, small_split.domain)
    assert list_adapters(tmp_path).loc[0, "format"] == 1


def test_save_then_load_gives_the_same_scores(small_split, tiny_bert, tmp_path) -> None:
    out = tmp_path / "electronics"
    model, meta = train_adapter(
        small_split, out, base=tiny_bert, text=FAST_TEXT, loop=LoopConfig(epochs=1, batch_size=16, lr=5e-3)
    )
    files = {p.name for p in out.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", METADATA} <= files
    assert {Path(f).suffix for f in files} <= {".json", ".safetensors", ".md"}  # never a pickle (.bin, .pt)
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)
    saved = json.loads((out / METADATA).read_text())
    assert saved["domain"] == "Electronics" and saved["trainable_parameters"] == model.trainable_parameters
    assert saved["data"]["train_users"] == len(small_split.train)
    histories = small_split.test.histories[:8]
    reloaded = load_adapter(out, small_split.domain)
    assert torch.allclose(model.score(histories), reloaded.score(histories), atol=1e-4)
    # The folder is plain peft: PeftModel loads it onto the base without our code.
    from peft import PeftModel
    from transformers import AutoModel

    peft_model = PeftModel.from_pretrained(AutoModel.from_pretrained(tiny_bert), str(out))
    assert peft_model.peft_config["default"].r == LoraSettings().rank
    table = list_adapters(tmp_path)
    assert table.loc[0, "domain"] == "Electronics" and table.loc[0, "trainable_parameters"] == meta.trainable_parameters


def test_a_cancelled_run_leaves_no_folder(small_split, tiny_bert, tmp_path) -> None:
    out = tmp_path / "cancelled"
    with pytest.raises(Cancelled):
        train_adapter(
            small_split,
            out,
            base=tiny_bert,
            text=FAST_TEXT,
            loop=LoopConfig(epochs=1, batch_size=16),
            cancel=lambda: True,
        )
    assert list(tmp_path.iterdir()) == []


def test_decoder_base_trains_with_last_token_pooling(small_split, tiny_gpt2) -> None:
    model = lora_recommender(small_split.domain, tiny_gpt2, text=FAST_TEXT, loop=LoopConfig(epochs=1, batch_size=16))
    report = model.fit(small_split)
    assert np.isfinite(report.losses[0])
    assert model.score(small_split.test.histories[:3]).shape == (3, small_split.domain.n_items)


def test_lora_targets_that_do_not_exist_are_explained(small_split, tiny_bert) -> None:
    from xcross_core.models.base import BaseModelError

    with pytest.raises(BaseModelError, match="targets"):
        lora_recommender(small_split.domain, tiny_bert, LoraSettings(targets=("no_such_module",)))


def test_cli_train_recommend_and_evaluate_with_an_adapter(tiny_bert, tmp_path, capsys) -> None:
    adapter = tmp_path / "adapters" / "electronics"
    code = main(
        [
            "train-adapter",
            *ROOT_ARGS,
            "--out",
            str(adapter),
            "--base",
            tiny_bert,
            "--max-users",
            "120",
            "--epochs",
            "1",
            "--batch-size",
            "16",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "saved to" in capsys.readouterr().out
    assert main(["train-adapter", *ROOT_ARGS, "--out", str(adapter), "--base", tiny_bert]) == 2
    assert "already exists" in capsys.readouterr().err

    recs = tmp_path / "recs.csv"
    assert main(["recommend", str(adapter), *ROOT_ARGS, "--k", "5", "--out", str(recs)]) == 0
    table = pd.read_csv(recs)
    assert list(table.columns) == ["user_id", "rank", "item_id", "score"]
    assert (table.groupby("user_id").size() == 5).all() and table["rank"].between(1, 5).all()
    assert (table.groupby("user_id")["score"].apply(lambda s: s.is_monotonic_decreasing)).all()

    metrics = tmp_path / "m.json"
    code = main(
        [
            "evaluate",
            "popularity",
            *ROOT_ARGS,
            "--against",
            "base",
            str(adapter),
            "--base",
            tiny_bert,
            "--max-users",
            "200",
            "--out",
            str(metrics),
        ]
    )
    assert code == 0, capsys.readouterr().err
    out = json.loads(metrics.read_text())
    assert set(out["models"]) == {"popularity", "base", "lora:Electronics (electronics)"}
    assert out["models"]["base"]["trainable_parameters"] == 0
    assert out["models"]["lora:Electronics (electronics)"]["trainable_parameters"] > 0


def test_cli_unknown_base_is_a_clear_error(tmp_path, capsys) -> None:
    code = main(["train-adapter", *ROOT_ARGS, "--out", str(tmp_path / "x"), "--base", "no-such-org/no-model"])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot load base model 'no-such-org/no-model'" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
