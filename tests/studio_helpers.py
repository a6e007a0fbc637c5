"""Builders shared by the studio tests (test_app.py, test_e2e.py): a workspace with tiny adapters and a
finished proof-of-concept run recorded in its store, all on the bundled sample data."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from tests.conftest import save_tiny_adapters, small_poc_params
from xcross_core.data.load import load_interactions
from xcross_core.jobs import poc
from xcross_core.worker import Workspace

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "interactions.csv"
SAMPLE_ITEMS = ROOT / "sample_data" / "items.csv"
SOURCES = ("Sports", "Kitchen")
TARGET = "Electronics"


def tiny_adapters(workspace: Workspace, base: str, domains: tuple[str, ...] = SOURCES) -> list[str]:
    """One tiny adapter per sample domain in `domains`, saved into the workspace's adapters folder."""
    target = load_interactions(SAMPLE, SAMPLE_ITEMS).interactions.domain(TARGET)
    return save_tiny_adapters(workspace.adapters, base, target, domains)


def small_config(adapters: list[str], **overrides: object) -> dict[str, object]:
    """The tests' small PoC at half the target's training users."""
    return small_poc_params(adapters, fraction=0.5) | overrides


def finished_poc(workspace: Workspace, adapters: list[str], name: str = "tiny poc", **overrides: object) -> str:
    """Run a small proof of concept in this process and record it in the store as succeeded, its parameters
    as the worker records them (paths relative to the workspace); returns its id."""
    spec = workspace.spec("poc", name, small_config(adapters, **overrides))
    report = poc.run(spec)
    recorded = spec.to_dict(relative_to=workspace.root)
    del recorded["out"]
    store = workspace.store()
    run = store.create("poc", name, recorded)
    store.start(run.id)
    store.finish(run.id, {"seconds": report["seconds"], "comparisons": report["comparisons_vs_reference"]}, spec.out)
    return run.id


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop(process: subprocess.Popen, timeout: float) -> None:
    """Ask `process` to end; kill it if it has not within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
