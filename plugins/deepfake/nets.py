"""Deepfake detector networks in plain torch, laid out so the published checkpoints load unchanged
with `strict=True`.

A manifest's "network" dict names the architecture and its constructor arguments; `build` makes
the module, which maps a normalised float batch (B, 3, H, W) to the raw outputs the published
checkpoint gives, and `fake_probability` turns those into P(fake) following the manifest's "output".

* `xception`: Xception as ported by Cadene's `pretrainedmodels` (conv1/bn1/conv2/bn2, block1..block12
  of depthwise-separable convolutions `conv1` + `pointwise` with `skip`/`skipbn`, conv3/bn3/conv4/bn4,
  `last_linear`): the network of FaceForensics++ (Rössler et al. 2019) and of DeepfakeBench's
  `xception` detector. `dropout` > 0 makes the head Sequential(Dropout, Linear) as FaceForensics++'s
  `TransferModel` does with dropout (keys `last_linear.1.*`); its `model_selection` builds a plain
  Linear (`last_linear.*`), and either file loads into either head (dropout is inactive at
  inference). `adjust_channel` adds the 2048→512 conv + BN that DeepfakeBench always builds but uses
  only in another mode (its checkpoints hold it).
* `efficientnet_deepfakebench`: DeepfakeBench's `efficientnetb4` backbone: efficientnet_pytorch's
  network with the stem replaced by a plain unpadded Conv2d, `_fc` replaced by Identity, and a
  `last_layer` Linear on the pooled features.
* `efficientnet_icpr2020`: the `EfficientNetB4` of Bonettini et al. (ICPR 2020): efficientnet_pytorch's
  network without `_fc` and a one-logit `classifier`.

The EfficientNet body is `plugins.geolocation.efficientnet` (efficientnet_pytorch's layout).
`package_version` "0.6" reproduces efficientnet_pytorch before 0.7.0, which computed every static
'SAME' padding for the network's input size instead of each stage's feature-map size and split it
TensorFlow's way (total // 2 before, the rest after; 0.7.0 pads total − total // 2 on both sides):
the parameters are identical, only the zero padding of stride-2 convolutions differs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from plugins.geolocation.efficientnet import EfficientNet, StaticSameConv2d, global_params, same_padding

PACKAGE_VERSIONS = ("0.6", "0.7")


# -- Xception ----------------------------------------------------------------------------------------
class SeparableConv2d(nn.Module):
    """Depthwise 3×3 (`conv1`) then pointwise 1×1 (`pointwise`), both without bias."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 1, 1, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.conv1(x))


class XceptionBlock(nn.Module):
    """`reps` × (ReLU, separable conv, BN) in `rep`, max-pooled when strided, plus a (1×1 conv + BN)
    or identity skip. Index positions in `rep` are the published ones: ReLUs count as entries."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        reps: int,
        stride: int = 1,
        start_with_relu: bool = True,
        grow_first: bool = True,
    ) -> None:
        super().__init__()
        self.skip: nn.Module | None = None
        if out_channels != in_channels or stride != 1:
            self.skip = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
            self.skipbn = nn.BatchNorm2d(out_channels)
        if grow_first:
            widths = [(in_channels, out_channels)] + [(out_channels, out_channels)] * (reps - 1)
        else:
            widths = [(in_channels, in_channels)] * (reps - 1) + [(in_channels, out_channels)]
        layers: list[nn.Module] = []
        for cin, cout in widths:
            layers += [nn.ReLU(), SeparableConv2d(cin, cout), nn.BatchNorm2d(cout)]
        if not start_with_relu:
            layers = layers[1:]
        if stride != 1:
            layers.append(nn.MaxPool2d(3, stride, 1))
        self.rep = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.skip is None else self.skipbn(self.skip(x))
        return self.rep(x) + skip


class Xception(nn.Module):
    """Entry flow (conv1, conv2, block1-3), middle flow (block4-11), exit flow (block12, conv3, conv4),
    ReLU, global average pooling, `last_linear`. Unpadded stem: inputs from 32 pixels up work."""

    def __init__(self, num_classes: int = 2, dropout: float = 0.0, adjust_channel: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 2, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.block1 = XceptionBlock(64, 128, 2, 2, start_with_relu=False)
        self.block2 = XceptionBlock(128, 256, 2, 2)
        self.block3 = XceptionBlock(256, 728, 2, 2)
        for index in range(4, 12):
            setattr(self, f"block{index}", XceptionBlock(728, 728, 3, 1))
        self.block12 = XceptionBlock(728, 1024, 2, 2, grow_first=False)
        self.conv3 = SeparableConv2d(1024, 1536)
        self.bn3 = nn.BatchNorm2d(1536)
        self.conv4 = SeparableConv2d(1536, 2048)
        self.bn4 = nn.BatchNorm2d(2048)
        head = nn.Linear(2048, num_classes)
        self.last_linear = nn.Sequential(nn.Dropout(dropout), head) if dropout else head
        if adjust_channel:
            self.adjust_channel = nn.Sequential(nn.Conv2d(2048, 512, 1, 1), nn.BatchNorm2d(512), nn.ReLU())
        self.register_load_state_dict_pre_hook(_head_keys_as_built)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for index in range(1, 13):
            x = getattr(self, f"block{index}")(x)
        x = F.relu(self.bn3(self.conv3(x)))
        return self.bn4(self.conv4(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(F.relu(self.features(x)), 1).flatten(1)
        return self.last_linear(pooled)


def _head_keys_as_built(module: Xception, state_dict: dict, prefix: str, *_: object) -> None:
    """Rename a saved head's keys to this head's layout: `last_linear.{weight,bias}` (plain Linear)
    ↔ `last_linear.1.{weight,bias}` (Dropout + Linear), so both FaceForensics++ layouts load strictly."""
    layouts = ("last_linear.", "last_linear.1.")
    built, other = layouts[::-1] if isinstance(module.last_linear, nn.Sequential) else layouts
    for name in ("weight", "bias"):
        key = prefix + other + name
        if key in state_dict and prefix + built + name not in state_dict:
            state_dict[prefix + built + name] = state_dict.pop(key)


# -- EfficientNet ------------------------------------------------------------------------------------
def efficientnet_body(variant: str, package_version: str) -> EfficientNet:
    """efficientnet_pytorch's network without its ImageNet classifier (neither release keeps it)."""
    if package_version not in PACKAGE_VERSIONS:
        raise ValueError(f"package_version must be one of {PACKAGE_VERSIONS}, got {package_version!r}")
    body = EfficientNet(global_params(variant, include_top=False))
    body._fc = nn.Identity()
    if package_version == "0.6":
        size = body.params.image_size
        for conv in body.modules():
            if isinstance(conv, StaticSameConv2d):
                top, bottom = same_padding(size, conv.kernel_size[0], conv.stride[0])
                left, right = same_padding(size, conv.kernel_size[1], conv.stride[1])
                conv.pads = (left, right, top, bottom)
                conv.static_padding = nn.ZeroPad2d(conv.pads) if any(conv.pads) else nn.Identity()
    return body


