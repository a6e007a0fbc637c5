"""The evaluation protocol end to end on small generated domains."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import make_domain
from xcross_core.evaluation.protocol import compare, compare_each, comparison_table, evaluate, validation_cases
from xcross_core.evaluation.splits import make_split
from xcross_core.models.popularity import Popularity


def test_popularity_metrics_by_hand() -> None:
    # Item 0 is bought most, then 1; user 2's target is item 0 which is also in their history.
    domain = make_domain([[0, 1, 0, 2], [0, 1, 3], [0, 0]], n_items=5)
    split = make_split(domain, "loo")
    model = Popularity(domain).fit_sequences(split.train)
    assert model.counts.tolist() == [3, 1, 0, 0, 0]  # train = [0, 1], [0], []
    result = evaluate(model, split.test)
    # user 0: history {0,1,0} excluded, target 2 ties with 3 and 4 -> ranks 1..3
    # user 1: history {0,1} excluded, target 3 ties with 2 and 4 -> ranks 1..3
    # user 2: history {0} and the target is 0 again: already-bought items are never served -> a miss
    assert result.per_case["hit@1"].tolist() == pytest.approx([1 / 3, 1 / 3, 0.0])
    assert result.summary["hit@1"].mean == pytest.approx(2 / 9)
    kept = evaluate(model, split.test, exclude_history=False)
    # Without exclusion user 0's target 2 is beaten by 0 and 1 and ties with 3, 4 -> ranks 3..5
    assert kept.per_case["hit@1"].tolist()[0] == 0
    assert kept.per_case["mrr"].tolist()[0] == pytest.approx((1 / 3 + 1 / 4 + 1 / 5) / 3)
    assert kept.per_case["hit@1"].tolist()[2] == 1.0  # the repeat purchase is the most popular item


def test_sampled_protocol_is_labelled_and_flatters(cyclic_domain) -> None:
    full = make_split(cyclic_domain, "loo", seed=0)
    sampled = make_split(cyclic_domain, "loo", seed=0, sampled_negatives=9)
    model = Popularity(cyclic_domain).fit_sequences(full.train)
    a, b = evaluate(model, full.test), evaluate(model, sampled.test)
    assert a.protocol == "full" and b.protocol == "sampled-9"
    assert b.summary["hit@10"].mean == pytest.approx(1.0)  # 10 candidates: everything is in the top 10
    assert a.summary["hit@10"].mean < 0.6


def test_history_length_breakdown_counts_every_case(cyclic_domain) -> None:
    split = make_split(cyclic_domain, "loo")
    result = evaluate(Popularity(cyclic_domain).fit_sequences(split.train), split.test)
    table = result.by_history_length()
    assert table["users"].sum() == len(split.test)
    assert list(table["bucket"]) == ["1-2", "3-5", "6-10", "11+"]
    assert result.to_dict()["metrics"]["ndcg@10"]["low"] <= result.summary["ndcg@10"].mean


def test_compare_requires_the_same_cases(cyclic_domain) -> None:
    split = make_split(cyclic_domain, "loo")
    pop = evaluate(Popularity(cyclic_domain).fit_sequences(split.train), split.test)
    other = evaluate(Popularity(cyclic_domain).fit_sequences(split.train), split.test.subset(np.arange(10)))
    with pytest.raises(ValueError, match="same cases"):
        compare(pop, other)
    assert compare(pop, pop).p_value == 1.0


def test_one_model_against_several_is_corrected_for_the_family(cyclic_domain) -> None:
    split = make_split(cyclic_domain, "loo")
    counts = Popularity(cyclic_domain).fit_sequences(split.train)
    few = Popularity(cyclic_domain).fit_sequences(split.train[:20])
    results = [evaluate(counts, split.test), evaluate(few, split.test)]
    results[1] = dataclasses.replace(results[1], model="few")
    nothing = dataclasses.replace(results[0], model="nothing", per_case=results[0].per_case.assign(**{"ndcg@10": 0.0}))
    tests = compare_each(results[0], [results[1], nothing])
    assert set(tests) == {"few", "nothing"} and {t.comparisons for t in tests.values()} == {2}
    alone = compare(results[0], nothing)
    assert tests["nothing"].p_value == alone.p_value and tests["nothing"].p_adjusted == min(1.0, 2 * alone.p_value)
    assert tests["nothing"].difference.low <= alone.difference.low  # a wider interval for the family
    assert -1.0 <= tests["few"].difference.low <= tests["few"].difference.high <= 1.0  # metrics lie in [0, 1]
    table = comparison_table([*results, nothing], tests)
    assert {"ndcg@10", "ndcg@10_low", "ndcg@10_high", "diff_ndcg@10", "p_value", "p_adjusted"} <= set(table.columns)
    assert pd.isna(table.loc[0, "diff_ndcg@10"])  # the subject of the comparisons has none
    assert table.loc[2, "diff_ndcg@10"] == pytest.approx(results[0].summary["ndcg@10"].mean)


def test_validation_cases_give_ndcg_mrr_and_the_targets_log_likelihood(cyclic_domain) -> None:
    split = make_split(cyclic_domain, "loo")
    model = Popularity(cyclic_domain).fit_sequences(split.train)
    ndcg, mrr, likelihood = validation_cases(model, split.test, batch_size=7)
    tested = evaluate(model, split.test)
    assert ndcg.mean() == pytest.approx(tested.summary["ndcg@10"].mean)
    assert np.allclose(mrr, tested.per_case["mrr"])
    assert (likelihood < 0).all()

    class Flat:  # every item scores the same: the target's probability is 1 / (items left in the ranking)
        name, domain = "flat", cyclic_domain

        def score(self, histories):
            return torch.zeros(len(histories), cyclic_domain.n_items)

    _, _, flat = validation_cases(Flat(), split.test)
    bought = [len(set(h.tolist()) - {t}) for h, t in zip(split.test.histories, split.test.targets, strict=True)]
    assert np.allclose(flat, -np.log(cyclic_domain.n_items - np.array(bought)))


def test_a_repeat_purchase_is_a_miss_under_both_protocols() -> None:
    domain = make_domain([[1, 2, 1], [3, 4, 5], [0, 6, 7]] * 5, n_items=12)
    split = make_split(domain, "loo", sampled_negatives=5)
    model = Popularity(domain).fit_sequences(split.train)
    sampled = evaluate(model, split.test)
    full = evaluate(model, make_split(domain, "loo").test)
    repeat = np.array([h[-1] != t and t in h for h, t in zip(split.test.histories, split.test.targets, strict=True)])
    assert repeat.sum() == 5
    for result in (sampled, full):
        assert (result.per_case.loc[repeat, "hit@10"] == 0).all()
    assert (sampled.per_case.loc[~repeat, "hit@5"] > 0).all()
