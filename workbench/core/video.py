"""Video evidence: container facts, frame-accurate reading and sampling that survives broken frames.

OpenCV's FFmpeg backend decodes; this module adds what an investigator needs on top: the
facts of the container (codec, fps, duration, rotation, creation time from the MP4/MOV header),
frames by index, and sampling at a fixed rate where a frame that will not decode is counted and
skipped instead of ending the job.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from workbench.core.names import is_text, shown

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
"""FFmpeg's own log lines (one per damaged frame) would flood the terminal; damaged frames are
counted in the results instead. Read by OpenCV when a capture opens."""

SCENE_THRESHOLD = 0.35
"""Histogram distance (Bhattacharyya, 0–1) above which a frame starts a new scene."""
GIVE_UP_AFTER_S = 30.0
"""Seconds of consecutive undecodable frames after which a stream is taken to have ended
(a truncated file whose header promises more frames than it holds)."""


TAIL_TOLERANCE = 2
"""Frames at the end that may fail to decode without a warning: some containers round their count."""


class VideoError(Exception):
    """A video that cannot be opened or decoded; the message is for the analyst."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frame_count: int
    codec: str
    container: str
    rotation: int = 0
    creation_time: str | None = None
    """UTC, ISO 8601, from the container header (MP4/MOV `mvhd`, Matroska/WebM `DateUTC`); None when
    not recorded or in a container whose header we do not read (AVI, MPEG, ASF)."""

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0

    def facts(self) -> list[tuple[str, str]]:
        """The rows an investigator reads first, for the metadata table and the report."""
        return [
            ("Container", self.container),
            ("Codec", self.codec or "unknown"),
            ("Frame size", f"{self.width}×{self.height}"),
            ("Frame rate", f"{self.fps:.3f} fps"),
            ("Frames", str(self.frame_count)),
            ("Duration", f"{self.duration:.2f} s"),
            ("Rotation", f"{self.rotation}°"),
            ("Creation time", self.creation_time or "not recorded"),
        ]


@dataclass(frozen=True)
class Frame:
    index: int
    time: float
    rgb: np.ndarray | None
    """None when this frame could not be decoded (counted by the caller, never fatal)."""


class SceneCuts:
    """Scene changes seen frame by frame: a frame whose colour histogram (hue × saturation of a
    64×48 thumbnail) differs from the previous decoded frame's by more than `threshold`
    (Bhattacharyya distance) starts a new scene; `found` lists those frames (the cuts), in order."""

    def __init__(self, threshold: float = SCENE_THRESHOLD) -> None:
        self.threshold = threshold
        self.found: list[int] = []
        self._previous: np.ndarray | None = None

    def feed(self, index: int, bgr: np.ndarray) -> bool:
        """Whether frame `index` starts a scene (the first frame fed does); a cut is recorded."""
        small = cv2.resize(bgr, (64, 48), interpolation=cv2.INTER_AREA)
        hist = cv2.calcHist([cv2.cvtColor(small, cv2.COLOR_BGR2HSV)], [0, 1], None, [16, 8], [0, 180, 0, 256])
        cv2.normalize(hist, hist)
        first = self._previous is None
        change = 1.0 if first else cv2.compareHist(self._previous, hist, cv2.HISTCMP_BHATTACHARYYA)
        self._previous = hist
        if change <= self.threshold:
            return False
        if not first:
            self.found.append(index)
        return True


def probe(path: Path) -> VideoInfo:
    """Open the video, check that a first frame decodes, and read the container's facts."""
    cap = _capture(path)
    try:
        ok, bgr = cap.read()
        if not ok or bgr is None:
            raise VideoError(f"{path.name}: no frame of this video can be decoded")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
        rotation = int(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0) % 360
        height, width = bgr.shape[:2]
    finally:
        cap.release()
    return VideoInfo(
        width=width,
        height=height,
        fps=fps if 0 < fps < 1000 else 25.0,
        frame_count=max(count, 1),
        codec=_fourcc_text(fourcc),
        container=container_of(path),
        rotation=rotation,
        creation_time=mp4_creation_time(path) or matroska_creation_time(path),
    )


def truncation_warning(path: Path, info: VideoInfo) -> str | None:
    """Why the end of the video may be missing, or None when its last frames decode.

    A copy cut short (an interrupted transfer, a file carved from free space) keeps the header that
    announces every frame and loses the end. One seek to the last second and a decode of its frames
    says so at import, instead of a count of undecodable frames inside each result."""
    count = info.frame_count
    window = min(max(round(info.fps), 1), count)
    cap = _capture(path)
    try:
        if count <= 1 or not cap.set(cv2.CAP_PROP_POS_FRAMES, count - window):
            return None  # nothing announced, or a container we cannot seek in: nothing to compare
        last = max((i for i in range(count - window, count) if cap.grab()), default=None)
    finally:
        cap.release()
    announced = f"the container announces {count} frames ({info.duration:.2f} s)"
    if last is None:
        return (f"{announced}, but none of its last {window} decode: the file may be truncated "
                "(analyses see the frames up to where decoding stops)")
    missing = count - 1 - last
    if missing <= TAIL_TOLERANCE:
        return None
    return (f"{announced}, but the last {missing} do not decode (from {(last + 1) / info.fps:.2f} s): "
            "the file may be truncated")


