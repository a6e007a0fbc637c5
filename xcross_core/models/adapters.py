"""Per-domain LoRA adapters: train one on a domain, save it in peft's format, load it back (listed: `library`).

An adapter folder is exactly what peft writes (`adapter_config.json`, `adapter_model.safetensors`;
`PeftModel.from_pretrained` loads it) plus `xcross_adapter.json`: domain, base model, training-data
summary, hyper-parameters, validation curve and trainable-parameter count. Folders are written to a
temporary sibling and renamed into place, so a cancelled or killed run leaves no half-written adapter.

A folder read back is checked before anything is built from it (`lora_files`, `check_fits`): its JSON files
parse into the expected keys and types, its safetensors header is sound, and the tensors it declares agree
with `adapter_config.json` (rank, targets) and then with the base model's layers. A problem is one
`ArtifactError` naming the file; a huge rank or a truncated file never reaches peft's allocation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from xcross_core.data.advice import Hint, Message
from xcross_core.data.dataset import DomainData
from xcross_core.evaluation.splits import Split
from xcross_core.models.artifacts import ArtifactError, dataclass_from, read_json, tensor_header
from xcross_core.models.base import DEFAULT_BASE, BaseModelError, load_base, top_layer_modules
from xcross_core.models.lora_files import LORA_CONFIG, check_fits, lora_files
from xcross_core.models.text import ADAPTER_LOOP, TextConfig, TextEncoder, TextRecommender
from xcross_core.training.events import FitReport, TrainEvent
from xcross_core.training.loop import LoopConfig, seed_everything

METADATA = "xcross_adapter.json"
#: The item head an adapter trained with (`text.ItemHead`): safetensors, used only on the adapter's own catalogue.
ITEM_HEAD = "item_head.safetensors"
#: Version of what an adapter was trained against. 2: prompts only, ranked against the frozen base
#: model's item vectors (`items`). Adapters of format 1 also encoded the items and do not fit that space.
ADAPTER_FORMAT = 2


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyper-parameters; `targets=None` picks the architecture's attention projections, and `top_layers`
    keeps only those inside the last k transformer blocks (None, or the model's depth or more: every block).

    By default the top three of the default base's six blocks: the blocks below then stay the frozen base for
    every model on it and run once per prompt (`trunk`); docs/results.md has the measurements behind it."""

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    targets: tuple[str, ...] | None = None
    top_layers: int | None = 3


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
    # The catalogue the item head belongs to: {"items": n, "digest": sha1 of the item ids}; empty without a head.
    item_head: dict[str, object] = field(default_factory=dict)
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
            Message(
                f"no default LoRA targets for architecture {info.model_type!r}",
                Hint("lora_targets", "; name them with {}"),
            )
        )
    if lora.top_layers is not None and lora.top_layers < info.num_layers:
        targets = top_layer_modules(model, info, tuple(targets), lora.top_layers)
        if not targets:
            raise BaseModelError(f"no LoRA targets inside the top {lora.top_layers} layers of {info.name}")
    seed_everything(loop.seed)  # LoRA's A matrices are initialised at random
    config = LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=list(targets))
    try:
        peft_model = get_peft_model(model, config)
    except ValueError as err:
        raise BaseModelError(f"LoRA targets {list(targets)} do not match modules of {info.name}: {err}") from None
    settings = LoraSettings(lora.rank, lora.alpha, lora.dropout, tuple(targets), lora.top_layers)
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
    metadata = adapter_metadata(recommender, split, report, base)
    save_adapter(recommender, metadata, out_dir)
    return recommender, metadata


def adapter_metadata(
    recommender: LoraRecommender, split: Split, report: FitReport, base: str | None
) -> AdapterMetadata:
    """What is saved beside a trained adapter's peft files: its domain, base, settings, data and training report."""
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
        item_head=catalogue_key(split.domain) if recommender.config.item_head else {},
        format=ADAPTER_FORMAT,
    )


def catalogue_key(domain: DomainData) -> dict[str, object]:
    """What identifies a catalogue for an item head: its size and a digest of its item ids, in order."""
    digest = hashlib.sha1("\x1f".join(map(str, domain.item_ids)).encode("utf-8", "surrogatepass")).hexdigest()
    return {"items": domain.n_items, "digest": digest}


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
        if metadata.item_head:
            head = recommender.encoder.item_head.state_dict()
            save_file({k: v.detach().cpu().contiguous() for k, v in head.items()}, str(tmp / ITEM_HEAD))
        (tmp / METADATA).write_text(json.dumps(asdict(metadata), indent=2, default=str))
    return Path(out_dir)


def read_metadata(path: str | Path) -> AdapterMetadata:
    """The metadata of an adapter folder, its keys and types checked.

    Raises FileNotFoundError when the folder is not an adapter folder (no METADATA), ArtifactError when the
    file is malformed.
    """
    meta = Path(path) / METADATA
    if not meta.is_file():
        raise FileNotFoundError(f"{path} is not an adapter folder (no {METADATA})")
    metadata = dataclass_from(AdapterMetadata, read_json(meta), meta, "the metadata")
    if metadata.kind != "lora-adapter":
        raise ArtifactError(meta, f"kind {metadata.kind!r} is not 'lora-adapter'")
    return metadata


