"""Image analyzers on video: run one on sampled frames and collect a per-frame `Series`.

Any analyzer that accepts images but not videos can be applied to a video this way, so every
forensic signal of the workbench also works on footage, drawn as a curve under the timeline.
A frame that does not decode is skipped and counted; a frame whose analysis fails is recorded
(NaN) with its reason, and neither stops the run.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import cv2
import numpy as np
from PIL import Image

from workbench.core.media import Media, MediaError, MediaKind
from workbench.core.plugin import Analyzer, RunContext, run_analyzer
from workbench.core.render import blend
from workbench.core.results import Heatmap, Result, Series, Status
from workbench.core.video import SCENE_THRESHOLD, Frame

MAP_SIDE = 160
"""Long side of the per-frame maps kept for the viewer's overlay (float16: 600 frames ≈ 18 MB)."""
THUMB_SIDE = 320
TOP_FRAMES = 6
ANALYSIS_SIDE = 1920
"""Frames larger than this are reduced before analysis (4K footage: 4× less work, same signals)."""


class SamplingMode(StrEnum):
    INTERVAL = "interval"
    SCENES = "scenes"


@dataclass(frozen=True)
class FrameSampling:
    """Which frames of a video the image analyzers see."""

    mode: SamplingMode = SamplingMode.INTERVAL
    every_s: float = 1.0
    scene_threshold: float = SCENE_THRESHOLD
    """Histogram distance (Bhattacharyya, 0–1) above which a frame starts a new scene."""

    def describe(self) -> str:
        if self.mode is SamplingMode.SCENES:
            return f"first frame of each scene (histogram change > {self.scene_threshold:g})"
        return f"one frame every {self.every_s:g} s"

    def frames(self, media: Media, ctx: RunContext):  # noqa: ANN201 - an iterator of Frame
        reader = media.reader()
        try:
            if self.mode is SamplingMode.SCENES:
                yield from reader.scenes(self.scene_threshold, ctx.cancelled, ANALYSIS_SIDE)
            else:
                yield from reader.sample(self.every_s, ctx.cancelled, ANALYSIS_SIDE)
        finally:
            reader.close()


class FrameMedia(Media):
    """One decoded frame presented as an image: same path and hash as its video (provenance),
    pixels from the decoder; byte-level methods (EXIF, JPEG tables) see a lossless PNG of it."""

    def raw_bytes(self) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(self.pixels()).save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()

    def pil(self) -> Image.Image:
        return Image.fromarray(self.pixels())


def frame_media(video: Media, frame: Frame) -> FrameMedia:
    assert frame.rgb is not None
    h, w = frame.rgb.shape[:2]
    media = FrameMedia(
        path=video.path, sha256=video.sha256, size=video.size, kind=MediaKind.IMAGE,
        format="video frame", width=w, height=h, mode="RGB",
        warnings=[f"frame {frame.index} ({frame.time:.3f} s) of {video.name}"],
    )
    pixels = np.ascontiguousarray(frame.rgb)
    pixels.setflags(write=False)
    media._pixels = pixels
    return media


def runs_on_frames(analyzer: Analyzer) -> bool:
    """True when a video gets this analyzer through its frames rather than natively."""
    return (MediaKind.VIDEO not in analyzer.accepts and MediaKind.IMAGE in analyzer.accepts
            and not analyzer.needs_file_encoding and analyzer.on_frames)


def applies_to(analyzer: Analyzer, kind: MediaKind, file_format: str = "") -> bool:
    """Whether the analyzer can say anything about evidence of this kind (natively or per frame) and,
    when given, of this file format (Pillow's name)."""
    if file_format and analyzer.formats and file_format not in analyzer.formats:
        return False
    return kind in analyzer.accepts or (kind is MediaKind.VIDEO and runs_on_frames(analyzer))


