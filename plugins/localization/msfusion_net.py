"""The multi-stream splicing localiser of Siopi et al. (MMM 2023), in plain torch.

One encoder stream reads the RGB image, one more stream per forensic signal reads that signal
rendered as an RGB image; the streams meet at the 1/32-resolution bottleneck (channel concat),
and a decoder of transposed convolutions brings the result back to full resolution, joined at
1/2 resolution by a 2-channel skip from the RGB stream. Output: a per-pixel probability.

Module names and shapes follow the authors' released checkpoints, so their state dicts load
with `strict=True`:

* `dct` and `sb` (their `Decoder`): streams `sb_encoder` (the signal, whichever it is) and
  `encoder` (RGB); decoder widths 64→32→16→8→2; `dconv1`…`dconv3` exist in the files but the
  forward pass only uses `dconv4`.
* `dct_sb` (their `Decoder3`): streams `dct_encoder`, `sb_encoder`, `encoder`; widths
  96→64→32→16→2; the forward pass uses `dconv1`.

Their TF-style "same" convolutions are plain `nn.Conv2d(padding=k // 2)` here: for stride 1 and
odd kernels both pad by (k−1)/2 on every side, so weights and outputs are identical.
Input height and width must be multiples of 32 (five 2×2 poolings, matched by five upsamplings).

This module imports torch at the top: import it only inside functions of analyzer modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

STRIDE = 32
STREAM_WIDTH = 32
"""Channels each encoder stream hands to the bottleneck."""
SKIP_WIDTH = 2


@dataclass(frozen=True)
class Variant:
    """What fixes one released network's layout."""

    streams: tuple[str, ...]
    """Signal stream modules, in the order of the forward arguments after the RGB image."""
    widths: tuple[int, int, int, int]
    """Output channels of tran_conv1 … tran_conv4."""
    refine: tuple[int, ...]
    """Channels of the registered DoubleConvs dconv1, dconv2, …"""
    refine_used: int
    """Which dconv (1-based) the forward pass applies."""


VARIANTS: dict[str, Variant] = {
    "dct": Variant(("sb_encoder",), (32, 16, 8, 2), (32, 16, 8, 2), 4),
    "sb": Variant(("sb_encoder",), (32, 16, 8, 2), (32, 16, 8, 2), 4),
    "dct_sb": Variant(("dct_encoder", "sb_encoder"), (64, 32, 16, 2), (2,), 1),
}


def _conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


def _residual(ch: int) -> nn.Sequential:
    """conv-BN-conv-BN-ReLU; the stream adds its input back."""
    return nn.Sequential(_conv(ch, ch), nn.BatchNorm2d(ch), _conv(ch, ch), nn.BatchNorm2d(ch), nn.ReLU())


class EncoderStream(nn.Module):
    """Five residual stages with channel-raising convs between them, 2×2 max-pooling after each
    stage but the widening one at 1/2 resolution; ends with 32 channels at 1/32 resolution."""

    def __init__(self, skip: bool) -> None:
        super().__init__()
        # registration order = the checkpoints' key order
        self.conv = _conv(3, 32)
        self.conv1 = _conv(32, 64)
        self.conv2 = _conv(64, 128)
        self.conv3 = _conv(128, 256)
        self.conv4 = _conv(256, 512)
        self.conv_last = _conv(512, STREAM_WIDTH)
        self.conv_skip = _conv(64, SKIP_WIDTH, 1) if skip else None
        self.block1 = _residual(32)
        self.block2 = _residual(64)
        self.block3 = _residual(128)
        self.block4 = _residual(256)
        self.block5 = _residual(512)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.conv(x)
        x = F.max_pool2d(self.block1(x) + x, 2)
        x = self.conv1(x)
        x = self.block2(x) + x
        skip = self.conv_skip(x) if self.conv_skip is not None else None
        x = F.max_pool2d(x, 2)
        for widen, block in ((self.conv2, self.block3), (self.conv3, self.block4), (self.conv4, self.block5)):
            x = widen(x)
            x = F.max_pool2d(block(x) + x, 2)
        return self.conv_last(x), skip


class DoubleConv(nn.Module):
    """Two 3×3 convolutions, no normalisation or activation in between (as released)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.double_conv = nn.Sequential(_conv(ch, ch), _conv(ch, ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)


class MultiStreamFusion(nn.Module):
    """forward(rgb, *signals) → probability map (B, H, W); inputs are (B, 3, H, W), normalised."""

    def __init__(self, variant: str) -> None:
        super().__init__()
        spec = VARIANTS[variant]
        self.variant = variant
        self.streams = spec.streams
        self.refine_used = spec.refine_used
        for name in spec.streams:
            self.add_module(name, EncoderStream(skip=False))
        self.encoder = EncoderStream(skip=True)
        widths = (STREAM_WIDTH * (1 + len(spec.streams)), *spec.widths)
        for i in range(4):
            self.add_module(f"tran_conv{i + 1}", nn.ConvTranspose2d(widths[i], widths[i + 1], 2, stride=2))
        self.tran_conv5 = nn.ConvTranspose2d(widths[-1] + SKIP_WIDTH, 2, 2, stride=2)
        for i, ch in enumerate(spec.refine):
            self.add_module(f"dconv{i + 1}", DoubleConv(ch))
        self.conv = nn.Conv2d(2, 1, 1)

    def forward(self, rgb: torch.Tensor, *signals: torch.Tensor) -> torch.Tensor:
        if len(signals) != len(self.streams):
            raise ValueError(f"msfusion '{self.variant}' takes {len(self.streams)} signal input(s), got {len(signals)}")
        h, w = rgb.shape[-2:]
        if h % STRIDE or w % STRIDE:
            raise ValueError(f"input height and width must be multiples of {STRIDE}, got {h}×{w}")
        bottleneck, skip = self.encoder(rgb)
        features = [bottleneck] + [getattr(self, name)(x)[0] for name, x in zip(self.streams, signals, strict=True)]
        x = torch.cat(features, dim=1)
        for i in range(1, 5):
            x = getattr(self, f"tran_conv{i}")(x)
        x = self.tran_conv5(torch.cat((x, skip), dim=1))
        x = self.conv(getattr(self, f"dconv{self.refine_used}")(x))
        return torch.sigmoid(F.avg_pool2d(x, 3, stride=1, padding=1)).squeeze(1)


def build(variant: str) -> MultiStreamFusion:
    """A randomly initialised network of a released variant ('dct', 'sb' or 'dct_sb')."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown msfusion variant '{variant}'; released: {', '.join(VARIANTS)}")
    return MultiStreamFusion(variant)
