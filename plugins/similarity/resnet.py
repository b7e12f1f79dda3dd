"""ResNet-50 (He et al., CVPR 2016) in plain torch, laid out like torchvision's `resnet50` so its
ImageNet file (`resnet50-0676ba61.pth`, the IMAGENET1K_V1 weights) loads with strict=True.

Only what the S2VS frame-feature extractor needs: the Bottleneck stages with the stride on the 3×3
convolution (torchvision's "v1.5"), BatchNorm in eval mode, and the classifier kept so the
published file loads unchanged. `stages` yields the four stage outputs the regional pooling reads.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

LAYERS = (3, 4, 6, 3)
"""Bottleneck blocks per stage of ResNet-50."""
WIDTHS = (64, 128, 256, 512)
EXPANSION = 4
STAGE_NAMES = ("layer1", "layer2", "layer3", "layer4")
FEATURE_DIM = WIDTHS[-1] * EXPANSION
IMAGENET_CLASSES = 1000


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3 (carries the stride), 1×1 expand; the shortcut is projected where the shape changes."""

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * EXPANSION
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    """torchvision's resnet50: conv1/bn1/relu/maxpool stem, layer1…layer4, avgpool, fc."""

    def __init__(self, num_classes: int = IMAGENET_CLASSES) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for name, width, blocks, stride in zip(STAGE_NAMES, WIDTHS, LAYERS, (1, 2, 2, 2), strict=True):
            stage = [Bottleneck(cin, width, stride)]
            cin = width * EXPANSION
            stage += [Bottleneck(cin, width) for _ in range(blocks - 1)]
            self.add_module(name, nn.Sequential(*stage))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(FEATURE_DIM, num_classes)

    def stages(self, x: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
        """(name, output) of layer1…layer4 in order; the classifier is never run (it may be deleted)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for name in STAGE_NAMES:
            x = getattr(self, name)(x)
            yield name, x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (kept for completeness; the S2VS extractor reads `stages`)."""
        *_, (_, last) = self.stages(x)
        return self.fc(torch.flatten(self.avgpool(last), 1))
