"""S2VS networks (Kordopatis-Zilos et al., CVPRW 2023) in plain torch, laid out like the authors'
modules so their published files load unchanged.

* `FeatureExtractor`: the authors' `resnet50_LiMAC` frame features. ImageNet ResNet-50, regional
  max pooling of all four stages on a 3×3 grid (L3-iMAC: 256 + 512 + 1024 + 2048 = 3840-d per
  region), then PCA whitening to 512-d from the authors' `pca_resnet50_vcdb_1M.pth` (eigenvalues
  and eigenvectors, turned into the projection here exactly as their `PCALayer` does).
* `S2VSSimilarity`: the ViSiL-style similarity network of the released `s2vs_dns.pth` /
  `s2vs_vcdb.pth`: region attention, frame-to-frame chamfer similarity of region vectors, the
  video comparator CNN over the frame-similarity matrix (Hardtanh), and the video-level chamfer
  similarity of its output.

State-dict keys, shapes and order follow the authors' modules (recorded in the repository's
checkpoint reference); `tests/test_s2vs.py` checks them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from plugins.similarity.resnet import FEATURE_DIM, IMAGENET_CLASSES, ResNet50

DIMS = 512
"""Whitened region-vector size of the released models."""
REGION_DIMS = 3840
"""L3-iMAC size: the channels of ResNet-50's four stages, concatenated."""
REGION_KERNELS = {"layer1": 28, "layer2": 14, "layer3": 6, "layer4": 3}
"""The authors' max-pooling kernel per stage (stride ⌈kernel/2⌉): a 3×3 grid on a 224-pixel input."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PCA_EPS = 1e-7
MIN_SIDE = 112
"""Smallest frame side the stage pooling accepts (layer1 must be at least 28 pixels)."""
MIN_FRAMES = 4
"""The comparator's two 2×2 poolings need at least 4 frames a side; the authors repeat shorter videos."""
CHAMFER_ELEMENTS = 1 << 25
"""Region-pair similarities computed at once by `frame_similarity` (128 MB of float32)."""


# -- frame features ------------------------------------------------------------------------
class VideoNormalizer(nn.Module):
    """uint8 (or [0, 1] float) frames N×H×W×3 (or N×3×H×W) → ImageNet-normalised N×3×H×W. The constants
    are non-trainable parameters, as in the authors' module, so they are part of its state dict."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([255.0]), requires_grad=False)
        self.mean = nn.Parameter(torch.tensor(IMAGENET_MEAN), requires_grad=False)
        self.std = nn.Parameter(torch.tensor(IMAGENET_STD), requires_grad=False)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        if video.dtype == torch.uint8:
            video = video.float() / self.scale
        if video.shape[-1] != 3 and video.shape[1] == 3:
            video = video.permute(0, 2, 3, 1)
        return ((video - self.mean) / self.std).permute(0, 3, 1, 2)


class RegionalMAC(nn.Module):
    """The authors' `ResNet` wrapper: ImageNet ResNet-50 as `cnn` (classifier deleted), each stage max-pooled
    to a grid of regions, the grids brought to the last stage's size, concatenated and L2-normalised."""

    def __init__(self) -> None:
        super().__init__()
        self.cnn = ResNet50()
        del self.cnn.fc

    def load_imagenet(self, state: Mapping[str, torch.Tensor]) -> None:
        """Load torchvision's ImageNet file as published (classifier included, strict), then drop the
        classifier again, as the authors delete `cnn.fc` after loading."""
        self.cnn.fc = nn.Linear(FEATURE_DIM, IMAGENET_CLASSES)
        try:
            self.cnn.load_state_dict(state, strict=True)
        finally:
            del self.cnn.fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×H×W → N×R×3840 (R = 9 for 224×224 frames)."""
        if min(x.shape[-2:]) < MIN_SIDE:
            raise ValueError(f"frames must be at least {MIN_SIDE} pixels a side, got {tuple(x.shape[-2:])}")
        return pool_regions(dict(self.cnn.stages(x)))


def pool_regions(stages: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Stage outputs {layer1…layer4: N×C×h×w} → N×R×ΣC L3-iMAC region vectors: each stage max-pooled with
    the authors' kernel and stride ⌈kernel/2⌉ and L2-normalised, brought to the last stage's grid by
    adaptive max pooling, normalised again, concatenated over channels and normalised per region."""
    pooled = []
    for name, k in REGION_KERNELS.items():
        pooled.append(F.normalize(F.max_pool2d(stages[name], k, math.ceil(k / 2)), p=2, dim=1))
    grid = pooled[-1].shape[-2:]
    regions = torch.cat([F.normalize(F.adaptive_max_pool2d(p, grid), p=2, dim=1) for p in pooled], dim=1)
    return F.normalize(regions.flatten(2).transpose(1, 2), p=2, dim=-1)


