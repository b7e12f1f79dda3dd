"""Synthetic global descriptors drawn to look like real ones, to fill an index to a million.

Real descriptors cluster by scene: views of one photo lie close together, different photos further
apart. The model keeps that shape. In the real vectors' PCA space it fits k-means "scenes", each a
diagonal Gaussian of its views; new vectors come from new scenes, whose centres are drawn from the
spread of the fitted centres (so a million vectors hold thousands of scenes, not the bench set's
dozen), with views drawn from a fitted scene's spread, plus isotropic noise of the real residual's
energy outside the PCA space; then L2-normalised like the descriptor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PCA_DIMS = 128
"""Components modelled (the bench set has about a thousand vectors: more would fit noise)."""
SCENES = 24
"""k-means clusters fitted on the real vectors (the bench set shows about 20 photos)."""
VIEWS_PER_SCENE = 50
"""Mean synthetic vectors per synthetic scene (the bench set: about 55 views per photo)."""


@dataclass(frozen=True)
class DescriptorModel:
    mean: np.ndarray          # dim
    basis: np.ndarray         # dim × PCA_DIMS, orthonormal columns
    centre_mean: np.ndarray   # PCA_DIMS: mean of the scene centres
    centre_std: np.ndarray    # PCA_DIMS: spread of the scene centres
    view_std: np.ndarray      # SCENES × PCA_DIMS: spread of views within each fitted scene
    residual_std: float       # per dimension, outside the PCA space

    @classmethod
    def fit(cls, real: np.ndarray, seed: int = 0) -> DescriptorModel:
        import faiss

        real = np.asarray(real, np.float64)
        mean = real.mean(axis=0)
        _, _, vt = np.linalg.svd(real - mean, full_matrices=False)
        basis = vt[:PCA_DIMS].T
        z = (real - mean) @ basis
        residual = (real - mean) - z @ basis.T
        kmeans = faiss.Kmeans(z.shape[1], SCENES, niter=25, seed=seed, verbose=False)
        kmeans.train(z.astype(np.float32))
        labels = kmeans.index.search(z.astype(np.float32), 1)[1].ravel()
        pooled = (z - kmeans.centroids[labels]).std(axis=0)
        view_std = np.stack([(z[labels == c] - kmeans.centroids[c]).std(axis=0) if (labels == c).sum() > 2 else pooled
                             for c in range(SCENES)])
        return cls(mean.astype(np.float32), basis.astype(np.float32), kmeans.centroids.mean(axis=0),
                   kmeans.centroids.std(axis=0), view_std.astype(np.float32),
                   float(np.sqrt((residual**2).sum(axis=1).mean() / (real.shape[1] - PCA_DIMS))))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n unit vectors: scenes of about VIEWS_PER_SCENE views each."""
        scenes = max(1, round(n / VIEWS_PER_SCENE))
        centres = self.centre_mean + self.centre_std * rng.standard_normal((scenes, len(self.centre_std)))
        spreads = self.view_std[rng.integers(0, len(self.view_std), scenes)]
        scene = rng.integers(0, scenes, n)
        z = centres[scene] + spreads[scene] * rng.standard_normal((n, len(self.centre_std)))
        noise = self.residual_std * rng.standard_normal((n, len(self.mean)), dtype=np.float32)
        noise -= (noise @ self.basis) @ self.basis.T  # outside the modelled components only
        x = self.mean + z.astype(np.float32) @ self.basis.T + noise
        return x / np.linalg.norm(x, axis=1, keepdims=True)
