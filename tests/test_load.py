"""Purchase-log ingestion: formats, column mapping, item files, timestamps, and every kind of bad input.

Every file is written into tmp_path by the builders below; nothing is read from the repository.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest

from xcross_core.data.dataset import INTERACTION_COLUMNS, ITEM_COLUMNS
from xcross_core.data.load import ColumnMap, load_interactions
from xcross_core.data.report import DataError

COLUMNS = ["user_id", "item_id", "timestamp", "domain", "title"]


# --- fixture builders ------------------------------------------------------------------------------


def write_csv(path, rows, columns=COLUMNS, delimiter=","):
    """Rows of strings to a CSV file (the csv module quotes commas, quotes and newlines)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def write_table(path, rows, columns=COLUMNS):
    """Rows to a file whose format follows the extension of `path`."""
    frame = pd.DataFrame(rows, columns=columns)
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    elif path.suffix in (".jsonl", ".ndjson"):
        path.write_text("".join(json.dumps(record) + "\n" for record in frame.to_dict("records")), encoding="utf-8")
    else:
        write_csv(path, rows, columns, delimiter="\t" if path.suffix == ".tsv" else ",")
    return path


def shop_rows(users=6, domain="Books", prefix="u", items=("b1", "b2", "b3"), start=0):
    """Each user buys every item once, one step apart; titles are inline."""
    rows = []
    for u in range(users):
        for i, item in enumerate(items):
            rows.append([f"{prefix}{u}", item, str(start + u * 10 + i), domain, f"Title {item}"])
    return rows


def load_rows(tmp_path, rows, name="log.csv", columns=COLUMNS, **kwargs):
    return load_interactions(write_csv(tmp_path / name, rows, columns), **kwargs)


def reasons(result):
    return result.report.dropped.set_index("row")["reason"].to_dict()


# --- formats and mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".tsv", ".parquet", ".jsonl", ".ndjson"])
def test_formats_give_the_same_result_as_csv(tmp_path, suffix):
    rows = shop_rows() + [["u0", "b9", "99", "Books", 'Quote "and", comma']]
    expected = load_interactions(write_table(tmp_path / "log.csv", rows))
    other = load_interactions(write_table(tmp_path / f"log{suffix}", rows))
    pd.testing.assert_frame_equal(other.interactions.frame, expected.interactions.frame)
    pd.testing.assert_frame_equal(other.interactions.items, expected.interactions.items)
    assert other.report.timestamp_format == expected.report.timestamp_format == "position"


def test_clean_frames_have_the_documented_shape(tmp_path):
    rows = shop_rows()[::-1]  # reversed in the file: the output is still sorted
    result = load_rows(tmp_path, rows)
    frame, items = result.interactions.frame, result.interactions.items
    assert tuple(frame.columns) == INTERACTION_COLUMNS
    assert tuple(items.columns) == ITEM_COLUMNS
    assert frame["timestamp"].dtype == np.int64 and frame["row"].dtype == np.int64
    key = frame[["domain", "user_id", "timestamp", "row"]]
    assert key.equals(key.sort_values(list(key.columns)))
    assert not items.duplicated(["domain", "item_id"]).any()
    books = result.interactions.domain("Books")
    assert books.n_users == 6 and books.n_items == 3
    assert [books.item_ids[i] for i in books.sequence(0)] == ["b1", "b2", "b3"]


def test_json_lines_rows_are_line_numbers(tmp_path):
    records = [dict(zip(COLUMNS, row, strict=True)) for row in shop_rows()]
    records[1]["timestamp"] = "soon"
    lines = [json.dumps(record) for record in records]
    (tmp_path / "log.jsonl").write_text(lines[0] + "\n\n" + "\n".join(lines[1:]) + "\n")
    assert reasons(load_interactions(tmp_path / "log.jsonl")) == {3: "unparseable timestamp 'soon'"}
    (tmp_path / "bad.jsonl").write_text(lines[0] + '\n{"user_id": oops}\n')
    with pytest.raises(DataError, match="bad.jsonl is not valid JSON Lines: line 2"):
        load_interactions(tmp_path / "bad.jsonl")


