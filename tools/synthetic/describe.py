"""How strongly the built-in patterns show in a purchase log, and the sample data's README."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tools.synthetic.generate import P_ACCESSORY, P_NOISE


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
        f"`tools/synthetic/` (seed {seed}, {users_per_domain} users per domain). No real people, products",
        "or brands: every name is invented. Regenerate (byte-identical) from the repository root with",
        "",
        "```bash",
        f"python -m tools.synthetic --out sample_data --seed {seed} --users {users_per_domain}",
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
