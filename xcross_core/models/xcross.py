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

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from xcross_core.data.dataset import DomainData
from xcross_core.models.base import BaseModelInfo, layer_stack, pool
from xcross_core.models.sources import StackedLoRA, adapted_layers, load_sources, stack_adapters
from xcross_core.models.text import ADAPTER_LOOP, TextConfig, TextRecommender
from xcross_core.models.trunk import kept_rows
from xcross_core.training.loop import LoopConfig, seed_everything

#: Integration training defaults: a target LoRA's loss, batch, step budget and patience (the two are compared
#: at the same updates on the same sequences), at the integration's own learning rate (bench/xcross_lr.py).
XCROSS_LOOP = replace(ADAPTER_LOOP, lr=1e-3)


@dataclass(frozen=True)
class XCrossConfig:
    """The integration's size."""

    summary_dim: int = field(
        default=32, metadata={"help": "width of each stream's summary that the weight networks read"}
    )


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
        self._prompt: tuple[torch.Tensor, torch.Tensor] | None = None  # the forward's (input_ids, attention_mask)
        self.kept_space: tuple | None = None  # where the first block's stream states are kept (`keep_first_block`)
        blocks = layer_stack(model, info.num_layers)
        for index, layer in enumerate(self.layers):
            blocks[layer].register_forward_pre_hook(self._split_hook, with_kwargs=True)
            blocks[layer].register_forward_hook(self._refine_hook(index))
        blocks[first].forward = self._from_kept(blocks[first], blocks[first].forward)

    def keep_first_block(self) -> None:
        """Keep the first integrated block's stream states per prompt from now on (see `_from_kept`).

        Its input (the trunk's states) and its weights (base and sources) are frozen, so its output per stream is
        a function of the prompt's tokens and the sources alone: it runs once per prompt, like the trunk. Valid
        where the trunk is (right padding, blocks that return their states); the recommender decides.
        """
        first = layer_stack(self.model, self.info.num_layers)[self.layers[0]]
        digest = hashlib.sha256()
        for module in first.modules():
            if isinstance(module, StackedLoRA):
                for tensor in (module.lora_a, module.lora_b, module.scaling):
                    digest.update(tensor.detach().float().cpu().numpy().tobytes())
        self.kept_space = (self.info.name, self.layers[0], "streams", digest.hexdigest())

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

        if self._prompt is None:
            return args, kwargs
        batch = len(self._prompt[0])

        def split(x: object) -> object:
            return x.repeat(self.n, *(1,) * (x.dim() - 1)) if _per_input(x, batch) else x  # stream-major: [n * B, ...]

        return tuple(split(a) for a in args), {k: split(v) for k, v in kwargs.items()}

    def _from_kept(self, block: nn.Module, forward):
        """The first integrated block's forward, served from kept stream states once `kept_space` is set.

        Prompts not kept yet run through the block together, in evaluation mode: frozen features take no dropout
        (as the trunk's), so a prompt's states are the same whenever they are computed.
        """

        def run(*args: object, **kwargs: object) -> torch.Tensor:
            if self.kept_space is None or self._prompt is None:
                return forward(*args, **kwargs)
            n, batch = self.n, len(self._prompt[0])

            def compute(rows: torch.Tensor) -> torch.Tensor:
                streams = torch.cat([rows + s * batch for s in range(n)])  # the rows' copies, stream-major

                def pick(x: object) -> object:
                    return x[streams] if _per_input(x, n * batch) else x

                training = block.training
                block.eval()
                try:
                    with torch.no_grad():
                        out = forward(*(pick(a) for a in args), **{k: pick(v) for k, v in kwargs.items()})
                finally:
                    block.train(training)
                return out.unflatten(0, (n, len(rows))).transpose(0, 1).transpose(1, 2)  # [rows, T, n, H]

            states = kept_rows(self.kept_space, *self._prompt, compute)  # [B, T, n, H]
            hidden = args[0] if args else kwargs["hidden_states"]
            return states.permute(2, 0, 1, 3).flatten(0, 1).to(hidden.dtype)  # stream-major [n * B, T, H]

        return run

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
        self._prompt, self._mask = (input_ids, attention_mask), attention_mask.repeat(n, 1)
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


def _per_input(x: object, rows: int) -> bool:
    """Whether `x`, a block's argument, is a tensor with one row per input of a batch of `rows` (the hidden
    states, a per-input attention mask), as opposed to one shared by every input."""
    return isinstance(x, torch.Tensor) and x.dim() > 0 and x.shape[0] == rows


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

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if self.trunk is not None:  # the blocks below are kept: so is the first integrated block's output
            self.encoder.keep_first_block()

    @property
    def encode_step(self) -> int:
        return max(1, self.config.encode_batch // self.encoder.n)  # every text runs as n streams

    def attribution(self, history: np.ndarray, items: np.ndarray) -> pd.DataFrame:
        """Each source's share of each item's score for one history: rows `items`, columns sources, then
        `POPULARITY` (the item head's bias, when the model trains one).

        The prompt vector is normalise(sum_i w_i * stream_i), so an item's cosine splits exactly into one term per
        source stream; times the score's scale, plus the item's bias, each row sums to the item's score.
        """
        items = torch.as_tensor(np.asarray(items), dtype=torch.long)
        head = getattr(self.encoder, "item_head", None)
        with torch.no_grad(), self.lock:
            self.encode_prompts([np.asarray(history)])  # fills encoder.streams
            streams = self.encoder.streams[0]  # [n, H]
            norm = streams.sum(0).norm().clamp(min=1e-12)
            scale = 1 / self.config.temperature if head is None else head.log_scale.exp()
            parts = self.item_vectors()[items] @ streams.T / norm * scale  # [k, n]
            columns = list(self.sources)
            if head is not None and self.config.item_bias:
                parts = torch.cat([parts, head.bias[items, None]], dim=1)
                columns.append(POPULARITY)
        return pd.DataFrame(parts.cpu().numpy(), index=items.numpy(), columns=columns)


#: The attribution's column for what the item head adds to an item's score whatever the sources say.
POPULARITY = "item popularity"


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
