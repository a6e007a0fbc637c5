"""Purchase sequences per domain, the interaction and item frames, and the CSV files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tools.synthetic.catalogue import brand_domains, brand_series_words, build_catalogue
from tools.synthetic.domains import BRANDS, DOMAINS, PRICE_TIERS, SPECS, DomainSpec

#: Columns of the generated interaction frame, in order (one row per purchase).
INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp", "domain")
#: Columns of the generated item frame, in order (one row per catalogue item).
ITEM_COLUMNS = ("item_id", "title", "brand", "category", "price_tier", "domain")

#: Probability that the purchase right after a main product is one of that product's accessories.
P_ACCESSORY = 0.5
#: Otherwise, probability of a random purchase drawn from global (Zipf-like) item popularity.
P_NOISE = 0.3
#: Otherwise (and not noise), probability of another item of the previous item's series.
P_SERIES = 0.3
#: Preference draws pick one of the user's favourite brands with this probability (else any brand,
#: weighted by the user's tier affinity).
P_FAVOURITE = 0.8

#: Random-noise purchases are re-targeted so that every catalogue item is bought at least this many
#: times (as in 5-core data); for small data the target drops to a quarter of the mean purchases per item.
MIN_PURCHASES = 5

# Move codes: how a purchase was drawn.
_PREFERENCE, _NOISE, _SERIES, _ACCESSORY = 0, 1, 2, 3

_FIRST_DAY = np.datetime64("2016-01-01", "D")
_LAST_DAY = np.datetime64("2024-06-30", "D")


def _groups(keys: np.ndarray, weight: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Members of each group, padded: ([n_groups, width] item indices, same-shape cumulative weights).

    Row g lists the items with key g; its cumulative (normalised) weights end at 1 and are padded
    with 2.0, so `(cum[g] <= u).sum()` for u in [0, 1) picks a member with probability ∝ weight.
    """
    width = max(1, int(np.bincount(keys, minlength=n_groups).max()))
    members = np.zeros((n_groups, width), dtype=np.int64)
    cum = np.full((n_groups, width), 2.0)
    for g in range(n_groups):
        idx = np.flatnonzero(keys == g)
        if len(idx):
            members[g, : len(idx)] = idx
            c = np.cumsum(weight[idx])
            cum[g, : len(idx)] = c / c[-1]
            cum[g, len(idx) - 1] = 1.0
    return members, cum


def _pick(members: np.ndarray, cum: np.ndarray, group: np.ndarray, u: np.ndarray) -> np.ndarray:
    """For each row, a member of `group[row]` drawn with the group's weights (u uniform in [0, 1))."""
    pos = (cum[group] <= u[:, None]).sum(axis=1)
    return members[group, np.minimum(pos, members.shape[1] - 1)]


def _top_up(
    hist: np.ndarray, moves: np.ndarray, mask: np.ndarray, target: int, n_items: int, rng: np.random.Generator
) -> None:
    """Re-target random-noise purchases (in place) until every item is bought `target` times.

    Only noise purchases whose next purchase does not depend on them (not an accessory or series
    move) are changed, only to an item the user has not bought, and only away from items bought more
    than `target` times, so the built-in patterns and the no-repeat guarantee are untouched. Best
    effort: stops when no such purchase is left.
    """
    counts = np.bincount(hist[mask], minlength=n_items)
    if target < 1 or counts.min() >= target:
        return
    next_move = np.full_like(moves, -1)
    next_move[:, :-1] = moves[:, 1:]
    users, steps = np.nonzero(mask & (moves == _NOISE) & ~np.isin(next_move, (_ACCESSORY, _SERIES)))
    order = rng.permutation(len(users))
    users, steps = users[order], steps[order]
    free = np.ones(len(users), dtype=bool)
    for item in np.flatnonzero(counts < target):
        for _ in range(target - counts[item]):
            ok = free & (counts[hist[users, steps]] > target) & ~(hist[users] == item).any(axis=1)
            if not ok.any():
                return
            j = int(np.argmax(ok))
            u, t = users[j], steps[j]
            counts[hist[u, t]] -= 1
            counts[item] += 1
            hist[u, t] = item
            free[j] = False


