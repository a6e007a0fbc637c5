"""The `xcross` command end to end: validate, recommend and evaluate, called in-process through `main`.

Small inputs are written into tmp_path by the builders below; the committed `sample_data/` files are read
only where a test says so (validation counts and the evaluate runs), and their expected figures are computed
here with pandas, not copied from the report. One test runs the installed `xcross` entry point.
"""

from __future__ import annotations

import csv
import errno
import importlib
import io
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from xcross_core.cli import COMMANDS, main
from xcross_core.cli.noise import quiet_third_party
from xcross_core.jobs import train_adapter as train_adapter_job
from xcross_core.models.adapters import read_metadata
from xcross_core.models.base import BaseModelError, load_base

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
SAMPLE_INTERACTIONS = SAMPLE / "interactions.csv"
SAMPLE_ITEMS = SAMPLE / "items.csv"
COLUMNS = ["user_id", "item_id", "timestamp", "domain", "title"]


# --- helpers -----------------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[list[str]], columns: list[str] = COLUMNS) -> Path:
    """Rows of strings to a UTF-8 CSV file with a header."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def shop_rows(users: int = 6, items: int = 3, domain: str = "Books") -> list[list[str]]:
    """Each user buys items b0, b1, ... on consecutive days; titles inline. Data row numbers are 1-based."""
    return [
        [f"u{u}", f"b{i}", f"2022-01-{i + 1:02d}", domain, f"Title {i}"] for u in range(users) for i in range(items)
    ]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """`xcross ARGV` in-process: (exit status, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def report_counts(text: str) -> dict[str, dict[str, int]]:
    """{domain: {users, items, interactions}} from the "Domains" table of a printed validation report."""
    lines = text.splitlines()
    header = lines[lines.index("Domains") + 1].split()
    counts: dict[str, dict[str, int]] = {domain: {} for domain in header}
    for line in lines:
        match = re.fullmatch(r"\s+(users|items|interactions)((?:\s+\d+)+)\s*", line)
        if match:
            values = [int(v) for v in match.group(2).split()]
            assert len(values) == len(header), line
            for domain, value in zip(header, values, strict=True):
                counts[domain][match.group(1)] = value
    return counts


def expected_sample_counts() -> dict[str, dict[str, int]]:
    """Per-domain users, items and interactions of the sample data, computed straight from the CSV files.

    A domain's catalogue is every item bought in it plus every item the item file lists for it.
    """
    log = pd.read_csv(SAMPLE_INTERACTIONS, dtype=str, keep_default_na=False).drop_duplicates()
    listed = pd.read_csv(SAMPLE_ITEMS, dtype=str, keep_default_na=False)
    expected = {}
    for domain, rows in log.groupby("domain"):
        catalogue = set(rows["item_id"]) | set(listed.loc[listed["domain"] == domain, "item_id"])
        expected[str(domain)] = {
            "users": rows["user_id"].nunique(),
            "items": len(catalogue),
            "interactions": len(rows),
        }
    return expected


# --- the installed entry point -------------------------------------------------------------------------


def test_installed_entry_point_prints_help() -> None:
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    exe = shutil.which("xcross", path=search)
    assert exe is not None, "the `xcross` command is not installed (pip install -e .)"
    for argv in ([exe, "--help"], [exe, "validate", "--help"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "usage: xcross" in done.stdout
    assert "--drop-invalid" in done.stdout and "--json" in done.stdout


#: Runs `xcross --help` in-process and prints the heavy libraries it imported.
HELP_IMPORTS = """
import contextlib, io, sys
from xcross_core.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(["--help"])
print(" ".join(sorted(m for m in ("torch", "transformers", "pandas", "peft", "streamlit") if m in sys.modules)))
"""


def test_help_is_quick_and_imports_no_heavy_library() -> None:
    done = subprocess.run([sys.executable, "-c", HELP_IMPORTS], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "\n", "")
    exe = shutil.which("xcross", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    assert exe is not None
    start = time.perf_counter()
    done = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    seconds = time.perf_counter() - start
    assert done.returncode == 0 and "train-adapter" in done.stdout and "studio" in done.stdout
    assert seconds < 3.0, f"`xcross --help` took {seconds:.1f} s"  # about 0.2 s measured; generous for slow CI


def test_version_comes_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"xcross {version('xcross-studio')}\n"


def test_the_command_list_matches_the_specs() -> None:
    for name, command in COMMANDS.items():
        spec = getattr(importlib.import_module(f"xcross_core.jobs.{command.module}"), command.spec)
        first = (spec.__doc__ or "").strip().splitlines()[0]
        assert command.summary == first[0].lower() + first[1:].rstrip("."), name


def test_usage_errors_are_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "error: the following arguments are required: interactions (see `xcross validate --help`)\n"
    )


def test_a_reader_that_goes_away_gets_no_traceback(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "log.csv", shop_rows())
    command = f"{shlex.quote(sys.executable)} -m xcross_core.cli validate {shlex.quote(str(path))} --json | head -c 1"
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    assert done.stdout == "{" and "Traceback" not in done.stderr and "Error" not in done.stderr


def test_third_party_warnings_are_quiet_and_ours_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS", "TOKENIZERS_PARALLELISM"):
        monkeypatch.delenv(name, raising=False)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        quiet_third_party()
        warnings.warn_explicit("internal", FutureWarning, "modeling.py", 1, module="transformers.modeling_utils")
        warnings.warn_explicit("internal", UserWarning, "functional.py", 1, module="torch.nn.functional")
        warnings.warn_explicit("ours", UserWarning, "load.py", 1, module="xcross_core.data.load")
    assert [str(w.message) for w in shown] == ["ours"]
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1" and os.environ["TRANSFORMERS_VERBOSITY"] == "error"


def test_loading_a_model_prints_no_third_party_noise(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "log.csv", shop_rows())
    argv = [sys.executable, "-m", "xcross_core.cli", "recommend", "base", str(path), "--domain", "Books"]
    argv += ["--keep-history", "--out", str(tmp_path / "r.csv")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no FutureWarning, no "Loading weights" bar
    assert "wrote 18 recommendations" in done.stdout


def test_a_hub_id_is_refused_quickly_and_offline_without_download(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "log.csv", shop_rows())
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env |= {"HF_ENDPOINT": "http://10.255.255.1", "HF_HUB_ETAG_TIMEOUT": "2", "HF_HUB_DOWNLOAD_TIMEOUT": "2"}
    argv = [sys.executable, "-m", "xcross_core.cli", "recommend", "base", str(path), "--domain", "Books"]
    argv += ["--out", str(tmp_path / "r.csv"), "--base", "nobody/no-such-model"]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert time.perf_counter() - start < 30
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        "error: --base 'nobody/no-such-model' is not a local model folder, nor a model in the Hugging Face cache; "
        "pass --download to fetch it from the hub (needs network), or name a local folder\n"
    )


def test_loading_a_hub_id_without_download_opens_no_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network use is not allowed here")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(BaseModelError, match="pass download=True to fetch it"):
        load_base("nobody/no-such-model")
    assert attempts == []


def test_a_failed_save_after_training_keeps_the_adapter_and_says_where(
    tiny_bert: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "adapters" / "books"
    real_save = train_adapter_job.save_adapter

    def disk_full(model: object, metadata: object, folder: Path) -> Path:
        if folder == out:
            raise OSError(errno.ENOSPC, "No space left on device", str(folder))
        return real_save(model, metadata, folder)

    monkeypatch.setattr(train_adapter_job, "save_adapter", disk_full)
    path = write_csv(tmp_path / "log.csv", shop_rows(users=8))
    argv = ["train-adapter", path, "--domain", "Books", "--out", out, "--base", tiny_bert, "--epochs", "1"]
    code, stdout, err = run_cli(capsys, *argv)
    assert code == 1 and stdout == "" and not out.exists()
    kept = Path(re.search(r"it was kept in (\S+): ", err).group(1))
    try:
        assert err.splitlines()[-1] == (  # after the split and the training log
            f"error: could not save the trained adapter to {out} (No space left on device: {out}); it was kept in "
            f"{kept}: a complete adapter folder; move it to {out} (or use it from where it is) once there is room"
        )
        assert read_metadata(kept).domain == "Books" and (kept / "adapter_model.safetensors").is_file()
    finally:
        shutil.rmtree(kept.parent)


# --- validate: the sample data ------------------------------------------------------------------------


def test_validate_sample_data_reports_the_counts_of_the_csv(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "validate", SAMPLE_INTERACTIONS, "--items", SAMPLE_ITEMS)
    assert code == 0, err
    assert "Status: OK" in out
    assert report_counts(out) == expected_sample_counts()


def test_validate_sample_data_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "validate", SAMPLE_INTERACTIONS, "--items", SAMPLE_ITEMS, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] is True and report["n_dropped"] == 0 and report["errors"] == []
    found = {d["domain"]: {k: d[k] for k in ("users", "items", "interactions")} for d in report["domains"]}
    assert found == expected_sample_counts()


def test_validate_sample_interactions_without_items_file_needs_titles(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "validate", SAMPLE_INTERACTIONS)
    assert code == 2
    assert "missing required column title" in err and "item file" in err
    assert "Traceback" not in err


# --- validate: broken files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "missing", "hint"),
    [
        (["user", "item_id", "timestamp", "domain", "title"], "user_id", "--column user=user_id"),
        (["user_id", "item_id", "time", "domain", "title"], "timestamp", "--column time=timestamp"),
        (["user_id", "item_id", "timestamp", "domain", "name"], "title", "item file"),
    ],
)
def test_validate_missing_column_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], columns: list[str], missing: str, hint: str
) -> None:
    path = write_csv(tmp_path / "log.csv", shop_rows(), columns)
    code, _, err = run_cli(capsys, "validate", path)
    assert code == 2
    assert f"missing required column {missing}" in err
    assert hint in err


