"""What the CLI writes besides results: output files checked before the work starts, and the case
folder of a run: never inside the evidence, removed again when the run made it and nothing could be
imported into it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import TracebackType

from workbench.app.case import DB_NAME, Case
from workbench.core.names import shown
from workbench.core.paths import is_within


def check_output_file(path: Path, option: str) -> None:
    """Refuse (ValueError, one line) an output file that could not be written, before an analysis of
    hours ends in an error instead of its results."""
    target = path.resolve()
    folder = target.parent
    if target.is_dir():
        raise ValueError(f"{option} {path}: is a folder; name a file to write")
    if not folder.is_dir():
        raise ValueError(f"{option} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: cannot write in {folder} (permission denied)")
    if target.exists() and not os.access(target, os.W_OK):
        raise ValueError(f"{option} {path}: cannot overwrite it (permission denied)")


def check_case_outside(root: Path, paths: list[str]) -> None:
    """Refuse (ValueError) a case folder inside a folder given as evidence, before the case exists: a
    case is written all along the run (database, thumbnails), and nothing is written beside evidence.
    Skipping the case's files instead would keep them out of the import, not the case out of the evidence."""
    for raw in paths:
        folder = Path(raw)
        if folder.is_dir() and is_within(root, folder):
            raise ValueError(f"the case folder {shown(root)} is inside {shown(folder)}, a folder given as evidence: "
                             "a case writes its database and thumbnails there, and nothing may be written beside "
                             f"evidence. Choose a --case folder outside {shown(folder)}")


class RunCase:
    """The case a run works in: opened, or created for the run. A case the run created and imported
    nothing into is removed on `close`, with exactly what creating it added (folders that did not
    exist, or the new entries of a folder that did): a failed run leaves no empty case behind, and
    nothing that was there before is ever deleted."""

    def __init__(self, root: Path, name: str = "", analyst: str = "") -> None:
        root = root.resolve()
        self.created = not (root / DB_NAME).exists()
        self._made: list[Path] = []
        """Folders that did not exist before the case was created, outermost first."""
        self._present: set[str] = set()
        """Entries of the case folder before the case was created, when the folder existed."""
        if not self.created:
            self.case = Case.open(root)
            return
        self._made = [p for p in (root, *root.parents) if not p.exists()][::-1]
        self._present = set(os.listdir(root)) if root.is_dir() else set()
        try:
            self.case = Case.create(root, name, analyst)
        except BaseException:
            self._remove_made(root)
            raise

    @property
    def kept(self) -> bool:
        """False when `close` removes the case."""
        return not self.created or bool(self.case.all_evidence())

    def close(self) -> None:
        kept = self.kept
        self.case.close()
        if not kept:
            self._remove_made(self.case.root)

    def _remove_made(self, root: Path) -> None:
        if self._made:
            shutil.rmtree(self._made[0], ignore_errors=True)
            return
        for name in set(os.listdir(root)) - self._present:
            entry = root / name
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    def __enter__(self) -> RunCase:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
