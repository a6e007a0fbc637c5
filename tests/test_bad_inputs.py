"""The bad-input corpus (tests/data/bad/): every committed file, through the library and through `xcross validate`.

Each file breaks ingestion in one known way (tests/data/bad/README.md lists them). A file that cannot be used
at all must raise `DataError` with a message for the user, and `xcross validate` must print it as one
"error: ..." line with exit status 2. A file with bad rows must come back with a report that names every
dropped row and why, the rest of its data kept; `validate` exits 2 for error rows and 0 for warnings only.
The files are written by tests/data/bad/make_corpus.py; the first test checks that they have not drifted.
"""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from xcross_core.cli import main
from xcross_core.data.load import ColumnMap, LoadResult, load_interactions
from xcross_core.data.read import MAX_FIELD_CHARS, MAX_ROWS
from xcross_core.data.report import DataError
from xcross_core.jobs.validate import ValidateSpec

CORPUS = Path(__file__).resolve().parent / "data" / "bad"
EPOCH_NS = 1_600_000_000 * 10**9  # the corpus's first epoch-seconds timestamp, as an ordering key
RISKY = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting with one of these


def not_usable(first_error: str, more: int = 0) -> str:
    """What `xcross validate` ends with on stderr when rows with errors stand in the way: the first, by name."""
    others = f" (and {more} more)" if more else ""
    return (
        f"\nerror: not usable as it is: {first_error}{others}; see the errors above. Rows with errors would be "
        "dropped with --drop-invalid.\n"
    )


def _generator() -> ModuleType:
    """tests/data/bad/make_corpus.py as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _generator()
CORPUS_FILES = sorted(GENERATOR.build_corpus())


def load(name: str, **kwargs: Any) -> LoadResult:
    """`load_interactions` on a corpus file."""
    return load_interactions(CORPUS / name, **kwargs)


def validate(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """`xcross validate ARGV` in-process: (exit status, stdout, stderr); never a traceback."""
    code = main(["validate", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def reasons(result: LoadResult) -> dict[int, str]:
    """{data row: reason} of the dropped rows."""
    return result.report.dropped.set_index("row")["reason"].to_dict()


def kept_rows(result: LoadResult) -> list[int]:
    """The data-row numbers of the clean interactions, in file order."""
    return sorted(result.interactions.frame["row"].tolist())


def read_back(path: Path) -> pd.DataFrame:
    """A CSV written by the project, every cell as the text a spreadsheet would see."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def assert_spreadsheet_safe(frame: pd.DataFrame) -> None:
    """No cell that a spreadsheet would run as a formula."""
    risky = [value for value in frame.to_numpy().ravel() if str(value).startswith(RISKY)]
    assert risky == []


# --- the corpus itself -----------------------------------------------------------------------------------


TOOLING = {"README.md", "make_corpus.py", ".gitattributes", "__pycache__"}


def _parquet_content(data: bytes) -> object:
    """A Parquet file's schema and rows, or its length when it cannot be read (a damaged file): what must not
    drift, since the bytes also hold the writing pyarrow's version."""
    try:
        table = pq.read_table(pa.BufferReader(data))
    except pa.ArrowException:
        return len(data)
    return table.schema, table.to_pylist()


def test_committed_files_are_what_the_generator_writes() -> None:
    expected = GENERATOR.build_corpus()
    committed = {path.name: path.read_bytes() for path in CORPUS.iterdir() if path.name not in TOOLING}
    assert sorted(committed) == sorted(expected), "run python tests/data/bad/make_corpus.py"
    for name, content in expected.items():
        if name.endswith(".parquet"):
            same = _parquet_content(committed[name]) == _parquet_content(content)
        else:
            same = committed[name] == content
        assert same, f"{name} differs from make_corpus.py's output; rerun it"
    assert len(expected) >= 60


def test_files_are_small_and_listed_in_the_readme() -> None:
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    for name in CORPUS_FILES:
        size = (CORPUS / name).stat().st_size
        assert size <= (11_000 if name == "long_title.csv" else 4_096), f"{name} is {size} bytes"
        assert f"`{name}`" in readme, f"{name} is not described in README.md"
    assert "`over_limit.csv`" in readme  # tested on a normal file, not committed


# --- files that cannot be used at all ----------------------------------------------------------------------