def test_parquet_datetime_column(tmp_path):
    frame = pd.DataFrame(shop_rows(), columns=COLUMNS)
    frame["timestamp"] = pd.Timestamp("2021-01-01", tz="Europe/Berlin") + pd.to_timedelta(
        frame["timestamp"].astype(int), unit="h"
    )
    frame.loc[4, "timestamp"] = pd.NaT
    frame.to_parquet(tmp_path / "log.parquet")
    result = load_interactions(tmp_path / "log.parquet")
    assert result.report.timestamp_format == "iso"
    assert reasons(result) == {5: "empty timestamp"}
    assert result.interactions.frame["timestamp"].iloc[0] == pd.Timestamp("2020-12-31T23:00:00Z").value


def test_parquet_and_json_typed_columns_become_text(tmp_path):
    frame = pd.DataFrame(
        {
            "user_id": [1, 1, 2],
            "item_id": ["a", "b", "a"],
            "timestamp": [1_600_000_000, 1_600_000_060, 1_600_000_000],
            "domain": "D",
            "title": ["NA", "B", "NA"],
        }
    )
    frame.to_parquet(tmp_path / "log.parquet")
    result = load_interactions(tmp_path / "log.parquet")
    assert result.report.timestamp_format == "epoch_s"
    assert set(result.interactions.frame["user_id"]) == {"1", "2"}
    assert result.interactions.items.set_index("item_id").loc["a", "title"] == "NA"


def test_column_map_renames_both_files(tmp_path):
    rows = [[r[0], r[1], r[2], r[3]] for r in shop_rows()]
    write_csv(tmp_path / "log.csv", rows, ["customer", "sku", "when", "category"])
    write_csv(tmp_path / "items.csv", [["b1", "One"], ["b2", "Two"], ["b3", "Three"]], ["sku", "name"])
    columns = ColumnMap.parse(["customer=user_id", " sku = item_id", "when=timestamp", "category=domain", "name=title"])
    assert columns == ColumnMap(user_id="customer", item_id="sku", timestamp="when", domain="category", title="name")
    result = load_interactions(tmp_path / "log.csv", tmp_path / "items.csv", columns=columns)
    assert result.report.ok
    assert sorted(result.interactions.items["title"]) == ["One", "Three", "Two"]


def test_mapped_column_replaces_a_column_with_our_name(tmp_path):
    rows = [[r[0], "ignored", r[2], r[3], r[4], r[1]] for r in shop_rows()]
    write_csv(tmp_path / "log.csv", rows, [*COLUMNS, "sku"])
    result = load_interactions(tmp_path / "log.csv", columns=ColumnMap(item_id="sku"))
    assert set(result.interactions.frame["item_id"]) == {"b1", "b2", "b3"}


@pytest.mark.parametrize(
    "pairs, message",
    [
        (["customer=shopper"], "not one of our columns"),
        (["customer"], "theirs=ours"),
        (["a=user_id", "b=user_id"], "twice"),
    ],
)
def test_column_map_parse_rejects_bad_pairs(pairs, message):
    with pytest.raises(DataError, match=message):
        ColumnMap.parse(pairs)


def test_missing_columns_are_named_with_the_files_columns(tmp_path):
    write_csv(tmp_path / "log.csv", [["u", "i", "1"]], ["customer", "Item_ID", "when"])
    with pytest.raises(DataError) as info:
        load_interactions(tmp_path / "log.csv")
    message = str(info.value)
    assert "log.csv" in message
    for missing in ("user_id", "item_id", "timestamp", "domain", "title"):
        assert missing in message
    assert "'customer', 'Item_ID', 'when'" in message
    assert "perhaps Item_ID=item_id" in message and "add a domain column" in message
    assert info.value.options == ("columns",) and info.value.file == "log.csv"


