"""Similarity index at scale: `index.FaissBackend` (exact while small, IVF-PQ when large, chosen by
size) against exact search, at 1k / 10k / 100k / 1M indexed images, in one process.

    .venv/bin/python -m bench.similarity_scale --quick                                # 1k and 60k, ~2 min
    .venv/bin/python -m bench.similarity_scale --dir /tmp --out docs/scale-bench.md   # up to 1M, ~10 min

The database is the real MobileNetV2-GeM descriptors of `bench.similarity`'s image set (its images
are generated and described once, then cached), filled up to each size with synthetic descriptors
from `bench.synthetic_descriptors`, fitted on the real ones. Queries: the real query images' own
descriptors (as is and mirrored, as `search` sends them), and synthetic draws. Exact search runs over
the same vectors 100k at a time (so a million never sits in memory at once): its time per query is
the sum over the chunks, its top 100 the truth that recall is measured against. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import publish
from bench.similarity import default_set
from bench.synthetic_descriptors import DescriptorModel
from plugins.similarity import index as index_module
from plugins.similarity.global_descriptor import GlobalDescriptor
from plugins.similarity.index import FaissBackend
from plugins.similarity.ivfpq import IvfPqIndex, IvfPqParams
from workbench.core.media import open_media

SIZES = (1_000, 10_000, 100_000, 1_000_000)
CHUNK = 100_000
"""Vectors generated, and searched exactly, at a time."""
K = 100
"""recall@K against exact search; `search` asks for its shortlist + 1 = 101."""


# -- vectors --------------------------------------------------------------------------------------


def real_descriptors(seed: int) -> tuple[Path, dict[str, np.ndarray]]:
    """Descriptors of the bench image set: database images, queries, mirrored queries (cached)."""
    data, manifest = default_set(seed)
    descriptor = GlobalDescriptor()
    cache = data / f"descriptors-{descriptor.kind}.npz"
    if cache.is_file():
        with np.load(cache) as stored:
            return data, {key: stored[key] for key in stored.files}
    print(f"describing {len(manifest['db'])} images and {len(manifest['queries'])} queries", flush=True)
    db = [descriptor.describe(open_media(data / e["file"]).pixels()) for e in manifest["db"]]
    queries, mirrored = [], []
    for entry in manifest["queries"]:
        rgb = open_media(data / entry["file"]).pixels()
        queries.append(descriptor.describe(rgb))
        mirrored.append(descriptor.describe(np.ascontiguousarray(rgb[:, ::-1])))
    arrays = {"db": np.stack(db), "queries": np.stack(queries), "mirrored": np.stack(mirrored)}
    np.savez(cache, **arrays)
    return data, arrays


@dataclass
class Database:
    """`size` vectors: the real ones first, then synthetic ones, generated CHUNK at a time (the same
    vectors on every pass); `generating` counts the seconds spent drawing them."""

    real: np.ndarray
    model: DescriptorModel
    size: int
    seed: int
    generating: float = 0.0

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, self.size, CHUNK):
            t0 = time.perf_counter()
            stop = min(self.size, start + CHUNK)
            real = self.real[start:stop]
            synthetic = self.model.sample(stop - start - len(real), np.random.default_rng([self.seed, 7, start]))
            vectors = np.ascontiguousarray(np.vstack([real, synthetic]), np.float32)
            self.generating += time.perf_counter() - t0
            yield np.arange(start, stop, dtype=np.int64), vectors


# -- measurements ---------------------------------------------------------------------------------


def set_threads(n: int) -> None:
    import faiss

    faiss.omp_set_num_threads(n)


def timed_pairs(search: Callable[[np.ndarray], Any], pairs: np.ndarray, threads: tuple[int, ...],
                before: Callable[[], None] | None = None) -> dict[int | str, list[float]]:
    """Seconds of `search` per query pair (as is + mirrored), each thread count in turn per pair;
    under "cpu", the process CPU seconds of the one-thread runs (what a busy machine does not inflate)."""
    times: dict[int | str, list[float]] = {n: [] for n in (*threads, "cpu")}
    search(pairs[0])  # warm-up
    for pair in pairs:
        for n in threads:
            set_threads(n)
            if before is not None:
                before()
            t0, c0 = time.perf_counter(), time.process_time()
            search(pair)
            times[n].append(time.perf_counter() - t0)
            if n == 1:
                times["cpu"].append(time.process_time() - c0)
    return times


def exact(db: Database, truth_queries: np.ndarray, pairs: np.ndarray,
          threads: tuple[int, ...]) -> tuple[np.ndarray, dict[int | str, list[float]]]:
    """The exact top K of every truth query, and the time of exact search per query pair: flat
    inner-product search over each chunk, merged (times summed over the chunks)."""
    import faiss

    best_sims = np.full((len(truth_queries), 0), -np.inf, np.float32)
    best_ids = np.zeros((len(truth_queries), 0), np.int64)
    total: dict[int | str, list[float]] = {n: [0.0] * len(pairs) for n in (*threads, "cpu")}
    for ids, vectors in db.chunks():
        flat = faiss.IndexFlatIP(vectors.shape[1])
        flat.add(vectors)
        set_threads(max(threads))
        sims, rows = flat.search(truth_queries, min(K, len(vectors)))
        best_sims, best_ids = np.hstack([best_sims, sims]), np.hstack([best_ids, ids[rows]])
        order = np.argsort(-best_sims, axis=1, kind="stable")[:, :K]
        best_sims, best_ids = np.take_along_axis(best_sims, order, 1), np.take_along_axis(best_ids, order, 1)
        for n, seconds in timed_pairs(lambda pair, f=flat: f.search(pair, K + 1), pairs, threads).items():
            total[n] = [a + b for a, b in zip(total[n], seconds, strict=True)]
    return best_ids, total


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the exact top K found in the top K."""
    return float(np.mean([len(np.intersect1d(f[:K], t)) / K for f, t in zip(found, truth, strict=True)]))