def pooled_features(body: EfficientNet, x: torch.Tensor) -> torch.Tensor:
    return F.adaptive_avg_pool2d(body.extract_features(x), 1).flatten(1)


class DeepfakeBenchEfficientNet(nn.Module):
    """DeepfakeBench's `EfficientNetB4` backbone (mode "Original", no dropout): `efficientnet` with a
    plain Conv2d stem (no padding), then `last_layer` on the average-pooled features."""

    def __init__(self, variant: str = "efficientnet-b4", num_classes: int = 2, package_version: str = "0.7") -> None:
        super().__init__()
        self.efficientnet = efficientnet_body(variant, package_version)
        stem_channels = self.efficientnet._conv_stem.out_channels
        self.efficientnet._conv_stem = nn.Conv2d(3, stem_channels, 3, stride=2, bias=False)
        self.last_layer = nn.Linear(self.efficientnet.out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last_layer(pooled_features(self.efficientnet, x))


class Icpr2020EfficientNet(nn.Module):
    """Bonettini et al.'s `EfficientNetGen`: `efficientnet` features, average-pooled, one-logit `classifier`."""

    def __init__(self, variant: str = "efficientnet-b4", package_version: str = "0.6") -> None:
        super().__init__()
        self.efficientnet = efficientnet_body(variant, package_version)
        self.classifier = nn.Linear(self.efficientnet.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(pooled_features(self.efficientnet, x))


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "xception": Xception,
    "efficientnet_deepfakebench": DeepfakeBenchEfficientNet,
    "efficientnet_icpr2020": Icpr2020EfficientNet,
}


def build(network: dict[str, Any]) -> nn.Module:
    """A randomly initialised network from a manifest's "network" dict ({"arch": name, **kwargs}),
    ready for `load_state_dict`. ValueError names what is wrong with the dict."""
    return build_from(ARCHITECTURES, network, "deepfake network architecture")


def build_from(architectures: dict[str, Callable[..., nn.Module]], network: dict[str, Any], what: str) -> nn.Module:
    """`build` for any family's table of architectures (the AI-generated-image detectors use it too)."""
    spec = dict(network)
    arch = spec.pop("arch", None)
    if arch not in architectures:
        raise ValueError(f"unknown {what} {arch!r}; known: {', '.join(architectures)}")
    try:
        return architectures[arch](**spec)
    except TypeError as exc:
        raise ValueError(f"network {arch!r}: {exc}") from exc


def fake_class(output_spec: object) -> int | None:
    """The fake class index of "softmax:k", None for "logit"; ValueError for anything else."""
    kind, _, index = str(output_spec).partition(":")
    if output_spec == "logit":
        return None
    if kind != "softmax" or not index.isdigit():
        raise ValueError(f"unknown output spec {output_spec!r}: use 'logit' or 'softmax:<index of the fake class>'")
    return int(index)


def fake_probability(outputs: torch.Tensor, output_spec: str) -> torch.Tensor:
    """P(fake) in [0, 1], shape (B,), from a network's raw outputs (B, K).

    "logit": one logit, sigmoid = P(fake); "softmax:k": softmax over the K classes, class k = fake.
    """
    outputs = outputs.float().reshape(outputs.shape[0], -1)
    index = fake_class(output_spec)
    if index is None:
        if outputs.shape[1] != 1:
            raise ValueError(f"output 'logit' expects one output per image, the network gives {outputs.shape[1]}")
        return torch.sigmoid(outputs[:, 0])
    if index >= outputs.shape[1]:
        raise ValueError(f"output {output_spec!r}: the network gives only {outputs.shape[1]} classes")
    return torch.softmax(outputs, dim=1)[:, index]
