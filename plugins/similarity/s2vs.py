"""S2VS video similarity (Kordopatis-Zilos et al., CVPRW 2023), run with the authors' released files.

Two steps, as in the authors' evaluation:

* `frame_features`: frames sampled at 1 fps → T×9×512 region vectors (ImageNet ResNet-50 L3-iMAC,
  PCA-whitened with the authors' file). Needs torchvision's ImageNet ResNet-50 (`s2vs_resnet50`)
  and the PCA file (`s2vs_pca`). Stored per video; independent of the similarity network.
* `video_similarity`: two videos' features → the network's video-level similarity in [-1, 1] and
  the frame-to-frame similarity matrix. Needs `s2vs_dns` (default, the authors' evaluation
  default) or `s2vs_vcdb`.

A missing or damaged file raises `ModelUnavailable` with the store's reason (where to get it),
never a score. torch is imported inside functions only, so the application runs without it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from workbench.api import ModelStore, ModelUnavailable, loaded_model
from workbench.api import batch_size as device_batch

VARIANTS = ("dns", "vcdb")
DEFAULT_VARIANT = "dns"
RESNET_ID = "s2vs_resnet50"
PCA_ID = "s2vs_pca"
EXTRACTOR_IDS = (RESNET_ID, PCA_ID)

FPS = 1
"""The authors decode videos at 1 frame per second (evaluation.py / extract_features.py defaults)."""
RESIZE = 256
CROP = 224
"""Short side resized to 256 (sides rounded up to even numbers, as their ffmpeg call), centre 224×224 crop."""
BATCH = 32
"""Frames per extractor pass on the CPU: only trades memory for speed."""
FRAME_MB = 16
"""GPU memory per frame in a pass (about 4 × ResNet-50's largest activation at 224 pixels): on CUDA a
pass holds as many frames as half the free memory fits."""
TARGET_CHUNK = 2048
"""The authors' evaluation compares a query with the target in blocks of 2048 frames (`batch_sz_sim`)
and averages the blocks' similarities; kept so long videos score as in their evaluation."""

SCORE_MEANING = (
    "S2VS video similarity in [-1, 1]: the chamfer similarity (mean over query rows of the best match) of "
    "the network's comparator output over the frame-to-frame similarity matrix. Higher means more of the "
    "query is found, in temporal order, in the other video. A ranking score, not a calibrated probability"
)

_extractor_lock = threading.Lock()
_extractors: dict[tuple[str, str, str], Any] = {}


def similarity_id(variant: str = DEFAULT_VARIANT) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"unknown S2VS variant {variant!r}; released: {', '.join(VARIANTS)}")
    return f"s2vs_{variant}"


# -- availability ----------------------------------------------------------------------------
def unavailable_reason(model_ids: Sequence[str], store: ModelStore | None = None) -> str | None:
    """Why these files cannot be used (each missing or damaged file's reason), or None."""
    return (store if store is not None else ModelStore()).unavailable_reason(model_ids)


def _require(model_ids: Sequence[str], what: str, store: ModelStore) -> None:
    reason = unavailable_reason(model_ids, store)
    if reason:
        raise ModelUnavailable(f"{what}: {reason}")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ModelUnavailable(f"{what} needs PyTorch, which is not installed") from None


# -- preprocessing ---------------------------------------------------------------------------
def resized_shape(height: int, width: int, resize: int = RESIZE) -> tuple[int, int]:
    """The authors' ffmpeg scale: short side to `resize`, both sides rounded up to even numbers
    (same float arithmetic as theirs, so the same sizes)."""
    ratio = resize / min(height, width)
    return int(math.ceil(height * ratio / 2) * 2), int(math.ceil(width * ratio / 2) * 2)


def preprocess_frame(frame: np.ndarray, resize: int = RESIZE, crop: int = CROP) -> np.ndarray:
    """uint8 H×W×3 RGB → uint8 crop×crop×3: bicubic resize (antialiased when shrinking, like ffmpeg's
    default scaler), then the centre crop at the authors' offsets."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"a frame must be uint8 H×W×3 RGB, got {frame.dtype} {frame.shape}")
    h, w = resized_shape(frame.shape[0], frame.shape[1], resize)
    if (h, w) != frame.shape[:2]:
        frame = np.asarray(Image.fromarray(np.ascontiguousarray(frame)).resize((w, h), Image.Resampling.BICUBIC))
    top, left = int(max(0, (h - crop) / 2)), int(max(0, (w - crop) / 2))
    return np.ascontiguousarray(frame[top : top + crop, left : left + crop])


def preprocess(frames: np.ndarray | Sequence[np.ndarray], resize: int = RESIZE, crop: int = CROP) -> np.ndarray:
    """Frames (T×H×W×3 array or a list of H×W×3) → uint8 T×crop×crop×3, the authors' network input."""
    if isinstance(frames, np.ndarray) and frames.ndim == 3:
        frames = frames[None]
    if len(frames) == 0:
        raise ValueError("no frames: a video needs at least one frame")
    return np.stack([preprocess_frame(np.asarray(f), resize, crop) for f in frames])


