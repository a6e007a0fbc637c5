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
    ITEM_HEAD,
    METADATA,
    LoraSettings,
    base_recommender,
    load_adapter,
    lora_recommender,
    train_adapter,
)
from xcross_core.models.artifacts import ArtifactError
from xcross_core.models.library import adapter_problems, list_adapters
from xcross_core.training.events import Cancelled
from xcross_core.training.loop import LoopConfig

ROOT_ARGS = ["sample_data/interactions.csv", "--items", "sample_data/items.csv", "--domain", "Electronics"]


@pytest.fixture(scope="module")
def small_split(sample_electronics):
    return make_split(sample_electronics, "users", seed=0, max_users=240)


def test_training_reduces_the_loss_and_keeps_the_base_frozen(small_split, tiny_bert) -> None:
    # Without the item head, whose popularity prior lowers the loss at once and leaves a tiny random model's LoRA
    # little to add within four epochs.
    text = replace(FAST_TEXT, item_head=False)
    model = lora_recommender(
        small_split.domain, tiny_bert, text=text, loop=LoopConfig(epochs=4, batch_size=16, lr=5e-3, patience=10)
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


def test_the_item_head_starts_from_log_popularity_and_serves_only_its_own_catalogue(
    small_split, tiny_bert, tmp_path
) -> None:
    model = lora_recommender(small_split.domain, tiny_bert, text=FAST_TEXT, loop=LoopConfig(epochs=1, batch_size=16))
    head = model.encoder.item_head
    counts = np.bincount(np.concatenate(small_split.train), minlength=small_split.domain.n_items)
    head.start_from(counts)
    prior = np.log1p(counts)
    np.testing.assert_allclose(head.bias.numpy(), prior - prior.mean(), rtol=1e-5, atol=1e-6)
    histories = small_split.test.histories[:4]
    cosine = model.prompt_vectors(histories) @ model.item_vectors().T
    torch.testing.assert_close(model.score(histories), cosine / FAST_TEXT.temperature + head.bias)

    out = tmp_path / "with-head"
    unvalidated = replace(small_split, valid=small_split.valid.subset(np.array([], dtype=np.int64)))  # trained: kept
    trained, meta = train_adapter(unvalidated, out, base=tiny_bert, text=FAST_TEXT, loop=LoopConfig(epochs=1))
    assert (out / ITEM_HEAD).is_file() and meta.item_head["items"] == small_split.domain.n_items
    assert trained.encoder.item_head.log_scale.item() != pytest.approx(-np.log(FAST_TEXT.temperature))
    own = load_adapter(out, small_split.domain)
    assert torch.equal(own.encoder.item_head.bias, trained.encoder.item_head.bias)
    # Another catalogue (one item fewer): the head is not its own, so it ranks by cosine alone.
    other = load_adapter(out, small_split.domain.first_items(small_split.domain.n_items - 1))
    assert not other.encoder.item_head.bias.any()
    assert other.encoder.item_head.log_scale.item() == pytest.approx(-np.log(FAST_TEXT.temperature))


def test_the_training_prior_adds_log_popularity_to_training_scores_only(small_split, tiny_bert) -> None:
    text = replace(FAST_TEXT, train_prior=0.5)
    model = lora_recommender(small_split.domain, tiny_bert, text=text, loop=LoopConfig(epochs=1, batch_size=16))
    priors, loss = [], model._loss

    def spy(encoder, batch, device):  # what the training loss adds to every score
        priors.append(model._train_prior)
        return loss(encoder, batch, device)

    model._loss = spy
    model.fit(small_split)
    counts = np.bincount(np.concatenate(small_split.train), minlength=small_split.domain.n_items)
    torch.testing.assert_close(priors[0], 0.5 * torch.log1p(torch.as_tensor(counts, dtype=torch.float32)))
    assert model._train_prior is None  # only the training loss adds it: validation and tests score without it


def test_an_adapter_saved_before_the_item_head_loads_without_one(small_split, tiny_bert, tmp_path) -> None:
    out = tmp_path / "older"
    trained, _ = train_adapter(small_split, out, base=tiny_bert, text=FAST_TEXT, loop=LoopConfig(epochs=1))
    meta = json.loads((out / METADATA).read_text())
    del meta["text"]["item_head"], meta["item_head"]
    (out / METADATA).write_text(json.dumps(meta))
    (out / ITEM_HEAD).unlink()
    older = load_adapter(out, small_split.domain)
    assert not older.config.item_head and not hasattr(older.encoder, "item_head")
    histories = small_split.test.histories[:4]
    cosine = older.prompt_vectors(histories) @ older.item_vectors().T
    torch.testing.assert_close(older.score(histories), cosine / FAST_TEXT.temperature)


def test_a_tampered_item_head_is_refused_naming_the_file(small_split, tiny_bert, tmp_path) -> None:
    out = tmp_path / "tampered"
    train_adapter(small_split, out, base=tiny_bert, text=FAST_TEXT, loop=LoopConfig(epochs=1))
    from safetensors.torch import save_file

    save_file({"bias": torch.zeros(3), "log_scale": torch.zeros(())}, str(out / ITEM_HEAD))
    with pytest.raises(ArtifactError, match=ITEM_HEAD):
        load_adapter(out, small_split.domain)


def test_top_layers_adapts_only_the_last_blocks_and_stays_plain_peft(small_split, tiny_bert, tmp_path) -> None:
    out = tmp_path / "top"
    lora = LoraSettings(top_layers=1)
    model, meta = train_adapter(
        small_split, out, base=tiny_bert, lora=lora, text=FAST_TEXT, loop=LoopConfig(epochs=1, batch_size=16)
    )
    # tiny BERT has 2 blocks: only block 1's attention projections carry LoRA weights, listed by path in
    # peft's own config (no peft option this studio refuses to load).
    config = json.loads((out / "adapter_config.json").read_text())
    block_1 = [f"encoder.layer.1.attention.self.{m}" for m in ("key", "query", "value")]
    assert sorted(config["target_modules"]) == block_1
    assert meta.lora["top_layers"] == 1 and sorted(meta.lora["targets"]) == sorted(config["target_modules"])
    everywhere = lora_recommender(small_split.domain, tiny_bert, LoraSettings(), FAST_TEXT)
    assert model.trainable_parameters * 2 == everywhere.trainable_parameters
    histories = small_split.test.histories[:4]
    assert torch.allclose(model.score(histories), load_adapter(out, small_split.domain).score(histories), atol=1e-4)


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
    assert list(table.columns) == ["user_id", "rank", "item_id", "title", "score"]
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
    assert err.startswith("error: ") and "'no-such-org/no-model'" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


# -- hostile adapter folders: each refused with one line naming the file, before peft builds anything ------------

HUGE_RANK = 2**22  # peft would allocate about 4 GB of LoRA matrices for it on the tiny base


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _edit_tensors(folder: Path, change) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(folder / "adapter_model.safetensors"))
    change(tensors)
    save_file(tensors, str(folder / "adapter_model.safetensors"))