@pytest.mark.parametrize("product", ["asin", "parent_asin", "sku", "product_id", "ProductID", "article_number"])
def test_a_product_id_column_is_never_guessed_as_the_domain(tmp_path, product):
    # "asin" is spelled close to "domain", but it names the product, not its category.
    write_csv(tmp_path / "log.csv", [["u", "i", "i", "1", "t"]], ["user_id", "item_id", product, "timestamp", "title"])
    with pytest.raises(DataError) as info:
        load_interactions(tmp_path / "log.csv")
    assert f"{product}=domain" not in str(info.value) and "add a domain column" in str(info.value)
    # Without an item_id column, the product id is the guess for it.
    write_csv(
        tmp_path / "log.csv", [["u", "i", "1", "t", "Toys"]], ["user_id", product, "timestamp", "title", "domain"]
    )
    with pytest.raises(DataError, match=f"perhaps {product}=item_id"):
        load_interactions(tmp_path / "log.csv")


def test_domain_argument_names_the_whole_file(tmp_path):
    rows = [r[:3] + r[4:] for r in shop_rows()]
    result = load_rows(tmp_path, rows, columns=["user_id", "item_id", "timestamp", "title"], domain="Toys")
    assert result.interactions.domains == ["Toys"]
    assert result.report.ok


# --- titles and item files -------------------------------------------------------------------------


def test_item_file_titles_win_and_attributes_form_the_text(tmp_path):
    rows = [
        [u, item, str(t), "Shoes", inline]
        for u in "abcde"
        for t, (item, inline) in enumerate([("s1", "old"), ("s2", "")])
    ]
    write_csv(tmp_path / "log.csv", rows)
    items = [
        ["s1", "Kestrel Summit 3 Shoes", "Kestrel", "Running", "Shoes"],
        ["s2", "Trail Socks", "", "Socks", "Shoes"],
        ["s3", "Never Bought", "Kestrel", "Running", "Shoes"],  # catalogue item: kept
        ["h1", "Hat", "Other", "Hats", "Hats"],  # a domain with no purchases: left out, reported
    ]
    write_csv(tmp_path / "items.csv", items, ["item_id", "title", "brand", "category", "domain"])
    result = load_interactions(tmp_path / "log.csv", tmp_path / "items.csv")
    table = result.interactions.items.set_index("item_id")
    assert list(result.interactions.items.columns) == [*ITEM_COLUMNS, "brand", "category"]
    assert table.loc["s1", "title"] == "Kestrel Summit 3 Shoes"
    assert table.loc["s1", "text"] == "Kestrel Summit 3 Shoes | brand: Kestrel | category: Running"
    assert table.loc["s2", "text"] == "Trail Socks | category: Socks"
    assert "s3" in table.index and "h1" not in table.index
    dropped = result.report.dropped
    assert dropped[["file", "row", "check", "severity"]].values.tolist() == [["items.csv", 4, "unused_item", "warning"]]
    assert result.interactions.domain("Shoes").n_items == 3


def test_item_file_without_domain_takes_domains_from_purchases(tmp_path):
    rows = shop_rows(domain="A", items=("x1", "x2")) + shop_rows(domain="B", items=("x1",), prefix="v")
    write_csv(tmp_path / "log.csv", [r[:4] for r in rows], COLUMNS[:4])
    write_csv(tmp_path / "items.csv", [["x1", "Shared"], ["x2", "Only A"], ["x3", "Unsold"]], ["item_id", "title"])
    result = load_interactions(tmp_path / "log.csv", tmp_path / "items.csv")
    items = result.interactions.items
    assert items[["domain", "item_id"]].values.tolist() == [["A", "x1"], ["A", "x2"], ["B", "x1"]]
    assert reasons(result) == {3: "item never appears in log.csv (and the item file has no domain column)"}
    assert any("1 listed item left out" in w for w in result.report.warnings)