# -- networks --------------------------------------------------------------------------------
def load_extractor(device: str = "cpu", store: ModelStore | None = None) -> Any:
    """The frame-feature extractor with the verified ResNet-50 and PCA files, eval mode, on `device`.
    Cached by both files' SHA-256 and the device."""
    store = store if store is not None else ModelStore()
    _require(EXTRACTOR_IDS, "S2VS frame features need two files", store)
    resnet_sha = store.provenance(RESNET_ID)["sha256"]
    prefixes = tuple(store.manifest(RESNET_ID).extra.get("sha256_prefixes") or ())
    if prefixes and not resnet_sha.startswith(prefixes):
        raise ModelUnavailable(
            f"model '{RESNET_ID}': the installed file (SHA-256 {resnet_sha[:12]}…) is not torchvision's ImageNet V1 "
            f"ResNet-50 (its SHA-256 starts with {' or '.join(prefixes)}); the authors' PCA whitening only fits "
            "features of that file. Install resnet50-0676ba61.pth"
        )
    key = (resnet_sha, store.provenance(PCA_ID)["sha256"], str(device))
    with _extractor_lock:
        if key in _extractors:
            return _extractors[key]
    from plugins.similarity.s2vs_net import FeatureExtractor

    resnet_state, pca_state = store.load_state_dict(RESNET_ID), store.load_state_dict(PCA_ID)
    extractor = FeatureExtractor()
    try:
        extractor[1][0].load_imagenet(resnet_state)
    except RuntimeError as exc:
        raise ModelUnavailable(
            f"model '{RESNET_ID}': the file is not torchvision's ImageNet ResNet-50 ({str(exc).splitlines()[0]})"
        ) from exc
    try:
        extractor[1][1].load_eigen(pca_state)
    except ValueError as exc:
        raise ModelUnavailable(f"model '{PCA_ID}': the file is not the authors' PCA file ({exc})") from exc
    extractor = extractor.eval().to(device)
    with _extractor_lock:
        _extractors.clear()  # one extractor (~100 MB) at a time
        _extractors[key] = extractor
    return extractor


def load_similarity(variant: str = DEFAULT_VARIANT, device: str = "cpu", store: ModelStore | None = None) -> Any:
    """The released similarity network, weights loaded strictly from the file's 'model' entry."""
    store = store if store is not None else ModelStore()
    model_id = similarity_id(variant)
    _require((model_id,), "S2VS video similarity needs its network", store)
    from plugins.similarity.s2vs_net import S2VSSimilarity

    # the manifest's `pickled_globals` lets the store accept the training arguments beside the weights
    return loaded_model(store, model_id, S2VSSimilarity, device)


# -- the two steps ---------------------------------------------------------------------------
def frame_features(
    frames: np.ndarray | Sequence[np.ndarray],
    device: str = "cpu",
    *,
    store: ModelStore | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Frames sampled at `FPS` (uint8 RGB, T×H×W×3 or a list) → float32 T×9×512 S2VS region features.

    Preprocessing as the authors: short side 256, centre crop 224, ImageNet normalisation; on CUDA the
    network runs under fp16 autocast as in their extraction scripts, on other devices in float32.
    `batch_size` (frames per pass) defaults to what the device holds (`BATCH` on the CPU)."""
    extractor = load_extractor(device, store)
    import torch

    batch = preprocess(frames)
    step = max(1, batch_size or device_batch(device, FRAME_MB, BATCH))
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(batch), step):
            x = torch.from_numpy(batch[start : start + step]).to(device)
            with torch.autocast("cuda", dtype=torch.float16, enabled=str(device).startswith("cuda")):
                outputs.append(extractor(x).float().cpu())
    return torch.cat(outputs).numpy()


def _as_features(features: Any, name: str) -> Any:
    import torch

    if isinstance(features, torch.Tensor):
        tensor = features.detach().float().cpu()
    else:
        tensor = torch.from_numpy(np.array(features, dtype=np.float32))
    if tensor.ndim != 3 or tensor.shape[0] == 0:
        raise ValueError(f"{name} features must be T×R×D with T ≥ 1, got {tuple(tensor.shape)}")
    return tensor


def video_similarity(
    query_feats: Any,
    ref_feats: Any,
    device: str = "cpu",
    *,
    variant: str = DEFAULT_VARIANT,
    store: ModelStore | None = None,
) -> tuple[float, np.ndarray]:
    """(S2VS similarity in [-1, 1], frame-to-frame similarity Tq×Tt) of two videos' `frame_features`.

    The score follows the authors' evaluation: videos under 4 frames are repeated, both videos pass the
    attention, the reference is compared in blocks of 2048 frames and the blocks' scores averaged. The
    matrix is the chamfer similarity of the frames' region vectors before attention (mean over the query
    frame's regions of the best cosine with the reference frame's regions, in [-1, 1]): which query frame
    matches which reference frame, for display; the network reads the same matrix with attention-weighted
    regions."""
    net = load_similarity(variant, device, store)
    import torch

    from plugins.similarity.s2vs_net import frame_similarity, repeat_to_min_length

    query, ref = _as_features(query_feats, "query"), _as_features(ref_feats, "reference")
    if query.shape[1:] != ref.shape[1:] or query.shape[2] != net.attention.transform.in_features:
        raise ValueError(
            f"features must be T×R×{net.attention.transform.in_features} from `frame_features`, "
            f"got {tuple(query.shape)} and {tuple(ref.shape)}"
        )
    with torch.inference_mode():
        query, ref = query.to(device), ref.to(device)
        matrix = frame_similarity(query, ref).float().cpu().numpy()
        indexed_query = net.index_video(repeat_to_min_length(query))
        indexed_ref = net.index_video(repeat_to_min_length(ref))
        scores = [
            net.video_similarity(indexed_query, repeat_to_min_length(indexed_ref[start : start + TARGET_CHUNK]))
            for start in range(0, indexed_ref.shape[0], TARGET_CHUNK)
        ]
        score = float(torch.stack(scores).mean())
    return score, matrix