class PCAWhitening(nn.Module):
    """Centre, project on the top `dims` principal axes scaled by 1/√eigenvalue, L2-normalise. Holds the
    projection (`mean`, `DVt`) the authors' `PCALayer` derives from their file of mean, eigenvalues
    `d` and eigenvectors `V`."""

    def __init__(self, in_dims: int = REGION_DIMS, dims: int = DIMS) -> None:
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(in_dims), requires_grad=False)
        self.DVt = nn.Parameter(torch.zeros(in_dims, dims), requires_grad=False)

    def load_eigen(self, state: Mapping[str, torch.Tensor], eps: float = PCA_EPS) -> None:
        """Set the projection from the authors' file {'mean', 'd', 'V'}; ValueError if it is not that file."""
        in_dims, dims = self.DVt.shape
        expected = {"mean": (in_dims,), "d": (in_dims,), "V": (in_dims, in_dims)}
        if set(state) != set(expected):
            raise ValueError(f"the PCA file must hold exactly {sorted(expected)}, it holds {sorted(state)}")
        for key, shape in expected.items():
            if tuple(state[key].shape) != shape:
                raise ValueError(f"PCA '{key}' has shape {tuple(state[key].shape)}, expected {shape}")
        # numpy, in the file's own dtype, as the authors' init_params: same top axes, same rounding
        d, eigvecs = state["d"].cpu().numpy(), state["V"].cpu().numpy()
        top = np.argsort(d)[::-1][:dims]
        projection = eigvecs[:, top] * (1.0 / np.sqrt(d[top] + eps))  # == (diag(1/√d) · Vᵀ)ᵀ
        with torch.no_grad():
            self.mean.copy_(torch.from_numpy(state["mean"].cpu().numpy().astype(np.float32)))
            self.DVt.copy_(torch.from_numpy(projection.astype(np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(torch.matmul(x - self.mean, self.DVt), p=2, dim=-1)


class FeatureExtractor(nn.Sequential):
    """The authors' `nn.Sequential(VideoNormalizer(), nn.Sequential(ResNet(), PCALayer()))`:
    uint8 frames N×H×W×3 → N×R×512 L2-normalised region vectors."""

    def __init__(self, dims: int = DIMS) -> None:
        super().__init__(VideoNormalizer(), nn.Sequential(RegionalMAC(), PCAWhitening(REGION_DIMS, dims)))

    def load_published(self, resnet_state: Mapping[str, torch.Tensor], pca_state: Mapping[str, torch.Tensor]) -> None:
        """torchvision's ImageNet ResNet-50 file and the authors' PCA file, both as published."""
        self[1][0].load_imagenet(resnet_state)
        self[1][1].load_eigen(pca_state)


# -- similarity network ---------------------------------------------------------------------
class Attention(nn.Module):
    """Region attention (the released `norm=False` variant): x · sigmoid(w · tanh(W x + b))."""

    def __init__(self, dims: int = DIMS) -> None:
        super().__init__()
        self.transform = nn.Linear(dims, dims)
        self.context_vector = nn.Linear(dims, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.context_vector(torch.tanh(self.transform(x))))


class VideoComparator(nn.Module):
    """ViSiL's comparator CNN over a frame-similarity matrix (without batch norm): zero-pad 1 before each
    3×3 convolution, ReLU, 2×2 max pooling after the first two, a 1×1 convolution to one channel."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.conv3 = nn.Conv2d(64, 128, 3)
        self.fconv = nn.Conv2d(128, 1, 1)

    def forward(self, sim: torch.Tensor) -> torch.Tensor:
        """N×1×Tq×Tt → N×1×⌊⌊Tq/2⌋/2⌋×⌊⌊Tt/2⌋/2⌋ (raw, before Hardtanh)."""
        x = F.max_pool2d(F.relu(self.conv1(F.pad(sim, (1, 1, 1, 1)))), 2)
        x = F.max_pool2d(F.relu(self.conv2(F.pad(x, (1, 1, 1, 1)))), 2)
        x = F.relu(self.conv3(F.pad(x, (1, 1, 1, 1))))
        return self.fconv(x)


def chamfer(sim: torch.Tensor, max_dim: int, mean_dim: int) -> torch.Tensor:
    """Chamfer similarity: best match along `max_dim`, averaged along `mean_dim` (both removed)."""
    best = sim.amax(dim=max_dim, keepdim=True)
    return best.mean(dim=mean_dim, keepdim=True).squeeze(max(max_dim, mean_dim)).squeeze(min(max_dim, mean_dim))


def frame_similarity(query: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Tq×R×D and Tt×S×D region vectors → Tq×Tt: for each frame pair, the mean over the query's regions
    of the best dot product with the target's regions (the authors' tensor dot then chamfer, computed
    in blocks of query frames so long videos do not need Tq·Tt·R·S values at once)."""
    per_frame = max(1, target.shape[0] * query.shape[1] * target.shape[1])
    step = max(1, CHAMFER_ELEMENTS // per_frame)
    rows = []
    for start in range(0, query.shape[0], step):
        sim = torch.einsum("ird,jsd->ijrs", query[start : start + step], target)
        rows.append(chamfer(sim, max_dim=3, mean_dim=2))
    return torch.cat(rows, dim=0)


class S2VSSimilarity(nn.Module):
    """The released ViSiL head of S2VS (`dims=512, attention=True`); attention is registered first,
    as in the saved files."""

    def __init__(self, dims: int = DIMS) -> None:
        super().__init__()
        self.attention = Attention(dims)
        self.visil_head = VideoComparator()

    def index_video(self, features: torch.Tensor) -> torch.Tensor:
        """T×R×D region vectors → the attention-weighted vectors the network compares (stored per video)."""
        return self.attention(features)

    def similarity_matrix(self, query: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Indexed videos (≥ MIN_FRAMES frames each) → the comparator's output after Hardtanh, in [-1, 1],
        about Tq/4 × Tt/4."""
        for name, video in (("query", query), ("target", target)):
            if video.ndim != 3 or video.shape[0] < MIN_FRAMES:
                raise ValueError(f"{name} must be T×R×D with T ≥ {MIN_FRAMES}, got {tuple(video.shape)}")
        f2f = frame_similarity(query, target)[None, None]
        return F.hardtanh(self.visil_head(f2f))[0, 0]

    def video_similarity(self, query: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Indexed videos → scalar in [-1, 1]: chamfer similarity of the comparator's output."""
        return chamfer(self.similarity_matrix(query, target), max_dim=1, mean_dim=0)

    def forward(self, query: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Region vectors T×R×D of two videos (not yet indexed) → their similarity."""
        return self.video_similarity(self.index_video(query), self.index_video(target))


def repeat_to_min_length(features: torch.Tensor, min_frames: int = MIN_FRAMES) -> torch.Tensor:
    """The authors' handling of very short videos: concatenate the video with itself until it has
    at least `min_frames` frames."""
    if features.shape[0] == 0:
        raise ValueError("a video needs at least one frame")
    while features.shape[0] < min_frames:
        features = torch.cat([features, features], dim=0)
    return features
