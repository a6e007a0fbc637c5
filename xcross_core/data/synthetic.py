"""Seeded synthetic multi-domain purchase logs whose structure makes cross-domain transfer through text real.

The sample data in `sample_data/` is produced by this module with its defaults::

    python -m xcross_core.data.synthetic --out sample_data

Four product domains (Electronics, Sports, Kitchen, Home_Office) share no users and no items (every id
carries a domain prefix such as ``EL-U00042`` / ``EL-I0137``), so the only bridge between domains is the
item *text*. The purchase behaviour is built so that what a text model learns in one domain is reusable
in another:

1. Shared brands. A fixed set of invented brands each sells in two to four domains and has one price
   tier everywhere. Every user has a latent preferred tier and one to three favourite brands (drawn
   mostly from that tier) and keeps returning to them.
2. Product series. Titles read ``<Brand> <Series> <Model> <Product type>, <variant>`` (for example
   "Kestrel Summit 3 Trail Running Shoes, Men's, Slate Grey"); a purchase from a series is often
   followed by another item of the same series.
3. Accessory after main item. Every main product has accessories whose titles repeat its brand, series
   and model ("Kestrel Summit 3 Replacement Insoles"); right after a main product the next purchase is
   one of its accessories with probability `P_ACCESSORY` (0.5).
4. Price-tier consistency. Because favourite brands come mostly from the preferred tier, premium users
   mostly buy premium brands, budget users budget ones.

On top of that a share of purchases (`P_NOISE`, before accessory moves) are random draws from a
long-tailed (Zipf-like) item popularity, so most-popular is a meaningful but beatable baseline.

Everything is drawn from `numpy.random.default_rng`: the brand universe from ``default_rng(seed)``
and each domain from ``default_rng([seed, k])`` with k the domain's fixed position in `DOMAINS`, so
generating a subset of domains yields exactly the same rows for those domains as generating all.
Sequences are built step by step but vectorised over all users of a domain.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "DOMAINS",
    "INTERACTION_COLUMNS",
    "ITEM_COLUMNS",
    "PRICE_TIERS",
    "generate",
    "main",
    "pattern_stats",
    "render_readme",
    "write_sample_data",
]

#: Columns of the generated interaction frame, in order (one row per purchase).
INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp", "domain")
#: Columns of the generated item frame, in order (one row per catalogue item).
ITEM_COLUMNS = ("item_id", "title", "brand", "category", "price_tier", "domain")
#: Price tiers, cheapest first.
PRICE_TIERS = ("budget", "mid", "premium")

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

# Item popularity: series weight ~ rank**-_ZIPF_EXPONENT, times a log-normal item factor, plus a floor.
_ZIPF_EXPONENT = 0.9
_ITEM_SIGMA = 0.5
_POP_FLOOR = 0.15

_FIRST_DAY = np.datetime64("2016-01-01", "D")
_LAST_DAY = np.datetime64("2024-06-30", "D")


@dataclass(frozen=True)
class ProductType:
    """A kind of main product and the accessories sold for it."""

    name: str  # goes into the title after the model, e.g. "Trail Running Shoes"
    category: str  # category of the main product
    accessory_category: str  # category of its accessories
    variants: tuple[str, ...]  # title suffixes of the main product (colour, size, capacity ...)
    accessories: tuple[str, ...]  # accessory names, each may carry its own suffix


@dataclass(frozen=True)
class DomainSpec:
    """A product domain: its name (no spaces), id prefix and product types."""

    name: str
    prefix: str
    product_types: tuple[ProductType, ...]


_PT = ProductType

#: The built-in domains, in their fixed order (the order fixes each domain's random stream).
_DOMAIN_SPECS: tuple[DomainSpec, ...] = (
    DomainSpec(
        "Electronics",
        "EL",
        (
            _PT(
                "Wireless Noise Cancelling Headphones",
                "Headphones",
                "Headphone Accessories",
                ("Midnight Black", "Silver", "Navy Blue", "Sand"),
                (
                    "Replacement Ear Cushions, 2-Pack",
                    "Hard Shell Carrying Case",
                    "USB-C Charging Cable, 6 ft",
                    "Audio Cable with Inline Mic",
                ),
            ),
            _PT(
                "True Wireless Earbuds",
                "Headphones",
                "Headphone Accessories",
                ("Black", "White", "Sage Green"),
                (
                    "Silicone Ear Tips, 3 Sizes",
                    "Wireless Charging Case",
                    "Protective Case Cover, Black",
                    "Foam Ear Tips, 6-Pack",
                ),
            ),
            _PT(
                "Smartwatch",
                "Wearables",
                "Wearable Accessories",
                ("44mm, Graphite", "40mm, Rose Gold", "44mm, Silver"),
                (
                    "Sport Band, 44mm",
                    "Tempered Glass Screen Protector, 3-Pack",
                    "Magnetic Charging Dock",
                    "Leather Strap, Tan",
                ),
            ),
            _PT(
                "Portable Bluetooth Speaker",
                "Speakers",
                "Speaker Accessories",
                ("Black", "Ocean Blue", "Red", "Stone Grey"),
                ("Travel Case", "Wall Mount Bracket", "Charging Dock", "Carrying Strap"),
            ),
            _PT(
                "4K Action Camera",
                "Cameras",
                "Camera Accessories",
                ("Standard", "Creator Bundle", "Black"),
                (
                    "Rechargeable Battery, 2-Pack",
                    "Waterproof Housing, 40m",
                    "Chest Harness Mount",
                    "Dual Charger &amp; Battery Kit",
                ),
            ),
            _PT(
                "10-Inch Tablet",
                "Tablets",
                "Tablet Accessories",
                ("64GB, Silver", "128GB, Space Grey", "256GB, Blue"),
                ("Folio Case, Navy", "Stylus Pen", "Screen Protector, 2-Pack", "Keyboard Cover"),
            ),
            _PT(
                "E-Reader, 6-Inch Glare-Free Display",
                "E-Readers",
                "E-Reader Accessories",
                ("8GB", "16GB", "32GB, Ad-Free"),
                ("Fabric Cover, Charcoal", "Sleep Cover", "USB-C Power Adapter", "Screen Protector, 2-Pack"),
            ),
        ),
    ),
    DomainSpec(
        "Sports",
        "SP",
        (
            _PT(
                "Trail Running Shoes",
                "Running Shoes",
                "Running Accessories",
                ("Men's, Slate Grey", "Women's, Coral", "Men's, Black", "Women's, Teal"),
                ("Replacement Insoles", "Shoe Laces, 2-Pair", "Trail Gaiters, Black", "Shoe Bag"),
            ),
            _PT(
                "Hiking Backpack",
                "Backpacks",
                "Backpack Accessories",
                ("30L, Forest Green", "40L, Charcoal", "25L, Burnt Orange"),
                ("Rain Cover", "Hydration Bladder, 2L", "Hip Belt Pockets, 2-Pack", "Sternum Strap Whistle"),
            ),
            _PT(
                "Yoga Mat",
                "Yoga",
                "Yoga Accessories",
                ("6mm, Purple", "4mm, Teal", "6mm, Charcoal"),
                ("Carrying Strap", "Yoga Blocks, 2-Pack", "Mat Cleaner Spray, 8 oz", "Mat Towel"),
            ),
            _PT(
                "Tennis Racket",
                "Racquet Sports",
                "Racquet Accessories",
                ("Grip Size 2", "Grip Size 3", "Grip Size 4"),
                (
                    "Overgrip, 3-Pack",
                    "Racket Bag, 6-Racket",
                    "Vibration Dampeners, 2-Pack",
                    "Replacement String Set",
                ),
            ),
            _PT(
                "Road Bike Helmet",
                "Cycling",
                "Cycling Accessories",
                ("Medium, Matte Black", "Large, White", "Small, Red"),
                ("Replacement Pad Set", "Clip-On Visor", "Rear LED Light", "Helmet Bag"),
            ),
            _PT(
                "Camping Tent",
                "Camping",
                "Camping Accessories",
                ("2-Person", "3-Person", "4-Person"),
                ("Footprint Groundsheet", "Aluminium Stake Kit, 12-Pack", "Tent Repair Kit", "Gear Loft"),
            ),
            _PT(
                "Adjustable Dumbbells",
                "Strength Training",
                "Strength Accessories",
                ("25 lb, Pair", "52.5 lb, Pair", "50 lb, Single"),
                ("Storage Stand", "Floor Mat", "Replacement Locking Collars, 2-Pack", "Weight Plate Set"),
            ),
        ),
    ),
    DomainSpec(
        "Kitchen",
        "KI",
        (
            _PT(
                "Chef's Knife",
                "Cutlery",
                "Cutlery Accessories",
                ("8-Inch", "6-Inch", "10-Inch"),
                ("Knife Sharpener", "Blade Guard", "Honing Rod, 10-Inch", "Magnetic Knife Strip"),
            ),
            _PT(
                "Espresso Machine",
                "Coffee",
                "Coffee Accessories",
                ("Stainless Steel", "Black", "Cream"),
                (
                    "Milk Frothing Pitcher, 12 oz",
                    "Descaling Solution, 2-Pack",
                    "Tamper, 51mm",
                    "Water Filter Cartridges, 3-Pack",
                ),
            ),
            _PT(
                "Stand Mixer",
                "Mixers",
                "Mixer Accessories",
                ("5-Quart, Empire Red", "6-Quart, Silver", "4.5-Quart, Matte Black"),
                ("Dough Hook", "Pouring Shield", "Flex Edge Beater", "Pasta Roller Attachment"),
            ),
            _PT(
                "High-Speed Blender",
                "Blenders",
                "Blender Accessories",
                ("64 oz, Black", "48 oz, Slate", "64 oz, Red"),
                ("Replacement Jar", "Travel Cups with Lids, 2-Pack", "Tamper Tool", "Blade Assembly"),
            ),
            _PT(
                "Cast Iron Skillet",
                "Cookware",
                "Cookware Accessories",
                ("10-Inch", "12-Inch", "8-Inch"),
                ("Silicone Handle Cover", "Seasoning Oil, 8 oz", "Tempered Glass Lid", "Chain Mail Scrubber"),
            ),
            _PT(
                "Air Fryer",
                "Small Appliances",
                "Small Appliance Accessories",
                ("5.8-Quart, Black", "3.7-Quart, White", "8-Quart, Dual Basket"),
                (
                    "Parchment Liners, 100-Count",
                    "Baking Pan",
                    "Silicone Pot",
                    "Skewer Rack Set",
                ),
            ),
        ),
    ),
    DomainSpec(
        "Home_Office",
        "HO",
        (
            _PT(
                "Ergonomic Office Chair",
                "Office Chairs",
                "Chair Accessories",
                ("Mesh, Black", "Fabric, Grey", "Mesh, White"),
                (
                    "Seat Cushion",
                    "Replacement Casters, 5-Pack",
                    "Headrest Attachment",
                    "Lumbar Support Pillow",
                ),
            ),
            _PT(
                "Electric Standing Desk",
                "Desks",
                "Desk Accessories",
                ("48 x 30 Inch, Walnut", "55 x 28 Inch, White", "60 x 30 Inch, Black"),
                ("Cable Management Tray", "Anti-Fatigue Mat", "Clamp-On Power Strip", "Under-Desk Drawer"),
            ),
            _PT(
                "Dual Monitor Arm",
                "Monitor Mounts",
                "Monitor Mount Accessories",
                ("Black", "Silver", "White"),
                ("VESA Adapter Plate", "Laptop Tray", "Grommet Mount Kit", "Cable Covers, 4-Pack"),
            ),
            _PT(
                "LED Desk Lamp",
                "Lighting",
                "Lighting Accessories",
                ("Black", "White", "Brushed Brass"),
                ("Replacement LED Panel", "Desk Clamp Mount", "USB-C Power Adapter", "Diffuser Shade"),
            ),
            _PT(
                "Mechanical Keyboard",
                "Keyboards",
                "Keyboard Accessories",
                ("Brown Switches", "Red Switches", "Blue Switches, Tenkeyless"),
                ("Wrist Rest", "PBT Keycap Set", "Coiled USB-C Cable", "Keycap Puller &amp; Switch Tool"),
            ),
            _PT(
                "Wireless Mouse",
                "Mice",
                "Mouse Accessories",
                ("Graphite", "Pale Grey", "Rose"),
                ("Mouse Pad, Extended", "USB Receiver", "Replacement Skates, 2-Pack", "Travel Pouch"),
            ),
            _PT(
                "Cross-Cut Paper Shredder",
                "Shredders",
                "Shredder Accessories",
                ("12-Sheet", "8-Sheet", "16-Sheet, Auto Feed"),
                (
                    "Shredder Oil, 12 oz",
                    "Shredder Bags, 100-Count",
                    "Sharpening Sheets, 12-Pack",
                    "Caster Set",
                ),
            ),
        ),
    ),
)

#: Names of the built-in domains, in their fixed order.
DOMAINS: tuple[str, ...] = tuple(spec.name for spec in _DOMAIN_SPECS)
_SPEC = {spec.name: spec for spec in _DOMAIN_SPECS}

#: Invented brands (one word each, so a title's first two words name its series) and their tiers.
_BRANDS: tuple[tuple[str, str], ...] = (
    ("Brisa", "budget"),
    ("Corvane", "budget"),
    ("Tavira", "budget"),
    ("Quorra", "budget"),
    ("Pellion", "budget"),
    ("Kestrel", "mid"),
    ("Northvale", "mid"),
    ("Halden", "mid"),
    ("Lumio", "mid"),
    ("Marlow", "mid"),
    ("Oakhurst", "mid"),
    ("Aurelio", "premium"),
    ("Solvane", "premium"),
    ("Veltra", "premium"),
    ("Wrenfield", "premium"),
    ("Ysolde", "premium"),
)

_SERIES_WORDS = (
    "Summit", "Apex", "Vista", "Nova", "Pulse", "Orbit", "Drift", "Crest", "Echo", "Flux", "Atlas",
    "Terra", "Aero", "Halo", "Prism", "Strata", "Vector", "Vantage", "Luma", "Forge", "Ember", "Glide",
    "Ridge", "Sierra", "Tempo", "Arc", "Onyx", "Cirrus", "Nimbus", "Zephyr", "Fjord", "Alto", "Canyon",
    "Comet", "Delta", "Element", "Harbor", "Horizon", "Juniper", "Meridian", "Monarch", "Pinnacle",
    "Quest", "Radius", "Sequoia", "Solstice", "Tundra", "Voyager",
)  # fmt: skip

_MODEL_STYLES = ("{n}", "S{n}", "{n}00", "X{n}", "Mk{n}")


@dataclass(frozen=True)
class _Catalogue:
    """One domain's catalogue, as parallel arrays over item index (before ids are assigned)."""

    titles: list[str]
    brand: np.ndarray  # int, index into _BRANDS
    category: list[str]
    series: np.ndarray  # int, series index within the domain
    model: np.ndarray  # int, model index within the domain
    is_main: np.ndarray  # bool
    popularity: np.ndarray  # float, sums to 1


