"""Vector index behind a small backend protocol: the embedded default is a FAISS index on disk, exact
while the collection is small and compressed (IVF-PQ) when it is large; a collection too large for one
machine can be served by a distributed vector engine implementing the same methods, without touching
the search code."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from plugins.similarity.ivfpq import IvfPqIndex, IvfPqParams


class VectorBackend(Protocol):
    """Inner-product search over L2-normalised vectors keyed by 64-bit item ids."""

    dim: int

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...
    def remove(self, ids: np.ndarray) -> int: ...
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, ids), both n_queries × k, best first; missing slots have id −1."""
        ...
    def __len__(self) -> int: ...
    def save(self) -> None: ...
    def describe(self) -> str:
        """The kind of index and its parameters, in words (the collection records it; the CLI shows it)."""
        ...


EXACT_MAX_VECTORS = 50_000
"""Exact search up to this many vectors. Flat search scans every vector: the bench measured 6 ms at
10k and 64 ms at 100k 1280-d vectors per query on one busy core, so about 30 ms here, within the
50 ms target, for 250 MB of vectors; beyond it the compressed index is faster and holds about a
seventieth of the memory (docs/scale.md). It also leaves the compressed index 40 training vectors
per list at its first training."""
SHRINK_TO_EXACT = EXACT_MAX_VECTORS // 2
"""A compressed index shrunk below this (removals) goes back to exact search; the gap between the
two thresholds keeps a collection at the boundary from being rebuilt at every add and removal."""
GROWTH = 2.0
"""The compressed index is trained again once the collection has grown this much since its last
training: its lists stay about √n long, and each vector is re-encoded at most twice on average."""


