"""What jobs write: output files and folders checked before any work starts, and trained models kept when
saving them fails.

`check_output_file` and `check_out` refuse, when a spec is built, an output that could not be written or
would destroy something: a folder where a file is wanted, a file on the way to it, a folder that cannot be
written, one of the job's own inputs, or an existing folder that `--overwrite` would replace although it is
not an artifact of the same kind. `save_or_keep` saves a trained model and, when that fails after all (a full
disk), saves it under the system's temporary folder instead and says where, so the training is not lost.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from xcross_core.jobs.spec import SpecError


class OutputError(Exception):
    """A job's result could not be written where it was asked to be; the message says what was kept, where."""


def check_output_file(field: str, path: Path | None, inputs: Sequence[Path | None] = ()) -> None:
    """Refuse output file `path` (setting `field`) when it is a folder, one of `inputs`, or cannot be created."""
    if path is None:
        return
    if path.is_dir():
        raise SpecError(field, f"{path} is a folder; name a file to write")
    for source in inputs:
        if source is not None and path.exists() and source.exists() and path.samefile(source):
            raise SpecError(field, f"{path} is one of this job's input files; writing it would destroy the input")
    _check_creatable(field, path)


def check_out(
    path: Path | None, *, overwrite: bool | None = None, marker: str | None = None, field: str = "out"
) -> None:
    """Refuse an output folder that exists (unless `overwrite`: writing it would lose what is there), a file
    in its place, or one that cannot be created.

    `overwrite` None: the job offers no overwriting. `marker`: the file that makes a folder an artifact of the
    job's kind (an adapter's metadata, a run's config); only such a folder may be overwritten.
    """
    if path is None:
        return
    if path.exists() and not path.is_dir():
        raise SpecError(field, f"{path} is a file; name a folder to create")
    if path.exists() and not overwrite:
        hint = "" if overwrite is None else ", or allow overwriting"
        raise SpecError(field, f"{path} already exists; choose another{hint}")
    if path.exists() and marker is not None and not (path / marker).is_file():
        raise SpecError(
            field, f"{path} exists and is not a folder this job wrote (no {marker}); overwriting would delete it"
        )
    _check_creatable(field, path)


def _check_creatable(field: str, path: Path) -> None:
    """Refuse `path` when it cannot be created: a file on the way to it, or a folder that cannot be written."""
    for ancestor in path.absolute().parents:
        if not ancestor.exists():
            continue
        if not ancestor.is_dir():
            raise SpecError(field, f"{path}: {ancestor} is a file, not a folder")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise SpecError(field, f"{path}: cannot write in {ancestor} (permission denied)")
        return


def save_or_keep(save: Callable[[Path], object], out: Path, what: str, hint: str = "") -> None:
    """`save(out)`; when it fails with an OSError (a full disk, a folder that vanished or cannot be written),
    `save` to a new folder under the system's temporary folder instead and raise OutputError naming it.

    `what` names the result ("trained adapter"); `hint` (optional) says how to use the kept copy, with `{kept}`
    and `{out}` standing for its path and the one asked for.
    """
    try:
        save(out)
        return
    except OSError as err:
        problem = _describe(err)
    try:
        kept = Path(tempfile.mkdtemp(prefix="xcross-kept-")) / out.name
        save(kept)
    except OSError as err:
        raise OutputError(
            f"could not save the {what} to {out} ({problem}), nor a copy under {tempfile.gettempdir()} "
            f"({_describe(err)}): it is lost; free some disk space and run again"
        ) from None
    usage = f": {hint.format(kept=kept, out=out)}" if hint else ""
    raise OutputError(f"could not save the {what} to {out} ({problem}); it was kept in {kept}{usage}")


def _describe(err: OSError) -> str:
    return f"{err.strerror or err}: {err.filename}" if err.filename else str(err.strerror or err)