def test_validate_mapped_column_that_is_absent_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "log.csv", shop_rows(), ["buyer", *COLUMNS[1:]])
    code, _, err = run_cli(capsys, "validate", path, "--column", "customer=user_id")
    assert code == 2
    assert err.startswith("error: --column customer=user_id: there is no column 'customer' in log.csv (columns: ")
    assert "'buyer'" in err
    # Refused too when the file has a user_id column, which would otherwise be used in its place silently.
    code, _, err = run_cli(capsys, "validate", write_csv(tmp_path / "ours.csv", shop_rows()), "--column", "c=user_id")
    assert code == 2 and "there is no column 'c' in ours.csv" in err


@pytest.mark.parametrize("pair", ["customer", "customer=buyer"])
def test_validate_malformed_column_option(tmp_path: Path, capsys: pytest.CaptureFixture[str], pair: str) -> None:
    path = write_csv(tmp_path / "log.csv", shop_rows())
    code, _, err = run_cli(capsys, "validate", path, "--column", pair)
    assert code == 2
    assert f"--column {pair!r}" in err


def bad_timestamp_file(tmp_path: Path) -> Path:
    rows = shop_rows()
    rows[2][2] = "not-a-date"  # data row 3
    rows[6][2] = "yesterday"  # data row 7
    return write_csv(tmp_path / "stamps.csv", rows)


