"""DINOv2 ViTs as Meta's hub builds them, and the AMES local-feature detector with the AMES
authors' extraction recipe.

The backbone keeps exactly what inference needs and the parameter names of Meta's
`DinoVisionTransformer` (hub builder: img_size 518, patch 14, LayerScale, block_chunks 0), so
the published files load with `strict=True`. Two hub models are used: `dinov2_vitb14_reg` (the
default `VitConfig`: 4 register tokens, bicubic antialiased position-embedding interpolation to the
exact grid) for AMES, and `dinov2_vits14` (`VITS14`: no registers, the hub's older interpolation
with a 0.1 offset and no antialiasing) inside OMG-Fuser's fusion networks. `SpatialAttention2d` is the authors'
detector (conv1 1×1 → BN → [L2-normalised: the descriptors] → ReLU → conv2 1×1 → softplus: the
weights), loaded from its checkpoint's "state".

Extraction (the authors' extract/extract_dino.py + image_dataset.py, single scale): the image is
resized so each side is the nearest multiple of 14 (INTER_AREA when shrinking, INTER_LINEAR when
enlarging), normalised with the ImageNet mean/std, run through the ViT (x_norm_patchtokens), then
the detector; the `topk` tokens with the largest detector weight are kept, strongest first.
The authors run images at their stored size (ROxford/RParis: ≤ 1024 px); we additionally shrink
larger images to `max_side` first, so a 12 MP photo does not produce 60,000 tokens.

Imports torch at module level: only imported when the re-ranker runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from plugins.similarity.features import LocalFeatures

KIND = "dinov2_ames"
PATCH = 14
TOPK = 700
"""Tokens kept per image: the authors' extract_descriptors.py default (AMES then reads the first
600 of a query's and the first 50 of a database image's in their README example)."""
MAX_SIDE = 1024
"""Long-side cap before quantising to multiples of 14 (ours; the authors' test images are ≤ 1024 px)."""
RGB_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
RGB_STD = np.array([0.229, 0.224, 0.225], np.float32)


@dataclass(frozen=True)
class VitConfig:
    """`dinov2_vitb14_reg` by default (`VITS14`: `dinov2_vits14`); smaller values only for fast tests."""

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    patch_size: int = PATCH
    img_size: int = 518
    num_register_tokens: int = 4
    mlp_ratio: float = 4.0
    interpolate_offset: float = 0.0
    """0: position embeddings resized to the exact grid (the hub's `_reg` models); > 0: resized by the
    scale factor (grid + offset) / 37, as the hub's models without registers do (a different result)."""
    interpolate_antialias: bool = True

    @property
    def grid(self) -> int:
        return self.img_size // self.patch_size


VITS14 = VitConfig(embed_dim=384, num_heads=6, num_register_tokens=0, interpolate_offset=0.1,
                   interpolate_antialias=False)
"""`dinov2_vits14` as the hub builds it: ViT-S/14, no registers, interpolate_offset 0.1, no antialiasing."""


class PatchEmbed(nn.Module):
    def __init__(self, cfg: VitConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, cfg.embed_dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        # same maths as softmax(q·kᵀ/√d)·v, without materialising n×n scores (thousands of tokens)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    def __init__(self, cfg: VitConfig) -> None:
        super().__init__()
        dim = cfg.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, cfg.num_heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * cfg.mlp_ratio))
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoV2(nn.Module):
    """Inference-only DINOv2 ViT (with or without registers). `forward(x)` → normalised patch tokens (B×N×C),
    i.e. `forward_features(x)["x_norm_patchtokens"]`, row-major over the (H/14)×(W/14) grid."""

    def __init__(self, cfg: VitConfig = VitConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        dim = cfg.embed_dim
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.grid * cfg.grid + 1, dim))
        if cfg.num_register_tokens:  # the hub's models without registers have no such parameter
            self.register_tokens = nn.Parameter(torch.zeros(1, cfg.num_register_tokens, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, dim))  # training only; kept so the file loads strictly
        self.patch_embed = PatchEmbed(cfg)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def position_embedding(self, rows: int, cols: int) -> torch.Tensor:
        """The class token's embedding + the patch grid's, resized (bicubic) when the grid is not the
        37×37 of training: to the exact size, or by the offset scale factor (see `VitConfig`)."""
        pos = self.pos_embed
        cfg, m = self.cfg, self.cfg.grid
        if rows == m and cols == m:
            return pos
        patch = pos[:, 1:].float().reshape(1, m, m, -1).permute(0, 3, 1, 2)
        if cfg.interpolate_offset:
            scale = ((rows + cfg.interpolate_offset) / m, (cols + cfg.interpolate_offset) / m)
            patch = F.interpolate(patch, scale_factor=scale, mode="bicubic", antialias=cfg.interpolate_antialias)
        else:
            patch = F.interpolate(patch, size=(rows, cols), mode="bicubic", antialias=cfg.interpolate_antialias)
        patch = patch.permute(0, 2, 3, 1).reshape(1, rows * cols, -1).to(pos.dtype)
        return torch.cat([pos[:, :1], patch], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        p = self.cfg.patch_size
        if h % p or w % p:
            raise ValueError(f"input height and width must be multiples of {p}, got {h}×{w}")
        tokens = torch.cat([self.cls_token.expand(b, -1, -1), self.patch_embed(x)], dim=1)
        tokens = tokens + self.position_embedding(h // p, w // p)
        if self.cfg.num_register_tokens:
            tokens = torch.cat([tokens[:, :1], self.register_tokens.expand(b, -1, -1), tokens[:, 1:]], dim=1)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, 1 + self.cfg.num_register_tokens :]


class SpatialAttention2d(nn.Module):
    """The AMES authors' local-feature detector. `forward(x)` (B×C×H×W) → (L2-normalised conv1+BN
    features: the stored descriptors, softplus attention B×1×H×W: the detector weights)."""

    def __init__(self, in_c: int = 768) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_c, in_c, 1, 1)
        self.bn = nn.BatchNorm2d(in_c, eps=1e-5, momentum=0.1)
        self.conv2 = nn.Conv2d(in_c, 1, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.bn(self.conv1(x))
        desc = F.normalize(x, p=2, dim=1, eps=1e-15)
        return desc, F.softplus(self.conv2(F.relu(x)), beta=1, threshold=20)


def build_backbone(cfg: VitConfig = VitConfig(), init: bool = False) -> DinoV2:
    """The ViT with uninitialised memory (it is about to receive the checkpoint, and random init of
    86 M parameters costs seconds); `init=True` for random weights (tests only)."""
    if init:
        return DinoV2(cfg)
    with torch.device("meta"):
        net = DinoV2(cfg)
    return net.to_empty(device="cpu")


# -- extraction ------------------------------------------------------------------------------
def network_size(height: int, width: int, max_side: int | None = MAX_SIDE) -> tuple[int, int]:
    """(h, w) the ViT reads: each side scaled by min(1, max_side / long side), then rounded to the
    nearest multiple of 14 (at least 14), as the authors' `quantization_factor` does."""
    scale = 1.0 if not max_side else min(1.0, max_side / max(height, width))
    return tuple(max(round(side * scale / PATCH), 1) * PATCH for side in (height, width))  # type: ignore[return-value]


def network_input(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 H×W×3 RGB → float32 3×h×w: resized like the authors (area when either side shrinks,
    bilinear when enlarging; on the 8-bit image) and ImageNet-normalised."""
    h, w = size
    height, width = rgb.shape[:2]
    image = np.ascontiguousarray(rgb[..., :3])
    if h < height or w < width:
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    elif h > height or w > width:
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    return ((image.astype(np.float32) / 255.0 - RGB_MEAN) / RGB_STD).transpose(2, 0, 1).copy()


@torch.inference_mode()
def extract_local(
    backbone: DinoV2,
    detector: SpatialAttention2d,
    rgb: np.ndarray,
    device: str = "cpu",
    topk: int = TOPK,
    max_side: int | None = MAX_SIDE,
) -> LocalFeatures:
    """The `topk` strongest detector-weighted DINOv2 tokens of an RGB uint8 image.

    Positions are token centres in the image's own pixels, `scale` the token's footprint there
    (14 px × resize factor), `weight` the detector's softplus output, `desc` the detector's
    L2-normalised 768-d features as float16 (AMES itself reads database descriptors as float16).
    """
    if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H×W×3), got {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    h, w = network_size(height, width, max_side)
    x = torch.from_numpy(network_input(rgb, (h, w)))[None].to(device)
    tokens = backbone(x)
    rows, cols = h // PATCH, w // PATCH
    grid = tokens.transpose(1, 2).reshape(1, tokens.shape[-1], rows, cols)
    desc, weight = detector(grid)
    desc = desc.flatten(2)[0].T
    weight = weight.flatten()
    weights, ids = torch.topk(weight, k=min(int(topk), weight.numel()))  # sorted, strongest first
    ids_np = ids.cpu().numpy()
    fx, fy = width / w, height / h
    xy = np.stack([((ids_np % cols) + 0.5) * PATCH * fx, ((ids_np // cols) + 0.5) * PATCH * fy], axis=1)
    return LocalFeatures(
        KIND,
        xy.astype(np.float32),
        np.full(len(ids_np), PATCH * math.sqrt(fx * fy), np.float32),
        weights.float().cpu().numpy(),
        desc[ids].to(torch.float16).cpu().numpy(),
        (height, width),
    )
