"""Why a stored run cannot be read: its JSON, its Result's fields and its array files, checked.

A run left damaged (a save of an older version killed half-way, a disk error, a file edited by
hand) must cost that run only, never the case: readers skip it and say why with a `DamagedRun`.
The check reads no array data (`workbench.core.array_files.check_array_file`: headers parsed and
lengths compared with the arrays they declare), so a whole case is checked in moments.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.array_files import check_array_file
from workbench.core.results import Result


class Damage(Exception):
    """A stored run that cannot be read; the message says why, for the analyst."""


@dataclass(frozen=True)
class DamagedRun:
    id: int
    evidence_id: int
    analyzer: str
    finished_at: str
    reason: str
    shown: int | None = None
    """The run of the same analyzer on the same item that readers show instead (the newest readable
    one, older or newer than this one), None when no run of it is readable."""

    @property
    def instead(self) -> str:
        """What readers show in its place, in words."""
        if self.shown is None:
            return "no other run of this analyzer on this item is readable"
        if self.shown < self.id:
            return f"the older run {self.shown} is shown instead"
        return f"the newer run {self.shown} is shown"

    def describe(self) -> str:
        """One line for the analyst: which run, why it is left out, and what is shown instead."""
        return (f"run {self.id} ({self.analyzer} on #{self.evidence_id}, {self.finished_at}) is damaged and left "
                f"out: {self.reason}; {self.instead}")


def checked_doc(text: str, folder: Path) -> dict[str, Any]:
    """The stored JSON of a run whose arrays live in `folder`, once it is known to load: a complete
    Result whose array files are all there and whole; raises Damage otherwise."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise Damage(f"its stored result is not valid JSON ({exc})") from exc
    if not isinstance(doc, dict) or not doc:
        raise Damage("its stored result is empty (its save was interrupted)")
    try:
        Result.load(doc, None)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise Damage(f"its stored result is incomplete ({exc})") from exc
    for name in array_files(doc):
        _check_array(folder, name)
    return doc


def array_files(doc: dict[str, Any]) -> list[str]:
    """The file names the document's "arrays" refers to; Damage when they are not plain names."""
    refs = doc.get("arrays", {})
    if not isinstance(refs, dict):
        raise Damage("its list of array files is malformed")
    names = [n for ref in refs.values() for n in (ref.values() if isinstance(ref, dict) else [ref])]
    for name in names:
        if not isinstance(name, str) or not name or Path(name).name != name or name.startswith("."):
            raise Damage(f"it names an array file outside its folder ({name!r})")
    return names


def _check_array(folder: Path, name: str) -> None:
    path = folder / name
    if not path.is_file():
        raise Damage(f"its array file {name} is missing")
    try:
        check_array_file(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise Damage(f"its array file {name} is truncated or corrupt") from exc
