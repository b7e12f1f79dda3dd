"""Video copy detection bench: generated reference videos and transformed copies of their parts
(trim, insertion into other footage, speed ×2 / ×0.5, crop, captions, low-quality re-encode,
mirror, and 8 s re-used from a 20-s reference at another frame rate) among distractor videos; VSC
2022 μAP and segment AP, localisation errors and temporal IoU on both axes per copy, throughput of
decoding + descriptors, and the shortlisting of references through the frame index at 1k / 10k
synthetic references (`bench/video_index.py`), against baselines in the same process.

    .venv/bin/python -m bench.video_copy --quick                          # smoke run, ~1-2 min
    .venv/bin/python -m bench.video_copy --out docs/video-copy-bench.md   # ~4-6 min on 2 busy cores

Videos are generated into a temporary folder (`--data DIR` keeps them) from the photos that
installed packages ship: each "scene" is a slow camera move over one half of one photo
(`workbench.synthetic.videos.camera_move`), 640×480 at 25 fps. Reference videos are two scenes of
the reference photos, written as MJPG `.avi`; queries are written as MPEG-4 Part 2 `.mp4` (every
copy is therefore re-encoded MJPG → mp4v). Distractor queries and the footage copies are inserted
into come from other photos, so no query shares a scene with a reference it does not copy. The
re-use family (issue 17) has references of their own: 20 s at 30 fps, three shots of opencv-doc's
photos (left out, with a note, where opencv-doc is not installed); each query is the reference's
5–13 s cropped, captioned and rescaled to 480×360 at 25 fps.
Nothing is asserted; numbers are printed with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from unittest.mock import patch

import cv2
import numpy as np

from bench import video_index
from bench.report import publish
from plugins.similarity.temporal_alignment import AlignmentParams, Match, segment_span, temporal_network
from plugins.similarity.video_copy import VideoCopyAnalyzer, store_for
from plugins.similarity.video_copy_features import (
    Sampling,
    VideoFeatures,
    core_left_for_decoding,
    describe_video,
    similarity_matrix,
)
from plugins.similarity.video_metrics import SegmentMatch, micro_average_precision, segment_average_precision
from workbench.core.device import usable_cores
from workbench.core.media import open_media
from workbench.core.plugin import RunContext, run_analyzer
from workbench.core.results import Segments
from workbench.synthetic.photos import load, source_photos
from workbench.synthetic.videos import camera_move, write_video

FPS, SIZE, SHOT_S = 25.0, (640, 480), 8.0
REFERENCE_PHOTOS = ("astronaut", "chelsea", "coffee", "hubble_deep_field", "motorcycle_left", "rocket", "camera",
                    "coins")
OUTSIDE_PHOTOS = ("ihc", "retina", "brick", "grass", "gravel", "moon")
"""Photos of the distractor queries and of the footage copies are inserted into (never in a reference)."""
FAMILIES = ("trim", "insert", "speed x2", "speed x0.5", "crop", "captions", "low quality", "mirror")
THRESHOLDS = (0.7, 0.75, 0.8, 0.85, 0.9)
EVERY_S = 1.0
"""The analyzer's default frame interval, which the bench uses."""
REUSE = "re-use 8 s of 20 s"
REUSE_PHOTOS = (("building", "squirrel_cls", "fruits"), ("butterfly", "home", "orange"))
"""The three shots (8, 6, 6 s) of each 20-s reference of the re-use family (opencv-doc's photos)."""
REUSE_SHOT_S, REUSE_FPS, REUSE_SPAN_S, REUSE_SIZE = (8.0, 6.0, 6.0), 30.0, (5.0, 13.0), (480, 360)


