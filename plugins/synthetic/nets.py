"""Networks of the AI-generated-image detectors, laid out so the published checkpoints load unchanged
with `strict=True`.

A manifest's "network" dict names the architecture and its constructor arguments; `build` makes the
module, which maps a normalised float batch (B, 3, H, W) to the raw outputs the checkpoint gives.
`plugins.deepfake.nets.fake_probability` turns those into P(fake) following the manifest's "output".

* `cnndetection_resnet50`: the ResNet-50 real/fake classifier of Wang et al. (CVPR 2020, "CNN-generated
  images are surprisingly easy to spot... for now"): torchvision's resnet50 with `fc` 2048 → 1 (one
  logit, sigmoid = P(synthetic)); its files `blur_jpg_prob0.5.pth` / `blur_jpg_prob0.1.pth` hold the
  state dict under "model". The body is `plugins.similarity.resnet.ResNet50` (torchvision's layout).
* `tiny_cnn`: a small fully convolutional classifier (about 25 k parameters at width 16) that the
  training pipeline fits in seconds on a CPU; for test models and for trying the pipeline out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from plugins.deepfake.nets import build_from
from plugins.similarity.resnet import ResNet50


def cnndetection_resnet50(num_classes: int = 1) -> nn.Module:
    """Wang et al.'s detector: torchvision's resnet50 with a `num_classes`-output `fc`."""
    return ResNet50(num_classes=num_classes)


class TinyCnn(nn.Module):
    """3×3 conv + BN + ReLU at full resolution (fine traces survive), `depth` strided stages that
    double the width, global average pooling and a linear head with `num_classes` outputs."""

    def __init__(self, width: int = 16, depth: int = 3, num_classes: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        channels = width
        for _ in range(depth):
            layers += [nn.Conv2d(channels, channels * 2, 3, 2, 1, bias=False), nn.BatchNorm2d(channels * 2), nn.ReLU()]
            channels *= 2
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "cnndetection_resnet50": cnndetection_resnet50,
    "tiny_cnn": TinyCnn,
}


def build(network: dict[str, Any]) -> nn.Module:
    """A randomly initialised network from a manifest's "network" dict ({"arch": name, **kwargs}),
    ready for `load_state_dict`. ValueError names what is wrong with the dict."""
    return build_from(ARCHITECTURES, network, "AI-generated-image network")