HEADER = "user_id, item_id, timestamp, domain, title"
QUOTING = (
    "A value that contains a comma, a double quote or a line break must be in double quotes, and a double quote "
    'inside it written twice ("").'
)
#: Why each file cannot be used: the message without the advice on a setting, which each front end words
#: itself (the command line as its options, FATAL_CLI; the studio as its controls), and says alike otherwise.
FATAL = {
    "empty.csv": "empty.csv is empty (0 bytes)",
    "header_only.csv": f"header_only.csv has no data rows (its header: {HEADER})",
    "binary_garbage.csv": "binary_garbage.csv does not look like a text file (it holds binary data)",
    "latin1.csv": (
        "latin1.csv is not valid UTF-8: line 4 has byte 0xE9 (near 'u0,b2,2022-01-03,Books,Caf\ufffd'). "
        "Re-save the file as UTF-8."
    ),
    "wrong_columns.csv": (
        "wrong_columns.csv is missing required columns user_id, item_id, timestamp, domain, title. "
        "Its columns are: 'userId', 'itemId', 'time', 'category', 'name'. Map your column names to ours; "
        "or add a domain column naming each row's product category; or give an item file with item_id and title."
    ),
    "missing_column.csv": (
        "missing_column.csv is missing required column timestamp. "
        "Its columns are: 'user_id', 'item_id', 'domain', 'title'. Map your column names to ours."
    ),
    "duplicate_columns.csv": (
        "duplicate_columns.csv names column 'user_id' more than once (columns 1, 6); give each column its own "
        "name, or remove the copies"
    ),
    "duplicate_columns_spaced.csv": (
        "duplicate_columns_spaced.csv names column 'item_id' more than once (columns 2, 6); give each column its "
        "own name, or remove the copies"
    ),
    "duplicate_columns.parquet": (
        "duplicate_columns.parquet names column 'title' more than once (columns 5, 6); give each column its own "
        "name, or remove the copies"
    ),
    "nested_object.jsonl": (
        "nested_object.jsonl line 3: 'title' holds an object; each value must be text, a number or true/false. "
        "Flatten nested values into columns of their own."
    ),
    "nested_list.jsonl": (
        "nested_list.jsonl line 5: 'item_id' holds a list; each value must be text, a number or true/false. "
        "Flatten nested values into columns of their own."
    ),
    "list_column.parquet": (
        "list_column.parquet: column 'title' holds lists (Parquet type list<element: string>); each value must be "
        "one text, number or date. Flatten it into columns of their own, or drop it before saving."
    ),
    "struct_column.parquet": (
        "struct_column.parquet: column 'title' holds records (Parquet type struct<en: string>); each value must be "
        "one text, number or date. Flatten it into columns of their own, or drop it before saving."
    ),
    "binary_column.parquet": (
        "binary_column.parquet: column 'item_id' holds binary data (Parquet type binary); each value must be one "
        "text, number or date. Flatten it into columns of their own, or drop it before saving."
    ),
    "map_column.parquet": (
        "map_column.parquet: column 'attributes' holds records (Parquet type map<string, string ('attributes')>); "
        "each value must be one text, number or date. Flatten it into columns of their own, or drop it before "
        "saving."
    ),
    "not_json.jsonl": "not_json.jsonl is not valid JSON Lines: line 4: Expecting ',' delimiter (column 100)",
    "json_array_line.jsonl": "json_array_line.jsonl is not valid JSON Lines: line 3 is not a JSON object (list)",
    "truncated.parquet": (
        "truncated.parquet could not be read as Parquet (Parquet magic bytes not found in footer. Either the "
        "file is corrupted or this is not a parquet file.)"
    ),
    "empty.parquet": f"empty.parquet has no data rows (its header: {HEADER})",
    "parquet_named_csv.csv": "parquet_named_csv.csv is a Parquet file; give it the .parquet extension",
    "gzip.csv": "gzip.csv is gzip-compressed; decompress it first",
    "workbook.csv": "workbook.csv is a ZIP archive (an Excel workbook?); export or save it as CSV",
    "workbook.xlsx": (
        "workbook.xlsx: unsupported file type .xlsx; supported formats are .csv, .tsv, .parquet, .jsonl, .ndjson "
        "(.tsv is tab-separated; .jsonl/.ndjson hold one JSON object per line)"
    ),
    "no_extension": (
        "no_extension: unsupported file type (no extension); supported formats are .csv, .tsv, .parquet, .jsonl, "
        ".ndjson (.tsv is tab-separated; .jsonl/.ndjson hold one JSON object per line)"
    ),
    "utf16.csv": "utf16.csv is UTF-16 text; re-save it as UTF-8",
    "semicolon.csv": (
        "semicolon.csv seems to be separated by ';', not a comma: its header reads "
        "'user_id;item_id;timestamp;domain;title'. Save it with a comma as separator."
    ),
    "commas_named_tsv.tsv": (
        "commas_named_tsv.tsv seems to be separated by ',', not a tab: its header reads "
        "'user_id,item_id,timestamp,domain,title'. Save it with a tab as separator."
    ),
    "whitespace_only.csv": "whitespace_only.csv is empty (it holds only whitespace)",
    "items_duplicate_columns.csv": (  # an item file, read here as an interactions file: refused all the same
        "items_duplicate_columns.csv names column 'title' more than once (columns 2, 3); give each column its own "
        "name, or remove the copies"
    ),
    "all_rows_invalid.csv": (
        "all_rows_invalid.csv: no usable rows; each of its 3 rows has a problem: all_rows_invalid.csv rows 1, 2, 3: "
        "unparseable timestamp (3 rows; e.g. unparseable timestamp 'soon')"
    ),
    "unclosed_quote.csv": (
        "unclosed_quote.csv is not a well-formed CSV file: data row 5: a quoted value that starts there is never "
        f"closed. {QUOTING}"
    ),
    "text_after_quote.csv": (
        "text_after_quote.csv is not a well-formed CSV file: data row 7: a quoted value is followed by more text "
        f"before the next comma. {QUOTING}"
    ),
    "inner_quote.csv": (
        "inner_quote.csv is not a well-formed CSV file: data row 2: a quoted value is followed by more text before "
        f"the next comma. {QUOTING}"
    ),
    "header_and_blank_lines.csv": f"header_and_blank_lines.csv has no data rows (its header: {HEADER})",
    "utf16_no_bom.csv": "utf16_no_bom.csv looks like UTF-16 text without a byte-order mark; re-save it as UTF-8",
    "cp1252.csv": (
        "cp1252.csv is not valid UTF-8: line 2 has byte 0x92 (near 'u0,b0,2022-01-01,Books,Title\ufffds 0'). "
        "Re-save the file as UTF-8."
    ),
    "deep_nesting.jsonl": (
        "deep_nesting.jsonl is not valid JSON Lines: line 3 nests lists or objects too deeply to read"
    ),
    "huge_number.jsonl": (
        "huge_number.jsonl is not valid JSON Lines: line 7 holds the number 123456789012345678901234567890, too "
        "large to read; write it as text, in double quotes"
    ),
}


#: What the command line says for the files of FATAL whose message names a setting (as its option).
FATAL_CLI = {
    "latin1.csv": (
        "latin1.csv is not valid UTF-8: line 4 has byte 0xE9 (near 'u0,b2,2022-01-03,Books,Caf\ufffd'). "
        "Re-save the file as UTF-8, or pass --encoding latin-1 (or cp1252) if that is its encoding."
    ),
    "wrong_columns.csv": (
        "wrong_columns.csv is missing required columns user_id, item_id, timestamp, domain, title. "
        "Its columns are: 'userId', 'itemId', 'time', 'category', 'name'. Map your column names to ours with "
        "--column theirs=ours (perhaps --column userId=user_id --column itemId=item_id --column time=timestamp); "
        "or add a domain column naming each row's product category; "
        "or give an item file with item_id and title."
    ),
    "missing_column.csv": (
        "missing_column.csv is missing required column timestamp. "
        "Its columns are: 'user_id', 'item_id', 'domain', 'title'. "
        "Map your column names to ours with --column theirs=ours (e.g. --column date=timestamp)."
    ),
    "utf16.csv": "utf16.csv is UTF-16 text; re-save it as UTF-8, or pass --encoding utf-16",
    "utf16_no_bom.csv": (
        "utf16_no_bom.csv looks like UTF-16 text without a byte-order mark; re-save it as UTF-8, or pass --encoding "
        "utf-16-le"
    ),
    "cp1252.csv": (
        "cp1252.csv is not valid UTF-8: line 2 has byte 0x92 (near 'u0,b0,2022-01-01,Books,Title\ufffds 0'). "
        "Re-save the file as UTF-8, or pass --encoding latin-1 (or cp1252) if that is its encoding."
    ),
}


@pytest.mark.parametrize("name", sorted(FATAL))
def test_unusable_file_raises_data_error_and_validate_exits_2(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DataError) as info:
        load(name)
    assert type(info.value) is DataError
    assert (info.value.file, info.value.reason) == (name, FATAL[name])
    assert bool(info.value.options) == (name in FATAL_CLI)
    assert "--" not in str(info.value)  # the library's own words name no command-line option
    # Refused before any row was read, except when every row was read and none could be used: then the report
    # comes with the error, so that the dropped rows can still be downloaded.
    assert (info.value.report is None) == (name != "all_rows_invalid.csv")
    code, out, err = validate(capsys, CORPUS / name)
    assert (code, out, err) == (2, "", f"error: {FATAL_CLI.get(name, FATAL[name])}\n")


def test_wrong_columns_hints_can_be_followed(capsys: pytest.CaptureFixture[str]) -> None:
    # The hints name each of the file's columns once (before the fix, "time" was offered for both timestamp
    # and title, which --column then refuses); with the two columns they cannot guess, the file loads.
    pairs = ["userId=user_id", "itemId=item_id", "time=timestamp", "category=domain", "name=title"]
    result = load("wrong_columns.csv", columns=ColumnMap.parse(pairs))
    assert result.report.ok and len(result.interactions.frame) == 18
    code, out, err = validate(capsys, CORPUS / "wrong_columns.csv", *[a for p in pairs for a in ("--column", p)])
    assert (code, err) == (0, "") and "Status: OK" in out


