"""A compressed inverted index for large collections: FAISS IVF-PQ after a PCA rotation, whose
candidates are re-scored with the exact vectors from disk.

Why this shape: a 1280-d float32 descriptor is 5 KB, so exact search at a million images holds 5 GB
in memory and scans all of it per query. Here memory holds, per vector, a 64-byte product-quantised
code of its 256-d PCA projection and its 8-byte row number, plus a few megabytes of centroids and
codebooks shared by all. The codes only choose candidates: the `rerank` best of them are re-scored
with their exact vectors, read from a memory-mapped file (`vector_file.VectorFile`), so the returned
similarities are the exact inner products and the shortlist is nearly the exact one.

The index is trained on the collection's own vectors; the caller builds it again when the
collection has outgrown the sample it was trained on (`index.FaissBackend`).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from plugins.similarity.vector_file import VectorFile

REDUCED_DIMS = 256
"""PCA output (randomly rotated, so that every sub-vector carries its share): 95 % of the energy of
the bench set's GeM descriptors; what PCA drops, the exact re-scoring restores."""
SUBQUANTIZERS = 128
"""Product-quantiser sub-vectors of 2 dimensions, 4 bits each: a 64-byte code, 72 B per vector with
its 8-byte id. 4-bit codes are scanned with SIMD table look-ups (FAISS "fast scan"): on the bench
at 200k vectors, as accurate after re-scoring as 64 sub-vectors of 8 bits, and scanned ten times
faster."""
TRAIN_PER_LIST = 40
"""Training vectors per inverted list (FAISS warns below 39), a random sample of the collection:
10k at the switch from exact search, 41k at a million, always ≥ 8 × the PCA's input dimension."""
MAX_TRAIN = 200_000
"""At most this many: the sample is held in memory and k-means time grows with it."""
NPROBE_SHARE = 1 / 4
"""Share of the inverted lists scanned per query. Recall is bounded by the lists probed, not by the
codes: descriptors of unrelated photos are all about equally similar (0.7–0.85), so the exact top
100 is spread over many lists. On the bench at 200k vectors (512 lists), probing a sixteenth of
them found 0.84 of it, an eighth 0.95, a quarter 0.99; fast scan makes a quarter cheap up to a few
million vectors (docs/scale.md says what changes beyond)."""
RERANK = 1000
"""Candidates re-scored exactly per query vector (at least; never fewer than 4 × k)."""


@dataclass(frozen=True)
class IvfPqParams:
    """What the index was built with: stored beside it and shown to the user."""

    dim: int
    reduced: int
    nlist: int
    subquantizers: int
    nprobe: int
    rerank: int
    trained_on: int

    @classmethod
    def for_size(cls, n: int, dim: int) -> IvfPqParams:
        """Lists ≈ √n (a power of two): each about √n long, so the scan stays short at any size.
        Fewer sub-vectors when a (whitened) dimension is not a multiple of SUBQUANTIZERS."""
        nlist = 2 ** max(6, round(math.log2(max(1.0, math.sqrt(n)))))
        reduced = min(dim, REDUCED_DIMS)
        subquantizers = max(m for m in range(1, SUBQUANTIZERS + 1) if reduced % m == 0)
        return cls(dim, reduced, nlist, subquantizers, max(1, round(nlist * NPROBE_SHARE)), RERANK, n)

    @property
    def code_bytes(self) -> int:
        return (self.subquantizers + 1) // 2

    def factory(self) -> str:
        reduce = f"PCAR{self.reduced}," if self.reduced < self.dim else ""
        return f"{reduce}IVF{self.nlist},PQ{self.subquantizers}x4fs"

    def __str__(self) -> str:
        reduce = f"PCA {self.dim}→{self.reduced}-d, " if self.reduced < self.dim else ""
        return (f"IVF-PQ ({reduce}{self.nlist} lists, {self.code_bytes}-byte codes, {self.nprobe} lists probed, "
                f"top {self.rerank} re-scored exactly), trained on {self.trained_on:,} vectors")


