"""The AMES similarity network (Suma et al., ECCV 2024), laid out so the authors' released
checkpoints (`checkpoint["state"]`) load unchanged with `strict=True`.

AMES reads two sets of local descriptors (a query's and a database image's), maps each descriptor
to a 128-d token, prepends one learned "matching" token and runs five post-norm decoder layers in
which every token first attends within its own image (self-attention) and then only to the other
image (cross-attention); the matching token sees both. A linear classifier on the matching token
gives one raw logit per pair. Module and parameter names follow the authors' `AMES`,
`TransformerDecoder(Layer)` and `BinarizationLayer`, because the state-dict keys come from them.

Imports torch at module level: only imported when the re-ranker runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class AmesConfig:
    """One released variant (conf/model/ames.yaml of the authors' repository + the descriptor size)."""

    local_dim: int = 768
    model_dim: int = 128
    nhead: int = 2
    num_layers: int = 5
    dim_feedforward: int = 1024
    binarized: bool = False


VARIANTS: dict[str, AmesConfig] = {
    "dinov2_fp": AmesConfig(local_dim=768),
    "dinov2_dist": AmesConfig(local_dim=768, binarized=True),
    "cvnet_fp": AmesConfig(local_dim=1024),
    "cvnet_dist": AmesConfig(local_dim=1024, binarized=True),
}
"""The four released networks: DINOv2 (768-d) or CVNet (1024-d) descriptors, full precision or binary."""

EVAL_BLEND: dict[str, tuple[float, float]] = {
    "dinov2_fp": (0.55, 0.3),
    "dinov2_dist": (0.35, 0.1),
    "cvnet_fp": (0.85, 0.8),
    "cvnet_dist": (0.65, 0.2),
}
"""(lamb, temp) per variant from the authors' README (tuned on the GLDv2 public test split):
score = lamb · global + (1 − lamb) · sigmoid(temp · logit)."""


class BinarizationLayer(nn.Module):
    """ITQ-style binarisation of the 'dist' variants: sign(normalise(x) @ W). `W` is a parameter
    (the authors load it from `itq_dinov2_D128.npz`, then fine-tune it), so it is in the state dict."""

    def __init__(self, dims: int, bits: int) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.zeros(dims, bits))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sign(F.normalize(x, p=2, dim=-1) @ self.W)


class AmesDecoderLayer(nn.Module):
    """Post-norm layer: self-attention, 'cross' attention (same tokens, another mask), feed-forward.
    Attribute order is the authors' (it fixes the state-dict order)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d_model, nhead, batch_first=True)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)

    def forward(
        self, x: torch.Tensor, sa_mask: torch.Tensor, ca_mask: torch.Tensor, padding: torch.Tensor
    ) -> torch.Tensor:
        x = self.norm1(x + self.self_attn(x, x, x, attn_mask=sa_mask, key_padding_mask=padding, need_weights=False)[0])
        x = self.norm2(x + self.cross_attn(x, x, x, attn_mask=ca_mask, key_padding_mask=padding, need_weights=False)[0])
        return self.norm3(x + self.linear2(F.relu(self.linear1(x))))


class AmesDecoder(nn.Module):
    """`decoder.layers.N`; no final norm in the released (post-norm) configuration."""

    def __init__(self, cfg: AmesConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            AmesDecoderLayer(cfg.model_dim, cfg.nhead, cfg.dim_feedforward) for _ in range(cfg.num_layers)
        )

    def forward(
        self, x: torch.Tensor, sa_mask: torch.Tensor, ca_mask: torch.Tensor, padding: torch.Tensor
    ) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, sa_mask, ca_mask, padding)
        return x


def attention_masks(q: int, t: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean masks (True = blocked) over the sequence [matching token, q query tokens, t db tokens]:
    self-attention stays inside an image, cross-attention goes only to the other image; the
    matching token is never blocked, so no row is ever fully masked."""
    n = 1 + q + t
    src, tgt = slice(1, q + 1), slice(q + 1, n)
    sa = torch.zeros(n, n, dtype=torch.bool, device=device)
    sa[src, tgt] = True
    sa[tgt, src] = True
    ca = torch.zeros(n, n, dtype=torch.bool, device=device)
    ca[src, src] = True
    ca[tgt, tgt] = True
    return sa, ca


class Ames(nn.Module):
    """The authors' `AMES`: `forward(src, src_mask, tgt, tgt_mask)` → one raw logit per pair (B,).

    `src` (B×Q×D) are the query's descriptors, `tgt` (B×T×D) the database image's; masks are
    bool B×Q / B×T with True = padding. In eval mode the full-precision variants round `tgt` to
    float16 first, as the authors do to simulate half-precision database storage.
    """

    def __init__(self, cfg: AmesConfig = VARIANTS["dinov2_fp"]) -> None:
        super().__init__()
        self.cfg = cfg
        self.mtc_token = nn.Parameter(torch.zeros(cfg.model_dim))
        if cfg.binarized:
            self.remap_local = nn.Sequential(
                BinarizationLayer(cfg.local_dim, cfg.model_dim),
                nn.Linear(cfg.model_dim, cfg.model_dim),
                nn.LayerNorm(cfg.model_dim),
            )
        else:
            self.remap_local = nn.Sequential(nn.Linear(cfg.local_dim, cfg.model_dim), nn.LayerNorm(cfg.model_dim))
        self.decoder = AmesDecoder(cfg)
        self.classifier = nn.Linear(cfg.model_dim, 1)
        nn.init.trunc_normal_(self.mtc_token, std=0.02)

    def forward(
        self,
        src: torch.Tensor,
        src_mask: torch.Tensor | None = None,
        tgt: torch.Tensor | None = None,
        tgt_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if tgt is None:
            raise ValueError("AMES needs the database image's descriptors (tgt)")
        b, q, _ = src.shape
        t = tgt.shape[1]
        src = self.remap_local(F.normalize(src, p=2, dim=-1))
        tgt = self.remap_local(F.normalize(tgt, p=2, dim=-1))
        if not self.training and not self.cfg.binarized:
            tgt = tgt.half().float()
        if src_mask is None:
            src_mask = torch.zeros(b, q, dtype=torch.bool, device=src.device)
        if tgt_mask is None:
            tgt_mask = torch.zeros(b, t, dtype=torch.bool, device=src.device)
        tokens = torch.cat([self.mtc_token.expand(b, 1, -1), src, tgt], dim=1)
        padding = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=src.device), src_mask, tgt_mask], 1).bool()
        sa_mask, ca_mask = attention_masks(q, t, src.device)
        out = self.decoder(tokens, sa_mask, ca_mask, padding)
        return self.classifier(out[:, 0]).view(-1)


def build(variant: str = "dinov2_fp") -> Ames:
    """A released variant's network (random weights until a checkpoint is loaded)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown AMES variant '{variant}' (known: {', '.join(VARIANTS)})")
    return Ames(VARIANTS[variant])
