"""Writing an output file whole or not at all: to a temporary sibling first, then renamed into place.

A rename within one folder is atomic, so a reader (or a user after a full disk, a crash or Ctrl-C) sees the
old file or the complete new one, never a truncated file under the name they asked for.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; it replaces `path` when the block ends without error.

    Missing parent folders are created. On any error (or interruption) the temporary file is removed and
    `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
