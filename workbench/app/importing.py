"""Turning dropped files and folders into evidence, with an account of every path given: added, a
copy of an item already in the case, or skipped with the reason."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.app.case import Case, DuplicateEvidence, Evidence
from workbench.core.media import DEFAULT_MAX_PIXELS, MediaError, file_problem, looks_like_media
from workbench.core.names import shown
from workbench.core.paths import is_within


@dataclass(frozen=True)
class Duplicate:
    """A file given whose content (SHA-256) is already an item of the case: not added again, but
    kept in the account with what opening it noticed (a copy's wrong extension is a fact about it)."""

    path: Path
    """As given (absolute, links not resolved)."""
    same_as: Evidence
    warnings: list[str] = field(default_factory=list)

    @property
    def is_copy(self) -> bool:
        """Another path than the item's own: a copy, or a link to it (the item's own file given again
        is no news)."""
        return self.path.is_symlink() or self.path.resolve() != self.same_as.path

    def note(self) -> str:
        warnings = "".join(f"; {w}" for w in self.warnings)
        return (f"{shown(self.path.name)}: same content as #{self.same_as.id} '{self.same_as.name}' "
                f"({shown(self.same_as.path)}), not added again{warnings}")


@dataclass
class ImportReport:
    added: list[Evidence] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def already_present(self) -> list[Evidence]:
        """The case's items that files given turned out to be (one per such file)."""
        return [d.same_as for d in self.duplicates]

    @property
    def copies(self) -> list[Duplicate]:
        return [d for d in self.duplicates if d.is_copy]

    def summary(self) -> str:
        again, copies = len(self.duplicates) - len(self.copies), len(self.copies)
        text = f"{len(self.added)} file(s) added"
        if again:
            text += f", {again} already in the case"
        if copies:
            text += f", {copies} identical to another item"
        if self.skipped:
            text += f", {len(self.skipped)} skipped"
        return text

    def notes(self) -> list[str]:
        """One line for each file given that did not become an item of its own and is news: a copy
        of another item, or a file skipped (with why)."""
        return [d.note() for d in self.copies] + [reason for _, reason in self.skipped]


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files to try, and paths rejected without opening them.

    Files named explicitly are always tried (so a renamed or corrupt file gets its own
    message); inside folders only regular files with an image/video extension are, recursively.
    """
    candidates: list[Path] = []
    rejected: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found, left_out = folder_entries(path)
            candidates += found
            rejected += left_out
        else:
            candidates.append(path)
    return candidates, rejected


def folder_entries(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The media files under `folder`, and every other entry with why it is left out: not media,
    a broken link, a link loop, a pipe or device (opening one could block for ever), a link to a
    folder (not followed: it can lead out of the evidence or round in a loop), a folder that
    cannot be listed. Hidden files and folders (.thumbnails, .DS_Store) are the system's and are
    passed over."""
    candidates: list[Path] = []
    rejected: list[tuple[Path, str]] = []

    def unlisted(exc: OSError) -> None:
        where = Path(exc.filename or folder)
        rejected.append((where, f"{shown(where.name)}: cannot list the folder ({exc.strerror or exc})"))

    for top, folders, files in os.walk(folder, onerror=unlisted):
        here = Path(top)
        for name in [n for n in folders if not n.startswith(".") and (here / n).is_symlink()]:
            link = here / name
            rejected.append((link, f"{shown(link)}: a link to the folder {shown(link.resolve())}, not followed "
                                   "(add that folder itself to import it)"))
        folders[:] = sorted(n for n in folders if not n.startswith(".") and not (here / n).is_symlink())
        for name in files:
            if name.startswith("."):
                continue
            entry = here / name
            problem = file_problem(entry)
            if problem:
                rejected.append((entry, shown(problem)))
            elif looks_like_media(entry):
                candidates.append(entry)
            else:
                rejected.append((entry, f"{shown(name)}: not an image or video file"))
    # links last: a folder holding a file and a link to it adds the file, and lists the link as its duplicate
    return sorted(candidates, key=lambda p: (p.is_symlink(), p)), sorted(rejected)


def case_conflict(path: Path, case: Case) -> str | None:
    """Why `path` must not be imported into `case`, or None: it is part of the case folder (the
    case's own files are not evidence), or a folder holding the case (its thumbnails would be
    imported, and the case is written there: beside the evidence)."""
    if is_within(path, case.root):
        return f"{shown(path)}: part of the case folder {shown(case.root)}, not evidence"
    if path.is_dir() and is_within(case.root, path):
        return (f"{shown(path)}: holds the case folder {shown(case.root)}, which is written as you work: a case "
                "must not live inside the evidence. Move the case out of this folder, or use another case, "
                "and add the folder again")
    return None


def import_paths(
    case: Case,
    paths: Iterable[str | os.PathLike[str]],
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Callable[[float, str], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> ImportReport:
    """Add what can be added; every path given, and every file found in a folder given, ends up in
    the report (and the audit log) as added, a duplicate, or skipped with the reason."""
    report = ImportReport()
    given = []
    for raw in paths:
        conflict = case_conflict(Path(raw), case)
        if conflict:
            report.skipped.append((Path(raw), conflict))
        else:
            given.append(raw)
    candidates, rejected = expand_paths(given)
    report.skipped += rejected
    for i, path in enumerate(candidates):
        if cancelled():
            report.skipped.extend((p, f"{shown(p.name)}: import cancelled") for p in candidates[i:])
            break
        if progress:
            progress(i / max(len(candidates), 1), f"hashing {shown(path.name)}")
        conflict = case_conflict(path, case)  # a link found in a folder may lead into the case
        if conflict:
            report.skipped.append((path, conflict))
            continue
        try:
            report.added.append(case.add_evidence(path, max_pixels=max_pixels))
        except DuplicateEvidence as exc:
            report.duplicates.append(Duplicate(path.absolute(), exc.existing, exc.warnings))
        except MediaError as exc:
            report.skipped.append((path, str(exc)))
    for duplicate in report.copies:
        case.log("evidence duplicate", f"{duplicate.path}: {duplicate.note()}")
    for path, reason in report.skipped:
        case.log("evidence skipped", f"{path}: {reason}")
    return report