def current_metadata(path: str | Path) -> AdapterMetadata:
    """The metadata of an adapter this version can use; a clear error for one trained by an older recipe.

    Its LoRA files are checked too (`lora_files`), and its settings against them, so a folder accepted here
    fails later only if it does not fit its base model (`check_fits`, once that is loaded).
    """
    metadata = read_metadata(path)
    if metadata.format != ADAPTER_FORMAT:
        raise ValueError(
            f"{path} is an adapter of format {metadata.format}, trained with an earlier recipe that also adapted "
            f"the item side; this version ranks against the frozen base model's item vectors (format "
            f"{ADAPTER_FORMAT}). Retrain it with `xcross train-adapter` (or on the studio's Adapters page)."
        )
    lora, meta = lora_files(path), Path(path) / METADATA
    settings = lora_settings(metadata, path)
    stated = {"rank": lora.rank, "alpha": lora.alpha, "targets": sorted(lora.targets)}
    recorded = {"rank": settings.rank, "alpha": settings.alpha, "targets": sorted(settings.targets or ())}
    for key, value in recorded.items():
        if value != stated[key]:
            raise ArtifactError(meta, f"LoRA {key} {value} contradicts {LORA_CONFIG}'s {stated[key]}")
    text_config(metadata, path)
    return metadata


def lora_settings(metadata: AdapterMetadata, path: str | Path) -> LoraSettings:
    """The adapter's LoRA settings as its metadata records them (checked)."""
    settings = dataclass_from(
        LoraSettings, metadata.lora, Path(path) / METADATA, "'lora'", positive=("rank", "top_layers")
    )
    # Written before `top_layers` existed: the adapter covers every block its targets name.
    return settings if "top_layers" in metadata.lora else replace(settings, top_layers=None)


#: Text settings that size tensors: each must be above 0, and `encode_batch` at most MAX_ENCODE_BATCH.
_TEXT_SIZES = (
    "max_history",
    "prompt_tokens",
    "item_tokens",
    "temperature",
    "valid_cases",
    "min_valid_cases",
    "encode_batch",
    "step_tokens",
)
MAX_ENCODE_BATCH = 4096


def text_config(metadata: AdapterMetadata, path: str | Path) -> TextConfig:
    """The text settings the adapter was trained with (checked)."""
    return checked_text(metadata.text, Path(path) / METADATA)


def checked_text(data: object, path: str | Path) -> TextConfig:
    """A TextConfig from saved JSON `data` (in file `path`): known keys, right types, sizes in range.

    Settings saved before the item head existed trained without one (cosine over a fixed temperature)."""
    if isinstance(data, dict) and "item_head" not in data:
        data = {**data, "item_head": False}
    text = dataclass_from(TextConfig, data, path, "'text'", positive=_TEXT_SIZES)
    if text.encode_batch > MAX_ENCODE_BATCH:
        raise ArtifactError(path, f"'text': encode_batch {text.encode_batch} is over {MAX_ENCODE_BATCH}")
    return text


def check_text_fits(text: TextConfig, model: nn.Module, path: str | Path) -> None:
    """Refuse token budgets longer than the base model's positions (its forward would fail on a long text)."""
    config = getattr(model, "config", None)
    positions = getattr(config, "max_position_embeddings", None)
    longest = max(text.prompt_tokens, text.item_tokens)
    if isinstance(positions, int) and longest > positions:
        raise ArtifactError(path, f"'text' asks for {longest} tokens; the base model takes at most {positions}")


def check_adapter_fits(path: str | Path, model: nn.Module) -> None:
    """Refuse an adapter folder (checked by `current_metadata`) that does not fit the loaded base `model`: its
    LoRA tensors against the model's layers (`check_fits`), its token budgets against the model's positions."""
    check_fits(lora_files(path), model)
    check_text_fits(text_config(read_metadata(path), path), model, Path(path) / METADATA)


def load_adapter(path: str | Path, domain: DomainData, *, trainable: bool = False) -> LoraRecommender:
    """An adapter folder as a recommender over `domain`'s catalogue (any domain: zero-shot transfer).

    The folder is checked (`current_metadata`, then `check_adapter_fits` against the loaded base) before peft
    builds anything from it.
    """
    from peft import PeftModel

    metadata = current_metadata(path)
    model, tokenizer, info = load_base(metadata.base)
    check_adapter_fits(path, model)
    peft_model = PeftModel.from_pretrained(model, str(path), is_trainable=trainable)
    encoder = TextEncoder(peft_model, info)
    text, settings = text_config(metadata, path), lora_settings(metadata, path)
    recommender = LoraRecommender(domain, encoder, tokenizer, text, name=f"lora:{metadata.domain}", lora=settings)
    if text.item_head and metadata.item_head == catalogue_key(domain):  # its own catalogue: its trained head
        _load_head(encoder.item_head, Path(path) / ITEM_HEAD)
    return recommender


def _load_head(head: nn.Module, file: Path) -> None:
    """Fill `head` from `file`, whose tensors must be exactly the head's, of its shapes."""
    expected = {name: tuple(p.shape) for name, p in head.state_dict().items()}
    header = tensor_header(file) if file.is_file() else None
    if header is None or {n: tuple(t.shape) for n, t in header.items()} != expected:
        raise ArtifactError(file, f"is not an item head of shapes {expected}")
    try:
        state = load_file(str(file))
    except (SafetensorError, OSError) as err:
        raise ArtifactError(file, f"cannot be read: {err}") from None
    head.load_state_dict(state)
