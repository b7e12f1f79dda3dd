"""Turning dropped files and folders into evidence, with a reason for every file left out."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.app.case import Case, DuplicateEvidence, Evidence
from workbench.core.media import DEFAULT_MAX_PIXELS, MediaError, looks_like_media
from workbench.core.names import shown


@dataclass
class ImportReport:
    added: list[Evidence] = field(default_factory=list)
    already_present: list[Evidence] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{len(self.added)} file(s) added"
        if self.already_present:
            text += f", {len(self.already_present)} already in the case"
        if self.skipped:
            text += f", {len(self.skipped)} skipped"
        return text


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files to try, and files rejected without opening them.

    Files named explicitly are always tried (so a renamed or corrupt file gets its own
    message); inside folders only files with an image/video extension are, recursively.
    """
    candidates: list[Path] = []
    rejected: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            try:
                entries = sorted(p for p in path.rglob("*") if p.is_file())
            except OSError as exc:
                rejected.append((path, f"{shown(path.name)}: cannot list the folder ({exc.strerror or exc})"))
                continue
            for entry in entries:
                if any(part.startswith(".") for part in entry.relative_to(path).parts):
                    continue  # hidden files and folders (.thumbnails, .DS_Store...)
                if looks_like_media(entry):
                    candidates.append(entry)
                else:
                    rejected.append((entry, f"{shown(entry.name)}: not an image or video file"))
        else:
            candidates.append(path)
    return candidates, rejected


def import_paths(
    case: Case,
    paths: Iterable[str | os.PathLike[str]],
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Callable[[float, str], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> ImportReport:
    candidates, rejected = expand_paths(paths)
    report = ImportReport(skipped=list(rejected))
    for i, path in enumerate(candidates):
        if cancelled():
            report.skipped.extend((p, f"{shown(p.name)}: import cancelled") for p in candidates[i:])
            break
        if progress:
            progress(i / max(len(candidates), 1), f"hashing {shown(path.name)}")
        try:
            report.added.append(case.add_evidence(path, max_pixels=max_pixels))
        except DuplicateEvidence as exc:
            report.already_present.append(exc.existing)
        except MediaError as exc:
            report.skipped.append((path, str(exc)))
    for path, reason in report.skipped:
        case.log("evidence skipped", f"{path}: {reason}")
    return report
