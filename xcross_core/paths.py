"""Paths of what the library writes: safe folder names under an artifact root, and portable stored paths.

`safe_name` and `artifact_dir` turn user-chosen adapter and run names into folder names that cannot
escape the artifact root; `inside` tells whether a path, its links followed, stays within a folder.
`portable` and `resolve` keep the paths a record stores (run store rows, a proof of concept's results.json)
relative to the folder that holds the record, so a workspace or run folder that is moved or shared as a
whole still finds its files.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

MAX_NAME_CHARS = 100
# Folder names are limited to 255 bytes on most file systems, and atomic_folder adds ".{name}.tmp-{pid}".
MAX_NAME_BYTES = 200
WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))]
)
_ALLOWED_PUNCTUATION = frozenset(" -_.")


def real(path: str | os.PathLike[str]) -> Path:
    """`path` absolute, its symbolic links followed as far as they lead. Unlike Path.resolve on Python 3.11, a
    link that loops raises nothing: it is taken where it is (opening it then fails with an OSError)."""
    return Path(os.path.realpath(path))


def inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """Whether `path`, its symbolic links followed, lies inside `root` (and is not `root` itself)."""
    target, base = real(path), real(root)
    return target != base and target.is_relative_to(base)


def portable(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> str:
    """`path` as a record under `root` stores it: relative to `root` with '/' separators, or absolute where no
    relative path exists (another drive). A relative `path` is taken as relative to the working directory."""
    target, base = real(path), real(root)
    try:
        return Path(os.path.relpath(target, base)).as_posix()
    except ValueError:
        return str(target)


def resolve(stored: str | os.PathLike[str], root: str | os.PathLike[str]) -> Path:
    """The path a record under `root` stored (see `portable`), as a normalised absolute path."""
    return Path(os.path.normpath(Path(root).resolve() / stored))


def safe_name(name: str) -> str:
    """`name` checked for use as one folder name under an artifact root, in Unicode NFC form.

    Allowed: letters of any script (with their combining marks), digits, space, '-', '_', and '.'
    anywhere but first. Raises ValueError naming the problem otherwise.
    """
    if not isinstance(name, str):
        raise TypeError(f"a name must be text, not {type(name).__name__}")
    # One spelling per name: macOS hands back decomposed (NFD) text, most input methods give NFC.
    name = unicodedata.normalize("NFC", name)
    if not name:
        raise ValueError("the name is empty")
    if "\x00" in name:
        raise ValueError(f"the name {name!r} contains a NUL byte")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise ValueError(f"the name {name!r} contains control characters")
    if name.startswith(("/", "\\")) or (name[1:2] == ":" and name[0].isascii() and name[0].isalpha()):
        raise ValueError(f"the name {name!r} is an absolute path; give a plain name")
    if "/" in name or "\\" in name:
        raise ValueError(f"the name {name!r} contains a path separator ('/' or '\\')")
    if name in (".", ".."):
        raise ValueError(f"the name {name!r} is reserved for the current or parent folder")
    if name.startswith("."):
        raise ValueError(f"the name {name!r} starts with a dot (hidden and temporary folders do)")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"the name is {len(name)} characters long; at most {MAX_NAME_CHARS} are allowed")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"the name takes {len(name.encode())} bytes in UTF-8; at most {MAX_NAME_BYTES} fit")
    if name != name.strip() or name.endswith("."):
        raise ValueError(f"the name {name!r} starts or ends with a space, or ends with a dot")
    stem = name.split(".")[0].rstrip().upper()  # Windows ignores the extension and trailing spaces here
    if stem in WINDOWS_RESERVED:
        raise ValueError(f"the name {name!r} is reserved on Windows ({stem})")
    for i, ch in enumerate(name):
        kind = unicodedata.category(ch)
        ok = kind.startswith("L") or kind == "Nd" or ch in _ALLOWED_PUNCTUATION or (kind.startswith("M") and i > 0)
        if not ok:
            raise ValueError(
                f"the name {name!r} contains {ch!r}; use letters, digits, space, '-', '_' or '.' (not first)"
            )
    return name


def artifact_dir(root: str | Path, name: str) -> Path:
    """The folder for artifact `name` directly under `root` (not created), guaranteed to stay inside it.

    Raises ValueError for an unsafe name, or when the folder would resolve outside `root` (e.g. `name`
    is an existing symbolic link pointing elsewhere).
    """
    path = Path(root) / safe_name(name)
    if not inside(path, root):
        raise ValueError(f"the artifact folder for {name!r} would be {real(path)}, outside {real(root)}")
    return real(path)
