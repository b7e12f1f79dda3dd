"""OMG-Fuser's fusion network (Karageorgiou et al., CVPRW 2024) in plain torch, with the layout of
the released `omgfuser_score_fusion.pth` and `omgfuser_feature_fusion.pth`.

The authors' `MaskedAttentionFusionModelWithImage` as both releases configure it:

* each forensic signal map (one channel) → five strided convolutions (a 16× smaller grid of
  384-d tokens) + a fixed 2-D sinusoidal position code → six transformer layers whose attention
  is masked by the object masks (a token attends only to tokens of its own objects, or of the
  background when it lies in none);
* the image → frozen DINOv2 ViT-S/14 patch tokens (our `plugins.similarity.dinov2` ViT) → a
  learned convolution from the 14-pixel token grid to the 16-pixel one; it skips the first stage;
* per token position, a "forensics token" attends across the signals and the image (six layers),
  then six plain transformer layers over the fused tokens;
* a transposed-convolution upscaler (16×) → per-pixel sigmoid map, and a transformer with a
  detection token → an image-level sigmoid score.

Inference only: dropout, drop-path and stream dropping are training-time no-ops and left out.
Imports torch at module level: only imported when the network is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from plugins.similarity.dinov2 import VITS14, DinoV2

DIM = 384
HEADS = 12
MLP_DIM = 4 * DIM
TOKEN = 16
"""Pixels per fusion token: the signal backbones stride 2⁴, and the DINOv2 grid is mapped to it."""


@dataclass(frozen=True)
class OmgFuserConfig:
    """One released variant: how many signal maps it fuses and the square size it reads."""

    signals: int
    size: int
    depth: int = 6
    detector_depth: int = 4
    """TRANSFORMER_ONE_LAYER_MLP_SINGLE_OUT_SIGMOID: four layers, then one linear layer."""

    @property
    def tokens(self) -> int:
        """Fusion tokens per side (size / 16)."""
        return self.size // TOKEN

    @property
    def dino_tokens(self) -> int:
        """DINOv2 tokens per side (size / 14)."""
        return self.size // VITS14.patch_size


VARIANTS: dict[str, OmgFuserConfig] = {
    "score_fusion": OmgFuserConfig(signals=5, size=224),
    "feature_fusion": OmgFuserConfig(signals=2, size=448),
}
"""Score fusion: five localisers' output maps at 224²; feature fusion: Noiseprint++ and the CAT-Net
DCT stream at 448² (the released command lines: `5_inputs`, and `2_inputs_448`)."""


def positional_encoding_2d(dim: int, height: int, width: int) -> torch.Tensor:
    """dim×height×width sinusoidal code: the first half of the channels encodes the column, the
    second half the row, each alternating sin and cos at geometrically spaced frequencies."""
    if dim % 4:
        raise ValueError(f"dim must be a multiple of 4, got {dim}")
    half = dim // 2
    freq = torch.exp(torch.arange(0.0, half, 2) * -(math.log(10000.0) / half))
    cols = torch.arange(0.0, width)[:, None] * freq  # width × half/2
    rows = torch.arange(0.0, height)[:, None] * freq
    pe = torch.zeros(dim, height, width)
    pe[0:half:2] = torch.sin(cols).T[:, None, :].expand(-1, height, -1)
    pe[1:half:2] = torch.cos(cols).T[:, None, :].expand(-1, height, -1)
    pe[half::2] = torch.sin(rows).T[:, :, None].expand(-1, -1, width)
    pe[half + 1 :: 2] = torch.cos(rows).T[:, :, None].expand(-1, -1, width)
    return pe


def _indexed(layers: dict[int, nn.Module], length: int) -> nn.Sequential:
    """A Sequential whose parameter-free positions (ReLU, sigmoid) are Identity placeholders, so the
    parameterised ones keep the authors' indices."""
    return nn.Sequential(*(layers.get(i, nn.Identity()) for i in range(length)))


# -- transformer -----------------------------------------------------------------------------
class Attention(nn.Module):
    """Multi-head self-attention without a qkv bias; masked positions get −max before the softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.to_qkv = nn.Linear(DIM, 3 * DIM, bias=False)
        self.to_out = nn.Sequential(nn.Linear(DIM, DIM))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.to_qkv(x).reshape(b, n, 3, HEADS, DIM // HEADS).permute(2, 0, 3, 1, 4)
        dots = q @ k.transpose(-1, -2) * (DIM // HEADS) ** -0.5
        if mask is not None:
            dots = dots.masked_fill(~mask[:, None], -torch.finfo(dots.dtype).max)
        out = dots.softmax(dim=-1) @ v
        return self.to_out(out.transpose(1, 2).reshape(b, n, DIM))


class FeedForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = _indexed({0: nn.Linear(DIM, MLP_DIM), 3: nn.Linear(MLP_DIM, DIM)}, 4)  # 1, 2: GELU, dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[3](F.gelu(self.net[0](x)))


class PreNorm(nn.Module):
    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(DIM)
        self.fn = fn

    def forward(self, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return self.fn(self.norm(x), **kwargs)


class Transformer(nn.Module):
    """One pre-norm layer: x + attn(norm(x)), then + mlp(norm(x))."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = PreNorm(Attention())
        self.ff = PreNorm(FeedForward())

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(x, mask=mask)
        return x + self.ff(x)


