"""The run store: transitions, JSON, WAL, threads and processes writing at once, crash recovery, portable artifacts."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from xcross_core.store import CRASHED, SCHEMA_VERSION, RunStateError, RunStore

REPO = Path(__file__).resolve().parent.parent


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    """A real Python subprocess running `code` with the repository importable; stdout piped."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
    )


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "deep" / "folder" / "runs.db")


def test_round_trip_and_listing(store: RunStore) -> None:
    run = store.create("adapter", "Beauty v2", {"lr": 1e-3, "rank": 8})
    assert (run.status, run.pid, run.started_at, run.metrics) == ("queued", None, None, None)
    assert run.created_at.endswith("+00:00")

    started = store.start(run.id)
    assert (started.status, started.pid, started.host) == ("running", os.getpid(), socket.gethostname())
    store.progress(run.id, {"epoch": 1, "step": 5, "total": 10, "loss": 2.5})
    assert store.get(run.id).progress == {"epoch": 1, "step": 5, "total": 10, "loss": 2.5}

    done = store.finish(run.id, {"ndcg@10": 0.04}, artifact=Path("adapters/Beauty v2"))
    assert done.status == "succeeded"
    assert done.metrics == {"ndcg@10": 0.04} and done.artifact == str((store.root / "adapters/Beauty v2").resolve())
    assert done.created_at <= done.started_at <= done.finished_at
    assert store.get(run.id) == done

    later = [store.create(kind, f"run {i}", {}) for i, kind in enumerate(["xcross", "evaluate", "xcross"])]
    assert [r.id for r in store.list()] == [later[2].id, later[1].id, later[0].id, run.id]
    assert [r.id for r in store.list(kind="xcross")] == [later[2].id, later[0].id]
    assert [r.id for r in store.list(status="succeeded")] == [run.id]
    assert [r.id for r in store.list(status=("queued", "running"), limit=2)] == [later[2].id, later[1].id]

    store.cancel(later[0].id)
    store.fail(later[1].id, "out of memory")
    assert store.get(later[0].id).status == "cancelled"
    assert (store.get(later[1].id).status, store.get(later[1].id).error) == ("failed", "out of memory")

    store.delete(run.id)
    with pytest.raises(KeyError, match="no run"):
        store.get(run.id)
    assert len(store.list()) == 3


def _queued(s: RunStore) -> str:
    return s.create("xcross", "q", {}).id


def _running(s: RunStore) -> str:
    return s.start(_queued(s)).id


def _finished(s: RunStore) -> str:
    return s.finish(_running(s)).id


def _cancelled(s: RunStore) -> str:
    return s.cancel(_running(s)).id


@pytest.mark.parametrize(
    "make, action, status",
    [
        (_queued, lambda s, i: s.finish(i), "queued"),
        (_queued, lambda s, i: s.progress(i, {"step": 1}), "queued"),
        (_running, lambda s, i: s.start(i), "running"),
        (_finished, lambda s, i: s.start(i), "succeeded"),
        (_finished, lambda s, i: s.finish(i), "succeeded"),
        (_finished, lambda s, i: s.cancel(i), "succeeded"),
        (_cancelled, lambda s, i: s.fail(i, "boom"), "cancelled"),
        (_cancelled, lambda s, i: s.progress(i, {"step": 2}), "cancelled"),
        (_running, lambda s, i: s.delete(i), "running"),
    ],
)
def test_invalid_transitions_raise(store: RunStore, make, action, status: str) -> None:
    run_id = make(store)
    before = store.get(run_id)
    with pytest.raises(ValueError, match=f"its status is '{status}'|it is running") as err:
        action(store, run_id)
    assert isinstance(err.value, RunStateError) and err.value.status == status
    assert store.get(run_id) == before  # nothing changed


def test_unknown_run_raises_key_error(store: RunStore) -> None:
    for action in (store.get, store.start, store.cancel, store.delete, lambda i: store.finish(i, {"x": 1})):
        with pytest.raises(KeyError, match="no run with id 'nope'"):
            action("nope")