def _brand_domains(seed: int) -> np.ndarray:
    """Boolean [n_brands, n_domains]: which brand sells in which built-in domain.

    Each brand is in 2-4 domains; every domain gets 10-14 brands with at least two of every tier.
    """
    rng = np.random.default_rng(seed)
    n_b, n_d = len(_BRANDS), len(_DOMAIN_SPECS)
    tiers = np.array([PRICE_TIERS.index(t) for _, t in _BRANDS])
    for _ in range(1000):
        member = np.zeros((n_b, n_d), dtype=bool)
        counts = rng.choice([2, 3, 4], size=n_b, p=[0.3, 0.45, 0.25])
        for b in range(n_b):
            member[b, rng.choice(n_d, size=counts[b], replace=False)] = True
        per_domain = member.sum(axis=0)
        per_tier = np.stack([member[tiers == t].sum(axis=0) for t in range(len(PRICE_TIERS))])
        if per_domain.min() >= 10 and per_domain.max() <= 14 and per_tier.min() >= 2:
            return member
    raise RuntimeError("could not draw a valid brand-domain assignment")  # pragma: no cover


def _brand_series_words(seed: int) -> np.ndarray:
    """Series names [n_brands, n_domains, 4]: each brand's names are distinct across all its domains."""
    rng = np.random.default_rng([seed, 1000])
    n_d = len(_DOMAIN_SPECS)
    words = [rng.choice(_SERIES_WORDS, size=4 * n_d, replace=False) for _ in _BRANDS]
    return np.stack(words).reshape(len(_BRANDS), n_d, 4)


