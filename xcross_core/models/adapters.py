"""Per-domain LoRA adapters: train one on a domain, save it in peft's format, load it back, list a library.

An adapter folder is exactly what peft writes (`adapter_config.json`, `adapter_model.safetensors`;
`PeftModel.from_pretrained` loads it) plus `xcross_adapter.json`: domain, base model, training-data
summary, hyper-parameters, validation curve and trainable-parameter count. Folders are written to a
temporary sibling and renamed into place, so a cancelled or killed run leaves no half-written adapter.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from xcross_core.data.dataset import DomainData
from xcross_core.evaluation.splits import Split
from xcross_core.models.base import DEFAULT_BASE, BaseModelError, load_base
from xcross_core.models.text import ADAPTER_LOOP, TextConfig, TextEncoder, TextRecommender
from xcross_core.training.events import FitReport, TrainEvent
from xcross_core.training.loop import LoopConfig, seed_everything

METADATA = "xcross_adapter.json"
#: Version of what an adapter was trained against. 2: prompts only, ranked against the frozen base
#: model's item vectors (`items`). Adapters of format 1 also encoded the items and do not fit that space.
ADAPTER_FORMAT = 2


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyper-parameters; `targets=None` picks the architecture's attention projections."""

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    targets: tuple[str, ...] | None = None


class LoraRecommender(TextRecommender):
    """A text recommender whose encoder carries one LoRA adapter, with its settings."""

    def __init__(self, *args: object, lora: LoraSettings, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.lora = lora

    @property
    def trainable_parameters(self) -> int:
        """The adapter's own parameters, whether or not they are being trained right now."""
        return sum(p.numel() for name, p in self.encoder.named_parameters() if "lora_" in name)


@dataclass
class AdapterMetadata:
    """The JSON written beside peft's files."""

    domain: str
    base: str
    lora: dict[str, object]
    text: dict[str, object]
    loop: dict[str, object]
    data: dict[str, object]
    trainable_parameters: int
    fit: dict[str, object] = field(default_factory=dict)
    metrics: dict[str, object] = field(default_factory=dict)
    created: str = ""
    kind: str = "lora-adapter"
    format: int = 1  # files written before the field existed are format 1


def lora_recommender(
    domain: DomainData,
    base: str | None = None,
    lora: LoraSettings | None = None,
    text: TextConfig | None = None,
    loop: LoopConfig | None = None,
    *,
    allow_download: bool = False,
) -> LoraRecommender:
    """A fresh LoRA adapter on `base` for `domain`, ready to `fit`."""
    from peft import LoraConfig, get_peft_model

    lora = lora or LoraSettings()
    loop = loop or ADAPTER_LOOP
    model, tokenizer, info = load_base(base, allow_download=allow_download)
    targets = lora.targets or info.lora_targets
    if not targets:
        raise BaseModelError(
            f"no default LoRA targets for architecture {info.model_type!r}; name them with --lora-targets"
        )
    seed_everything(loop.seed)  # LoRA's A matrices are initialised at random
    config = LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=list(targets))
    try:
        peft_model = get_peft_model(model, config)
    except ValueError as err:
        raise BaseModelError(f"LoRA targets {list(targets)} do not match modules of {info.name}: {err}") from None
    settings = LoraSettings(lora.rank, lora.alpha, lora.dropout, tuple(targets))
    encoder = TextEncoder(peft_model, info)
    return LoraRecommender(domain, encoder, tokenizer, text, loop, name=f"lora:{domain.name}", lora=settings)


def base_recommender(
    domain: DomainData, base: str | None = None, text: TextConfig | None = None, *, allow_download: bool = False
) -> TextRecommender:
    """The base model with no adapter, zero-shot on `domain`."""
    model, tokenizer, info = load_base(base, allow_download=allow_download)
    return TextRecommender(domain, TextEncoder(model, info), tokenizer, text, name="base")