def test_json_round_trip_with_unicode(store: RunStore) -> None:
    params = {"name": "Ünïcödé_名前", "domains": ["Beauty", "Prime Pantry"], "emoji": "🛒", "nested": {"a": [1, 2.5]}}
    metrics = {"Hit@10": 0.07, "note": "réussi ✓", "curve": [0.5, 0.25], "ok": True, "none": None}
    run = store.create("study", "名前", params)
    store.start(run.id)
    store.finish(run.id, metrics)
    got = store.get(run.id)
    assert (got.name, got.params, got.metrics) == ("名前", params, metrics)
    # Stored as readable JSON text (not pickle, not \u escapes).
    raw = sqlite3.connect(store.path).execute("SELECT params, metrics FROM runs").fetchone()
    assert json.loads(raw[0]) == params and "名前" in raw[0] and "✓" in raw[1]
    with pytest.raises(TypeError, match="cannot be stored as JSON"):
        store.create("study", "bad", {"f": object()})


def test_wal_mode_and_schema_version(store: RunStore) -> None:
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    with store._connect() as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 2000
    # Reopening keeps the data and does not re-create anything.
    run = store.create("adapter", "a", {})
    assert RunStore(store.path).get(run.id) == run
    # A database written by a newer program is refused, not damaged.
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    with pytest.raises(RuntimeError, match="newer than this program"):
        RunStore(store.path)


def test_threads_write_concurrently_without_losses(store: RunStore) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(t: int) -> None:
        try:
            barrier.wait()
            for i in range(25):
                run = store.create("evaluate", f"t{t}-{i}", {"thread": t, "i": i})
                store.start(run.id)
                store.progress(run.id, {"step": i})
                store.finish(run.id, {"i": i})
        except BaseException as err:  # surfaced in the main thread below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    runs = store.list()
    assert len(runs) == 100 and len({r.id for r in runs}) == 100
    assert {r.name for r in runs} == {f"t{t}-{i}" for t in range(4) for i in range(25)}
    assert all(r.status == "succeeded" and r.metrics == {"i": r.params["i"]} for r in runs)


def test_processes_write_concurrently_without_losses(store: RunStore, tmp_path: Path) -> None:
    go = tmp_path / "go"
    code = """
        import sys, time
        from pathlib import Path
        from xcross_core.store import RunStore
        store, tag, go = RunStore(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
        print("ready", flush=True)
        while not go.exists():  # start writing together with the other process
            time.sleep(0.005)
        for i in range(50):
            run = store.create("adapter", f"{tag}-{i}", {"i": i})
            store.start(run.id)
            store.finish(run.id, {"i": i})
        """
    procs = [_python(code, str(store.path), tag, str(go)) for tag in ("p0", "p1")]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    go.touch()
    for p in procs:
        assert p.wait(timeout=60) == 0
    runs = store.list(status="succeeded")
    assert {r.name for r in runs} == {f"p{p}-{i}" for p in range(2) for i in range(50)}
    assert len({r.pid for r in runs}) == 2


@pytest.mark.parametrize("reap", [True, False], ids=["reaped", "zombie"])
def test_crash_recovery(store: RunStore, reap: bool) -> None:
    child = _python(
        """
        import sys, time
        from xcross_core.store import RunStore
        store = RunStore(sys.argv[1])
        run = store.start(store.create("adapter", "doomed", {}).id)
        print(run.id, flush=True)
        time.sleep(120)
        """,
        str(store.path),
    )
    try:
        doomed = child.stdout.readline().strip()
        assert store.get(doomed).pid == child.pid
        alive = store.start(store.create("adapter", "alive", {}).id)
        queued = store.create("evaluate", "no worker yet", {})
        os.kill(child.pid, signal.SIGKILL)
        if reap:
            child.wait(timeout=10)
        else:  # killed but not yet waited for: a zombie still answers os.kill(pid, 0)
            while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                pass

        RunStore(store.path)  # a restart: the constructor recovers
        assert (store.get(doomed).status, store.get(doomed).error) == ("failed", CRASHED)
        assert store.get(doomed).finished_at is not None
        assert store.get(alive.id).status == "running"
        assert store.get(queued.id).status == "queued"
    finally:
        child.kill()
        child.wait(timeout=10)


