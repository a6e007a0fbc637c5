"""`xcross studio`: the studio starts from any folder listening on 127.0.0.1 only, with the upload cap and
without usage statistics, all set on Streamlit's command line."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.studio_helpers import free_port, stop
from xcross_core.cli import main
from xcross_core.cli.studio import HOME, studio_command

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