class VideoReader:
    """One open decoder: frames by index and sampling at a rate. Not thread-safe: one per job."""

    def __init__(self, path: Path, info: VideoInfo) -> None:
        self.path, self.info = path, info
        self._cap = _capture(path)
        self._next = 0  # index of the frame the decoder returns next

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def frame(self, index: int) -> np.ndarray | None:
        """RGB of frame `index`, or None if it does not decode. Short forward jumps decode through
        (exact); longer ones seek, which FFmpeg resolves from the previous key frame."""
        index = min(max(index, 0), self.info.frame_count - 1)
        if not 0 <= index - self._next <= 2 * self.info.fps:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            self._next = index
        while self._next < index:
            self._cap.grab()
            self._next += 1
        ok, bgr = self._cap.read()
        self._next += 1
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok and bgr is not None else None

    def sample(
        self,
        every_s: float = 1.0,
        cancelled: Callable[[], bool] = lambda: False,
        max_side: int | None = None,
        cuts: SceneCuts | None = None,
    ) -> Iterator[Frame]:
        """Frames at `every_s` seconds (the frame nearest each instant), decoding the stream once.

        Frames in between are only grabbed (demuxed and decoded, not converted), unless `cuts` is
        given: then every frame is converted and fed to it, up to the end of the stream, so that
        `cuts.found` holds the scene cuts up to each yielded frame and, once the iteration ends,
        all of them. A frame that fails to decode is yielded with `rgb=None`; the stream ends after
        many failures in a row.
        """
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        fps = self.info.fps
        wanted = sample_indices(self.info.frame_count, fps, every_s)
        position, failures, limit = 0, 0, self._give_up_after()
        for index in wanted:
            if cancelled():
                return
            while position < index and failures < limit:
                failures = 0 if self._pass(position, cuts) else failures + 1
                position += 1
            if failures >= limit:
                return
            ok = self._cap.grab()
            position += 1
            bgr = self._cap.retrieve()[1] if ok else None
            failures = 0 if ok else failures + 1
            if cuts is not None and bgr is not None:
                cuts.feed(index, bgr)
            yield Frame(index, index / fps, _to_rgb(bgr, max_side) if bgr is not None else None)
        while cuts is not None and position < self.info.frame_count and failures < limit and not cancelled():
            failures = 0 if self._pass(position, cuts) else failures + 1
            position += 1
        self._next = position

    def _pass(self, index: int, cuts: SceneCuts | None) -> bool:
        """Decode frame `index` without keeping it (only fed to `cuts` when given); False if it failed."""
        if cuts is None:
            return self._cap.grab()
        ok, bgr = self._cap.read()
        if ok and bgr is not None:
            cuts.feed(index, bgr)
        return bool(ok)

    def _give_up_after(self) -> int:
        return max(int(GIVE_UP_AFTER_S * self.info.fps), 1)

    def scenes(
        self,
        threshold: float = SCENE_THRESHOLD,
        cancelled: Callable[[], bool] = lambda: False,
        max_side: int | None = None,
        min_gap_s: float = 0.5,
    ) -> Iterator[Frame]:
        """The first frame of each scene (`SceneCuts`), scenes at least `min_gap_s` apart."""
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        fps, cuts, last_cut = self.info.fps, SceneCuts(threshold), -math.inf
        index, failures, limit = 0, 0, self._give_up_after()
        while failures < limit and not cancelled():
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                failures += 1
                index += 1
                if index >= self.info.frame_count:
                    break
                continue
            failures = 0
            if cuts.feed(index, bgr) and (index - last_cut) / fps >= min_gap_s:
                last_cut = index
                yield Frame(index, index / fps, _to_rgb(bgr, max_side))
            index += 1
        self._next = index


def sample_indices(frame_count: int, fps: float, every_s: float) -> list[int]:
    """Frame indices nearest to 0, every_s, 2·every_s, … seconds (no duplicates)."""
    step = max(every_s * fps, 1.0)
    return sorted({int(round(i * step)) for i in range(int((frame_count - 1) / step) + 1)})


