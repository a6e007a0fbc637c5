"""Merging one file per product category into one dataset (`xcross_core.data.merge`): domains from a column or
from the file names, and every conflict refused with a message naming the file and the reason."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.test_load import write_csv, write_table
from xcross_core.data.load import ColumnMap, load_interactions
from xcross_core.data.merge import MergedFile, merge_files
from xcross_core.data.report import DataError

NO_DOMAIN = ["user_id", "item_id", "timestamp", "title"]


def category(users: int, prefix: str, domain: str | None = None) -> list[list[str]]:
    """Each user buys three items on three days; with a domain column when `domain` is given."""
    rows = [
        [f"{prefix}{u}", f"{prefix}-i{i}", f"2022-01-0{i + 1}", f"Item {i}"] for u in range(users) for i in range(3)
    ]
    return [[*row[:3], domain, row[3]] for row in rows] if domain else rows


def test_files_without_a_domain_column_take_their_names_as_domains(tmp_path: Path) -> None:
    beauty = write_csv(tmp_path / "beauty.csv", category(6, "b"), NO_DOMAIN)
    toys = write_table(tmp_path / "toys.parquet", category(5, "t"), NO_DOMAIN)
    merged = merge_files([beauty, toys], tmp_path / "out" / "all.csv")
    assert merged.files == (MergedFile("beauty.csv", 18, 1, "beauty"), MergedFile("toys.parquet", 15, 19, "toys"))
    result = load_interactions(merged.path)
    assert result.report.ok and len(result.report.dropped) == 0
    domains = result.report.domains.set_index("domain")
    assert domains["users"].to_dict() == {"beauty": 6, "toys": 5}
    assert domains["interactions"].sum() == 33  # every row of both files


def test_a_domain_column_is_kept_and_may_be_named_otherwise(tmp_path: Path) -> None:
    header = ["user_id", "item_id", "timestamp", "category", "title"]
    first = write_csv(tmp_path / "a.csv", category(6, "b", "Beauty"), header)
    second = write_csv(tmp_path / "b.csv", category(6, "t", "Toys") + category(5, "s", "Sports"), header)
    merged = merge_files([first, second], tmp_path / "all.csv", columns=ColumnMap(domain="category"))
    assert [part.named_domain for part in merged.files] == [None, None]
    result = load_interactions(merged.path, columns=ColumnMap(domain="category"))
    assert set(result.report.domains["domain"]) == {"Beauty", "Toys", "Sports"}
    # The values are merged as text, as written: ids with leading zeros and titles such as "NA" stay.
    assert pd.read_csv(merged.path, dtype=str).shape == (51, 5)


def test_item_files_are_merged_without_a_domain(tmp_path: Path) -> None:
    one = write_csv(tmp_path / "items_a.csv", [["a1", "NA"], ["0012", "Two"]], ["item_id", "title"])
    two = write_csv(tmp_path / "items_b.csv", [["b1", "Three"]], ["item_id", "title"])
    merged = merge_files([one, two], tmp_path / "items.csv", domains_from_names=False)
    frame = pd.read_csv(merged.path, dtype=str, keep_default_na=False)
    assert frame.to_dict("list") == {"item_id": ["a1", "0012", "b1"], "title": ["NA", "Two", "Three"]}


def refused(tmp_path: Path, paths: list[Path], **settings) -> DataError:
    with pytest.raises(DataError) as info:
        merge_files(paths, tmp_path / "merged.csv", **settings)
    assert not (tmp_path / "merged.csv").exists()  # nothing half-merged is left behind
    return info.value


def test_conflicts_are_refused_naming_the_file_and_reason(tmp_path: Path) -> None:
    beauty = write_csv(tmp_path / "beauty.csv", category(6, "b"), NO_DOMAIN)
    with_domain = write_csv(tmp_path / "toys.csv", category(6, "t", "Toys"), [*NO_DOMAIN[:3], "domain", "title"])
    error = refused(tmp_path, [with_domain, beauty])
    assert str(error) == (
        "beauty.csv has no 'domain' column, but toys.csv has one: give every file a domain column, or none (each "
        "file's domain then comes from its name)"
    )
    assert error.file == "beauty.csv"

    untitled = write_csv(tmp_path / "untitled.csv", [row[:3] for row in category(6, "u")], NO_DOMAIN[:3])
    error = refused(tmp_path, [beauty, untitled])
    assert str(error) == (
        "untitled.csv lacks column 'title', which beauty.csv has: the files must have the same columns (add them, or "
        "remove them from the others)"
    )

    error = refused(tmp_path, [beauty, beauty])
    assert str(error) == "beauty.csv is given twice: give each file once, under a name of its own"
    other_case = write_csv(tmp_path / "Beauty.CSV", category(6, "c"), NO_DOMAIN)
    assert "differ only in case" in str(refused(tmp_path, [beauty, other_case]))
    parquet = write_table(tmp_path / "beauty.parquet", category(6, "p"), NO_DOMAIN)
    assert str(refused(tmp_path, [beauty, parquet])) == (
        "beauty.parquet and beauty.csv would both be domain 'beauty' (from their names): rename one, or give every "
        "file a domain column"
    )


def test_a_file_that_cannot_be_read_is_named_with_its_problem(tmp_path: Path) -> None:
    beauty = write_csv(tmp_path / "beauty.csv", category(6, "b"), NO_DOMAIN)
    latin = tmp_path / "toys.csv"
    latin.write_bytes("user_id,item_id,timestamp,title\nu1,i1,1,Caf\xe9\n".encode("latin-1"))
    error = refused(tmp_path, [beauty, latin])
    assert (error.file, error.rows, error.options) == ("toys.csv", (2,), ("encoding",))
    assert str(error).startswith("toys.csv is not valid UTF-8: line 2 has byte 0xE9")
    # An upload saved under another name is named as the user knows it, and its domain comes from that name.
    error = refused(tmp_path, [beauty, latin], names=["beauty.csv", "games.csv"])
    assert str(error).startswith("games.csv (saved as toys.csv): toys.csv is not valid UTF-8: line 2")
    assert error.options == ("encoding",)
    merged = merge_files([beauty, beauty], tmp_path / "two.csv", names=["beauty.csv", "games.csv"])
    assert [part.named_domain for part in merged.files] == ["beauty", "games"]


def test_rows_whose_fields_cannot_be_told_apart_stop_the_merge(tmp_path: Path) -> None:
    beauty = write_csv(tmp_path / "beauty.csv", category(6, "b"), NO_DOMAIN)
    toys = write_csv(tmp_path / "toys.csv", category(6, "t"), NO_DOMAIN)
    toys.write_text(toys.read_text(encoding="utf-8") + "t9,t-i0,2022-01-01,Item, with a comma\n", encoding="utf-8")
    error = refused(tmp_path, [beauty, toys])
    assert (error.file, error.rows) == ("toys.csv", (19,))
    assert str(error).startswith("toys.csv row 19: 5 fields, but the header has 4; its fields cannot be told apart")