def _build_catalogue(
    spec: DomainSpec, brands: np.ndarray, series_words: np.ndarray, rng: np.random.Generator
) -> _Catalogue:
    """Draw the brands' series, models and variants of one domain, and a long-tailed popularity."""
    titles: list[str] = []
    brand_of: list[int] = []
    category: list[str] = []
    series_of: list[int] = []
    model_of: list[int] = []
    main_of: list[bool] = []
    n_series = n_models = 0
    for b in brands:
        name = _BRANDS[b][0]
        style = _MODEL_STYLES[rng.integers(len(_MODEL_STYLES))]
        k = int(rng.choice([3, 4], p=[0.4, 0.6]))
        types = rng.choice(len(spec.product_types), size=k, replace=False)
        for j, t in enumerate(types):
            pt = spec.product_types[t]
            series_name = series_words[b, j]
            n_gen = int(rng.choice([1, 2, 3], p=[0.25, 0.4, 0.35]))
            first = int(rng.integers(1, 8))
            for g in range(n_gen):
                stem = f"{name} {series_name} {style.format(n=first + g)}"
                n_var = int(rng.choice([1, 2, 3], p=[0.4, 0.35, 0.25]))
                for v in rng.choice(len(pt.variants), size=n_var, replace=False):
                    titles.append(f"{stem} {pt.name}, {pt.variants[v]}")
                    category.append(pt.category)
                    main_of.append(True)
                n_acc = int(rng.choice([2, 3, 4], p=[0.3, 0.4, 0.3]))
                for a in np.sort(rng.choice(len(pt.accessories), size=n_acc, replace=False)):
                    titles.append(f"{stem} {pt.accessories[a]}")
                    category.append(pt.accessory_category)
                    main_of.append(False)
                added = n_var + n_acc
                brand_of += [int(b)] * added
                series_of += [n_series] * added
                model_of += [n_models] * added
                n_models += 1
            n_series += 1
    series = np.array(series_of)
    is_main = np.array(main_of)
    # Zipf-like popularity: series ranked at random, weight ~ rank**-0.9; items vary around their series,
    # main products outsell accessories; a floor keeps every item in reach of random purchases.
    series_weight = (1.0 + rng.permutation(n_series)) ** -_ZIPF_EXPONENT
    item_weight = series_weight[series] * rng.lognormal(0.0, _ITEM_SIGMA, size=len(titles))
    item_weight *= np.where(is_main, 1.0, 0.5)
    item_weight += _POP_FLOOR * item_weight.mean()
    return _Catalogue(
        titles=titles,
        brand=np.array(brand_of),
        category=category,
        series=series,
        model=np.array(model_of),
        is_main=is_main,
        popularity=item_weight / item_weight.sum(),
    )


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
    cat = _build_catalogue(spec, brands, series_words[:, k], rng)
    n_items = len(cat.titles)
    pop = cat.popularity
    tiers = np.array([PRICE_TIERS.index(_BRANDS[b][1]) for b in brands])  # per local brand
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
            "brand": [_BRANDS[b][0] for b in cat.brand],
            "category": cat.category,
            "price_tier": [_BRANDS[b][1] for b in cat.brand],
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
    member = _brand_domains(seed)
    series_words = _brand_series_words(seed)
    frames = {
        d: _domain_frames(_SPEC[d], DOMAINS.index(d), seed, users_per_domain, member, series_words) for d in names
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


def pattern_stats(interactions: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Per domain, how strongly the built-in patterns show in a (generated or loaded) log.

    Works on the public columns only: a title's first two words are its brand and series, its first
    three its brand, series and model; items whose category ends in "Accessories" are accessories.
    Columns: users, items, interactions, mean_length, accessory_after_main (share of purchases right
    after a main product that are one of its accessories), same_series_next and its chance level
    (two independent purchases sharing a series), same_brand_next, tier_consistency (mean share of a
    user's purchases in their most frequent price tier), top10_item_share (share of purchases that
    go to the 10 most popular items).
    """
    meta = items.set_index(["domain", "item_id"])
    words = meta["title"].str.split(" ", n=3)
    series = words.str[:2].str.join(" ")
    model = words.str[:3].str.join(" ")
    is_acc = meta["category"].str.endswith("Accessories")
    key = pd.MultiIndex.from_frame(interactions[["domain", "item_id"]])
    df = pd.DataFrame(
        {
            "domain": interactions["domain"].to_numpy(),
            "user": interactions["user_id"].to_numpy(),
            "series": series.reindex(key).to_numpy(),
            "model": model.reindex(key).to_numpy(),
            "brand": meta["brand"].reindex(key).to_numpy(),
            "tier": meta["price_tier"].reindex(key).to_numpy(),
            "acc": is_acc.reindex(key).to_numpy(dtype=bool),
            "item": interactions["item_id"].to_numpy(),
        }
    )
    prev = df.shift(1)
    same_user = (df["user"] == prev["user"]) & (df["domain"] == prev["domain"])
    after_main = same_user & ~df["acc"].shift(1, fill_value=True)
    rows = []
    for name, g in df.groupby("domain", sort=False):
        su, am = same_user[g.index], after_main[g.index]
        p_series = g["series"].value_counts(normalize=True)
        tier_share = g.groupby("user")["tier"].agg(lambda s: s.value_counts(normalize=True).iloc[0])
        counts = g["item"].value_counts()
        rows.append(
            {
                "domain": name,
                "users": g["user"].nunique(),
                "items": int((items["domain"] == name).sum()),
                "interactions": len(g),
                "mean_length": len(g) / g["user"].nunique(),
                "accessory_after_main": float((g["acc"] & (g["model"] == prev["model"][g.index]))[am].mean()),
                "same_series_next": float((g["series"] == prev["series"][g.index])[su].mean()),
                "same_series_chance": float((p_series**2).sum()),
                "same_brand_next": float((g["brand"] == prev["brand"][g.index])[su].mean()),
                "tier_consistency": float(tier_share.mean()),
                "top10_item_share": float(counts.iloc[:10].sum() / len(g)),
            }
        )
    return pd.DataFrame(rows).set_index("domain")


def render_readme(interactions_csv: str | Path, items_csv: str | Path, seed: int, users_per_domain: int) -> str:
    """Markdown description of written sample data; every count is measured from the two CSV files."""
    inter = pd.read_csv(interactions_csv, dtype=str, keep_default_na=False)
    items = pd.read_csv(items_csv, dtype=str, keep_default_na=False)
    stats = pattern_stats(inter, items)
    mb = {p: Path(p).stat().st_size / 1e6 for p in (interactions_csv, items_csv)}
    brand_domains = items.groupby("brand")["domain"].nunique()
    n_entities = int(items["title"].str.contains("&amp;", regex=False).sum())
    min_bought = int(inter.groupby(["domain", "item_id"]).size().min())
    n_users = inter["user_id"].nunique()
    lines = [
        "# Sample data (synthetic)",
        "",
        f"Synthetic purchase logs in {len(stats)} product domains, made by the seeded generator",
        f"`xcross_core/data/synthetic.py` (seed {seed}, {users_per_domain} users per domain). No real people,",
        "products or brands: every name is invented. Regenerate (byte-identical) with",
        "",
        "```bash",
        f"python -m xcross_core.data.synthetic --out sample_data --seed {seed} --users {users_per_domain}",
        "```",
        "",
        "`tests/test_synthetic.py` checks that the committed CSV files equal the generator's output.",
        "",
        "## Files",
        "",
        f"- `interactions.csv` ({mb[interactions_csv]:.2f} MB): `user_id,item_id,timestamp,domain`, one row per",
        "  purchase, sorted by domain, user and date. `timestamp` is an ISO date (`YYYY-MM-DD`), strictly",
        "  increasing within a user, so a user's order is unambiguous. Titles are not inline.",
        f"- `items.csv` ({mb[items_csv]:.2f} MB): `item_id,title,brand,category,price_tier,domain`, the whole",
        "  catalogue of every domain (every interaction's item is here, with the same domain). `price_tier`",
        "  is one of `budget`, `mid`, `premium` and is a property of the brand. Accessories have a category",
        '  ending in "Accessories".',
        "",
        "Ids carry a domain prefix (`EL-U00042`, `EL-I0137`): no user or item is shared between domains, so",
        "knowledge can only transfer through item text.",
        "",
        "## Domains",
        "",
        "| domain | users | items | interactions | mean purchases per user |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in stats.itertuples():
        lines.append(f"| {r.Index} | {r.users:,} | {r.items:,} | {r.interactions:,} | {r.mean_length:.2f} |")
    lines += [
        f"| **total** | {n_users:,} | {len(items):,} | {len(inter):,} | {len(inter) / n_users:.2f} |",
        "",
        "Each user buys 5-20 items, skewed towards short sequences as in 5-core data. Item popularity is",
        f"long-tailed (Zipf-like over product series), yet every catalogue item is bought at least {min_bought}",
        "times.",
        "",
        "## Patterns built in",
        "",
        f"1. **Shared brands.** {len(brand_domains)} invented brands, each selling in "
        f"{brand_domains.min()}-{brand_domains.max()} domains with one",
        "   price tier everywhere. Users have 1-3 favourite brands and keep buying them.",
        "2. **Product series.** Titles read `<Brand> <Series> <Model> <Product type>, <variant>`, e.g.",
        f'   "{_example_title(items, main=True)}"; buyers of a series tend to buy more of it.',
        "3. **Accessory after main item.** Accessories repeat the main product's brand, series and model,",
        f'   e.g. "{_example_title(items, main=False)}"; right after a main product the next purchase is',
        f"   one of its accessories with probability {P_ACCESSORY}.",
        "4. **Price-tier consistency.** Users have a latent preferred tier and favourite brands mostly of",
        "   that tier, so premium buyers mostly buy premium brands.",
        "",
        f"Noise: apart from accessory purchases, {P_NOISE:.0%} of purchases are random draws from item popularity,",
        "so most-popular is a meaningful but beatable baseline. As in real catalogue data, a handful of",
        f"titles ({n_entities}) contain the HTML entity `&amp;`; the loader decodes it.",
        "",
        "Measured in these files (next = the same user's following purchase; chance = two independent",
        "purchases of the domain sharing a series):",
        "",
        "| domain | accessory after main | same series next (chance) | same brand next | tier consistency "
        "| top-10 items' share |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in stats.itertuples():
        lines.append(
            f"| {r.Index} | {r.accessory_after_main:.2f} | {r.same_series_next:.2f} ({r.same_series_chance:.3f}) "
            f"| {r.same_brand_next:.2f} | {r.tier_consistency:.2f} | {r.top10_item_share:.2f} |"
        )
    lines += [
        "",
        "Tier consistency is the mean share of a user's purchases that fall in their most frequent tier.",
        "",
    ]
    return "\n".join(lines)


def _example_title(items: pd.DataFrame, main: bool) -> str:
    """A readable example title: the first main product (or an accessory of it) of the first domain."""
    acc = items["category"].str.endswith("Accessories")
    clean = ~items["title"].str.contains("&", regex=False)
    first_main = items.loc[~acc & clean, "title"].iloc[0]
    if main:
        return first_main
    stem = " ".join(first_main.split(" ")[:3]) + " "
    return items.loc[acc & clean & items["title"].str.startswith(stem), "title"].iloc[0]


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m xcross_core.data.synthetic --out sample_data [--seed S] [--users N]``.

    Writes interactions.csv, items.csv and a README.md describing them into ``--out``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m xcross_core.data.synthetic",
        description="Write seeded synthetic multi-domain purchase logs (interactions.csv, items.csv, README.md).",
    )
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--users", type=int, default=2000, help="users per domain (default 2000)")
    parser.add_argument("--no-readme", action="store_true", help="do not write README.md")
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users must be at least 1")
    inter_path, items_path = write_sample_data(args.out, seed=args.seed, users_per_domain=args.users)
    if not args.no_readme:
        readme = render_readme(inter_path, items_path, args.seed, args.users)
        (Path(args.out) / "README.md").write_text(readme, encoding="utf-8")
    print(f"wrote {inter_path} and {items_path}" + ("" if args.no_readme else " and README.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
