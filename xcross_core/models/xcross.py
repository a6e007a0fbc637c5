"""X-Cross: n frozen source-domain LoRA adapters on one frozen base, integrated layer by layer.

A prompt runs as n streams in one batched forward pass (stream i carries adapter i: every targeted
linear layer adds its own low-rank update per stream). Below the lowest block that any adapter touches
the streams would be identical, so the prompt runs there once (from the shared `trunk` when it is kept)
and splits into n streams on entering that block. After every transformer layer l from there on, the
streams are refined with each other, at every token:

    s_i   = P · h_i                    a small shared projection of each stream's state
    A     = W_l [s_1; ...; s_n] + b_l  [n x n] signed interaction weights (a source can be suppressed)
    h_i  <- h_i + sum_j A_ij h_j

A differs at every token, so a stream can draw on another for a brand's tokens and not for a product
type's; the recorded weights are averaged over the input's real tokens. The refined states go on to
layer l+1. The final vector combines the streams' pooled states with input-dependent softmax weights.
Only P, W_l, b_l and the final gate train; base and adapters stay frozen. They train with the adapters'
loss against the same frozen item tower (`items`), so only prompts run as n streams. With W = 0 at start
the model is the n adapters run side by side, and the output is their uniform mix.

Contribution of source j at layer l, for one input: the share of the refinement drawn from stream j,
sum_i |A_ij| / sum_ij |A_ij|, which sums to 1 over sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from xcross_core.data.dataset import DomainData
from xcross_core.models.adapters import AdapterMetadata, check_adapter_fits, current_metadata
from xcross_core.models.artifacts import ArtifactError
from xcross_core.models.base import BaseModelInfo, layer_stack, load_base, pool
from xcross_core.models.lora_files import check_fits, linear_shape, lora_files
from xcross_core.models.text import ADAPTER_LOOP, TextConfig, TextRecommender
from xcross_core.models.trunk import adapted_blocks
from xcross_core.training.loop import LoopConfig, seed_everything

_PREFIX = "base_model.model."

#: Integration training defaults: a target LoRA's loss, batch, step budget and patience (the two are compared
#: at the same updates on the same sequences), at the integration's own learning rate (bench/xcross_lr.py).
XCROSS_LOOP = replace(ADAPTER_LOOP, lr=1e-3)


@dataclass(frozen=True)
class XCrossConfig:
    """The integration's size."""

    summary_dim: int = field(
        default=32, metadata={"help": "width of each stream's summary that the weight networks read"}
    )


class StackedLoRA(nn.Module):
    """One frozen linear layer plus n frozen LoRA updates ΔW_i = s_i B_i A_i, applied in one of two modes.

    streams (X-Cross; `mix` is None): the batch is n streams, stream i getting update i.
    mixture (`mix` set to [B, n] weights by the owner before each forward): one stream, input b getting
    sum_i mix[b, i] ΔW_i x. The weights may carry gradients; the adapters never do.
    """

    def __init__(self, base: nn.Module, lora_a: torch.Tensor, lora_b: torch.Tensor, scaling: torch.Tensor) -> None:
        super().__init__()
        self.base = base
        # [n, r, in], [n, out, r], [n]: buffers, not parameters, so they never train.
        self.register_buffer("lora_a", lora_a)
        self.register_buffer("lora_b", lora_b)
        self.register_buffer("scaling", scaling)
        self.mix: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.lora_a.shape[0]
        if self.mix is None:
            streams = x.reshape(n, -1, x.shape[-1])  # the batch is stream-major: [n * B, ...]
            delta = (streams @ self.lora_a.transpose(1, 2)) @ self.lora_b.transpose(1, 2) * self.scaling[:, None, None]
            return self.base(x) + delta.reshape(*x.shape[:-1], -1)
        # All n projections A_i x in one op, weighted in rank space: sum_i w_i s_i B_i (A_i x) then is a
        # single matmul over the n * r columns, with no [n, ..., out] intermediate.
        low = torch.einsum("...i,nri->...nr", x, self.lora_a)
        weights = (self.mix * self.scaling).reshape(x.shape[0], *(1,) * (x.dim() - 2), n, 1)
        return self.base(x) + torch.einsum("...nr,nor->...o", low * weights, self.lora_b)


