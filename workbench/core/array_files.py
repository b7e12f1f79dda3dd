"""How a result's arrays are stored: compressed, maps at half precision, browsing layers reduced,
and never written into a folder without the room for them.

Why: a 100-megapixel image gives float32 maps of 400 MB each, and the Triage analyzers store a dozen
of them. Heat maps are values in [0, 1] read by eye and thresholded: float16 keeps them within
2⁻¹² (a 1/4096 of the scale, 16 times finer than a colour step of the views); deflate shrinks the
blocky or mostly flat maps of most signals many times more. The layers an analyst browses beside
the main map are stretched over the image by the views anyway, so they are stored reduced.
"""

from __future__ import annotations

import errno
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np

SUFFIX = ".npz"
"""Arrays are written as compressed NumPy archives holding one array; `.npy` files (cases written
before) are read as they are."""

BROWSE_SIDE = 2048
"""Longest side of a stored browsing layer (`browsing_copy`)."""

UNIT_PRECISION = 2.0**-12
"""The largest error of a value in [0, 1] stored at half precision: half the spacing of float16
values in [0.5, 1] (2.4 · 10⁻⁴; finer below 0.5)."""

SPACE_RESERVE = 64 << 20
"""Bytes left free beyond a result's arrays, for the case database and its journal."""

FILE_OVERHEAD = 4096
"""Bytes of an archive's headers, and the most deflate can add to a small array."""


class NotEnoughSpace(OSError):
    """The case folder's disk cannot hold a result's arrays; nothing was written."""

    def __init__(self, need: int, free: int) -> None:
        super().__init__(errno.ENOSPC, f"not enough space in the case folder: need {size_text(need)}, "
                                       f"{size_text(free)} free")

    def __str__(self) -> str:
        return str(self.strerror)


def stored_form(values: np.ndarray, unit: bool = False, browse: bool = False) -> np.ndarray:
    """The array as written: a float map in [0, 1] (`unit`) at half precision, a browsing layer
    reduced to `BROWSE_SIDE`; anything else unchanged."""
    values = np.asarray(values)
    if browse:
        values = browsing_copy(values)
    if unit and values.dtype.kind == "f":
        values = values.astype(np.float16)
    return values


def browse_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """(h, w) shrunk so the longer side is at most `BROWSE_SIDE` (a smaller shape as it is)."""
    scale = min(1.0, BROWSE_SIDE / max(shape))
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def browsing_copy(values: np.ndarray) -> np.ndarray:
    """A 2-D float map area-averaged to `browse_shape` (smaller ones, and others, as they are).
    Analyzers call it on the layers they offer for browsing, so a large image's full-size layers
    are not kept until the result is stored."""
    h, w = browse_shape(values.shape[:2])
    if values.ndim != 2 or (h, w) == values.shape or values.dtype.kind != "f":
        return values
    return cv2.resize(values.astype(np.float32, copy=False), (w, h), interpolation=cv2.INTER_AREA)


def write_array(folder: Path, stem: str, key: str, values: np.ndarray) -> str:
    """Write `values` (already in `stored_form`) as `stem.npz` holding the array `key`; its file name."""
    name = f"{stem}{SUFFIX}"
    np.savez_compressed(folder / name, **{key: values})
    return name


def read_array(path: str | Path, as_float32: bool = False) -> np.ndarray:
    """The array of a `.npz` written by `write_array`, or of a plain `.npy`; half-precision maps
    back as float32 when `as_float32` (the analyzers' and views' working type)."""
    path = Path(path)
    if path.suffix == SUFFIX:
        with np.load(path) as archive:
            values = archive[archive.files[0]]
    else:
        values = np.load(path)
    if as_float32 and values.dtype == np.float16:
        values = values.astype(np.float32)
    return values


def check_array_file(path: str | Path) -> None:
    """Raise (OSError, ValueError, zipfile.BadZipFile) when a stored array file cannot be read whole,
    without reading its data: a `.npy` is memory-mapped (header parsed, length compared); a `.npz`'s
    directory is read and each member's header checked against the member's size."""
    path = Path(path)
    if path.suffix != SUFFIX:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        del mapped  # releases the file (Windows keeps a mapped file open)
        return
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if not members:
            raise ValueError("an archive without an array")
        for info in members:
            with archive.open(info) as member:
                major, _minor = np.lib.format.read_magic(member)
                read_header = np.lib.format.read_array_header_1_0 if major == 1 else \
                    np.lib.format.read_array_header_2_0
                shape, _fortran, dtype = read_header(member)
                if dtype.hasobject:
                    raise ValueError("an array of Python objects")
                expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                if info.file_size - member.tell() != expected:
                    raise ValueError(f"{info.filename} holds {info.file_size - member.tell()} bytes, not {expected}")


def needed_bytes(arrays: list[np.ndarray]) -> int:
    """At most what `write_array` writes for these arrays (deflate may only shrink them), plus the
    reserve the case keeps free."""
    return sum(a.nbytes + FILE_OVERHEAD for a in arrays) + SPACE_RESERVE


def check_free_space(folder: Path, need: int) -> None:
    """Refuse (NotEnoughSpace) to write `need` bytes into `folder` (or where it would be created)
    when its disk has less free: a full disk would otherwise stop the write halfway, and the case
    database beside it with it."""
    existing = Path(folder)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if free < need:
        raise NotEnoughSpace(need, free)


def size_text(count: int) -> str:
    """'1.2 GB', '340 MB', '12 kB': bytes for the analyst."""
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= factor:
            return f"{count / factor:.3g} {unit}"
    return f"{count} bytes"
