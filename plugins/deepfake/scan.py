"""Faces found and tracked over an image (one frame) or a video's sampled frames.

Both deepfake analyzers walk the media this way; the ensemble scores each frame's faces while the
frame is in memory (`visit`), so a long video is never held whole. Frames that do not decode are
counted and skipped, never fatal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from plugins.deepfake.faces import DetectorChoice, Face, FaceDetector
from plugins.deepfake.tracking import FaceTracker
from workbench.core.media import Media, MediaKind
from workbench.core.plugin import RunContext, param
from workbench.core.video import Frame


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


@dataclass
class FaceScan:
    frames: list[SampledFrame] = field(default_factory=list)
    skipped: int = 0
    """Sampled frames that could not be decoded."""

    @property
    def face_count(self) -> int:
        return sum(len(f.faces) for f in self.frames)

    @property
    def track_count(self) -> int:
        return len({t for f in self.frames for t in f.tracks})

    def box_arrays(self) -> dict[str, np.ndarray]:
        """`Boxes` fields: boxes (N × 4, x0 y0 x1 y1), frames, tracks, box_scores (detector scores)."""
        rows = [(f.index, face, track) for f in self.frames for face, track in zip(f.faces, f.tracks, strict=True)]
        return {
            "boxes": np.array([r[1].box for r in rows], np.float32).reshape(-1, 4),
            "frames": np.array([r[0] for r in rows], np.int64),
            "tracks": np.array([r[2] for r in rows], np.int64),
            "box_scores": np.array([r[1].score for r in rows], np.float32),
        }

    def describe(self, media: Media) -> str:
        """"3 faces (2 tracks) in 10 sampled frames, 1 undecodable frame skipped"."""
        if media.kind is not MediaKind.VIDEO:
            return f"{self.face_count} face(s) in the image"
        text = f"{self.face_count} face(s) ({self.track_count} track(s)) in {len(self.frames)} sampled frame(s)"
        return text + (f", {self.skipped} undecodable frame(s) skipped" if self.skipped else "")


def scan_faces(
    media: Media,
    detector: FaceDetector,
    every_s: float,
    ctx: RunContext,
    visit: Callable[[SampledFrame, np.ndarray], None] | None = None,
) -> FaceScan:
    """Detect and track faces on each frame; `visit(sample, rgb)` sees every decoded frame."""
    scan, tracker = FaceScan(), FaceTracker()
    total = max(media.video.frame_count, 1) if media.video else 1
    for frame in _frames(media, every_s, ctx):
        ctx.check_cancelled()
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
    return scan


def _frames(media: Media, every_s: float, ctx: RunContext) -> Iterator[Frame]:
    if media.kind is MediaKind.VIDEO:
        with media.reader() as reader:
            yield from reader.sample(every_s, ctx.cancelled)
    else:
        yield Frame(0, 0.0, np.asarray(media.pixels()))
