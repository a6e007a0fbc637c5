"""The studio's workspace under file-system oddities, through Streamlit's AppTest: links that dangle, loop or lead
out of the workspace, files that cannot be read, folders where files belong and files where folders belong, a full
disk. Each gives one clear message on the page and no traceback, and nothing outside the workspace is written to
or deleted.

Each test has its own empty workspace (`studio`) beside a folder that stands for the rest of the machine
(`outside`); no model is trained.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest

from tests.test_app import APP, BAD, assert_clean, open_page, texts, upload

#: A small file that loads as data (two exact duplicates are dropped with a warning).
GOOD = (BAD / "duplicate_rows.csv").read_bytes()


@pytest.fixture(autouse=True)
def studio(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XCROSS_HOME", str(tmp_path / "studio"))
    monkeypatch.syspath_prepend(str(APP))
    (tmp_path / "studio" / "uploads").mkdir(parents=True)
    return tmp_path / "studio"


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder outside the workspace holding one file, `theirs.csv`."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "theirs.csv").write_bytes(GOOD)
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes, to compare before and after."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error(at) -> str:
    """The page's one error message (and no traceback)."""
    assert_clean(at)
    assert len(at.error) == 1, texts(at.error)
    return texts(at.error)


class FullDisk:
    """A file opened for writing whose writes fail as on a full disk (after the file was created or truncated)."""

    def __init__(self, file) -> None:
        self.file = file

    def write(self, data) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fill_disk(monkeypatch) -> None:
    """From now on every file opened for writing through pathlib fails to write, as on a full disk."""
    real_open = Path.open

    def open_on_a_full_disk(self, mode="r", *args, **kwargs):
        file = real_open(self, mode, *args, **kwargs)
        return FullDisk(file) if any(m in mode for m in "wxa") else file

    monkeypatch.setattr(Path, "open", open_on_a_full_disk)


# -- what has the upload's name in the uploads folder ----------------------------------------------------------


def _dangling(path: Path, outside: Path) -> None:
    path.symlink_to(outside / "nothing.csv")


def _looping(path: Path, outside: Path) -> None:
    path.symlink_to(path)


def _link_out(path: Path, outside: Path) -> None:
    path.symlink_to(outside / "theirs.csv")  # the very bytes of the upload, but outside the workspace


def _folder(path: Path, outside: Path) -> None:
    path.mkdir()
    (path / "inside.txt").write_text("kept")


def _same_bytes(path: Path, outside: Path) -> None:
    path.write_bytes(GOOD)


IN_THE_WAY = {"dangling link": _dangling, "looping link": _looping, "link out": _link_out, "folder": _folder}


@pytest.mark.parametrize("kind", list(IN_THE_WAY))
def test_an_upload_steps_over_whatever_has_its_name(studio, outside, kind) -> None:
    """The issue's case (a dangling link named as the upload gave a FileNotFoundError traceback) and its kin: the
    upload is saved beside it, under the next free name, and the link or folder is left as it was."""
    taken = studio / "uploads" / "shop.csv"
    IN_THE_WAY[kind](taken, outside)
    before = snapshot(outside)
    at = upload(open_page("views/data.py"), "shop.csv", GOOD)
    assert not at.error
    assert "An earlier upload is called shop.csv, so this file was saved as shop-2.csv." in texts(at.info)
    assert (studio / "uploads" / "shop-2.csv").read_bytes() == GOOD
    assert at.session_state["dataset"].interactions == str(studio / "uploads" / "shop-2.csv")
    assert taken.is_symlink() or taken.is_dir()
    assert snapshot(outside) == before  # nothing created, changed or removed outside


def test_an_upload_that_cannot_be_compared_with_a_file_of_its_name_is_saved_beside_it(studio, monkeypatch) -> None:
    """A file of the upload's name and size that cannot be read is neither reused nor a reason to fail."""
    taken = studio / "uploads" / "shop.csv"
    _same_bytes(taken, studio)
    real_read = Path.read_bytes

    def unreadable(self: Path) -> bytes:
        if self == taken:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", unreadable)
    at = upload(open_page("views/data.py"), "shop.csv", GOOD)
    assert not at.error
    assert at.session_state["dataset"].interactions == str(studio / "uploads" / "shop-2.csv")


