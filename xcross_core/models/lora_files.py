"""A peft LoRA folder read defensively: `adapter_config.json` and the safetensors header, checked against each
other (`lora_files`) and then against the base model's layers (`check_fits`), before any tensor is read.

What is accepted is a plain LoRA, as this library trains it: a positive rank, a list of target module names,
none of peft's options that build something else (DoRA, rank patterns, saved modules, ...), and exactly one
lora_A [r, in] and lora_B [out, r] weight for each targeted linear layer of the base model. Anything else
is one `ArtifactError` naming the file and the problem, so a hostile config (a huge rank, tensors that
contradict it) never reaches peft's allocation, and two readers (peft, `sources.read_lora`) cannot disagree
about what a folder holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from xcross_core.models.artifacts import ArtifactError, TensorInfo, read_json, tensor_header
from xcross_core.models.base import targeted

LORA_CONFIG = "adapter_config.json"
LORA_WEIGHTS = "adapter_model.safetensors"


@dataclass(frozen=True)
class LoraFiles:
    """A peft LoRA folder as its files declare it, checked against each other (not yet against a base model).

    `modules`: module path (relative to the base model) -> (A's shape [r, in], B's shape [out, r]).
    """

    folder: Path
    rank: int
    alpha: float
    scaling: float
    targets: tuple[str, ...]
    modules: dict[str, tuple[tuple[int, ...], tuple[int, ...]]]

    @property
    def config_path(self) -> Path:
        return self.folder / LORA_CONFIG

    @property
    def weights_path(self) -> Path:
        return self.folder / LORA_WEIGHTS


#: peft options that change what an adapter builds or loads; only their off values are accepted.
_UNSUPPORTED = (
    "use_dora",
    "rank_pattern",
    "alpha_pattern",
    "modules_to_save",
    "layers_to_transform",
    "layers_pattern",
    "layer_replication",
    "trainable_token_indices",
    "target_parameters",
    "exclude_modules",
    "lora_bias",
    "use_qalora",
    "use_bdlora",
    "alora_invocation_tokens",
    "arrow_config",
)
_PEFT_PREFIX = "base_model.model."
_LORA_KEY = {".lora_A.weight": 0, ".lora_B.weight": 1}


def lora_files(folder: str | Path) -> LoraFiles:
    """An adapter folder's `adapter_config.json` and safetensors header, each checked and checked against the
    other: a plain LoRA with a positive rank, every tensor a LoRA A or B of a targeted module, in pairs of
    that rank. Reads no tensor. Raises ArtifactError naming the file and the problem."""
    folder = Path(folder)
    path = folder / LORA_CONFIG
    config = read_json(path)
    if config.get("peft_type") != "LORA":
        raise ArtifactError(path, f"peft_type is {config.get('peft_type')!r}; only plain LoRA adapters are used")
    used = [key for key in _UNSUPPORTED if config.get(key) not in (None, False, {}, [])]
    if used or config.get("bias", "none") != "none":
        raise ArtifactError(path, f"uses peft options this studio does not load: {', '.join(used) or 'bias'}")
    rank, alpha, rslora = config.get("r"), config.get("lora_alpha"), config.get("use_rslora", False)
    if not (isinstance(rank, int) and not isinstance(rank, bool) and rank > 0):
        raise ArtifactError(path, f"rank r is {rank!r}, not a whole number above 0")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not abs(alpha) < float("inf"):
        raise ArtifactError(path, f"lora_alpha is {alpha!r}, not a number")
    if not isinstance(rslora, bool):
        raise ArtifactError(path, f"use_rslora is {rslora!r}, not true or false")
    targets = config.get("target_modules")
    if not (isinstance(targets, list) and targets and all(isinstance(t, str) and t for t in targets)):
        raise ArtifactError(path, f"target_modules is {targets!r}, not a list of module names")
    modules = _lora_modules(tensor_header(folder / LORA_WEIGHTS), folder / LORA_WEIGHTS, rank, tuple(targets))
    scaling = alpha / rank**0.5 if rslora else alpha / rank
    return LoraFiles(folder, rank, alpha, scaling, tuple(targets), modules)


def _lora_modules(
    header: dict[str, TensorInfo], path: Path, rank: int, targets: tuple[str, ...]
) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """Module path -> (A shape, B shape) from a LoRA weights header, each pair checked against the config."""
    pairs: dict[str, list[tuple[int, ...] | None]] = {}
    for key, info in header.items():
        suffix = next((s for s in _LORA_KEY if key.startswith(_PEFT_PREFIX) and key.endswith(s)), None)
        if suffix is None:
            raise ArtifactError(path, f"tensor {key!r} is not a LoRA A or B weight of the base model")
        module = key.removeprefix(_PEFT_PREFIX).removesuffix(suffix)
        if not targeted(module, targets):
            raise ArtifactError(path, f"tensor {key!r} adapts {module!r}, which {LORA_CONFIG} does not target")
        if len(info.shape) != 2:
            raise ArtifactError(path, f"tensor {key!r} has shape {list(info.shape)}; a LoRA weight is 2-D")
        pairs.setdefault(module, [None, None])[_LORA_KEY[suffix]] = info.shape
    if not pairs:
        raise ArtifactError(path, "holds no LoRA weights")
    for module, (a, b) in pairs.items():
        if a is None or b is None:
            raise ArtifactError(path, f"module {module!r} has only one of its lora_A and lora_B weights")
        if a[0] != rank or b[1] != rank:
            raise ArtifactError(
                path,
                f"module {module!r} has LoRA shapes A {list(a)}, B {list(b)}, not of rank r = {rank} "
                f"as {LORA_CONFIG} says",
            )
    return {module: (a, b) for module, (a, b) in pairs.items()}


def linear_shape(module: nn.Module) -> tuple[int, int] | None:
    """(out, in) features of a linear layer (nn.Linear, or GPT-2's Conv1D that stores [in, out]); else None."""
    from transformers.pytorch_utils import Conv1D  # the class peft adapts as a transposed linear layer

    if isinstance(module, nn.Linear):
        return tuple(module.weight.shape)
    if isinstance(module, Conv1D):
        return tuple(module.weight.shape[::-1])
    return None


def check_fits(lora: LoraFiles, model: nn.Module) -> None:
    """Refuse an adapter whose tensors do not fit `model`: every module it adapts is a linear layer of the
    model with the shapes' inputs and outputs, and every layer its targets name has its tensors."""
    layers = dict(model.named_modules())
    name = type(model).__name__
    for module, (a, b) in lora.modules.items():
        if module not in layers:
            raise ArtifactError(lora.weights_path, f"adapts {module!r}, which the base model ({name}) does not have")
        shape = linear_shape(layers[module])
        if shape is None:
            raise ArtifactError(lora.weights_path, f"adapts {module!r}, which is not a linear layer of {name}")
        if (b[0], a[1]) != shape:
            raise ArtifactError(
                lora.weights_path,
                f"module {module!r}: LoRA shapes A {list(a)}, B {list(b)} do not fit the base "
                f"layer's {shape[1]} inputs and {shape[0]} outputs",
            )
    for module in [m for m in layers if m and targeted(m, lora.targets)]:
        if linear_shape(layers[module]) is None:
            raise ArtifactError(lora.config_path, f"targets {module!r}, which is not a linear layer of {name}")
        if module not in lora.modules:
            raise ArtifactError(lora.weights_path, f"has no tensors for {module!r}, which {LORA_CONFIG} targets")
