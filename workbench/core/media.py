"""Evidence files opened read-only, validated up front so analyzers never see a bad file.

Every way a file can be unusable (missing, unreadable, empty, truncated, unsupported, too many
pixels) becomes a `MediaError` whose message an analyst can act on; nothing here writes to disk.
"""

from __future__ import annotations

import errno
import hashlib
import io
import math
import os
import stat
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from workbench.core.hashing import sha256_file
from workbench.core.names import is_text, shown
from workbench.core.video import VideoError, VideoInfo, VideoReader, probe, truncation_warning

# We enforce our own, configurable limit (`max_pixels`) with a clear message instead of
# Pillow's global DecompressionBombError, which would fire at a fixed size we cannot explain.
Image.MAX_IMAGE_PIXELS = None

DEFAULT_MAX_PIXELS = 100_000_000
"""Default pixel limit: a 100-megapixel RGB image already needs ~1.2 GB as float32 maps."""


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


class MediaError(Exception):
    """A file that cannot be used as evidence; the message is meant for the analyst (a file name
    that is not UTF-8 shows its odd bytes escaped, so the message can be stored, printed and drawn)."""

    def __init__(self, message: str) -> None:
        super().__init__(shown(message))


IMAGE_FORMATS_BY_EXTENSION: dict[str, set[str]] = {
    ".jpg": {"JPEG", "MPO"},
    ".jpeg": {"JPEG", "MPO"},
    ".jpe": {"JPEG"},
    ".jfif": {"JPEG"},
    ".png": {"PNG"},
    ".tif": {"TIFF"},
    ".tiff": {"TIFF"},
    ".bmp": {"BMP"},
    ".gif": {"GIF"},
    ".webp": {"WEBP"},
    ".ppm": {"PPM"},
    ".pgm": {"PPM"},
}
VIDEO_EXTENSIONS = {".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv"}
SUPPORTED_FORMATS = {fmt for fmts in IMAGE_FORMATS_BY_EXTENSION.values() for fmt in fmts}


def looks_like_media(path: Path) -> bool:
    """Cheap filter for folder imports: known image/video extension."""
    suffix = path.suffix.lower()
    return suffix in IMAGE_FORMATS_BY_EXTENSION or suffix in VIDEO_EXTENSIONS


@dataclass
class Media:
    """One evidence file, its pixels cached (`open_media` keeps those it decoded to validate the
    file); the file is only ever read."""

    path: Path
    sha256: str
    size: int
    kind: MediaKind
    format: str
    width: int
    height: int
    mode: str
    warnings: list[str] = field(default_factory=list)
    video: VideoInfo | None = None
    """Container facts when `kind` is VIDEO."""
    _pixels: np.ndarray | None = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def name(self) -> str:
        """The file name as shown (bytes that are not UTF-8 escaped); `path` keeps them exactly."""
        return shown(self.path.name)

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    def raw_bytes(self) -> bytes:
        with open(self.path, "rb") as fh:
            return fh.read()

    def pil(self) -> Image.Image:
        """A fresh Pillow image decoded from the bytes (metadata, quantisation tables...)."""
        im = Image.open(io.BytesIO(self.raw_bytes()))
        im.load()
        return im

    def pixels(self) -> np.ndarray:
        """RGB uint8 array (H, W, 3) of the stored pixels (EXIF orientation is not applied);
        for a video, its first decodable frame (the poster shown in lists and thumbnails)."""
        with self._lock:
            if self._pixels is None:
                self._pixels = read_only(self._poster() if self.video else to_rgb8(self.pil()))
            return self._pixels

    def reader(self) -> VideoReader:
        """A decoder of this video (one per job: readers are not thread-safe)."""
        if self.video is None:
            raise MediaError(f"{self.name}: not a video")
        try:
            return VideoReader(self.path, self.video)
        except VideoError as exc:
            raise MediaError(str(exc)) from exc

    def _poster(self) -> np.ndarray:
        with self.reader() as reader:
            for frame in reader.sample(every_s=1.0):
                if frame.rgb is not None:
                    return np.ascontiguousarray(frame.rgb)
        raise MediaError(f"{self.name}: no frame of this video can be decoded")


def read_only(pixels: np.ndarray) -> np.ndarray:
    """The pixels, made read-only: analyzers share them (and values derived from them)."""
    pixels.setflags(write=False)
    return pixels


