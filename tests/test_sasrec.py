"""The SASRec-style baseline learns sequential order that popularity cannot see."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xcross_core.evaluation.protocol import evaluate
from xcross_core.evaluation.splits import make_split
from xcross_core.models.popularity import Popularity
from xcross_core.models.sasrec import SASRec, SASRecConfig
from xcross_core.training.events import Cancelled
from xcross_core.training.loop import LoopConfig

SMALL = SASRecConfig(hidden=32, layers=1, heads=1, dropout=0.1, max_len=10)


def test_sasrec_learns_the_cycle_and_beats_popularity(cyclic_domain) -> None:
    split = make_split(cyclic_domain, "users", seed=0)
    events = []
    model = SASRec(cyclic_domain, SMALL, LoopConfig(epochs=25, batch_size=32, lr=5e-3, patience=5))
    report = model.fit(split, progress=events.append)
    assert report.losses[-1] < report.losses[0] / 2
    assert report.best_epoch >= 1 and len(report.valid_ndcg10) == report.epochs
    assert events[-1].valid_ndcg10 == report.valid_ndcg10[-1] and events[-1].step <= events[-1].total_steps
    sasrec = evaluate(model, split.test)
    pop = evaluate(Popularity(cyclic_domain).fit_sequences(split.train), split.test)
    assert sasrec.summary["hit@1"].mean > 0.8
    assert sasrec.summary["ndcg@10"].low > pop.summary["ndcg@10"].high
    assert model.trainable_parameters == sum(p.numel() for p in model.network.parameters())


def test_training_is_seeded(cyclic_domain) -> None:
    split = make_split(cyclic_domain, "users", seed=0)
    loop = LoopConfig(epochs=2, batch_size=64, seed=3)
    scores = []
    for _ in range(2):
        model = SASRec(cyclic_domain, SMALL, loop)
        model.fit(split)
        scores.append(model.score(split.test.histories[:5]))
    assert torch.equal(scores[0], scores[1])


def test_scoring_handles_empty_and_long_histories(cyclic_domain) -> None:
    model = SASRec(cyclic_domain, SMALL)
    scores = model.score([np.array([], dtype=np.int64), np.arange(30) % 40])
    assert scores.shape == (2, 40) and torch.isfinite(scores).all()


def test_cancel_stops_training(cyclic_domain) -> None:
    split = make_split(cyclic_domain, "users", seed=0)
    model = SASRec(cyclic_domain, SMALL, LoopConfig(epochs=5, batch_size=16))
    calls = iter(range(100))
    with pytest.raises(Cancelled):
        model.fit(split, cancel=lambda: next(calls) >= 3)