def drop_cache(backend: FaissBackend) -> Callable[[], None]:
    """Evict the vector file and its ids from the page cache (these files only; unmapped first, as
    the kernel keeps mapped pages): the re-scoring then reads the disk."""
    compressed = backend.compressed
    if compressed is None or not hasattr(os, "posix_fadvise"):
        return lambda: None
    files = compressed.vectors

    def drop() -> None:
        files.close()
        for path in (files.vectors_path, files.ids_path):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    return drop


def ms(seconds: list[float]) -> tuple[float, float]:
    return 1000 * statistics.median(seconds), 1000 * float(np.percentile(seconds, 95))


@dataclass
class Row:
    size: int
    kind: str
    build_s: float
    memory_b: float
    disk_b: float
    recall_real: float
    recall_synthetic: float
    ms: dict[int | str, tuple[float, float]]
    cold_ms: float | None
    exact_ms: dict[int | str, tuple[float, float]]


def measure(size: int, real: dict[str, np.ndarray], model: DescriptorModel, args: argparse.Namespace,
            folder: Path) -> tuple[Row, FaissBackend, np.ndarray, np.ndarray]:
    threads = tuple(sorted({1, args.threads}))
    db = Database(real["db"], model, size, args.seed)
    synthetic_queries = model.sample(args.synthetic_queries, np.random.default_rng([args.seed, 8]))
    truth_queries = np.vstack([real["queries"], synthetic_queries]).astype(np.float32)
    picks = np.linspace(0, len(real["queries"]) - 1, args.timed).round().astype(int)
    pairs = np.stack([real["queries"][picks], real["mirrored"][picks]], axis=1).astype(np.float32)
    print(f"{size:,} vectors: exact search", flush=True)
    truth, exact_times = exact(db, truth_queries, pairs, threads)
    print(f"{size:,} vectors: building the index", flush=True)
    set_threads(args.threads)
    db.generating = 0.0
    t0 = time.perf_counter()
    backend = FaissBackend.build(folder / f"scale-{size}.faiss", real["db"].shape[1], db.chunks(), size)
    build = time.perf_counter() - t0 - db.generating
    found = backend.search(truth_queries, K)[1]
    n_real = len(real["queries"])
    times = timed_pairs(lambda pair: backend.search(pair, K + 1), pairs, threads)
    cold = None
    if backend.compressed is not None:
        set_threads(args.threads)
        cold_times = timed_pairs(lambda pair: backend.search(pair, K + 1), pairs[: args.cold], (args.threads,),
                                 before=drop_cache(backend))
        cold = ms(cold_times[args.threads])[0]
    disk = sum(f.stat().st_size for p in folder.glob(f"scale-{size}*") for f in (p.rglob("*") if p.is_dir() else [p])
               if f.is_file())
    row = Row(size, backend.describe().split(";")[0], build, backend.memory_bytes() / size, disk / size,
              recall(found[:n_real], truth[:n_real]), recall(found[n_real:], truth[n_real:]),
              {n: ms(t) for n, t in times.items()}, cold, {n: ms(t) for n, t in exact_times.items()})
    print(f"  {row}", flush=True)
    return row, backend, truth_queries[:n_real], truth[:n_real]


