"""Faces found and tracked over an image (one frame) or a video's sampled frames.

Both deepfake analyzers walk the media this way; the ensemble scores each frame's faces while the
frame is in memory (`visit`), so a long video is never held whole. Frames that do not decode are
counted and skipped, never fatal.

On video every frame is looked at for scene cuts (a colour histogram, `SceneCuts`): a face found on
a sampled frame stands for the frames nearer to it than to the other samples (half a sampling step
either side) but never across a cut (a box drawn after a cut would sit on another shot), and no face
track crosses a cut.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from plugins.deepfake.faces import DetectorChoice, Face, FaceDetector
from plugins.deepfake.tracking import FaceTracker
from workbench.api import Frame, Media, MediaKind, RunContext, SceneCuts, param, sample_indices


@dataclass
class FaceScanParams:
    every_s: float = param(
        1.0, "Seconds between sampled frames", "videos only: faces are looked for on one frame every this many "
        "seconds (the nearest frame)", min=0.04, max=60.0,
    )
    detector: DetectorChoice = param(
        DetectorChoice.AUTO, "Face detector", "auto: YuNet when its model file is installed, else MTCNN when its "
        "weights are installed (setup installs them), else OpenCV's Haar cascades; mtcnn, yunet: only that "
        "detector (unavailable without its files); haar: always the cascades",
    )


@dataclass
class SampledFrame:
    index: int
    time: float
    faces: list[Face]
    tracks: list[int]
    span: tuple[int, int] = (0, 0)
    """First and last frame this sample stands for (`sample_span`); set once the scan has ended."""


@dataclass
class FaceScan:
    frames: list[SampledFrame] = field(default_factory=list)
    skipped: int = 0
    """Sampled frames that could not be decoded."""
    cuts: list[int] = field(default_factory=list)
    """Frames that start a new scene (video only)."""

    @property
    def face_count(self) -> int:
        return sum(len(f.faces) for f in self.frames)

    @property
    def track_count(self) -> int:
        return len({t for f in self.frames for t in f.tracks})

    def box_arrays(self) -> dict[str, np.ndarray]:
        """`Boxes` fields: boxes (N × 4, x0 y0 x1 y1), frames, tracks, spans (N × 2), box_scores
        (detector scores)."""
        rows = [(f, face, track) for f in self.frames for face, track in zip(f.faces, f.tracks, strict=True)]
        return {
            "boxes": np.array([r[1].box for r in rows], np.float32).reshape(-1, 4),
            "frames": np.array([r[0].index for r in rows], np.int64),
            "tracks": np.array([r[2] for r in rows], np.int64),
            "spans": np.array([r[0].span for r in rows], np.int64).reshape(-1, 2),
            "box_scores": np.array([r[1].score for r in rows], np.float32),
        }

    def describe(self, media: Media) -> str:
        """"3 faces (2 tracks) in 10 sampled frames, 1 undecodable frame skipped"."""
        if media.kind is not MediaKind.VIDEO:
            return f"{self.face_count} face(s) in the image"
        text = f"{self.face_count} face(s) ({self.track_count} track(s)) in {len(self.frames)} sampled frame(s)"
        text += f", {len(self.cuts)} scene cut(s)" if self.cuts else ""
        return text + (f", {self.skipped} undecodable frame(s) skipped" if self.skipped else "")


def scan_faces(
    media: Media,
    detector: FaceDetector,
    every_s: float,
    ctx: RunContext,
    visit: Callable[[SampledFrame, np.ndarray], None] | None = None,
) -> FaceScan:
    """Detect and track faces on each frame; `visit(sample, rgb)` sees every decoded frame."""
    scan, tracker, cuts_seen = FaceScan(), FaceTracker(), 0
    cuts = SceneCuts() if media.kind is MediaKind.VIDEO else None
    total = max(media.video.frame_count, 1) if media.video else 1
    for frame in _frames(media, every_s, ctx, cuts):
        ctx.check_cancelled()
        if cuts is not None and len(cuts.found) > cuts_seen:  # a cut since the previous sample
            tracker.cut()
            cuts_seen = len(cuts.found)
        if frame.rgb is None:
            scan.skipped += 1
            continue
        faces = detector.detect(frame.rgb)
        sample = SampledFrame(frame.index, frame.time, faces, tracker.assign([f.box for f in faces]))
        if visit is not None:
            visit(sample, frame.rgb)
        scan.frames.append(sample)
        ctx.progress((frame.index + 1) / total, f"frame {frame.index}: {len(faces)} face(s)")
    ctx.check_cancelled()  # sampling stops quietly on cancel
    if media.video is not None and cuts is not None:
        scan.cuts = list(cuts.found)
        _set_spans(scan, media.video.frame_count, media.video.fps, every_s)
    return scan


def _set_spans(scan: FaceScan, frame_count: int, fps: float, every_s: float) -> None:
    wanted = sample_indices(frame_count, fps, every_s)
    step = max(every_s * fps, 1.0)
    position = {index: k for k, index in enumerate(wanted)}
    for sample in scan.frames:
        k = position[sample.index]
        previous = wanted[k - 1] if k > 0 else sample.index - step
        following = wanted[k + 1] if k + 1 < len(wanted) else sample.index + step
        sample.span = sample_span(sample.index, previous, following, scan.cuts, frame_count - 1)


def sample_span(index: int, previous: float, following: float, cuts: list[int], last: int) -> tuple[int, int]:
    """The frames a sample at `index` stands for: those nearer to it than to the samples before and
    after it (a tie goes to the earlier sample), within its scene and the video."""
    start = max(math.floor((previous + index) / 2) + 1, 0, *(c for c in cuts if c <= index))
    end = min(math.floor((index + following) / 2), last, *(c - 1 for c in cuts if c > index))
    return start, end


def _frames(media: Media, every_s: float, ctx: RunContext, cuts: SceneCuts | None) -> Iterator[Frame]:
    if media.kind is MediaKind.VIDEO:
        with media.reader() as reader:
            yield from reader.sample(every_s, ctx.cancelled, cuts=cuts)
    else:
        yield Frame(0, 0.0, np.asarray(media.pixels()))
