"""`xcross studio`: start the Streamlit studio with its safety settings, from whatever folder it is run in.

Streamlit reads `.streamlit/config.toml` only from the current folder (and the user's home), so a plain
`streamlit run app/Home.py` started elsewhere would listen on every network interface, without the upload
cap, with usage statistics on. The launcher puts those settings on Streamlit's command line, where they win
over any config file: the studio has no authentication, so it listens on this machine only (127.0.0.1).

The studio's pages are found beside this package: the package xcross_studio installed with it by
`pip install .` (a wheel), else app/ in the checkout it runs from (`pip install -e .`). Its workspace (run
store, adapters, uploads) is the folder in the environment variable XCROSS_HOME, else runs/studio in the
repository for a checkout, or runs/studio in the folder the studio is started from for a wheel.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import sys
from pathlib import Path

from xcross_core.cli.status import EXIT_BAD_INPUT

#: The folder holding this package: the repository in a checkout, site-packages (or --target) for a wheel.
_ROOT = Path(__file__).resolve().parents[2]
WORKSPACE_HELP = (
    "The studio keeps its runs, adapters and uploads in the folder named by the environment variable XCROSS_HOME, "
    "else in runs/studio: in the repository when installed from a checkout with `pip install -e .`, in the "
    "current folder when installed with `pip install .`."
)


def studio_home() -> Path:
    """The studio's entry script: Home.py of the package xcross_studio installed beside this one by
    `pip install .`, else app/Home.py in the checkout this package runs from (an editable install)."""
    installed = _ROOT / "xcross_studio" / "Home.py"
    return installed if installed.is_file() else _ROOT / "app" / "Home.py"


#: The studio's entry script. Streamlit runs it as a script, with its folder on sys.path: the pages import
#: their helpers by bare name (`from state import ...`).
HOME = studio_home()
#: Where the studio listens: this machine only.
ADDRESS = "127.0.0.1"
#: Upload cap in MB (Streamlit's server.maxUploadSize; the studio applies it when reading a file too).
UPLOAD_CAP_MB = 50
DEFAULT_PORT = 8501


def add_studio_arguments(parser: argparse.ArgumentParser) -> None:
    """The launcher's options: the port, and whether to open a browser; its help says where the workspace is."""
    parser.epilog = WORKSPACE_HELP
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port on {ADDRESS} to listen on (default: {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--headless", action="store_true", help="do not open a browser (e.g. on a server reached by an SSH tunnel)"
    )


def studio_command(port: int, headless: bool) -> list[str]:
    """The `streamlit run` command line that starts the studio with its enforced settings."""
    settings = {
        "server.address": ADDRESS,
        "server.port": port,
        "server.headless": str(headless).lower(),
        "server.maxUploadSize": UPLOAD_CAP_MB,
        "browser.gatherUsageStats": "false",
        "browser.serverAddress": ADDRESS,
        "client.toolbarMode": "viewer",
    }
    flags = [f"--{key}={value}" for key, value in settings.items()]
    return [sys.executable, "-m", "streamlit", "run", str(HOME), *flags]


def launch(args: argparse.Namespace) -> int:
    """Check that the studio can start, then replace this process with Streamlit; returns 2 when it cannot."""
    if not HOME.is_file():
        return _refuse(
            f"the studio's pages ({HOME}) are missing beside this package: reinstall it from a checkout of the "
            "repository with `pip install .` (or `pip install -e .`)"
        )
    if importlib.util.find_spec("streamlit") is None:
        return _refuse("Streamlit is not installed: pip install -r requirements.txt")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((ADDRESS, args.port))
        except OSError as err:
            return _refuse(f"port {args.port} on {ADDRESS} is not free ({err.strerror}); choose another with --port")
    print(f"X-Cross studio: http://{ADDRESS}:{args.port} (this machine only; Ctrl-C stops it)", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    command = studio_command(args.port, args.headless)
    os.execv(command[0], command)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 1 and 65535, not {port}")
    return port


def _refuse(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT
