"""MTCNN face detection (Zhang et al. 2016) in plain torch, on the weights facenet-pytorch ships.

Three small CNNs in a cascade: P-Net slides over an image pyramid and proposes face windows, R-Net
rejects most of them on 24-pixel crops, O-Net scores the rest on 48-pixel crops and places five
landmarks; each stage refines the boxes by regression, and overlapping boxes are merged by
non-maximum suppression between stages. The layers and the steps follow facenet-pytorch
(`models/mtcnn.py`, `models/utils/detect_face.py`, MIT) so that its `pnet.pt`, `rnet.pt` and `onet.pt`
load strictly; its own code needs torchvision, which our torch cannot have.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.functional import interpolate

MODEL_IDS = ("face_mtcnn_pnet", "face_mtcnn_rnet", "face_mtcnn_onet")
THRESHOLDS = (0.6, 0.7, 0.7)
"""Face probability each stage needs (facenet-pytorch's defaults)."""
PYRAMID_FACTOR = 0.709
"""Scale between pyramid levels: about half the area per level."""


def _conv(cin: int, cout: int, kernel: int) -> tuple[nn.Conv2d, nn.PReLU]:
    return nn.Conv2d(cin, cout, kernel_size=kernel), nn.PReLU(cout)


def _flatten(x: torch.Tensor) -> torch.Tensor:
    """Channels-last flattening, as the nets were converted from Caffe/TensorFlow."""
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


class PNet(nn.Module):
    """Proposal net: fully convolutional, one 12×12 window every 2 pixels → (box offsets, P(face))."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = _conv(3, 10, 3)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = _conv(10, 16, 3)
        self.conv3, self.prelu3 = _conv(16, 32, 3)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), self.conv4_1(x).softmax(dim=1)[:, 1]


class RNet(nn.Module):
    """Refinement net on 24×24 crops → (box offsets, P(face))."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = _conv(3, 28, 3)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = _conv(28, 48, 3)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = _conv(48, 64, 2)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu4(self.dense4(_flatten(self.prelu3(self.conv3(x)))))
        return self.dense5_2(x), self.dense5_1(x).softmax(dim=1)[:, 1]


class ONet(nn.Module):
    """Output net on 48×48 crops → (box offsets, five landmarks, P(face))."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = _conv(3, 32, 3)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = _conv(32, 64, 3)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = _conv(64, 64, 3)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = _conv(64, 128, 2)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu5(self.dense5(_flatten(self.prelu4(self.conv4(x)))))
        return self.dense6_2(x), self.dense6_3(x), self.dense6_1(x).softmax(dim=1)[:, 1]


NETS = (PNet, RNet, ONet)
"""The network of each of MODEL_IDS, in order."""


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, by_smaller: bool = False) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best first. Overlap is
    intersection over union, or over the smaller box (`by_smaller`, MTCNN's last stage)."""
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0)
        h = np.maximum(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0)
        inter = w * h
        base = np.minimum(area[i], area[rest]) if by_smaller else area[i] + area[rest] - inter
        order = rest[inter <= threshold * np.maximum(base, 1e-9)]
    return np.asarray(keep, np.int64)


def pyramid(height: int, width: int, min_face: int) -> list[float]:
    """Scales at which P-Net's 12-pixel window covers faces from `min_face` pixels to the whole image."""
    scale, side, scales = 12.0 / min_face, min(height, width) * 12.0 / min_face, []
    while side >= 12:
        scales.append(scale)
        scale, side = scale * PYRAMID_FACTOR, side * PYRAMID_FACTOR
    return scales


def _normalised(x: torch.Tensor) -> torch.Tensor:
    return (x - 127.5) * 0.0078125


def _square(boxes: np.ndarray) -> np.ndarray:
    """Each box made square around its centre (side = its longer side)."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w / 2 - side / 2
    out[:, 1] = boxes[:, 1] + h / 2 - side / 2
    out[:, 2], out[:, 3] = out[:, 0] + side, out[:, 1] + side
    return out


def _regressed(boxes: np.ndarray, offsets: np.ndarray, plus_one: bool = True) -> np.ndarray:
    """Boxes moved by a stage's regression (offsets in units of the box's size)."""
    size = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1) + (1 if plus_one else 0)
    out = boxes.copy()
    out[:, :4] = boxes[:, :4] + offsets * np.tile(size, 2)
    return out


def _crops(image: torch.Tensor, boxes: np.ndarray, side: int) -> tuple[torch.Tensor, np.ndarray]:
    """Each box's pixels (cut at the image border, as the nets were trained) resized to side × side;
    and which boxes had any pixels."""
    height, width = image.shape[2:]
    ints = np.trunc(boxes[:, :4]).astype(np.int64)
    x0, y0 = np.maximum(ints[:, 0], 1) - 1, np.maximum(ints[:, 1], 1) - 1
    x1, y1 = np.minimum(ints[:, 2], width), np.minimum(ints[:, 3], height)
    valid = (x1 > x0) & (y1 > y0)
    crops = [interpolate(image[:, :, b:d, a:c], size=(side, side), mode="area")
             for a, b, c, d in zip(x0[valid], y0[valid], x1[valid], y1[valid], strict=True)]
    return _normalised(torch.cat(crops)), valid


class Mtcnn:
    """The three stages on one RGB image; `detect` returns boxes (x0, y0, x1, y1, P(face)) and the
    five landmarks (eyes, nose, mouth corners) of each face, in pixels of the image."""

    def __init__(self, pnet: PNet, rnet: RNet, onet: ONet, min_face: int = 20) -> None:
        self.pnet, self.rnet, self.onet, self.min_face = pnet, rnet, onet, min_face

    @torch.inference_mode()
    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        image = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)[None]
        boxes = self._propose(image)
        if len(boxes):
            boxes = self._refine(image, boxes)
        if not len(boxes):
            return np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)
        return self._output(image, boxes)

    def _propose(self, image: torch.Tensor) -> np.ndarray:
        """P-Net over the pyramid: candidate squares with their scores."""
        height, width = image.shape[2:]
        found = []
        for scale in pyramid(height, width, self.min_face):
            level = interpolate(image, size=(int(height * scale + 1), int(width * scale + 1)), mode="area")
            offsets, probs = self.pnet(_normalised(level))
            ys, xs = np.nonzero(probs[0].numpy() >= THRESHOLDS[0])
            if not len(ys):
                continue
            cells = np.stack([xs, ys], axis=1).astype(np.float32)
            boxes = np.concatenate([
                np.floor((2 * cells + 1) / scale), np.floor((2 * cells + 12) / scale),
                probs[0].numpy()[ys, xs, None], offsets[0].permute(1, 2, 0).numpy()[ys, xs],
            ], axis=1)
            found.append(boxes[nms(boxes[:, :4], boxes[:, 4], 0.5)])
        if not found:
            return np.zeros((0, 5), np.float32)
        boxes = np.concatenate(found)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
        return _square(np.concatenate([_regressed(boxes[:, :4], boxes[:, 5:9], plus_one=False),
                                       boxes[:, 4:5]], axis=1))

    def _refine(self, image: torch.Tensor, boxes: np.ndarray) -> np.ndarray:
        crops, valid = _crops(image, boxes, 24)
        offsets, probs = (t.numpy() for t in self.rnet(crops))
        passed = probs > THRESHOLDS[1]
        boxes = np.concatenate([boxes[valid][passed, :4], probs[passed, None]], axis=1)
        offsets = offsets[passed]
        keep = nms(boxes[:, :4], boxes[:, 4], 0.7)
        return _square(_regressed(boxes[keep], offsets[keep]))

    def _output(self, image: torch.Tensor, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        crops, valid = _crops(image, boxes, 48)
        offsets, marks, probs = (t.numpy() for t in self.onet(crops))
        passed = probs > THRESHOLDS[2]
        boxes = np.concatenate([boxes[valid][passed, :4], probs[passed, None]], axis=1)
        size = boxes[:, 2:4] - boxes[:, 0:2] + 1
        marks = marks[passed]
        points = np.stack([size[:, None, 0] * marks[:, :5] + boxes[:, None, 0] - 1,
                           size[:, None, 1] * marks[:, 5:] + boxes[:, None, 1] - 1], axis=2)
        boxes = _regressed(boxes, offsets[passed])
        keep = nms(boxes[:, :4], boxes[:, 4], 0.7, by_smaller=True)
        return boxes[keep].astype(np.float32), points[keep].astype(np.float32)
