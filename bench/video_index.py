"""Shortlisting reference videos for a query at scale: the frame index (`video_frame_index`) against
comparing the query with each reference in turn (what the analyzer did before it), on synthetic
descriptors, for 1k and 10k reference videos. Part of `bench/video_copy.py`'s report; runs alone too:

    .venv/bin/python -m bench.video_index --videos 1000,10000

Descriptors: each reference is a slow random walk on the unit sphere (`FRAMES` frames of `DIM`
dimensions: one frame a second of a short video, descriptors reduced to 256 dimensions, which keeps
10k videos in about 0.3 GB); a query is 8 frames of one reference with noise (cosine about 0.9 to
the originals) between 8 frames of its own. Times are for the whole query (all its frames), median of
`QUERIES` queries (each the best of 3 runs: the machine is shared). The one-by-one comparison is
timed twice: with every reference's descriptors already in memory, and reading each reference's
descriptor file as the analyzer did before the index (`VideoFeatures.load`, files just written, so
from the page cache; on a few queries: it is slow).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.report import publish
from plugins.similarity.video_copy_features import VideoFeatures
from plugins.similarity.video_frame_index import IVF_PROBES, FrameIndex

FRAMES, DIM, QUERIES, CANDIDATES, FILE_QUERIES = 32, 256, 20, 20, 3


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def references(n: int, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    start = rng.normal(size=(n, 1, DIM))
    walk = np.cumsum(rng.normal(scale=0.25, size=(n, FRAMES, DIM)), axis=1)
    vectors = _unit(start + walk)
    return [(f"ref{k:05d}", vectors[k]) for k in range(n)]


def queries(videos: list[tuple[str, np.ndarray]], rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    out = []
    for _ in range(QUERIES):
        key, vectors = videos[int(rng.integers(len(videos)))]
        start = int(rng.integers(FRAMES - 8))
        copied = _unit(vectors[start : start + 8] + rng.normal(scale=0.5 / np.sqrt(DIM), size=(8, DIM)))
        out.append((key, np.concatenate([_unit(rng.normal(size=(8, DIM))), copied])))
    return out


def one_by_one(videos: list[tuple[str, np.ndarray]], query: np.ndarray, wanted: int) -> list[tuple[str, float]]:
    """The baseline: the query's frames against each reference's, best frame similarity per reference."""
    scores = [float((query @ vectors.T).max()) for _, vectors in videos]
    order = np.argsort(scores)[::-1][:wanted]
    return [(videos[k][0], scores[k]) for k in order]


def from_files(files: list[tuple[str, Path]], query: np.ndarray, wanted: int) -> list[tuple[str, float]]:
    """The analyzer before the index: each reference's descriptors read from its file, then compared."""
    return one_by_one([(key, VideoFeatures.load(path).vectors) for key, path in files], query, wanted)


def run(sizes: list[int], emit: Callable[[str], None], seed: int = 0) -> None:
    emit(f"Synthetic descriptors: {FRAMES} frames of {DIM} dimensions a reference video, {QUERIES} queries of "
         f"16 frames (8 copied from one reference, with noise); shortlist of {CANDIDATES}; a reference is found "
         f"when it is in the shortlist. Median time per query; ratio = one by one / index.")
    emit("")
    emit("| reference videos (frames) | method | build s | ms per query | × vs one by one | found | first |")
    emit("|---|---|---:|---:|---:|---:|---:|")
    for n in sizes:
        rng = np.random.default_rng(seed + n)
        videos = references(n, rng)
        asked = queries(videos, rng)
        baseline = _measure(lambda q, videos=videos: one_by_one(videos, q, CANDIDATES), asked)
        emit(_row(n, "one by one, descriptors in memory (baseline)", None, baseline, baseline[0]))
        with tempfile.TemporaryDirectory() as tmp:
            files = _written(videos, Path(tmp))
            read = _measure(lambda q, files=files: from_files(files, q, CANDIDATES), asked[:FILE_QUERIES], runs=1)
            emit(_row(n, f"one by one, reading each descriptor file ({FILE_QUERIES} queries)", None, read,
                      baseline[0]))
        for name, ivf_from in (("frame index, exact (flat)", 10**12), (f"frame index, IVF (nprobe {IVF_PROBES})", 0)):
            built, index = _timed(lambda ivf_from=ivf_from, videos=videos: FrameIndex.build(videos, ivf_from=ivf_from))
            emit(_row(n, name, built, _measure(lambda q, index=index: index.shortlist(q, CANDIDATES), asked),
                      baseline[0]))
            del index
            gc.collect()
    emit("")


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def _written(videos: list[tuple[str, np.ndarray]], folder: Path) -> list[tuple[str, Path]]:
    files = []
    for key, vectors in videos:
        path = folder / f"{key}.npz"
        VideoFeatures("bench", np.arange(len(vectors), dtype=np.float32), vectors, float(len(vectors)), 0).save(path)
        files.append((key, path))
    return files


def _measure(shortlist: Callable[[np.ndarray], list[tuple[str, float]]],
             asked: list[tuple[str, np.ndarray]], runs: int = 3) -> tuple[float, float, float]:
    """(median over queries of the best of `runs` seconds, fraction found in the shortlist, found first)."""
    times, found, first = [], 0, 0
    shortlist(asked[0][1])  # warm-up: the first search allocates
    for key, query in asked:
        measured = [_timed(lambda query=query: shortlist(query)) for _ in range(runs)]
        elapsed, listed = min(m[0] for m in measured), measured[0][1]
        times.append(elapsed)
        keys = [k for k, _ in listed]
        found += key in keys
        first += bool(keys) and keys[0] == key
    return statistics.median(times), found / len(asked), first / len(asked)


def _row(n: int, name: str, built: float | None, measured: tuple[float, float, float], baseline: float) -> str:
    seconds, found, first = measured
    return (f"| {n:,} ({n * FRAMES:,}) | {name} | {'' if built is None else f'{built:.1f}'} | {seconds * 1000:.1f} | "
            f"{baseline / seconds:.2g} | {found:.0%} | {first:.0%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", default="1000,10000", help="numbers of reference videos (default 1000,10000)")
    parser.add_argument("--out", help="write the Markdown table here")
    args = parser.parse_args()
    lines: list[str] = []
    run([int(v) for v in args.videos.split(",")], lines.append)
    publish("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
