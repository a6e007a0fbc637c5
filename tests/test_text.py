"""The text recommender: concurrent requests give the sequential results; training passes batch by prompt length."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.conftest import FAST_TEXT
from xcross_core.evaluation.splits import make_split
from xcross_core.models.adapters import load_adapter, lora_recommender
from xcross_core.models.recommender import top_k
from xcross_core.models.text import ItemHead, TextConfig, training_sequences
from xcross_core.models.xcross import xcross_recommender
from xcross_core.training.loop import LoopConfig, backward_in_pieces


@pytest.mark.parametrize("kind", ["adapter", "x-cross"])
def test_four_concurrent_requests_match_sequential_calls(kind, sample_electronics, source_adapters) -> None:
    def fresh():
        if kind == "adapter":
            return load_adapter(source_adapters[1], sample_electronics)
        return xcross_recommender(sample_electronics, source_adapters[:2])

    histories = sample_electronics.sequences()[:240]
    requests = [histories[i::4] for i in range(4)]  # four clients, different users and history lengths
    sequential = [top_k(fresh(), r, 10) for r in requests]
    weights = fresh().contribution_weights(requests[0]) if kind == "x-cross" else None

    shared = fresh()  # one model serving everyone, item vectors not yet cached: the racy start
    with ThreadPoolExecutor(max_workers=4) as pool:
        jobs = [pool.submit(top_k, shared, r, 10) for r in requests]
        if kind == "x-cross":
            extra = pool.submit(shared.contribution_weights, requests[0])
        concurrent = [j.result() for j in jobs]
    for (items_a, scores_a), (items_b, scores_b) in zip(sequential, concurrent, strict=True):
        np.testing.assert_array_equal(items_a, items_b)
        np.testing.assert_allclose(scores_a, scores_b, rtol=1e-5, atol=1e-5)
    if kind == "x-cross":
        np.testing.assert_allclose(extra.result(), weights, rtol=1e-5, atol=1e-6)


def test_a_pass_cuts_every_sequence_once_into_batches_of_similar_prompt_length(sample_electronics) -> None:
    split = make_split(sample_electronics, "users", seed=0, max_users=300)
    model = lora_recommender(split.domain)
    sequences = training_sequences(split)
    batches = model.cut_batches(sequences, 32, np.random.default_rng(0))
    pairs = [pair for batch in batches for pair in batch]
    assert len(pairs) == len(sequences) and all(len(b) <= 32 for b in batches)
    # Each pair is a non-empty prefix of a training sequence and the item that follows it.
    prefixes = {tuple(s[:t].tolist()) for s in sequences for t in range(2, len(s) + 1)}
    assert all(len(h) >= 1 and tuple(h.tolist()) + (t,) in prefixes for h, t in pairs)
    # The tokenizer's own padded length: a batch wastes little on padding compared with a random batch.
    lengths = model.prompt_lengths([h for h, _ in pairs])
    tokens = model.tokenizer(model.prompts([h for h, _ in pairs]), truncation=True, max_length=128)["input_ids"]
    np.testing.assert_array_equal(lengths, [len(t) for t in tokens])
    waste = sum(model.prompt_lengths([h for h, _ in b]).max() * len(b) for b in batches) / lengths.sum() - 1
    shuffled = np.random.default_rng(1).permutation(lengths)
    random_waste = sum(shuffled[s : s + 32].max() * len(shuffled[s : s + 32]) for s in range(0, len(shuffled), 32))
    random_waste = random_waste / lengths.sum() - 1
    assert waste < random_waste / 3, (waste, random_waste)
    again = model.cut_batches(sequences, 32, np.random.default_rng(0))
    assert [[t for _, t in b] for b in again] == [[t for _, t in b] for b in batches]


def test_a_training_step_runs_a_batch_of_long_prompts_in_pieces_with_the_batchs_gradient(sample_electronics) -> None:
    split = make_split(sample_electronics, "users", seed=0, max_users=300)
    model = lora_recommender(split.domain, text=TextConfig(step_tokens=300))
    batch = max(model.cut_batches(training_sequences(split), 16, np.random.default_rng(0)), key=len)
    pieces = model.pieces(batch)
    assert len(pieces) > 1 and [pair for piece in pieces for pair in piece] == batch
    lengths = [model.prompt_lengths([h for h, _ in piece]) for piece in pieces]
    assert all(
        len(piece) == 1 or len(piece) * length.max() <= 300 for piece, length in zip(pieces, lengths, strict=True)
    )
    # The pieces' gradients add up to the whole batch's, and so does the loss (without dropout, whose masks differ).
    model.encoder.eval()
    gradients = {}
    for cut in (model.pieces, None):
        model.encoder.zero_grad()
        loss = backward_in_pieces(model.encoder, batch, model._loss, torch.device("cpu"), cut)
        grads = [p.grad.clone() for p in model.encoder.parameters() if p.requires_grad]
        gradients[cut is None] = (loss, grads)
    (whole_loss, whole), (piece_loss, pieced) = gradients[True], gradients[False]
    assert piece_loss == pytest.approx(whole_loss, rel=1e-5)
    for a, b in zip(whole, pieced, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_training_ranks_as_served_bought_items_are_not_negatives(sample_electronics, source_adapters) -> None:
    model = load_adapter(source_adapters[1], sample_electronics)
    history = np.array([3, 5, 8])
    device = torch.device("cpu")
    logits = model.logits(model.prompt_vectors([history, history]))
    for target in (11, 5):  # a new item; a repeat purchase, whose target stays in the ranking
        loss = model._loss(model.encoder, [(history, target), (history, target)], device)
        kept = np.setdiff1d(np.arange(sample_electronics.n_items), np.setdiff1d(history, [target]))
        expected = -torch.log_softmax(logits[0, torch.from_numpy(kept)], 0)[np.flatnonzero(kept == target)[0]]
        torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)


def test_calibration_sets_the_scale_where_the_likelihood_of_the_targets_peaks() -> None:
    generator = torch.Generator().manual_seed(0)
    cosines = torch.rand(300, 40, generator=generator) * 2 - 1
    targets = torch.randint(0, 39, (300,), generator=generator)
    cosines[torch.arange(300), targets] += 0.6  # the targets stand out, not by much: the peak is a finite scale
    cosines[:, 39] = -torch.inf  # an item out of every case's ranking
    head = ItemHead(40, temperature=0.05)
    head.calibrate(cosines, targets)
    scales = torch.linspace(0.1, 30, 3000)
    rows = torch.arange(300)
    likelihood = torch.stack([(cosines * s).log_softmax(1)[rows, targets].mean() for s in scales])
    assert head.log_scale.exp().item() == pytest.approx(scales[likelihood.argmax()].item(), abs=0.02)
    assert 1 < head.log_scale.exp().item() < 20  # neither the start's 1 / 0.05 nor the search's ends


def test_training_starts_from_a_calibrated_scale_ranking_as_the_uncalibrated(sample_electronics, tiny_bert) -> None:
    small_split = make_split(sample_electronics, "users", seed=0, max_users=240)
    loop = LoopConfig(epochs=1, batch_size=16)
    reports = {
        cases: lora_recommender(
            small_split.domain, tiny_bert, text=replace(FAST_TEXT, calibration_cases=cases), loop=loop
        ).fit(small_split)
        for cases in (0, 50)
    }
    uncalibrated, calibrated = reports[0], reports[50]
    assert calibrated.start_valid_mrr == pytest.approx(uncalibrated.start_valid_mrr, abs=1e-9)
    assert calibrated.start_valid_ndcg10 == pytest.approx(uncalibrated.start_valid_ndcg10, abs=1e-9)
    assert calibrated.start_valid_log_likelihood > uncalibrated.start_valid_log_likelihood