def sweep(backend: FaissBackend, queries: np.ndarray, truth: np.ndarray, pairs: np.ndarray) -> list[str]:
    """recall@K of the real queries and latency (1 thread) at other shares of the lists probed and
    numbers of candidates re-scored."""
    assert backend.compressed is not None
    base = backend.compressed.params
    lines = ["| lists probed | re-scored | recall@100 | median ms | p95 ms | median CPU ms |",
             "|---:|---:|---:|---:|---:|---:|"]
    for share in (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2):
        for rerank in (300, 1000):
            params = dataclasses.replace(base, nprobe=max(1, round(base.nlist * share)), rerank=rerank)
            tuned = IvfPqIndex(backend.compressed.folder, params)
            found = tuned.search(queries, K)[1]
            times = timed_pairs(lambda pair, t=tuned: t.search(pair, K + 1), pairs, (1,))
            (median, p95), cpu = ms(times[1]), ms(times["cpu"])[0]
            mark = " (default)" if params == base else ""
            lines.append(f"| {params.nprobe} of {base.nlist}{mark} | {rerank} | {recall(found, truth):.3f} | "
                         f"{median:.1f} | {p95:.1f} | {cpu:.1f} |")
    return lines


# -- report ---------------------------------------------------------------------------------------


def scale_table(rows: list[Row], threads: int, dim: int) -> list[str]:
    head = ("| images | index (automatic) | build s | index memory B/image | disk B/image | recall@100 real "
            f"| recall@100 synthetic | 1 thread ms median (p95) | CPU ms | {threads} threads ms median (p95) "
            f"| cold cache ms | exact 1 thread ms median (p95) | exact CPU ms "
            f"| exact {threads} threads ms median (p95) | exact B/image |")
    lines = [head, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        cold = f"{r.cold_ms:.1f}" if r.cold_ms is not None else "–"
        lines.append(
            f"| {r.size:,} | {r.kind} | {r.build_s:.1f} | {r.memory_b:,.0f} | {r.disk_b:,.0f} | {r.recall_real:.3f} "
            f"| {r.recall_synthetic:.3f} | {r.ms[1][0]:.1f} ({r.ms[1][1]:.1f}) | {r.ms['cpu'][0]:.1f} "
            f"| {r.ms[threads][0]:.1f} ({r.ms[threads][1]:.1f}) | {cold} "
            f"| {r.exact_ms[1][0]:.1f} ({r.exact_ms[1][1]:.1f}) | {r.exact_ms['cpu'][0]:.1f} "
            f"| {r.exact_ms[threads][0]:.1f} ({r.exact_ms[threads][1]:.1f}) | {4 * dim + 8:,} |")
    return lines


def memory_table(dim: int) -> list[str]:
    """In-memory bytes of the compressed index by part, from its parameters, up to 100M vectors."""
    lines = ["| images | lists | codes | ids | centroids | PCA + codebooks | total | per image | exact (flat) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in (1_000_000, 10_000_000, 100_000_000):
        p = IvfPqParams.for_size(n, dim)
        parts = [n * p.code_bytes, n * 8, p.nlist * p.reduced * 4,
                 p.reduced * dim * 4 + p.reduced * 4 + p.subquantizers * 16 * (p.reduced // p.subquantizers) * 4]
        total = sum(parts)
        lines.append(f"| {n:,} | {p.nlist:,} | " + " | ".join(_bytes(b) for b in parts)
                     + f" | {_bytes(total)} | {total / n:.1f} B | {_bytes(n * (4 * dim + 8))} |")
    return lines


def _peak_gb() -> float:
    """Peak resident memory of this process (Linux reports kilobytes, macOS bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1e9 if sys.platform == "darwin" else 1e6)


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            break
        n /= 1000
    return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="indexed images (default 1000,10000,100000,1000000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="the second thread count timed (default 2)")
    parser.add_argument("--timed", type=int, default=50, help="query pairs timed per size (default 50)")
    parser.add_argument("--cold", type=int, default=10, help="of them, timed with the vector file out of the "
                        "page cache (default 10)")
    parser.add_argument("--synthetic-queries", type=int, default=200, help="synthetic queries for recall (200)")
    parser.add_argument("--quick", action="store_true", help="sizes 1000 and 60000, 20 query pairs")
    parser.add_argument("--dir", type=Path, help="where the indexes are built (default: a temporary folder)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.timed = args.sizes or "1000,60000", 20
    sizes = [int(s) for s in (args.sizes or ",".join(map(str, SIZES))).split(",")]
    started, load_start = time.perf_counter(), os.getloadavg()
    data, real = real_descriptors(args.seed)
    model = DescriptorModel.fit(real["db"], args.seed)
    rows, sweep_lines = [], []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for size in sizes:
            row, backend, queries, truth = measure(size, real, model, args, Path(tmp))
            rows.append(row)
            if size == max(sizes) and backend.compressed is not None:
                picks = np.linspace(0, len(real["queries"]) - 1, args.timed).round().astype(int)
                pairs = np.stack([real["queries"][picks], real["mirrored"][picks]], axis=1).astype(np.float32)
                sweep_lines = sweep(backend, queries, truth, pairs)
            FaissBackend.delete(Path(tmp) / f"scale-{size}.faiss")
    dim = real["db"].shape[1]
    import faiss

    report = "\n".join([
        "# Similarity index at scale", "",
        f"- `{' '.join(['.venv/bin/python -m bench.similarity_scale', *(sys.argv[1:] if argv is None else argv)])}`"
        f", seed {args.seed}; "
        f"run time {time.perf_counter() - started:.0f} s, peak memory {_peak_gb():.1f} GB; "
        f"load average {load_start[0]:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} logical CPUs ({platform.machine()}); "
        f"FAISS {faiss.__version__}, numpy {np.__version__}.",
        f"- Real descriptors: {len(real['db']):,} database images and {len(real['queries'])} queries of "
        f"`bench.similarity`'s image set (`{data.name}`), MobileNetV2-GeM, {dim}-d; the rest synthetic "
        f"(`bench.synthetic_descriptors`). Exact top 100 by flat inner-product search.",
        f"- Automatic choice: exact up to {index_module.EXACT_MAX_VECTORS:,} vectors, IVF-PQ beyond. Latency: "
        f"one query = 2 vectors (as is + mirrored) for the best {K + 1}, median (p95) of {args.timed} real queries; "
        f"cold cache: the vector file evicted from the page cache before each of {args.cold} queries. recall@100: "
        f"share of the exact top 100 found, mean over {len(real['queries'])} real and {args.synthetic_queries} "
        "synthetic queries. Build: training and adding (vector generation excluded). Memory: the FAISS index "
        "serialised (`faiss.serialize_index`) per image; disk: index + exact vectors per image.", "",
        "## Scale table", "",
        *scale_table(rows, args.threads, dim), "",
        "## Lists probed and candidates re-scored", "",
        f"At {max(sizes):,} images, 1 thread, real queries:" if sweep_lines else "No compressed index was built.", "",
        *sweep_lines, "",
        "## Memory of the compressed index by part (from its parameters)", "",
        *memory_table(dim), "",
    ])
    publish(report + "\n", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