class MaskedTransformer(nn.Module):
    def __init__(self, depth: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Transformer() for _ in range(depth))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return x


class PositionalFusion(nn.Module):
    """Token fusion (per position, a learned token attends across the streams) then long-range
    layers over the fused token grid."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.positional_fusion_transformers = nn.ModuleList(Transformer() for _ in range(depth))
        self.long_range_transformers = nn.ModuleList(Transformer() for _ in range(depth))
        self.forensics_token = nn.Parameter(torch.zeros(1, 1, 1, DIM))

    def forward(self, streams: torch.Tensor) -> torch.Tensor:
        """B×S×L×C streams → B×L×C fused tokens."""
        b, _, length, _ = streams.shape
        x = torch.cat([self.forensics_token.expand(b, 1, length, DIM), streams], dim=1)
        x = x.permute(0, 2, 1, 3).reshape(b * length, -1, DIM)  # one short sequence per position
        for layer in self.positional_fusion_transformers:
            x = layer(x)
        x = x[:, 0].reshape(b, length, DIM)
        for layer in self.long_range_transformers:
            x = layer(x)
        return x


# -- convolutional parts ---------------------------------------------------------------------
class SignalBackbone(nn.Module):
    """Four stride-2 3×3 convolutions (circular padding) with BN + ReLU, then a 1×1: 1 → 384 channels."""

    def __init__(self) -> None:
        super().__init__()
        widths = [1, 48, 96, 192, 384]
        layers: dict[int, nn.Module] = {}
        for i, (c_in, c_out) in enumerate(zip(widths, widths[1:], strict=False)):
            layers[3 * i] = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, padding_mode="circular")
            layers[3 * i + 1] = nn.BatchNorm2d(c_out)
        layers[12] = nn.Conv2d(DIM, DIM, 1)
        self.feature_extractor = _indexed(layers, 13)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.feature_extractor):
            x = layer(x)
            if i % 3 == 1:  # after each BN
                x = F.relu(x)
        return x


class Upscaler(nn.Module):
    """DOUBLE_CONV_UPSCALER: 1×1 transposed conv, then four (stride-2 transposed conv + BN, 3×3 conv + BN)
    stages 384 → 192 → 96 → 48 → 1 with ReLUs (none after the last), a final 3×3 conv and a sigmoid."""

    RELU_AFTER = frozenset({1, 6, 11, 16})

    def __init__(self) -> None:
        super().__init__()
        layers: dict[int, nn.Module] = {0: nn.ConvTranspose2d(DIM, DIM, 1), 1: nn.BatchNorm2d(DIM)}
        widths = [DIM, DIM // 2, DIM // 4, DIM // 8]
        for i, (c_in, c_out) in enumerate(zip(widths, widths[1:], strict=False)):
            at = 3 + 5 * i
            layers[at] = nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1)
            layers[at + 1] = nn.BatchNorm2d(c_out)
            layers[at + 2] = nn.Conv2d(c_out, c_out, 3, padding=1)
            layers[at + 3] = nn.BatchNorm2d(c_out)
        layers[18] = nn.ConvTranspose2d(DIM // 8, 1, 3, stride=2, padding=1, output_padding=1)
        layers[19] = nn.BatchNorm2d(1)
        layers[20] = nn.Conv2d(1, 1, 3, padding=1)
        self.upscaler = _indexed(layers, 21)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.upscaler):
            x = layer(x)
            if i in self.RELU_AFTER:
                x = F.relu(x)
        return torch.sigmoid(x)


class Detector(nn.Module):
    """A learned detection token prepended to the fused tokens, four transformer layers, linear + sigmoid."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.transformers = nn.Sequential(*(Transformer() for _ in range(depth)))
        self.detection_token = nn.Parameter(torch.zeros(1, DIM))
        self.classification_head = nn.Sequential(nn.Linear(DIM, 1))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.detection_token.expand(tokens.shape[0], 1, DIM), tokens], dim=1)
        return torch.sigmoid(self.classification_head(self.transformers(x)[:, 0]))


