"""Splits: who is held out, what each model trains on, and seeded sampled candidates."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import make_domain
from xcross_core.data.dataset import DomainData
from xcross_core.evaluation.splits import EvalCases, every_next_item, make_split, validation_set


def test_leave_one_out_by_hand() -> None:
    domain = make_domain([[0, 1, 2, 3], [4, 5], [6]], n_items=8)
    split = make_split(domain, "loo")
    assert split.test.users.tolist() == [0, 1]
    assert split.test.targets.tolist() == [3, 5]
    assert [h.tolist() for h in split.test.histories] == [[0, 1, 2], [4]]
    assert split.valid.users.tolist() == [0]
    assert split.valid.targets.tolist() == [2]
    assert [s.tolist() for s in split.train] == [[0, 1], [4]]  # user 2 has nothing before its target


def test_user_split_holds_users_out_entirely(cyclic_domain) -> None:
    split = make_split(cyclic_domain, "users", seed=3, test_share=0.2, valid_share=0.1)
    test, valid, train = set(split.test.users), set(split.valid.users), set(split.train_users)
    assert not (test & valid) and not (test & train) and not (valid & train)
    assert len(test) == 60 and len(valid) == 30
    for u, hist, target in zip(split.test.users, split.test.histories, split.test.targets, strict=True):
        seq = cyclic_domain.sequence(u)
        assert hist.tolist() == seq[:-1].tolist() and target == seq[-1]


def test_fractions_keep_the_held_out_cases_and_nest(cyclic_domain) -> None:
    splits = {f: make_split(cyclic_domain, "users", seed=1, fraction=f) for f in (0.1, 0.25, 0.5, 1.0)}
    for s in splits.values():
        assert s.test.users.tolist() == splits[1.0].test.users.tolist()
    sizes = [len(splits[f].train_users) for f in (0.1, 0.25, 0.5, 1.0)]
    assert sizes == sorted(sizes) and sizes[-1] == 240
    assert set(splits[0.1].train_users) <= set(splits[0.25].train_users) <= set(splits[0.5].train_users)


def test_splits_are_seeded(cyclic_domain) -> None:
    a = make_split(cyclic_domain, "users", seed=4)
    b = make_split(cyclic_domain, "users", seed=4)
    c = make_split(cyclic_domain, "users", seed=5)
    assert a.test.users.tolist() == b.test.users.tolist() != c.test.users.tolist()


def test_sampled_candidates_avoid_history_and_repeat(cyclic_domain) -> None:
    split = make_split(cyclic_domain, "loo", seed=2, sampled_negatives=20)
    cand = split.test.candidates
    assert cand.shape == (len(split.test), 21)
    assert (cand[:, 0] == split.test.targets).all()
    for row, hist in zip(cand, split.test.histories, strict=True):
        assert len(set(row.tolist())) == 21
        assert not set(row[1:].tolist()) & set(hist.tolist())
    again = make_split(cyclic_domain, "loo", seed=2, sampled_negatives=20)
    assert np.array_equal(again.test.candidates, cand)
    assert split.summary()["protocol"] == "sampled-20"


def test_bad_arguments_are_explained(cyclic_domain) -> None:
    with pytest.raises(ValueError, match="fraction"):
        make_split(cyclic_domain, fraction=0)
    with pytest.raises(ValueError, match="mode"):
        make_split(cyclic_domain, "random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negatives"):
        make_split(cyclic_domain, sampled_negatives=39)


def test_every_next_item_turns_each_held_out_sequence_into_one_case_per_position() -> None:
    cases = EvalCases(users=np.array([7, 9]), histories=[np.array([0, 1, 2]), np.array([4])], targets=np.array([3, 5]))
    expanded = every_next_item(cases)
    assert expanded.users.tolist() == [7, 7, 7, 9]
    assert [h.tolist() for h in expanded.histories] == [[0], [0, 1], [0, 1, 2], [4]]
    assert expanded.targets.tolist() == [1, 2, 3, 5]
    assert len(every_next_item(cases.subset(np.array([], dtype=np.int64)))) == 0


def test_validation_is_each_validation_users_last_item_topped_up_from_their_earlier_items(cyclic_domain) -> None:
    split = make_split(cyclic_domain, "users", seed=3, test_share=0.2, valid_share=0.1)  # 30 validation users
    assert validation_set(split, most=100, least=20, seed=0) is split.valid  # enough users: their last items
    few = validation_set(split, most=10, least=5, seed=0)  # too many: a seeded subset of them
    assert len(few) == 10 and set(few.users) <= set(split.valid.users)
    kept = set(few.users)
    assert few.targets.tolist() == [t for u, t in zip(split.valid.users, split.valid.targets, strict=True) if u in kept]
    topped = validation_set(split, most=100, least=80, seed=0)
    assert len(topped) == 80 and set(topped.users) == set(split.valid.users)
    for user, history, target in zip(topped.users, topped.histories, topped.targets, strict=True):
        sequence = cyclic_domain.sequence(user)
        assert sequence[: len(history)].tolist() == history.tolist() and sequence[len(history)] == target
    lasts = {(u, len(h)) for u, h in zip(split.valid.users, split.valid.histories, strict=True)}
    assert lasts <= {(u, len(h)) for u, h in zip(topped.users, topped.histories, strict=True)}
    assert validation_set(split, most=25, least=80, seed=0).targets.size == 25  # never more than `most`


def _varied_domain(n_users: int) -> DomainData:
    """`n_users` users of 1 to 6 random purchases of 30 items (a seventh or so have one: never tested)."""
    rng = np.random.default_rng(0)
    return make_domain([list(rng.integers(0, 30, rng.integers(1, 7))) for _ in range(n_users)], 30)


def test_without_test_users_the_split_is_the_one_made_before_the_option() -> None:
    # Pinned from the split as it was before test users could be topped up (the benches' committed results).
    split = make_split(_varied_domain(60), "users", seed=0, test_share=0.2, valid_share=0.2, fraction=0.5, max_users=30)
    assert split.test.users.tolist() == [16, 26, 29, 32, 35, 57]
    assert split.valid.users.tolist() == [14, 31, 43, 45, 47, 53]
    assert split.train_users.tolist() == [0, 1, 9, 21, 33, 38, 44, 48, 59]
    assert "test_users_asked" not in split.summary() and "note" not in split.summary()


def test_the_cap_bounds_training_and_test_users_are_topped_up_from_outside_it() -> None:
    domain = _varied_domain(600)
    common = {"seed": 2, "max_users": 100, "fraction": 0.5}
    before, split = make_split(domain, **common), make_split(domain, **common, test_users=150)
    # Within the cap nothing changes: the same training and validation users, and its test users stay.
    assert split.train_users.tolist() == before.train_users.tolist()
    assert split.valid.users.tolist() == before.valid.users.tolist()
    assert set(before.test.users) < set(split.test.users) and len(split.test) == 150
    capped = (
        set(make_split(domain, seed=2, max_users=100).train_users) | set(split.valid.users) | set(before.test.users)
    )
    assert len(capped) == 100  # the cap: every user who trains, validates or was tested within it
    added = set(split.test.users) - set(before.test.users)
    assert not added & capped and all(domain.lengths[u] >= 2 for u in added)
    assert not set(split.test.users) & (set(split.train_users) | set(split.valid.users))
    for user, history, target in zip(split.test.users, split.test.histories, split.test.targets, strict=True):
        sequence = domain.sequence(user)
        assert history.tolist() == sequence[:-1].tolist() and target == sequence[-1]
    assert split.summary()["test_cases"] == 150 and split.summary()["test_users_asked"] == 150
    assert "note" not in split.summary()


def test_topped_up_test_users_are_seeded_and_the_same_at_every_budget() -> None:
    domain = _varied_domain(600)
    tested = {f: make_split(domain, seed=5, fraction=f, max_users=80, test_users=120).test for f in (0.1, 0.5, 1.0)}
    assert all(t.users.tolist() == tested[1.0].users.tolist() for t in tested.values())
    again = make_split(domain, seed=5, fraction=0.5, max_users=80, test_users=120).test
    assert again.users.tolist() == tested[0.5].users.tolist()
    assert make_split(domain, seed=6, max_users=80, test_users=120).test.users.tolist() != again.users.tolist()
    more = make_split(domain, seed=5, max_users=80, test_users=200).test
    assert set(again.users) < set(more.users)  # asking for more adds to the same users


def test_fewer_users_than_asked_are_all_tested_and_the_summary_says_so() -> None:
    domain = _varied_domain(150)
    split = make_split(domain, seed=0, max_users=100, test_users=1000)
    outside = set(range(150)) - set(make_split(domain, seed=0, max_users=100).train_users) - set(split.valid.users)
    testable = {u for u in outside if domain.lengths[u] >= 2}
    assert set(split.test.users) == testable  # everyone who can be tested is
    summary = split.summary()
    assert summary["test_users_asked"] == 1000 and summary["test_cases"] == len(testable) < 1000
    assert summary["note"].startswith(f"{len(testable):,} test users, not the 1,000 asked for: 10% of the 100 users")
    assert "only" in summary["note"] and "2 or more purchases" in summary["note"]
    uncapped = make_split(domain, seed=0, test_users=1000).summary()
    assert uncapped["test_cases"] == 15 and "all 150 users are within the cap" in uncapped["note"]


def test_test_users_are_refused_where_they_mean_nothing(cyclic_domain) -> None:
    with pytest.raises(ValueError, match="user split"):
        make_split(cyclic_domain, "loo", test_users=10)
    with pytest.raises(ValueError, match="1 or more"):
        make_split(cyclic_domain, test_users=0)
