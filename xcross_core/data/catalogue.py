"""The item catalogue: the item file's rows, each item's title, and the final item frame.

An item is identified by (domain, item_id). Its title comes from the item file first, then from the
interaction file's inline titles; the item file's other columns (brand, category, ...) are attributes
that become part of the item's text. Repeated or unusable item-file rows are reported, not dropped
silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xcross_core.data.clean import Issues, clean_text, dropped_rows, flag_characters
from xcross_core.data.dataset import ITEM_COLUMNS
from xcross_core.data.read import Table
from xcross_core.data.report import empty_dropped


@dataclass
class Catalogue:
    """The item file, cleaned. `items` holds the rows kept (first of any duplicates), with `_pos`, the
    row's position in the file, so that later checks can still flag it."""

    name: str
    items: pd.DataFrame  # item_id, [domain], title, attribute columns, _pos
    attributes: list[str]
    has_domain: bool
    raw: pd.DataFrame  # original values, for the dropped report
    rows: np.ndarray
    issues: Issues

    @property
    def key(self) -> list[str]:
        """What identifies an item in this file."""
        return ["domain", "item_id"] if self.has_domain else ["item_id"]


def build_catalogue(table: Table, name: str) -> Catalogue:
    """Clean the item file `name`, read as text (`read_table`) with our column names.

    item_id and title are required, domain is optional, other columns are attributes.
    """
    raw, rows = table.frame, table.rows
    has_domain = "domain" in raw
    # user_id and timestamp are ours but say nothing about an item; every other column is item text,
    # except the empty, unnamed columns that a trailing separator leaves behind.
    ours = {"item_id", "title", "domain", "user_id", "timestamp"}
    blank = [c for c in raw.columns if str(c).startswith("Unnamed: ") and raw[c].str.strip().eq("").all()]
    attributes = [c for c in raw.columns if c not in ours and c not in blank]
    items = pd.DataFrame({"item_id": raw["item_id"].str.strip()})
    if has_domain:
        items["domain"] = raw["domain"].str.strip()
    items["title"] = clean_text(raw["title"])
    for column in attributes:
        items[column] = clean_text(raw[column])
    # Our item frame has its own `text` column; a user's column of that name keeps its content.
    items = items.rename(columns={"text": "text_attribute"})
    attributes = ["text_attribute" if column == "text" else column for column in attributes]
    items["_pos"] = np.arange(len(items))

    issues = Issues(len(items))
    issues.flag(table.check != "", table.check, table.reason, severity="warning")
    flag_characters(raw, issues, severity="warning")
    issues.flag(items["item_id"].eq("").to_numpy(), "empty_item_id", "empty item_id", severity="warning")
    if has_domain:
        issues.flag(items["domain"].eq("").to_numpy(), "empty_domain", "empty domain", severity="warning")
    catalogue = Catalogue(name, items, attributes, has_domain, raw, rows, issues)
    live = items[~issues.bad]
    repeat = live.duplicated(catalogue.key, keep="first")
    if repeat.any():
        first = live[~repeat].set_index(catalogue.key)[["_pos", "title"]]
        later = live[repeat].join(first, on=catalogue.key, suffixes=("", "_first"))
        first_row = pd.Series(rows[later["_pos_first"].to_numpy()], index=later.index).astype("str")
        reason = ("duplicate of row " + first_row).where(
            later["title"] == later["title_first"],
            "item '" + later["item_id"] + "' listed again with a different title (row " + first_row + " kept)",
        )
        issues.flag_at(later["_pos"], "duplicate_item", reason.to_numpy(), severity="warning")
    catalogue.items = items[~issues.bad]
    return catalogue


