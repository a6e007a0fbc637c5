"""One domain's catalogue: which brands sell in it, their series and models, and item popularity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tools.synthetic.domains import BRANDS, DOMAIN_SPECS, MODEL_STYLES, PRICE_TIERS, SERIES_WORDS, DomainSpec

# Item popularity: series weight ~ rank**-_ZIPF_EXPONENT, times a log-normal item factor, plus a floor.
_ZIPF_EXPONENT = 0.9
_ITEM_SIGMA = 0.5
_POP_FLOOR = 0.15


@dataclass(frozen=True)
class Catalogue:
    """One domain's catalogue, as parallel arrays over item index (before ids are assigned)."""

    titles: list[str]
    brand: np.ndarray  # int, index into BRANDS
    category: list[str]
    series: np.ndarray  # int, series index within the domain
    model: np.ndarray  # int, model index within the domain
    is_main: np.ndarray  # bool
    popularity: np.ndarray  # float, sums to 1


def brand_domains(seed: int) -> np.ndarray:
    """Boolean [n_brands, n_domains]: which brand sells in which built-in domain.

    Each brand is in 2-4 domains; every domain gets 10-14 brands with at least two of every tier.
    """
    rng = np.random.default_rng(seed)
    n_b, n_d = len(BRANDS), len(DOMAIN_SPECS)
    tiers = np.array([PRICE_TIERS.index(t) for _, t in BRANDS])
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


def brand_series_words(seed: int) -> np.ndarray:
    """Series names [n_brands, n_domains, 4]: each brand's names are distinct across all its domains."""
    rng = np.random.default_rng([seed, 1000])
    n_d = len(DOMAIN_SPECS)
    words = [rng.choice(SERIES_WORDS, size=4 * n_d, replace=False) for _ in BRANDS]
    return np.stack(words).reshape(len(BRANDS), n_d, 4)


def build_catalogue(
    spec: DomainSpec, brands: np.ndarray, series_words: np.ndarray, rng: np.random.Generator
) -> Catalogue:
    """Draw the brands' series, models and variants of one domain, and a long-tailed popularity."""
    titles: list[str] = []
    brand_of: list[int] = []
    category: list[str] = []
    series_of: list[int] = []
    model_of: list[int] = []
    main_of: list[bool] = []
    n_series = n_models = 0
    for b in brands:
        name = BRANDS[b][0]
        style = MODEL_STYLES[rng.integers(len(MODEL_STYLES))]
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
    return Catalogue(
        titles=titles,
        brand=np.array(brand_of),
        category=category,
        series=series,
        model=np.array(model_of),
        is_main=is_main,
        popularity=item_weight / item_weight.sum(),
    )