def _domain_frames(
    spec: DomainSpec, k: int, seed: int, users: int, member: np.ndarray, series_words: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate one domain's (interactions, items); k is the domain's position in `DOMAINS`."""
    rng = np.random.default_rng([seed, k])
    brands = np.flatnonzero(member[:, k])
    cat = build_catalogue(spec, brands, series_words[:, k], rng)
    n_items = len(cat.titles)
    pop = cat.popularity
    tiers = np.array([PRICE_TIERS.index(BRANDS[b][1]) for b in brands])  # per local brand
    local_brand = np.searchsorted(brands, cat.brand)  # brands is sorted
    n_brands = len(brands)

    # Sampling tables: mains per brand, items per series, accessories per model, all ∝ popularity.
    brand_mains, brand_cum = _groups(local_brand[cat.is_main], pop[cat.is_main], n_brands)
    brand_mains = np.flatnonzero(cat.is_main)[brand_mains]
    series_items, series_cum = _groups(cat.series, pop, int(cat.series.max()) + 1)
    acc_idx = np.flatnonzero(~cat.is_main)
    model_acc, model_acc_cum = _groups(cat.model[acc_idx], np.ones(len(acc_idx)), int(cat.model.max()) + 1)
    model_acc = acc_idx[model_acc]
    has_acc = np.zeros(n_items, dtype=bool)
    has_acc[cat.is_main] = np.isin(cat.model[cat.is_main], cat.model[acc_idx])
    pop_cum = np.cumsum(pop)
    pop_cum[-1] = 1.0

    # Users: preferred tier, brand affinity (tier-matched, times a brand popularity), favourites.
    user_tier = rng.choice(len(PRICE_TIERS), size=users, p=[0.35, 0.4, 0.25])
    tier_gap = np.abs(user_tier[:, None] - tiers[None, :])
    brand_pop = rng.lognormal(0.0, 0.5, size=n_brands)
    affinity = np.array([1.0, 0.12, 0.03])[tier_gap] * brand_pop[None, :]
    affinity_cum = np.cumsum(affinity / affinity.sum(axis=1, keepdims=True), axis=1)
    n_fav = rng.choice([1, 2, 3], size=users, p=[0.35, 0.4, 0.25])
    gumbel = np.log(affinity) + rng.gumbel(size=affinity.shape)
    favourites = np.argsort(-gumbel, axis=1)[:, :3]  # top-3 without replacement, ∝ affinity

    extra = np.minimum(rng.geometric(1 / 3.4, size=users) - 1, 15)
    lengths = 5 + extra
    max_len = int(lengths.max())
    hist = np.full((users, max_len), -1, dtype=np.int64)
    gaps = np.zeros((users, max_len), dtype=np.int64)
    moves = np.full((users, max_len), -1, dtype=np.int64)

    def draw(rows: np.ndarray, prev: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """One purchase (item, move code) for each user in `rows` after item `prev` (None: first)."""
        n = len(rows)
        u_move, u_pick, u_brand = rng.random(n), rng.random(n), rng.random(n)
        # preference draw: a favourite (or tier-affine) brand, then one of its main products
        fav = favourites[rows, (rng.random(n) * n_fav[rows]).astype(np.int64)]
        other = (affinity_cum[rows] <= rng.random(n)[:, None]).sum(axis=1).clip(max=n_brands - 1)
        brand = np.where(u_brand < P_FAVOURITE, fav, other)
        out = _pick(brand_mains, brand_cum, brand, u_pick)
        move = np.full(n, _PREFERENCE)
        noise = u_move < P_NOISE
        out[noise] = np.minimum(np.searchsorted(pop_cum, u_pick[noise], side="right"), n_items - 1)
        move[noise] = _NOISE
        if prev is not None:
            series = (u_move >= P_NOISE) & (u_move < P_NOISE + (1 - P_NOISE) * P_SERIES)
            out[series] = _pick(series_items, series_cum, cat.series[prev[series]], u_pick[series])
            move[series] = _SERIES
            acc = has_acc[prev] & (rng.random(n) < P_ACCESSORY)
            out[acc] = _pick(model_acc, model_acc_cum, cat.model[prev[acc]], u_pick[acc])
            move[acc] = _ACCESSORY
        return out, move

    for t in range(max_len):
        active = np.flatnonzero(lengths > t)
        prev = hist[active, t - 1] if t else None
        chosen, move = draw(active, prev)
        # Redraw purchases that repeat an item already in the user's history.
        for _ in range(50):
            dup = (hist[active, :t] == chosen[:, None]).any(axis=1)
            if not dup.any():
                break
            re = np.flatnonzero(dup)
            chosen[re], move[re] = draw(active[re], None if prev is None else prev[re])
        else:  # pragma: no cover - practically unreachable; keeps the guarantee of no repeats
            for i in np.flatnonzero((hist[active, :t] == chosen[:, None]).any(axis=1)):
                free = np.setdiff1d(np.arange(n_items), hist[active[i], :t])
                chosen[i], move[i] = rng.choice(free), _NOISE
        hist[active, t] = chosen
        moves[active, t] = move
        # Days since the previous purchase: accessories follow within weeks, other buys are spread out.
        quick = 1 + np.minimum(rng.geometric(1 / 6, size=len(active)) - 1, 44)
        slow = 1 + np.minimum(rng.exponential(35.0, size=len(active)).astype(np.int64), 149)
        gaps[active, t] = np.where(move == _ACCESSORY, quick, slow) if t else 0

    mask = np.arange(max_len)[None, :] < lengths[:, None]
    target = min(MIN_PURCHASES, int(lengths.sum()) // (4 * n_items))
    _top_up(hist, moves, mask, target, n_items, rng)

    # Dates: strictly increasing within a user, inside [_FIRST_DAY, _LAST_DAY].
    offsets = np.cumsum(gaps, axis=1)
    span = offsets[np.arange(users), lengths - 1]
    window = int((_LAST_DAY - _FIRST_DAY).astype(np.int64))
    start = (rng.random(users) * (window - span + 1)).astype(np.int64)
    days = _FIRST_DAY + (start[:, None] + offsets)

    # Ids: items numbered in a random order so that ids carry no catalogue structure.
    item_number = rng.permutation(n_items) + 1
    item_ids = np.array([f"{spec.prefix}-I{i:04d}" for i in item_number], dtype=object)
    user_ids = np.array([f"{spec.prefix}-U{u + 1:05d}" for u in range(users)], dtype=object)
    interactions = pd.DataFrame(
        {
            "user_id": np.repeat(user_ids, lengths),
            "item_id": item_ids[hist[mask]],
            "timestamp": days[mask].astype("datetime64[D]").astype(str).astype(object),
            "domain": spec.name,
        }
    )
    items = pd.DataFrame(
        {
            "item_id": item_ids,
            "title": cat.titles,
            "brand": [BRANDS[b][0] for b in cat.brand],
            "category": cat.category,
            "price_tier": [BRANDS[b][1] for b in cat.brand],
            "domain": spec.name,
        }
    )
    items = items.sort_values("item_id", kind="stable", ignore_index=True)
    return interactions, items


def generate(
    seed: int = 7, users_per_domain: int = 2000, domains: Sequence[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (interactions, items): synthetic purchase logs for the chosen built-in domains.

    Args:
        seed: seed of every random draw; the same seed gives identical frames.
        users_per_domain: number of users generated in each domain (each buys 5-20 items).
        domains: names out of `DOMAINS` (default: all of them, in that order). A domain's rows do
            not depend on which other domains are requested.

    Returns:
        interactions: columns `INTERACTION_COLUMNS` (`user_id, item_id, timestamp, domain`), all
            strings, timestamp an ISO date "YYYY-MM-DD"; sorted by domain (in the requested order),
            user and date, with dates strictly increasing within a user.
        items: columns `ITEM_COLUMNS` (`item_id, title, brand, category, price_tier, domain`), all
            strings; the whole catalogue of each domain, sorted by domain then item id.
    """
    if users_per_domain < 1:
        raise ValueError(f"users_per_domain must be at least 1, got {users_per_domain}")
    names = list(DOMAINS if domains is None else domains)
    unknown = [d for d in names if d not in DOMAINS]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(f"domains must be distinct names out of {', '.join(DOMAINS)}; got {names}")
    member = brand_domains(seed)
    series_words = brand_series_words(seed)
    frames = {
        d: _domain_frames(SPECS[d], DOMAINS.index(d), seed, users_per_domain, member, series_words) for d in names
    }
    interactions = pd.concat([frames[d][0] for d in names], ignore_index=True)
    items = pd.concat([frames[d][1] for d in names], ignore_index=True)
    return interactions[list(INTERACTION_COLUMNS)], items[list(ITEM_COLUMNS)]


def write_sample_data(out_dir: str | Path, seed: int = 7, users_per_domain: int = 2000) -> tuple[Path, Path]:
    """Write interactions.csv and items.csv into out_dir, return their paths.

    Files are UTF-8 with "\\n" line ends and no index column; `out_dir` is created if missing.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    interactions, items = generate(seed=seed, users_per_domain=users_per_domain)
    paths = out / "interactions.csv", out / "items.csv"
    interactions.to_csv(paths[0], index=False, lineterminator="\n")
    items.to_csv(paths[1], index=False, lineterminator="\n")
    return paths
