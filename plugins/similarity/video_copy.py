"""Video copy detection with temporal localisation: which parts of the query video are copies of
which parts of the reference videos.

Following the VSC 2022 baseline (Pizzi et al. 2023): frame descriptors at a fixed rate, candidate
references ranked by their best frame-to-frame similarity with the query, then the temporal
network (Tan et al. 2009, `temporal_alignment`) on each candidate's similarity matrix gives the
copied segments. References are the case's reference videos (`workbench index` of video files)
plus the files or folders named in the `references` parameter; each video is described once per
sampling and cached by its SHA-256 in the case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from plugins.similarity.temporal_alignment import (
    AlignmentParams,
    Match,
    merge_overlapping,
    segment_span,
    temporal_network,
)
from plugins.similarity.video_copy_features import (
    FrameFeatures,
    Sampling,
    VideoFeatures,
    describe_video,
    similarity_matrix,
)
from plugins.similarity.video_copy_store import StoredVideo, VideoStore, reference_label, video_files
from workbench.api import (
    Analyzer,
    Media,
    MediaError,
    MediaKind,
    ModelUnavailable,
    RunContext,
    Segments,
    open_media,
    param,
)

STORE_FOLDER = Path("similarity") / "videos"
"""Where a case keeps its reference videos' descriptors (next to the image search collection)."""
SCORE_MEANING = (
    "mean frame similarity of the best copied segment's matched frame pairs (cosine of MobileNetV2-GeM "
    "descriptors, or S2VS chamfer similarity): near 1 for an untouched copy, 0.85-0.95 for a cropped, "
    "captioned or re-encoded one; unrelated footage stays below the threshold. Not a probability"
)


def store_for(workspace: Path | None) -> VideoStore | None:
    """The case's video store (None outside a case: nothing is cached then)."""
    return VideoStore(workspace / STORE_FOLDER) if workspace is not None else None


@dataclass
class VideoCopyParams:
    references: str = param(
        "", "More reference videos",
        "video files or folders separated by ';', compared besides the case's reference videos "
        "(added with `workbench index`)",
    )
    every_s: float = param(1.0, "Frame interval (s)", "one frame is described every this many seconds; a "
                           "shorter interval finds shorter copies and costs more", min=0.1, max=10.0)
    min_length_s: float = param(2.0, "Minimum copy length (s)", "shorter matches are not reported",
                                min=0.0, max=3600.0)
    threshold: float = param(0.8, "Frame similarity threshold", "frame pairs below it never match (cosine; "
                             "unrelated footage: 0.4-0.75, edited copies: 0.85-1)", min=-1.0, max=1.0)
    candidates: int = param(20, "References aligned", "only the references whose best frame similarity is "
                            "highest are aligned in time", min=1, max=10000)
    features: FrameFeatures = param(
        FrameFeatures.MOBILENET, "Frame features",
        "mobilenet: works offline out of the box; s2vs: the published S2VS region features (needs its files)",
    )
    side: int = param(224, "Frame size for the CNN (px)", "long side of the frames MobileNetV2 sees",
                      min=64, max=1024)


def default_sampling() -> Sampling:
    """The sampling of the analyzer's default parameters: references added beforehand (`workbench index`,
    the GUI) are described with it, so a default query finds them cached."""
    defaults = VideoCopyParams()
    return Sampling(defaults.features, defaults.every_s, defaults.side)


@dataclass
class Reference:
    label: str
    features: VideoFeatures