def _config(**changes):
    return lambda f: _edit_json(f / "adapter_config.json", lambda c: c.update(changes))


def _meta(change):
    return lambda f: _edit_json(f / METADATA, change)


def _write(name: str, data: bytes):
    return lambda f: (f / name).write_bytes(data)


def _first(tensors: dict, kind: str = "lora_A") -> str:
    return sorted(k for k in tensors if kind in k)[0]


def _narrow(tensors: dict) -> None:
    """Every LoRA pair made to fit 16-wide layers instead of the base's 32 (consistent with itself)."""
    for key in list(tensors):
        tensors[key] = (tensors[key][:, :16] if "lora_A" in key else tensors[key][:16, :]).contiguous()


def _weights_bytes(change):
    def apply(folder: Path) -> None:
        path = folder / "adapter_model.safetensors"
        path.write_bytes(change(path.read_bytes()))

    return apply


def _both_targets(targets: list[str]):
    def apply(folder: Path) -> None:
        _config(target_modules=targets)(folder)
        _meta(lambda m: m["lora"].update(targets=targets))(folder)

    return apply


CONFIG, WEIGHTS = "adapter_config.json", "adapter_model.safetensors"

#: case -> (how the folder is spoiled, the file the message must name, a phrase it must hold)
HOSTILE = {
    "huge rank": (_config(r=HUGE_RANK), WEIGHTS, f"not of rank r = {HUGE_RANK}"),
    "rank not a number": (_config(r="eight"), CONFIG, "rank r is 'eight'"),
    "rank zero": (_config(r=0), CONFIG, "not a whole number above 0"),
    "alpha not a number": (_config(lora_alpha=float("nan")), CONFIG, "lora_alpha is nan"),
    "config malformed": (_write(CONFIG, b'{"r": 4,'), CONFIG, "malformed JSON at line 1"),
    "config a list": (_write(CONFIG, b"[4]"), CONFIG, "must hold a JSON object, not list"),
    "config missing": (lambda f: (f / CONFIG).unlink(), CONFIG, "no such file"),
    "not lora": (_config(peft_type="IA3"), CONFIG, "peft_type is 'IA3'"),
    "dora": (_config(use_dora=True), CONFIG, "use_dora"),
    "saved modules": (_config(modules_to_save=["pooler"]), CONFIG, "modules_to_save"),
    "targets a pattern": (_config(target_modules="query|key"), CONFIG, "not a list of module names"),
    "tensors not targeted": (_config(target_modules=["query"]), WEIGHTS, "which adapter_config.json does not target"),
    "targets without tensors": (_both_targets(["query", "key", "value", "dense"]), WEIGHTS, "has no tensors for"),
    "target not linear": (_both_targets(["query", "key", "value", "self"]), CONFIG, "which is not a linear layer"),
    "shapes misfit the base": (lambda f: _edit_tensors(f, _narrow), WEIGHTS, "do not fit the base layer's 32 inputs"),
    "module the base lacks": (
        lambda f: _edit_tensors(
            f,
            lambda t: [t.__setitem__(k.replace("layer.0.", "layer.7."), t.pop(k)) for k in list(t) if "layer.0." in k],
        ),
        WEIGHTS,
        "which the base model (BertModel) does not have",
    ),
    "half a pair": (lambda f: _edit_tensors(f, lambda t: t.pop(_first(t, "lora_B"))), WEIGHTS, "only one of"),
    "integer weights": (
        lambda f: _edit_tensors(f, lambda t: t.update({_first(t): t[_first(t)].to(torch.int32)})),
        WEIGHTS,
        "dtype 'I32'",
    ),
    "a foreign tensor": (
        lambda f: _edit_tensors(f, lambda t: t.update({"base_model.model.pooler.dense.weight": torch.zeros(2, 2)})),
        WEIGHTS,
        "is not a LoRA A or B weight",
    ),
    "a 3-d weight": (
        lambda f: _edit_tensors(f, lambda t: t.update({_first(t): t[_first(t)][None]})),
        WEIGHTS,
        "a LoRA weight is 2-D",
    ),
    "truncated": (_weights_bytes(lambda b: b[:-100]), WEIGHTS, "truncated"),
    "trailing bytes": (_weights_bytes(lambda b: b + b"\0" * 64), WEIGHTS, "corrupt"),
    "oversized header": (
        _weights_bytes(lambda b: (2**40).to_bytes(8, "little") + b[8:]),
        WEIGHTS,
        "declares a 1,099,511,627,776-byte header",
    ),
    "header past the end": (
        _weights_bytes(lambda b: (len(b)).to_bytes(8, "little") + b[8:]),
        WEIGHTS,
        "truncated: declares a",
    ),
    "header not json": (
        _weights_bytes(
            lambda b: b[:8] + b"x" * int.from_bytes(b[:8], "little") + b[8 + int.from_bytes(b[:8], "little") :]
        ),
        WEIGHTS,
        "header is not valid JSON",
    ),
    "weights empty": (_write(WEIGHTS, b""), WEIGHTS, "0 bytes"),
    "weights missing": (lambda f: (f / WEIGHTS).unlink(), WEIGHTS, "no such file"),
    "metadata malformed": (_write(METADATA, b"{"), METADATA, "malformed JSON"),
    "metadata missing a key": (_meta(lambda m: m.pop("base")), METADATA, "is missing 'base'"),
    "metadata wrong type": (_meta(lambda m: m.update(trainable_parameters="many")), METADATA, "not a whole number"),
    "metadata unknown key": (_meta(lambda m: m.update(script="rm -rf /")), METADATA, "unknown keys 'script'"),
    "text unknown key": (_meta(lambda m: m["text"].update(pad=1)), METADATA, "'text' has unknown keys 'pad'"),
    "text zero tokens": (_meta(lambda m: m["text"].update(prompt_tokens=0)), METADATA, "must be above 0"),
    "text huge batch": (_meta(lambda m: m["text"].update(encode_batch=10**9)), METADATA, "encode_batch"),
    "text longer than the base": (
        _meta(lambda m: m["text"].update(prompt_tokens=100_000)),
        METADATA,
        "the base model takes at most 256",
    ),
    "metadata rank contradicts": (
        _meta(lambda m: m["lora"].update(rank=8)),
        METADATA,
        "LoRA rank 8 contradicts adapter_config.json's 4",
    ),
}


