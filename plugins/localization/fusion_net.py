"""The fusion network: any subset of forensic signal maps + the RGB image → one map and one score.

In the spirit of OMG-Fuser (Karageorgiou et al., CVPRW 2024), scaled down to a small CNN that
trains on two CPU cores: every signal map goes through the same small stem (plus a learned
embedding saying which signal it is), the stems of the signals that are present are pooled with a
masked mean and a masked max (absent signals are excluded, not zero-filled, so any subset is a
valid input), the pooled features join an RGB stem, and a compact U-Net decodes a logit map.
An image-level head reads the bottleneck and the map's statistics (and, from version 2.1, each input
map's own statistics, `signal_stats`). From fusion 3.3 the model may hold several such networks,
trained apart (`FusionEnsemble`), whose readings the analyzer averages.

This module imports torch at the top: import it only inside functions of analyzer modules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

RGB_MEAN = (0.485, 0.456, 0.406)
RGB_STD = (0.229, 0.224, 0.225)
STRIDE = 32
"""Input height and width must be multiples of this (the stems quarter, the U-Net halves three times)."""


@dataclass(frozen=True)
class FusionConfig:
    """Everything that fixes the network's shape; stored in the manifest (the weights file is a plain
    state dict of tensors, as the model store requires)."""

    num_signals: int
    width: int = 16
    """Channels at the first (quarter-resolution) level; the deeper levels use 2× and 4×."""
    image_stats: bool = False
    """The image head also reads `signal_stats` of the whole image, standardised by buffers fitted with
    it (`refit_head` in training/train_fusion.py); False for models before fusion 2.1."""
    members: int = 1
    """Networks of this shape in the model (`FusionEnsemble` when more than one): 1 before fusion 3.3."""

    def to_dict(self) -> dict[str, int | bool]:
        return asdict(self)


STATS_PER_SIGNAL = 3


def signal_stats(signals: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """B×K×H×W maps in [0, 1], B×K presence → B×4K: per map its p99 − median (how far its strongest
    region stands out), maximum and share of pixels ≥ 0.5 (0 where absent), then the presence flags.
    A whole-image summary: a copy-move detector's few bright pixels are decisive evidence that the
    bottleneck's averages dilute."""
    b, k = signals.shape[:2]
    ordered = signals.flatten(2).sort(dim=2).values
    n = ordered.shape[2]
    spread = ordered[:, :, round(0.99 * (n - 1))] - ordered[:, :, round(0.5 * (n - 1))]
    stats = torch.stack([spread, ordered[:, :, -1], (ordered >= 0.5).float().mean(dim=2)], dim=2)
    weight = present.to(stats.dtype)
    return torch.cat([(stats * weight[:, :, None]).reshape(b, STATS_PER_SIGNAL * k), weight], dim=1)


def conv_block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3×3 conv → batch norm → ReLU, twice (the first may stride)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SignalStem(nn.Module):
    """One stem shared by all signals; a per-signal embedding added after the first conv tells
    the stem which signal it reads, so shared weights can still treat ELA unlike a noise map."""

    def __init__(self, num_signals: int, channels: int) -> None:
        super().__init__()
        # 4×4 patches: the maps are read at a quarter of the working resolution (most are block
        # maps already), which keeps K streams cheap
        self.first = nn.Conv2d(1, channels, 4, stride=4)
        self.embedding = nn.Parameter(torch.zeros(num_signals, channels))
        self.rest = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, signals: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """signals B×K×H×W, present B×K (bool) → masked mean ‖ masked max, B×2C×H/4×W/4."""
        b, k, h, w = signals.shape
        feats = self.first(signals.reshape(b * k, 1, h, w))
        feats = feats + self.embedding.repeat(b, 1)[:, :, None, None]
        feats = self.rest(feats)
        feats = feats.reshape(b, k, *feats.shape[1:])
        weight = present.to(feats.dtype)[:, :, None, None, None]
        count = weight.sum(dim=1).clamp(min=1.0)
        mean = (feats * weight).sum(dim=1) / count
        # ReLU features are ≥ 0, so filling absent signals with 0 leaves the max of the present
        # ones unchanged (and gives 0 when none is present, like the mean)
        peak = (feats * weight).amax(dim=1)
        return torch.cat([mean, peak], dim=1)


