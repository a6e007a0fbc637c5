"""Builders shared by the studio tests (test_app*.py, test_e2e.py, test_app_flow.py): a workspace with tiny adapters
and a finished proof-of-concept run recorded in its store, on the bundled sample data or on a hostile copy of it; a
small purchase log of two categories; and a full-page screenshot."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from tests.conftest import save_tiny_adapters, small_poc_params
from xcross_core.data.load import load_interactions
from xcross_core.jobs import poc
from xcross_core.models.adapters import METADATA
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


#: The host of every URL in the hostile strings: nothing may fetch from it or link to it.
HOSTILE_HOST = "hostile.invalid"
_URL = f"http://{HOSTILE_HOST}"
#: Text that, rendered as Markdown or HTML, would be a link, an image (fetched by the browser), a script, a
#: Streamlit directive, LaTeX or an autolink.
HOSTILE = (
    f"[click]({_URL}/link)",
    f"![x]({_URL}/pixel.png)",
    f"<img src={_URL}/img.png>",
    f"<script>fetch('{_URL}/script')</script>",
    ":red[alarm] :material/home: $x^2$ **bold**",
    f"<{_URL}/auto> www.{HOSTILE_HOST} mail@{HOSTILE_HOST}",
)
#: The sample data's categories under hostile names (the target and the two sources of the hostile run first).
HOSTILE_DOMAINS = {
    TARGET: f"[Electronics]({_URL}/domain)",
    "Sports": f"![Sports]({_URL}/sports.png)",
    "Kitchen": f"<img src={_URL}/kitchen.png> Kitchen",
    "Home_Office": f":red[Home] $x$ <script>fetch('{_URL}/home')</script>",
}
#: A file name that is a Markdown image with an absolute URL (a file name cannot hold "/").
HOSTILE_FILE = f"![f](https:{HOSTILE_HOST}) $x$ <b>data.csv"


def hostile_studio(workspace: Workspace, base: str) -> dict[str, str]:
    """The sample data with hostile category names, titles and user ids under a hostile file name, two tiny source
    adapters in hostile folders for hostile categories, a finished proof of concept on them, a failed run and a
    running one (this process) with hostile names, errors and progress, and that data chosen in the workspace's
    dataset.json. Returns the data's paths and the runs' ids: interactions, items, poc, failed, running."""
    folder = workspace.root / "data"
    folder.mkdir(parents=True, exist_ok=True)
    interactions = pd.read_csv(SAMPLE).replace({"domain": HOSTILE_DOMAINS})
    interactions["user_id"] = interactions["user_id"] + f"[u]({_URL}/user)"
    items = pd.read_csv(SAMPLE_ITEMS).replace({"domain": HOSTILE_DOMAINS})
    items["title"] = [f"{HOSTILE[i % len(HOSTILE)]} {title}" for i, title in enumerate(items["title"])]
    paths = {"interactions": folder / HOSTILE_FILE, "items": folder / f"items {HOSTILE_FILE}"}
    interactions.to_csv(paths["interactions"], index=False)
    items.to_csv(paths["items"], index=False)
    target = load_interactions(paths["interactions"], paths["items"]).interactions.domain(HOSTILE_DOMAINS[TARGET])
    names = [f"![{source}](https:{HOSTILE_HOST})" for source in SOURCES]
    adapters = save_tiny_adapters(workspace.adapters, base, target, names)
    for adapter, source in zip(adapters, SOURCES, strict=True):
        meta = Path(adapter) / METADATA
        meta.write_text(json.dumps(json.loads(meta.read_text()) | {"domain": HOSTILE_DOMAINS[source]}))
    data = {"interactions": str(paths["interactions"]), "items": str(paths["items"])}
    baselines = ["popularity", "zero-shot"]
    run_id = finished_poc(workspace, adapters, target=HOSTILE_DOMAINS[TARGET], baselines=baselines, **data)
    store = workspace.store()
    failed = store.create("adapter", HOSTILE[1], {"domain": HOSTILE_DOMAINS["Sports"]})
    store.fail(failed.id, f"{HOSTILE[0]} {HOSTILE[2]}")
    running = store.create("adapter", HOSTILE[3], {"domain": HOSTILE_DOMAINS["Kitchen"]})
    store.start(running.id, os.getpid())  # alive while the tests run, so opening the store keeps it running
    curve = [{"stage": stage, "step": step, "loss": 2.0 / step} for stage in HOSTILE[:2] for step in (1, 2)]
    event = {"stage": HOSTILE[4], "stage_index": 1, "stages": 2, "model": HOSTILE[5], "curve": curve}
    store.progress(running.id, event | {"step": 2, "total_steps": 10, "epoch": 1, "epochs": 2, "loss": 1.0})
    chosen = {"label": f"Upload: {HOSTILE_FILE}", **data, "columns": []}
    (workspace.root / "dataset.json").write_text(json.dumps(chosen))
    return data | {"poc": run_id, "failed": failed.id, "running": running.id}


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


def category_files(folder: Path, categories: tuple[str, ...], users: int = 100, items: int = 30) -> list[Path]:
    """One purchase log per category, as a business exports them: `<folder>/<category>.csv`, titles inline and no
    domain column (the file name says it). Per category `users` customers (ids of their own) each buy 4 to 7 of its
    `items` items one after another from a random start, so that what follows what can be learned. Seeded."""
    rng = np.random.default_rng(0)
    paths = []
    for c, category in enumerate(categories):
        rows = []
        for u in range(users):
            start, length = rng.integers(items), rng.integers(4, 8)
            for t in range(length):
                item = (start + t) % items
                title = f"{category} product {item} in colour {item % 5} size {item % 3}"
                rows.append((f"{category[:2].lower()}{u:04d}", f"{c}-{item:03d}", t + 1, title))
        paths.append(folder / f"{category}.csv")
        pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "title"]).to_csv(paths[-1], index=False)
    return paths


def screenshot(page, path: Path, width: int, height: int) -> Path:
    """A screenshot of the whole `page` (a Playwright page of `width` x `height`) to `path`: Streamlit scrolls inside
    its own container, so the viewport grows to the content for the shot, then shrinks back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    content = page.evaluate(
        "() => Math.max(window.innerHeight, ...[...document.querySelectorAll("
        '\'[data-testid="stMain"], [data-testid="stAppViewContainer"]\')].map(e => e.scrollHeight))'
    )
    page.set_viewport_size({"width": width, "height": min(int(content) + 40, 6000)})
    page.wait_for_timeout(400)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": width, "height": height})
    return path
