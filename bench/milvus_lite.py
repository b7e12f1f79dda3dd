"""The Milvus backend on Milvus Lite against the FAISS exact backend, at a few collection sizes.

    .venv/bin/python -m bench.milvus_lite                        # 1k, 10k, 50k: about 2 min
    .venv/bin/python -m bench.milvus_lite --sizes 1000,10000,50000,100000   # about 4 min, 4 GB peak

Milvus Lite is a pure-Python Milvus for tests and small local collections: these figures say what
an analyst with a Lite database gets, not what a Milvus server or cluster does (no server could be
run here). Vectors: random unit vectors around 500 centres, at the descriptor's 1280 dimensions.
A query is two vectors (as is and mirrored, as `search` sends them) for the best 101. Adding goes
through `MilvusBackend.add` a described batch (`CPU_BATCH`) at a time and `save`, as indexing does. FAISS
searches with one thread. Nothing is asserted; the last column checks that both backends return the
same neighbours.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from plugins.similarity.image_pipeline import CPU_BATCH
from plugins.similarity.index import FaissBackend
from plugins.similarity.milvus_backend import MilvusBackend

DIM, K = 1280, 101
SIZES = (1_000, 10_000, 50_000)


def vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(500, DIM))
    x = centres[rng.integers(0, len(centres), n)] + 1.5 * rng.normal(size=(n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def timed(search: object, pairs: list[np.ndarray]) -> tuple[float, float]:
    """Median and 95th percentile milliseconds of a search per query pair."""
    times = []
    for pair in pairs:
        start = time.perf_counter()
        search(pair, K)  # type: ignore[operator]
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times), float(np.percentile(times, 95))


def measure(size: int, folder: Path, queries: int) -> str:
    import faiss

    faiss.omp_set_num_threads(1)  # one query at a time, as the CLI and the panel search
    data, ids = vectors(size, 1), np.arange(size, dtype=np.int64)
    pairs = [vectors(2, 100 + i) for i in range(queries)]
    faiss = FaissBackend(folder / f"global-{size}.faiss", DIM)
    faiss.add(ids, data)
    start = time.perf_counter()
    milvus = MilvusBackend(str(folder / f"lite-{size}.db"), f"bench_{size}", DIM)
    for part in range(0, size, CPU_BATCH):  # as indexing adds: a described batch at a time
        milvus.add(ids[part : part + CPU_BATCH], data[part : part + CPU_BATCH])
    milvus.save()
    searchable = len(milvus) == size  # Lite flushes before the first read: part of the cost of adding
    add_s = time.perf_counter() - start
    same = searchable and all(np.array_equal(milvus.search(p, K)[1], faiss.search(p, K)[1]) for p in pairs[:5])
    lite_ms, lite_p95 = timed(milvus.search, pairs)
    exact_ms, exact_p95 = timed(faiss.search, pairs)
    disk = sum(f.stat().st_size for f in (folder / f"lite-{size}.db").rglob("*") if f.is_file())
    milvus.close()
    return (f"| {size:,} | {size / add_s:,.0f} /s | {lite_ms:.1f} ms ({lite_p95:.1f}) | {exact_ms:.1f} ms "
            f"({exact_p95:.1f}) | {disk / size:,.0f} B | {'yes' if same else 'NO'} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="collection sizes (default 1000,10000,50000)")
    parser.add_argument("--queries", type=int, default=30, help="query pairs timed per size (default 30)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else SIZES
    print("| vectors | adding, until searchable | Milvus Lite FLAT: median (p95) | FAISS exact: median (p95) "
          "| Lite on disk per vector | same top 101 |")
    print("|---:|---:|---:|---:|---:|:---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            print(measure(size, Path(tmp), args.queries), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