def test_duplicate_items_in_item_file_keep_the_first(tmp_path):
    write_csv(tmp_path / "log.csv", [r[:4] for r in shop_rows()], COLUMNS[:4])
    items = [["b1", "First"], ["b2", "Two"], ["b1", "Second"], ["b3", "Three"], ["b2", "Two"]]
    write_csv(tmp_path / "items.csv", items, ["item_id", "title"])
    result = load_interactions(tmp_path / "log.csv", tmp_path / "items.csv")
    assert result.interactions.items.set_index("item_id").loc["b1", "title"] == "First"
    assert reasons(result) == {
        3: "item 'b1' listed again with a different title (row 1 kept)",
        5: "duplicate of row 2",
    }
    assert any("items.csv rows 3, 5: item listed more than once" in w for w in result.report.warnings)


def test_html_entities_and_whitespace_are_cleaned(tmp_path):
    rows = shop_rows(items=("a",))
    rows[0][4] = "Rich &amp; Creamy&nbsp;Frosting  \t 16&quot; Oz "
    rows[1][4] = "AT&T phone &amp;amp; case"
    result = load_rows(tmp_path, rows)
    titles = result.interactions.items["title"].tolist()
    assert titles == ['Rich & Creamy Frosting 16" Oz']
    # The first non-empty inline title is used; the other is reported, not mixed in.
    assert any("different titles" in w for w in result.report.warnings)
    other = load_rows(tmp_path, [rows[1]] + shop_rows(items=("b",))[1:], name="other.csv")
    assert "AT&T phone &amp; case" in other.interactions.items["title"].tolist()


def test_quoted_newline_in_title_is_one_value(tmp_path):
    rows = shop_rows()
    rows[1][4] = "Line one\nline two, with comma"
    result = load_rows(tmp_path, rows)
    assert len(result.interactions.frame) == len(rows)
    assert result.interactions.items.set_index("item_id").loc["b2", "title"] == "Line one line two, with comma"
    assert result.interactions.frame["row"].max() == len(rows)  # rows count records, not lines


def test_long_titles_and_many_scripts_are_kept_intact(tmp_path):
    titles = {
        "b1": "x" * 10_000,
        "b2": "Чай зелёный 日本茶 녹차 शाय شاي 🍵🇯🇵 Ελληνικό τσάι",
        "b3": "שמן זית 👩🏽‍🍳 café",
    }
    rows = [[r[0], r[1], r[2], r[3], titles[r[1]]] for r in shop_rows()]
    result = load_rows(tmp_path, rows)
    assert result.interactions.items.set_index("item_id")["title"].to_dict() == titles


def test_na_like_values_stay_text(tmp_path):
    rows = [[r[0], r[1], r[2], r[3], {"b1": "NA", "b2": "null", "b3": "None"}[r[1]]] for r in shop_rows()]
    rows[0][0] = "NaN"  # a user id, too
    result = load_rows(tmp_path, rows)
    assert sorted(result.interactions.items["title"]) == ["NA", "None", "null"]
    assert "NaN" in set(result.interactions.frame["user_id"]) and result.report.ok


def test_empty_titles_drop_rows_unless_another_row_names_the_item(tmp_path):
    rows = shop_rows()
    rows[0][4] = ""  # b1 has a title on other rows: kept
    for row in rows:
        if row[1] == "b3":
            row[4] = "  "  # b3 never has a title
    result = load_rows(tmp_path, rows)
    assert set(result.interactions.items["item_id"]) == {"b1", "b2"}
    dropped = result.report.dropped
    assert dropped["row"].tolist() == [3, 6, 9, 12, 15, 18]
    assert set(dropped["reason"]) == {"empty title for item 'b3'"}
    assert (dropped["severity"] == "error").all() and not result.report.ok
    assert result.report.domains.loc[0, "items_without_text"] == 1
    assert "log.csv rows 3, 6, 9, 12, 15 and 1 more: empty title" in result.report.errors[0]


