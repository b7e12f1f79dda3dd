"""Frame descriptors of a video for copy detection: one vector per sampled instant.

Frames are sampled at a fixed interval (`media.reader().sample`), decoded in a worker thread while
the CNN describes the previous batch (OpenCV and torch both release the GIL, so on two cores the
two halves overlap), and batched through the similarity plugin's global backbone (MobileNetV2,
GeM, L2). A frame that does not decode keeps its row as NaN, so row i is always the instant
i × interval and the similarity matrix can be read as a time grid.

With its published files installed, S2VS's region features (9 × 512 per frame) can replace the
global vectors; frame pairs are then compared by the authors' chamfer similarity.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from plugins.similarity.global_descriptor import MODEL_ID, gem, l2_normalize, network_input
from workbench.api import Frame, Media, ModelStore, RunContext, batch_size, loaded_model

BATCH = 16
"""Frames decoded and described together on the CPU: only trades memory for speed."""
FRAME_MB = 16
"""GPU memory one frame takes in a pass (about 4 × the largest activation of either network at
224 pixels, 3.4 MB): on CUDA a batch holds as many frames as half the free memory fits."""
S2VS_DECODE_SIDE = 512
"""Long side frames are decoded at for S2VS, which resizes the short side to 256 itself."""


class FrameFeatures(StrEnum):
    MOBILENET = "mobilenet"
    S2VS = "s2vs"


@dataclass(frozen=True)
class Sampling:
    """How a video is turned into descriptors; part of the cache key, so a change re-describes."""

    features: FrameFeatures = FrameFeatures.MOBILENET
    every_s: float = 1.0
    side: int = 224
    """Long side of the frames the CNN sees (MobileNetV2 only; S2VS has its own 224 crop)."""

    @property
    def key(self) -> str:
        if self.features is FrameFeatures.S2VS:
            return f"s2vs-{self.every_s:g}s"
        return f"mobilenet{self.side}-{self.every_s:g}s"

    @property
    def model_ids(self) -> tuple[str, ...]:
        if self.features is FrameFeatures.S2VS:
            from plugins.similarity.s2vs import EXTRACTOR_IDS

            return EXTRACTOR_IDS
        return (MODEL_ID,)

    def describe(self) -> str:
        what = ("S2VS region features (ResNet-50 L3-iMAC, PCA-whitened; chamfer similarity)"
                if self.features is FrameFeatures.S2VS else
                f"MobileNetV2-GeM frame descriptors ({self.side} px long side; cosine similarity)")
        return f"{what}, one frame every {self.every_s:g} s"


@dataclass(frozen=True)
class VideoFeatures:
    """Descriptors of one video: `vectors[i]` belongs to the instant `times[i]` (NaN: undecodable)."""

    sampling_key: str
    times: np.ndarray
    vectors: np.ndarray
    """T × D (MobileNetV2) or T × 9 × 512 (S2VS), float32; NaN rows for frames that did not decode."""
    duration: float
    skipped: int

    @property
    def valid(self) -> np.ndarray:
        return ~np.isnan(self.vectors.reshape(len(self.vectors), -1)[:, 0])

    def save(self, path: Path) -> None:
        """Written atomically (a unique temporary name, then a rename): a crash leaves no half file."""
        tmp = path.with_name(f"{path.stem}.{id(self)}.tmp.npz")
        np.savez(tmp, times=self.times, vectors=self.vectors, duration=self.duration, skipped=self.skipped,
                 sampling_key=self.sampling_key)
        tmp.replace(path)

    @staticmethod
    def load(path: Path) -> VideoFeatures:
        with np.load(path) as data:
            return VideoFeatures(str(data["sampling_key"]), data["times"], data["vectors"],
                                 float(data["duration"]), int(data["skipped"]))


def describe_video(media: Media, sampling: Sampling, ctx: RunContext, store: ModelStore | None = None) -> VideoFeatures:
    """Sample, decode and describe a video. Raises ModelUnavailable when a model file is missing."""
    store = store or ModelStore()
    describe = _describer(sampling, ctx.device, store)  # fails before any decoding when a model is missing
    assert media.video is not None
    duration = media.video.duration
    side = S2VS_DECODE_SIDE if sampling.features is FrameFeatures.S2VS else sampling.side
    times: list[float] = []
    rows: list[np.ndarray] = []
    skipped = 0
    with (media.reader() as reader, ThreadPoolExecutor(1, thread_name_prefix="decode") as decoder,
          core_left_for_decoding(ctx.device)):
        frames = reader.sample(sampling.every_s, ctx.cancelled, max_side=side)
        batches = _batched(frames, batch_size(ctx.device, FRAME_MB, BATCH))
        pending = decoder.submit(next, batches, None)
        while (batch := pending.result()) is not None:
            pending = decoder.submit(next, batches, None)  # decode the next batch while this one is described
            good = [f for f in batch if f.rgb is not None]
            vectors = describe([f.rgb for f in good]) if good else None
            by_index = {f.index: v for f, v in zip(good, vectors, strict=True)} if good else {}
            for frame in batch:
                times.append(frame.time)
                vector = by_index.get(frame.index)
                if vector is None:
                    skipped += 1
                rows.append(vector)
            done = times[-1] / duration if duration > 0 else 0.0
            ctx.progress(done, f"{times[-1]:.0f} / {duration:.0f} s described")
    ctx.check_cancelled()
    shape = next((r.shape for r in rows if r is not None), None)
    if shape is None:
        raise ValueError(f"{media.name}: none of the {len(rows)} sampled frames could be decoded")
    stacked = np.stack([r if r is not None else np.full(shape, np.nan, np.float32) for r in rows])
    return VideoFeatures(sampling.key, np.asarray(times, np.float32), stacked.astype(np.float32), duration, skipped)


def similarity_matrix(query: VideoFeatures, reference: VideoFeatures, device: str = "cpu") -> np.ndarray:
    """Tq × Tr frame-to-frame similarity (cosine, or S2VS chamfer over regions, on `device`); NaN where a
    frame did not decode."""
    q, r = query.vectors, reference.vectors
    if q.ndim == 2:
        return np.nan_to_num(q) @ np.nan_to_num(r).T + _nan_mask(query, reference)
    import torch

    from plugins.similarity.s2vs_net import frame_similarity

    with torch.inference_mode():
        q_t, r_t = (torch.from_numpy(np.nan_to_num(v)).to(device) for v in (q, r))
        sim = frame_similarity(q_t, r_t)
    return sim.float().cpu().numpy() + _nan_mask(query, reference)


def _nan_mask(query: VideoFeatures, reference: VideoFeatures) -> np.ndarray:
    return np.where(query.valid[:, None] & reference.valid[None, :], 0.0, np.nan).astype(np.float32)


def _describer(sampling: Sampling, device: str, store: ModelStore):  # noqa: ANN202 - frames → array
    """The batch function of the chosen features, with its models loaded (ModelUnavailable if absent)."""
    if sampling.features is FrameFeatures.S2VS:
        from plugins.similarity import s2vs

        s2vs.load_extractor(device, store)
        return lambda frames: s2vs.frame_features(frames, device, store=store)

    import torch

    from plugins.similarity.mobilenet import MobileNetV2

    net = loaded_model(store, MODEL_ID, MobileNetV2, device)

    def describe(frames: list[np.ndarray]) -> np.ndarray:
        x = torch.from_numpy(np.concatenate([network_input(f, sampling.side) for f in frames])).to(device)
        with torch.inference_mode():
            return l2_normalize(gem(net(x)).float().cpu().numpy())

    return describe


@contextmanager
def core_left_for_decoding(device: str) -> Iterator[None]:
    """On the CPU, the network of this thread uses one core less than torch's default (one per core),
    so the decoder thread is not fighting it: oversubscribed OpenMP threads wait at every barrier
    (measured on 2 cores: the CNN several times slower). torch keeps this setting per thread."""
    import torch

    before = torch.get_num_threads()
    if str(device) == "cpu":
        torch.set_num_threads(max(1, min(before, (os.cpu_count() or 1) - 1)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _batched(frames: Iterator[Frame], size: int) -> Iterator[list[Frame]]:
    while batch := list(itertools.islice(frames, size)):
        yield batch
