"""Write the bad-input corpus: small, deterministic files that each break ingestion in one known way.

Run ``python tests/data/bad/make_corpus.py`` after changing a builder below and commit the files it writes;
`tests/test_bad_inputs.py` checks that the committed files are byte-for-byte what `build_corpus()` returns.
README.md in this folder lists each file, what is wrong with it and the expected outcome.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
COLUMNS = ["user_id", "item_id", "timestamp", "domain", "title"]
EPOCH = 1_600_000_000  # 2020-09-13, in epoch seconds

#: An item id and title of formula_injection.csv that a spreadsheet would run as a formula.
HYPERLINK = '=HYPERLINK("http://x","y")'

#: The 10,000-character title of long_title.csv: words, single spaces, no space at either end.
LONG_TITLE = ("Extra long product title with many words " * 250)[:9_999] + "!"

#: The 260-character title of item "long" in long_value.jsonl and long_value.parquet, on line / data row 7.
LONG_VALUE = "a long title " * 20

#: The titles of many_scripts.csv as written, with HTML entities and runs of whitespace (the expected
#: loaded titles are spelled out in the test). "combining" holds decomposed accents (e + U+0301).
SCRIPT_TITLES = {
    "latin": "Crème brûlée &amp; café  au\tlait",
    "cyrillic": "Чай   зелёный (100&nbsp;г)",
    "greek": "Ελληνικό τσάι του βουνού",
    "arabic": "شاي أخضر عضوي &lt;100 غ&gt;",
    "hebrew": "שמן זית כתית מעולה",
    "devanagari": " मसाला चाय ",
    "cjk": "日本茶 緑茶 녹차 中文書籍",
    "thai": "ชาเขียว\n ญี่ปุ่น",
    "emoji": "Tea 🍵 🇯🇵 👩🏽\u200d🍳 ❤\ufe0f &#x1F600;",
    "combining": "Cafe\u0301 Zoe\u0308 man\u0303ana",
    "mixed": "Tea شاي чай τσάι 茶 चाय",
}


def _csv(rows: list[list[str]], columns: list[str] = COLUMNS) -> bytes:
    """Rows of strings as UTF-8 CSV with a header and "\\n" line ends (quoted only where needed)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _jsonl(records: list[dict[str, object] | str]) -> bytes:
    """One JSON object per line ("\\n" line ends); a string is written as the line itself."""
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _records(rows: list[list[str]]) -> list[dict[str, object] | str]:
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def _parquet(columns: dict[str, pa.Array], names: list[str] | None = None) -> bytes:
    """A Parquet file of these columns (`names` may repeat a name, which a dict cannot)."""
    table = pa.Table.from_arrays(list(columns.values()), names=names or list(columns))
    out = pa.BufferOutputStream()
    pq.write_table(table, out)
    return out.getvalue().to_pybytes()


def _shop_columns(rows: list[list[str]]) -> dict[str, pa.Array]:
    return {name: pa.array([row[i] for row in rows]) for i, name in enumerate(COLUMNS)}


def _shop(users: int = 6, items: int = 3, domain: str = "Books", epoch: bool = False) -> list[list[str]]:
    """User u<k> buys items b0, b1, ... in order; ISO dates (or epoch seconds) one day apart; titles inline."""
    rows = []
    for u in range(users):
        for i in range(items):
            stamp = str(EPOCH + 86_400 * i) if epoch else f"2022-01-{i + 1:02d}"
            rows.append([f"u{u}", f"b{i}", stamp, domain, f"Title {i}"])
    return rows


def _at(rows: list[list[str]], row: int, column: str, value: str) -> list[list[str]]:
    """Set `column` of 1-based data row `row` (in place) and return the rows."""
    rows[row - 1][COLUMNS.index(column)] = value
    return rows