# --- timestamps ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stamps, fmt, unit",
    [
        (["2021-03-01", "2021-03-01T10:00:00Z", "2021-03-02T00:00:00+01:00"], "iso", 10**9),
        (["1600000000", "1600000060", "1600003600"], "epoch_s", 10**9),
        (["1600000000000", "1600000000500", "1600000060000"], "epoch_ms", 10**6),
        (["3", "10", "20"], "position", 1),
    ],
)
def test_timestamp_formats_are_detected_and_ordered(tmp_path, stamps, fmt, unit):
    order = [2, 0, 1]  # written out of order; each user's sequence must come back sorted
    rows = [[f"u{u}", f"i{k}", stamps[k], "D", f"T{k}"] for u in range(5) for k in order]
    result = load_rows(tmp_path, rows)
    assert result.report.timestamp_format == fmt
    first = result.interactions.frame[result.interactions.frame["user_id"] == "u0"]
    assert first["item_id"].tolist() == ["i0", "i1", "i2"]
    if fmt == "epoch_s":
        assert first["timestamp"].iloc[0] == 1_600_000_000 * unit
    if fmt == "iso":
        assert first["timestamp"].iloc[2] == pd.Timestamp("2021-03-01T23:00:00Z").value


def test_ties_keep_file_order(tmp_path):
    rows = [[user, item, "2021-01-01", "D", item] for user in "uvwxy" for item in ("c", "a", "b")]
    result = load_rows(tmp_path, rows)
    frame = result.interactions.frame
    assert frame.loc[frame["user_id"] == "u", "item_id"].tolist() == ["c", "a", "b"]


def test_bad_timestamps_are_named_and_other_rows_kept(tmp_path):
    rows = [[f"u{u}", f"i{k}", f"2021-01-0{k + 1}", "D", "T"] for u in range(6) for k in range(3)]
    rows[1][2] = "yesterday"
    rows[4][2] = "31/12/2020"
    rows[7][2] = ""
    rows[10][2] = "2021-02-30"
    rows[13][2] = "now"  # pandas would read this as the current time
    result = load_rows(tmp_path, rows)
    assert reasons(result) == {
        2: "unparseable timestamp 'yesterday'",
        5: "unparseable timestamp '31/12/2020'",
        8: "empty timestamp",
        11: "unparseable timestamp '2021-02-30'",
        14: "unparseable timestamp 'now'",
    }
    assert len(result.interactions.frame) == len(rows) - 5
    # Rows with errors are not said to be dropped: they are, only when the user accepts it (--drop-invalid).
    assert result.report.errors[0].startswith("log.csv rows 2, 5, 11, 14: unparseable timestamp (4 rows; e.g.")
    assert result.report.errors[1] == "log.csv row 8: empty timestamp"
    assert not result.report.ok


def test_mixed_formats_keep_the_majority(tmp_path):
    rows = [[f"u{u}", f"i{k}", str(1_600_000_000 + k), "D", "T"] for u in range(6) for k in range(3)]
    rows[3][2] = "2021-01-01"
    rows[5][2] = "1600000000000"
    result = load_rows(tmp_path, rows)
    assert result.report.timestamp_format == "epoch_s"
    assert reasons(result) == {
        4: "timestamp format differs from the rest of the file (ISO date among epoch seconds)",
        6: "timestamp format differs from the rest of the file (epoch milliseconds among epoch seconds)",
    }


def test_negative_and_out_of_range_epochs_are_errors(tmp_path):
    rows = [[f"u{u}", f"i{k}", str(1_600_000_000 + k), "D", "T"] for u in range(6) for k in range(3)]
    rows[0][2] = "-1600000000"
    rows[1][2] = "99999999999999999999"
    rows[2][2] = "9999999999"  # year 2286: beyond int64 nanoseconds
    rows[3][2] = "999999999"  # 2001-09-09: an old date among epoch seconds, kept
    result = load_rows(tmp_path, rows)
    assert reasons(result) == {
        1: "negative timestamp '-1600000000'",
        2: "timestamp out of range '99999999999999999999'",
        3: "timestamp out of range '9999999999'",
    }
    assert result.report.timestamp_format == "epoch_s"


# --- bad files -------------------------------------------------------------------------------------


def test_empty_file(tmp_path):
    (tmp_path / "log.csv").write_bytes(b"")
    with pytest.raises(DataError, match="log.csv is empty"):
        load_interactions(tmp_path / "log.csv")