def to_rgb8(im: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to RGB uint8, rescaling high bit-depth data instead of clipping
    (an RGB image without a converted copy: 300 MB less at 100 megapixels)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        gray = arr.round().astype(np.uint8)
        return np.ascontiguousarray(np.stack([gray] * 3, axis=-1))
    return np.ascontiguousarray(np.asarray(im if im.mode == "RGB" else im.convert("RGB")))


def open_media(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    sha256: str | None = None,
) -> Media:
    """Validate and open an evidence file, hashing it unless the caller already did.

    The file is read once: the hash and the decode check are of the same bytes. The image is
    fully decoded here, so truncation is reported at import time, not halfway through an analysis,
    and only here: the Media keeps those pixels (a 100-MP decode takes seconds and a gigabyte).
    """
    path = Path(path)
    size = _nonempty_size(path)
    if _is_video(path):
        return _open_video(path, size, max_pixels, sha256)
    data, im = _read_image(path, max_pixels)
    warnings = _format_warnings(path, im)
    width, height = im.size
    pixels = _decoded(path, im)
    fmt, mode, digest = im.format or "unknown", im.mode, sha256 or hashlib.sha256(data).hexdigest()
    del im, data  # the decoder's copy of the pixels and the file's bytes go before the analyses start

    return Media(
        path=path.resolve(),
        sha256=digest,
        size=size,
        kind=MediaKind.IMAGE,
        format=fmt,
        width=width,
        height=height,
        mode=mode,
        warnings=warnings,
        _pixels=pixels,
    )


@dataclass(frozen=True)
class Reduced:
    """An image file opened for indexing: its facts, and pixels decoded no larger than needed."""

    media: Media
    """The file's facts and hash; `media.pixels()` decodes the full image again if ever needed."""
    pixels: np.ndarray
    """RGB uint8, long side at least the size asked for (the stored pixels when not larger)."""
    image: Image.Image | None
    """The decoded Pillow image, for its metadata (EXIF, quantisation tables); None for a video."""


def open_reduced(
    path: str | os.PathLike[str], long_side: int | None, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Reduced:
    """`open_media` for a consumer that only needs `long_side` pixels: a JPEG at least twice that
    size is decoded by libjpeg's DCT scaling (1/2, 1/4 or 1/8, the smallest scale whose long side is
    still at least `long_side`), a quarter to a 64th of the decoding work and memory of a camera
    photo. Validation (format, pixel limit, truncation) and the hash are those of `open_media`;
    other formats and `long_side=None` decode in full. A video gives its poster frame."""
    path = Path(path)
    size = _nonempty_size(path)
    if _is_video(path):
        media = open_media(path, max_pixels=max_pixels)
        return Reduced(media, media.pixels(), None)
    data, im = _read_image(path, max_pixels)
    warnings = _format_warnings(path, im)
    width, height = im.size
    if long_side and im.format in ("JPEG", "MPO") and max(width, height) >= 2 * long_side:
        factor = long_side / max(width, height)
        im.draft(None, (math.ceil(width * factor), math.ceil(height * factor)))
    pixels = _decoded(path, im)
    media = Media(path=path.resolve(), sha256=hashlib.sha256(data).hexdigest(), size=size, kind=MediaKind.IMAGE,
                  format=im.format or "unknown", width=width, height=height, mode=im.mode, warnings=warnings)
    return Reduced(media, pixels, im)


def _read_image(path: Path, max_pixels: int) -> tuple[bytes, Image.Image]:
    """The file's bytes and its image opened on them (header read, pixels not decoded), refused
    with a reason when unreadable, not a supported image, or over the pixel limit."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise MediaError(f"{path.name}: cannot read the file ({exc.strerror or exc})") from exc

    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise MediaError(
            f"{path.name}: not a supported image format (or the header is corrupt)"
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaError(f"{path.name}: the image header is corrupt ({exc})") from exc

    fmt = im.format or "unknown"
    if fmt not in SUPPORTED_FORMATS:
        raise MediaError(f"{path.name}: {fmt} images are not supported")
    width, height = im.size
    if width * height > max_pixels:
        raise MediaError(
            f"{path.name}: {width}×{height} = {_megapixels(width * height)} megapixels exceeds the "
            f"limit of {_megapixels(max_pixels)} megapixels (a possible decompression bomb; if the file "
            f"is genuine, raise the limit: Settings ▸ Pixel limit in the app, --max-pixels in the CLI)"
        )
    return data, im


def _decoded(path: Path, im: Image.Image) -> np.ndarray:
    """All of the image's pixels decoded (so truncation shows now), as read-only RGB uint8."""
    try:
        im.load()
        return read_only(to_rgb8(im))
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaError(f"{path.name}: the image data is truncated or corrupt ({exc})") from exc
    except MemoryError as exc:
        raise MediaError(f"{path.name}: not enough memory to decode the image") from exc


def _nonempty_size(path: Path) -> int:
    """The size of a readable, non-empty regular file; MediaError otherwise."""
    _check_readable(path)
    size = path.stat().st_size
    if size == 0:
        raise MediaError(f"{path.name}: the file is empty (0 bytes)")
    return size


def _is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS and not _is_image(path)


def _is_image(path: Path) -> bool:
    """An image saved under a video extension (FFmpeg would play it as a one-frame video)."""
    try:
        with Image.open(path) as im:
            return im.format in SUPPORTED_FORMATS
    except (OSError, ValueError, SyntaxError):
        return False


def _open_video(path: Path, size: int, max_pixels: int, sha256: str | None) -> Media:
    """Hash in chunks (videos can be larger than memory) and check that frames decode."""
    try:
        digest = sha256 or sha256_file(path)
    except OSError as exc:
        raise MediaError(f"{path.name}: cannot read the file ({exc.strerror or exc})") from exc
    try:
        info = probe(path)
        tail = truncation_warning(path, info)
    except VideoError as exc:
        raise MediaError(str(exc)) from exc
    if info.width * info.height > max_pixels:
        raise MediaError(
            f"{path.name}: {info.width}×{info.height} frames exceed the limit of "
            f"{_megapixels(max_pixels)} megapixels (raise it in Settings ▸ Pixel limit or with --max-pixels)"
        )
    warnings = _path_warnings(path) + ([tail] if tail else [])
    if info.container == "unknown":
        warnings.append("container not recognised from the file's first bytes")
    if info.rotation:
        warnings.append(f"the container asks players to rotate the picture by {info.rotation}°")
    return Media(
        path=path.resolve(), sha256=digest, size=size, kind=MediaKind.VIDEO, format=info.container,
        width=info.width, height=info.height, mode="RGB", warnings=warnings, video=info,
    )


def _megapixels(pixels: int) -> str:
    """'900', '12' or '0.262': never '0' for a small image or limit."""
    mp = pixels / 1e6
    return f"{mp:.0f}" if mp >= 10 else f"{mp:.3g}"


SPECIAL_FILES = {
    stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def file_problem(path: Path) -> str | None:
    """Why `path` is no file to read as evidence (missing, a broken link or a link loop, a folder, a
    pipe or device that would block or never end, unreadable), or None. Nothing is opened."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{path}: a loop of symbolic links"
        if exc.errno != errno.ENOENT:
            return f"{path}: cannot be read ({exc.strerror or exc})"
        if path.is_symlink():
            return f"{path}: a broken link (to {os.readlink(path)}, which does not exist)"
        return f"{path}: no such file"
    if stat.S_ISDIR(mode):
        return f"{path}: is a folder, not a file"
    if not stat.S_ISREG(mode):
        return f"{path.name}: not a regular file but {SPECIAL_FILES.get(stat.S_IFMT(mode), 'a special file')}"
    if not os.access(path, os.R_OK):
        return f"{path.name}: permission denied (the file is not readable)"
    return None


def _check_readable(path: Path) -> None:
    problem = file_problem(path)
    if problem:
        raise MediaError(problem)


def _path_warnings(path: Path) -> list[str]:
    """What the path given says about the file: reached through a link (the link is not recorded
    elsewhere: the evidence is the file it leads to), a name with bytes that are not UTF-8."""
    warnings = [f"given as the link {shown(path.absolute())}"] if path.is_symlink() else []
    if not is_text(str(path)):
        warnings.append("the file's name or folder is not valid UTF-8: the bytes that are not are shown as \\xNN "
                        "(the file is opened by its exact name)")
    return warnings


def _format_warnings(path: Path, im: Image.Image) -> list[str]:
    warnings = _path_warnings(path)
    expected = IMAGE_FORMATS_BY_EXTENSION.get(path.suffix.lower())
    if expected is None:
        warnings.append(f"unusual extension '{path.suffix}' for a {im.format} file")
    elif im.format not in expected:
        warnings.append(
            f"extension '{path.suffix}' does not match the content ({im.format}): "
            "the file may have been renamed"
        )
    if getattr(im, "n_frames", 1) > 1:
        warnings.append(f"{im.n_frames} frames: only the first is analysed")
    return warnings
