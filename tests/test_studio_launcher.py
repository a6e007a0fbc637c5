"""`xcross studio`: the studio starts from any folder listening on 127.0.0.1 only, with the upload cap and
without usage statistics, all set on Streamlit's command line."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import psutil
import pytest

from tests.studio_helpers import free_port, stop
from xcross_core.cli import main
from xcross_core.cli.studio import HOME, studio_command

REPO = Path(__file__).resolve().parents[1]
#: What a wheel is built from (pyproject.toml's package-dir and readme name them).
BUILD_SOURCES = ("pyproject.toml", "README.md", "xcross_core", "app", "sample_data")
SETTINGS = {
    "--server.address=127.0.0.1",
    "--server.maxUploadSize=50",
    "--browser.gatherUsageStats=false",
}


def test_the_command_line_carries_every_safety_setting() -> None:
    command = studio_command(8765, headless=True)
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(HOME)] and HOME.is_file()
    assert SETTINGS | {"--server.port=8765", "--server.headless=true"} <= set(command)
    assert "--server.headless=false" in studio_command(8765, headless=False)


def test_a_busy_port_is_refused_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["studio", "--port", str(port), "--headless"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: port {port} on 127.0.0.1 is not free (") and err.count("\n") == 1
    assert "choose another with --port" in err


def test_started_from_another_folder_it_listens_on_localhost_only(tmp_path: Path) -> None:
    exe = shutil.which("xcross", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    assert exe is not None, "the `xcross` command is not installed (pip install -e .)"
    elsewhere = tmp_path / "elsewhere"  # no .streamlit/config.toml here: only the launcher's flags apply
    elsewhere.mkdir()
    port = free_port()
    env = os.environ | {"XCROSS_HOME": str(tmp_path / "workspace"), "HOME": str(tmp_path)}
    studio = subprocess.Popen(
        [exe, "studio", "--port", str(port), "--headless"],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert studio.poll() is None, studio.stderr.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the studio did not answer within 90 s"
            time.sleep(0.5)
        process = psutil.Process(studio.pid)  # the launcher replaced itself with Streamlit: same process
        listening = {c.laddr for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
        assert {(address.ip, address.port) for address in listening} == {("127.0.0.1", port)}
        assert set(process.cmdline()) >= SETTINGS
    finally:
        stop(studio, timeout=30)
        studio.stderr.close()


def _files(folder: Path, pattern: str = "*") -> set[str]:
    """The files under `folder` matching `pattern`, relative to it (posix), bytecode left out."""
    return {
        p.relative_to(folder).as_posix() for p in folder.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts
    }


def _pip(*args: str, cwd: Path) -> None:
    # Offline: no index, no dependencies, no isolated build environment (setuptools is already installed).
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--no-deps", "--no-index", "--disable-pip-version-check", "-q"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


#: Run in the installed copy from another folder: where the launcher and the studio's state find their files.
RESOLVE = """
import json, socket, sys
import xcross_core
from xcross_core.cli import main
from xcross_core.cli.studio import HOME, studio_command
sys.path.insert(0, str(HOME.parent))  # as `streamlit run` does for the entry script
import state
with socket.socket() as busy:  # the launcher gets past its checks of the pages, then stops at the busy port
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    status = main(["studio", "--port", str(busy.getsockname()[1]), "--headless"])
print(json.dumps({
    "core": xcross_core.__file__, "home": str(HOME), "command": studio_command(8765, True), "status": status,
    "root": state.ROOT, "sample": state.sample_dataset().interactions, "items": state.sample_dataset().items,
    "adapters": str(state.SAMPLE_ADAPTERS), "dev": state.DEV_DIR, "dev_datasets": len(state.dev_datasets()),
    "workspace": str(state.workspace().root),
}, default=str))
"""


def test_a_wheel_of_the_checkout_carries_the_studio_and_its_sample_data(tmp_path: Path) -> None:
    # Built from a copy: setuptools writes build/ and *.egg-info into the tree it builds.
    source = tmp_path / "source"
    source.mkdir()
    for name in BUILD_SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, source / name)
    _pip("wheel", "--no-build-isolation", ".", "-w", str(tmp_path / "dist"), cwd=source)
    [wheel] = (tmp_path / "dist").glob("xcross_studio-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    expected = (
        {f"xcross_core/{name}" for name in _files(REPO / "xcross_core", "*.py")}
        | {f"xcross_studio/{name}" for name in _files(REPO / "app", "*.py")}
        | {f"xcross_studio/sample_data/{name}" for name in _files(REPO / "sample_data")}
    )
    assert {"xcross_studio/Home.py", "xcross_studio/views/data.py", "xcross_studio/sample_data/items.csv"} <= expected
    assert any(name.endswith("/adapter_model.safetensors") for name in expected)
    assert expected <= shipped, sorted(expected - shipped)

    site = tmp_path / "site"
    _pip("install", "--target", str(site), str(wheel), cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "XCROSS_HOME"} | {"PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", RESOLVE], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])

    installed = site.resolve()
    assert Path(found["core"]).resolve().is_relative_to(installed / "xcross_core"), found["core"]
    assert found["home"] == str(installed / "xcross_studio" / "Home.py")
    assert found["command"][4] == found["home"]
    assert found["status"] == 2 and "is not free" in done.stderr and "missing" not in done.stderr
    assert found["sample"] == str(installed / "xcross_studio" / "sample_data" / "interactions.csv")
    assert found["items"] == str(installed / "xcross_studio" / "sample_data" / "items.csv")
    assert (Path(found["adapters"]) / "Sports" / "adapter_model.safetensors").is_file()
    assert Path(found["adapters"]).is_relative_to(installed)
    # Nothing of the checkout: no repository, no development data, and the workspace where it was started.
    assert found["root"] is None and found["dev"] is None and found["dev_datasets"] == 0
    assert found["workspace"] == str(elsewhere.resolve() / "runs" / "studio")