def test_latin1_loads_with_its_encoding(capsys: pytest.CaptureFixture[str]) -> None:
    result = load("latin1.csv", encoding="latin-1")
    assert result.interactions.items.set_index("item_id")["title"].to_dict() == {
        "b0": "Title 0",
        "b1": "Title 1",
        "b2": "Café",
    }
    assert result.report.ok and result.report.warnings == [] and len(result.interactions.frame) == 18
    code, out, err = validate(capsys, CORPUS / "latin1.csv", "--encoding", "latin-1")
    assert (code, err) == (0, "") and "Status: OK" in out


def test_binary_garbage_with_an_encoding_is_still_a_data_error() -> None:
    # With an explicit encoding the binary check is skipped (UTF-16 holds NULs); the file is refused all the same.
    with pytest.raises(DataError, match=r"^binary_garbage\.csv "):
        load("binary_garbage.csv", encoding="latin-1")


def test_over_limit_names_the_size_and_the_limit() -> None:
    # Not committed large: the limit is applied to a small file. There is no CLI option for it.
    name = "single_interaction_user.csv"
    size = (CORPUS / name).stat().st_size
    with pytest.raises(DataError) as info:
        load(name, max_bytes=100)
    assert str(info.value) == f"{name} is {size:,} bytes, over the limit of 100 bytes"
    assert load(name, max_bytes=size).report.ok  # the limit itself is allowed


# --- files with bad rows: dropped as errors, named, the rest kept --------------------------------------------


