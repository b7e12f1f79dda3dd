"""Longformer's encoder (Beltagy et al., 2020) for inference, in plain torch, with the module and
parameter names of the `transformers` implementation so that LOCORE's published state dict loads
with `strict=True`.

Why not `transformers` itself: LOCORE needs only the encoder (no tokenizer, no word embeddings,
no hub), and the package is a large dependency whose internals LOCORE's authors had to override
anyway (padding to the attention window). What we keep is the attention *rule*, which is short:

* a token without global attention attends to the tokens at most `attention_window / 2` positions
  away (left and right) plus every global token, never to masked tokens; keys and values come from
  `key` / `value`;
* a global token attends to every unmasked token, with its own projections `query_global`,
  `key_global`, `value_global`;
* a masked token's attention output is zero (it still passes through the feed-forward layers, but
  no other token ever reads it).

`transformers` pads the sequence to a multiple of the window and computes the band in overlapping
chunks; padding is masked, so computing the band block by block on the unpadded sequence gives the
same outputs. Post-norm layers, exact GELU, LayerNorm eps 1e-5 (the `longformer-base` configuration).

Imports torch at module level: only imported when a learned re-ranker runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class LongformerConfig:
    """`allenai/longformer-base-4096` with 5120 positions (LOCORE's `longformer-base-5120`)."""

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    attention_window: int = 512
    max_position_embeddings: int = 5122
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 1
    """RoBERTa numbering: positions start at pad_token_id + 1 (so 5122 rows hold 5120 positions)."""

    @property
    def max_tokens(self) -> int:
        return self.max_position_embeddings - self.pad_token_id - 1


class LongformerEmbeddings(nn.Module):
    """Position and token-type embeddings added to given vectors (no word embeddings), then LayerNorm."""

    def __init__(self, cfg: LongformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size,
                                                padding_idx=cfg.pad_token_id)

    def forward(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        n = inputs_embeds.shape[1]
        if n > self.cfg.max_tokens:
            raise ValueError(f"{n} tokens: this Longformer has positions for {self.cfg.max_tokens}")
        positions = torch.arange(n, device=inputs_embeds.device) + self.cfg.pad_token_id + 1
        x = inputs_embeds + self.position_embeddings(positions)[None] + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


@dataclass(frozen=True)
class AttentionPlan:
    """Who attends to whom in one sequence, computed once and shared by every layer.

    Local rows are processed in blocks of `one_sided` queries; block i's keys are the global tokens
    followed by the positions [lo, hi) around it. `local_bias[i]` is 0 where attention is allowed
    and the dtype's minimum elsewhere (as `transformers` masks, so no row becomes NaN)."""

    blocks: list[tuple[int, int, int, int]]
    local_bias: list[torch.Tensor]
    global_ids: torch.Tensor
    global_bias: torch.Tensor
    valid: torch.Tensor

    @staticmethod
    def of(valid: torch.Tensor, is_global: torch.Tensor, one_sided: int, dtype: torch.dtype) -> AttentionPlan:
        n, w, device = len(valid), one_sided, valid.device
        blocked = torch.finfo(dtype).min
        glob = is_global.nonzero().flatten()
        local_key = valid & ~is_global  # global keys are reached through the global columns instead
        blocks, biases = [], []
        for start in range(0, n, w):
            stop = min(start + w, n)
            lo, hi = max(0, start - w), min(n, stop + w)
            rows = torch.arange(start, stop, device=device)[:, None]
            cols = torch.arange(lo, hi, device=device)[None, :]
            allowed = torch.cat([torch.ones(stop - start, len(glob), dtype=torch.bool, device=device),
                                 ((rows - cols).abs() <= w) & local_key[lo:hi]], dim=1)
            blocks.append((start, stop, lo, hi))
            biases.append(torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill_(~allowed, blocked))
        global_bias = torch.zeros(n, dtype=dtype, device=device).masked_fill_(~valid, blocked)
        return AttentionPlan(blocks, biases, glob, global_bias, valid)


class LongformerSelfAttention(nn.Module):
    def __init__(self, cfg: LongformerConfig) -> None:
        super().__init__()
        if cfg.hidden_size % cfg.num_attention_heads or cfg.attention_window % 2:
            raise ValueError("hidden_size must split into the heads and attention_window must be even")
        c = cfg.hidden_size
        self.heads = cfg.num_attention_heads
        self.query, self.key, self.value = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.query_global, self.key_global, self.value_global = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """N×C → heads×N×d (contiguous: every block reads slices of it)."""
        return x.view(x.shape[0], self.heads, -1).transpose(0, 1).contiguous()

    def forward(self, h: torch.Tensor, plan: AttentionPlan) -> torch.Tensor:
        """One sequence: `h` N×C → the attention output N×C."""
        n, c = h.shape
        scale = 1.0 / math.sqrt(c // self.heads)
        q, k, v = self._split(self.query(h) * scale), self._split(self.key(h)), self._split(self.value(h))
        glob = plan.global_ids
        k_glob, v_glob = k[:, glob], v[:, glob]
        out = torch.empty_like(q)
        for (start, stop, lo, hi), bias in zip(plan.blocks, plan.local_bias, strict=True):
            keys = torch.cat([k_glob, k[:, lo:hi]], dim=1)
            values = torch.cat([v_glob, v[:, lo:hi]], dim=1)
            out[:, start:stop] = _attend(q[:, start:stop], keys, values, bias)
        out = out.transpose(0, 1).reshape(n, c)
        out[~plan.valid] = 0.0
        if len(glob):
            qg = self._split(self.query_global(h[glob]) * scale)
            kg, vg = self._split(self.key_global(h)), self._split(self.value_global(h))
            out[glob] = _attend(qg, kg, vg, plan.global_bias[None, :]).transpose(0, 1).reshape(-1, c)
        return out


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """softmax(q·kᵀ + bias)·v per head (q already scaled); torch's fused kernel never holds all the
    scores at once (twice as fast as matmul + softmax on a CPU)."""
    return F.scaled_dot_product_attention(q[None], k[None], v[None], attn_mask=bias, scale=1.0)[0]


class LongformerSelfOutput(nn.Module):
    def __init__(self, cfg: LongformerConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, attended: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(attended) + residual)


class LongformerAttention(nn.Module):
    def __init__(self, cfg: LongformerConfig) -> None:
        super().__init__()
        self.self = LongformerSelfAttention(cfg)
        self.output = LongformerSelfOutput(cfg)

    def forward(self, hidden: torch.Tensor, plan: AttentionPlan) -> torch.Tensor:
        return self.output(self.self(hidden, plan), hidden)


class LongformerIntermediate(nn.Module):
    def __init__(self, cfg: LongformerConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class LongformerOutput(nn.Module):
    def __init__(self, cfg: LongformerConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class LongformerLayer(nn.Module):
    def __init__(self, cfg: LongformerConfig) -> None:
        super().__init__()
        self.attention = LongformerAttention(cfg)
        self.intermediate = LongformerIntermediate(cfg)
        self.output = LongformerOutput(cfg)

    def forward(self, hidden: torch.Tensor, plan: AttentionPlan) -> torch.Tensor:
        attended = self.attention(hidden, plan)
        return self.output(self.intermediate(attended), attended)


class LongformerEncoder(nn.Module):
    def __init__(self, cfg: LongformerConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(LongformerLayer(cfg) for _ in range(cfg.num_hidden_layers))

    def forward(self, hidden: torch.Tensor, plan: AttentionPlan) -> torch.Tensor:
        for layer in self.layer:
            hidden = layer(hidden, plan)
        return hidden


class Longformer(nn.Module):
    """`forward(inputs_embeds, valid, is_global)` → the last hidden states (B×N×C).

    `valid`: False for masked tokens (padding); `is_global`: tokens with global attention (a masked
    token never gets it, as `transformers` merges the two masks)."""

    def __init__(self, cfg: LongformerConfig = LongformerConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeddings = LongformerEmbeddings(cfg)
        self.encoder = LongformerEncoder(cfg)

    def forward(self, inputs_embeds: torch.Tensor, valid: torch.Tensor, is_global: torch.Tensor) -> torch.Tensor:
        hidden = self.embeddings(inputs_embeds)
        one_sided = self.cfg.attention_window // 2
        out = []
        for h, v, g in zip(hidden, valid.bool(), is_global.bool(), strict=True):  # sequences one by one
            out.append(self.encoder(h, AttentionPlan.of(v, g & v, one_sided, h.dtype)))
        return torch.stack(out)