def item_titles(frame: pd.DataFrame, catalogue: Catalogue | None, name: str) -> tuple[pd.DataFrame, list[str]]:
    """One row per (domain, item_id) in `frame`, with `item_title`: the item file's, else the first
    non-empty inline title ("" if neither)."""
    warnings = []
    inline = frame.loc[frame["title"] != "", ["domain", "item_id", "title"]]
    distinct = inline.drop_duplicates()
    several = distinct[distinct.duplicated(["domain", "item_id"])]
    if len(several):
        n = len(several[["domain", "item_id"]].drop_duplicates())
        warnings.append(
            f"{name}: {n} item{'s have' if n > 1 else ' has'} different titles on different rows "
            f"(e.g. {several['item_id'].iloc[0]!r}); the first title is used"
        )
    pairs = frame[["domain", "item_id"]].drop_duplicates()
    pairs = pairs.merge(inline.drop_duplicates(["domain", "item_id"]), on=["domain", "item_id"], how="left")
    pairs = pairs.rename(columns={"title": "item_title"})
    pairs["item_title"] = pairs["item_title"].fillna("").astype("str")
    if catalogue is None:
        return pairs, warnings
    listed = catalogue.items[[*catalogue.key, "title"]].rename(columns={"title": "file_title"})
    pairs = pairs.merge(listed, on=catalogue.key, how="left")
    unlisted = pairs["file_title"].isna()
    if unlisted.any():
        n = int(unlisted.sum())
        warnings.append(
            f"{n} item{'s' if n > 1 else ''} of {name} {'are' if n > 1 else 'is'} not in {catalogue.name} "
            f"(e.g. {pairs.loc[unlisted, 'item_id'].iloc[0]!r}); their titles come from {name} if it has any"
        )
    file_title = pairs.pop("file_title").fillna("").astype("str")
    pairs["item_title"] = file_title.where(file_title != "", pairs["item_title"])
    return pairs, warnings


def build_items(
    clean: pd.DataFrame, titles: pd.DataFrame, catalogue: Catalogue | None, name: str
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The item frame (ITEM_COLUMNS + attributes), the item-file rows left out of it, and warnings.

    It holds every item bought in `clean`, plus the item file's unbought items of the same domains
    (they belong to the catalogue and can be recommended).
    """
    bought = clean[["domain", "item_id"]].drop_duplicates()
    items = bought.merge(titles, on=["domain", "item_id"], how="left").rename(columns={"item_title": "title"})
    if catalogue is None:
        items["text"] = items["title"]
        return _tidy_items(items, []), empty_dropped(), []

    listed, attributes, issues = catalogue.items, catalogue.attributes, catalogue.issues
    items = items.merge(listed[[*catalogue.key, *attributes]], on=catalogue.key, how="left")
    if catalogue.has_domain:
        unbought = listed.merge(bought, on=["domain", "item_id"], how="left", indicator=True)
        unbought = unbought[unbought["_merge"] == "left_only"]
        other_domain = ~unbought["domain"].isin(set(clean["domain"]))
        issues.flag_at(
            unbought.loc[other_domain, "_pos"],
            "unused_item",
            ("no usable purchases in domain '" + unbought.loc[other_domain, "domain"] + "'").to_numpy(),
            severity="warning",
        )
        untitled = ~other_domain & unbought["title"].eq("")
        issues.flag_at(
            unbought.loc[untitled, "_pos"],
            "empty_title",
            ("empty title for item '" + unbought.loc[untitled, "item_id"] + "'").to_numpy(),
            severity="warning",
        )
        extra = unbought[~other_domain & ~untitled]
        items = pd.concat([items, extra[["domain", "item_id", "title", *attributes]]], ignore_index=True)
    else:
        # Without a domain column an item's domain comes from its purchases; an unbought one has none.
        never = listed[~listed["item_id"].isin(set(titles["item_id"]))]
        issues.flag_at(
            never["_pos"],
            "unused_item",
            f"item never appears in {name} (and the item file has no domain column)",
            severity="warning",
        )
    dropped = dropped_rows(catalogue.name, catalogue.raw, catalogue.rows, issues)
    warnings = []
    unused = int((dropped["check"] == "unused_item").sum())
    if unused:
        warnings.append(
            f"{catalogue.name}: {unused} listed item{'s' if unused > 1 else ''} left out, "
            f"because {name} has no usable purchases in {'their domains' if catalogue.has_domain else 'them'}"
        )
    for column in attributes:
        items[column] = items[column].fillna("").astype("str")
    items["text"] = _item_text(items["title"], items[attributes])
    return _tidy_items(items, attributes), dropped, warnings


def _item_text(title: pd.Series, attributes: pd.DataFrame) -> pd.Series:
    """Title, then each non-empty attribute as "column: value", joined with " | "."""
    text = title.astype("str")
    for column in attributes.columns:  # a loop over columns; each step is vectorised over items
        value = attributes[column]
        text = text + (f" | {column}: " + value).where(value != "", "")
    return text


def _tidy_items(items: pd.DataFrame, attributes: list[str]) -> pd.DataFrame:
    columns = [*ITEM_COLUMNS, *attributes]
    items = items[columns].astype(dict.fromkeys(columns, "str"))
    return items.sort_values(["domain", "item_id"], kind="stable").reset_index(drop=True)
