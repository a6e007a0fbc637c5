"""Artifact paths: safe folder names under an artifact root, and paths stored relative to a record's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from xcross_core.paths import artifact_dir, portable, resolve, safe_name


def test_stored_paths_are_relative_to_the_root_and_resolve_back(tmp_path: Path) -> None:
    root = tmp_path / "workspace"
    for path in (root / "adapters" / "Sports", tmp_path / "data" / "log.csv", root):
        stored = portable(path, root)
        assert not Path(stored).is_absolute() and "\\" not in stored
        assert resolve(stored, root) == path.resolve()
    assert portable(root / "poc" / "a b", root) == "poc/a b"
    assert resolve("/abs/file.csv", root) == Path("/abs/file.csv")  # an absolute path stays what it is


GOOD_NAMES = ["Beauty v2", "Ünïcödé_名前", "prime-pantry_2025.03", "a", "x" * 100, "हिन्दी", "CONSOLE", "v1.2"]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_safe_names_accepted(tmp_path: Path, name: str) -> None:
    assert safe_name(name) == name
    path = artifact_dir(tmp_path / "adapters", name)
    assert path == (tmp_path / "adapters").resolve() / name
    path.mkdir(parents=True)  # and the file system takes it


def test_safe_name_normalises_unicode() -> None:
    assert safe_name("U\u0308ber") == "\u00dcber"  # decomposed Ü (as macOS gives it) becomes one character


@pytest.mark.parametrize(
    "name, problem",
    [
        ("", "empty"),
        ("bad\x00name", "NUL"),
        ("tab\there", "control"),
        ("new\nline", "control"),
        ("bidi\u202eflip", "control"),
        ("/etc/passwd", "absolute"),
        ("\\\\server\\share", "absolute"),
        ("C:\\Windows", "absolute"),
        ("a/b", "separator"),
        ("..\\up", "separator"),
        ("../up", "separator"),
        (".", "current or parent"),
        ("..", "current or parent"),
        (".hidden", "starts with a dot"),
        ("x" * 101, "at most 100"),
        ("名" * 99, "bytes"),
        ("CON", "reserved on Windows"),
        ("nul", "reserved on Windows"),
        ("Com1.txt", "reserved on Windows"),
        ("LPT9", "reserved on Windows"),
        ("trailing.", "ends with a dot"),
        (" padded", "space"),
        ("star*", "'\\*'"),
        ("colon:x", "':'"),
    ],
)
def test_unsafe_names_rejected(tmp_path: Path, name: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        safe_name(name)
    with pytest.raises(ValueError, match=problem):
        artifact_dir(tmp_path, name)


def test_artifact_dir_refuses_a_link_out_of_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "adapters", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "sneaky").symlink_to(outside)
    with pytest.raises(ValueError, match="outside"):
        artifact_dir(root, "sneaky")
