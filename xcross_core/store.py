"""The run store: an embedded SQLite database recording every run, its parameters, progress and results.

The app and the CLI record adapter trainings, X-Cross trainings, evaluations and studies here, so past
runs can be listed and compared across restarts. Design choices, and why:

- One SQLite connection per operation, never shared: the store is used at once by Streamlit's threads,
  by worker processes and by the CLI. WAL mode lets readers run beside a writer, and a busy timeout
  makes concurrent writers wait for each other instead of failing.
- Every status change is one conditional `UPDATE ... WHERE status IN (...) RETURNING *`, so a transition
  is checked and applied atomically even when several processes touch the same run.
- A killed or crashed worker cannot mark its own run failed, so opening the store runs `recover()`:
  runs whose process is gone (or whose pid now belongs to another process) are marked failed. The host
  name is stored with the pid, so a database on a shared disk never judges another machine's processes.
  So is a queued run that no process claimed within QUEUED_TIMEOUT_S: nothing stays queued forever.
- `create` can refuse a name an active run of its kind has (both would write one folder) and a run beyond
  a number of active ones, checked in the transaction that inserts, so two launches cannot both pass.
- Parameters, metrics and progress are JSON text, never pickle: unpickling runs code, and JSON stays
  readable by any tool.
- A run's artifact folder is stored relative to the folder holding the database (the workspace), and
  handed back resolved against wherever that folder is now: a workspace moved as a whole keeps working.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from xcross_core.paths import portable, resolve
from xcross_core.processes import process_alive, process_start

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 10.0
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running")
CRASHED = "process ended unexpectedly (killed or crashed); marked failed on restart"
NEVER_STARTED = "no worker process ever started for it (its launcher stopped first); marked failed"
#: Seconds a queued run without a process may wait before `recover` marks it failed.
QUEUED_TIMEOUT_S = 300.0

# Migration i (1-based) brings a database from user_version i-1 to i; append, never edit.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE IF NOT EXISTS runs (
            id          TEXT PRIMARY KEY,
            kind        TEXT NOT NULL,
            name        TEXT NOT NULL,
            status      TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
            params      TEXT NOT NULL,
            metrics     TEXT,
            artifact    TEXT,
            error       TEXT,
            pid         INTEGER,
            host        TEXT,
            proc_start  TEXT,
            created_at  TEXT NOT NULL,
            started_at  TEXT,
            finished_at TEXT,
            progress    TEXT
        )
        """,
        "CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS runs_status ON runs (status)",
    ),
)
assert len(MIGRATIONS) == SCHEMA_VERSION


