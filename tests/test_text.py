"""The text recommender under concurrent requests: 4 threads give exactly the sequential results."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from xcross_core.models.adapters import load_adapter
from xcross_core.models.recommender import top_k
from xcross_core.models.xcross import xcross_recommender


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
