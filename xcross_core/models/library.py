"""The adapter library: a folder of adapter folders (the workspace's, the bundled sample's), listed and checked.

The studio's Adapters and PoC pages read a library through `list_adapters`, one row per usable adapter's metadata,
and say why the others cannot be used through `adapter_problems`, so one broken folder never hides the rest.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xcross_core.models.adapters import METADATA, current_metadata, read_metadata
from xcross_core.models.artifacts import ArtifactError

#: The columns of `list_adapters`' table, in order.
COLUMNS = (
    "adapter",
    "path",
    "domain",
    "base",
    "train_users",
    "train_interactions",
    "valid_ndcg@10",
    "kept_epoch",
    "epochs",
    "trainable_parameters",
    "rank",
    "created",
    "format",
)


def list_adapters(library: str | Path) -> pd.DataFrame:
    """One row per adapter folder directly under `library`: domain, base, data size, metrics, parameters, and
    `format` (only `adapters.ADAPTER_FORMAT` can be used; older ones need retraining). A folder whose metadata cannot be
    read is left out (`adapter_problems` says why), so one broken folder does not hide the others."""
    rows = []
    for folder in _adapter_folders(library):
        try:
            m = read_metadata(folder)
        except ArtifactError:
            continue
        rows.append(
            {
                "adapter": folder.name,
                "path": str(folder),
                "domain": m.domain,
                "base": m.base,
                "train_users": m.data.get("train_users"),
                "train_interactions": m.data.get("train_interactions"),
                "valid_ndcg@10": m.metrics.get("valid_ndcg@10"),
                # 0 with epochs run: no epoch ranked better than the untrained model on validation, which was kept
                "kept_epoch": m.fit.get("best_epoch"),
                "epochs": m.fit.get("epochs"),
                "trainable_parameters": m.trainable_parameters,
                "rank": m.lora.get("rank"),
                "created": m.created,
                "format": m.format,
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def adapter_problems(library: str | Path) -> list[str]:
    """Why each adapter folder under `library` that this version cannot use is unusable, one message each."""
    problems = []
    for folder in _adapter_folders(library):
        try:
            current_metadata(folder)
        except ValueError as err:
            problems.append(str(err))
    return problems


def _adapter_folders(library: str | Path) -> list[Path]:
    """The folders directly under `library` that hold adapter metadata."""
    library = Path(library)
    return [f for f in sorted(library.iterdir()) if (f / METADATA).is_file()] if library.is_dir() else []
