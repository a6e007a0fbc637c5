"""Seeded synthetic multi-domain purchase logs whose structure makes cross-domain transfer through text real.

The sample data in `sample_data/` is produced by this package with its defaults (run from the
repository root)::

    python -m tools.synthetic --out sample_data

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

Modules: `domains` (the built-in domains, brands and title words), `catalogue` (each domain's items and
popularity), `generate` (purchase sequences, the frames and the CSV files), `describe` (pattern
statistics and the sample data's README), `cli` (the command line).

The generator is a development tool, not part of the `xcross_core` library: only the tests and the
sample-data rebuild use it.
"""