def test_validate_bad_timestamps_names_the_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "validate", bad_timestamp_file(tmp_path))
    assert code == 2
    assert "Status: PROBLEMS FOUND" in out
    assert "stamps.csv rows 3, 7: unparseable timestamp" in out
    assert "'not-a-date'" in out
    assert "--drop-invalid" in err


def test_validate_one_bad_timestamp_says_row_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = shop_rows()
    rows[2][2] = "-5"
    code, out, _ = run_cli(capsys, "validate", write_csv(tmp_path / "log.csv", rows))
    assert code == 2
    assert "log.csv row 3: negative timestamp '-5'" in out


def test_validate_drop_invalid_writes_the_dropped_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dropped_path = tmp_path / "out" / "dropped.csv"
    dropped_path.parent.mkdir()
    code, out, err = run_cli(
        capsys, "validate", bad_timestamp_file(tmp_path), "--drop-invalid", "--dropped-out", dropped_path
    )
    assert code == 0, err
    assert err == "dropped 2 rows with errors from stamps.csv (rows 3, 7)\n"
    assert "Rows with problems: 2" in out
    assert report_counts(out) == {"Books": {"users": 6, "items": 3, "interactions": 6 * 3 - 2}}
    dropped = pd.read_csv(dropped_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert "reason" in dropped.columns
    assert dropped["row"].tolist() == ["3", "7"]
    assert dropped["timestamp"].tolist() == ["not-a-date", "yesterday"]
    assert dropped["reason"].str.contains("unparseable timestamp").all()


def test_dropped_out_into_a_missing_folder_creates_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dropped_path = tmp_path / "new" / "folder" / "dropped.csv"
    code, _, err = run_cli(
        capsys, "validate", bad_timestamp_file(tmp_path), "--drop-invalid", "--dropped-out", dropped_path
    )
    assert code == 0, err
    assert pd.read_csv(dropped_path, encoding="utf-8-sig")["row"].tolist() == [3, 7]
    assert [p.name for p in dropped_path.parent.iterdir()] == ["dropped.csv"]  # no temporary file left


def test_validate_without_dropped_out_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = bad_timestamp_file(tmp_path)
    before = set(tmp_path.iterdir())
    code, _, _ = run_cli(capsys, "validate", path, "--drop-invalid")
    assert code == 0
    assert set(tmp_path.iterdir()) == before


def test_validate_bad_file_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "validate", bad_timestamp_file(tmp_path), "--json")
    assert code == 2
    report = json.loads(out)  # stdout holds the JSON alone; messages go to stderr
    assert report["ok"] is False
    assert report["n_dropped"] == 2
    assert report["dropped_summary"] == [
        {"file": "stamps.csv", "check": "unparseable_timestamp", "severity": "error", "rows": 2, "first_rows": [3, 7]}
    ]
    assert any("rows 3, 7" in message for message in report["errors"])