# -- the uploads folder itself ----------------------------------------------------------------------------------


def _uploads_file(uploads: Path, outside: Path) -> None:
    uploads.write_text("not a folder")


def _uploads_dangling(uploads: Path, outside: Path) -> None:
    uploads.symlink_to(uploads.parent / "gone")


def _uploads_looping(uploads: Path, outside: Path) -> None:
    uploads.symlink_to(uploads)


def _uploads_out(uploads: Path, outside: Path) -> None:
    uploads.symlink_to(outside)


UPLOADS = {
    "a file": (_uploads_file, "uploads: not a folder"),
    "a dangling link": (_uploads_dangling, "uploads: not a folder"),
    "a looping link": (_uploads_looping, "uploads: not a folder"),
    "a link out of the workspace": (_uploads_out, "outside the workspace"),
}


@pytest.mark.parametrize("kind", list(UPLOADS))
def test_an_uploads_folder_that_is_not_one_is_said_in_one_message(studio, outside, kind) -> None:
    make, words = UPLOADS[kind]
    (studio / "uploads").rmdir()
    make(studio / "uploads", outside)
    before = snapshot(outside)
    at = upload(open_page("views/data.py"), "shop.csv", GOOD)
    assert words in one_error(at)
    assert at.session_state["dataset"].label.startswith("Sample data")  # still the working dataset
    assert snapshot(outside) == before
    assert not (studio.parent / "gone").exists()


def test_a_full_disk_refuses_the_upload_and_leaves_no_partial_file(studio, monkeypatch) -> None:
    at = open_page("views/data.py")
    fill_disk(monkeypatch)
    upload(at, "shop.csv", GOOD)
    assert "The upload could not be saved: No space left on device" in one_error(at)
    assert list((studio / "uploads").iterdir()) == []
    assert at.session_state["dataset"].label.startswith("Sample data")


# -- the chosen dataset: dataset.json and the files it names ----------------------------------------------------


def test_the_choice_of_data_is_never_written_through_a_link_out_of_the_workspace(studio, outside) -> None:
    (studio / "dataset.json").symlink_to(outside / "theirs.csv")
    before = snapshot(outside)
    at = upload(open_page("views/data.py"), "shop.csv", GOOD)
    assert not at.error
    assert snapshot(outside) == before
    assert not (studio / "dataset.json").is_symlink()  # replaced by the studio's own file
    assert open_page("views/data.py").session_state["dataset"].interactions == str(studio / "uploads" / "shop.csv")


@pytest.mark.parametrize("kind", ["folder", "dangling link", "looping link"])
def test_a_choice_of_data_that_cannot_be_read_or_written_only_costs_the_refresh(studio, outside, kind) -> None:
    choice = studio / "dataset.json"
    IN_THE_WAY[kind](choice, outside)
    at = open_page("views/data.py")
    assert_clean(at)
    assert at.session_state["dataset"].label.startswith("Sample data")
    upload(at, "shop.csv", GOOD)
    assert not at.error and at.session_state["dataset"].interactions == str(studio / "uploads" / "shop.csv")
    assert kind != "folder" or (choice / "inside.txt").read_text() == "kept"
    assert not (outside / "nothing.csv").exists()


def test_a_full_disk_keeps_the_earlier_choice_of_data_whole(studio, monkeypatch) -> None:
    upload(open_page("views/data.py"), "shop.csv", GOOD)
    chosen = (studio / "dataset.json").read_bytes()
    at = open_page("views/data.py")
    with monkeypatch.context() as disk:
        fill_disk(disk)  # the disk fills up: choosing other data still works for this session
        at.radio[0].set_value(at.radio[0].options[0]).run()
    assert_clean(at)
    assert at.session_state["dataset"].label.startswith("Sample data")
    assert (studio / "dataset.json").read_bytes() == chosen  # not truncated: a refresh opens the upload
    assert open_page("views/data.py").session_state["dataset"].interactions == str(studio / "uploads" / "shop.csv")


