"""Process-wide memory allocator tuning for whole-image numpy work."""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -2, -3, -8


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
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    settings = (
        (_M_ARENA_MAX, 1),
        (_M_MMAP_THRESHOLD, 1 << 30),
        (_M_TRIM_THRESHOLD, 1 << 30),
        (_M_TOP_PAD, 1 << 28),
    )
    _no_huge_page_advice()
    return all(mallopt(option, value) for option, value in settings)


def release_freed_memory() -> bool:
    """glibc only: return the freed memory the heap keeps (`keep_freed_memory`) to the system.

    Why: between the analyzers of a 100-MP image, the up to 1 GB kept for reuse would count on top
    of what the next one needs; called there, not after every array, as it costs a pass over the
    heap. Returns False where unavailable.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


def _no_huge_page_advice() -> None:
    """numpy's switch for madvise(MADV_HUGEPAGE) on its allocations (private; absent: nothing done)."""
    from numpy._core import multiarray

    switch = getattr(multiarray, "_set_madvise_hugepage", None)
    if switch is not None:
        switch(False)
