"""A run's array folder (`blobs/runs/<run id>`), made so that a crash never leaves a run half-stored.

The arrays are written under a name no run refers to (`.partial-<random>`), flushed to the disk,
and renamed to the run's folder inside the transaction that inserts the run: until that
transaction commits, no row refers to the folder, and once it commits the folder is whole. A
crash leaves at most an orphan folder: a `.partial-` one (killed while writing) or a numbered one
whose transaction rolled back (its id is handed out again, and the next save replaces it).
`orphans` finds them for the case to remove when it is opened.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from pathlib import Path

PARTIAL_PREFIX = ".partial-"
PARTIAL_AGE_S = 24 * 3600
"""A `.partial-` folder is removed once nothing in it changed for this long: a save in progress
(perhaps by another process using the case) writes its arrays within seconds, and its folder must
not vanish under it."""


def partial_folder(runs: Path) -> Path:
    """A fresh folder name under `runs` for a save in progress (not created here)."""
    return runs / f"{PARTIAL_PREFIX}{uuid.uuid4().hex}"


def flush(folder: Path) -> None:
    """Force the folder's files onto the disk before a run refers to them: after a power cut a
    committed run must not point at files the disk never received."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        with open(path, "rb+") as f:
            os.fsync(f.fileno())
    _flush_entries(folder)


def move_into_place(partial: Path, final: Path) -> None:
    """Rename the written folder to the run's, inside the run's transaction (the caller holds the
    case's write lock, so a folder already at `final` is a leftover of a rolled-back save)."""
    if final.exists():
        shutil.rmtree(final)
    if partial.exists():  # a result without arrays has no folder
        partial.rename(final)
        _flush_entries(final.parent)


def orphans(runs: Path, run_ids: set[int]) -> list[Path]:
    """Folders under `runs` no run refers to: numbered ones without their run (call while holding the
    case's write lock, so that no save is between its rename and its commit), and `.partial-` ones
    untouched for PARTIAL_AGE_S."""
    if not runs.is_dir():
        return []
    found = []
    for path in runs.iterdir():
        if not path.is_dir() or path.is_symlink():
            continue
        if re.fullmatch(r"[0-9]+", path.name):
            if int(path.name) not in run_ids:
                found.append(path)
        elif path.name.startswith(PARTIAL_PREFIX) and time.time() - _last_change(path) > PARTIAL_AGE_S:
            found.append(path)
    return sorted(found)


def _last_change(folder: Path) -> float:
    """The newest modification time in the folder; now, when it cannot be read (being written)."""
    try:
        return max([folder.stat().st_mtime, *(p.stat().st_mtime for p in folder.iterdir())])
    except OSError:
        return time.time()


def _flush_entries(folder: Path) -> None:
    """Make a folder's new or renamed entries durable (POSIX; Windows cannot open a folder)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
