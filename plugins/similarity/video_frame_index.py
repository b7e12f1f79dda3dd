"""One index over the frames of every reference video: which references a query's frames resemble,
without comparing the query with each reference in turn.

The VSC 2022 baseline ranks the references by their best frame similarity with the query and aligns
only the best few in time. Done reference by reference, a query costs one matrix product, and one
descriptor file read, per reference video: with tens of thousands of them, most of the query's time.
Here every reference frame goes into one FAISS index (inner product of unit vectors = cosine), exact
(flat) while small, an inverted file (IVF) from `IVF_FROM` frames on; an entry's id is (video, frame).
Each query frame looks up its `k` nearest reference frames; a reference's score is its best such
hit, which is its pair score whenever one of its frames is among some query frame's nearest, as the
frames of a copied reference are. Frames that did not decode (NaN rows) are not indexed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IVF_FROM = 200_000
"""Frames from which the index is an inverted file (about 55 h of video at one frame a second): below
it exact search is fast enough, above it the IVF keeps a query's cost nearly flat."""
IVF_PROBES = 16
"""Inverted lists searched per query frame (of √frames, trained on 40 frames a list)."""
FRAME_BITS = 24
"""An entry's id is video << FRAME_BITS | frame row: up to 16.7 M frames (194 days at 1 fps) a video."""
NEIGHBOURS = 64
"""Reference frames looked up per query frame: the frames of one copied reference can fill the
first places (neighbouring frames of a shot), so enough are taken to reach the next references."""


@dataclass
class FrameIndex:
    """FAISS index over reference frames, and which video (by key, e.g. SHA-256) each id belongs to."""

    index: object
    keys: list[str]

    @staticmethod
    def build(videos: Iterable[tuple[str, np.ndarray]], ivf_from: int = IVF_FROM) -> FrameIndex:
        """From (key, T × D unit vectors) pairs; an inverted file when there are `ivf_from` frames or more."""
        import faiss

        keys: list[str] = []
        blocks: list[np.ndarray] = []
        ids: list[np.ndarray] = []
        for key, vectors in videos:
            valid = np.flatnonzero(~np.isnan(vectors).any(axis=1))
            ids.append((len(keys) << FRAME_BITS) | valid.astype(np.int64))
            blocks.append(np.ascontiguousarray(vectors[valid], np.float32))
            keys.append(key)
        if not blocks:
            raise ValueError("no reference video to index")
        vectors, ids_all = np.concatenate(blocks), np.concatenate(ids)
        dim = vectors.shape[1]
        if len(vectors) >= ivf_from:
            lists = int(np.sqrt(len(vectors)))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
            sample = np.random.default_rng(0).choice(len(vectors), min(len(vectors), 40 * lists), replace=False)
            index.train(vectors[np.sort(sample)])
            index.nprobe = IVF_PROBES
        else:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        index.add_with_ids(vectors, ids_all)
        return FrameIndex(index, keys)

    def shortlist(self, query: np.ndarray, candidates: int, k: int = NEIGHBOURS) -> list[tuple[str, float]]:
        """The `candidates` references whose best frame similarity with the query's frames (T × D, NaN rows
        skipped) is highest, best first, with that similarity."""
        frames = np.ascontiguousarray(query[~np.isnan(query).any(axis=1)], np.float32)
        if not len(frames):
            return []
        with _one_thread():
            similarity, ids = self.index.search(frames, min(k, self.index.ntotal))
        found = ids >= 0
        videos, similarity = ids[found] >> FRAME_BITS, similarity[found]
        best = np.full(len(self.keys), -np.inf, np.float32)
        np.maximum.at(best, videos, similarity)
        order = [int(v) for v in np.argsort(-best, kind="stable")[:candidates] if np.isfinite(best[v])]
        return [(self.keys[v], float(best[v])) for v in order]

    def save(self, path: Path) -> None:
        """Two files, `path`.faiss and `path`.keys, each written under a name of its own first (jobs in
        several threads may save at once) and then renamed."""
        import faiss

        index_tmp, keys_tmp = (path.with_name(f"{path.name}.{os.getpid()}.{id(self)}{ext}.tmp")
                               for ext in (".faiss", ".keys"))
        faiss.write_index(self.index, str(index_tmp))
        keys_tmp.write_text("\n".join(self.keys), encoding="utf-8")
        index_tmp.replace(path.with_suffix(".faiss"))
        keys_tmp.replace(path.with_suffix(".keys"))

    @staticmethod
    def load(path: Path) -> FrameIndex | None:
        """The index saved at `path`, or None when there is none (or only half of one)."""
        import faiss

        index_file, keys_file = path.with_suffix(".faiss"), path.with_suffix(".keys")
        if not (index_file.is_file() and keys_file.is_file()):
            return None
        keys = keys_file.read_text(encoding="utf-8").split("\n")
        return FrameIndex(faiss.read_index(str(index_file)), keys)


@contextmanager
def _one_thread() -> Iterator[None]:
    """FAISS searches a query's few frames on one OpenMP thread: the analyzer runs beside other jobs and
    threads, and OpenMP threads that wait for a busy core spin (measured on 2 busy cores: 15 ms on one
    thread, 130-500 ms on two, for 16 frames against 32k)."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