def test_recovery_judges_reused_pids_queued_workers_and_hosts(store: RunStore) -> None:
    child = _python("pass")
    child.wait(timeout=30)  # a pid that is certainly gone
    reused = store.start(store.create("xcross", "pid reused", {}).id)  # our pid, but another process's start time
    waiting = store.create("xcross", "worker died before start", {}, pid=child.pid)
    remote = store.start(store.create("xcross", "other machine", {}).id, pid=child.pid)
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET proc_start = 'other-boot:1' WHERE id = ?", (reused.id,))
        db.execute("UPDATE runs SET host = 'elsewhere.example' WHERE id = ?", (remote.id,))

    assert sorted(store.recover()) == sorted([reused.id, waiting.id])
    assert store.get(reused.id).error == CRASHED and store.get(waiting.id).status == "failed"
    assert store.get(remote.id).status == "running"
    assert store.recover() == []


def test_artifacts_are_stored_relative_to_the_workspace_and_follow_it_when_it_moves(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    store = RunStore(workspace / "studio.db")
    inside, outside = workspace / "poc" / "run one", tmp_path / "shared" / "adapter"
    ids = []
    for folder in (inside, outside):
        folder.mkdir(parents=True)
        run = store.start(store.create("poc", folder.name, {}).id)
        assert store.finish(run.id, artifact=folder).artifact == str(folder.resolve())
        ids.append(run.id)
    raw = dict(sqlite3.connect(store.path).execute("SELECT name, artifact FROM runs").fetchall())
    assert raw == {"run one": "poc/run one", "adapter": "../shared/adapter"}
    (tmp_path / "moved").mkdir()
    moved = workspace.rename(tmp_path / "moved" / "workspace")
    (tmp_path / "shared").rename(tmp_path / "moved" / "shared")
    again = RunStore(moved / "studio.db")
    assert again.get(ids[0]).artifact == str((moved / "poc" / "run one").resolve())
    assert again.get(ids[1]).artifact == str((tmp_path / "moved" / "shared" / "adapter").resolve())


def test_a_name_active_runs_of_its_kind_hold_is_refused(store: RunStore) -> None:
    from xcross_core.store import RunRefused

    first = store.create("poc", "Électronique test", {}, unique_name=True)
    for name in ("Électronique test", "ÉLECTRONIQUE TEST"):  # a case-insensitive file system: one folder
        with pytest.raises(RunRefused, match="is queued and would write the same folder"):
            store.create("poc", name, {}, unique_name=True)
    assert store.create("adapter", "Électronique test", {}, unique_name=True).kind == "adapter"  # another folder
    store.start(first.id)
    with pytest.raises(RunRefused, match="is running"):
        store.create("poc", "électronique test", {}, unique_name=True)
    store.fail(first.id, "no")
    assert store.create("poc", "Électronique test", {}, unique_name=True).status == "queued"  # free again
    assert len(store.list(kind="poc")) == 2


def test_active_runs_beyond_the_limit_are_refused(store: RunStore) -> None:
    from xcross_core.store import RunRefused

    runs = [store.create("poc", f"run {i}", {}, max_active=2) for i in range(2)]
    with pytest.raises(RunRefused, match=r"as many runs as may run at once \(2\) are queued or running already"):
        store.create("adapter", "third", {}, max_active=2)
    store.cancel(runs[0].id)
    assert store.create("adapter", "third", {}, max_active=2).status == "queued"


def test_checks_and_insert_are_one_transaction_across_threads(store: RunStore) -> None:
    from xcross_core.store import RunRefused

    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def launch() -> None:
        barrier.wait()
        try:
            store.create("poc", "same", {}, unique_name=True, max_active=8)
            outcomes.append("created")
        except RunRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=launch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["refused"] * 7
    assert len(store.list()) == 1


def test_a_queued_run_that_no_worker_claimed_is_failed_after_a_while(store: RunStore) -> None:
    from xcross_core.store import NEVER_STARTED, QUEUED_TIMEOUT_S

    stale, fresh = store.create("poc", "stale", {}), store.create("poc", "fresh", {})
    with sqlite3.connect(store.path) as db:  # created before the timeout
        db.execute("UPDATE runs SET created_at = ? WHERE id = ?", ("2000-01-01T00:00:00.000000+00:00", stale.id))
    assert QUEUED_TIMEOUT_S >= 60  # long enough for any launcher to start its worker
    assert RunStore(store.path).get(stale.id).status == "failed"  # a restart recovers
    assert store.get(stale.id).error == NEVER_STARTED
    assert store.get(fresh.id).status == "queued"