class RunStateError(ValueError):
    """A status transition that the run's current status does not allow (e.g. finishing a queued run)."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


class RunRefused(ValueError):
    """A run `create` refuses to record: its name is taken by an active run, or too many runs are active."""


@dataclass(frozen=True)
class Run:
    """One row of the `runs` table, with its JSON columns decoded."""

    id: str
    kind: str
    name: str
    status: str
    params: dict[str, Any]
    metrics: dict[str, Any] | None
    artifact: str | None
    error: str | None
    pid: int | None
    host: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    progress: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: sqlite3.Row, root: Path) -> Run:
        """The run of `row`; its stored artifact path is resolved against the store's folder `root`."""

        def load(text: str | None) -> Any:
            return None if text is None else json.loads(text)

        return cls(
            id=row["id"],
            kind=row["kind"],
            name=row["name"],
            status=row["status"],
            params=load(row["params"]),
            metrics=load(row["metrics"]),
            artifact=None if row["artifact"] is None else str(resolve(row["artifact"], root)),
            error=row["error"],
            pid=row["pid"],
            host=row["host"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            progress=load(row["progress"]),
        )


class RunStore:
    """Runs recorded in the SQLite file at `path` (created with its parent folders if missing).

    Safe to share between threads and to open from several processes: each operation opens its own
    connection. Opening the store marks runs whose process has died as failed (see `recover`).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.root = self.path.parent  # the workspace: stored artifact paths are relative to it
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            # WAL is a property of the file (it persists), so setting it once per open is enough.
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise RuntimeError(f"could not put {self.path} in WAL mode (journal_mode is {mode!r})")
            self._migrate(db)
        self.recover()

    # -- plumbing ------------------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection in autocommit mode (we write BEGIN ourselves), closed on exit."""
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            # NORMAL in WAL mode never corrupts the database; a power cut may only lose the last commits.
            db.execute("PRAGMA synchronous = NORMAL")
            yield db
        finally:
            db.close()

    def _migrate(self, db: sqlite3.Connection) -> None:
        # IMMEDIATE takes the write lock up front, so two processes opening a new file do not both migrate.
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has schema version {version}, newer than this program's {SCHEMA_VERSION}; "
                    "upgrade xcross-studio to open it"
                )
            for statements in MIGRATIONS[version:]:
                for sql in statements:
                    db.execute(sql)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _transition(self, run_id: str, verb: str, allowed: tuple[str, ...], sets: str, values: tuple[Any, ...]) -> Run:
        """Apply `sets` to `run_id` only if its status is in `allowed`; else raise KeyError / RunStateError."""
        marks = ", ".join("?" * len(allowed))
        with self._connect() as db:
            rows = db.execute(
                f"UPDATE runs SET {sets} WHERE id = ? AND status IN ({marks}) RETURNING *",
                (*values, run_id, *allowed),
            ).fetchall()  # run to completion, so the write commits before the connection closes
            if rows:
                return Run.from_row(rows[0], self.root)
            current = db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if current is None:
            raise KeyError(f"no run with id {run_id!r}")
        wanted = " or ".join(repr(s) for s in allowed)
        raise RunStateError(
            f"cannot {verb} run {run_id}: its status is {current['status']!r}, it must be {wanted}",
            current["status"],
        )

    # -- the API -------------------------------------------------------------------------------------

    def create(
        self,
        kind: str,
        name: str,
        params: Mapping[str, Any],
        *,
        pid: int | None = None,
        unique_name: bool = False,
        max_active: int | None = None,
    ) -> Run:
        """Record a new queued run. Pass the `pid` of a worker already launched for it, so that
        `recover` can fail the run if that worker dies before calling `start`.

        RunRefused: with `unique_name`, an active run of this kind has the name (compared case-insensitively,
        as some file systems compare folders); with `max_active`, that many runs are active already.
        """
        if not kind or not isinstance(kind, str):
            raise ValueError("a run needs a kind, e.g. 'adapter', 'xcross', 'evaluate' or 'study'")
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a mapping, not {type(params).__name__}")
        run_id, created = _new_id()
        host, proc_start = (None, None) if pid is None else (socket.gethostname(), process_start(pid))
        folded = str(name).casefold()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # the write lock up front: no run is recorded between check and insert
            try:
                active = db.execute("SELECT * FROM runs WHERE status IN ('queued', 'running')").fetchall()
                same = [r for r in active if r["kind"] == kind and r["name"].casefold() == folded and unique_name]
                if same:
                    message = f"a {kind} run named {same[0]['name']!r} is {same[0]['status']} and would write the same"
                    raise RunRefused(f"{message} folder; wait for it to end, or choose another name")
                if max_active is not None and len(active) >= max_active:
                    message = f"as many runs as may run at once ({max_active}) are queued or running already"
                    raise RunRefused(f"{message}; wait for one to end, or cancel one")
                rows = db.execute(
                    "INSERT INTO runs (id, kind, name, status, params, pid, host, proc_start, created_at) "
                    "VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?) RETURNING *",
                    (run_id, kind, str(name), _dumps(dict(params)), pid, host, proc_start, created),
                ).fetchall()
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return Run.from_row(rows[0], self.root)

    def start(self, run_id: str, pid: int | None = None) -> Run:
        """Mark a queued run running in process `pid` (default: this process) on this host."""
        # Not `pid=os.getpid()` as a default: that would be evaluated once, at import, before any fork.
        pid = os.getpid() if pid is None else pid
        sets = "status = 'running', pid = ?, host = ?, proc_start = ?, started_at = ?"
        return self._transition(
            run_id, "start", ("queued",), sets, (pid, socket.gethostname(), process_start(pid), _now())
        )

    def progress(self, run_id: str, event: Mapping[str, Any]) -> Run:
        """Record the latest progress event of a running run (e.g. epoch, step, total, loss).

        Raises RunStateError once the run is no longer running; `err.status == "cancelled"` tells a
        worker that the run was cancelled and it should stop.
        """
        return self._transition(run_id, "record progress of", ("running",), "progress = ?", (_dumps(dict(event)),))

    def finish(
        self, run_id: str, metrics: Mapping[str, Any] | None = None, artifact: str | os.PathLike | None = None
    ) -> Run:
        """Mark a running run succeeded, with its metrics and the folder it saved (a relative `artifact` is
        relative to the store's folder)."""
        stored = None if artifact is None else portable(resolve(artifact, self.root), self.root)
        values = (None if metrics is None else _dumps(dict(metrics)), stored)
        sets = "status = 'succeeded', metrics = ?, artifact = ?, finished_at = ?"
        return self._transition(run_id, "finish", ("running",), sets, (*values, _now()))

    def fail(self, run_id: str, error: str) -> Run:
        """Mark a queued or running run failed with `error` (a message or traceback)."""
        return self._transition(
            run_id, "fail", ACTIVE, "status = 'failed', error = ?, finished_at = ?", (error, _now())
        )

    def cancel(self, run_id: str) -> Run:
        """Mark a queued or running run cancelled; its worker notices at its next `progress` call."""
        return self._transition(run_id, "cancel", ACTIVE, "status = 'cancelled', finished_at = ?", (_now(),))

    def get(self, run_id: str) -> Run:
        """The run `run_id`; KeyError if there is none."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run with id {run_id!r}")
        return Run.from_row(row, self.root)

    def delete(self, run_id: str) -> None:
        """Forget a run that is not running (its artifact folder, if any, is left for the caller)."""
        with self._connect() as db:
            gone = db.execute("DELETE FROM runs WHERE id = ? AND status != 'running' RETURNING id", (run_id,))
            if gone.fetchall():
                return
            current = db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if current is None:
            raise KeyError(f"no run with id {run_id!r}")
        raise RunStateError(f"cannot delete run {run_id}: it is running; cancel it first", current["status"])

    def recover(self) -> list[str]:
        """Mark failed every active run of this host whose process is gone; returns their ids.

        Looks at running runs and queued runs that have a pid. A pid counts as gone when no process has
        it, when that process is a zombie, or when the process now holding it started at another time
        (the pid was reused, or the machine rebooted). Queued runs without a pid that are older than
        QUEUED_TIMEOUT_S are marked failed too (NEVER_STARTED).
        """
        host = socket.gethostname()
        cutoff = datetime.fromtimestamp(time.time() - QUEUED_TIMEOUT_S, UTC).isoformat(timespec="microseconds")
        with self._connect() as db:
            orphans = "status = 'queued' AND pid IS NULL AND created_at < ?"
            sets = "status = 'failed', error = ?, finished_at = ?"
            rows = db.execute(f"UPDATE runs SET {sets} WHERE {orphans} RETURNING id", (NEVER_STARTED, _now(), cutoff))
            failed = [row["id"] for row in rows.fetchall()]
            candidates = db.execute(
                "SELECT id, status, pid, proc_start FROM runs "
                "WHERE host = ? AND pid IS NOT NULL AND status IN ('queued', 'running')",
                (host,),
            ).fetchall()
            dead = [r for r in candidates if not process_alive(r["pid"], r["proc_start"])]
            for r in dead:
                # Conditional on the row being unchanged: the run may have finished since we looked.
                done = db.execute(
                    "UPDATE runs SET status = 'failed', error = ?, finished_at = ? "
                    "WHERE id = ? AND status = ? AND pid = ? RETURNING id",
                    (CRASHED, _now(), r["id"], r["status"], r["pid"]),
                ).fetchall()
                if done:
                    failed.append(r["id"])
        return failed

    def list(
        self, kind: str | None = None, status: str | Iterable[str] | None = None, limit: int | None = None
    ) -> list[Run]:
        """Runs, newest first, optionally of one kind and one status (or any of several statuses)."""
        where, args = [], []
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if status is not None:
            statuses = (status,) if isinstance(status, str) else tuple(status)
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY created_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._connect() as db:
            return [Run.from_row(row, self.root) for row in db.execute(sql, args)]


# -- helpers -------------------------------------------------------------------------------------------

_id_lock = threading.Lock()
_last_ns = 0


def _new_id() -> tuple[str, str]:
    """A time-sortable id (nanoseconds in hex, then random hex) and the matching ISO-8601 UTC time.

    Within one process the clock reading is forced to increase, so runs created back to back still
    list in creation order; the random tail keeps ids from different processes apart.
    """
    global _last_ns
    with _id_lock:
        _last_ns = max(time.time_ns(), _last_ns + 1)
        ns = _last_ns
    created = datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="microseconds")
    return f"{ns:016x}{secrets.token_hex(4)}", created


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays (common in metrics) expose tolist(); paths become text.
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} value {value!r} cannot be stored as JSON")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)
