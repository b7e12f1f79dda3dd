"""A nearest-neighbour field inside one image with PatchMatch (Barnes et al. 2009), as modified for
copy-move detection by Cozzolino, Poggi & Verdoliva (2015).

For every query point the field holds the offset δ to the most similar *other* place of the image
(at least `min_offset` away, so a point never matches itself or its own blurred neighbourhood).
An exhaustive search costs N² feature comparisons; PatchMatch needs a few per point and
iteration, because the field of a copy is smooth: a good offset found anywhere in the copy is
handed on to the neighbours (propagation), and random tries at shrinking radii around the current
offset find the first good ones and refine them (random search). A rotated or scaled copy has an
offset field that changes linearly across it, so besides its neighbour's offset δ(s−1) each point
also tries the first-order prediction 2 δ(s−1) − δ(s−2) (the paper's modification).

Queries sit on a grid of `stride` px, candidates on every pixel. Propagation runs as sweeps in
the four directions, one row (or column) of the grid at a time and vectorised along it: the
paper's raster scan, whose sequential dependency is along one axis only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.api import RunContext


@dataclass
class Field:
    """Offsets (Hg × Wg × 2, int32: dy, dx in pixels) of the grid points (`ys` × `xs`) to their
    nearest neighbours, and the squared feature distances (Hg × Wg, float32)."""

    offsets: np.ndarray
    distances: np.ndarray
    ys: np.ndarray
    xs: np.ndarray


class _Search:
    """The state of one PatchMatch search: features, grid, current field."""

    def __init__(self, features: np.ndarray, stride: int, min_offset: float, rng: np.random.Generator) -> None:
        self.h, self.w, k = features.shape
        self.flat = features.reshape(-1, k)
        self.ys = np.arange(stride // 2, self.h, stride)
        self.xs = np.arange(stride // 2, self.w, stride)
        self.query = np.ascontiguousarray(features[self.ys][:, self.xs])
        self.pos = np.stack(np.meshgrid(self.ys, self.xs, indexing="ij"), axis=-1).astype(np.int32)
        self.min2 = float(min_offset) ** 2
        self.rng = rng
        shape = self.pos.shape[:2]
        self.offsets = np.zeros((*shape, 2), np.int32)
        self.best = np.full(shape, np.inf, np.float32)

    def improve(self, where: tuple, candidates: np.ndarray, clip: bool = False) -> None:
        """Keep the best of the candidate offsets (c × … × 2) wherever it beats the current offset of
        the grid points `where` (…). Candidates pointing outside the image are dropped, or moved to
        its border when `clip`."""
        pos = self.pos[where]
        target = pos + candidates
        if clip:
            np.clip(target[..., 0], 0, self.h - 1, out=target[..., 0])
            np.clip(target[..., 1], 0, self.w - 1, out=target[..., 1])
            candidates = target - pos
        ty, tx = target[..., 0], target[..., 1]
        valid = (ty >= 0) & (ty < self.h) & (tx >= 0) & (tx < self.w)
        valid &= candidates[..., 0] ** 2 + candidates[..., 1] ** 2 >= self.min2
        diff = np.take(self.flat, np.where(valid, ty * self.w + tx, 0), axis=0) - self.query[where]
        dist = np.einsum("...k,...k->...", diff, diff)
        dist[~valid] = np.inf
        if len(candidates) == 1:
            dist, chosen = dist[0], candidates[0]
        else:
            pick = np.argmin(dist, axis=0)
            dist = np.take_along_axis(dist, pick[None], axis=0)[0]
            chosen = np.take_along_axis(candidates, pick[None, ..., None], axis=0)[0]
        offsets, best = self.offsets[where], self.best[where]
        better = dist < best
        offsets[better] = chosen[better]  # basic indexing: views, so the field itself changes
        best[better] = dist[better]

    def random_init(self) -> None:
        """Every grid point starts from a uniformly random place of the image."""
        shape = self.best.shape
        target = np.stack([self.rng.integers(0, self.h, shape), self.rng.integers(0, self.w, shape)], -1)
        self.improve((Ellipsis,), (target - self.pos).astype(np.int32)[None])

    def random_search(self) -> None:
        """Tries at radius R, R/2, … 1 around the current offset (R = the image's longer side)."""
        radius = float(max(self.h, self.w))
        while radius >= 1.0:
            jitter = self.rng.uniform(-radius, radius, (*self.best.shape, 2))
            self.improve((Ellipsis,), (self.offsets + np.rint(jitter).astype(np.int32))[None], clip=True)
            radius /= 2.0

    def reverse(self) -> None:
        """A copy's two regions are each other's neighbours: the grid point nearest to each match
        q = p + δ(p) tries the way back to p (one scatter; where several land, the last one wins)."""
        stride = int(self.ys[1] - self.ys[0]) if len(self.ys) > 1 else 1
        target = self.pos + self.offsets
        gy = np.clip(np.rint((target[..., 0] - self.ys[0]) / stride).astype(np.int64), 0, len(self.ys) - 1)
        gx = np.clip(np.rint((target[..., 1] - self.xs[0]) / stride).astype(np.int64), 0, len(self.xs) - 1)
        candidates = self.offsets.copy()
        candidates[gy, gx] = self.pos - self.pos[gy, gx]
        self.improve((Ellipsis,), candidates[None])

    def sweep(self, axis: int, forward: bool) -> None:
        """Propagation along `axis` (0: rows, 1: columns) of the grid, in one direction: each line
        tries its predecessor's offset and the first-order prediction from the two before it."""
        n = self.best.shape[axis]
        order = range(1, n) if forward else range(n - 2, -1, -1)
        step = -1 if forward else 1
        for i in order:
            line = (i, slice(None)) if axis == 0 else (slice(None), i)
            prev = self.offsets[(i + step, slice(None)) if axis == 0 else (slice(None), i + step)]
            j = i + 2 * step
            if 0 <= j < n:
                before = self.offsets[(j, slice(None)) if axis == 0 else (slice(None), j)]
                guess = 2 * prev - before
            else:
                guess = prev
            jitter = self.rng.integers(-1, 2, guess.shape, dtype=np.int32)
            self.improve(line, np.stack([prev, guess, guess + jitter]))


def nearest_neighbour_field(
    features: np.ndarray, stride: int, min_offset: float, iterations: int, seed: int, ctx: RunContext
) -> Field:
    """PatchMatch over `features` (H × W × K): random start, then per iteration propagation sweeps
    (down and right on odd iterations, up and left on even ones, as the paper alternates its scan)
    and a random search. Deterministic for a given seed."""
    search = _Search(features, stride, min_offset, np.random.default_rng(seed))
    search.random_init()
    for it in range(iterations):
        ctx.check_cancelled()
        forward = it % 2 == 0
        search.sweep(0, forward)
        search.sweep(1, forward)
        search.random_search()
        search.reverse()
    return Field(search.offsets, search.best, search.ys, search.xs)
