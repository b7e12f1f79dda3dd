"""The evidence as the report sees it: re-hashed now, re-opened once, and its identification table."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from workbench.app.case import Evidence, Run
from workbench.app.report.markup import e, table
from workbench.core.hashing import sha256_file
from workbench.core.media import Media, MediaError, open_media
from workbench.core.results import Facts

KEY_METADATA = (
    ("Camera", ("Make", "Model")),
    ("Taken", ("DateTimeOriginal",)),
    ("Software", ("Software",)),
    ("GPS", ("Latitude (decimal °)", "Longitude (decimal °)")),
)


@dataclass
class HashCheck:
    ok: bool
    text: str


def verify_hash(evidence: Evidence) -> HashCheck:
    """Re-hash the evidence now, as the report is made."""
    try:
        current = sha256_file(evidence.path)
    except OSError as exc:
        return HashCheck(False, f"NOT VERIFIED: file unreadable or missing ({exc.strerror or exc})")
    if current != evidence.sha256:
        return HashCheck(False, f"MISMATCH: the file now hashes to {current}")
    return HashCheck(True, "verified at export")


class Item:
    """One evidence item with its hash check; its pixels and frames are read only if a figure needs
    them, and never from a file that failed the check (a figure over changed pixels would mislead)."""

    def __init__(self, evidence: Evidence, check: HashCheck) -> None:
        self.evidence, self.check = evidence, check

    @functools.cached_property
    def media(self) -> Media | None:
        if not self.check.ok:
            return None
        try:  # `check` has just hashed the file: no second pass
            return open_media(self.evidence.path, sha256=self.evidence.sha256)
        except MediaError:
            return None

    @functools.cached_property
    def pixels(self) -> np.ndarray | None:
        """The image (a video's poster frame), None when the file cannot be re-opened or decoded."""
        try:
            return self.media.pixels() if self.media is not None else None
        except MediaError:
            return None

    @property
    def fps(self) -> float:
        return self.media.video.fps if self.media is not None and self.media.video else 0.0

    def frame(self, index: int) -> np.ndarray | None:
        if self.media is None or self.media.video is None:
            return None
        try:
            with self.media.reader() as reader:
                return reader.frame(index)
        except MediaError:
            return None

    def frame_at(self, seconds: float) -> tuple[int, np.ndarray | None]:
        index = round(seconds * self.fps) if self.fps else 0
        return index, self.frame(index)


def key_metadata(runs: list[Run]) -> dict[str, str]:
    """Camera, capture date, software and GPS from the latest metadata run, if any."""
    facts = next((r.result for r in runs if isinstance(r.result, Facts) and r.result.analyzer == "metadata"
                  and r.result.ok), None)
    if facts is None:
        return {}
    values = {k: v for t in facts.tables for k, v in t.rows}
    found = {}
    for label, keys in KEY_METADATA:
        present = [values[k] for k in keys if values.get(k)]
        if present:
            found[label] = ", ".join(present)
    return found


def evidence_table(items: list[Item], runs: dict[int, list[Run]]) -> str:
    rows = []
    for item in items:
        ev, check = item.evidence, item.check
        status = f"<span class='{'good' if check.ok else 'bad'}'>{e(check.text)}</span>"
        meta = "<br/>".join(f"{e(k)}: {e(v)}" for k, v in key_metadata(runs[ev.id]).items()) or "—"
        rows.append((ev.id, f"{e(ev.name)}<br/><span class='note'>{e(ev.path)}</span>", f"{ev.size:,} B",
                     f"{ev.width}×{ev.height}<br/>{e(ev.format)}",
                     f"<span class='hash'>{ev.sha256}</span><br/>{status}", meta))
    return table(("#", "File", "Size", "Dimensions", "SHA-256", "Key metadata"), rows, escape=False)