class PerFrame(Analyzer):
    """An image analyzer wrapped to run on a video's sampled frames; same id, so the case keeps
    one latest run per analyzer and evidence item."""

    accepts = frozenset({MediaKind.VIDEO})

    def __init__(self, inner: Analyzer, sampling: FrameSampling | None = None) -> None:
        self.inner = inner
        self.sampling = sampling or FrameSampling()
        self.id = inner.id
        self.title = f"{inner.title} (per frame)"
        self.version = f"{inner.version}+frames.1"
        self.Params = inner.Params
        self.models = inner.models
        self.learned = inner.learned
        self.card_file = inner.card_file

    def run(self, media: Media, params: Any, ctx: RunContext) -> Series:
        if media.video is None:
            raise MediaError(f"{media.name}: not a video")
        expected = _expected_frames(media, self.sampling)
        times, values, indices, maps, kept = [], [], [], [], []
        skipped, failures, meaning = 0, {}, ""
        for n, frame in enumerate(self.sampling.frames(media, ctx)):
            ctx.check_cancelled()
            start = min(n / expected, 0.99)
            ctx.progress(start, f"frame {frame.index} ({frame.time:.1f} s)")
            if frame.rgb is None:
                skipped += 1
                continue
            result = run_analyzer(self.inner, frame_media(media, frame), params,
                                  ctx.sub(start, min((n + 1) / expected, 0.99)))
            if result.status is Status.CANCELLED:
                ctx.check_cancelled()
            if result.status is Status.UNAVAILABLE:
                return Result(self.id, Status.UNAVAILABLE, result.message)  # type: ignore[return-value]
            value, what = frame_value(result)
            if not result.ok:
                failures[result.message] = failures.get(result.message, 0) + 1
            meaning = meaning or what
            times.append(frame.time)
            values.append(value)
            indices.append(frame.index)
            maps.append(_small_map(result))
            kept.append((value, frame, result))
            kept = sorted(kept, key=_rank, reverse=True)[:TOP_FRAMES]
        finite = np.isfinite(np.asarray(values, np.float32))
        if values and failures and not finite.any():
            reasons = "; ".join(failures)
            return Series(self.id, Status.ERROR, f"every analysed frame failed: {reasons}",
                          skipped=skipped)  # type: ignore[return-value]
        if not values:
            return Series(self.id, Status.ERROR, f"no frame of {media.name} could be analysed "
                          f"({skipped} undecodable)", skipped=skipped)  # type: ignore[return-value]
        series = np.asarray(values, np.float32)
        top = [{"frame": f.index, "time": round(f.time, 3), "value": None if math.isnan(v) else float(v)}
               for v, f, _ in kept]
        finite = series[np.isfinite(series)]
        return Series(
            analyzer=self.id,
            message=_message(len(values), skipped, failures),
            score=float(finite.max()) if finite.size else None,
            score_meaning=f"highest per-frame value of {self.inner.title}" + (f" ({meaning})" if meaning else ""),
            times=np.asarray(times, np.float64),
            values=series,
            frames=np.asarray(indices, np.int64),
            maps=np.stack(maps) if all(m is not None for m in maps) else None,
            images={f"frame {f.index} at {f.time:.2f} s": _thumbnail(f, r) for _, f, r in kept},
            label=meaning or f"{self.inner.title} score",
            source_analyzer=self.inner.id,
            sampling=self.sampling.describe(),
            skipped=skipped,
            top=top,
            models_used=sorted({m for _, _, r in kept for m in r.models_used}),
        )


def frame_value(result: Result) -> tuple[float, str]:
    """One number per frame for the timeline: the analyzer's score, or for a heat map without one
    the 99th percentile of its map (a small bright region still shows, unlike with the mean)."""
    if not result.ok:
        return math.nan, ""
    if result.score is not None:
        return float(result.score), result.score_meaning
    if isinstance(result, Heatmap) and result.map is not None:
        return float(np.nanpercentile(result.map, 99)), "99th percentile of the frame's map, 0–1"
    return math.nan, ""


def _expected_frames(media: Media, sampling: FrameSampling) -> int:
    assert media.video is not None
    if sampling.mode is SamplingMode.SCENES:
        return max(int(media.video.duration), 1)  # unknown in advance: a guess for the progress bar
    return max(int(media.video.duration / sampling.every_s) + 1, 1)


def _rank(item: tuple[float, Frame, Result]) -> float:
    return -math.inf if math.isnan(item[0]) else item[0]


def _small_map(result: Result) -> np.ndarray | None:
    if not isinstance(result, Heatmap) or result.map is None:
        return None
    h, w = result.map.shape[:2]
    scale = MAP_SIDE / max(h, w)
    size = (max(round(w * scale), 1), max(round(h * scale), 1))
    return cv2.resize(result.map.astype(np.float32), size, interpolation=cv2.INTER_AREA).astype(np.float16)


def _thumbnail(frame: Frame, result: Result) -> np.ndarray:
    rgb = frame.rgb
    assert rgb is not None
    if isinstance(result, Heatmap) and result.map is not None and result.map.shape[:2] == rgb.shape[:2]:
        rgb = blend(rgb, result.map, 0.6)
    scale = THUMB_SIDE / max(rgb.shape[:2])
    if scale < 1:
        rgb = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


def _message(analysed: int, skipped: int, failures: dict[str, int]) -> str:
    text = f"{analysed} frame(s) analysed"
    if skipped:
        text += f", {skipped} undecodable frame(s) skipped"
    for reason, count in failures.items():
        text += f"; {count} frame(s) failed: {reason}"
    return text