def _to_rgb(bgr: np.ndarray, max_side: int | None) -> np.ndarray:
    if max_side and max(bgr.shape[:2]) > max_side:
        scale = max_side / max(bgr.shape[:2])
        bgr = cv2.resize(bgr, (round(bgr.shape[1] * scale), round(bgr.shape[0] * scale)),
                         interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _capture(path: Path) -> cv2.VideoCapture:
    with _decoder_name(path) as name:
        cap = cv2.VideoCapture(name, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{path.name}: not a readable video (unknown container or codec, or a corrupt header)")
    return cap


@contextmanager
def _decoder_name(path: Path) -> Iterator[str]:
    """A name OpenCV can open for `path`. OpenCV takes UTF-8 text and crashes the process on a file
    name that is not UTF-8 (bytes Python keeps as lone surrogates), so such a file is handed over as
    `/proc/self/fd/N` of a descriptor held open while the decoder opens it (Linux)."""
    text = str(path)
    if is_text(text):
        yield text
        return
    if not Path("/proc/self/fd").is_dir():
        raise VideoError(f"{shown(path.name)}: the file name is not valid UTF-8, which the video decoder cannot "
                         "open on this system; analyse a copy with a plain name")
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise VideoError(f"{shown(path.name)}: cannot read the file ({exc.strerror or exc})") from exc
    try:
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _fourcc_text(fourcc: int) -> str:
    text = "".join(chr((fourcc >> (8 * i)) & 0xFF) for i in range(4))
    return text.strip("\x00 ") if text.isprintable() else ""


def container_of(path: Path) -> str:
    """The container named by the file's first bytes (not by its extension, which can lie)."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("latin-1").strip()
        return "QuickTime MOV" if brand == "qt" else f"MPEG-4 ({brand})"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "Matroska / WebM"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "MPEG program stream"
    if head[:4] == b"\x30\x26\xb2\x75":
        return "ASF / WMV"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "QuickTime MOV"
    return "unknown"


_MP4_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)


def mp4_creation_time(path: Path, limit: int = 64 << 20) -> str | None:
    """Creation time from the `moov/mvhd` box of an MP4/MOV file, or None.

    Zero (what many encoders write) means "not recorded". Boxes are walked by their sizes, so a
    `moov` after a large `mdat` costs one seek, not a read of the media data.
    """
    try:
        with open(path, "rb") as fh:
            mvhd = _find_box(fh, [b"moov", b"mvhd"], path.stat().st_size, limit)
    except OSError:
        return None
    if mvhd is None or len(mvhd) < 12:
        return None
    version = mvhd[0]
    seconds = struct.unpack(">Q", mvhd[4:12])[0] if version == 1 else struct.unpack(">I", mvhd[4:8])[0]
    if seconds == 0:
        return None
    try:
        return (_MP4_EPOCH + timedelta(seconds=seconds)).isoformat(timespec="seconds")
    except OverflowError:
        return None


def _find_box(fh, path: list[bytes], end: int, limit: int) -> bytes | None:  # noqa: ANN001 - binary file
    start = fh.tell()
    while fh.tell() + 8 <= end:
        header = fh.read(8)
        if len(header) < 8:
            return None
        size, name = struct.unpack(">I4s", header)
        body_start = fh.tell()
        if size == 1:
            size = struct.unpack(">Q", fh.read(8))[0]
            body_start = fh.tell()
            size -= 16
        elif size == 0:
            size = end - body_start
        else:
            size -= 8
        if size < 0:
            return None
        if name == path[0]:
            if len(path) == 1:
                return fh.read(min(size, limit))
            return _find_box(fh, path[1:], body_start + size, limit)
        fh.seek(body_start + size)
        if fh.tell() <= start:
            return None
    return None


_MATROSKA_EPOCH = datetime(2001, 1, 1, tzinfo=UTC)
_EBML_HEADER, _SEGMENT, _INFO, _DATE_UTC = 0x1A45DFA3, 0x18538067, 0x1549A966, 0x4461


def matroska_creation_time(path: Path, limit: int = 1 << 20) -> str | None:
    """`Segment/Info/DateUTC` of a Matroska or WebM file (nanoseconds since 2001-01-01 UTC), or None.

    Only the first MiB is read: muxers write the Info element at the start of the segment.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit)
    except OSError:
        return None
    if data[:4] != _EBML_HEADER.to_bytes(4, "big"):
        return None
    segment = _ebml_child(data, 0, len(data), _SEGMENT)
    info = _ebml_child(data, *segment, _INFO) if segment else None
    date = _ebml_child(data, *info, _DATE_UTC) if info else None
    if date is None or date[1] - date[0] != 8:
        return None
    nanoseconds = int.from_bytes(data[date[0]:date[1]], "big", signed=True)
    try:
        return (_MATROSKA_EPOCH + timedelta(microseconds=nanoseconds // 1000)).isoformat(timespec="seconds")
    except OverflowError:
        return None


def _ebml_child(data: bytes, start: int, end: int, wanted: int) -> tuple[int, int] | None:
    """(start, end) of the body of the first element `wanted` among the elements in data[start:end]."""
    position = start
    while position < end:
        element, position = _vint(data, position, keep_marker=True)
        size, position = _vint(data, position, keep_marker=False)
        if element is None or size is None:
            return None
        body_end = end if size == -1 else min(position + size, end)  # -1: "unknown size" (live streams)
        if element == wanted:
            return position, body_end
        if size == -1:
            return None
        position = body_end
    return None


def _vint(data: bytes, position: int, keep_marker: bool) -> tuple[int | None, int]:
    """An EBML variable-length integer (IDs keep their length marker, sizes drop it); -1 = unknown size."""
    if position >= len(data) or data[position] == 0:
        return None, position
    length = 8 - data[position].bit_length() + 1
    raw = data[position:position + length]
    if len(raw) < length:
        return None, position
    value = int.from_bytes(raw, "big")
    if keep_marker:
        return value, position + length
    value &= (1 << (7 * length)) - 1
    return (-1 if value == (1 << (7 * length)) - 1 else value), position + length