def test_header_only(tmp_path):
    write_csv(tmp_path / "log.csv", [])
    with pytest.raises(
        DataError, match=r"log.csv has no data rows \(its header: user_id, item_id, timestamp, domain, title\)"
    ):
        load_interactions(tmp_path / "log.csv")


def test_binary_garbage(tmp_path):
    (tmp_path / "log.csv").write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(DataError, match="log.csv does not look like a text file"):
        load_interactions(tmp_path / "log.csv")
    (tmp_path / "log.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="log.parquet could not be read as Parquet"):
        load_interactions(tmp_path / "log.parquet")
    (tmp_path / "zipped.csv").write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(DataError, match="zipped.csv is a ZIP archive"):
        load_interactions(tmp_path / "zipped.csv")


def test_latin1_bytes_name_the_line(tmp_path):
    rows = shop_rows()
    rows[2][4] = "Café crème"
    path = tmp_path / "log.csv"
    path.write_text("\n".join([",".join(COLUMNS)] + [",".join(r) for r in rows]) + "\n", encoding="latin-1")
    with pytest.raises(DataError) as info:
        load_interactions(path)
    message = str(info.value)
    assert "log.csv is not valid UTF-8: line 4 has byte 0xE9" in message
    assert "or pass encoding=latin-1 (or cp1252)" in message
    assert (info.value.file, info.value.rows, info.value.options) == ("log.csv", (4,), ("encoding",))
    result = load_interactions(path, encoding="latin-1")
    assert "Café crème" in result.interactions.items["title"].tolist()


def test_utf8_bom_is_skipped(tmp_path):
    path = write_csv(tmp_path / "log.csv", shop_rows())
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_interactions(path).report.ok


def test_malformed_csv_names_the_row(tmp_path):
    path = tmp_path / "log.csv"
    # A comma in an unquoted title: that row is an error, named; the others are read as they are.
    path.write_text("user_id,item_id,timestamp,domain,title\nu,i,1,D,T\nu,i,2,D,Shoes, size 9\n")
    result = load_interactions(path)
    assert reasons(result) == {2: "6 fields, but the header has 5"}
    assert result.report.errors == ["log.csv row 2: 6 fields, but the header has 5"]
    assert result.interactions.frame["row"].tolist() == [1]
    path.write_text('user_id,item_id,timestamp,domain,title\nu,i,1,D,"T\nu,i,2,D,T\n')
    with pytest.raises(DataError, match="data row 1: a quoted value that starts there is never closed"):
        load_interactions(path)
    path.write_text("user_id;item_id;timestamp;domain;title\nu;i;1;D;T\n")
    with pytest.raises(DataError, match="log.csv seems to be separated by ';', not a comma"):
        load_interactions(path)


def test_unsupported_extension_and_size_limit(tmp_path):
    with pytest.raises(DataError, match=r"supported formats are \.csv, \.tsv, \.parquet, \.jsonl"):
        load_interactions(tmp_path / "log.xlsx")
    path = write_csv(tmp_path / "log.csv", shop_rows())
    with pytest.raises(DataError, match=r"log.csv is .* bytes, over the limit of 100 bytes"):
        load_interactions(path, max_bytes=100)


def test_no_usable_rows_is_fatal(tmp_path):
    rows = [[f"u{k}", "i", "never", "D", "T"] for k in range(3)]
    with pytest.raises(DataError, match="(?s)no usable rows.*rows 1, 2, 3: unparseable timestamp") as info:
        load_rows(tmp_path, rows)
    assert info.value.report.dropped["row"].tolist() == [1, 2, 3]  # still downloadable


# --- row checks, statistics and the report -------------------------------------------------------------


def test_duplicates_dropped_but_repeat_purchases_kept(tmp_path):
    rows = shop_rows()
    rows.append(list(rows[0]))  # exact copy of row 1
    rows.append([rows[0][0], rows[0][1], "99", "Books", "Title b1"])  # bought again later
    result = load_rows(tmp_path, rows)
    assert reasons(result) == {19: "duplicate of row 1"}
    assert result.report.dropped["severity"].tolist() == ["warning"]
    assert result.report.ok  # warnings only
    assert result.report.domains.loc[0, "duplicate_rows"] == 1
    assert (result.interactions.frame["user_id"] == "u0").sum() == 4


def test_single_user_domain_is_not_usable_but_kept(tmp_path):
    rows = shop_rows() + [["solo", "g1", "1", "Games", "Game"]]
    result = load_rows(tmp_path, rows)
    games = result.report.domains.set_index("domain").loc["Games"]
    assert not games["usable"] and games["note"] == "only 1 user (at least 5 needed)"
    assert games["single_interaction_users"] == 1
    assert "Games" in set(result.interactions.frame["domain"])
    assert any("'Games': only 1 user" in w for w in result.report.warnings)
    assert result.report.ok  # Books is usable


def test_counts_on_a_hand_made_file_are_exact(tmp_path):
    rows = [
        ["u1", "a", "1", "Books", "A"],
        ["u1", "b", "2", "Books", "B"],
        ["u1", "b", "2", "Books", "B"],  # 3: duplicate of 2
        ["u2", "a", "1", "Books", "A"],
        ["", "a", "1", "Books", "A"],  # 5: empty user
        ["u3", "c", "x", "Books", "C"],  # 6: bad timestamp
        ["u3", "a", "5", "Books", "A"],
        ["u3", "b", "6", "Books", "B"],
        ["u3", "a", "7", "Books", "A"],  # repeat purchase: kept
        ["u4", "d", "1", "Books", ""],  # 10: no title anywhere
        ["u9", "g", "1", "Games", "G"],
        ["u9", "h", "2", "", "H"],  # 12: empty domain
    ]
    result = load_rows(tmp_path, rows, min_users=3)
    stats = result.report.domains.set_index("domain")
    books, games = stats.loc["Books"], stats.loc["Games"]
    assert (books["users"], books["items"], books["interactions"]) == (3, 2, 6)
    assert (books["duplicate_rows"], books["items_without_text"], books["single_interaction_users"]) == (1, 1, 1)
    assert (books["seq_len_min"], books["seq_len_median"], books["seq_len_max"]) == (1, 2, 3)  # lengths 2, 1, 3
    assert books["seq_len_mean"] == pytest.approx(2.0) and books["seq_len_p90"] == pytest.approx(2.8)
    assert bool(books["usable"]) and not bool(games["usable"])
    assert (games["users"], games["items"], games["interactions"]) == (1, 1, 1)
    dropped = result.report.dropped
    assert dropped["row"].tolist() == [3, 5, 6, 10, 12]
    assert dropped["check"].tolist() == [
        "duplicate_row",
        "empty_user_id",
        "unparseable_timestamp",
        "empty_title",
        "empty_domain",
    ]
    assert dropped.loc[dropped["row"] == 6, ["user_id", "item_id", "timestamp", "domain", "title"]].values.tolist() == [
        ["u3", "c", "x", "Books", "C"]
    ]
    assert len(result.report.errors) == 4 and not result.report.ok
    assert len(result.interactions.frame) == len(rows) - 5


def test_report_text_dict_and_dropped_csv(tmp_path):
    rows = shop_rows()
    rows[0][2] = '=HYPERLINK("http://evil")'
    rows[1][0] = "+cmd|' /C calc'!A0"
    rows[1][2] = "-5"
    rows[2][2] = "@SUM(A1)"
    result = load_rows(tmp_path, rows)
    report = result.report
    text = report.to_text()
    assert "1-based data rows" in text and "header is not counted" in text
    assert "unparseable timestamp" in text and "Books" in text
    json.dumps(report.to_dict())
    assert report.to_dict()["n_dropped"] == 3
    path = report.write_dropped(tmp_path / "dropped.csv")
    back = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert back["timestamp"].tolist() == ['\'=HYPERLINK("http://evil")', "'-5", "'@SUM(A1)"]
    assert back["user_id"].tolist()[1] == "'+cmd|' /C calc'!A0"
    assert back["row"].tolist() == ["1", "2", "3"]
    assert all(not value.startswith(("=", "+", "-", "@")) for value in back.to_numpy().ravel())
