"""TraceNet: a learned noise-trace embedding, trained by the project (`training/train_noise_trace.py`).

Each 32-px window of an image gets a 16-D unit vector describing its high-pass residual (sensor
noise, resampling, JPEG history). Training pulls the windows of one source together and pushes a
pasted region's windows away from its host's, so at inference a window far from the image's median
vector has a trace that does not fit the rest of the image — Splicebuster's question, asked of a
learned feature instead of hand-made co-occurrences. In the spirit of Noiseprint (Cozzolino &
Verdoliva, 2020) and forensic similarity (Mayer & Stamm, 2020), but trained without camera labels:
a "source" here is one photo under one view and processing chain.

Torch is imported by the analyzer only when it runs; this module needs it at import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

STRIDE = 4
"""Input pixels per embedding cell (two stride-2 convolutions)."""
RESIDUAL_SCALE, RESIDUAL_CLIP = 2.0, 4.0
"""Residuals are divided by the scale and truncated at ± the clip (in grey levels / scale), as the
SRM family does: content edges saturate, noise stays linear."""
THIRD_ORDER = (-1.0, 3.0, -3.0, 1.0)
RECEPTIVE_FIELD = 28
"""A bound on the input pixels on either side of a cell that reach it (residuals and five
convolutions: about 12), rounded up generously to whole cells."""


@dataclass(frozen=True)
class TraceConfig:
    width: int = 32
    dim: int = 16
    window: int = 8
    """Embedding cells averaged into one window vector (8 cells = 32 px)."""

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def residuals(x: torch.Tensor) -> torch.Tensor:
    """B×3×H×W RGB in grey levels → B×5×H×W truncated residuals: each channel minus its 3×3 mean, and
    the luminance's third-order differences along rows and columns."""
    grey = 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    high_pass = x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)
    taps = torch.tensor(THIRD_ORDER, dtype=x.dtype, device=x.device) / 3
    rows = F.conv2d(F.pad(grey, (2, 1, 0, 0), mode="replicate"), taps.view(1, 1, 1, 4))
    cols = F.conv2d(F.pad(grey, (0, 0, 2, 1), mode="replicate"), taps.view(1, 1, 4, 1))
    return torch.clamp(torch.cat([high_pass, rows, cols], 1) / RESIDUAL_SCALE, -RESIDUAL_CLIP, RESIDUAL_CLIP)


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TraceNet(nn.Module):
    """Residuals → five 3×3 convolutions (two of stride 2) → `dim` channels per 4×4 cell → the mean over
    `window`×`window` cells, unit-normalised. `a`, `b`: the logistic read-out of a window's squared
    distance from its host's centre (a·d + b), learnt with the embedding."""

    def __init__(self, config: TraceConfig = TraceConfig()) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.body = nn.Sequential(
            _block(5, w), _block(w, w, 2), _block(w, 2 * w), _block(2 * w, 2 * w, 2), _block(2 * w, 2 * w),
            nn.Conv2d(2 * w, config.dim, 1),
        )
        self.a = nn.Parameter(torch.tensor(4.0))
        self.b = nn.Parameter(torch.tensor(-2.0))

    def pool(self, cells: torch.Tensor) -> torch.Tensor:
        k = self.config.window
        padded = F.pad(cells, (k // 2, k - 1 - k // 2, k // 2, k - 1 - k // 2), mode="replicate")
        return F.normalize(F.avg_pool2d(padded, k, 1), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """B×3×H×W grey levels → B×dim×⌈H/4⌉×⌈W/4⌉ unit window vectors."""
        return self.pool(self.body(residuals(x)))

    def logit(self, squared_distance: torch.Tensor) -> torch.Tensor:
        return self.a * squared_distance + self.b


def tiled_embeddings(
    net: TraceNet, rgb: np.ndarray, device: str, tile: int = 512, check: Callable[[float], None] | None = None
) -> np.ndarray:
    """The window vectors of a whole H×W×3 uint8 image, dim×⌈H/4⌉×⌈W/4⌉ float16, computed tile by tile
    (a 12-MP image at once would need gigabytes of activations); `check(fraction)` is called after
    each tile (progress, cancel). `tile` is rounded to whole cells."""
    h, w = rgb.shape[:2]
    tile = max(STRIDE, tile // STRIDE * STRIDE)
    margin = RECEPTIVE_FIELD + -(-net.config.window // 2) * STRIDE  # so tiles agree with the whole image
    ch, cw = -(-h // STRIDE), -(-w // STRIDE)
    out = np.empty((net.config.dim, ch, cw), np.float16)
    starts = [(y, x) for y in range(0, h, tile) for x in range(0, w, tile)]
    with torch.inference_mode():
        for n, (y, x) in enumerate(starts):
            y0, x0 = max(0, y - margin), max(0, x - margin)
            y1, x1 = min(h, y + tile + margin), min(w, x + tile + margin)
            piece = torch.from_numpy(np.array(rgb[y0:y1, x0:x1])).to(device)  # a writable copy
            vectors = net(piece.permute(2, 0, 1)[None].float())[0]
            cy, cx = (y - y0) // STRIDE, (x - x0) // STRIDE
            ny, nx = -(-min(tile, h - y) // STRIDE), -(-min(tile, w - x) // STRIDE)
            out[:, y // STRIDE : y // STRIDE + ny, x // STRIDE : x // STRIDE + nx] = (
                vectors[:, cy : cy + ny, cx : cx + nx].cpu().numpy())
            if check is not None:
                check((n + 1) / len(starts))
    return out


MEDIAN_SAMPLES = 200_000


def distances(vectors: np.ndarray) -> np.ndarray:
    """Squared distance of each window vector from the image's coordinate-wise median vector (from at
    most MEDIAN_SAMPLES cells on a regular grid): the host's trace, as long as it covers most of the
    image."""
    dim = vectors.shape[0]
    flat = vectors.reshape(dim, -1)
    step = max(1, flat.shape[1] // MEDIAN_SAMPLES)
    centre = np.median(flat[:, ::step].astype(np.float32), axis=1)
    d = np.zeros(flat.shape[1], np.float32)
    for k in range(dim):
        d += (flat[k].astype(np.float32) - centre[k]) ** 2
    return d.reshape(vectors.shape[1:])


def window_map(
    net: TraceNet, rgb: np.ndarray, device: str, tile: int = 512, check: Callable[[float], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(heat map at the image's size: sigmoid(a·d + b) of each window, squared distances d per cell).
    The read-out runs in numpy with a and b as numbers, wherever the network is (its parameters may be
    on a GPU, the distances are not); values stay in [0, 1] through the bilinear stretch."""
    from plugins.localization.common import resize_map

    squared = distances(tiled_embeddings(net, rgb, device, tile, check))
    logit = np.float32(float(net.a.detach())) * squared + np.float32(float(net.b.detach()))
    cells = 1.0 / (1.0 + np.exp(-logit))
    return resize_map(cells, rgb.shape[:2]), squared
