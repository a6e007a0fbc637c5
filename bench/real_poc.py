"""Benchmark: the studio's proof of concept on a real target, run as the studio runs one, so that its pages show it.

The PoC page's Start records a run in the studio's workspace and a worker process runs it. This bench does the same
(`xcross_core.worker.launch`, the page's parameters) on a development category with bench/real_sources' three source
adapters (bench/out/adapters, trained by `python bench/real_learning.py --models lora`), waits for it, and keeps what
a reader needs under bench/results/real_poc/<run name>/: results.json and comparison.csv as the run wrote them, and
run.json (commit, command, machine, the run's parameters, its wall time from the store and the worker's peak resident
memory, read from /proc while it ran). Sized like real_sources' X-Cross @25% by default: a cap of 5,000 users leaves
4,000 to train from (and 500 to validate), so the 25% budget trains on 1,000 of them, with 1,000 test users and at
most 6 epochs (real_sources' cap); `--max-users` raises the cap, as the studio advises when X-Cross keeps its start.
A rerun skips a run whose files are kept; `--table` and `--write-docs` give the table of every kept run. The studio
shows the run when opened on the same workspace:

    python bench/real_poc.py --target Toys_and_Games                 # workspace runs/studio-real
    python bench/real_poc.py --target Toys_and_Games --max-users 10000
    XCROSS_HOME=runs/studio-real xcross studio                       # "Which sources help" draws its weights
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from datetime import datetime
from pathlib import Path

import real_sources
from real_data import DEV, FILES, ROOT, log, provenance, table_options, tables_asked

from xcross_core.jobs.poc import default_baselines
from xcross_core.worker import Workspace, launch

OUT = ROOT / "bench" / "results" / "real_poc"
WORKSPACE = ROOT / "runs" / "studio-real"
#: The PoC page's settings, sized like real_sources' X-Cross @25% (see the module's docstring).
SETTINGS = {"fraction": 0.25, "test_users": 1000, "epochs": 6}
MAX_USERS = 5000
BASELINES = (*default_baselines(), "uniform-merge")
FINISHED = ("succeeded", "failed", "cancelled")


def peak_kb(pid: int | None) -> int:
    """The process's peak resident memory so far (VmHWM, kB), or 0 once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, TypeError):
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)


def run(target: str, max_users: int, workspace: Workspace) -> None:
    name = f"{target}-cap{max_users}"
    if (OUT / name / "run.json").is_file():
        log(f"[{name}] kept already")
        return
    params = {
        "interactions": str(DEV / f"{FILES[target]}.csv"),
        "items": str(DEV / f"items_{FILES[target]}.csv"),
        "target": target,
        "adapters": [str(a) for a in real_sources.adapters_for(target)],
        "baselines": list(BASELINES),
        "speed_cache": str(workspace.root / "speeds"),
        "max_users": max_users,
        **SETTINGS,
    }
    recorded = launch(workspace, "poc", name, params)
    log(f"[{name}] started run {recorded.id} (worker {recorded.pid}); its log: {workspace.logs / recorded.id}.log")
    peak, stage = 0, None
    while (now := workspace.store().get(recorded.id)).status not in FINISHED:
        peak = max(peak, peak_kb(now.pid))
        progress = now.progress or {}
        if progress.get("stage") != stage:  # one line per stage of the run, as its progress bar names them
            stage = progress.get("stage")
            log(f"[{name}] {stage} ({progress.get('stage_index', 0) + 1} of {progress.get('stages', '?')})")
        time.sleep(5)
    if now.status != "succeeded":
        raise SystemExit(f"[{name}] {now.status}: {now.error}")
    seconds = (datetime.fromisoformat(now.finished_at) - datetime.fromisoformat(now.started_at)).total_seconds()
    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    for kept in ("results.json", "comparison.csv"):
        shutil.copy(Path(now.artifact) / kept, folder / kept)
    summary = {"run": now.name, "params": now.params, "seconds": round(seconds, 1), "peak_mb": round(peak / 1024)}
    (folder / "run.json").write_text(json.dumps(summary | provenance(), indent=2) + "\n")
    answer = json.loads((folder / "results.json").read_text())["answer"]
    log(f"[{name}] {now.status} in {seconds:.0f} s at {peak / 1024:.0f} MB peak: {answer.get('headline', answer)}")


def table() -> str:
    """One row per kept run: its size, wall time and memory, whether X-Cross learned, and the answer it gave."""
    lines = [
        "| run | users: train / validate / test | wall time | peak memory | X-Cross NDCG@10 | X-Cross kept its start "
        "(validation gain p) | the answer |",
        "|---|---|---|---|---|---|---|",
    ]
    for folder in sorted(p.parent for p in OUT.glob("*/run.json")):
        run, report = (json.loads((folder / f).read_text()) for f in ("run.json", "results.json"))
        split, xcross = report["split"], report["models"][report["reference"]]
        ndcg = xcross["metrics"]["ndcg@10"]
        lines.append(
            f"| {report['target']}, cap {run['params']['max_users']:,} | {split['train_users']:,} / "
            f"{split['valid_cases']:,} / {split['test_cases']:,} | {run['seconds']:.0f} s | {run['peak_mb']:,} MB | "
            f"{ndcg['mean']:.4f} [{ndcg['low']:.4f}, {ndcg['high']:.4f}] | "
            f"{'yes' if xcross['kept_start'] else 'no'} (p = {xcross['fit']['start_gain_p']:.3g}) | "
            f"{report['answer']['headline']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=tuple(real_sources.SOURCES), default="Toys_and_Games")
    parser.add_argument("--max-users", type=int, default=MAX_USERS, help="the cap on the target's users")
    parser.add_argument("--workspace", type=Path, default=WORKSPACE, help="the studio's workspace (XCROSS_HOME)")
    table_options(parser)
    args = parser.parse_args()
    if tables_asked(args, "real_poc", table):
        return
    run(args.target, args.max_users, Workspace(args.workspace.resolve()))


if __name__ == "__main__":
    main()