class FaissBackend:
    """Inner-product search in FAISS, exact while small and compressed when large, chosen by size.

    Up to EXACT_MAX_VECTORS: exact search (IndexFlatIP in an id map) in `<name>.faiss`, as
    collections have always been. Beyond: `ivfpq.IvfPqIndex` in the folder `<name>.ivfpq.<n>`,
    trained on the collection's own vectors, with `<name>.json` (its parameters) as the commit
    point: a crash while building leaves the previous index in place."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path, self.dim = Path(path), dim
        self._flat: Any = None
        self._compressed: IvfPqIndex | None = None
        if self._manifest.is_file():
            record = json.loads(self._manifest.read_text(encoding="utf-8"))
            params = IvfPqParams(**record["params"])
            if params.dim != dim:
                raise ValueError(f"{self.path} holds {params.dim}-dimensional vectors, expected {dim}")
            self._compressed = IvfPqIndex(self.path.parent / record["folder"], params)
        else:
            self._flat = _read_flat(self.path, dim)

    @classmethod
    def build(cls, path: Path, dim: int, chunks: Iterable[tuple[np.ndarray, np.ndarray]], n: int) -> FaissBackend:
        """A new index of `n` vectors given as (ids, vectors) chunks, of the kind their number calls for;
        it replaces whatever `path` held."""
        cls.delete(path)
        backend = cls(path, dim)
        if n > EXACT_MAX_VECTORS:
            backend._compress(chunks, n)
        else:
            for ids, vectors in chunks:
                backend.add(ids, vectors)
            backend.save()
        return backend

    @classmethod
    def delete(cls, path: Path) -> None:
        """Remove the index files at `path`, of either kind."""
        path = Path(path)
        path.unlink(missing_ok=True)
        Path(f"{path.with_suffix('')}.json").unlink(missing_ok=True)
        for folder in path.parent.glob(f"{path.stem}.ivfpq.*"):
            shutil.rmtree(folder, ignore_errors=True)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, np.float32).reshape(-1, self.dim)
        ids = np.ascontiguousarray(ids, np.int64)
        if self._compressed is not None:
            self._compressed.add(ids, vectors)
            if len(self) >= GROWTH * self._compressed.params.trained_on:
                self._compress(self._compressed.items(), len(self))
        elif len(self) + len(ids) > EXACT_MAX_VECTORS:
            self._compress(itertools.chain(self._flat_chunks(), [(ids, vectors)]), len(self) + len(ids))
        else:
            self._flat.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        ids = np.ascontiguousarray(ids, np.int64)
        if self._compressed is None:
            return int(self._flat.remove_ids(ids))
        removed = self._compressed.remove(ids)
        if len(self) < SHRINK_TO_EXACT:
            self._to_exact()
        return removed

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, np.float32).reshape(-1, self.dim)
        k = max(1, min(k, len(self)))
        if len(self) == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if self._compressed is not None:
            return self._compressed.search(queries, k)
        return self._flat.search(queries, k)

    def __len__(self) -> int:
        return len(self._compressed) if self._compressed is not None else int(self._flat.ntotal)

    @property
    def compressed(self) -> IvfPqIndex | None:
        """The compressed index when the collection is large enough for one, else None."""
        return self._compressed

    def describe(self) -> str:
        if self._compressed is not None:
            return f"{self._compressed.params}; {len(self):,} vectors"
        return f"exact (flat inner product); {len(self):,} vectors"

    def memory_bytes(self) -> int:
        """Bytes the index holds in memory (its serialised size); the vector file is on disk."""
        import faiss

        if self._compressed is not None:
            return self._compressed.memory_bytes()
        return int(faiss.serialize_index(self._flat).nbytes)

    def save(self) -> None:
        import faiss

        if self._compressed is not None:
            self._compressed.save()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        faiss.write_index(self._flat, str(tmp))
        tmp.replace(self.path)  # never a half-written index

    @property
    def _manifest(self) -> Path:
        return Path(f"{self.path.with_suffix('')}.json")

    def _flat_chunks(self) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        import faiss

        if self._flat.ntotal:
            yield faiss.vector_to_array(self._flat.id_map), self._flat.index.reconstruct_n(0, self._flat.ntotal)

    def _compress(self, chunks: Iterable[tuple[np.ndarray, np.ndarray]], n: int) -> None:
        """(Re)train and fill a compressed index in a new folder, commit it, then drop the old one."""
        old = self._compressed.folder if self._compressed is not None else None
        generation = int(old.suffix[1:]) + 1 if old is not None else 1
        folder = self.path.parent / f"{self.path.stem}.ivfpq.{generation}"
        compressed = IvfPqIndex.build(folder, chunks, n, self.dim)
        tmp = self._manifest.with_suffix(".tmp")
        tmp.write_text(json.dumps({"folder": folder.name, "params": dataclasses.asdict(compressed.params)}),
                       encoding="utf-8")
        tmp.replace(self._manifest)
        self._compressed, self._flat = compressed, None
        self.path.unlink(missing_ok=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def _to_exact(self) -> None:
        """Back to exact search (the flat file is written before the manifest that hides it goes)."""
        assert self._compressed is not None
        self._flat = _new_flat(self.dim)
        for ids, vectors in self._compressed.items():
            self._flat.add_with_ids(vectors, ids)
        folder, self._compressed = self._compressed.folder, None
        self.save()
        self._manifest.unlink()
        shutil.rmtree(folder, ignore_errors=True)


def _new_flat(dim: int) -> Any:
    import faiss

    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def _read_flat(path: Path, dim: int) -> Any:
    """The exact index saved at `path`, or a new empty one."""
    import faiss

    if not path.is_file():
        return _new_flat(dim)
    index = faiss.read_index(str(path))
    if index.d != dim:
        raise ValueError(f"{path} holds {index.d}-dimensional vectors, expected {dim}")
    return index


class NumpyBackend:
    """Brute-force matrix product in memory: the bench's baseline, and a fallback without FAISS."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._ids = np.zeros(0, np.int64)
        self._vectors = np.zeros((0, dim), np.float32)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._ids = np.concatenate([self._ids, np.asarray(ids, np.int64)])
        self._vectors = np.vstack([self._vectors, np.asarray(vectors, np.float32).reshape(-1, self.dim)])

    def remove(self, ids: np.ndarray) -> int:
        keep = ~np.isin(self._ids, ids)
        removed = int((~keep).sum())
        self._ids, self._vectors = self._ids[keep], self._vectors[keep]
        return removed

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims = np.asarray(queries, np.float32).reshape(-1, self.dim) @ self._vectors.T
        k = min(k, len(self))
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(sims, top, axis=1), self._ids[top]

    def __len__(self) -> int:
        return len(self._ids)

    def save(self) -> None:
        """Nothing to save: in memory only."""

    def describe(self) -> str:
        return f"exact (NumPy brute force in memory); {len(self):,} vectors"