def train_adapter(
    split: Split,
    out_dir: str | Path,
    *,
    base: str | None = None,
    lora: LoraSettings | None = None,
    text: TextConfig | None = None,
    loop: LoopConfig | None = None,
    progress: Callable[[TrainEvent], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    overwrite: bool = False,
    allow_download: bool = False,
) -> tuple[LoraRecommender, AdapterMetadata]:
    """Train a LoRA adapter on `split` and save it to `out_dir` (written atomically)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir} already exists; choose another folder or allow overwriting")
    recommender = lora_recommender(split.domain, base, lora, text, loop, allow_download=allow_download)
    report = recommender.fit(split, progress=progress, cancel=cancel)
    metadata = _metadata(recommender, split, report, base)
    save_adapter(recommender, metadata, out_dir)
    return recommender, metadata


def _metadata(recommender: LoraRecommender, split: Split, report: FitReport, base: str | None) -> AdapterMetadata:
    return AdapterMetadata(
        domain=split.domain.name,
        base=base or DEFAULT_BASE,
        lora=asdict(recommender.lora),
        text=asdict(recommender.config),
        loop=asdict(recommender.loop),
        data=split.summary(),
        trainable_parameters=recommender.trainable_parameters,
        fit=report.to_dict(),
        metrics={"valid_ndcg@10": report.best_valid_ndcg10, "valid_protocol": "full"},
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        format=ADAPTER_FORMAT,
    )


@contextmanager
def atomic_folder(out_dir: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling folder to fill; on success it replaces `out_dir` in one rename.

    On any error (or cancellation) the temporary folder is removed and `out_dir` is untouched, so
    readers only ever see the old folder or the complete new one.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old)
        else:
            tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_adapter(recommender: LoraRecommender, metadata: AdapterMetadata, out_dir: str | Path) -> Path:
    """Write peft's adapter files and our metadata to `out_dir`, replacing it in one rename."""
    with atomic_folder(out_dir) as tmp:
        recommender.encoder.model.save_pretrained(tmp, safe_serialization=True)
        (tmp / METADATA).write_text(json.dumps(asdict(metadata), indent=2, default=str))
    return Path(out_dir)


def read_metadata(path: str | Path) -> AdapterMetadata:
    """The metadata of an adapter folder; a clear error when the folder is not one."""
    meta = Path(path) / METADATA
    if not meta.is_file():
        raise FileNotFoundError(f"{path} is not an adapter folder (no {METADATA})")
    return AdapterMetadata(**json.loads(meta.read_text()))


def current_metadata(path: str | Path) -> AdapterMetadata:
    """The metadata of an adapter this version can use; a clear error for one trained by an older recipe."""
    metadata = read_metadata(path)
    if metadata.format != ADAPTER_FORMAT:
        raise ValueError(
            f"{path} is an adapter of format {metadata.format}, trained with an earlier recipe that also adapted "
            f"the item side; this version ranks against the frozen base model's item vectors (format "
            f"{ADAPTER_FORMAT}). Retrain it with `xcross train-adapter` (or on the studio's Adapters page)."
        )
    return metadata


def load_adapter(path: str | Path, domain: DomainData, *, trainable: bool = False) -> LoraRecommender:
    """An adapter folder as a recommender over `domain`'s catalogue (any domain: zero-shot transfer)."""
    from peft import PeftModel

    metadata = current_metadata(path)
    model, tokenizer, info = load_base(metadata.base)
    peft_model = PeftModel.from_pretrained(model, str(path), is_trainable=trainable)
    text = TextConfig(**metadata.text)
    settings = LoraSettings(**{**metadata.lora, "targets": tuple(metadata.lora["targets"])})
    encoder = TextEncoder(peft_model, info)
    return LoraRecommender(domain, encoder, tokenizer, text, name=f"lora:{metadata.domain}", lora=settings)


def list_adapters(library: str | Path) -> pd.DataFrame:
    """One row per adapter folder directly under `library`: domain, base, data size, metrics, parameters, and
    `format` (only ADAPTER_FORMAT can be used; older ones need retraining)."""
    rows = []
    for folder in sorted(Path(library).iterdir()) if Path(library).is_dir() else []:
        if (folder / METADATA).is_file():
            m = read_metadata(folder)
            rows.append(
                {
                    "adapter": folder.name,
                    "path": str(folder),
                    "domain": m.domain,
                    "base": m.base,
                    "train_users": m.data.get("train_users"),
                    "train_interactions": m.data.get("train_interactions"),
                    "valid_ndcg@10": m.metrics.get("valid_ndcg@10"),
                    "trainable_parameters": m.trainable_parameters,
                    "rank": m.lora.get("rank"),
                    "created": m.created,
                    "format": m.format,
                }
            )
    columns = [
        "adapter",
        "path",
        "domain",
        "base",
        "train_users",
        "train_interactions",
        "valid_ndcg@10",
        "trainable_parameters",
        "rank",
        "created",
        "format",
    ]
    return pd.DataFrame(rows, columns=columns)
