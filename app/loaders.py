"""Reading what the studio works on, cached across reruns: uploaded files, the current dataset and its
domains, the adapter library and saved models. Caches are keyed by file modification times, so a changed
file is read again. The library's messages name settings as data; `page_message` words them as the studio's
controls."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import streamlit as st
from messages import error_text, page_words
from plain import md
from state import SAMPLE_ADAPTERS, Dataset, current_dataset, is_merged_upload, uploads_folder, workspace

from xcross_core.data.advice import message_of
from xcross_core.data.dataset import DomainData
from xcross_core.data.load import ColumnMap, LoadResult, load_interactions
from xcross_core.data.read import SUPPORTED_FORMATS
from xcross_core.data.report import DataError
from xcross_core.models.library import adapter_problems, list_adapters
from xcross_core.models.recommender import Recommender
from xcross_core.models.registry import make_model, model_entry
from xcross_core.paths import inside, safe_name


def stamp(*paths: str | os.PathLike[str] | None) -> tuple[float, ...]:
    """Modification times (0 for a missing or unreadable file), so that cached loads see a changed file."""
    return tuple(_mtime(p) for p in paths)


def _mtime(path: str | os.PathLike[str] | None) -> float:
    try:
        return os.stat(path).st_mtime if path else 0.0
    except OSError:  # missing, a broken or looping link: reading it will say what is wrong
        return 0.0


# -- uploads -------------------------------------------------------------------------------------------------


def max_upload_bytes() -> int:
    """Streamlit's upload limit (server.maxUploadSize, in MB) in bytes; the loader enforces it too."""
    return int(st.get_option("server.maxUploadSize")) * 1024 * 1024


def save_upload(filename: str, data: bytes, folder: Path | None = None) -> Path:
    """Write an uploaded file under the workspace's uploads folder with a safe name; returns its path.

    An earlier upload is never overwritten (runs may still read it): the same bytes uploaded again reuse its
    file, other bytes under a taken name are saved as `name-2.csv`, `name-3.csv`, ... (the returned path says
    which). So is anything else that has the name: a folder, a link (never followed), a file that cannot be
    read. Raises ValueError for an unsafe name, an unsupported type, a file over the upload limit or an uploads
    folder that leads out of the workspace; OSError when the file cannot be written (e.g. the disk is full: no
    partial file stays behind).
    """
    name = safe_name(Path(filename).name)
    stem, suffix = Path(name).stem, Path(name).suffix
    if suffix.lower() not in SUPPORTED_FORMATS:
        raise DataError(f"{name}: unsupported file type; supported formats are {', '.join(SUPPORTED_FORMATS)}")
    if len(data) > max_upload_bytes():
        raise DataError(
            f"{name} is {len(data) / 1e6:.1f} MB, over the upload limit of {max_upload_bytes() // 2**20} MB"
        )
    folder = folder or uploads_folder()
    for n in range(1, 1000):
        path = folder / safe_name(name if n == 1 else f"{stem}-{n}{suffix}")
        if _write_new(path, data) or _holds(path, data):
            return path
    raise DataError(f"{name}: too many uploads of that name; rename the file and upload it again")


def _write_new(path: Path, data: bytes) -> bool:
    """Write `data` as a new file `path`; False (nothing written) when anything already has that name."""
    try:
        file = path.open("xb")  # exclusive: never replaces a file, nor follows a link, even one made just now
    except FileExistsError:
        return False
    try:
        with file:
            file.write(data)
    except BaseException:
        path.unlink(missing_ok=True)  # e.g. the disk is full: no partial upload stays behind
        raise
    return True


def _holds(path: Path, data: bytes) -> bool:
    """Whether `path` is a regular file (not a link or a folder) that can be read and holds exactly `data`."""
    try:
        info = path.lstat()
        return stat.S_ISREG(info.st_mode) and info.st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def page_message(err: BaseException) -> str:
    """A library error as the studio says it: each setting its message names worded as the page's control
    (`page_words`), and a setting the studio does not have (an encoding, the row limits) left out with its clause.
    An error without such a message is shown as it is."""
    message = message_of(err)
    if message is None:
        return error_text(err)
    field = getattr(err, "field", None)  # a SpecError's setting, named before its problem
    return f"{field} {message.worded(page_words)}" if field else message.worded(page_words)


