"""What a studio session works on: the workspace (its run store, adapters and uploads) and the chosen dataset.

The chosen dataset lives in the session and in the workspace's dataset.json, so a browser refresh keeps it.
The studio writes and deletes only inside its workspace: a symbolic link there that leads out of it is
refused, never followed.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import streamlit as st
from messages import error_text
from plain import md

from xcross_core.data.load import ColumnMap
from xcross_core.data.merge import merge_files
from xcross_core.data.output import atomic_file
from xcross_core.data.report import DataError
from xcross_core.paths import inside, real, safe_name
from xcross_core.store import RunStore
from xcross_core.worker import Workspace

#: The front end's folder: app/ in a checkout, the package xcross_studio when installed from a wheel.
HERE = Path(__file__).resolve().parent
# A wheel (`pip install .`) ships the sample data inside the package; a checkout keeps it beside app/.
_INSTALLED = (HERE / "sample_data").is_dir()
#: The repository when the studio runs from a checkout (an editable install); None when installed from a wheel.
ROOT: Path | None = None if _INSTALLED else HERE.parent
SAMPLE_DIR = HERE / "sample_data" if ROOT is None else ROOT / "sample_data"
SAMPLE_ADAPTERS = SAMPLE_DIR / "adapters"
#: The development data beside the repository; a wheel has none.
DEV_DIR: Path | None = None if ROOT is None else ROOT.parent / "shared" / "data" / "amazon_dev"


def workspace() -> Workspace:
    """The studio's workspace: env XCROSS_HOME, else runs/studio in the repository (ignored by git), or, when
    installed from a wheel, runs/studio in the folder the studio was started from (never inside site-packages)."""
    default = (Path.cwd() if ROOT is None else ROOT) / "runs" / "studio"
    return Workspace(Path(os.environ.get("XCROSS_HOME") or default))


def in_workspace(path: Path) -> Path:
    """`path`, a place in the workspace, checked to stay there. Raises ValueError when it is a symbolic link that
    leads out of the workspace (or is the workspace itself)."""
    root = workspace().root
    if not inside(path, root):
        raise ValueError(
            f"{path} leads to {real(path)}, outside the workspace {real(root)}; the studio writes only inside its "
            "workspace: remove the link"
        )
    return path


def store() -> RunStore:
    """The run store (opening it marks runs whose worker died as failed).

    Every page needs it: when the workspace cannot hold it (a folder or a broken link in its place, a link out
    of the workspace, a full disk), the page says so and stops.
    """
    ws = workspace()
    try:
        in_workspace(ws.store_path)
        return ws.store()
    except (ValueError, OSError, sqlite3.Error) as err:
        st.error(
            md(
                "The studio's run store {} cannot be opened: {}. Fix or free the workspace, or start the studio "
                "with the environment variable XCROSS_HOME set to another folder.",
                ws.store_path,
                error_text(err),
            )
        )
        st.stop()


#: The uploads' folder of merged uploads (see `uploaded_dataset`).
MERGED = "merged"


def uploads_folder(subfolder: str = "") -> Path:
    """The workspace's folder of uploaded files (or its `subfolder`), created if missing. Raises ValueError when it
    is a link that leads out of the workspace, NotADirectoryError when a file or a broken link has its name."""
    folder = in_workspace(workspace().root / "uploads" / subfolder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(
            errno.ENOTDIR, "not a folder (a file or a broken link has its name)", str(folder)
        ) from None
    return folder


@dataclass(frozen=True)
class Dataset:
    """A purchase log to work on: its files and column mapping (our name -> the file's name)."""

    label: str
    interactions: str
    items: str | None = None
    columns: tuple[tuple[str, str], ...] = ()

    def column_map(self) -> ColumnMap:
        """The mapping as the loader takes it."""
        return ColumnMap(**dict(self.columns))

    def params(self) -> dict[str, Any]:
        """The data part of a run's parameters. Rows that fail validation are left out, as the Data page shows."""
        columns = dict(self.columns)
        return {"interactions": self.interactions, "items": self.items, "columns": columns, "drop_invalid": True}

    @classmethod
    def from_params(cls, params: dict[str, Any], label: str = "run data") -> Dataset:
        """The dataset a run was started on, from its parameters."""
        columns = tuple(sorted((params.get("columns") or {}).items()))
        return cls(label, str(params["interactions"]), params.get("items"), columns)


def uploaded_dataset(files: list[tuple[str, Path]], item_files: list[tuple[str, Path]]) -> tuple[Dataset, list[str]]:
    """The dataset of saved uploads, each (the name it was uploaded as, where it was saved), and what the page should
    say about it. Several files of a kind (one per product category) are merged into one (`merge_files`) in the
    uploads' folder MERGED: interaction files with each row's domain from the files' domain column, else from each
    file's name; item files as they are. Raises DataError naming the file when they cannot be merged."""
    notes: list[str] = []
    interactions = _merged(files, notes, domains_from_names=True)
    items = _merged(item_files, notes, domains_from_names=False) if item_files else None
    label = "Upload: " + " + ".join(path.name for _, path in files)
    return Dataset(label, str(interactions), items and str(items)), notes


def _merged(files: list[tuple[str, Path]], notes: list[str], *, domains_from_names: bool) -> Path:
    """The one saved file of `files`, or their merge under a new name in the uploads folder; `notes` gets what was
    done."""
    if len(files) == 1:
        return files[0][1]
    names, paths = [Path(name).name for name, _ in files], [path for _, path in files]
    stems = "-".join(Path(name).stem for name in names)
    out = _new_upload(f"merged-{stems if len(stems) <= 60 else f'{len(files)}-files'}")
    try:
        merged = merge_files(paths, out, names=names, domains_from_names=domains_from_names)
    except BaseException:
        out.unlink(missing_ok=True)  # the name was claimed for this merge only
        raise
    for part in merged.files:
        where = f"rows {part.first_row:,} to {part.first_row + part.rows - 1:,}"
        domain = f"domain {part.named_domain!r}, from its name" if part.named_domain else "domains from its own column"
        notes.append(f"{part.file}: {part.rows:,} rows, {where} of {out.name}; {domain}.")
    return out


def is_merged_upload(path: str) -> bool:
    """Whether `path` is a merge of uploads: made of files each held to the upload limit, not itself one."""
    return inside(path, workspace().root / "uploads" / MERGED)


def _new_upload(stem: str) -> Path:
    """A new, empty file `stem.csv` (or `stem-2.csv`, ...) in the merged uploads' folder, created so that no other
    session takes its name."""
    folder = uploads_folder(MERGED)
    for n in range(1, 1000):
        path = folder / safe_name(f"{stem}.csv" if n == 1 else f"{stem}-{n}.csv")
        try:
            path.open("xb").close()
        except FileExistsError:
            continue
        return path
    raise DataError(f"{stem}.csv: too many merged files of that name; upload the files under other names")


def sample_dataset() -> Dataset:
    """The bundled synthetic sample data, which the studio opens with."""
    return Dataset(
        "Sample data (4 synthetic shops)", str(SAMPLE_DIR / "interactions.csv"), str(SAMPLE_DIR / "items.csv")
    )


def is_sample(dataset: Dataset) -> bool:
    """Whether `dataset` is the bundled synthetic sample data (its file, wherever it was named from)."""
    return real(dataset.interactions) == real(sample_dataset().interactions)


def dev_datasets() -> list[Dataset]:
    """The development data (Amazon Beauty, Prime Pantry) when it sits beside the repository."""
    found = []
    if DEV_DIR is None:
        return found
    for name, label in (("beauty", "Amazon Beauty (dev data)"), ("prime_pantry", "Amazon Prime Pantry (dev data)")):
        path, items = DEV_DIR / f"{name}.csv", DEV_DIR / f"items_{name}.csv"
        if path.is_file():
            found.append(Dataset(label, str(path), str(items) if items.is_file() else None))
    return found


def _choice_file() -> Path:
    return workspace().root / "dataset.json"


def current_dataset() -> Dataset:
    """The dataset chosen on the Data page (kept in the workspace, so a browser refresh keeps it)."""
    if "dataset" not in st.session_state:
        chosen = sample_dataset()
        try:
            saved = json.loads(_choice_file().read_text())
            saved["columns"] = tuple(tuple(pair) for pair in saved.get("columns", ()))
            candidate = Dataset(**saved)
            if Path(candidate.interactions).is_file():
                chosen = candidate
        except (OSError, ValueError, TypeError):
            pass
        st.session_state["dataset"] = chosen
    return st.session_state["dataset"]


def set_dataset(dataset: Dataset) -> None:
    """Make `dataset` the current one, for this session and the next."""
    st.session_state["dataset"] = dataset
    try:
        # Written beside and renamed into place: a full disk leaves the old choice whole, and a link in its place
        # is replaced, not followed out of the workspace.
        with atomic_file(_choice_file()) as tmp:
            tmp.write_text(json.dumps(asdict(dataset)))
    except OSError:
        pass  # only the convenience of surviving a refresh is lost