def build_corpus() -> dict[str, bytes]:
    """{file name: content} of every corpus file."""
    files: dict[str, bytes] = {}
    files["wrong_columns.csv"] = _csv(_shop(), ["userId", "itemId", "time", "category", "name"])
    files["missing_column.csv"] = _csv([r[:2] + r[3:] for r in _shop()], ["user_id", "item_id", "domain", "title"])
    files["empty.csv"] = b""
    files["header_only.csv"] = _csv([])
    garbage = bytearray(random.Random(6).randbytes(2048))
    garbage[100] = 0  # at least one NUL, wherever the random bytes fall
    files["binary_garbage.csv"] = bytes(garbage)
    latin = [row[:4] + ["Café" if row[1] == "b2" else row[4]] for row in _shop()]  # first at data row 3, line 4
    files["latin1.csv"] = _csv(latin).decode("utf-8").encode("latin-1")

    mixed = _shop(epoch=True)
    for row in (4, 11):
        _at(mixed, row, "timestamp", "2020-09-14")
    files["mixed_timestamps.csv"] = _csv(mixed)
    files["negative_epoch.csv"] = _csv(_at(_shop(epoch=True), 5, "timestamp", "-1600000000"))
    files["overflow_epoch.csv"] = _csv(_at(_shop(epoch=True), 7, "timestamp", "99999999999999999999"))

    solo = [["solo", "g0", "2022-01-01", "Games", "Game 0"], ["solo", "g1", "2022-01-02", "Games", "Game 1"]]
    files["one_user_domain.csv"] = _csv(_shop() + solo)
    files["single_interaction_user.csv"] = _csv(_shop(users=5) + [["u5", "b0", "2022-01-01", "Books", "Title 0"]])
    duplicates = _shop()
    duplicates += [list(duplicates[0]), list(duplicates[4]), ["u0", "b0", "2022-02-01", "Books", "Title 0"]]
    files["duplicate_rows.csv"] = _csv(duplicates)

    files["long_title.csv"] = _csv(_shop() + [["u0", "long", "2022-01-09", "Books", LONG_TITLE]])
    names = list(SCRIPT_TITLES)
    scripts = []
    for u, user in enumerate(["u0", "u1", "u2", "пользователь", "利用者", "u5"]):
        for k in range(4):
            item = names[(2 * u + k) % len(names)]
            scripts.append([user, item, f"2022-01-{k + 1:02d}", "Tea", SCRIPT_TITLES[item]])
    files["many_scripts.csv"] = _csv(scripts)

    formulas = [
        ["u0", HYPERLINK, "2022-01-01", "Shop", HYPERLINK],
        ["u0", "+1+1", "2022-01-02", "Shop", "+1+1"],
        ["u1", "-2", "2022-01-01", "Shop", "-2"],
        ["u1", "@SUM(A1)", "2022-01-02", "Shop", "@SUM(A1)"],
        ["@SUM(A1)", "+1+1", "2022-01-01", "Shop", "+1+1"],
        ["@SUM(A1)", "-2", "2022-01-02", "Shop", "-2"],
        ["+1+1", "@SUM(A1)", "2022-01-01", "Shop", "@SUM(A1)"],
        ["+1+1", "plain", "2022-01-02", "Shop", "Plain item"],
        ["-2", "plain", "2022-01-01", "Shop", "Plain item"],
        ["-2", "+1+1", "2022-01-02", "Shop", "+1+1"],
        ["=1+2", HYPERLINK, "-2", "Shop", HYPERLINK],  # negative timestamp: dropped
    ]
    files["formula_injection.csv"] = _csv(formulas)
    files.update(_structure_files())
    files.update(_format_files())
    files.update(_degenerate_files())
    files.update(_row_files())
    files.update(_character_files())
    files.update(_json_files())
    return files


def _structure_files() -> dict[str, bytes]:
    """Headers that name a column twice, and values that are not one text, number or date each."""
    files: dict[str, bytes] = {}
    files["duplicate_columns.csv"] = _csv([[*r, r[0]] for r in _shop()], [*COLUMNS, "user_id"])
    spaced = ["user_id", "item_id", "timestamp", "domain", "title", " item_id "]
    files["duplicate_columns_spaced.csv"] = _csv([[*r, "x9"] for r in _shop()], spaced)
    shop = _shop_columns(_shop())
    files["duplicate_columns.parquet"] = _parquet(shop | {"again": shop["title"]}, [*COLUMNS, "title"])
    nested = _records(_shop())
    nested[2]["title"] = {"en": "Title 2", "de": "Titel 2"}  # line 3
    files["nested_object.jsonl"] = _jsonl(nested)
    listed = _records(_shop())
    listed[4]["item_id"] = ["b1", "b2"]  # line 5
    files["nested_list.jsonl"] = _jsonl(listed)
    files["list_column.parquet"] = _parquet(shop | {"title": pa.array([[t] for t in shop["title"].to_pylist()])})
    structs = pa.array([{"en": t} for t in shop["title"].to_pylist()])
    files["struct_column.parquet"] = _parquet(shop | {"title": structs})
    binary = pa.array([v.encode() for v in shop["item_id"].to_pylist()], pa.binary())
    files["binary_column.parquet"] = _parquet(shop | {"item_id": binary})
    attributes = pa.array([[("colour", "red")]] * len(shop["title"]), pa.map_(pa.string(), pa.string()))
    files["map_column.parquet"] = _parquet(shop | {"attributes": attributes})
    items = [["b0", "Title 0", "x"], ["b1", "Title 1", "y"], ["b2", "Title 2", "z"]]
    files["items_duplicate_columns.csv"] = _csv(items, ["item_id", "title", "title"])
    files["items_nested.jsonl"] = _jsonl(
        [{"item_id": "b0", "title": "Title 0"}, {"item_id": "b1", "title": "Title 1", "brand": {"name": "Acme"}}]
    )
    return files