def test_validate_empty_title_names_the_item_and_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = shop_rows()
    rows[4][1], rows[4][4] = "b9", "   "  # data row 5: a new item whose title is only whitespace
    code, out, _ = run_cli(capsys, "validate", write_csv(tmp_path / "log.csv", rows))
    assert code == 2
    assert "log.csv row 5: empty title for item 'b9'" in out


def test_validate_latin1_bytes_are_refused_with_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = shop_rows()
    rows[3][4] = "Café crème"  # data row 4 is line 5 of the file
    path = tmp_path / "latin.csv"
    path.write_bytes(
        "\n".join(",".join(r) for r in [COLUMNS, *rows]).encode("latin-1") + b"\n",
    )
    code, out, err = run_cli(capsys, "validate", path)
    assert code == 2
    assert out == ""
    assert "not valid UTF-8" in err and "line 5" in err and "0xE9" in err
    assert "--encoding latin-1" in err
    code, out, err = run_cli(capsys, "validate", path, "--encoding", "latin-1")
    assert code == 0, err
    assert "Status: OK" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty.csv is empty (0 bytes)"),
        (b"  \n\n", "empty.csv is empty (it holds only whitespace)"),
        (b"user_id,item_id,timestamp,domain,title\n", "empty.csv has no data rows"),
    ],
)
def test_validate_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    code, out, err = run_cli(capsys, "validate", path)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_validate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "validate", tmp_path / "nowhere.csv")
    assert code == 2
    assert "nowhere.csv: no such file" in err


def test_validate_too_few_users_is_not_usable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "log.csv", shop_rows(users=3))
    code, out, _ = run_cli(capsys, "validate", path)
    assert code == 2
    assert "only 3 users (at least 5 needed)" in out
    code, out, _ = run_cli(capsys, "validate", path, "--min-users", "3")
    assert code == 0
    assert "Status: OK" in out


# --- validate: column mapping -------------------------------------------------------------------------


def test_validate_maps_every_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = shop_rows(users=5) + shop_rows(users=6, items=2, domain="Games")
    path = write_csv(tmp_path / "shop.csv", rows, ["customer", "product", "when", "category", "name"])
    mapping = ["customer=user_id", "product=item_id", "when=timestamp", "category=domain", "name=title"]
    code, _, err = run_cli(capsys, "validate", path)
    assert code == 2 and "missing required columns" in err
    code, out, err = run_cli(capsys, "validate", path, *[arg for pair in mapping for arg in ("--column", pair)])
    assert code == 0, err
    assert "Status: OK" in out
    assert report_counts(out) == {
        "Books": {"users": 5, "items": 3, "interactions": 15},
        "Games": {"users": 6, "items": 2, "interactions": 12},
    }


# --- recommend popularity -----------------------------------------------------------------------------

