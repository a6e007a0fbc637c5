"""The bad-input corpus (tests/data/bad/): every committed file, through the library and through `xcross validate`.

Each file breaks ingestion in one known way (tests/data/bad/README.md lists them). A file that cannot be used
at all must raise `DataError` with a message for the user, and `xcross validate` must print it as one
"error: ..." line with exit status 2. A file with bad rows must come back with a report that names every
dropped row and why, the rest of its data kept; `validate` exits 2 for error rows and 0 for warnings only.
The files are written by tests/data/bad/make_corpus.py; the first test checks that they have not drifted.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest

from xcross_core.cli import main
from xcross_core.data.load import ColumnMap, LoadResult, load_interactions
from xcross_core.data.report import DataError

CORPUS = Path(__file__).resolve().parent / "data" / "bad"
EPOCH_NS = 1_600_000_000 * 10**9  # the corpus's first epoch-seconds timestamp, as an ordering key
RISKY = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting with one of these
NOT_USABLE = "\nNot usable as it is: see the errors above. Rows with errors would be dropped with --drop-invalid.\n"


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


def test_committed_files_are_what_the_generator_writes() -> None:
    expected = GENERATOR.build_corpus()
    committed = {path.name: path.read_bytes() for path in CORPUS.iterdir() if path.suffix == ".csv"}
    assert sorted(committed) == sorted(expected), "run python tests/data/bad/make_corpus.py"
    for name, content in expected.items():
        assert committed[name] == content, f"{name} differs from make_corpus.py's output; rerun it"
    others = {path.name for path in CORPUS.iterdir() if path.suffix != ".csv" and path.name != "__pycache__"}
    assert others == {"README.md", "make_corpus.py", ".gitattributes"}


def test_files_are_small_and_listed_in_the_readme() -> None:
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    for name in CORPUS_FILES:
        size = (CORPUS / name).stat().st_size
        assert size <= (11_000 if name == "long_title.csv" else 4_096), f"{name} is {size} bytes"
        assert f"`{name}`" in readme, f"{name} is not described in README.md"
    assert "`over_limit.csv`" in readme  # tested on a normal file, not committed


# --- files that cannot be used at all ----------------------------------------------------------------------

HEADER = "user_id, item_id, timestamp, domain, title"
FATAL = {
    "empty.csv": "empty.csv is empty (0 bytes)",
    "header_only.csv": f"header_only.csv has no data rows (its header: {HEADER})",
    "binary_garbage.csv": "binary_garbage.csv does not look like a text file (it holds binary data)",
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
}


@pytest.mark.parametrize("name", sorted(FATAL))
def test_unusable_file_raises_data_error_and_validate_exits_2(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DataError) as info:
        load(name)
    assert type(info.value) is DataError
    assert str(info.value) == FATAL[name]
    assert info.value.report is None  # refused before any row was read
    code, out, err = validate(capsys, CORPUS / name)
    assert (code, out, err) == (2, "", f"error: {FATAL[name]}\n")


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
    # With an explicit encoding the binary check is skipped (UTF-16 holds NULs); the CSV parser then refuses it.
    with pytest.raises(DataError, match=r"^binary_garbage\.csv is not a well-formed CSV file: data row \d+ has"):
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
            "mixed_timestamps.csv rows 4, 11: timestamp format differs from the rest of the file (2 rows dropped; "
            "e.g. timestamp format differs from the rest of the file (ISO date among epoch seconds))",
        ),
        (
            "negative_epoch.csv",
            {5: "negative timestamp '-1600000000'"},
            "negative_timestamp",
            "negative_epoch.csv row 5: negative timestamp '-1600000000' (dropped)",
        ),
        (
            "overflow_epoch.csv",
            {7: "timestamp out of range '99999999999999999999'"},
            "timestamp_out_of_range",
            "overflow_epoch.csv row 7: timestamp out of range '99999999999999999999' (dropped)",
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
    assert code == 2 and err == NOT_USABLE
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
    assert (code, err) == (0, f"warning: {warning}\n") and "Status: OK" in out and "Dropped rows: 2" in out


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
    assert report.errors == ["formula_injection.csv row 11: negative timestamp '-2' (dropped)"]
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
    assert (code, err) == (2, NOT_USABLE) and "row 11: negative timestamp '-2'" in out
    dropped_out = tmp_path / "cli-dropped.csv"
    code, out, err = validate(capsys, CORPUS / "formula_injection.csv", "--drop-invalid", "--dropped-out", dropped_out)
    assert code == 0 and "--drop-invalid" in err
    pd.testing.assert_frame_equal(read_back(dropped_out), written)


def test_recommend_output_is_spreadsheet_safe(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "recs.csv"
    argv = ["recommend", "popularity", str(CORPUS / "formula_injection.csv"), "--domain", "Shop"]
    code = main([*argv, "--k", "10", "--out", str(out), "--drop-invalid"])
    _, err = capsys.readouterr()
    assert code == 0, err
    recs = read_back(out)
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score"]
    assert_spreadsheet_safe(recs)
    # Each risky id is written with one leading quote, so it reads back as the id a spreadsheet displays.
    assert set(recs["item_id"]) == {"'" + HYPERLINK, "'+1+1", "'-2", "'@SUM(A1)", "plain"}
    assert set(recs["user_id"]) == {"u0", "u1", "'@SUM(A1)", "'+1+1", "'-2"}
    assert recs.loc[recs["user_id"] == "u1", ["item_id", "score"]].values.tolist() == [
        ["'+1+1", "3.0"],
        ["plain", "2.0"],
        ["'" + HYPERLINK, "1.0"],
    ]