@pytest.fixture
def hostile(source_adapters, tmp_path):
    """A fresh copy of a tiny rank-4 adapter, to spoil."""
    import shutil

    return Path(shutil.copytree(source_adapters[0], tmp_path / "adapter"))


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_adapter_folder_is_refused_naming_the_file_before_peft_allocates(
    case, hostile, small_split, monkeypatch
) -> None:
    from peft import PeftModel

    from xcross_core.models.artifacts import ArtifactError
    from xcross_core.models.xcross import xcross_recommender

    spoil, file, phrase = HOSTILE[case]
    spoil(hostile)

    def reached(*args: object, **kwargs: object) -> None:
        raise AssertionError("peft was asked to build the adapter")

    monkeypatch.setattr(PeftModel, "from_pretrained", reached)
    for build in (load_adapter, lambda folder, domain: xcross_recommender(domain, [folder])):
        with pytest.raises(ArtifactError) as err:
            build(hostile, small_split.domain)
        message = str(err.value)
        assert message.startswith(f"{hostile / file}: "), message
        assert phrase in message and "\n" not in message


def test_a_huge_rank_is_refused_within_bounded_memory(hostile, small_split) -> None:
    import subprocess
    import sys

    _config(r=HUGE_RANK)(hostile)
    code = (
        "import resource, sys\n"
        "from tests.conftest import SAMPLE\n"
        "from xcross_core.data.load import load_interactions\n"
        "from xcross_core.models.adapters import load_adapter\n"
        "domain = load_interactions(SAMPLE / 'interactions.csv', SAMPLE / 'items.csv').interactions.domain('Sports')\n"
        "try:\n"
        "    load_adapter(sys.argv[1], domain)\n"
        "except ValueError as err:\n"
        "    print(err)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code, str(hostile)], cwd=root, capture_output=True, text=True, timeout=300, check=True
    )
    message, peak_kb = done.stdout.strip().splitlines()
    assert f"not of rank r = {HUGE_RANK}" in message
    assert int(peak_kb) < 1_500_000, f"peak memory {int(peak_kb) / 1e6:.1f} GB"  # 4 GB when peft builds it


def test_a_broken_folder_does_not_hide_the_library(source_adapters, tmp_path) -> None:
    import shutil

    for name in ("good", "broken", "spoilt"):
        shutil.copytree(source_adapters[0], tmp_path / name)
    (tmp_path / "broken" / METADATA).write_text("{")
    _config(r=HUGE_RANK)(tmp_path / "spoilt")
    assert list(list_adapters(tmp_path)["adapter"]) == ["good", "spoilt"]  # the metadata of both reads
    problems = adapter_problems(tmp_path)
    assert len(problems) == 2
    assert problems[0].startswith(str(tmp_path / "broken" / METADATA)) and "malformed JSON" in problems[0]
    assert problems[1].startswith(str(tmp_path / "spoilt" / WEIGHTS))


def test_cli_refuses_a_hostile_adapter_with_exit_2_and_one_line(hostile, tmp_path, capsys) -> None:
    _config(r=HUGE_RANK)(hostile)
    out = tmp_path / "recs.csv"
    assert main(["recommend", str(hostile), *ROOT_ARGS, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and str(hostile / WEIGHTS) in err
    assert "Traceback" not in err and not out.exists()
