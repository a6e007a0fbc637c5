"""The text recommender: concurrent requests give the sequential results; the loss temperature is calibrated."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from xcross_core.evaluation.splits import make_split
from xcross_core.models.adapters import load_adapter
from xcross_core.models.recommender import top_k
from xcross_core.models.text import TEMPERATURE_STEPS, training_sequences
from xcross_core.models.xcross import xcross_recommender
from xcross_core.training.loop import LoopConfig, batched


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


def test_calibrated_temperature_is_the_grid_point_with_the_lowest_training_loss(sample_electronics, source_adapters):
    split = make_split(sample_electronics, "users", seed=0, max_users=60)
    model = xcross_recommender(split.domain, source_adapters, loop=LoopConfig(batch_size=16))
    chosen = model.calibrate_temperature(split)
    losses = {}
    for temperature in model.config.temperature * TEMPERATURE_STEPS:
        # The training loss itself, on the batches and samples calibration draws.
        rng = np.random.default_rng([model.loop.seed, 11])
        batches = batched(training_sequences(split), model.loop.batch_size, rng)
        model._rng, model.train_temperature = rng, float(temperature)
        with torch.no_grad():
            losses[temperature] = sum(
                float(model._loss(model.encoder, b, torch.device("cpu"))) * len(b) for b in batches
            )
    assert max(losses.values()) - min(losses.values()) > 0.1 * len(training_sequences(split))
    assert chosen == pytest.approx(min(losses, key=losses.get), rel=1e-6)