@dataclass(frozen=True)
class Scene:
    photo: str
    half: int
    seed: int

    def frames(self, seconds: float = SHOT_S, fps: float = FPS) -> list[np.ndarray]:
        """A camera move over one half (left/right, or top/bottom for a tall photo) of the photo."""
        rgb = load(next(p for p in source_photos() if p.stem == self.photo))
        h, w = rgb.shape[:2]
        half = (rgb[:, : w // 2], rgb[:, w // 2 :]) if w >= h else (rgb[: h // 2], rgb[h // 2 :])
        return camera_move(np.ascontiguousarray(half[self.half]), seconds, fps, SIZE, self.seed)


@dataclass
class Query:
    name: str
    family: str
    path: Path
    truth: list[SegmentMatch] = field(default_factory=list)


def reference_scenes(n: int) -> list[tuple[Scene, Scene]]:
    """Two scenes per reference: the two halves of one photo (like two shots of one place), so no two
    references share a photo."""
    if n > len(REFERENCE_PHOTOS):
        raise ValueError(f"at most {len(REFERENCE_PHOTOS)} references (one reference photo each)")
    return [(Scene(photo, 0, 2 * k), Scene(photo, 1, 2 * k + 1)) for k, photo in enumerate(REFERENCE_PHOTOS[:n])]


def reference_frames(scenes: tuple[Scene, Scene], start: int, end: int) -> list[np.ndarray]:
    """Frames [start, end) of a reference, generating only the scenes they fall in."""
    per_shot = round(SHOT_S * FPS)
    out: list[np.ndarray] = []
    for k, scene in enumerate(scenes):
        lo, hi = max(start, k * per_shot), min(end, (k + 1) * per_shot)
        if lo < hi:
            out += scene.frames()[lo - k * per_shot : hi - k * per_shot]
    return out


def outside(rng: np.random.Generator, seconds: float) -> list[np.ndarray]:
    return Scene(str(rng.choice(OUTSIDE_PHOTOS)), int(rng.integers(2)), int(rng.integers(1000, 9999))).frames(seconds)


def make_dataset(folder: Path, n_references: int, per_family: int, n_distractors: int,
                 seed: int) -> tuple[list[Path], list[Query]]:
    rng = np.random.default_rng(seed)
    scenes = reference_scenes(n_references)
    references = []
    for k, pair in enumerate(scenes):
        frames = (f for scene in pair for f in scene.frames())
        references.append(write_video(folder / f"ref{k:02d}.avi", frames, FPS))
    queries, total = [], round(2 * SHOT_S * FPS)
    for family in FAMILIES:
        for n in range(per_family):
            k = int(rng.integers(n_references))
            name = f"q-{family.replace(' ', '')}-{n}"
            frames, truth = transformed(family, scenes[k], total, rng)
            path = write_video(folder / f"{name}.mp4", frames, FPS)
            queries.append(Query(name, family, path,
                                 [SegmentMatch(name, references[k].stem, *(t / FPS for t in truth))]))
    available = {p.stem for p in source_photos()}
    for n, photos in enumerate(REUSE_PHOTOS[:per_family]):
        if available.issuperset(photos):
            reference, query = reuse_case(folder, len(references), n, photos)
            references.append(reference)
            queries.append(query)
    for n in range(n_distractors):
        name = f"q-distractor-{n}"
        queries.append(Query(name, "distractor", write_video(folder / f"{name}.mp4",
                                                             outside(rng, 5.0) + outside(rng, 5.0), FPS)))
    return references, queries


def reuse_case(folder: Path, k: int, n: int, photos: tuple[str, ...]) -> tuple[Path, Query]:
    """Issue 17's case: a 20-s reference at 30 fps (three shots) and a query of its 5–13 s, cropped,
    captioned and rescaled, at 25 fps (each query frame the reference frame nearest its instant)."""
    shots = [Scene(photo, 0, 100 * (n + 1) + s).frames(seconds, REUSE_FPS)
             for s, (photo, seconds) in enumerate(zip(photos, REUSE_SHOT_S, strict=True))]
    frames = [f for shot in shots for f in shot]
    reference = write_video(folder / f"ref{k:02d}.avi", frames, REUSE_FPS)
    start, end = REUSE_SPAN_S
    copied = (frames[min(round((start + i / FPS) * REUSE_FPS), len(frames) - 1)]
              for i in range(round((end - start) * FPS)))
    name = f"q-reuse-{n}"
    path = write_video(folder / f"{name}.mp4", (cv2.resize(edit("captions", edit("crop", f)), REUSE_SIZE,
                                                           interpolation=cv2.INTER_AREA) for f in copied), FPS)
    return reference, Query(name, REUSE, path, [SegmentMatch(name, reference.stem, 0.0, end - start, start, end)])


def transformed(family: str, scenes: tuple[Scene, Scene], total: int,
                rng: np.random.Generator) -> tuple[list[np.ndarray], tuple[int, int, int, int]]:
    """A transformed excerpt and its truth in frames: (query start, end, reference start, end)."""
    length = {"insert": 6.0, "speed x2": 12.0, "speed x0.5": 5.0}.get(family, 8.0)
    n = round(length * FPS)
    start = int(rng.integers(0, total - n))
    excerpt = reference_frames(scenes, start, start + n)
    if family == "insert":
        before = outside(rng, 3.0)
        return before + excerpt + outside(rng, 3.0), (len(before), len(before) + n, start, start + n)
    if family == "speed x2":
        return excerpt[::2], (0, len(excerpt[::2]), start, start + n)
    if family == "speed x0.5":
        return [f for f in excerpt for _ in range(2)], (0, 2 * n, start, start + n)
    frames = [edit(family, f) for f in excerpt]
    return frames, (0, n, start, start + n)


def edit(family: str, rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    if family == "crop":  # the central 64 % of the area, enlarged back
        return cv2.resize(rgb[h // 10 : h - h // 10, w // 10 : w - w // 10], (w, h), interpolation=cv2.INTER_LINEAR)
    if family == "captions":
        out = rgb.copy()
        cv2.rectangle(out, (0, h - 70), (w, h), (180, 0, 0), -1)
        cv2.putText(out, "BREAKING: footage from the scene", (16, h - 26), cv2.FONT_HERSHEY_SIMPLEX, 1.0,
                    (255, 255, 255), 2, cv2.LINE_AA)
        cv2.rectangle(out, (w - 110, 12), (w - 12, 60), (255, 255, 255), -1)
        cv2.putText(out, "TV 24", (w - 100, 46), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 160), 2, cv2.LINE_AA)
        return out
    if family == "low quality":  # a quarter of the pixels, JPEG quality 10, before the MPEG-4 encode
        small = cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 10])
        return cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if ok else small
    if family == "mirror":
        return np.ascontiguousarray(rgb[:, ::-1])
    return rgb


# -- baselines -------------------------------------------------------------------------------------
def decode_every_frame(path: Path) -> int:
    """The naive decoder: read() and convert every frame, keep one per second."""
    cap, n, kept = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG), 0, 0
    step = round(cap.get(cv2.CAP_PROP_FPS) or FPS)
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        kept += n % step == 0 and rgb is not None
        n += 1
    cap.release()
    return kept


def decode_sampled(path: Path, side: int) -> list[np.ndarray]:
    """Ours: grab every frame, convert only the sampled ones (already reduced)."""
    with open_media(path).reader() as reader:
        return [f.rgb for f in reader.sample(1.0, max_side=side) if f.rgb is not None]


def brute_force(sim: np.ndarray, params: AlignmentParams) -> list[Match]:
    """Exhaustive search along every slope-1 diagonal: per offset, the longest run whose mean similarity
    passes the threshold (cumulative sums), then the best-scoring boxes that do not share query rows.
    The line's offset is in frames, which are seconds at the bench's sampling (one frame per second)."""
    values = np.nan_to_num(sim, nan=-1.0)
    rows, cols = values.shape
    found = []
    for offset in range(-rows + 1, cols):
        diagonal = np.diagonal(values, offset)
        sums = np.concatenate(([0.0], np.cumsum(diagonal)))
        best = None
        for a in range(len(diagonal)):
            for b in range(len(diagonal), a + params.min_frames - 1, -1):
                if (sums[b] - sums[a]) / (b - a) >= params.threshold:
                    if best is None or b - a > best[1] - best[0]:
                        best = (a, b)
                    break
        if best is not None:
            a, b = best
            q0, r0 = (a - offset, a) if offset < 0 else (a, a + offset)
            score = float((sums[b] - sums[a]) / (b - a))
            found.append(Match(q0, q0 + b - a - 1, r0, r0 + b - a - 1, score, b - a, offset=float(r0 - q0)))
    kept: list[Match] = []
    for match in sorted(found, key=lambda m: (-m.frames, -m.score)):
        if all(match.q_end < k.q_start or match.q_start > k.q_end for k in kept):
            kept.append(match)
    return kept


# -- the run ---------------------------------------------------------------------------------------
def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def throughput(references: list[Path], emit: Callable[[str], None], repeat: int = 2) -> None:
    """Video-seconds per wall-clock second: decoding alone (ours against decoding every frame), the CNN
    alone, and both pipelined as the analyzer runs them, at three CNN input sizes; best of `repeat`."""
    import torch

    seconds = sum(open_media(p).video.duration for p in references)
    media = [open_media(p) for p in references]
    ctx = RunContext()

    def best(fn: Callable[[], object]) -> tuple[float, object]:
        runs = [timed(fn) for _ in range(repeat)]
        return min(r[0] for r in runs), runs[0][1]

    naive, _ = best(lambda: [decode_every_frame(p) for p in references])
    with core_left_for_decoding("cpu"):
        cnn_threads = torch.get_num_threads()
    emit(f"{len(references)} reference videos (MJPG, 640×480, 25 fps, {seconds:.0f} s of video), one frame per "
         f"second described; best of {repeat} runs. torch uses {torch.get_num_threads()} threads by default; "
         f"`describe_video` runs its network with {cnn_threads} (a core left for the decoder thread).")
    emit("")
    emit("| step | side (px) | wall s | × real time | vs baseline |")
    emit("|---|---:|---:|---:|---:|")
    emit(f"| decode: read() + convert every frame (baseline) | 640 | {naive:.2f} | {seconds / naive:.1f} | 1.00 |")
    for side in (160, 224, 320):
        sampling = Sampling(side=side)
        ours, frames = best(lambda side=side: [f for p in references for f in decode_sampled(p, side)])
        with core_left_for_decoding("cpu"):
            net, _ = best(lambda frames=frames, sampling=sampling: _cnn_only(frames, sampling))
        both, _ = best(lambda sampling=sampling: [describe_video(m, sampling, ctx) for m in media])
        emit(f"| decode: grab every frame, convert the sampled one (ours) | {side} | {ours:.2f} | "
             f"{seconds / ours:.1f} | {naive / ours:.2f} |")
        emit(f"| CNN alone (MobileNetV2-GeM, batches of 16, {cnn_threads} thread(s)) | {side} | {net:.2f} | "
             f"{seconds / net:.1f} | {net / max(len(frames), 1) * 1000:.0f} ms/frame |")
        emit(f"| decode + CNN pipelined (`describe_video`) | {side} | {both:.2f} | **{seconds / both:.1f}** | "
             f"{naive / both:.2f} |")
        if side == 224:
            with patch("plugins.similarity.video_copy_features.core_left_for_decoding", lambda _d: nullcontext()):
                crowded, _ = best(lambda sampling=sampling: [describe_video(m, sampling, ctx) for m in media])
            emit(f"| decode + CNN pipelined, network on all {torch.get_num_threads()} threads (torch's default) | "
                 f"{side} | {crowded:.2f} | {seconds / crowded:.1f} | {naive / crowded:.2f} |")
    emit("")


def _cnn_only(frames: list[np.ndarray], sampling: Sampling) -> None:
    import torch

    from plugins.similarity.global_descriptor import MODEL_ID, gem, network_input
    from plugins.similarity.mobilenet import MobileNetV2
    from workbench.core.models import ModelStore, loaded_model

    net = loaded_model(ModelStore(), MODEL_ID, MobileNetV2, "cpu")
    with torch.inference_mode():
        for start in range(0, len(frames), 16):
            gem(net(torch.from_numpy(np.concatenate([network_input(f, sampling.side)
                                                     for f in frames[start : start + 16]]))))


def run(args: argparse.Namespace) -> str:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    lines: list[str] = []
    emit = lines.append
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else Path(tmp) / "videos"
        data.mkdir(parents=True, exist_ok=True)
        generation, (references, queries) = timed(lambda: make_dataset(
            data, args.references, args.per_family, args.distractors, args.seed))
        workspace = Path(tmp) / "case"
        sampling = Sampling(side=args.side)
        indexing, report = timed(lambda: store_for(workspace).add(references, sampling))
        analyzer = VideoCopyAnalyzer()
        params = analyzer.params_from({"side": args.side})
        results: dict[str, Segments] = {}
        latencies = []
        for query in queries:
            elapsed, result = timed(lambda q=query: run_analyzer(analyzer, open_media(q.path), params,
                                                                 RunContext(workspace=workspace)))
            assert isinstance(result, Segments), result.message
            results[query.name], latencies = result, latencies + [elapsed]
        store = store_for(workspace)
        features = {v.path.stem: store.stored_features(v, sampling, RunContext()) for v in store.references()}
        query_features = {q.name: store.features(open_media(q.path), sampling, RunContext()) for q in queries}
        matrices = {(q, r): similarity_matrix(qf, rf) for q, qf in query_features.items() for r, rf in features.items()}

        emit("# Video copy detection bench")
        emit("")
        header(emit, args, references, queries, generation, indexing, report, load_start)
        accuracy(emit, queries, results, matrices, query_features, features)
        alignment_speed(emit, matrices, query_features, features)
        emit(f"Analyzer run per query (references described beforehand, the query described in the run): "
             f"median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s.")
        emit("")
        if args.speed_videos:
            emit("## Throughput")
            emit("")
            throughput(references[: args.speed_videos], emit)
        if args.index_videos:
            emit("## Shortlisting references at scale (`bench/video_index.py`)")
            emit("")
            video_index.run([int(n) for n in args.index_videos.split(",")], emit)
        emit(f"Load average at the end: {' / '.join(f'{v:.1f}' for v in os.getloadavg())} (1 / 5 / 15 min).")
    return "\n".join(lines) + "\n"


def header(emit: Callable[[str], None], args: argparse.Namespace, references: list[Path], queries: list[Query],
           generation: float, indexing: float, report: object, load_start: tuple[float, float, float]) -> None:
    import torch

    cores = usable_cores()
    ref_seconds = sum(open_media(p).video.duration for p in references)
    query_seconds = sum(open_media(q.path).video.duration for q in queries)
    reuse = sum(q.family == REUSE for q in queries)
    emit(f"- Data (`bench/video_copy.py`, seed {args.seed}): {len(references)} reference videos "
         f"({ref_seconds:.0f} s, MJPG .avi: {len(references) - reuse} of two {SHOT_S:g} s scenes at 25 fps, "
         f"{reuse} of 20 s in three shots at 30 fps) and {len(queries)} queries ({query_seconds:.0f} s, MPEG-4 "
         f".mp4, 25 fps): {args.per_family} per transformation ({', '.join(FAMILIES)}), {reuse} of the "
         f"re-use family (5–13 s of a 20-s reference, cropped, captioned, rescaled to 480×360)"
         + ("" if reuse else " — left out: opencv-doc's photos are not installed")
         + f" and {args.distractors} distractors; 640×480; generated in {generation:.0f} s.")
    emit(f"- Reference photos: {', '.join(REFERENCE_PHOTOS)}; re-use family: "
         f"{'; '.join(', '.join(shots) for shots in REUSE_PHOTOS[:reuse])}; outside photos (distractors, "
         f"insertion hosts): {', '.join(OUTSIDE_PHOTOS)}. A scene is a camera move over half of a photo.")
    emit(f"- Analyzer `similarity.video_copy` with its defaults except the CNN input side "
         f"({Sampling(side=args.side).describe()}; threshold 0.8, minimum 2 s); references added with "
         f"`VideoStore.add` in {indexing:.1f} s ({report.added} added, {len(report.failed)} failed).")
    emit(f"- Machine: {platform.machine()}, {cores} usable CPUs, torch {torch.__version__} with "
         f"{torch.get_num_threads()} threads, OpenCV {cv2.__version__}; load average "
         f"{' / '.join(f'{v:.1f}' for v in load_start)} (1 / 5 / 15 min) at the start (the machine is shared).")
    emit("")


def accuracy(emit: Callable[[str], None], queries: list[Query], results: dict[str, Segments],
             matrices: dict[tuple[str, str], np.ndarray], query_features: dict[str, VideoFeatures],
             features: dict[str, VideoFeatures]) -> None:
    truth = [t for q in queries for t in q.truth]
    predicted = [SegmentMatch(name, label.split(" [")[0].rsplit(".", 1)[0], *row[:4], score=float(row[4]))
                 for name, result in results.items()
                 for row, label in zip(result.rows, result.references, strict=True)]
    pair_max = [{"query_id": q, "ref_id": r, "score": float(np.nanmax(m))} for (q, r), m in matrices.items()]
    emit("## Accuracy")
    emit("")
    emit("| measure | value |")
    emit("|---|---:|")
    emit(f"| μAP, pair score = best frame similarity (descriptor track, all {len(pair_max)} pairs) | "
         f"{micro_average_precision(truth, pair_max).ap:.3f} |")
    emit(f"| μAP, pair score = best segment score (matching track's pairwise μAP) | "
         f"{micro_average_precision(truth, predicted).ap if predicted else 0.0:.3f} |")
    emit(f"| segment AP, temporal network (the analyzer) | **{segment_average_precision(truth, predicted).ap:.3f}** |")

    def aligned(align: Callable[[np.ndarray, str, str], list[Match]],
                read: Callable[[Match, VideoFeatures, VideoFeatures], list[float]] = fitted_span) -> list[SegmentMatch]:
        return [SegmentMatch(q, r, *read(m, query_features[q], features[r]), score=m.score)
                for (q, r), sim in matrices.items() for m in align(sim, q, r)]

    def network(threshold: float) -> Callable[[np.ndarray, str, str], list[Match]]:
        return lambda sim, q, r: temporal_network(sim, AlignmentParams(threshold, min_frames=2),
                                                  query_features[q].times, features[r].times)

    path_ends = aligned(network(0.8), path_ends_span)
    brute = aligned(lambda sim, _q, _r: brute_force(sim, AlignmentParams(min_frames=2)))
    emit(f"| segment AP, temporal network, reference span from the path's first and last frames (no line fit) | "
         f"{segment_average_precision(truth, path_ends).ap:.3f} |")
    emit(f"| segment AP, brute-force diagonal search (baseline, slope 1 only) | "
         f"{segment_average_precision(truth, brute).ap:.3f} |")
    wrong = [p for p in predicted if not any(t.query_id == p.query_id and t.ref_id == p.ref_id for t in truth)]
    emit(f"| segments on a wrong pair (distractor queries or another reference) | {len(wrong)}"
         + (f" (best score {max(p.score for p in wrong):.3f})" if wrong else "") + " |")
    emit("")
    families = [*FAMILIES, *([REUSE] if any(q.family == REUSE for q in queries) else [])]
    emit("Per transformation: found = a segment of the right reference overlapping the truth in both videos; "
         "errors are |predicted − true| of the best such segment, in seconds; temporal IoU (tIoU) of that "
         "segment with the truth on each axis (0 when none was found), mean over the copies.")
    emit("")
    emit("| transformation | found | score | Δ query start | Δ query end | Δ ref start | Δ ref end | tIoU query | "
         "tIoU ref |")
    emit("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for family in families:
        copies = [q.truth[0] for q in queries if q.family == family]
        hits = [(t, h) for t in copies if (h := best_hit(predicted, t)) is not None]
        rows = [(h.score, abs(h.query_start - t.query_start), abs(h.query_end - t.query_end),
                 abs(h.ref_start - t.ref_start), abs(h.ref_end - t.ref_end)) for t, h in hits]
        means = np.mean(rows, axis=0) if rows else [np.nan] * 5
        ious = np.mean([temporal_ious(best_hit(predicted, t), t) for t in copies], axis=0)
        emit(f"| {family} | {len(rows)} / {len(copies)} | " + " | ".join(f"{v:.2f}" for v in (*means, *ious)) + " |")
    emit("")
    readings = {"analyzer": predicted, "path ends (no line fit)": path_ends, "brute-force diagonal (baseline)": brute}
    emit("Temporal IoU per copy, query / reference axis, of the best segment of the right reference "
         "overlapping the truth (0 / 0: not found):")
    emit("")
    emit("| query | transformation | truth: query s / reference s | " + " | ".join(readings) + " |")
    emit("|---|---|---|" + "---:|" * len(readings))
    for query in (q for q in queries if q.truth):
        t = query.truth[0]
        cells = [" / ".join(f"{v:.2f}" for v in temporal_ious(best_hit(found, t), t)) for found in readings.values()]
        emit(f"| {query.name} | {query.family} | {t.query_start:g}–{t.query_end:g} / {t.ref_start:g}–{t.ref_end:g} | "
             + " | ".join(cells) + " |")
    emit("")
    emit("Frame threshold (the analyzer's default 0.8), every pair aligned:")
    emit("")
    emit("| threshold | segment AP | segments on wrong pairs |")
    emit("|---:|---:|---:|")
    gt_pairs = {(t.query_id, t.ref_id) for t in truth}
    for threshold in THRESHOLDS:
        found = aligned(network(threshold))
        emit(f"| {threshold:g} | {segment_average_precision(truth, found).ap:.3f} | "
             f"{sum((f.query_id, f.ref_id) not in gt_pairs for f in found)} |")
    emit("")


def best_hit(predicted: list[SegmentMatch], truth: SegmentMatch) -> SegmentMatch | None:
    """The best-scoring segment of the true pair that overlaps the truth in both videos."""
    hits = [p for p in predicted if p.query_id == truth.query_id and p.ref_id == truth.ref_id
            and min(p.query_end, truth.query_end) > max(p.query_start, truth.query_start)
            and min(p.ref_end, truth.ref_end) > max(p.ref_start, truth.ref_start)]
    return max(hits, key=lambda h: h.score, default=None)


def temporal_ious(found: SegmentMatch | None, truth: SegmentMatch) -> tuple[float, float]:
    """Intersection over union of the two spans on the query axis and on the reference axis."""
    if found is None:
        return 0.0, 0.0
    spans = ((found.query_start, found.query_end, truth.query_start, truth.query_end),
             (found.ref_start, found.ref_end, truth.ref_start, truth.ref_end))
    return tuple(max(0.0, min(a1, b1) - max(a0, b0)) / (max(a1, b1) - min(a0, b0)) for a0, a1, b0, b1 in spans)


def fitted_span(m: Match, query: VideoFeatures, reference: VideoFeatures) -> list[float]:
    """Query and reference spans (s) as the analyzer reports them: the reference span from the line."""
    return segment_span(m, query.times, EVERY_S, query.duration, reference.duration)


def path_ends_span(m: Match, query: VideoFeatures, reference: VideoFeatures) -> list[float]:
    """The reading without the line fit: the reference span from the path's first and last frames."""
    return [float(query.times[m.q_start]), min(float(query.times[m.q_end]) + EVERY_S, query.duration),
            float(reference.times[m.r_start]), min(float(reference.times[m.r_end]) + EVERY_S, reference.duration)]


def alignment_speed(emit: Callable[[str], None], matrices: dict[tuple[str, str], np.ndarray],
                    query_features: dict[str, VideoFeatures], features: dict[str, VideoFeatures]) -> None:
    params = AlignmentParams(min_frames=2)
    network, _ = timed(lambda: [temporal_network(m, params) for m in matrices.values()])
    brute, _ = timed(lambda: [brute_force(m, params) for m in matrices.values()])
    sizes = [m.shape for m in matrices.values()]
    emit(f"Alignment of all {len(matrices)} query × reference matrices (median "
         f"{statistics.median(s[0] for s in sizes):.0f} × {statistics.median(s[1] for s in sizes):.0f} frames): "
         f"temporal network {network * 1000:.0f} ms, brute-force diagonal search {brute * 1000:.0f} ms "
         f"(× {brute / max(network, 1e-9):.1f}).")
    emit("")
    emit("Longer videos (a generated matrix: similarities U(0.3, 0.7) and one copy of half the query at 0.95 "
         "along a diagonal), one pair:")
    emit("")
    emit("| query × reference (s at 1 fps) | temporal network ms | brute force ms | ratio | query rows of the copy: "
         "true / network / brute force |")
    emit("|---|---:|---:|---:|---|")
    for rows, cols in ((30, 120), (120, 600)):
        sim = np.random.default_rng(rows).uniform(0.3, 0.7, (rows, cols)).astype(np.float32)
        for i in range(rows // 4, 3 * rows // 4):
            sim[i, i + cols // 3] = 0.95
        network, tn = timed(lambda sim=sim: temporal_network(sim, params))
        brute, bf = timed(lambda sim=sim: brute_force(sim, params))
        spans = " / ".join(", ".join(f"{m.q_start}–{m.q_end}" for m in found) or "none"
                           for found in ([Match(rows // 4, 3 * rows // 4 - 1, 0, 0, 0, 0)], tn, bf))
        emit(f"| {rows} × {cols} | {network * 1000:.1f} | {brute * 1000:.0f} | {brute / max(network, 1e-9):.0f} | "
             f"{spans} |")
    emit("")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--references", type=int, default=8, help="reference videos (default 8)")
    parser.add_argument("--per-family", type=int, default=2, help="queries per transformation (default 2)")
    parser.add_argument("--distractors", type=int, default=4, help="queries without a copy (default 4)")
    parser.add_argument("--speed-videos", type=int, default=4, help="videos timed for throughput (4; 0: none)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--side", type=int, default=224, help="CNN input side of the analyzer (default 224)")
    parser.add_argument("--index-videos", default="1000,10000",
                        help="reference videos of the shortlist scaling section ('': none; default 1000,10000)")
    parser.add_argument("--quick", action="store_true", help="4 references, 1 query per transformation")
    parser.add_argument("--data", help="write the generated videos here (kept) instead of a temporary folder")
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    args = parser.parse_args()
    if args.quick:
        args.references, args.per_family, args.distractors, args.speed_videos, args.index_videos = 4, 1, 2, 2, "1000"
    publish(run(args), args.out)


if __name__ == "__main__":
    main()
