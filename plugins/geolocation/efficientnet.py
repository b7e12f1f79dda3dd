"""EfficientNet in plain torch, laid out parameter for parameter like `efficientnet_pytorch` 0.7.0.

The published geolocation backbone (mever-team/visloc-estimation) was saved from
`efficientnet_pytorch.EfficientNet.from_pretrained("efficientnet-b4", include_top=False)`, so its
state dict uses that package's names (`_conv_stem`, `_blocks.{i}._depthwise_conv`, ..., `_fc`) and
its convolutions pad like TensorFlow's 'SAME' mode for a FIXED image size (380 for B4), whatever the
real input size. We rebuild exactly that, without the package (not installed here), so the released
file loads with `strict=True` and sees the same zero padding it was trained with.

Quirks reproduced on purpose:

* `_fc` (Linear 1792 → 1000) exists even with `include_top=False`: 0.7.0 builds it always and only
  skips it in `forward`; the released file holds it, so a strict load needs it.
* Padding is computed once, at construction, for `image_size` and each stage's map size
  (`static_padding_table`), and 0.7.0's `Conv2dStaticSamePadding` puts `total - total // 2` on
  BOTH sides, not TensorFlow's `total // 2` before and the rest after: the stem at 380 pads
  (1, 1, 1, 1), not (0, 1, 0, 1). A 300-pixel input keeps these 380-pixel pads, so the last
  stride-2 stage gives 10 × 10 there, as the published backbone saw in training (TensorFlow's
  split would give 9 × 9 and shift every feature by a pixel).
* Batch norm uses PyTorch momentum 1 − 0.99 and eps 1e-3 (the TensorFlow values converted).
* Drop connect (stochastic depth) is active only in training; inference is the identity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BlockArgs:
    """One stage of MBConv blocks before width/depth scaling (the package's BlockArgs)."""

    kernel_size: int
    num_repeat: int
    input_filters: int
    output_filters: int
    expand_ratio: int
    stride: int
    se_ratio: float = 0.25
    id_skip: bool = True


BASE_BLOCKS: tuple[BlockArgs, ...] = (
    BlockArgs(3, 1, 32, 16, 1, 1),
    BlockArgs(3, 2, 16, 24, 6, 2),
    BlockArgs(5, 2, 24, 40, 6, 2),
    BlockArgs(3, 3, 40, 80, 6, 2),
    BlockArgs(5, 3, 80, 112, 6, 1),
    BlockArgs(5, 4, 112, 192, 6, 2),
    BlockArgs(3, 1, 192, 320, 6, 1),
)
"""EfficientNet-B0's seven stages (Tan & Le 2019; the package's 'r1_k3_s11_e1_i32_o16_se0.25', ...)."""


@dataclass(frozen=True)
class GlobalParams:
    """Scaling and training constants shared by the whole network (the package's GlobalParams)."""

    width_coefficient: float
    depth_coefficient: float
    image_size: int
    dropout_rate: float
    num_classes: int = 1000
    batch_norm_momentum: float = 0.99
    batch_norm_epsilon: float = 1e-3
    drop_connect_rate: float = 0.2
    depth_divisor: int = 8
    min_depth: int | None = None
    include_top: bool = True


VARIANTS: dict[str, tuple[float, float, int, float]] = {
    "efficientnet-b0": (1.0, 1.0, 224, 0.2),
    "efficientnet-b1": (1.0, 1.1, 240, 0.2),
    "efficientnet-b2": (1.1, 1.2, 260, 0.3),
    "efficientnet-b3": (1.2, 1.4, 300, 0.3),
    "efficientnet-b4": (1.4, 1.8, 380, 0.4),
    "efficientnet-b5": (1.6, 2.2, 456, 0.4),
    "efficientnet-b6": (1.8, 2.6, 528, 0.5),
    "efficientnet-b7": (2.0, 3.1, 600, 0.5),
}
"""width, depth, image size (which fixes the static padding), dropout of each released variant."""


def global_params(name: str, **overrides: object) -> GlobalParams:
    """The package's parameters for a named variant, e.g. ("efficientnet-b4", include_top=False)."""
    try:
        width, depth, size, dropout = VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown EfficientNet variant {name!r}; known: {', '.join(VARIANTS)}") from None
    return replace(GlobalParams(width, depth, size, dropout), **overrides)  # type: ignore[arg-type]


def round_filters(filters: int, params: GlobalParams) -> int:
    """Channels scaled by the width coefficient, rounded to the divisor (never more than 10% down)."""
    if not params.width_coefficient:
        return filters
    divisor = params.depth_divisor
    scaled = filters * params.width_coefficient
    new = max(params.min_depth or divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


def round_repeats(repeats: int, params: GlobalParams) -> int:
    """Blocks per stage scaled by the depth coefficient, rounded up."""
    if not params.depth_coefficient:
        return repeats
    return int(math.ceil(params.depth_coefficient * repeats))


def same_padding_total(size: int, kernel: int, stride: int) -> int:
    """Zero pixels TensorFlow's 'SAME' mode adds along an axis of length `size` so that the output
    is ceil(size / stride)."""
    out = math.ceil(size / stride)
    return max((out - 1) * stride + kernel - size, 0)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's split of that total (before, after) = (total // 2, rest): what efficientnet_pytorch
    before 0.7.0 applied (the deepfake nets' "0.6" layout)."""
    total = same_padding_total(size, kernel, stride)
    return total // 2, total - total // 2


def static_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """efficientnet_pytorch 0.7.0's static split: `total - total // 2` on both sides, one pixel more
    than TensorFlow in all when the total is odd (a stride-2 conv on an even map)."""
    side = same_padding_total(size, kernel, stride)
    side -= side // 2
    return side, side


class StaticSameConv2d(nn.Conv2d):
    """Conv2d whose zero padding is fixed at construction for `image_size` (the package's 0.7.0
    Conv2dStaticSamePadding, `static_same_padding`). The padding module has no parameters, so the
    state dict is a plain conv's."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        image_size: tuple[int, int],
        stride: int = 1,
        groups: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, groups=groups, bias=bias)
        top, bottom = static_same_padding(image_size[0], kernel_size, stride)
        left, right = static_same_padding(image_size[1], kernel_size, stride)
        self.pads = (left, right, top, bottom)
        self.static_padding: nn.Module = nn.ZeroPad2d(self.pads) if any(self.pads) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.static_padding(x), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _strided_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    return math.ceil(size[0] / stride), math.ceil(size[1] / stride)


def drop_connect(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop a sample's whole residual branch with probability `rate` (training only)."""
    if not training or rate <= 0.0:
        return x
    keep = 1.0 - rate
    mask = torch.floor(keep + torch.rand((x.shape[0], 1, 1, 1), dtype=x.dtype, device=x.device))
    return x / keep * mask


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck: 1×1 expansion, depthwise conv, squeeze-and-excitation, 1×1
    projection, identity skip when shape is kept. Attribute names and order are the package's."""

    def __init__(
        self,
        args: BlockArgs,
        params: GlobalParams,
        image_size: tuple[int, int],
        first_of_stage: bool,
    ) -> None:
        super().__init__()
        momentum = 1 - params.batch_norm_momentum
        eps = params.batch_norm_epsilon
        inp, expanded = args.input_filters, args.input_filters * args.expand_ratio
        self.expand = args.expand_ratio != 1
        if self.expand:
            self._expand_conv = StaticSameConv2d(inp, expanded, 1, image_size)
            self._bn0 = nn.BatchNorm2d(expanded, momentum=momentum, eps=eps)
        self._depthwise_conv = StaticSameConv2d(
            expanded, expanded, args.kernel_size, image_size, stride=args.stride, groups=expanded
        )
        self._bn1 = nn.BatchNorm2d(expanded, momentum=momentum, eps=eps)
        squeezed = max(1, int(args.input_filters * args.se_ratio))
        self._se_reduce = StaticSameConv2d(expanded, squeezed, 1, (1, 1), bias=True)
        self._se_expand = StaticSameConv2d(squeezed, expanded, 1, (1, 1), bias=True)
        self._project_conv = StaticSameConv2d(expanded, args.output_filters, 1, _strided_size(image_size, args.stride))
        self._bn2 = nn.BatchNorm2d(args.output_filters, momentum=momentum, eps=eps)
        # The package compares the stage's first stride, a one-element list, with 1: never equal, so
        # the first block of a stage never skips (it always changes the width anyway).
        self.skip = args.id_skip and not first_of_stage and args.stride == 1 and inp == args.output_filters

    def forward(self, inputs: torch.Tensor, drop_connect_rate: float = 0.0) -> torch.Tensor:
        x = inputs
        if self.expand:
            x = F.silu(self._bn0(self._expand_conv(x)))
        x = F.silu(self._bn1(self._depthwise_conv(x)))
        squeezed = F.adaptive_avg_pool2d(x, 1)
        squeezed = self._se_expand(F.silu(self._se_reduce(squeezed)))
        x = torch.sigmoid(squeezed) * x
        x = self._bn2(self._project_conv(x))
        if self.skip:
            x = drop_connect(x, drop_connect_rate, self.training) + inputs
        return x


class EfficientNet(nn.Module):
    """The package's EfficientNet: stem, MBConv blocks, 1×1 head conv, average pooling, and `_fc`.

    `forward` returns the pooled features [B, C, 1, 1] when `include_top` is False (as the package
    does), logits [B, num_classes] otherwise. Swish is x·sigmoid(x) (`F.silu`).
    """

    def __init__(self, params: GlobalParams, blocks: tuple[BlockArgs, ...] = BASE_BLOCKS) -> None:
        super().__init__()
        self.params = params
        momentum = 1 - params.batch_norm_momentum
        eps = params.batch_norm_epsilon
        size = (params.image_size, params.image_size)
        stem = round_filters(32, params)
        self._conv_stem = StaticSameConv2d(3, stem, 3, size, stride=2)
        self._bn0 = nn.BatchNorm2d(stem, momentum=momentum, eps=eps)
        size = _strided_size(size, 2)
        layers: list[MBConvBlock] = []
        for base in blocks:
            args = replace(
                base,
                input_filters=round_filters(base.input_filters, params),
                output_filters=round_filters(base.output_filters, params),
                num_repeat=round_repeats(base.num_repeat, params),
            )
            layers.append(MBConvBlock(args, params, size, first_of_stage=True))
            size = _strided_size(size, args.stride)
            repeat = replace(args, input_filters=args.output_filters, stride=1)
            layers.extend(MBConvBlock(repeat, params, size, first_of_stage=False) for _ in range(args.num_repeat - 1))
        self._blocks = nn.ModuleList(layers)
        head_in = layers[-1]._bn2.num_features
        head = round_filters(1280, params)
        self._conv_head = StaticSameConv2d(head_in, head, 1, size)
        self._bn1 = nn.BatchNorm2d(head, momentum=momentum, eps=eps)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(params.dropout_rate)
        self._fc = nn.Linear(head, params.num_classes)
        self.out_channels = head

    def extract_features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map of the head conv, [B, C, h, w]."""
        x = F.silu(self._bn0(self._conv_stem(x)))
        n = len(self._blocks)
        for idx, block in enumerate(self._blocks):
            x = block(x, self.params.drop_connect_rate * idx / n)
        return F.silu(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._avg_pooling(self.extract_features(x))
        if self.params.include_top:
            x = self._fc(self._dropout(x.flatten(1)))
        return x

    def static_padding_table(self) -> list[list[object]]:
        """[module name, class, kernel, stride, (left, right, top, bottom) or None] per conv, in
        module order: the zero padding each conv applies whatever the input size."""
        rows: list[list[object]] = []
        for name, module in self.named_modules():
            if isinstance(module, StaticSameConv2d):
                rows.append([
                    name,
                    "Conv2dStaticSamePadding",
                    list(module.kernel_size),
                    list(module.stride),
                    list(module.pads) if any(module.pads) else None,
                ])
        return rows


def efficientnet(name: str = "efficientnet-b4", include_top: bool = False) -> EfficientNet:
    """A randomly initialised network of the named variant, ready for `load_state_dict`."""
    return EfficientNet(global_params(name, include_top=include_top))