# Books: b1..b5 in the item file; bought b1 x4, b2 x3, b3 x1, b4 x1, b5 never. Games: g1..g3, other users.
SHOP = """user_id,item_id,timestamp,domain
u1,b1,1,Books
u1,b2,2,Books
u2,b1,1,Books
u2,b3,2,Books
u3,b1,1,Books
u3,b2,2,Books
u3,b4,3,Books
u4,b2,1,Books
u5,b1,1,Books
v1,g1,1,Games
v1,g2,2,Games
v2,g1,1,Games
"""
CATALOGUE = """item_id,title,domain
b1,Book one,Books
b2,Book two,Books
b3,Book three,Books
b4,Book four,Books
b5,Book five,Books
g1,Game one,Games
g2,Game two,Games
g3,Game three,Games
"""
# Another period's Books sales: b5 x3, b4 x2, b3 x1, and b9, which is not in the catalogue.
OTHER = """user_id,item_id,timestamp,domain,title
t1,b5,1,Books,Book five
t1,b4,2,Books,Book four
t2,b5,1,Books,Book five
t2,b4,2,Books,Book four
t3,b5,1,Books,Book five
t3,b3,2,Books,Book three
t3,b9,3,Books,Book nine
t4,g3,1,Games,Game three
"""
CATALOGUE_TABLE = pd.read_csv(io.StringIO(CATALOGUE), dtype=str)
BOOKS = {"b1", "b2", "b3", "b4", "b5"}
BOUGHT = {"u1": {"b1", "b2"}, "u2": {"b1", "b3"}, "u3": {"b1", "b2", "b4"}, "u4": {"b2"}, "u5": {"b1"}}


@pytest.fixture
def shop(tmp_path: Path) -> dict[str, Path]:
    paths = {"log": tmp_path / "shop.csv", "items": tmp_path / "items.csv", "other": tmp_path / "other.csv"}
    for key, text in (("log", SHOP), ("items", CATALOGUE), ("other", OTHER)):
        paths[key].write_text(text, encoding="utf-8")
    return paths


def recommend(
    capsys: pytest.CaptureFixture[str], shop: dict[str, Path], *extra: str | Path, k: int = 2, domain: str = "Books"
) -> tuple[int, pd.DataFrame | None, str]:
    """Run `xcross recommend popularity` on the shop; (exit status, RECS.csv or None, stderr)."""
    out = shop["log"].parent / "recs" / "recs.csv"
    code, stdout, err = run_cli(
        capsys,
        "recommend",
        "popularity",
        shop["log"],
        "--items",
        shop["items"],
        "--domain",
        domain,
        "--k",
        str(k),
        "--out",
        out,
        *extra,
    )
    if code != 0:
        return code, None, err
    assert f"to {out}" in stdout
    return code, pd.read_csv(out, dtype={"user_id": str, "item_id": str}), err


def as_lists(recs: pd.DataFrame) -> dict[str, list[tuple[str, float]]]:
    """{user: [(item, score), ...] in rank order}."""
    recs = recs.sort_values(["user_id", "rank"])
    return {
        user: list(zip(group["item_id"], group["score"], strict=True))
        for user, group in recs.groupby("user_id", sort=True)
    }


def check_shape(recs: pd.DataFrame, k: int) -> None:
    """The documented RECS.csv contract for K items per user of Books."""
    assert list(recs.columns) == ["user_id", "rank", "item_id", "title", "score"]
    assert set(recs["user_id"]) == set(BOUGHT)
    titles = dict(zip(CATALOGUE_TABLE["item_id"], CATALOGUE_TABLE["title"], strict=True))
    assert recs["title"].tolist() == [titles[item] for item in recs["item_id"]]
    assert set(recs["item_id"]) <= BOOKS
    for _, group in recs.groupby("user_id"):
        assert group["rank"].tolist() == list(range(1, k + 1))
        assert group["score"].is_monotonic_decreasing
        assert group["item_id"].is_unique