class IvfPqIndex:
    """IVF-PQ codes in memory, exact vectors on disk, all in one folder: `codes.faiss` (ids are row
    numbers of the vector file), `vectors` and `vectors.rowids` (their item ids)."""

    def __init__(self, folder: Path, params: IvfPqParams, index: object | None = None) -> None:
        import faiss

        self.folder, self.params = folder, params
        self.vectors = VectorFile(folder / "vectors", params.dim)
        if index is None:
            index = faiss.read_index(str(folder / "codes.faiss"))
            if not np.array_equal(np.sort(_coded_rows(index)), self.vectors.live_rows()):
                _encode_again(index, self.vectors)  # stopped between a change and its save
        self._index = index
        _ivf(index).nprobe = params.nprobe

    @classmethod
    def build(cls, folder: Path, chunks: Iterable[tuple[np.ndarray, np.ndarray]], n: int, dim: int,
              seed: int = 0) -> IvfPqIndex:
        """Train on a sample of the `n` vectors that `chunks` hold and index them all, in a new folder
        (the vector file is written first, without removed rows)."""
        import faiss

        params = IvfPqParams.for_size(n, dim)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        vectors = VectorFile(folder / "vectors", dim)
        for ids, chunk in chunks:
            vectors.append(ids, chunk)
        sample = min(len(vectors), MAX_TRAIN, TRAIN_PER_LIST * params.nlist)
        index = faiss.index_factory(dim, params.factory(), faiss.METRIC_L2)  # unit vectors: L2 ranks as IP
        index.train(vectors.vectors(np.sort(np.random.default_rng(seed).choice(len(vectors), sample, replace=False))))
        if params.reduced < dim:  # the d² eigenvectors only served training; the projection is kept
            faiss.downcast_VectorTransform(index.chain.at(0)).PCAMat.clear()
        for rows, _, chunk in vectors.live():
            index.add_with_ids(chunk, rows)
        built = cls(folder, params, index)
        built.save()
        return built

    def items(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, exact vectors) of everything indexed, in chunks: what a rebuild starts from."""
        return ((ids, vectors) for _, ids, vectors in self.vectors.live())

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, np.float32).reshape(-1, self.params.dim)
        self._index.add_with_ids(vectors, self.vectors.append(ids, vectors))

    def remove(self, ids: np.ndarray) -> int:
        rows = self.vectors.remove(ids)
        return int(self._index.remove_ids(rows)) if len(rows) else 0

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The exact inner products of the best `k` among the `rerank` best codes per query; slots
        left empty (fewer candidates in the lists probed) have id −1."""
        queries = np.ascontiguousarray(queries, np.float32).reshape(-1, self.params.dim)
        k = max(1, min(k, len(self)))
        _, rows = self._index.search(queries, min(len(self), max(self.params.rerank, 4 * k)))
        unique = np.unique(rows[rows >= 0])
        unique = unique[self.vectors.ids(unique) >= 0]  # removed since the codes were last saved
        rows[~np.isin(rows, unique)] = -1
        # exact; einsum rather than a BLAS product: for two queries, OpenBLAS's threads spent 20–50 ms
        # waking up on a busy machine, for 0.5 ms of work
        sims = np.einsum("qd,cd->qc", queries, self.vectors.vectors(unique))
        out_sims = np.full((len(queries), k), -np.inf, np.float32)
        out_rows = np.full((len(queries), k), -1, np.int64)
        for q, found in enumerate(rows):
            cols = np.searchsorted(unique, found[found >= 0])
            best = cols[np.argsort(-sims[q, cols], kind="stable")[:k]]
            out_sims[q, : len(best)], out_rows[q, : len(best)] = sims[q, best], unique[best]
        out_ids = np.full_like(out_rows, -1)
        out_ids[out_rows >= 0] = self.vectors.ids(out_rows[out_rows >= 0])
        return out_sims, out_ids

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def memory_bytes(self) -> int:
        """Bytes of the in-memory index (its serialised size: codes, ids, centroids, codebooks, PCA)."""
        import faiss

        return int(faiss.serialize_index(self._index).nbytes)

    def save(self) -> None:
        """The codes (the vector file is appended as vectors come, so it never lags them)."""
        import faiss

        tmp = self.folder / "codes.faiss.tmp"
        faiss.write_index(self._index, str(tmp))
        tmp.replace(self.folder / "codes.faiss")


def _ivf(index: object) -> Any:
    import faiss

    return faiss.extract_index_ivf(index)


def _coded_rows(index: object) -> np.ndarray:
    """The row numbers the codes hold, list by list."""
    import faiss

    lists = _ivf(index).invlists
    sizes = [lists.list_size(i) for i in range(lists.nlist)]
    return np.concatenate([np.zeros(0, np.int64)] + [
        faiss.rev_swig_ptr(lists.get_ids(i), size).copy() for i, size in enumerate(sizes) if size])


def _encode_again(index: object, vectors: VectorFile) -> None:
    """Codes for exactly the rows of the vector file that are not removed (same training)."""
    index.reset()
    for rows, _, chunk in vectors.live():
        index.add_with_ids(chunk, rows)