class FusionNet(nn.Module):
    """RGB + K signal maps (any subset present) → (logit map at input size, image logit)."""

    def __init__(self, config: FusionConfig) -> None:
        super().__init__()
        if config.members != 1:
            raise ValueError(f"one FusionNet is one member, not {config.members}: build() makes ensembles")
        self.config = config
        c = config.width
        self.signal_stem = SignalStem(config.num_signals, c)
        self.rgb_stem = nn.Sequential(
            nn.Conv2d(3, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
        )
        self.enc1 = conv_block(3 * c, c)
        self.enc2 = conv_block(c, 2 * c, stride=2)
        self.enc3 = conv_block(2 * c, 4 * c, stride=2)
        self.bottleneck = conv_block(4 * c, 4 * c, stride=2)
        self.dec3 = conv_block(8 * c, 4 * c)
        self.dec2 = conv_block(6 * c, 2 * c)
        self.dec1 = conv_block(3 * c, c)
        self.out = nn.Conv2d(c, 1, 1)
        head_in = 8 * c + 3 + ((STATS_PER_SIGNAL + 1) * config.num_signals if config.image_stats else 0)
        self.head = nn.Sequential(nn.Linear(head_in, 32), nn.ReLU(inplace=True), nn.Linear(32, 1))
        if config.image_stats:
            self.register_buffer("head_mean", torch.zeros(head_in))
            self.register_buffer("head_std", torch.ones(head_in))
        mean = torch.tensor(RGB_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(RGB_STD).view(1, 3, 1, 1)
        self.register_buffer("rgb_mean", mean, persistent=False)
        self.register_buffer("rgb_std", std, persistent=False)

    def forward(
        self, rgb: torch.Tensor, signals: torch.Tensor, present: torch.Tensor, stats: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """rgb B×3×H×W in [0, 1], signals B×K×H×W in [0, 1], present B×K → (B×1×H×W, B). `stats`:
        `signal_stats` of the unpadded maps (computed from `signals` when not given)."""
        logits, head_input = self.map_and_head_input(rgb, signals, present, stats)
        return logits, self.image_logit(head_input)

    def image_logit(self, head_input: torch.Tensor) -> torch.Tensor:
        if self.config.image_stats:
            head_input = (head_input - self.head_mean) / self.head_std
        return self.head(head_input).squeeze(1)

    def map_and_head_input(
        self, rgb: torch.Tensor, signals: torch.Tensor, present: torch.Tensor, stats: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The logit map and what the image head reads (before its standardisation)."""
        if self.config.image_stats and stats is None:
            stats = signal_stats(signals, present)
        rgb = (rgb - self.rgb_mean) / self.rgb_std
        x1 = self.enc1(torch.cat([self.rgb_stem(rgb), self.signal_stem(signals, present)], dim=1))
        x2 = self.enc2(x1)
        x3 = self.enc3(x2)
        bottom = self.bottleneck(x3)
        y = self.dec3(torch.cat([_up(bottom, x3), x3], dim=1))
        y = self.dec2(torch.cat([_up(y, x2), x2], dim=1))
        y = self.dec1(torch.cat([_up(y, x1), x1], dim=1))
        logits_low = self.out(y)
        logits = F.interpolate(logits_low, size=rgb.shape[-2:], mode="bilinear", align_corners=False)
        prob = torch.sigmoid(logits_low).flatten(1)
        top = prob.topk(max(1, prob.shape[1] // 100), dim=1).values.mean(dim=1, keepdim=True)
        pooled = [bottom.mean(dim=(2, 3)), bottom.amax(dim=(2, 3)), prob.mean(dim=1, keepdim=True),
                  prob.amax(dim=1, keepdim=True), top]
        return logits, torch.cat([*pooled, *([stats] if self.config.image_stats else [])], dim=1)


class FusionEnsemble(nn.Module):
    """Networks of one shape trained apart (another seed, another augmentation), read one by one:
    two U-Nets err in different places, so the mean of their maps is steadier than either (state
    dict keys "members.<i>.<FusionNet key>")."""

    def __init__(self, config: FusionConfig) -> None:
        super().__init__()
        self.config = config
        self.members = nn.ModuleList(FusionNet(replace(config, members=1)) for _ in range(config.members))


def build(config: FusionConfig) -> FusionNet | FusionEnsemble:
    """The network a manifest's config describes: one FusionNet, or an ensemble of them."""
    return FusionNet(config) if config.members == 1 else FusionEnsemble(config)


def members(net: FusionNet | FusionEnsemble) -> list[FusionNet]:
    """The networks whose readings a prediction averages."""
    return list(net.members) if isinstance(net, FusionEnsemble) else [net]


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


def pad_to_stride(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad the last two dims up to multiples of STRIDE; returns the original (H, W)."""
    h, w = x.shape[-2:]
    ph, pw = -h % STRIDE, -w % STRIDE
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def parameter_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