def test_recommend_popularity_top_k(shop: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, recs, err = recommend(capsys, shop)
    assert code == 0, err
    assert len(recs) == 2 * len(BOUGHT)
    check_shape(recs, 2)
    for user, group in recs.groupby("user_id"):
        assert not set(group["item_id"]) & BOUGHT[user]  # already-bought items are excluded
    assert as_lists(recs) == {
        "u1": [("b3", 1.0), ("b4", 1.0)],  # equal counts: item_id order
        "u2": [("b2", 3.0), ("b4", 1.0)],
        "u3": [("b3", 1.0), ("b5", 0.0)],  # b5 is in the catalogue though no one bought it
        "u4": [("b1", 4.0), ("b3", 1.0)],
        "u5": [("b2", 3.0), ("b3", 1.0)],
    }


def test_recommend_keep_history_allows_bought_items(shop: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, recs, err = recommend(capsys, shop, "--keep-history")
    assert code == 0, err
    check_shape(recs, 2)
    assert as_lists(recs) == {user: [("b1", 4.0), ("b2", 3.0)] for user in BOUGHT}


def test_recommend_other_domain(shop: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, recs, err = recommend(capsys, shop, domain="Games", k=1)
    assert code == 0, err
    assert as_lists(recs) == {"v1": [("g3", 0.0)], "v2": [("g2", 1.0)]}


def test_recommend_counts_from_train_file(shop: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, recs, err = recommend(capsys, shop, "--train", shop["other"])
    assert code == 0, err
    check_shape(recs, 2)
    assert "1 purchases in other.csv are of items outside the catalogue" in err  # b9
    assert as_lists(recs) == {
        "u1": [("b5", 3.0), ("b4", 2.0)],
        "u2": [("b5", 3.0), ("b4", 2.0)],
        "u3": [("b5", 3.0), ("b3", 1.0)],
        "u4": [("b5", 3.0), ("b4", 2.0)],
        "u5": [("b5", 3.0), ("b4", 2.0)],
    }


def test_recommend_k_beyond_unbought_items_never_recommends_bought_ones(
    shop: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, recs, err = recommend(capsys, shop, k=len(BOOKS))
    assert code == 0, err
    assert (recs["score"] > float("-inf")).all()
    lists = as_lists(recs)
    for user, bought in BOUGHT.items():
        assert {item for item, _ in lists[user]} == BOOKS - bought
        assert recs.loc[recs["user_id"] == user, "rank"].tolist() == list(range(1, len(BOOKS - bought) + 1))
    assert "fewer than 5 items" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--domain", "Music"], "domain 'Music' is not in the data (domains: Books, Games)"),
        (["--k", "0"], "--k must be at least 1"),
        (["--k", "-3"], "--k must be at least 1"),
    ],
)
def test_recommend_bad_request(
    shop: dict[str, Path], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = shop["log"].parent / "recs.csv"
    argv = ["recommend", "popularity", shop["log"], "--items", shop["items"], "--domain", "Books", "--out", out]
    code, _, err = run_cli(capsys, *argv, *args)
    assert code == 2
    assert f"error: {message}" in err
    assert not out.exists()


def test_recommend_unknown_model(shop: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = shop["log"].parent / "recs.csv"
    argv = ["recommend", "nonsense", shop["log"], "--items", shop["items"], "--domain", "Books", "--out", out]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert "unknown model 'nonsense'" in err and "popularity" in err
    assert not out.exists()
    # A model that has to be trained on a split first is named, with the way to train it.
    code, _, err = run_cli(capsys, "recommend", "sasrec", *argv[2:])
    assert code == 2 and "needs a trained model" in err and "train-adapter" in err
    assert not out.exists()


def test_recommend_bad_input_rows_stop_unless_dropped(
    shop: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    shop["log"].write_text(SHOP + "u9,b1,soon,Books\n", encoding="utf-8")  # data row 13
    code, _, err = recommend(capsys, shop)
    assert code == 2
    assert "shop.csv row 13: unparseable timestamp 'soon'" in err and "--drop-invalid" in err
    code, recs, err = recommend(capsys, shop, "--drop-invalid")
    assert code == 0, err
    check_shape(recs, 2)


def test_missing_required_option_is_a_usage_error(shop: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["recommend", "popularity", str(shop["log"]), "--out", str(shop["log"].parent / "r.csv")])
    assert exit_info.value.code == 2
    assert "--domain" in capsys.readouterr().err


# --- evaluate ------------------------------------------------------------------------------------------

EVAL_USERS = 300


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One popularity-vs-SASRec run on a capped sample-data domain, shared by the evaluate tests."""
    folder = tmp_path_factory.mktemp("evaluate")
    metrics, per_user = folder / "runs" / "m.json", folder / "per_user.csv"
    code = main(
        [
            "evaluate",
            "popularity",
            str(SAMPLE_INTERACTIONS),
            "--items",
            str(SAMPLE_ITEMS),
            "--domain",
            "Electronics",
            "--against",
            "sasrec",
            "--max-users",
            str(EVAL_USERS),
            "--epochs",
            "2",
            "--out",
            str(metrics),
            "--per-user",
            str(per_user),
        ]
    )
    return {"code": code, "metrics": metrics, "per_user": per_user}


def test_evaluate_writes_metrics_json(evaluated: dict[str, Any]) -> None:
    assert evaluated["code"] == 0
    out = json.loads(evaluated["metrics"].read_text())
    split = out["split"]
    assert split["domain"] == "Electronics" and split["protocol"] == "full"
    assert split["train_users"] + split["valid_cases"] + split["test_cases"] == EVAL_USERS
    assert set(out["models"]) == {"popularity", "sasrec"}
    for model in out["models"].values():
        ndcg = model["metrics"]["ndcg@10"]
        assert 0.0 <= ndcg["low"] <= ndcg["mean"] <= ndcg["high"] <= 1.0
    assert out["models"]["sasrec"]["trainable_parameters"] > 0
    comparison = out["comparisons"]["sasrec - popularity"]["ndcg@10"]
    assert 0.0 <= comparison["p_value"] <= 1.0
    assert comparison["difference"]["low"] <= comparison["difference"]["mean"] <= comparison["difference"]["high"]


def test_evaluate_writes_one_per_user_row_per_test_user_and_model(evaluated: dict[str, Any]) -> None:
    assert evaluated["code"] == 0
    test_cases = json.loads(evaluated["metrics"].read_text())["split"]["test_cases"]
    per_user = pd.read_csv(evaluated["per_user"], dtype={"user": str})
    assert len(per_user) == 2 * test_cases
    assert per_user.groupby("model")["user"].nunique().to_dict() == {"popularity": test_cases, "sasrec": test_cases}
    assert not per_user.duplicated(["model", "user"]).any()
    assert {"ndcg@10", "hit@10", "mrr"} <= set(per_user.columns)


def test_evaluate_sampled_protocol_is_labelled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    metrics = tmp_path / "s.json"
    code, out, err = run_cli(
        capsys,
        "evaluate",
        "popularity",
        SAMPLE_INTERACTIONS,
        "--items",
        SAMPLE_ITEMS,
        "--domain",
        "Sports",
        "--max-users",
        "200",
        "--sampled",
        "20",
        "--out",
        metrics,
    )
    assert code == 0, err
    assert "sampled-20 ranking" in out
    result = json.loads(metrics.read_text())
    assert result["split"]["protocol"] == "sampled-20"
    assert result["models"]["popularity"]["protocol"] == "sampled-20"
    assert result["comparisons"] == {}


@pytest.mark.parametrize("argv", [["nope"], ["popularity", "--against", "nope"]])
def test_evaluate_unknown_model(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    path = write_csv(tmp_path / "log.csv", shop_rows())
    model, *rest = argv
    code, _, err = run_cli(capsys, "evaluate", model, path, "--domain", "Books", "--out", tmp_path / "m.json", *rest)
    assert code == 2
    assert (
        "unknown model 'nope'; use one of popularity, sasrec, base, lora, an adapter folder or an X-Cross run folder"
        in err
    )
    assert not (tmp_path / "m.json").exists()


# --- poc: its options ---------------------------------------------------------------------------------


def test_poc_tops_test_users_up_to_1000_by_default_and_says_so_in_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["poc", "--help"])
    assert exit_info.value.code == 0
    usage = " ".join(capsys.readouterr().out.split())  # argparse wraps the help at the terminal's width
    option = usage.split("--test-users TEST_USERS ", 2)[-1].split(" --", 1)[0]
    assert option.startswith("test users wanted: users from outside the cap on users are added")
    assert option.endswith("(default: 1000)")


def test_poc_refuses_fewer_than_one_test_user(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["poc", SAMPLE_INTERACTIONS, "--target", "Electronics", "--adapters", tmp_path, "--out", tmp_path / "run"]
    code, _, err = run_cli(capsys, *argv, "--test-users", "0")
    assert code == 2
    assert err == "error: --test-users must be at least 1, not 0\n"
    assert not (tmp_path / "run").exists()