def read_lora(folder: str | Path, model: nn.Module) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], float]:
    """peft adapter folder -> ({module path: (A [r, in], B [out, r])}, scaling), in `model`'s dtype.

    The folder's files are checked against each other and against `model`'s layers before a tensor is read
    (`lora_files`, `check_fits`): ArtifactError naming the file and the problem.
    """
    lora = lora_files(folder)
    check_fits(lora, model)
    try:
        weights = load_file(str(lora.weights_path))
    except (SafetensorError, OSError) as err:
        raise ArtifactError(lora.weights_path, f"cannot be read: {err}") from None
    dtype = next(model.parameters()).dtype
    modules = {
        path: tuple(weights[f"{_PREFIX}{path}.lora_{ab}.weight"].to(dtype) for ab in "AB") for path in lora.modules
    }
    return modules, lora.scaling


def adapted_layers(model: nn.Module, info: BaseModelInfo) -> list[int]:
    """Indices of the transformer blocks that hold stacked adapters, in order.

    Raises ValueError when an adapted module lies outside every block: integration works block by block.
    """
    blocks, outside = adapted_blocks(model, info)
    if outside:
        raise ValueError(f"source adapters adapt {', '.join(outside)}, outside the transformer layers")
    return blocks


def stack_adapters(model: nn.Module, adapters: Sequence[str | Path]) -> list[StackedLoRA]:
    """Replace every linear layer that any of `adapters` targets by a StackedLoRA of all n; return those.

    Every adapter is checked against `model` before any is read (ArtifactError naming the file).
    """
    for adapter in adapters:
        check_adapter_fits(adapter, model)
    loaded = [read_lora(a, model) for a in adapters]
    paths = sorted(set().union(*(m for m, _ in loaded)))
    rank = max(a.shape[0] for m, _ in loaded for a, _ in m.values())
    stacked = []
    for path in paths:
        base = model.get_submodule(path)
        a_list, b_list = [], []
        out_f, in_f = linear_shape(base)
        for modules, _ in loaded:
            # An adapter that leaves this module alone contributes a zero update.
            a, b = modules.get(path, (base.weight.new_zeros(rank, in_f), base.weight.new_zeros(out_f, rank)))
            # Pad smaller ranks with zero rows/columns: they add nothing.
            a_list.append(F.pad(a, (0, 0, 0, rank - a.shape[0])))
            b_list.append(F.pad(b, (0, rank - b.shape[1])))
        scaling = torch.tensor([s for _, s in loaded])
        parent_path, _, name = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        stacked.append(StackedLoRA(base, torch.stack(a_list), torch.stack(b_list), scaling))
        setattr(parent, name, stacked[-1])
    return stacked