def _format_files() -> dict[str, bytes]:
    """Files whose bytes are not the format their name says, or not well formed."""
    files: dict[str, bytes] = {}
    shop = _csv(_shop())
    lines = _jsonl(_records(_shop())).decode().splitlines()
    lines[3] = lines[3][:-1]  # line 4 loses its closing brace
    files["not_json.jsonl"] = ("\n".join(lines) + "\n").encode()
    files["json_array_line.jsonl"] = _jsonl([*_records(_shop())[:2], '["u9", "b0"]', *_records(_shop())[2:]])
    valid = _parquet(_shop_columns(_shop()))
    files["truncated.parquet"] = valid[: len(valid) // 2]
    files["empty.parquet"] = _parquet({name: pa.array([], pa.string()) for name in COLUMNS})
    files["parquet_named_csv.csv"] = valid
    files["gzip.csv"] = gzip.compress(shop, mtime=0)
    files["workbook.csv"] = b"PK\x03\x04" + bytes(range(20)) + b"[Content_Types].xml"
    files["workbook.xlsx"] = b"PK\x03\x04" + bytes(range(20)) + b"[Content_Types].xml"
    files["no_extension"] = shop
    files["utf16.csv"] = shop.decode().encode("utf-16")
    files["semicolon.csv"] = shop.replace(b",", b";")
    files["commas_named_tsv.tsv"] = shop
    files["whitespace_only.csv"] = b"  \n\t\n\n"
    broken = shop.decode().splitlines()
    broken[5] = broken[5].replace("Title", '"Title')  # data row 5 opens a quote that never closes
    files["unclosed_quote.csv"] = ("\n".join(broken) + "\n").encode()
    extra = shop.decode().splitlines()
    extra[4] += ",surplus"  # data row 4 has 6 fields
    files["too_many_fields.csv"] = ("\n".join(extra) + "\n").encode()
    files["bom_crlf.csv"] = b"\xef\xbb\xbf" + shop.replace(b"\n", b"\r\n")
    return files


def _degenerate_files() -> dict[str, bytes]:
    """Files that read, but whose rows cannot all be used, or which leave nothing to learn from."""
    files: dict[str, bytes] = {}
    ids = _shop()
    _at(ids, 2, "user_id", "   ")
    _at(ids, 5, "item_id", "")
    files["empty_ids.csv"] = _csv(ids)
    files["all_rows_invalid.csv"] = _csv([_at([row], 1, "timestamp", "soon")[0] for row in _shop(users=3, items=1)])
    files["single_purchases.csv"] = _csv(_shop(users=8, items=1))
    files["max_rows.csv"] = _csv(_shop())
    return files


def _lines(rows: list[list[str]]) -> list[str]:
    """The usual CSV text of `rows`, header first, one line per row (no line ends)."""
    return _csv(rows).decode("utf-8").splitlines()


def _joined(lines: list[str], end: str = "\n") -> bytes:
    return (end.join(lines) + end).encode("utf-8")


def _row_files() -> dict[str, bytes]:
    """Rows whose fields cannot be told apart (too many, too few, broken quotes, split by a line end), and rows
    that are not data (a repeated header); and line ends, blank lines and quotes that are fine."""
    files: dict[str, bytes] = {}
    lines = _lines(_shop())  # lines[k] is data row k
    files["trailing_comma.csv"] = _joined([*lines[:4], lines[4] + ",", *lines[5:]])
    files["trailing_comma_first_row.csv"] = _joined([lines[0], lines[1] + ",", *lines[2:]])
    files["too_few_fields.csv"] = _joined([*lines[:6], lines[6].rsplit(",", 1)[0], *lines[7:]])
    files["many_fields.csv"] = _joined([*lines[:3], lines[3] + "," * 2_000, *lines[4:]])
    files["header_trailing_comma.csv"] = _joined([line + "," for line in lines])
    files["text_after_quote.csv"] = _joined([*lines[:7], lines[7].replace("Title 0", '"Title" 0'), *lines[8:]])
    files["inner_quote.csv"] = _joined([*lines[:2], lines[2].replace("Title 1", '"Say "hi" 1"'), *lines[3:]])
    files["quote_mid_field.csv"] = _joined([line.replace("Title 1", '27" monitor') for line in lines])
    multi = _shop()
    for row in range(2, 19, 3):  # every purchase of b1
        _at(multi, row, "title", "Title\nover three\nlines")
    _at(multi, 10, "timestamp", "-5")
    files["multiline_quoted.csv"] = _csv(multi)
    files["cr_only.csv"] = _joined(lines, "\r")
    files["crlf_and_lf.csv"] = b"".join(line.encode() + (b"\r\n" if k % 2 else b"\n") for k, line in enumerate(lines))
    files["lone_cr.csv"] = _joined([*lines[:8], lines[8].replace("Title 1", "Title\r1"), *lines[9:]])
    late = [lines[12].replace("2022-01-03", "soon"), *lines[13:]]  # data row 12, on line 16
    files["blank_lines.csv"] = _joined([lines[0], "", *lines[1:5], "   ", "\t", *lines[5:12], "", *late])
    files["header_and_blank_lines.csv"] = _joined([lines[0], "", "  ", ""])
    files["repeated_header.csv"] = _joined([*lines[:10], lines[0], *lines[10:]])
    files["bom_in_middle.csv"] = _joined(lines[:10]) + b"\xef\xbb\xbf" + _joined(lines[:1] + lines[10:])
    files["utf16_no_bom.csv"] = _csv(_shop()).decode().encode("utf-16-le")
    files["padded_header.csv"] = _joined([" user_id , item_id ,timestamp, domain ,title ", *lines[1:]])
    return files


def _character_files() -> dict[str, bytes]:
    """Values holding control characters (a NUL among them) or invisible ones, and names that look like
    something else: Markdown and HTML titles, a domain named like a path, ids that look like missing values."""
    files: dict[str, bytes] = {}
    lines = _lines(_shop())
    files["nul_in_title.csv"] = _csv(_at(_shop(), 6, "title", "Title\x002"))
    files["control_in_id.csv"] = _csv(_at(_shop(), 3, "item_id", "b\x1b[31m2"))
    files["zero_width_id.csv"] = _csv(_at(_shop(), 5, "item_id", "b1\u200b"))
    files["bom_in_id.csv"] = _csv(_at(_shop(), 10, "user_id", "\ufeffu3"))
    files["bidi_domain.csv"] = _csv(_at(_shop(), 2, "domain", "\u202eskooB"))
    quoted = [line.replace("Title 0", "Title\u2019s 0") for line in lines]  # a right single quote: 0x92 in cp1252
    files["cp1252.csv"] = "".join(line + "\n" for line in quoted).encode("cp1252")
    markup = {
        "Title 0": "[click](http://example.com/a)",
        "Title 1": "![x](http://example.com/i.png)",
        "Title 2": '<img src="http://example.com/t.png" onerror="alert(1)">',
    }
    files["markup_titles.csv"] = _csv([[*row[:4], markup[row[4]]] for row in _shop()])
    files["path_domain.csv"] = _csv(_shop() + _shop(domain="../x"))
    missing = ["NA", "null", "None", "NaN", "0012", "1e5"]
    files["missing_like_ids.csv"] = _csv(
        [
            [f"u{u}", missing[(u + i) % 6], f"2022-01-0{i + 1}", "Books", missing[(u + i) % 6]]
            for u in range(6)
            for i in range(3)
        ]
    )
    two = _shop() + _shop(domain="Games")
    _at(two, 20, "timestamp", "soon")
    files["other_domain_error.csv"] = _csv(two)
    return files


def _json_files() -> dict[str, bytes]:
    """JSON Lines that the JSON reader cannot take, or whose values are no one text, number or date."""
    files: dict[str, bytes] = {}
    records = _records(_shop())
    lines = _jsonl(records).decode().splitlines()
    lines[2] = lines[2].replace('"Title 2"', "[" * 1_100 + "]" * 1_100)  # line 3, deeper than the readers go
    files["deep_nesting.jsonl"] = ("\n".join(lines) + "\n").encode()
    big = _jsonl(records).decode().splitlines()
    big[6] = big[6].replace('"u2"', "123456789012345678901234567890")  # line 7
    files["huge_number.jsonl"] = ("\n".join(big) + "\n").encode()
    nul = _records(_shop())
    nul[5]["title"] = "Title\x002"  # line 6, written as \u0000
    files["nul_in_title.jsonl"] = _jsonl(nul)
    long = _at(_at(_shop(), 7, "item_id", "long"), 7, "title", LONG_VALUE)  # line / data row 7
    files["long_value.jsonl"] = _jsonl(_records(long))
    files["long_value.parquet"] = _parquet(_shop_columns(long))
    return files


def main() -> None:
    """Write every corpus file next to this script."""
    for name, content in build_corpus().items():
        (HERE / name).write_bytes(content)
        print(f"wrote {name} ({len(content):,} bytes)")


if __name__ == "__main__":
    main()
