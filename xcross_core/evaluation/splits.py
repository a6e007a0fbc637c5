"""Train / validation / test splits of one domain, identical for every model compared on it.

Two modes (the README's "Evaluation conventions"):

- ``loo`` (leave-one-out): every user's last item is the test target, the second last the
  validation target; training sees everything before the validation item.
- ``users``: a seeded share of users is held out entirely for test and another for validation; each
  held-out user's last item is predicted from the rest of their sequence; training sees the other
  users' full sequences.

`fraction` keeps a seeded share of the training users (the data budget); test and validation cases
never change with it, so curves over fractions compare like with like. `max_users` caps the users a split
draws its training, validation and test users from; on a user split, `test_users` then tops the test users up
from users outside the cap, who never train (testing is cheap, training is not). In the sampled protocol the
negative candidates are drawn here, once per case from the seed, so every model ranks the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from xcross_core.data.dataset import DomainData
from xcross_core.data.histories import history_mask

SplitMode = Literal["loo", "users"]


@dataclass(frozen=True)
class EvalCases:
    """Next-item prediction cases: predict `targets[i]` from `histories[i]` (oldest first)."""

    users: np.ndarray  # user indices into DomainData.user_ids
    histories: list[np.ndarray]
    targets: np.ndarray
    candidates: np.ndarray | None = None  # [n, 1 + negatives], target first; None = full catalogue

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def history_lengths(self) -> np.ndarray:
        return np.fromiter((len(h) for h in self.histories), dtype=np.int64, count=len(self.histories))

    def subset(self, index: np.ndarray) -> EvalCases:
        index = np.asarray(index)
        return EvalCases(
            users=self.users[index],
            histories=[self.histories[i] for i in index],
            targets=self.targets[index],
            candidates=None if self.candidates is None else self.candidates[index],
        )


@dataclass(frozen=True)
class Split:
    """One domain split into training sequences and validation / test cases."""

    domain: DomainData
    mode: SplitMode
    seed: int
    train_users: np.ndarray  # user indices whose `train` sequences models learn from
    train: list[np.ndarray]  # one chronological item-index sequence per training user
    valid: EvalCases
    test: EvalCases
    fraction: float = 1.0
    test_asked: int | None = None  # the test users `make_split` was asked to top up to, if any
    note: str = ""  # why fewer users are tested than were asked for ("" when not)

    @property
    def n_train_interactions(self) -> int:
        return int(sum(len(s) for s in self.train))

    def summary(self) -> dict[str, object]:
        """What the split holds, for people and result files: users, cases, catalogue, protocol, and (when
        test users were topped up) how many were asked for and, when fewer are tested, why."""
        summary: dict[str, object] = {
            "domain": self.domain.name,
            "mode": self.mode,
            "seed": self.seed,
            "fraction": self.fraction,
            "train_users": len(self.train),
            "train_interactions": self.n_train_interactions,
            "valid_cases": len(self.valid),
            "test_cases": len(self.test),
            "catalogue_items": self.domain.n_items,
            "protocol": "full" if self.test.candidates is None else f"sampled-{self.test.candidates.shape[1] - 1}",
        }
        # Only when asked, so that the summaries of splits made without a top-up stay as they were written.
        if self.test_asked is not None:
            summary["test_users_asked"] = self.test_asked
        if self.note:
            summary["note"] = self.note
        return summary


def make_split(
    domain: DomainData,
    mode: SplitMode = "users",
    *,
    seed: int = 0,
    test_share: float = 0.1,
    valid_share: float = 0.1,
    fraction: float = 1.0,
    max_users: int | None = None,
    test_users: int | None = None,
    sampled_negatives: int | None = None,
) -> Split:
    """Split `domain` for training and evaluation.

    `max_users` caps the users the split is made of (a seeded subset, for CPU-sized runs). With `test_users`
    (a user split only), users outside the cap are added to the test users, seeded, until `test_users` are
    tested: the cap then bounds the training and validation users and no longer the test users. They are the
    same at every `fraction`, and a larger `test_users` adds to a smaller one's. When the data has too few users
    outside the cap, what there is is tested and the split's `note` says so. `test_users=None` (the default)
    makes exactly the split made before the option existed. `sampled_negatives` switches validation and test
    to the sampled protocol with that many negatives per case. Users with a single purchase cannot be
    evaluated and only ever train.
    """
    if mode not in ("loo", "users"):
        raise ValueError(f"split mode must be 'loo' or 'users', not {mode!r}")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], not {fraction}")
    if test_users is not None and mode != "users":
        raise ValueError("test_users tops up the test users of a user split ('users'); 'loo' tests every user")
    if test_users is not None and test_users < 1:
        raise ValueError(f"test_users must be 1 or more, not {test_users}")
    rng = np.random.default_rng(seed)
    lengths = domain.lengths
    users = np.arange(domain.n_users)
    if max_users is not None and max_users < len(users):
        users = np.sort(rng.choice(users, size=max_users, replace=False))
    seqs = {int(u): domain.sequence(u) for u in users}
    note = ""

    if mode == "loo":
        tested = users[lengths[users] >= 2]
        valid_users = users[lengths[users] >= 3]
        test = _last_item_cases(tested, [seqs[int(u)] for u in tested])
        valid = _last_item_cases(valid_users, [seqs[int(u)][:-1] for u in valid_users])
        train_pool = users
        train_seqs = {int(u): seqs[int(u)][:-2] if lengths[u] >= 3 else seqs[int(u)][:-1] for u in users}
    else:
        if not 0 < test_share < 1 or not 0 <= valid_share < 1 or test_share + valid_share >= 1:
            raise ValueError("test_share and valid_share must be in (0, 1) and sum to less than 1")
        evaluable = rng.permutation(users[lengths[users] >= 2])
        n_test = int(round(test_share * len(users)))
        n_valid = int(round(valid_share * len(users)))
        tested = np.sort(evaluable[:n_test])
        valid_users = np.sort(evaluable[n_test : n_test + n_valid])
        train_pool = np.setdiff1d(users, np.concatenate([tested, valid_users]))
        if test_users is not None:
            tested, note = _topped_up(domain, users, tested, test_users, seed, test_share)
            seqs |= {int(u): domain.sequence(u) for u in tested if int(u) not in seqs}
        test = _last_item_cases(tested, [seqs[int(u)] for u in tested])
        valid = _last_item_cases(valid_users, [seqs[int(u)] for u in valid_users])
        train_seqs = seqs

    train_users = train_pool
    if fraction < 1:
        keep = max(1, int(round(fraction * len(train_pool))))
        # A separate stream, so the held-out users are the same at every fraction, and a prefix of
        # one permutation, so smaller budgets are subsets of larger ones (a clean learning curve).
        order = np.random.default_rng([seed, 1]).permutation(train_pool)
        train_users = np.sort(order[:keep])
    train_users = np.array([u for u in train_users if len(train_seqs[int(u)]) >= 1], dtype=np.int64)

    split = Split(
        domain=domain,
        mode=mode,
        seed=seed,
        train_users=train_users,
        train=[train_seqs[int(u)] for u in train_users],
        valid=valid,
        test=test,
        fraction=fraction,
        test_asked=test_users,
        note=note,
    )
    if sampled_negatives:
        split = with_sampled_candidates(split, sampled_negatives)
    return split


def with_sampled_candidates(split: Split, negatives: int) -> Split:
    """The same split under the sampled protocol: `negatives` random non-history items per case."""
    return replace(
        split,
        valid=_attach_candidates(split.valid, split.domain.n_items, negatives, [split.seed, 2]),
        test=_attach_candidates(split.test, split.domain.n_items, negatives, [split.seed, 3]),
    )


def every_next_item(cases: EvalCases) -> EvalCases:
    """Each case's sequence (history, then target) as one case per position: predict item t from items < t.

    Only for held-out users (a user split), whose items no model trains on: a few hundred of them then
    give thousands of validation cases instead of one each, and early stopping sees less noise.
    """
    users, histories, targets = [], [], []
    for user, history, target in zip(cases.users, cases.histories, cases.targets, strict=True):
        sequence = np.append(history, target)
        users.extend([user] * len(history))
        histories.extend(sequence[:t] for t in range(1, len(sequence)))
        targets.append(sequence[1:])
    return EvalCases(
        users=np.asarray(users, dtype=np.int64),
        histories=histories,
        targets=np.concatenate(targets) if targets else np.zeros(0, dtype=np.int64),
    )


def validation_set(split: Split, most: int, least: int, seed: int) -> EvalCases:
    """The cases training validates on: each validation user's last item, as the test asks of test users.

    At most `most` of them (a seeded subset). On a user split with fewer than `least`, they are topped up with
    seeded earlier next items of the same held-out users (no model trains on those users, so every position is a
    fair case), so that a small run still validates on enough cases to tell epochs apart.
    """
    valid, rng, least = split.valid, np.random.default_rng([seed, 7]), min(least, most)
    if len(valid) > most:
        return valid.subset(np.sort(rng.choice(len(valid), most, replace=False)))
    if split.mode != "users" or len(valid) >= least or valid.candidates is not None:
        return valid
    every = every_next_item(valid)
    last = np.cumsum(valid.history_lengths) - 1  # every user's last position in `every`
    earlier = np.setdiff1d(np.arange(len(every)), last)
    extra = rng.choice(earlier, min(least - len(valid), len(earlier)), replace=False)
    return every.subset(np.sort(np.concatenate([last, extra])))


def _topped_up(
    domain: DomainData, users: np.ndarray, tested: np.ndarray, wanted: int, seed: int, test_share: float
) -> tuple[np.ndarray, str]:
    """(`tested` and, when fewer than `wanted`, seeded users from outside `users` (the cap) who can be tested,
    sorted; why fewer than `wanted` are tested, or "")."""
    outside = np.setdiff1d(np.arange(domain.n_users), users)
    testable = outside[domain.lengths[outside] >= 2]
    # A stream of its own, drawn after the capped split, so the split within the cap is the one made without a
    # top-up; and a prefix of one permutation, so a larger `wanted` adds to a smaller one's users.
    added = np.random.default_rng([seed, 4]).permutation(testable)[: max(0, wanted - len(tested))]
    tested = np.sort(np.concatenate([tested, added])).astype(np.int64)
    if len(tested) >= wanted:
        return tested, ""
    have = f"{len(tested):,} test users, not the {wanted:,} asked for"
    if not len(outside):
        within = f"all {len(users):,} users are within the cap on users (or there is none)"
        return tested, f"{have}: {within}, so there are none to add, and {test_share:.0%} of them are held out for test"
    share = f"{test_share:.0%} of the {len(users):,} users within the cap are held out for test"
    left = f"of the {len(outside):,} users outside it only {len(testable):,} can be tested"
    return tested, f"{have}: {share}, and {left} (a test user needs 2 or more purchases)"


def _last_item_cases(users: np.ndarray, sequences: list[np.ndarray]) -> EvalCases:
    return EvalCases(
        users=np.asarray(users, dtype=np.int64),
        histories=[s[:-1] for s in sequences],
        targets=np.fromiter((s[-1] for s in sequences), dtype=np.int64, count=len(sequences)),
    )


def _attach_candidates(cases: EvalCases, n_items: int, negatives: int, seed: list[int]) -> EvalCases:
    """Draw negatives uniformly from items that are neither the target nor in the history."""
    if negatives >= n_items:
        raise ValueError(f"{negatives} sampled negatives need a catalogue larger than {n_items} items")
    rng = np.random.default_rng(seed)
    lengths = cases.history_lengths
    if (n_items - 1 - lengths < negatives).any():
        raise ValueError(f"some histories leave fewer than {negatives} items to sample as negatives")
    chunks = []
    # Chunks of cases keep the (cases x catalogue) scratch arrays small on large catalogues.
    for start in range(0, len(cases), 1024):
        part = cases.subset(np.arange(start, min(start + 1024, len(cases))))
        n = len(part)
        forbidden = history_mask(part.histories, n_items).numpy()
        forbidden[np.arange(n), part.targets] = True
        # Random keys with forbidden items pushed past every allowed one: the `negatives` smallest
        # keys are a uniform sample, without replacement, of the allowed items.
        keys = rng.random((n, n_items))
        keys[forbidden] = 2.0
        chosen = np.argpartition(keys, negatives - 1, axis=1)[:, :negatives]
        chunks.append(np.concatenate([part.targets[:, None], chosen], axis=1))
    candidates = np.concatenate(chunks) if chunks else np.zeros((0, negatives + 1), dtype=np.int64)
    return replace(cases, candidates=candidates.astype(np.int64))