class ImageStream(nn.Module):
    """DINOv2 ViT-S/14 last-layer normalised patch tokens, mapped from the 14-pixel grid (size/14) to the
    16-pixel one (size/16) by an unpadded k×k convolution, k = 1 + 16 − (size/16 mod 16)."""

    def __init__(self, cfg: OmgFuserConfig) -> None:
        super().__init__()
        self.dino = DinoV2(VITS14)
        kernel = 1 + (TOKEN - cfg.tokens % TOKEN)
        if cfg.dino_tokens - kernel + 1 != cfg.tokens:
            raise ValueError(f"size {cfg.size}: the {kernel}×{kernel} map does not reach a {cfg.tokens}² grid")
        self.interpolators = nn.ModuleList([nn.Conv2d(DIM, DIM, kernel)])
        self.cfg = cfg

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """B×3×size×size (ImageNet-normalised) → B×(size/16)²×384."""
        n = self.cfg.dino_tokens
        grid = self.dino(image).transpose(1, 2).reshape(image.shape[0], DIM, n, n)
        return self.interpolators[0](grid).flatten(2).transpose(1, 2)


# -- the fusion network ----------------------------------------------------------------------
class OmgFuser(nn.Module):
    """`forward(x, attention_mask)`: x is B×(3 + signals)×size×size (the ImageNet-normalised image, then
    one channel per signal map in the release's order); attention_mask is B×L×L bool over the L =
    (size/16)² tokens (`attention_mask`). → {"localization": B×1×size×size, "detection": B×1}, both
    sigmoid outputs."""

    def __init__(self, cfg: OmgFuserConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.pos_embed = nn.Parameter(positional_encoding_2d(DIM, cfg.tokens, cfg.tokens), requires_grad=False)
        self.mask_feature_extractors = nn.ModuleList(SignalBackbone() for _ in range(cfg.signals))
        self.masked_transformers = nn.ModuleList(MaskedTransformer(cfg.depth) for _ in range(cfg.signals))
        self.overall_fusion = PositionalFusion(cfg.depth)
        self.localization_head = Upscaler()
        self.detection_head = nn.Sequential(nn.Identity(), Detector(cfg.detector_depth))  # 0: a reshape
        self.image_feature_extractor = ImageStream(cfg)
        self.register_load_state_dict_pre_hook(_rename_legacy_keys)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        if x.shape[1] < 3 + cfg.signals or x.shape[2:] != (cfg.size, cfg.size):
            raise ValueError(f"expected B×{3 + cfg.signals}×{cfg.size}×{cfg.size}, got {tuple(x.shape)}")
        streams = []
        for i, (backbone, transformer) in enumerate(
            zip(self.mask_feature_extractors, self.masked_transformers, strict=True)
        ):
            features = backbone(x[:, 3 + i : 4 + i]) + self.pos_embed
            streams.append(transformer(features.flatten(2).transpose(1, 2), attention_mask))
        streams.append(self.image_feature_extractor(x[:, :3]))  # the image skips the masked stage
        fused = self.overall_fusion(torch.stack(streams, dim=1))
        grid = fused.transpose(1, 2).reshape(x.shape[0], DIM, cfg.tokens, cfg.tokens)
        return {"localization": self.localization_head(grid), "detection": self.detection_head(fused)}


LEGACY_PREFIXES = {
    "image_feature_extractor.conv.": "image_feature_extractor.interpolators.0.",
    "image_feature_extractor.convs": "image_feature_extractor.interpolators",
}
"""Key renames of files saved before the authors generalised the DINOv2 map (their fix_ddp_state_dict)."""


def _rename_legacy_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
    for key in [k for k in state_dict if k.startswith(prefix)]:
        for old, new in LEGACY_PREFIXES.items():
            if key.startswith(prefix + old):
                state_dict[prefix + new + key[len(prefix + old) :]] = state_dict.pop(key)
                break


def attention_mask(instances: torch.Tensor, size: int) -> torch.Tensor:
    """The released networks' token attention mask from I×H×W object masks (I may be 0).

    Each mask is shrunk to the (size/16)² token grid by area averaging; a token belongs to an object
    when any of its pixels does; tokens in no object form one more "background" object. Token i
    may attend to token j when they share an object → L×L bool, L = (size/16)².
    """
    n = size // TOKEN
    if instances.shape[0]:
        cover = F.interpolate(instances[:, None].float(), (n, n), mode="area")[:, 0].flatten(1) > 0
    else:
        cover = torch.zeros(0, n * n, dtype=torch.bool, device=instances.device)
    background = ~cover.any(dim=0, keepdim=True)
    members = torch.cat([cover, background]).float()  # objects × L
    return (members.T @ members) > 0


def build(variant: str) -> OmgFuser:
    """The released network `variant` ("score_fusion" / "feature_fusion"), randomly initialised."""
    try:
        return OmgFuser(VARIANTS[variant])
    except KeyError:
        raise ValueError(f"unknown OMG-Fuser variant {variant!r}; known: {', '.join(VARIANTS)}") from None
