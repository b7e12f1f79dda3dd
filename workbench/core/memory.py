"""Process-wide memory allocator tuning for whole-image numpy work."""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -2, -3, -8

HEAP_ARRAYS = 1 << 30
"""Arrays up to this size come from the heap once `keep_freed_memory` ran."""

MAPPED_ARRAYS = 64 << 20
"""Arrays from this size on are mapped apart while `large_arrays_mapped` holds."""

_tuned: list[bool] = []
"""Non-empty once `keep_freed_memory` changed the allocator's settings."""


def keep_freed_memory() -> bool:
    """glibc only: serve arrays up to 1 GB from one heap shared by all threads and keep up to
    1 GB of freed memory there for reuse.

    Why: by default every array over 32 MB (a 12-MP float32 plane is 48 MB) is freshly mapped,
    zeroed by the kernel page by page and unmapped on free, and each worker thread gets its own
    arena too small for such arrays; the localisers then spend about a third of their CPU time in
    page faults (bench/localization_speed.py, --glibc-default). Also turns numpy's huge-page advice
    off: with it, the first touch of a fresh 2-MB stretch may make the kernel compact memory to find
    a huge page (transparent huge pages, defrag "madvise"), which made the first 12-MP analysis of a
    process 0.8 s slower (4.3 → 3.5 s) and later ones no faster. Call once at start-up, before any
    worker thread; returns False where unavailable (not Linux/glibc).
    """
    libc = _libc()
    if libc is None:
        return False
    settings = (
        (_M_ARENA_MAX, 1),
        (_M_MMAP_THRESHOLD, HEAP_ARRAYS),
        (_M_TRIM_THRESHOLD, 1 << 30),
        (_M_TOP_PAD, 1 << 28),
    )
    _no_huge_page_advice()
    done = all(libc.mallopt(option, value) for option, value in settings)
    if done:
        _tuned.append(True)
    return done


@contextmanager
def large_arrays_mapped() -> Iterator[None]:
    """While it holds, arrays of MAPPED_ARRAYS or more are mapped apart and unmapped when freed (as
    glibc does by default), instead of coming from the heap `keep_freed_memory` set up.

    Why: on a 100-MP image every plane is 100–400 MB; on the heap, freed planes leave holes that the
    next plane of another size does not fit, and JPEG ghosts grew 0.4 GB beyond what they used
    (bench/big_image.py). The page faults this costs weigh less than the memory there. Does nothing
    where `keep_freed_memory` changed nothing. Not nested: one large image is analysed at a time.
    """
    libc = _libc() if _tuned else None
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, MAPPED_ARRAYS)
    try:
        yield
    finally:
        if libc is not None:
            libc.mallopt(_M_MMAP_THRESHOLD, HEAP_ARRAYS)


def release_freed_memory() -> bool:
    """glibc only: return the freed memory the heap keeps (`keep_freed_memory`) to the system.

    Why: between the analyzers of a 100-MP image, the up to 1 GB kept for reuse would count on top
    of what the next one needs; called there, not after every array, as it costs a pass over the
    heap. Returns False where unavailable.
    """
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """glibc, on Linux; None elsewhere (loaded once)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def _no_huge_page_advice() -> None:
    """numpy's switch for madvise(MADV_HUGEPAGE) on its allocations (private; absent: nothing done)."""
    from numpy._core import multiarray

    switch = getattr(multiarray, "_set_madvise_hugepage", None)
    if switch is not None:
        switch(False)
