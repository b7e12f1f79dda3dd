"""Re-ranker cost: CPU latency of a query that re-ranks a 100-image shortlist, and memory per image,
for RootSIFT verification, AMES and LOCORE, each through `plugins.similarity.search.search` exactly
as the app runs it, against the global-only query on the same collection.

    .venv/bin/python -m bench.rerank_cost --out cost.md         # ~5-15 min on 2 cores
    .venv/bin/python -m bench.similarity --rerank-cost ...       # the same, as a section of that bench

The collection holds 100 random views (512-px long side) of the photos installed packages ship; the
query is another view of the first photo. RootSIFT features are the images' own. The learned
re-rankers' stored descriptors are those of one real database image, given to every image: their
cost does not depend on the values, and extracting 100 images with DINOv2 on a CPU would take far
longer than the query being measured (the per-image extraction time is reported instead).

Weights: the files installed in the user's model store where there are; otherwise randomly
initialised networks of the published architectures, saved in the published layouts and installed
in a temporary store (the user's folder is never written). Random networks cost the same time and
memory as the real ones but rank nothing: no ranking is measured or reported here.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.report import publish
from plugins.similarity.collection import Collection
from plugins.similarity.features import LocalFeatures
from plugins.similarity.local import sift_features
from plugins.similarity.search import CANDIDATE_KEYPOINTS, Query, Rerank, search
from workbench.core.models import ModelStore
from workbench.core.plugin import RunContext
from workbench.synthetic.photos import load, random_view, source_photos

SHORTLIST = 100
LONG_SIDE = 512
"""Long side of the database views (as the similarity bench's images)."""


@dataclass
class Cost:
    """One re-ranker's row: times of the whole query (`search`, k = shortlist), process CPU times,
    peak extra resident memory during the query, bytes stored per database image and read per
    candidate, seconds to extract one image's descriptors (at indexing, and for the query)."""

    rerank: Rerank
    weights: str
    wall_s: list[float]
    cpu_s: list[float]
    peak_mb: list[float]
    stored_bytes: int
    read_bytes: int
    extract_s: float
    passes: int = 0


# -- memory ------------------------------------------------------------------------------------
def _status_kb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def peak_extra_mb(fn: Callable[[], Any]) -> float:
    """Resident memory above the level before `fn`, at its peak (Linux: resets the high-water mark
    through /proc/self/clear_refs); NaN where that is not available."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        before = _status_kb("VmRSS")
    except OSError:
        fn()
        return float("nan")
    fn()
    return (_status_kb("VmHWM") - before) / 1024


# -- the store ---------------------------------------------------------------------------------
def learned_store(folder: Path) -> dict[str, str]:
    """A model store in `folder` holding the three files of AMES and of LOCORE: the user's installed
    file where there is one (registered in place, not copied), otherwise a randomly initialised
    network saved in the published layout. Returns how each model id was provided."""
    import torch

    from plugins.similarity import ames, ames_net, dinov2, locore, locore_net

    user = ModelStore()
    folder.mkdir(parents=True, exist_ok=True)
    store = ModelStore(user_dir=folder)
    random_nets: dict[str, Callable[[], tuple[Any, str | None]]] = {
        ames.AMES_ID: lambda: (ames_net.build("dinov2_fp"), "state"),
        ames.BACKBONE_ID: lambda: (dinov2.build_backbone(init=True), None),
        ames.DETECTOR_ID: lambda: (dinov2.SpatialAttention2d(768), "state"),
        locore.LOCORE_ID: lambda: (locore_net.build(init=True), None),
    }
    how = {}
    for model_id, make in random_nets.items():
        status = user.status(model_id)
        if status.installed and status.path is not None:
            store.install(model_id, status.path, copy=False)
            how[model_id] = "installed file"
            continue
        torch.manual_seed(0)
        net, wrapper = make()
        path = folder / f"random-{store.manifest(model_id).weights}"
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(net.state_dict(), str(path), metadata={"format": "pt"})
        else:
            torch.save(net.state_dict() if wrapper is None else {wrapper: net.state_dict()}, path)
        store.install(model_id, path, copy=False)
        how[model_id] = "random weights"
    return how


# -- the image set -----------------------------------------------------------------------------
def image_set(folder: Path, seed: int) -> tuple[list[Path], np.ndarray]:
    """SHORTLIST database views written as JPEGs, and the query view."""
    photos = source_photos()
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(SHORTLIST):
        view = random_view(load(photos[n % len(photos)]), rng, (LONG_SIDE // 2, LONG_SIDE))
        paths.append(folder / f"{n:03d}.jpg")
        Image.fromarray(np.ascontiguousarray(view)).save(paths[-1], quality=90)
    return paths, np.ascontiguousarray(random_view(load(photos[0]), rng, (LONG_SIDE // 2, LONG_SIDE)))


def _nbytes(arrays: dict[str, np.ndarray]) -> int:
    return int(sum(a.nbytes for a in arrays.values()))


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


# -- the measurement ---------------------------------------------------------------------------
def measure(work: Path, repeat: int, seed: int) -> tuple[dict[str, str], list[Cost], list[float], int]:
    """Costs of SIFT, AMES and LOCORE queries and the global-only query times, on one collection."""
    from plugins.similarity.ames import DB_LEN, AmesReranker
    from plugins.similarity.ames import KIND as AMES_KIND
    from plugins.similarity.locore import KIND as LOCORE_KIND
    from plugins.similarity.locore import LocoreReranker, window_starts

    how = learned_store(work / "data" / "models")
    os.environ["WORKBENCH_DATA_DIR"] = str(work / "data")  # `search` opens the default store: this one
    paths, query_rgb = image_set(work / "db", seed)
    ames, loc = AmesReranker(), LocoreReranker()
    first = np.asarray(Image.open(paths[0]).convert("RGB"))
    ames.extract(first)  # loads the backbone and detector outside the timing
    ames_s, ames_feats = _timed(lambda: ames.extract(first))
    loc_s, loc_feats = _timed(lambda: loc.extract(first))
    print(f"  one image's descriptors: AMES {ames_s:.1f} s, LOCORE {loc_s:.1f} s", flush=True)
    extra: dict[str, Callable[[np.ndarray], LocalFeatures]] = {AMES_KIND: lambda rgb: ames_feats,
                                                               LOCORE_KIND: lambda rgb: loc_feats}
    coll = Collection(work / "collection")
    report = coll.add(paths, extra_extractors=extra)
    if report.failed:
        raise RuntimeError(f"indexing failed: {report.failed}")
    sift_sizes = [_nbytes({k: v for k, v in coll.features(item.id).items() if k.startswith("rootsift.")})
                  for item in coll.items()]
    sift_read = [min(len(f), CANDIDATE_KEYPOINTS) * f.desc.shape[1] * f.desc.itemsize
                 for item in coll.items() if (f := coll.local_features(item.id, "rootsift")) is not None]
    query = Query(query_rgb, "query")
    ames.logits(ames_feats, [ames_feats])  # loads AMES
    loc.logits(loc_feats, [loc_feats])  # loads LOCORE (a one-image pass)
    modes = [Rerank.NONE, Rerank.SIFT, Rerank.AMES, Rerank.LOCORE]
    walls: dict[Rerank, list[float]] = {m: [] for m in modes}
    cpus: dict[Rerank, list[float]] = {m: [] for m in modes}
    peaks: dict[Rerank, list[float]] = {m: [] for m in modes}
    for r in range(repeat):
        for mode in modes:  # interleaved: every mode sees the same load
            c0, t0 = time.process_time(), time.perf_counter()
            peak = peak_extra_mb(lambda m=mode: search(coll, query, SHORTLIST, SHORTLIST, m, RunContext()))
            walls[mode].append(time.perf_counter() - t0)
            cpus[mode].append(time.process_time() - c0)
            peaks[mode].append(peak)
            print(f"  round {r + 1}/{repeat} {mode.value}: {walls[mode][-1]:.1f} s", flush=True)
    coll.close()
    query_sift_s = statistics.median([_timed(lambda: sift_features(query_rgb))[0] for _ in range(3)])
    d = ames_feats.desc.shape[1]
    costs = [
        Cost(Rerank.SIFT, "none (classical)", walls[Rerank.SIFT], cpus[Rerank.SIFT], peaks[Rerank.SIFT],
             int(statistics.median(sift_sizes)), int(statistics.median(sift_read)), query_sift_s),
        Cost(Rerank.AMES, _weights(how, ("ames_dinov2", "dinov2_vitb14_reg", "ames_detector_dinov2")),
             walls[Rerank.AMES], cpus[Rerank.AMES], peaks[Rerank.AMES], _nbytes(ames_feats.to_arrays(AMES_KIND)),
             min(len(ames_feats), DB_LEN) * d * ames_feats.desc.itemsize, ames_s),
        Cost(Rerank.LOCORE, _weights(how, ("locore_base", "dinov2_vitb14_reg", "ames_detector_dinov2")),
             walls[Rerank.LOCORE], cpus[Rerank.LOCORE], peaks[Rerank.LOCORE], _nbytes(loc_feats.to_arrays(LOCORE_KIND)),
             (len(loc_feats) + 1) * d * loc_feats.desc.itemsize, loc_s, len(window_starts(SHORTLIST))),
    ]
    return how, costs, walls[Rerank.NONE], len(paths)


def _weights(how: dict[str, str], ids: tuple[str, ...]) -> str:
    kinds = {how[i] for i in ids}
    return kinds.pop() if len(kinds) == 1 else ", ".join(f"{i}: {how[i]}" for i in ids)


# -- report ------------------------------------------------------------------------------------
def cost_lines(costs: list[Cost], global_wall: list[float], n_db: int, repeat: int) -> list[str]:
    import torch

    g = statistics.median(global_wall)
    names = {Rerank.SIFT: "RootSIFT + RANSAC verification", Rerank.AMES: "AMES (DINOv2)",
             Rerank.LOCORE: "LOCORE (DINOv2, base)"}
    lines = [
        f"One query re-ranking a {SHORTLIST}-image shortlist of a {n_db}-image collection, through `search` "
        f"(k = {SHORTLIST}; query decoding excluded, the query's own descriptors included), median of {repeat} "
        f"interleaved rounds, {torch.get_num_threads()} torch threads on {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), load average {os.getloadavg()[0]:.1f} at the end. "
        f"The global-only query on the same collection: median {g:.2f} s.",
        "",
        "| re-ranker | weights | query s (median) | CPU s | × global-only | peak extra memory MB | "
        "stored per image KB | read per candidate KB | one image's descriptors s | forward passes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in costs:
        wall = statistics.median(c.wall_s)
        lines.append(
            f"| {names[c.rerank]} | {c.weights} | {wall:.2f} | {statistics.median(c.cpu_s):.1f} | {wall / g:.0f} | "
            f"{statistics.median(c.peak_mb):.0f} | {c.stored_bytes / 1024:.0f} | {c.read_bytes / 1024:.1f} | "
            f"{c.extract_s:.2f} | {c.passes or '–'} |")
    lines += [
        "",
        "Stored per image: the arrays each re-ranker keeps with every database image (RootSIFT: up to 1,000 "
        "keypoints, float16 descriptors, median over the collection; AMES: 700 tokens, float16; LOCORE: 48 "
        "tokens and the global token, float32, as the authors store them). Read per candidate: the descriptors "
        f"a query reads of each shortlisted image (RootSIFT: the strongest {CANDIDATE_KEYPOINTS}; AMES: 50; "
        "LOCORE: 48 + 1). One image's descriptors: the extraction every database image costs at indexing and "
        "the query costs in every query (RootSIFT on the query view, the others on a database view). Peak extra "
        "memory: resident memory above the level before the query (networks already loaded). LOCORE reads the "
        "whole shortlist in one pass of (1 + 100) × 50 = 5,050 tokens; the authors' 400-image shortlist takes "
        "7 such passes (windows of 100, 50 apart, end to start).",
    ]
    return lines


def section(repeat: int, seed: int) -> list[str]:
    """The Markdown lines of the measurement (run in a temporary folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        previous = os.environ.get("WORKBENCH_DATA_DIR")
        try:
            how, costs, glob, n_db = measure(Path(tmp), repeat, seed)
        finally:
            if previous is None:
                os.environ.pop("WORKBENCH_DATA_DIR", None)
            else:
                os.environ["WORKBENCH_DATA_DIR"] = previous
    note = ("Learned networks: " + ", ".join(f"`{k}` {v}" for k, v in how.items())
            + (". Random weights cost the same time and memory as the published files but rank nothing: no "
               "ranking is measured here." if "random weights" in how.values() else "."))
    return [*cost_lines(costs, glob, n_db, repeat), "", note]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2, help="rounds of the four queries (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: one per core)")
    parser.add_argument("--out", type=Path, help="also write the Markdown report to this file")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    lines = ["# Re-ranker cost", "", *section(args.repeat, args.seed), "",
             f"Bench run time {time.perf_counter() - started:.0f} s."]
    publish("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