def _unreadable_loader(monkeypatch) -> None:
    import loaders

    def refuse(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(loaders, "load_interactions", refuse)


@pytest.mark.parametrize("page", ["views/data.py", "views/adapters.py", "views/try_it.py"])
def test_data_that_cannot_be_read_is_said_in_one_message(studio, monkeypatch, page) -> None:
    from state import Dataset

    (studio / "uploads" / "shop.csv").write_bytes(GOOD)
    _unreadable_loader(monkeypatch)
    at = open_page(page, dataset=Dataset("Upload: shop.csv", str(studio / "uploads" / "shop.csv")))
    assert "shop.csv cannot be read: Permission denied" in one_error(at)


def test_data_that_is_a_looping_link_is_said_in_one_message(studio) -> None:
    from state import Dataset

    loop = studio / "uploads" / "loop.csv"
    loop.symlink_to(loop)
    at = open_page("views/data.py", dataset=Dataset("Upload: loop.csv", str(loop)))
    assert "loop.csv" in one_error(at)


# -- the run store and the runs' folders ------------------------------------------------------------------------


def _store_folder(db: Path, outside: Path) -> None:
    db.mkdir()


def _store_dangling(db: Path, outside: Path) -> None:
    db.symlink_to(db.parent / "gone.db")
    (db.parent / "gone.db").mkdir()  # what it leads to cannot be a database either


def _store_out(db: Path, outside: Path) -> None:
    db.symlink_to(outside / "studio.db")


STORES = {"a folder": _store_folder, "a link to a folder": _store_dangling, "a link out": _store_out}


@pytest.mark.parametrize("kind", list(STORES))
@pytest.mark.parametrize("page", [None, "views/history.py", "views/poc_run.py"])
def test_a_run_store_that_cannot_be_opened_is_said_in_one_message(studio, outside, kind, page) -> None:
    STORES[kind](studio / "studio.db", outside)
    before = snapshot(outside)
    at = open_page(page)
    assert "The studio's run store" in one_error(at) and "XCROSS_HOME" in texts(at.error)
    assert snapshot(outside) == before and not (outside / "studio.db").exists()


def test_deleting_a_run_never_deletes_the_workspace_or_follows_a_link_out(studio, outside) -> None:
    from state import store

    runs = store()
    targets = {"the workspace": studio, "a looping link": studio / "poc" / "loop", "a link out": studio / "poc" / "out"}
    targets["a looping link"].parent.mkdir()
    targets["a looping link"].symlink_to(targets["a looping link"])
    targets["a link out"].symlink_to(outside)
    before = snapshot(outside)
    for name, artifact in targets.items():
        run = runs.create("adapter", name, {})
        runs.start(run.id)
        runs.finish(run.id, {}, artifact)
        at = open_page("views/history.py")
        at.selectbox(key="history-run").set_value(run.id).run()
        at.checkbox(key=f"rm-files-{run.id}").check().run()
        at.button(key=f"delete-{run.id}").click().run()
        assert_clean(at)
        assert not at.error
        assert run.id not in [r.id for r in runs.list()]
    assert (studio / "studio.db").is_file() and targets["a link out"].is_symlink()
    assert snapshot(outside) == before


@pytest.mark.parametrize("folder", ["adapters", "logs"])
def test_a_run_is_not_started_when_its_folders_lead_out_of_the_workspace(studio, outside, monkeypatch, folder) -> None:
    import runs

    started = []
    monkeypatch.setattr(runs, "launch", lambda *args: started.append(args))
    (studio / folder).symlink_to(outside, target_is_directory=True)
    at = open_page("views/adapters.py")
    at.button[0].click().run()  # the form's "Start training"
    assert "Could not start" in one_error(at) and "outside the workspace" in texts(at.error)
    assert not started


def test_an_adapter_library_that_cannot_be_read_is_said_not_raised(studio, monkeypatch) -> None:
    import loaders

    def unreadable(folder):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))

    monkeypatch.setattr(loaders, "adapter_problems", unreadable)
    at = open_page("views/try_it.py")
    assert_clean(at)
    assert any("Permission denied" in t.value for t in at.text)


def test_sqlite_errors_are_user_errors() -> None:
    from messages import USER_ERRORS, error_text

    assert issubclass(sqlite3.OperationalError, USER_ERRORS)
    assert (
        error_text(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/w/x.csv")) == "/w/x.csv: No space left on device"
    )
    assert error_text(KeyError("no such run")) == "no such run"