@pytest.mark.parametrize(
    ("name", "dropped", "check", "error"),
    [
        (
            "mixed_timestamps.csv",
            {
                4: "timestamp format differs from the rest of the file (ISO date among epoch seconds)",
                11: "timestamp format differs from the rest of the file (ISO date among epoch seconds)",
            },
            "mixed_timestamp_format",
            "mixed_timestamps.csv rows 4, 11: timestamp format differs from the rest of the file (2 rows; "
            "e.g. timestamp format differs from the rest of the file (ISO date among epoch seconds))",
        ),
        (
            "negative_epoch.csv",
            {5: "negative timestamp '-1600000000'"},
            "negative_timestamp",
            "negative_epoch.csv row 5: negative timestamp '-1600000000'",
        ),
        (
            "overflow_epoch.csv",
            {7: "timestamp out of range '99999999999999999999'"},
            "timestamp_out_of_range",
            "overflow_epoch.csv row 7: timestamp out of range '99999999999999999999'",
        ),
    ],
)
def test_bad_epoch_rows_are_dropped_as_errors_and_named(
    name: str, dropped: dict[int, str], check: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = load(name)
    report = result.report
    assert report.timestamp_format == "epoch_s"
    assert reasons(result) == dropped
    assert report.dropped["check"].eq(check).all() and report.dropped["severity"].eq("error").all()
    assert report.errors == [error] and report.warnings == [] and not report.ok
    assert kept_rows(result) == [row for row in range(1, 19) if row not in dropped]
    frame = result.interactions.frame
    assert frame.loc[frame["row"] == 1, "timestamp"].item() == EPOCH_NS  # the others are read as epoch seconds
    code, out, err = validate(capsys, CORPUS / name)
    assert code == 2 and err == not_usable(error)
    assert "Status: PROBLEMS FOUND" in out and f"  - {error}\n" in out


# --- files with warnings only: rows kept or dropped as warnings, validate exits 0 ------------------------------


def test_one_user_domain_is_not_usable_but_kept(capsys: pytest.CaptureFixture[str]) -> None:
    result = load("one_user_domain.csv")
    domains = result.report.domains.set_index("domain")
    assert domains.loc["Games", ["users", "items", "interactions"]].tolist() == [1, 2, 2]
    assert not domains.loc["Games", "usable"] and domains.loc["Games", "note"] == "only 1 user (at least 5 needed)"
    assert domains.loc["Books", "usable"] and domains.loc["Books", "note"] == ""
    assert domains.loc["Books", ["users", "items", "interactions"]].tolist() == [6, 3, 18]
    frame = result.interactions.frame
    assert frame.loc[frame["domain"] == "Games", "user_id"].tolist() == ["solo", "solo"]
    assert result.report.dropped.empty and kept_rows(result) == list(range(1, 21))
    warning = "domain 'Games': only 1 user (at least 5 needed); its rows are kept, but it cannot be used yet"
    assert result.report.warnings == [warning] and result.report.errors == [] and result.report.ok
    code, out, err = validate(capsys, CORPUS / "one_user_domain.csv")
    assert (code, err) == (0, f"warning: {warning}\n")
    assert "Status: OK" in out and "only 1 user (at least 5 needed)" in out


def test_single_interaction_user_is_counted_and_kept(capsys: pytest.CaptureFixture[str]) -> None:
    result = load("single_interaction_user.csv")
    books = result.report.domains.set_index("domain").loc["Books"]
    assert books[["users", "interactions", "single_interaction_users", "seq_len_min"]].tolist() == [6, 16, 1, 1]
    assert books["usable"]
    frame = result.interactions.frame
    assert frame.loc[frame["user_id"] == "u5", ["item_id", "row"]].values.tolist() == [["b0", 16]]
    warning = "domain 'Books': 1 user has a single purchase (kept, but there is no history to learn from)"
    assert result.report.warnings == [warning] and result.report.dropped.empty and result.report.ok
    code, out, err = validate(capsys, CORPUS / "single_interaction_user.csv")
    assert (code, err) == (0, f"warning: {warning}\n") and "Status: OK" in out


def test_duplicate_rows_are_dropped_as_warnings_naming_the_original(capsys: pytest.CaptureFixture[str]) -> None:
    result = load("duplicate_rows.csv")
    report = result.report
    assert reasons(result) == {19: "duplicate of row 1", 20: "duplicate of row 5"}
    assert report.dropped["check"].eq("duplicate_row").all() and report.dropped["severity"].eq("warning").all()
    assert report.domains.loc[0, ["duplicate_rows", "interactions"]].tolist() == [2, 19]
    assert kept_rows(result) == [*range(1, 19), 21]  # row 21: u0 buys b0 again a month later, kept
    warning = "duplicate_rows.csv rows 19, 20: duplicate row (2 rows dropped; e.g. duplicate of row 1)"
    assert report.warnings == [warning] and report.errors == [] and report.ok
    code, out, err = validate(capsys, CORPUS / "duplicate_rows.csv")
    assert (code, err) == (0, f"warning: {warning}\n") and "Status: OK" in out and "Rows with problems: 2" in out


def test_long_title_is_kept_intact(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(GENERATOR.LONG_TITLE) == 10_000
    result = load("long_title.csv")
    assert result.interactions.items.set_index("item_id").loc["long", "title"] == GENERATOR.LONG_TITLE
    assert result.report.ok and result.report.dropped.empty and result.report.warnings == []
    code, out, err = validate(capsys, CORPUS / "long_title.csv")
    assert (code, err) == (0, "") and "Status: OK" in out


#: many_scripts.csv's titles once loaded: entities decoded, whitespace runs (tab, newline, NBSP) one space,
#: ends stripped; everything else, combining marks, ZWJ and variation selectors included, as written.
SCRIPT_TITLES = {
    "latin": "Crème brûlée & café au lait",
    "cyrillic": "Чай зелёный (100 г)",
    "greek": "Ελληνικό τσάι του βουνού",
    "arabic": "شاي أخضر عضوي <100 غ>",
    "hebrew": "שמן זית כתית מעולה",
    "devanagari": "मसाला चाय",
    "cjk": "日本茶 緑茶 녹차 中文書籍",
    "thai": "ชาเขียว ญี่ปุ่น",
    "emoji": "Tea \U0001f375 \U0001f1ef\U0001f1f5 \U0001f469\U0001f3fd\u200d\U0001f373 \u2764\ufe0f \U0001f600",
    "combining": "Cafe\u0301 Zoe\u0308 man\u0303ana",
    "mixed": "Tea شاي чай τσάι 茶 चाय",
}


def test_many_scripts_are_kept_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    result = load("many_scripts.csv")
    titles = result.interactions.items.set_index("item_id")["title"].to_dict()
    assert titles == SCRIPT_TITLES
    for item, title in SCRIPT_TITLES.items():  # byte for byte: no Unicode normalisation (NFC would merge e+U+0301)
        assert titles[item].encode("utf-8") == title.encode("utf-8")
    assert {"пользователь", "利用者"} <= set(result.interactions.frame["user_id"])
    assert result.report.ok and result.report.dropped.empty and result.report.warnings == []
    code, out, err = validate(capsys, CORPUS / "many_scripts.csv")
    assert (code, err) == (0, "") and "Status: OK" in out


# --- formula injection: kept as data, never written out as a live formula ---------------------------------------

HYPERLINK = '=HYPERLINK("http://x","y")'


def test_formula_like_values_are_kept_as_data(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = load("formula_injection.csv")
    frame, items = result.interactions.frame, result.interactions.items
    assert set(frame["user_id"]) == {"u0", "u1", "@SUM(A1)", "+1+1", "-2"}
    assert items.set_index("item_id")["title"].to_dict() == {
        HYPERLINK: HYPERLINK,
        "+1+1": "+1+1",
        "-2": "-2",
        "@SUM(A1)": "@SUM(A1)",
        "plain": "Plain item",
    }
    report = result.report
    assert reasons(result) == {11: "negative timestamp '-2'"}
    assert report.errors == ["formula_injection.csv row 11: negative timestamp '-2'"]
    assert report.dropped.loc[0, ["user_id", "item_id", "timestamp", "title"]].tolist() == [
        "=1+2",
        HYPERLINK,
        "-2",
        HYPERLINK,
    ]  # the report frame holds the original values
    written = read_back(report.write_dropped(tmp_path / "dropped.csv"))
    assert_spreadsheet_safe(written)
    assert written.loc[0, ["user_id", "item_id", "timestamp", "title"]].tolist() == [
        "'=1+2",
        "'" + HYPERLINK,
        "'-2",
        "'" + HYPERLINK,
    ]
    code, out, err = validate(capsys, CORPUS / "formula_injection.csv")
    assert (code, err) == (2, not_usable(report.errors[0])) and "row 11: negative timestamp '-2'" in out
    dropped_out = tmp_path / "cli-dropped.csv"
    code, out, err = validate(capsys, CORPUS / "formula_injection.csv", "--drop-invalid", "--dropped-out", dropped_out)
    assert (code, err) == (0, "dropped 1 row with errors from formula_injection.csv (row 11)\n")
    pd.testing.assert_frame_equal(read_back(dropped_out), written)


def test_recommend_output_is_spreadsheet_safe(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "recs.csv"
    argv = ["recommend", "popularity", str(CORPUS / "formula_injection.csv"), "--domain", "Shop"]
    code = main([*argv, "--k", "10", "--out", str(out), "--drop-invalid"])
    _, err = capsys.readouterr()
    assert code == 0, err
    recs = read_back(out)
    assert list(recs.columns) == ["user_id", "rank", "item_id", "title", "score"]
    assert_spreadsheet_safe(recs)
    assert recs.loc[recs["item_id"] == "plain", "title"].unique().tolist() == ["Plain item"]
    # Each risky id is written with one leading quote, so it reads back as the id a spreadsheet displays.
    assert set(recs["item_id"]) == {"'" + HYPERLINK, "'+1+1", "'-2", "'@SUM(A1)", "plain"}
    assert set(recs["user_id"]) == {"u0", "u1", "'@SUM(A1)", "'+1+1", "'-2"}
    assert recs.loc[recs["user_id"] == "u1", ["item_id", "score"]].values.tolist() == [
        ["'+1+1", "3.0"],
        ["plain", "2.0"],
        ["'" + HYPERLINK, "1.0"],
    ]


# --- more files that read but cannot all be used -------------------------------------------------------------


def test_empty_ids_are_dropped_as_errors_and_named(capsys: pytest.CaptureFixture[str]) -> None:
    result = load("empty_ids.csv")
    assert reasons(result) == {2: "empty user_id", 5: "empty item_id"}
    assert result.report.errors == [
        "empty_ids.csv row 2: empty user_id",
        "empty_ids.csv row 5: empty item_id",
    ]
    code, out, err = validate(capsys, CORPUS / "empty_ids.csv")
    assert (code, err) == (2, not_usable("empty_ids.csv row 2: empty user_id", 1))
    assert "empty_ids.csv row 2: empty user_id" in out


def test_a_byte_order_mark_and_windows_line_ends_are_read(capsys: pytest.CaptureFixture[str]) -> None:
    result = load("bom_crlf.csv")
    assert result.report.ok and len(result.interactions.frame) == 18
    assert list(result.interactions.items["title"]) == ["Title 0", "Title 1", "Title 2"]  # no "\r" kept


# --- rows whose fields cannot be told apart, or that hold characters no value may: named by their true row -------

SPLIT = (
    "1 field, but the header has 5 (the file mixes line ends: a carriage return alone among line feeds splits a row)"
)
#: file: ({data row: reason} of its one row with an error, that row's check, the rows kept)
BAD_ROWS = {
    "too_many_fields.csv": ({4: "6 fields, but the header has 5"}, "field_count", 17),
    "trailing_comma.csv": ({4: "6 fields, but the header has 5"}, "field_count", 17),
    # pandas took the first row's extra field for an index, shifting every column of every row
    "trailing_comma_first_row.csv": ({1: "6 fields, but the header has 5"}, "field_count", 17),
    "too_few_fields.csv": ({6: "4 fields, but the header has 5"}, "field_count", 17),
    "many_fields.csv": ({3: "2,005 fields, but the header has 5"}, "field_count", 17),
    "lone_cr.csv": ({9: SPLIT}, "field_count", 18),  # row 8 split in two: its tail is row 9
    "repeated_header.csv": ({10: "repeats the header (two files joined together?)"}, "repeated_header", 18),
    "bom_in_middle.csv": ({10: "repeats the header (two files joined together?)"}, "repeated_header", 18),
    "nul_in_title.csv": ({6: "title holds the control character U+0000"}, "control_character", 17),
    "nul_in_title.jsonl": ({6: "title holds the control character U+0000"}, "control_character", 17),
    "control_in_id.csv": ({3: "item_id holds the control character U+001B"}, "control_character", 17),
    "zero_width_id.csv": (
        {5: "item_id holds an invisible character U+200B (ZERO WIDTH SPACE)"},
        "invisible_character",
        17,
    ),
    "bom_in_id.csv": (
        {10: "user_id holds an invisible character U+FEFF (ZERO WIDTH NO-BREAK SPACE)"},
        "invisible_character",
        17,
    ),
    "bidi_domain.csv": (
        {2: "domain holds an invisible character U+202E (RIGHT-TO-LEFT OVERRIDE)"},
        "invisible_character",
        17,
    ),
    "multiline_quoted.csv": ({10: "negative timestamp '-5'"}, "negative_timestamp", 17),  # data row 10 is line 15
    "blank_lines.csv": ({12: "unparseable timestamp 'soon'"}, "unparseable_timestamp", 17),  # line 16
}


@pytest.mark.parametrize("name", sorted(BAD_ROWS))
def test_a_bad_row_is_named_by_its_true_row_and_cause(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    dropped, check, kept = BAD_ROWS[name]
    result = load(name)
    report = result.report
    assert reasons(result) == dropped
    assert report.dropped["check"].eq(check).all() and report.dropped["severity"].eq("error").all()
    assert len(result.interactions.frame) == kept
    ((row, reason),) = dropped.items()
    error = f"{name} row {row}: {reason}"
    assert report.errors == [error] and not report.ok
    warnings = "".join(f"warning: {message}\n" for message in report.warnings)
    code, out, err = validate(capsys, CORPUS / name)
    assert (code, err) == (2, warnings + not_usable(error)) and f"  - {error}\n" in out
    code, out, err = validate(capsys, CORPUS / name, "--drop-invalid")
    assert (code, err) == (0, warnings + f"dropped 1 row with errors from {name} (row {row})\n")


def test_a_nul_in_one_value_is_not_a_binary_file() -> None:
    # Refused whole as binary before; the file is still refused as binary when most of it is.
    assert b"\x00" in (CORPUS / "nul_in_title.csv").read_bytes()
    assert len(load("nul_in_title.csv").interactions.frame) == 17
    with pytest.raises(DataError, match="does not look like a text file"):
        load("binary_garbage.csv")


#: Files that look hostile but hold nothing wrong: each loads whole, with these titles, and validates cleanly.
TITLES = {"b0": "Title 0", "b1": "Title 1", "b2": "Title 2"}
FINE = {
    "header_trailing_comma.csv": TITLES,  # every line ends with a comma, the header's too: an empty column
    "quote_mid_field.csv": TITLES | {"b1": '27" monitor'},  # a quote inside a value that is not quoted
    "cr_only.csv": TITLES,
    "crlf_and_lf.csv": TITLES,
    "padded_header.csv": TITLES,
    "multiline_quoted.csv": TITLES | {"b1": "Title over three lines"},
    "markup_titles.csv": {
        "b0": "[click](http://example.com/a)",
        "b1": "![x](http://example.com/i.png)",
        "b2": '<img src="http://example.com/t.png" onerror="alert(1)">',
    },
}


@pytest.mark.parametrize("name", sorted(FINE))
def test_a_file_that_only_looks_hostile_loads_as_written(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = load(name)
    assert result.interactions.items.set_index("item_id")["title"].to_dict() == FINE[name]
    if name == "multiline_quoted.csv":  # its row 10 is bad, and named as such above
        return
    assert result.report.ok and result.report.dropped.empty and result.report.warnings == []
    assert len(result.interactions.frame) == 18
    code, out, err = validate(capsys, CORPUS / name)
    assert (code, err) == (0, "") and "Status: OK" in out


def test_ids_that_look_missing_and_a_domain_named_like_a_path_are_kept_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = load("missing_like_ids.csv")
    assert result.report.ok and len(result.interactions.frame) == 18
    assert set(result.interactions.items["item_id"]) == {"NA", "null", "None", "NaN", "0012", "1e5"}
    assert (result.interactions.items["item_id"] == result.interactions.items["title"]).all()
    result = load("path_domain.csv")
    assert result.report.ok and sorted(result.report.domains["domain"]) == ["../x", "Books"]
    recs = tmp_path / "out" / "recs.csv"
    recs.parent.mkdir()
    code = main(["recommend", "popularity", str(CORPUS / "path_domain.csv"), "--domain", "../x", "--out", str(recs)])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert sorted(tmp_path.rglob("*")) == [recs.parent, recs]  # the domain's name is never a path


def test_utf16_without_a_byte_order_mark_reads_with_its_encoding(capsys: pytest.CaptureFixture[str]) -> None:
    result = load("utf16_no_bom.csv", encoding="utf-16-le")
    assert result.report.ok and len(result.interactions.frame) == 18
    code, out, err = validate(capsys, CORPUS / "utf16_no_bom.csv", "--encoding", "utf-16-le")
    assert (code, err) == (0, "") and "Status: OK" in out


def test_cp1252_read_as_latin1_names_the_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    result = load("cp1252.csv", encoding="latin-1")
    hint = "title holds the control character U+0092 (cp1252 text read as latin-1? try the encoding cp1252)"
    assert reasons(result) == dict.fromkeys(range(1, 19, 3), hint)
    result = load("cp1252.csv", encoding="cp1252")
    assert result.report.ok and result.interactions.items.set_index("item_id")["title"]["b0"] == "Title\u2019s 0"


# --- the length of one value: a documented limit, checked while reading --------------------------------------

TOO_LONG = "; if it is meant to be this long, raise the limit with --max-field-chars"
LIBRARY_TOO_LONG = "; if it is meant to be this long, raise the limit with max_field_chars"  # for a script


@pytest.mark.parametrize(
    ("name", "limit", "message"),
    [
        (
            "long_title.csv",
            5_000,
            "long_title.csv data row 19 holds a value longer than 5,000 characters, the limit (perhaps a double quote "
            f"that is never closed){TOO_LONG}",
        ),
        (
            "long_value.jsonl",
            100,
            f"long_value.jsonl line 7: 'title' holds 260 characters, over the limit of 100{TOO_LONG}",
        ),
        # found while streaming: a run of bytes without a quote longer than 12 bytes a character allows
        (
            "long_value.jsonl",
            10,
            f"long_value.jsonl line 7 holds a value longer than 10 characters, the limit{TOO_LONG}",
        ),
        (
            "long_value.parquet",
            100,
            f"long_value.parquet data row 7: 'title' holds 260 characters, over the limit of 100{TOO_LONG}",
        ),
    ],
)
def test_a_value_over_the_length_limit_is_refused_naming_its_row(
    name: str, limit: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(DataError) as info:
        load(name, max_field_chars=limit)
    assert str(info.value) == message.replace(TOO_LONG, LIBRARY_TOO_LONG)
    assert info.value.options == ("max_field_chars",) and info.value.file == name
    code, out, err = validate(capsys, CORPUS / name, "--max-field-chars", str(limit))
    assert (code, out, err) == (2, "", f"error: {message}\n")
    longest = len(GENERATOR.LONG_TITLE if name == "long_title.csv" else GENERATOR.LONG_VALUE)
    assert load(name, max_field_chars=longest).report.ok  # a value as long as the limit is allowed


def test_the_default_length_limit_is_documented() -> None:
    assert MAX_FIELD_CHARS == 100_000
    assert ValidateSpec(interactions=CORPUS / "max_rows.csv").max_field_chars == MAX_FIELD_CHARS
    assert "`--max-field-chars`" in (CORPUS / "README.md").read_text(encoding="utf-8")


# --- a job on one domain: stopped only by its own rows, and "dropped" only when rows were ----------------------

OTHER = CORPUS / "other_domain_error.csv"  # Books and Games; Games's row 20 has timestamp "soon"
ROW_20 = "other_domain_error.csv row 20: unparseable timestamp 'soon' (in domain 'Games')"


def test_a_bad_row_of_another_domain_does_not_stop_a_job(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["recommend", "popularity", str(OTHER), "--out"]
    code = main([*argv, str(tmp_path / "books.csv"), "--domain", "Books"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert err.splitlines()[0] == f"warning: not used, as this job reads domain 'Books' only: {ROW_20}"
    assert "(dropped)" not in err and "rows dropped" not in err  # nothing was
    # On Games it stops, naming the row and its domain, without claiming the row was dropped.
    code = main([*argv, str(tmp_path / "games.csv"), "--domain", "Games"])
    _, err = capsys.readouterr()
    assert code == 2 and not (tmp_path / "games.csv").exists()
    assert err == (
        f"error: {ROW_20}. Fix this row, or pass --drop-invalid to continue without it (--dropped-out FILE lists it).\n"
    )


@pytest.mark.parametrize(
    ("argv", "summary"),
    [
        (
            ["validate", CORPUS / "max_rows.csv"],
            "max_rows.csv has no rows with errors; nothing dropped",
        ),
        (["validate", OTHER], "dropped 1 row with errors from other_domain_error.csv (row 20)"),
        (
            ["recommend", "popularity", OTHER, "--domain", "Books", "--out", "{tmp}/recs.csv"],
            "other_domain_error.csv has no rows with errors in domain 'Books'; nothing dropped",
        ),
        (
            ["recommend", "popularity", OTHER, "--domain", "Games", "--out", "{tmp}/recs.csv"],
            "dropped 1 row with errors from other_domain_error.csv (row 20)",
        ),
    ],
    ids=["validate, nothing to drop", "validate", "recommend, errors elsewhere", "recommend"],
)
def test_drop_invalid_prints_one_summary_line(
    argv: list[Any], summary: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([str(a).replace("{tmp}", str(tmp_path)) for a in [*argv, "--drop-invalid"]])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert [line for line in err.splitlines() if not line.startswith("warning: ")] == [summary]


def test_see_the_errors_above_only_when_there_are_errors_above(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = validate(capsys, CORPUS / "one_user_domain.csv", "--min-users", "50")
    assert code == 2 and "Errors" not in out
    assert err.endswith(
        "\nerror: not usable: no domain has enough users to work with (see the warnings above, and --min-users).\n"
    )


# --- every bad option, and bad data for the jobs that train: exit 2, one "error:" line, nothing written ---------

SHOP = CORPUS / "max_rows.csv"  # the usual shop: 6 users of Books, 18 rows
ONE_USER = CORPUS / "one_user_domain.csv"
SINGLE = CORPUS / "single_purchases.csv"
ITEMS_TWICE = CORPUS / "items_duplicate_columns.csv"
ITEMS_NESTED = CORPUS / "items_nested.jsonl"
RECS = ["recommend", "popularity", SHOP, "--domain", "Books", "--out", "{tmp}/recs.csv"]
EVAL = ["evaluate", "popularity", SHOP, "--domain", "Books", "--out", "{tmp}/metrics.json"]
ADAPT = ["train-adapter", SHOP, "--domain", "Books", "--out", "{tmp}/adapter"]
XCROSS = ["train-xcross", SHOP, "--target", "Books", "--adapters", "{tmp}/folder", "--out", "{tmp}/run"]
STUDY = ["study", SHOP, "--target", "Books", "--adapters", "{tmp}/folder", "--out", "{tmp}/study"]
NO_CACHE = "'nobody/no-such-model' is not a local model folder, nor a model in the Hugging Face cache; pass --download"

#: (case, argv, what the one error line says). "{tmp}" is the folder the command runs in, which holds an
#: empty folder "folder" and a file "afile"; nothing else may appear in it.
FLAG_CASES = [
    ("column names an absent column", ["validate", SHOP, "--column", "customer=user_id"],
     "--column customer=user_id: there is no column 'customer' in max_rows.csv (columns: max_rows.csv: 'user_id'"),
    ("column without =", ["validate", SHOP, "--column", "customer"],
     "--column 'customer' should look like theirs=ours, e.g. customer=user_id"),
    ("column maps to no column of ours", ["validate", SHOP, "--column", "customer=shopper"],
     "--column 'customer=shopper': 'shopper' is not one of our columns"),
    ("column mapped twice", ["validate", SHOP, "--column", "a=user_id", "--column", "b=user_id"],
     "--column: user_id is mapped twice ('a' and 'b')"),
    ("items file names a column twice", ["validate", SHOP, "--items", ITEMS_TWICE],
     "items_duplicate_columns.csv names column 'title' more than once (columns 2, 3)"),
    ("items file holds nested values", ["validate", SHOP, "--items", ITEMS_NESTED],
     "items_nested.jsonl line 2: 'brand' holds an object"),
    ("unknown encoding", ["validate", SHOP, "--encoding", "klingon"],
     "--encoding 'klingon' is not a known encoding (try utf-8, latin-1 or cp1252)"),
    ("min-users 0", ["validate", SHOP, "--min-users", "0"], "--min-users must be at least 1, not 0"),
    ("max-rows 0", ["validate", SHOP, "--max-rows", "0"], "--max-rows must be at least 1, not 0"),
    ("more rows than max-rows", ["validate", SHOP, "--max-rows", "5"],
     "max_rows.csv has more than 5 data rows, over the limit of 5: reading it could exhaust memory"),
    ("max-field-chars 0", ["validate", SHOP, "--max-field-chars", "0"], "--max-field-chars must be at least 1, not 0"),
    ("a value over max-field-chars", ["validate", CORPUS / "long_title.csv", "--max-field-chars", "5000"],
     "long_title.csv data row 19 holds a value longer than 5,000 characters, the limit"),
    ("a row with a field too many stops every domain",
     ["recommend", "popularity", CORPUS / "trailing_comma.csv", "--domain", "Books", "--out", "{tmp}/recs.csv"],
     "trailing_comma.csv row 4: 6 fields, but the header has 5 (domain unknown). Fix this row, or pass --drop-invalid"),
    ("a NUL in a title of the domain",
     ["evaluate", "popularity", CORPUS / "nul_in_title.csv", "--domain", "Books", "--out", "{tmp}/m.json"],
     "nul_in_title.csv row 6: title holds the control character U+0000 (in domain 'Books')"),
    ("a bad row of the domain asked for",
     ["recommend", "popularity", CORPUS / "other_domain_error.csv", "--domain", "Games", "--out", "{tmp}/recs.csv"],
     "other_domain_error.csv row 20: unparseable timestamp 'soon' (in domain 'Games')"),
    ("a quote never closed", ["validate", CORPUS / "unclosed_quote.csv"],
     "unclosed_quote.csv is not a well-formed CSV file: data row 5: a quoted value that starts there is never closed"),
    ("JSON nested too deep", ["validate", CORPUS / "deep_nesting.jsonl"], "line 3 nests lists or objects too deeply"),
    ("dropped-out is a folder", ["validate", SHOP, "--dropped-out", "{tmp}/folder"],
     "--dropped-out {tmp}/folder is a folder; name a file to write"),
    ("dropped-out is the input", ["validate", SHOP, "--dropped-out", SHOP],
     f"--dropped-out {SHOP} is one of this job's input files; writing it would destroy the input"),
    ("dropped-out under a file", ["validate", SHOP, "--dropped-out", "{tmp}/afile/dropped.csv"],
     "--dropped-out {tmp}/afile/dropped.csv: {tmp}/afile is a file, not a folder"),
    ("no such interactions file", ["validate", "{tmp}/nowhere.csv"], "interactions {tmp}/nowhere.csv: no such file"),
    ("no such items file", ["validate", SHOP, "--items", "{tmp}/nowhere.csv"],
     "--items {tmp}/nowhere.csv: no such file"),
    ("k 0", [*RECS, "--k", "0"], "--k must be at least 1, not 0"),
    ("k not a number", [*RECS, "--k", "ten"], "argument --k: invalid int value: 'ten'"),
    ("recommend out is a folder", [*RECS[:-1], "{tmp}/folder"], "--out {tmp}/folder is a folder; name a file to write"),
    ("recommend out is the input", [*RECS[:-1], SHOP], "is one of this job's input files"),
    ("recommend out under a file", [*RECS[:-1], "{tmp}/afile/recs.csv"], "{tmp}/afile is a file, not a folder"),
    ("train with another model", ["recommend", "base", *RECS[2:], "--train", SHOP],
     "--train only applies to the popularity model"),
    ("hub id not cached, no --download", ["recommend", "base", *RECS[2:], "--base", "nobody/no-such-model"],
     f"--base {NO_CACHE}"),
    ("base folder that does not exist", ["recommend", "base", *RECS[2:], "--base", "./no/such/folder"],
     "--base './no/such/folder' is not a local model folder"),
    ("unknown domain", [*RECS[:4], "Music", *RECS[5:]], "domain 'Music' is not in the data (domains: Books)"),
    ("unknown model", ["recommend", "nonsense", *RECS[2:]], "unknown model 'nonsense'"),
    ("model that needs a split", ["recommend", "sasrec", *RECS[2:]], "`recommend` needs a trained model"),
    ("evaluate a one-user domain", ["evaluate", "popularity", ONE_USER, "--domain", "Games", "--out", "{tmp}/m.json"],
     "domain 'Games' cannot be trained or evaluated on: only 1 user (at least 5 needed) (see --min-users)"),
    ("evaluate a one-user domain, min-users 1",
     ["evaluate", "popularity", ONE_USER, "--domain", "Games", "--out", "{tmp}/m.json", "--min-users", "1"],
     "domain 'Games' leaves no users to test on in this split (1 user; a test user needs at least 2 purchases)"),
    ("evaluate single purchases", ["evaluate", "popularity", SINGLE, "--domain", "Books", "--out", "{tmp}/m.json"],
     "domain 'Books' leaves no users to test on in this split (8 users; a test user needs at least 2 purchases)"),
    ("evaluate 4 users: no test user", [*EVAL, "--max-users", "4"],
     "domain 'Books' leaves no users to test on in this split (6 users, 4 kept by --max-users;"),
    ("epochs -1", [*EVAL, "--epochs", "-1"], "--epochs must be at least 1, not -1"),
    ("epochs 0", [*EVAL, "--epochs", "0"], "--epochs must be at least 1, not 0"),
    ("max-users 0", [*EVAL, "--max-users", "0"], "--max-users must be at least 1, not 0"),
    ("test-share 1", [*EVAL, "--test-share", "1"], "--test-share must be in (0, 1), not 1.0"),
    ("test-share nan", [*EVAL, "--test-share", "nan"], "--test-share must be a finite number, not nan"),
    ("shares sum to 1", [*EVAL, "--test-share", "0.5", "--valid-share", "0.5"],
     "test_share and valid_share must sum to less than 1, not 0.5 + 0.5"),
    ("fraction 0", [*EVAL, "--fraction", "0"], "--fraction must be in (0, 1], not 0.0"),
    ("fraction 1.5", [*EVAL, "--fraction", "1.5"], "--fraction must be in (0, 1], not 1.5"),
    ("seed -1", [*EVAL, "--seed", "-1"], "--seed must be at least 0, not -1"),
    ("sampled 0", [*EVAL, "--sampled", "0"], "--sampled must be at least 1, not 0"),
    ("more sampled negatives than items", [*EVAL, "--sampled", "5"],
     "5 sampled negatives need a catalogue larger than 3 items"),
    ("per-user is the metrics file", [*EVAL, "--per-user", "{tmp}/metrics.json"],
     "--per-user {tmp}/metrics.json is also the metrics file (--out); name another file"),
    ("evaluate out is a folder", [*EVAL[:-1], "{tmp}/folder"], "--out {tmp}/folder is a folder"),
    ("a model named twice", [*EVAL, "--against", "popularity"], "each model may be named once"),
    ("split not a choice", [*EVAL, "--split", "time"], "argument --split: invalid choice: 'time'"),
    ("unknown option", [*EVAL, "--frobnicate"], "unrecognized arguments: --frobnicate"),
    ("adapter epochs -1", [*ADAPT, "--epochs", "-1"], "--epochs must be at least 1, not -1"),
    ("batch-size 0", [*ADAPT, "--batch-size", "0"], "--batch-size must be at least 1, not 0"),
    ("batch-size huge", [*ADAPT, "--batch-size", "1000000000"],
     "--batch-size must be at most 65,536, not 1,000,000,000"),
    ("lr -1", [*ADAPT, "--lr", "-1"], "--lr must be above 0, not -1.0"),
    ("lr inf", [*ADAPT, "--lr", "inf"], "--lr must be a finite number, not inf"),
    ("lr nan", [*ADAPT, "--lr", "nan"], "--lr must be a finite number, not nan"),
    ("rank 0", [*ADAPT, "--rank", "0"], "--rank must be at least 1, not 0"),
    ("rank huge", [*ADAPT, "--rank", "100000"], "--rank must be at most 1,024, not 100,000"),
    ("alpha 0", [*ADAPT, "--alpha", "0"], "--alpha must be at least 1, not 0"),
    ("adapter out exists", [*ADAPT[:-1], "{tmp}/folder"],
     "--out {tmp}/folder already exists; choose another, or allow overwriting"),
    ("overwrite a folder that is not an adapter", [*ADAPT[:-1], "{tmp}/folder", "--overwrite"],
     "--out {tmp}/folder exists and is not a folder this job wrote (no xcross_adapter.json)"),
    ("overwrite a file", [*ADAPT[:-1], "{tmp}/afile", "--overwrite"], "--out {tmp}/afile is a file; name a folder"),
    ("adapter on a one-user domain", ["train-adapter", ONE_USER, "--domain", "Games", "--out", "{tmp}/a"],
     "domain 'Games' cannot be trained or evaluated on: only 1 user (at least 5 needed)"),
    ("adapter on single purchases", ["train-adapter", SINGLE, "--domain", "Books", "--out", "{tmp}/a"],
     "domain 'Books' leaves no users with 2 or more purchases to train on in this split (8 users)"),
    ("adapter, leave-one-out on 3 purchases", [*ADAPT, "--split", "loo"],
     "domain 'Books' leaves no users with 2 or more purchases to train on in this split (6 users)"),
    ("adapter on an uncached hub id", [*ADAPT, "--base", "nobody/no-such-model"], f"--base {NO_CACHE}"),
    ("x-cross source is not an adapter", XCROSS,
     "--adapters {tmp}/folder is not an adapter folder (no xcross_adapter.json); train one first"),
    ("x-cross lr 0", [*XCROSS, "--lr", "0"], "--lr must be above 0, not 0.0"),
    ("x-cross overwrite a foreign folder", [*XCROSS[:-1], "{tmp}/folder", "--overwrite"],
     "--out {tmp}/folder exists and is not a folder this job wrote (no xcross_run.json)"),
    ("study fraction 0", [*STUDY, "--fractions", "0"], "--fractions must be in (0, 1], not 0.0"),
    ("study out exists", [*STUDY[:-1], "{tmp}/folder"], "--out {tmp}/folder already exists; choose another"),
    ("weights out is a folder", ["weights", "{tmp}/folder", SHOP, "--domain", "Books", "--out", "{tmp}/folder"],
     "--out {tmp}/folder is a folder; name a file to write"),
    ("poc max-users 0",
     ["poc", SHOP, "--target", "Books", "--adapters", "{tmp}/folder", "--out", "{tmp}/p", "--max-users", "0"],
     "--max-users must be at least 1, not 0"),
    ("studio port 0", ["studio", "--port", "0"], "argument --port: must be between 1 and 65535, not 0"),
    ("studio port not a number", ["studio", "--port", "http"], "argument --port: must be a whole number, not 'http'"),
    ("no command", [], "the following arguments are required: COMMAND"),
    ("unknown command", ["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), [c[1:] for c in FLAG_CASES], ids=[c[0] for c in FLAG_CASES])
def test_bad_option_or_data_is_one_error_line_and_writes_nothing(
    argv: list[Any], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("not a folder")
    before = sorted(tmp_path.rglob("*"))
    args = [str(a).replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == "" and "Traceback" not in err
    lines = err.splitlines()
    assert lines[-1].startswith("error: ") and message.replace("{tmp}", str(tmp_path)) in lines[-1], err
    assert all(line.startswith("warning: ") for line in lines[:-1]), err  # a data warning may come first
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, not even a folder


def test_the_installed_command_shows_no_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "xcross_core.cli", "validate", str(CORPUS / "nested_list.jsonl")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"error: {FATAL['nested_list.jsonl']}\n"


# --- memory: a file over the row limit is refused before it is read -------------------------------------------


def _traced_peak(call: Callable[[], object]) -> tuple[int, str]:
    """Peak bytes Python allocated (tracemalloc) while `call` ran; its DataError is expected and kept."""
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as info:
            call()
        return tracemalloc.get_traced_memory()[1], str(info.value)
    finally:
        tracemalloc.stop()


def test_a_csv_over_the_row_limit_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rows = (f"u{u},b{u % 50},2022-01-01,Books,A title of some length for item {u % 50}\n" for u in range(200_000))
    path.write_text("user_id,item_id,timestamp,domain,title\n" + "".join(rows), encoding="utf-8")
    size = path.stat().st_size
    peak, message = _traced_peak(lambda: load_interactions(path, max_rows=1_000))
    assert message.startswith("big.csv has more than 1,000 data rows, over the limit of 1,000: reading it could")
    assert message.endswith("Use a sample of it, or raise the limit with max_rows if this machine has the memory.")
    assert size > 10_000_000 and peak < 3_000_000  # reading it would hold all of its bytes, twice


def test_quoted_line_breaks_do_not_count_as_rows(tmp_path: Path) -> None:
    rows = [
        [f"u{u}", f"b{i}", f"2022-01-0{i + 1}", "Books", f"Title\nwith\nlines {i}"] for u in range(6) for i in range(3)
    ]
    path = tmp_path / "quoted.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["user_id", "item_id", "timestamp", "domain", "title"], *rows])
    assert path.read_bytes().count(b"\n") > 3 * 18  # the lines alone exceed the limit ...
    assert load_interactions(path, max_rows=18).report.ok  # ... the records do not
    with pytest.raises(DataError, match="quoted.csv has more than 17 data rows, over the limit of 17"):
        load_interactions(path, max_rows=17)


def test_json_lines_over_the_row_limit_are_refused_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    line = '{{"user_id": "u{0}", "item_id": "b1", "timestamp": 1, "domain": "D", "title": "A title"}}\n'
    path.write_text("".join(line.format(u) for u in range(100_000)), encoding="utf-8")
    peak, message = _traced_peak(lambda: load_interactions(path, max_rows=99_999))
    assert message.startswith("big.jsonl has more than 99,999 data rows, over the limit of 99,999")
    assert peak < 3_000_000 < path.stat().st_size


# --- memory: a value over the length limit is refused while it is read ----------------------------------------

SHOP_TEXT = (CORPUS / "max_rows.csv").read_text(encoding="utf-8")


@pytest.mark.parametrize("quoted", [False, True], ids=["one line", "quoted, over many lines"])
def test_a_huge_value_is_refused_while_reading_in_bounded_memory(
    quoted: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One 20 MB title took about ten times that to read before it was reported with only warnings. Now the scan
    # stops at 100,000 characters: quoted, it holds one record at a time; on one line, the line (read whole).
    value = '"' + "more words, and a comma\n" * 800_000 + '"' if quoted else "x" * 20_000_000
    path = tmp_path / "huge.csv"
    path.write_text(SHOP_TEXT + f"u9,b9,2022-01-09,Books,{value}\n", encoding="utf-8")
    size = path.stat().st_size
    peak, message = _traced_peak(lambda: load_interactions(path))
    refused = (
        "huge.csv data row 19 holds a value longer than 100,000 characters, the limit (perhaps a double quote that "
        "is never closed)"
    )
    assert message == refused + LIBRARY_TOO_LONG
    assert size > 19_000_000 and peak < (size // 20 if quoted else 3 * size)
    code, out, err = validate(capsys, path)
    assert (code, out, err) == (2, "", f"error: {refused}{TOO_LONG}\n")


def test_a_huge_json_value_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    record = '{{"user_id": "u{0}", "item_id": "b1", "timestamp": 1, "domain": "D", "title": "{1}"}}\n'
    path.write_text(record.format(0, "A title") + record.format(1, "x" * 20_000_000), encoding="utf-8")
    peak, message = _traced_peak(lambda: load_interactions(path))
    assert message.startswith("huge.jsonl line 2 holds a value longer than 100,000 characters, the limit")
    assert peak < 3_000_000 < path.stat().st_size


#: Loads `argv[1]` with the default row limit in a fresh process and prints how much its peak resident memory
#: grew, in MB, and the error.
MEASURE = """
import resource, sys
from xcross_core.data.load import load_interactions
from xcross_core.data.report import DataError
from xcross_core.jobs.validate import ValidateSpec
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    load_interactions(sys.argv[1])
except DataError as err:
    print(str(err))
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def test_a_small_parquet_file_of_many_rows_is_refused_from_its_metadata(tmp_path: Path) -> None:
    # 2 million rows in a file of a few kB (every value the same): reading it would take gigabytes.
    n = MAX_ROWS + 1
    same = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array(["x"]))
    path = tmp_path / "many.parquet"
    pq.write_table(pa.table({name: same for name in ("user_id", "item_id", "timestamp", "domain", "title")}), path)
    assert path.stat().st_size < 1_000_000
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, timeout=300, check=True
    )
    message, grew_mb = done.stdout.splitlines()
    assert message == (
        f"many.parquet has {n:,} data rows, over the limit of {MAX_ROWS:,}: reading it could exhaust memory. "
        "Use a sample of it, or raise the limit with max_rows if this machine has the memory."
    )
    assert float(grew_mb) < 50  # the metadata only: reading the rows would take far more
