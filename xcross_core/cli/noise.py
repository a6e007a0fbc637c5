"""Quiet third-party output on the terminal: the libraries' warnings and progress bars that say nothing to a
user of `xcross` (a `FutureWarning` from inside torch or transformers, the "Loading weights" bar on every model
load). `--verbose` keeps them. Our own warnings ("warning: ...") and progress are never affected.
"""

from __future__ import annotations

import os
import sys
import warnings

#: Packages whose warnings are silenced (messages about their internals, not about the user's data).
THIRD_PARTY = ("torch", "transformers", "peft", "accelerate", "huggingface_hub", "safetensors", "tokenizers")


def quiet_third_party() -> None:
    """Silence third-party warnings, logging below errors, and the hub's and transformers' progress bars.

    Environment variables reach libraries not yet imported (the CLI imports them late); those already imported
    are told directly. Settings a user made in the environment are kept.
    """
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for package in THIRD_PARTY:
        warnings.filterwarnings("ignore", module=rf"{package}(\.|$)")
    if "transformers" in sys.modules:
        from transformers.utils import logging

        logging.set_verbosity_error()
        logging.disable_progress_bar()
