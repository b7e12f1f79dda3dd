"""Describing many image files for a collection: reading, hashing, decoding, perceptual hashes and
local features on a pool of threads, while the CNN describes the prepared images in batches.

Threads, not processes: Pillow's decoder, hashlib, OpenCV and torch release the GIL, and a thread
hands over its megabytes of pixels without pickling them. A bounded window of files is in flight
(`IN_FLIGHT` per worker), so memory stays flat however large the folder. Files come out in the order
given, so items get their ids in that order, as before.

No step reads more than `WORKING_SIDE` pixels a side (RootSIFT analyses at most that, the CNN reads
512 and the hashes 32), so a camera JPEG is decoded at a reduced size by libjpeg (`open_reduced`):
at least that long, 1/2 to 1/8 of the stored size. Each step then reduces it as it always reduced
the full image; local feature positions are mapped back to the stored image's pixels.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from plugins.localization.copy_move import to_full
from plugins.similarity.facts import image_facts
from plugins.similarity.features import LocalFeatures
from plugins.similarity.local import MAX_SIDE, sift_features
from plugins.similarity.phash import dhash, phash
from workbench.api import Media, MediaError, RunContext, batch_size, open_reduced, usable_cores

WORKING_SIDE = MAX_SIDE
"""Long side a JPEG is decoded to at least: RootSIFT's analysis size, above the CNN's 512 pixels."""
CPU_BATCH = 4
"""Images per CNN pass on the CPU: larger batches gain nothing per image there (the bench measured
the same time per image at 1, 2 and 4), on CUDA the free memory sets it (`batch_size`)."""
IMAGE_MB = 64.0
"""CUDA memory one 512×384 image takes through the MobileNetV2: an estimate from its widest
activations (18 MB each, a few alive at once), not measured on a GPU yet (`bench/gpu.py` can)."""
COMPILE_FROM = 50
"""Images from which the CNN runs its compiled CPU graph: building it takes 2–5 s, each image then
saves about 0.1 s."""
IN_FLIGHT = 4
"""Files prepared ahead per worker thread: enough to keep the CNN fed, few enough to bound memory."""

Extractor = Callable[[np.ndarray], LocalFeatures]


@dataclass
class Prepared:
    """One file read and described except for its global descriptor."""

    path: Path
    media: Media
    facts: dict[str, object]
    phash: int
    dhash: int
    sift: LocalFeatures
    """RootSIFT features: the collection stores them in full, or only their compact record, by its size."""
    arrays: dict[str, np.ndarray]
    """Local features of each extra extractor, flattened for the item's .npz."""
    net_input: np.ndarray
    vector: np.ndarray | None = None
    """The global descriptor, once the CNN has run."""


@dataclass(frozen=True)
class Failed:
    path: Path
    reason: str


def prepare(path: Path, descriptor: Any, max_pixels: int, extractors: dict[str, Extractor]) -> Prepared:
    """Everything but the CNN for one file (runs on a worker thread). Extra extractors (AMES, LOCORE)
    read the image at its stored size, as they always did: with them, it is decoded in full."""
    opened = open_reduced(path, None if extractors else WORKING_SIDE, max_pixels=max_pixels)
    rgb, full = opened.pixels, (opened.media.height, opened.media.width)
    arrays: dict[str, np.ndarray] = {}
    for kind, f in extractors.items():
        arrays.update(in_frame(f(rgb), full).to_arrays(kind))
    return Prepared(path, opened.media, image_facts(opened.image), phash(rgb), dhash(rgb),
                    in_frame(sift_features(rgb), full), arrays, descriptor.input_of(rgb))


def in_frame(features: LocalFeatures, shape: tuple[int, int]) -> LocalFeatures:
    """Features found on a reduced copy, with positions and sizes in the pixels of an image of
    `shape` (height, width): what the collection stores and the viewer draws on."""
    h, w = features.image_size
    if (h, w) == tuple(shape):
        return features
    scale = np.array([w / shape[1], h / shape[0]])
    return dataclasses.replace(features, xy=to_full(features.xy, scale).astype(np.float32),
                               scale=(features.scale / scale.mean()).astype(np.float32), image_size=tuple(shape))


def describe_files(
    files: Iterable[Path],
    descriptor: Any,
    ctx: RunContext,
    *,
    max_pixels: int,
    extractors: dict[str, Extractor],
    compiled: bool = False,
) -> Iterator[list[Prepared | Failed]]:
    """Batches of described files (or why a file failed), in the order given. Cancelling stops the
    pool after the files being read; `compiled` runs the CNN's compiled CPU graph. Torch's threads
    are set to half the cores for the run (the other half prepare images) and restored after."""
    cores = usable_cores()
    batch = batch_size(descriptor.device, IMAGE_MB, CPU_BATCH, limit=64)
    pool = ThreadPoolExecutor(cores, thread_name_prefix="describe")
    pending: deque[tuple[Path, Future[Prepared]]] = deque()
    todo = iter(files)
    try:
        with torch_threads(max(1, cores // 2) if descriptor.device == "cpu" else None):
            while True:
                for path in todo:
                    pending.append((path, pool.submit(prepare, path, descriptor, max_pixels, extractors)))
                    if len(pending) >= IN_FLIGHT * cores:
                        break
                if not pending:
                    return
                window = [_outcome(*pending.popleft()) for _ in range(min(batch, len(pending)))]
                ctx.check_cancelled()
                _describe([p for p in window if isinstance(p, Prepared)], descriptor, compiled)
                yield window
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _outcome(path: Path, future: Future[Prepared]) -> Prepared | Failed:
    try:
        return future.result()
    except (MediaError, OSError, ValueError) as exc:
        return Failed(path, str(exc))


def _describe(prepared: list[Prepared], descriptor: Any, compiled: bool) -> None:
    """Global descriptors of the prepared images, one CNN pass per input size."""
    by_shape: dict[tuple[int, ...], list[Prepared]] = {}
    for p in prepared:
        by_shape.setdefault(p.net_input.shape, []).append(p)
    for group in by_shape.values():
        vectors = descriptor.describe_batch(np.concatenate([p.net_input for p in group]), compiled)
        for p, vector in zip(group, vectors, strict=True):
            p.vector = vector.astype(np.float32)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Torch's intra-op threads set to `n` for the block (None: left alone)."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