class VideoCopyAnalyzer(Analyzer):
    id = "similarity.video_copy"
    title = "Video copy detection"
    version = "1.1"
    accepts = frozenset({MediaKind.VIDEO})
    Params = VideoCopyParams
    card_file = Path(__file__).with_name("video_copy.md")
    learned = True  # MobileNetV2 or S2VS frame descriptors

    def run(self, media: Media, params: VideoCopyParams, ctx: RunContext) -> Segments:
        sampling = Sampling(params.features, params.every_s, params.side)
        store = store_for(ctx.workspace)
        stored = [v for v in store.references() if v.sha256 != media.sha256] if store else []
        named = video_files(p.strip() for p in params.references.split(";") if p.strip())
        if not stored and not named:
            raise ModelUnavailable(
                "no reference videos: add some to the case with `workbench index VIDEOS --case CASE`, or name "
                "files or folders in the 'More reference videos' parameter"
            )
        notes: list[str] = []
        ctx.progress(0.0, "describing the query")
        query = _features(store, media, sampling, ctx.sub(0.0, 0.4, "query"))
        candidates, compared = self._candidates(store, media.sha256, stored, named, sampling, query,
                                                params.candidates, ctx.sub(0.4, 0.8, "references"), notes)
        ctx.progress(0.8, f"aligning {len(candidates)} of {compared} reference video(s)")
        min_frames = max(1, math.ceil(params.min_length_s / params.every_s - 1e-9))
        alignment = AlignmentParams(params.threshold, min_frames=min_frames)
        rows: list[list[float]] = []
        labels: list[str] = []
        shown: tuple[float, Reference, np.ndarray | None] = (-np.inf, candidates[0][0], None)
        for n, (reference, _) in enumerate(candidates):
            ctx.check_cancelled()
            matrix = similarity_matrix(query, reference.features, ctx.device)
            matches = temporal_network(matrix, alignment, query.times, reference.features.times)
            rows += [_seconds(m, query, reference.features, params.every_s) for m in matches]
            labels += [reference.label] * len(matches)
            best = max((m.score for m in matches), default=-np.inf)
            if shown[2] is None or best > shown[0]:  # the matrix shown: the best segment's reference
                shown = (best, reference, matrix)
            ctx.progress(0.8 + 0.2 * (n + 1) / len(candidates), f"aligned {n + 1}/{len(candidates)}")
        via = ", the case's references through a frame index" if store and query.vectors.ndim == 2 else ""
        merged, labels = merge_overlapping(np.array(rows, np.float64).reshape(-1, 5), labels)
        _, best_reference, matrix = shown
        found = len(set(labels))
        message = (f"{len(merged)} copied segment(s) in {found} of {compared} reference video(s)" if len(merged)
                   else f"no copied segment of {params.min_length_s:g} s or more in {compared} reference "
                        f"video(s) (best frame similarity {candidates[0][1]:.3f})")
        return Segments(
            analyzer=self.id,
            message="; ".join([message, *notes]),
            score=float(merged[0, 4]) if len(merged) else None,
            score_meaning=SCORE_MEANING,
            models_used=list(sampling.model_ids),
            rows=merged.astype(np.float32),
            references=labels,
            matrix=matrix.astype(np.float16),
            matrix_reference=best_reference.label,
            query_duration=query.duration,
            reference_durations={r.label: r.features.duration for r, _ in candidates
                                 if r.label in labels or r is best_reference},
            method=f"{sampling.describe()}; candidates by best frame similarity (top {params.candidates}{via}); "
                   f"temporal network alignment (Tan et al. 2009), frame threshold {params.threshold:g}, "
                   f"gaps up to {alignment.max_gap} frames, speeds ×{alignment.min_speed:g}–×{alignment.max_speed:g}, "
                   f"reference spans from a line fitted to each segment",
        )

    def _candidates(
        self, store: VideoStore | None, query_sha: str, stored: list[StoredVideo], named: list[Path],
        sampling: Sampling, query: VideoFeatures, wanted: int, ctx: RunContext, notes: list[str],
    ) -> tuple[list[tuple[Reference, float]], int]:
        """The `wanted` references with the best frame similarity with the query, best first, with that
        similarity, and how many references were compared. With global descriptors the case's references
        are shortlisted through its frame index, so only those are read; named files (and region
        descriptors) are compared one by one."""
        scored: dict[str, tuple[Reference, float]] = {}
        indexed = store is not None and bool(stored) and query.vectors.ndim == 2
        if indexed:
            for video, score in store.shortlist(query, sampling, wanted + 1, ctx.sub(0.0, 0.5, "frame index"), notes):
                if video.sha256 != query_sha and len(scored) < wanted:
                    scored[video.sha256] = (Reference(video.label, store.stored_features(video, sampling, ctx)), score)
        known = {v.sha256 for v in stored} if indexed else set()
        described = self._references(store, {query_sha} | known, [] if indexed else stored, named, sampling,
                                     ctx.sub(0.5 if indexed else 0.0, 1.0, "references"), notes)
        for sha, reference in described.items():
            matrix = similarity_matrix(query, reference.features, ctx.device)
            scored[sha] = (reference, float(np.nanmax(matrix, initial=-1.0)))
        if not scored:
            raise ModelUnavailable("no usable reference video: " + "; ".join(notes))
        compared = len({v.sha256 for v in stored} | described.keys())
        return sorted(scored.values(), key=lambda item: -item[1])[:wanted], compared

    def _references(
        self, store: VideoStore | None, skip: set[str], stored: list[StoredVideo], named: list[Path],
        sampling: Sampling, ctx: RunContext, notes: list[str],
    ) -> dict[str, Reference]:
        """These stored references and the named files, described, by SHA-256 (never one in `skip`: the
        query itself, references already compared); a file that cannot be used is left out with a note."""
        found: dict[str, Reference] = {}
        total = max(len(stored) + len(named), 1)
        for n, video in enumerate(stored):
            step = ctx.sub(n / total, (n + 1) / total, video.path.name)
            try:
                found[video.sha256] = Reference(video.label, store.stored_features(video, sampling, step))
            except (MediaError, OSError, ValueError) as exc:
                notes.append(f"reference {video.label} left out: {exc}")
        for n, path in enumerate(named, len(stored)):
            step = ctx.sub(n / total, (n + 1) / total, path.name)
            try:
                media = open_media(path)
                if media.kind is not MediaKind.VIDEO:
                    raise MediaError(f"{path.name}: not a video")
                if media.sha256 not in found and media.sha256 not in skip:
                    found[media.sha256] = Reference(reference_label(path.name, media.sha256),
                                                    _features(store, media, sampling, step))
            except (MediaError, OSError, ValueError) as exc:
                notes.append(f"reference {path} left out: {exc}")
        return found


def _features(store: VideoStore | None, media: Media, sampling: Sampling, ctx: RunContext) -> VideoFeatures:
    return store.features(media, sampling, ctx) if store else describe_video(media, sampling, ctx)


def _seconds(match: Match, query: VideoFeatures, reference: VideoFeatures, every_s: float) -> list[float]:
    return [*segment_span(match, query.times, every_s, query.duration, reference.duration), match.score]
