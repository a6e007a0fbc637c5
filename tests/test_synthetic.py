"""Tests of the seeded synthetic data generator and of the committed sample data it produced."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tools.synthetic.cli import main
from tools.synthetic.describe import pattern_stats
from tools.synthetic.domains import DOMAINS, PRICE_TIERS
from tools.synthetic.generate import INTERACTION_COLUMNS, ITEM_COLUMNS, generate, write_sample_data

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"
SMALL = 200  # users per domain in the fast tests


@pytest.fixture(scope="module")
def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate(seed=11, users_per_domain=SMALL)


@pytest.fixture(scope="module")
def joined(small: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """Interactions with their item attributes and the previous purchase of the same user."""
    inter, items = small
    df = inter.merge(items, on=["item_id", "domain"], how="left", validate="many_to_one")
    words = df["title"].str.split(" ")
    df["series"] = words.str[:2].str.join(" ")
    df["model"] = words.str[:3].str.join(" ")
    df["accessory"] = df["category"].str.endswith("Accessories")
    df["has_prev"] = df["user_id"].eq(df["user_id"].shift())
    for col in ("series", "model", "accessory", "price_tier", "brand"):
        df[f"prev_{col}"] = df[col].shift()
    return df


def test_same_seed_same_frames_different_seed_different() -> None:
    a_inter, a_items = generate(seed=3, users_per_domain=60)
    b_inter, b_items = generate(seed=3, users_per_domain=60)
    pd.testing.assert_frame_equal(a_inter, b_inter)
    pd.testing.assert_frame_equal(a_items, b_items)
    c_inter, c_items = generate(seed=4, users_per_domain=60)
    assert not a_inter.equals(c_inter)
    assert not a_items.equals(c_items)


def test_columns_and_string_values(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    inter, items = small
    assert tuple(inter.columns) == INTERACTION_COLUMNS == ("user_id", "item_id", "timestamp", "domain")
    assert tuple(items.columns) == ITEM_COLUMNS == ("item_id", "title", "brand", "category", "price_tier", "domain")
    for frame in (inter, items):
        assert not frame.isna().any().any()
        assert all(isinstance(v, str) for v in frame.iloc[0])
    assert set(items["price_tier"]) == set(PRICE_TIERS)
    assert items["item_id"].is_unique


def test_domains_and_sizes(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    inter, items = small
    assert len(DOMAINS) >= 4
    assert list(inter["domain"].unique()) == list(DOMAINS) == list(items["domain"].unique())
    assert all(re.fullmatch(r"[A-Za-z_]+", d) for d in DOMAINS)
    assert (inter.groupby("domain")["user_id"].nunique() == SMALL).all()
    assert items.groupby("domain").size().between(300, 600).all()
    lengths = inter.groupby("user_id").size()
    assert lengths.min() >= 5 and lengths.max() <= 20
    assert 6.5 <= lengths.mean() <= 8.5
    assert lengths.median() < lengths.mean()  # skewed towards short sequences


def test_no_ids_shared_across_domains(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    inter, items = small
    assert (inter.groupby("user_id")["domain"].nunique() == 1).all()
    assert (items.groupby("item_id")["domain"].nunique() == 1).all()
    for frame, col in ((inter, "user_id"), (items, "item_id")):
        prefixes = frame[col].str.split("-").str[0]
        assert (prefixes.groupby(frame["domain"]).nunique() == 1).all()
        assert prefixes.groupby(frame["domain"]).first().is_unique


def test_every_interaction_item_is_in_the_catalogue_of_its_domain(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    inter, items = small
    merged = inter.merge(items[["item_id", "domain"]], on="item_id", how="left", suffixes=("", "_item"))
    assert merged["domain_item"].notna().all()
    assert (merged["domain"] == merged["domain_item"]).all()


def test_timestamps_are_iso_dates_strictly_increasing_per_user(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    inter, _ = small
    assert inter["timestamp"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    dates = pd.to_datetime(inter["timestamp"], format="%Y-%m-%d")
    assert dates.min() >= pd.Timestamp("2015-01-01") and dates.max() <= pd.Timestamp("2025-12-31")
    same_user = inter["user_id"].eq(inter["user_id"].shift())
    assert (dates.diff()[same_user] > pd.Timedelta(0)).all()
    # rows of a user are contiguous, and nobody buys the same item twice
    assert inter["user_id"].ne(inter["user_id"].shift()).sum() == inter["user_id"].nunique()
    assert not inter.duplicated(["user_id", "item_id"]).any()


def test_brands_shared_across_domains_with_one_tier(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, items = small
    assert (items.groupby("brand")["price_tier"].nunique() == 1).all()
    domains_per_brand = items.groupby("brand")["domain"].nunique()
    assert 12 <= len(domains_per_brand) <= 20
    assert domains_per_brand.min() >= 2
    # every domain has every tier
    assert (items.groupby("domain")["price_tier"].nunique() == len(PRICE_TIERS)).all()


def test_titles_follow_brand_series_model_pattern(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, items = small
    assert (items["title"].str.split(" ").str[0] == items["brand"]).all()
    assert items["title"].str.contains("&amp;", regex=False).sum() >= 3
    accessory = items["category"].str.endswith("Accessories")
    assert 0.3 < accessory.mean() < 0.8
    # every accessory's brand+series+model stem names a main product of the same domain
    stem = items["title"].str.split(" ").str[:3].str.join(" ")
    main_stems = set(zip(items.loc[~accessory, "domain"], stem[~accessory], strict=True))
    assert all(k in main_stems for k in zip(items.loc[accessory, "domain"], stem[accessory], strict=True))


def test_accessory_after_main_and_series_patterns(joined: pd.DataFrame) -> None:
    df = joined[joined["has_prev"]]
    for _, g in df.groupby("domain"):
        same_series = (g["series"] == g["prev_series"]).mean()
        chance = (g["series"].value_counts(normalize=True) ** 2).sum()
        assert same_series > 0.3 and same_series > 5 * chance
        after_main = g[g["prev_accessory"] == False]  # noqa: E712 - object column after shift
        own_accessory = (after_main["accessory"] & (after_main["model"] == after_main["prev_model"])).mean()
        assert 0.4 < own_accessory < 0.7


def test_price_tier_consistency_and_brand_loyalty(joined: pd.DataFrame) -> None:
    df = joined[joined["has_prev"]]
    same_tier = (df["price_tier"] == df["prev_price_tier"]).mean()
    tier_chance = (df["price_tier"].value_counts(normalize=True) ** 2).sum()
    assert same_tier > tier_chance + 0.2
    same_brand = (df["brand"] == df["prev_brand"]).mean()
    brand_chance = (df["brand"].value_counts(normalize=True) ** 2).sum()
    assert same_brand > 4 * brand_chance


def test_subset_of_domains_gives_the_same_rows() -> None:
    full_inter, full_items = generate(seed=5, users_per_domain=40)
    inter, items = generate(seed=5, users_per_domain=40, domains=["Kitchen", "Electronics"])
    assert list(inter["domain"].unique()) == ["Kitchen", "Electronics"]
    for d in ("Kitchen", "Electronics"):
        pd.testing.assert_frame_equal(
            inter[inter["domain"] == d].reset_index(drop=True),
            full_inter[full_inter["domain"] == d].reset_index(drop=True),
        )
        pd.testing.assert_frame_equal(
            items[items["domain"] == d].reset_index(drop=True),
            full_items[full_items["domain"] == d].reset_index(drop=True),
        )


@pytest.mark.parametrize("domains", [["Toys"], [], ["Sports", "Sports"]])
def test_bad_domains_are_rejected(domains: list[str]) -> None:
    with pytest.raises(ValueError, match="domains"):
        generate(users_per_domain=5, domains=domains)


def test_write_sample_data_and_cli_round_trip(tmp_path: Path) -> None:
    inter_path, items_path = write_sample_data(tmp_path / "a", seed=2, users_per_domain=30)
    assert (inter_path.name, items_path.name) == ("interactions.csv", "items.csv")
    inter, items = generate(seed=2, users_per_domain=30)
    pd.testing.assert_frame_equal(pd.read_csv(inter_path, dtype=str, keep_default_na=False), inter.astype(str))
    pd.testing.assert_frame_equal(pd.read_csv(items_path, dtype=str, keep_default_na=False), items.astype(str))
    assert main(["--out", str(tmp_path / "b"), "--seed", "2", "--users", "30"]) == 0
    for name in ("interactions.csv", "items.csv"):
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()
    readme = (tmp_path / "b" / "README.md").read_text(encoding="utf-8")
    assert "--seed 2 --users 30" in readme and "Home_Office" in readme


def test_committed_sample_data_equals_generator_defaults() -> None:
    inter, items = generate()
    committed_inter = pd.read_csv(SAMPLE_DIR / "interactions.csv", dtype=str, keep_default_na=False)
    committed_items = pd.read_csv(SAMPLE_DIR / "items.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(committed_inter, inter.astype(str))
    pd.testing.assert_frame_equal(committed_items, items.astype(str))
    size = sum((SAMPLE_DIR / n).stat().st_size for n in ("interactions.csv", "items.csv"))
    assert size <= 4_000_000
    # at full size every catalogue item is bought at least a few times, popularity is long-tailed
    counts = inter.groupby(["domain", "item_id"]).size()
    assert len(counts) == len(items) and counts.min() >= 5
    assert np.percentile(counts, 99) > 5 * counts.median()
    readme = (SAMPLE_DIR / "README.md").read_text(encoding="utf-8")
    assert f"| **total** | {inter['user_id'].nunique():,} | {len(items):,} | {len(inter):,} |" in readme


def test_pattern_stats_summarises_each_domain(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    stats = pattern_stats(*small)
    assert list(stats.index) == list(DOMAINS)
    assert (stats["users"] == SMALL).all()
    assert (stats["same_series_next"] > 5 * stats["same_series_chance"]).all()