class XCrossEncoder(nn.Module):
    """Base model + n stacked source adapters + layer-wise integration -> unit vectors."""

    def __init__(self, model: nn.Module, info: BaseModelInfo, adapters: list[str | Path], config: XCrossConfig) -> None:
        super().__init__()
        self.model, self.info, self.config = model, info, config
        self.n = len(adapters)
        if self.n < 1:
            raise ValueError("X-Cross needs at least one source adapter")
        # Below the lowest adapted block every stream would compute the same states: the prompt runs there
        # once and splits into n streams on entering that block; integration starts there too.
        stack_adapters(model, adapters)
        first = adapted_layers(model, info)[0]
        self.layers = list(range(first, info.num_layers))
        hidden, n, d = info.hidden_size, self.n, config.summary_dim
        self.project = nn.Linear(hidden, d)
        self.interact = nn.ModuleList(nn.Linear(n * d, n * n) for _ in self.layers)
        self.gate = nn.Linear(n * d, n)
        for layer in [*self.interact, self.gate]:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self._mask: torch.Tensor | None = None
        self.recorded: list[torch.Tensor] = []  # per layer [B, n] contributions of the last forward
        self.final_weights: torch.Tensor | None = None
        self.streams: torch.Tensor | None = None  # [B, n, H] weighted stream vectors of the last forward
        self._batch = 0
        blocks = layer_stack(model, info.num_layers)
        for index, layer in enumerate(self.layers):
            blocks[layer].register_forward_pre_hook(self._split_hook, with_kwargs=True)
            blocks[layer].register_forward_hook(self._refine_hook(index))

    def _summaries(self, hidden: torch.Tensor) -> torch.Tensor:
        """[n * B, T, H] -> [B, n * d]: each stream's pooled, projected state, side by side."""
        pooled = pool(hidden, self._mask, self.info.decoder)
        summary = self.project(pooled).reshape(self.n, -1, self.config.summary_dim)
        return summary.transpose(0, 1).reshape(summary.shape[1], -1)

    def _token_summaries(self, hidden: torch.Tensor) -> torch.Tensor:
        """[n * B, T, H] -> [B, T, n * d]: each stream's projected state at every position, side by side."""
        summary = self.project(hidden).reshape(self.n, -1, *hidden.shape[1:-1], self.config.summary_dim)
        return summary.permute(1, 2, 0, 3).flatten(2)

    def _split_hook(self, module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """Entering a block that runs as streams: every per-input tensor that is not split yet (the states at the
        first such block, the attention mask at each) becomes n stream copies."""

        def split(x: object) -> object:
            if isinstance(x, torch.Tensor) and x.dim() and x.shape[0] == self._batch:
                return x.repeat(self.n, *(1,) * (x.dim() - 1))  # stream-major: [n * B, ...]
            return x

        return tuple(split(a) for a in args), {k: split(v) for k, v in kwargs.items()}

    def _refine_hook(self, index: int):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor | tuple) -> torch.Tensor | tuple:
            hidden = output[0] if isinstance(output, tuple) else output
            n = self.n
            weights = self.interact[index](self._token_summaries(hidden)).unflatten(-1, (n, n))  # [B, T, n, n]
            streams = hidden.reshape(n, -1, *hidden.shape[1:])  # [n, B, T, H]
            refined = (streams + torch.einsum("btij,jbth->ibth", weights, streams)).reshape(hidden.shape)
            self.recorded.append(self._token_mean(_contributions(weights)).detach())
            return (refined, *output[1:]) if isinstance(output, tuple) else refined

        return hook

    def _token_mean(self, weights: torch.Tensor) -> torch.Tensor:
        """[B, T, n] per-position source weights -> [B, n]: their mean over the input's real tokens."""
        mask = self._mask[: weights.shape[0], :, None].to(weights.dtype)
        return (weights * mask).sum(1) / mask.sum(1).clamp(min=1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        n = self.n
        self._batch, self._mask = input_ids.shape[0], attention_mask.repeat(n, 1)
        self.recorded = []
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = pool(hidden, self._mask, self.info.decoder).reshape(n, -1, hidden.shape[-1])  # [n, B, H]
        self.final_weights = self.gate(self._summaries(hidden)).softmax(-1)  # [B, n]
        combined = torch.einsum("bi,ibh->bh", self.final_weights, pooled)
        # Kept for attribution: the output is normalise(sum_i w_i * stream_i), linear in each stream.
        self.streams = (self.final_weights[..., None] * pooled.transpose(0, 1)).detach()  # [B, n, H]
        self.final_weights = self.final_weights.detach()
        return F.normalize(combined, dim=-1)

    def contributions(self) -> torch.Tensor:
        """[B, len(layers) + 1, n] source weights of the last forward: each integrated layer, then the final mix."""
        return torch.stack([*self.recorded, self.final_weights], dim=1)


def _contributions(weights: torch.Tensor) -> torch.Tensor:
    """[..., n, n] interaction weights -> [..., n] share drawn from each source stream."""
    mass = weights.abs().sum(-2)  # [..., n]: column sums over the receiving streams
    total = mass.sum(-1, keepdim=True)
    uniform = torch.full_like(mass, 1 / mass.shape[-1])
    return torch.where(total > 0, mass / total.clamp(min=1e-12), uniform)


# --- the recommender (its run folder: `xcross_run.py`) -------------------------------------------


class SourceMixRecommender(TextRecommender):
    """A text recommender whose encoder combines named source adapters and reports each one's weight.

    The encoder provides `n`, `info`, `layers` (the indices of the blocks it weighs sources at) and
    `contributions()`: [B, len(layers) + 1, n] source weights of its last forward.
    """

    def __init__(self, *args: object, sources: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.sources = sources

    def contribution_weights(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """[users, len(encoder.layers) + 1, n_sources] weight of each source at each layer (last: the output)."""
        out = []
        step = self.encode_step
        with torch.no_grad():
            for s in range(0, len(histories), step):
                with self.lock:  # the weights recorded by this forward, not another thread's
                    self.encode_prompts(histories[s : s + step])
                    out.append(self.encoder.contributions().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.encoder.layers) + 1, self.encoder.n))


class XCrossRecommender(SourceMixRecommender):
    """A text recommender whose encoder is X-Cross over the named source adapters (what a run folder holds)."""

    @property
    def encode_step(self) -> int:
        return max(1, self.config.encode_batch // self.encoder.n)  # every text runs as n streams

    def attribution(self, history: np.ndarray, items: np.ndarray) -> pd.DataFrame:
        """Each source's share of each item's score for one history: rows `items`, columns sources.

        The prompt vector is normalise(sum_i w_i * stream_i), so an item's score splits exactly into one
        term per source stream; each row sums to the item's score.
        """
        with torch.no_grad(), self.lock:
            self.encode_prompts([np.asarray(history)])  # fills encoder.streams
            streams = self.encoder.streams[0]  # [n, H]
            norm = streams.sum(0).norm().clamp(min=1e-12)
            item_vectors = self.item_vectors()[torch.as_tensor(np.asarray(items), dtype=torch.long)]
            parts = item_vectors @ streams.T / norm / self.config.temperature  # [k, n]
        return pd.DataFrame(parts.cpu().numpy(), index=np.asarray(items), columns=self.sources)


def load_sources(
    adapters: Sequence[str | Path], text: TextConfig | None = None
) -> tuple[nn.Module, object, BaseModelInfo, list[str], TextConfig]:
    """The source adapters' common base, loaded frozen (model, tokenizer, info), their domains, and the
    text config: `text`, else the one the first adapter was trained with."""
    metas = source_metadata(adapters)
    model, tokenizer, info = load_base(metas[0].base)
    return model, tokenizer, info, [m.domain for m in metas], text or TextConfig(**metas[0].text)


def source_metadata(adapters: Sequence[str | Path]) -> list[AdapterMetadata]:
    """The metadata of source adapters that can be integrated: at least one, all on one base model.

    Raises ValueError (FileNotFoundError for a folder that is not an adapter) naming the problem.
    """
    metas = [current_metadata(a) for a in adapters]
    if not metas:
        raise ValueError("no source adapters given")
    bases = {m.base for m in metas}
    if len(bases) > 1:
        named = ", ".join(f"{Path(a).name} ({m.base})" for a, m in zip(adapters, metas, strict=True))
        raise ValueError(f"source adapters must share one base model; these do not: {named}")
    return metas


def xcross_recommender(
    domain: DomainData,
    adapters: Sequence[str | Path],
    config: XCrossConfig | None = None,
    text: TextConfig | None = None,
    loop: LoopConfig | None = None,
) -> XCrossRecommender:
    """Fresh X-Cross integration of `adapters` (peft folders of ours, one base) for `domain`."""
    loop = loop or XCROSS_LOOP
    seed_everything(loop.seed)
    model, tokenizer, info, sources, text = load_sources(adapters, text)
    encoder = XCrossEncoder(model, info, list(adapters), config or XCrossConfig())
    return XCrossRecommender(domain, encoder, tokenizer, text, loop, name="x-cross", sources=sources)


def weights_frame(
    recommender: SourceMixRecommender, users: np.ndarray, histories: Sequence[np.ndarray]
) -> pd.DataFrame:
    """Long table user_id, layer, source, weight: every source's weight at every layer for every user.

    Layers are numbered from 1 (the first transformer block; a model weighs sources only from its lowest
    adapted block up); `output` is the final combination (for the single-stream baselines of `combine`, the
    layers' average).
    """
    weights = recommender.contribution_weights(histories)  # [U, len(layers) + 1, n]
    n_users, n_layers, n_sources = weights.shape
    layers = [str(i + 1) for i in recommender.encoder.layers] + ["output"]
    return pd.DataFrame(
        {
            "user_id": np.repeat(np.asarray(users), n_layers * n_sources),
            "layer": np.tile(np.repeat(layers, n_sources), n_users),
            "source": np.tile(recommender.sources, n_users * n_layers),
            "weight": weights.ravel(),
        }
    )