def show_data_error(err: BaseException, what: str) -> None:
    """A data problem as "what: message" in the page's words, shown as written (both may quote the file)."""
    st.error(md("{}: {}", what, page_message(err)))


# -- the dataset and its domains -----------------------------------------------------------------------------


@st.cache_data(show_spinner="Reading and validating the data…", max_entries=6)
def _load(
    path: str, items: str | None, columns: tuple[tuple[str, str], ...], max_bytes: int | None, stamps: tuple[float, ...]
) -> LoadResult:
    return load_interactions(path, items, columns=ColumnMap(**dict(columns)), max_bytes=max_bytes)


def load_dataset(dataset: Dataset) -> LoadResult:
    """The dataset loaded and validated (cached by path, mapping and modification time). Raises DataError.

    Uploaded files (those in the workspace) are held to the upload limit; bundled and dev data are not, nor is a
    merge of uploads, each of which was (the row limit bounds what any file may cost).
    """
    uploaded = inside(dataset.interactions, workspace().root) and not is_merged_upload(dataset.interactions)
    limit = max_upload_bytes() if uploaded else None
    stamps = stamp(dataset.interactions, dataset.items)
    try:
        return _load(dataset.interactions, dataset.items, dataset.columns, limit, stamps)
    except OSError as err:  # e.g. a file that cannot be read: refused like any other file that cannot be used
        name = Path(err.filename or dataset.interactions).name
        raise DataError(f"{name} cannot be read: {err.strerror or err}") from err


@st.cache_resource(max_entries=8)
def _domain(path: str, items: str | None, columns: tuple, stamps: tuple, name: str, _result: LoadResult) -> DomainData:
    return _result.interactions.domain(name)


def domain_data(dataset: Dataset, name: str) -> DomainData:
    """One domain's arrays (cached). Raises DataError / KeyError."""
    result = load_dataset(dataset)
    stamps = stamp(dataset.interactions, dataset.items)
    return _domain(dataset.interactions, dataset.items, dataset.columns, stamps, name, result)


def usable_domains(result: LoadResult) -> list[str]:
    """The domains with enough users to train on."""
    frame = result.report.domains
    return frame.loc[frame["usable"].astype(bool), "domain"].tolist()


def current_domains() -> list[str] | None:
    """The usable domains of the current dataset; None (after showing why) when it cannot be loaded."""
    try:
        return usable_domains(load_dataset(current_dataset()))
    except DataError as err:
        show_data_error(err, "The current data cannot be used")
        return None


# -- adapters and models -------------------------------------------------------------------------------------


def adapter_library() -> pd.DataFrame:
    """Adapters trained in the workspace, then those bundled with the sample data, one row each."""
    frames = []
    for folder, library in ((workspace().adapters, "workspace"), (SAMPLE_ADAPTERS, "bundled")):
        try:
            frame = list_adapters(folder)
        except (OSError, ValueError, TypeError):
            continue  # an unreadable folder hides its adapters rather than the page
        frames.append(frame.assign(library=library))
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else list_adapters(workspace().adapters).assign(library=[])


def library_problems() -> list[str]:
    """Why each adapter folder of the workspace and the bundled library that cannot be used is unusable."""
    problems = []
    for folder in (workspace().adapters, SAMPLE_ADAPTERS):
        try:
            problems += adapter_problems(folder)
        except OSError as err:  # the library folder itself cannot be read
            problems.append(error_text(err))
    return problems


def adapter_label(row: pd.Series) -> str:
    """An adapter as a choice in a list: domain, name and which library it is in."""
    return f"{row['domain']} · {row['adapter']} ({row['library']})"


@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def _model(name: str, data_key: tuple, domain_name: str, _domain: DomainData) -> Recommender:
    model = make_model(name, _domain)
    entry = model_entry(name)
    if entry is not None and entry.fit_sequences is not None:
        return entry.fit_sequences(model, _domain.sequences())  # counted over every user of the domain
    if hasattr(model, "encoder"):
        model.encoder.eval()
    return model


def load_model(name: str, dataset: Dataset, domain: DomainData) -> Recommender:
    """A saved model (adapter folder, X-Cross run folder, 'popularity' or 'base') for `domain`, cached."""
    data_stamp = stamp(dataset.interactions, dataset.items)
    model_stamp = stamp(name) if Path(name).exists() else ()
    key = (dataset.interactions, dataset.items, dataset.columns, data_stamp, model_stamp)
    return _model(name, key, domain.name, domain)
