"""A case: one folder with an embedded SQLite database and a `blobs/` folder.

The database holds the evidence (path + SHA-256 at import), every run with its serialised
Result, and an append-only audit log of who did what and when. Arrays live in `blobs/`.
Evidence files themselves are only referenced, never copied or modified.

A run is stored whole or not at all, whenever the process dies (`save_result`, `run_blobs`); a run
that is damaged all the same (left by an older version, a disk error) costs that run only: readers
skip it and `damaged_runs` says which and why (`run_check`).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from workbench import __version__
from workbench.app import run_blobs
from workbench.app.run_check import Damage, DamagedRun, checked_doc
from workbench.core import preferences
from workbench.core.media import DEFAULT_MAX_PIXELS, Media, MediaError, open_media
from workbench.core.names import path_from_db, path_to_db, shown
from workbench.core.plugin import current_user
from workbench.core.results import Result

DB_NAME = "case.sqlite"
THUMB_SIZE = 256

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evidence (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, kind TEXT NOT NULL, format TEXT, width INTEGER, height INTEGER,
    warnings TEXT NOT NULL DEFAULT '[]', added_at TEXT NOT NULL, added_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, evidence_id INTEGER NOT NULL REFERENCES evidence(id),
    analyzer TEXT NOT NULL, status TEXT NOT NULL, score REAL, result TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS findings (
    id INTEGER PRIMARY KEY, evidence_id INTEGER NOT NULL REFERENCES evidence(id), note TEXT NOT NULL,
    run_id INTEGER, layer TEXT NOT NULL DEFAULT '', region TEXT, time_start REAL, time_end REAL,
    created_at TEXT NOT NULL, created_by TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS report_choices (
    evidence_id INTEGER NOT NULL, analyzer TEXT NOT NULL, included INTEGER NOT NULL,
    PRIMARY KEY (evidence_id, analyzer)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""


class DuplicateEvidence(MediaError):
    """The file is already in the case (same SHA-256); `existing` is that item, `warnings` what opening
    the file noticed (a copy's wrong extension is a fact about the copy, worth keeping)."""

    def __init__(self, message: str, existing: Evidence, warnings: list[str]) -> None:
        super().__init__(message)
        self.existing, self.warnings = existing, warnings


class CaseError(Exception):
    """A case folder that cannot be created or opened; the message is for the analyst."""


class RunDamaged(CaseError):
    """A stored run that cannot be read (`Case.damaged_runs` lists them all, with what is shown instead)."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Evidence:
    id: int
    path: Path
    """The file exactly as named on disk, undecodable bytes included (stored as bytes then)."""
    name: str
    """The file name as shown: bytes that are not UTF-8 read `\\xNN` (see `workbench.core.names`)."""
    sha256: str
    size: int
    kind: str
    format: str
    width: int
    height: int
    warnings: list[str] = field(default_factory=list)
    added_at: str = ""
    added_by: str = ""


@dataclass
class Run:
    id: int
    evidence_id: int
    result: Result
    finished_at: str
    arrays: dict[str, Any] = field(default_factory=dict)
    """Absolute paths of the saved arrays by field name (a dict of paths for dict fields)."""


@dataclass
class Finding:
    """What the analyst concluded, in their words, and where: the report leads with these.

    `region` is {"kind": "rect" | "freehand", "points": [[x, y], ...]} in image (or frame) pixels,
    None for the whole item; `run_id` is the result it rests on (None: the original image);
    `layer` names the layer it was marked on; on video `time_start`/`time_end` give the span (s).
    """

    id: int
    evidence_id: int
    note: str
    run_id: int | None = None
    layer: str = ""
    region: dict[str, Any] | None = None
    time_start: float | None = None
    time_end: float | None = None
    created_at: str = ""
    created_by: str = ""
    updated_at: str = ""


@dataclass
class AuditEntry:
    at: str
    user: str
    action: str
    detail: str


class Case:
    """Thread-safe access to one case folder (jobs write results from worker threads)."""

    def __init__(self, root: Path, db: sqlite3.Connection) -> None:
        self.root = root
        self._db = db
        self._lock = threading.RLock()
        self._verified: dict[int, tuple[int, int]] = {}
        """Evidence id → (size, mtime in ns) of the file when its hash last matched (this session)."""
        self._unreadable: dict[int, str] = {}
        """Run id → why its arrays failed to load although they passed `checked_doc` (a read error)."""

    # -- lifecycle --------------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path, name: str = "", analyst: str = "") -> Case:
        root = Path(root)
        if (root / DB_NAME).exists():
            raise CaseError(f"{root} already holds a case: open it instead")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CaseError(f"cannot create the case folder {root}: {exc.strerror or exc}") from exc
        case = cls._connect(root)
        case._set_meta("name", name or root.name)
        prefs = preferences.load()
        case._set_meta("analyst", analyst or prefs.analyst or current_user())
        case._set_meta("organisation", prefs.organisation)
        case._set_meta("created_at", now())
        case.log("case created", f"Forensic Workbench {__version__}")
        return case

    @classmethod
    def open(cls, root: str | Path) -> Case:
        root = Path(root)
        if not (root / DB_NAME).is_file():
            raise CaseError(f"{root} is not a case folder (no {DB_NAME})")
        case = cls._connect(root)
        case._remove_orphan_blobs()
        case.log("case opened", f"Forensic Workbench {__version__}")
        return case

    @classmethod
    def _connect(cls, root: Path) -> Case:
        try:
            db = sqlite3.connect(root / DB_NAME, check_same_thread=False, isolation_level=None)
            # A rollback journal, not WAL: a closed case stays one file to copy or hand over, and it works
            # on network shares (WAL needs shared memory). FULL: a committed run survives a power cut.
            db.execute("PRAGMA journal_mode=DELETE")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise CaseError(f"cannot open the case database in {root}: {exc}") from exc
        (root / "blobs").mkdir(exist_ok=True)
        return cls(root.resolve(), db)  # absolute: result paths handed out must not depend on the working folder

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock at once, so no other process
        writes between what it reads and what it writes."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _remove_orphan_blobs(self) -> None:
        """Remove the array folders that saves interrupted by a crash left behind (`run_blobs.orphans`),
        saying so in the audit log."""
        with self._transaction():
            run_ids = {row[0] for row in self._db.execute("SELECT id FROM runs")}
            found = run_blobs.orphans(self.root / "blobs" / "runs", run_ids)
            for path in found:
                shutil.rmtree(path, ignore_errors=True)
            if found:
                self.log("orphan arrays removed",
                         f"{', '.join(p.name for p in found)} in blobs/runs: left by saves a crash interrupted")

    # -- metadata ---------------------------------------------------------------------------
    def _set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def _meta(self, key: str) -> str:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else ""

    @property
    def name(self) -> str:
        return self._meta("name")

    @property
    def analyst(self) -> str:
        return self._meta("analyst")

    @property
    def organisation(self) -> str:
        return self._meta("organisation")

    def set_details(self, name: str, analyst: str, organisation: str | None = None) -> None:
        self._set_meta("name", name)
        self._set_meta("analyst", analyst)
        detail = f"name={name!r}, analyst={analyst!r}"
        if organisation is not None:
            self._set_meta("organisation", organisation)
            detail += f", organisation={organisation!r}"
        self.log("case details changed", detail)

    # -- audit ------------------------------------------------------------------------------
    def log(self, action: str, detail: str = "") -> None:
        """Append to the audit log; file names that are not UTF-8 are written escaped (`shown`)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO audit (at, user, action, detail) VALUES (?, ?, ?, ?)",
                (now(), current_user(), action, shown(detail)),
            )

    def audit(self) -> list[AuditEntry]:
        with self._lock:
            rows = self._db.execute("SELECT at, user, action, detail FROM audit ORDER BY id").fetchall()
        return [AuditEntry(*r) for r in rows]

    # -- evidence ---------------------------------------------------------------------------
    def add_evidence(self, path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Evidence:
        """Validate, hash and register a file; raises MediaError with the reason if unusable."""
        media = open_media(path, max_pixels=max_pixels)
        existing = self.find_evidence(media.sha256)
        if existing is not None:
            raise DuplicateEvidence(
                f"{media.name}: already in the case as #{existing.id} '{existing.name}' (same SHA-256)", existing,
                media.warnings,
            )
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO evidence (path, name, sha256, size, kind, format, width, height, warnings,"
                " added_at, added_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (path_to_db(media.path), media.name, media.sha256, media.size, media.kind.value, media.format,
                 media.width, media.height, json.dumps(media.warnings), now(), current_user()),
            )
            evidence_id = int(cur.lastrowid)
        self._write_thumbnail(evidence_id, media)
        self.log("evidence added", f"#{evidence_id} {media.path} sha256={media.sha256}")
        return self.evidence(evidence_id)

    def _write_thumbnail(self, evidence_id: int, media: Media) -> None:
        im = Image.fromarray(media.pixels())
        im.thumbnail((THUMB_SIZE, THUMB_SIZE))
        im.save(self.thumbnail_path(evidence_id))

    def thumbnail_path(self, evidence_id: int) -> Path:
        folder = self.root / "blobs" / "thumbs"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{evidence_id}.png"

    def evidence(self, evidence_id: int) -> Evidence:
        with self._lock:
            row = self._db.execute(f"SELECT {_EVIDENCE_COLUMNS} FROM evidence WHERE id = ?", (evidence_id,)).fetchone()
        if row is None:
            raise KeyError(evidence_id)
        return _evidence_from_row(row)

    def find_evidence(self, sha256: str) -> Evidence | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_EVIDENCE_COLUMNS} FROM evidence WHERE sha256 = ?", (sha256,)).fetchone()
        return _evidence_from_row(row) if row else None

    def all_evidence(self) -> list[Evidence]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_EVIDENCE_COLUMNS} FROM evidence ORDER BY id").fetchall()
        return [_evidence_from_row(r) for r in rows]

    def open_media(self, evidence: Evidence, max_pixels: int = DEFAULT_MAX_PIXELS, recheck: bool = True) -> Media:
        """Re-open evidence, refusing it if it changed since import.

        `recheck=False` (showing an item, not analysing it) skips re-hashing a file whose size and
        modification time are those it had when its hash last matched in this session: selecting a
        1-GB video must not freeze the window for seconds. Analyses and reports always re-hash.
        """
        stat = _file_stamp(evidence.path)
        trusted = not recheck and stat is not None and self._verified.get(evidence.id) == stat
        media = open_media(evidence.path, max_pixels=max_pixels, sha256=evidence.sha256 if trusted else None)
        if media.sha256 != evidence.sha256:
            raise MediaError(
                f"{evidence.name}: the file changed since import (SHA-256 {media.sha256[:12]}… "
                f"instead of {evidence.sha256[:12]}…)"
            )
        if stat is not None:
            self._verified[evidence.id] = stat
        return media

    # -- runs -------------------------------------------------------------------------------
    def save_result(self, evidence_id: int, result: Result) -> Run:
        """Store a run so that a crash at any moment leaves either no run or a whole one: the arrays
        are written and flushed under a name no run refers to, then the run's row (with its complete
        JSON), its folder's rename into place and its audit entry commit together (`run_blobs`)."""
        partial = run_blobs.partial_folder(self.root / "blobs" / "runs")
        prov = result.provenance
        params = json.dumps(prov.params) if prov else "{}"
        try:
            doc = result.save(partial)
            run_blobs.flush(partial)
            with self._transaction():
                cur = self._db.execute(
                    "INSERT INTO runs (evidence_id, analyzer, status, score, result, finished_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (evidence_id, result.analyzer, result.status.value, result.score, json.dumps(doc), now()),
                )
                run_id = int(cur.lastrowid)
                run_blobs.move_into_place(partial, self.run_folder(run_id))
                self.log("analysis run",
                         f"{result.analyzer} on #{evidence_id}: {result.status.value} params={params} (run {run_id})")
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return self.run(run_id)

    def run_folder(self, run_id: int) -> Path:
        return self.root / "blobs" / "runs" / str(run_id)

    def run(self, run_id: int) -> Run:
        """The stored run; KeyError when there is none, RunDamaged when it cannot be read."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, evidence_id, analyzer, result, finished_at FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        if row is None:
            raise KeyError(run_id)
        _, evidence_id, analyzer, text, finished = row
        folder = self.run_folder(run_id)
        try:
            doc = checked_doc(text, folder)
            result = Result.load(doc, folder)
        except Damage as exc:
            reason = str(exc)
        except (OSError, ValueError, EOFError) as exc:
            reason = self._unreadable[run_id] = f"its arrays could not be read ({exc})"
        else:
            self._unreadable.pop(run_id, None)
            arrays = {
                name: {k: str(folder / v) for k, v in ref.items()} if isinstance(ref, dict) else str(folder / ref)
                for name, ref in doc.get("arrays", {}).items()
            }
            return Run(run_id, evidence_id, result, finished, arrays)
        raise RunDamaged(f"run {run_id} ({analyzer} on #{evidence_id}) is damaged: {reason}")

    def latest_runs(self, evidence_id: int) -> list[Run]:
        """The newest readable run of each analyzer on this evidence, oldest first. A damaged run is
        skipped for the analyzer's newest readable one (`damaged_runs` says which and why)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, analyzer FROM runs WHERE evidence_id = ? ORDER BY id DESC", (evidence_id,)
            ).fetchall()
        latest: dict[str, Run] = {}
        for run_id, analyzer in rows:
            if analyzer not in latest:
                try:
                    latest[analyzer] = self.run(run_id)
                except RunDamaged:
                    continue
        return sorted(latest.values(), key=lambda r: r.id)

    def damaged_runs(self, evidence_id: int | None = None) -> list[DamagedRun]:
        """The runs readers skip (of one item, or of the whole case), oldest first, each with why and
        which run of its analyzer is shown instead. Reads no array data: a large case is checked fast."""
        where, args = ("WHERE evidence_id = ?", (evidence_id,)) if evidence_id is not None else ("", ())
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, evidence_id, analyzer, result, finished_at FROM runs {where} ORDER BY id", args
            ).fetchall()
        reasons: dict[int, str] = {}
        readable: dict[tuple[int, str], int] = {}
        """(evidence id, analyzer) → its newest readable run."""
        for run_id, item, analyzer, text, _ in rows:
            try:
                checked_doc(text, self.run_folder(run_id))
            except Damage as exc:
                reasons[run_id] = str(exc)
                continue
            if run_id in self._unreadable:
                reasons[run_id] = self._unreadable[run_id]
            else:
                readable[(item, analyzer)] = run_id
        return [DamagedRun(run_id, item, analyzer, finished, reasons[run_id], readable.get((item, analyzer)))
                for run_id, item, analyzer, _, finished in rows if run_id in reasons]

    # -- findings -------------------------------------------------------------------------
    def add_finding(self, evidence_id: int, note: str, run_id: int | None = None, layer: str = "",
                    region: dict[str, Any] | None = None, time_start: float | None = None,
                    time_end: float | None = None) -> Finding:
        self.evidence(evidence_id)  # KeyError for an unknown item
        stamp, user = now(), current_user()
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO findings (evidence_id, note, run_id, layer, region, time_start, time_end, created_at,"
                " created_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (evidence_id, note, run_id, layer, _region_json(region), time_start, time_end, stamp, user, stamp))
            finding_id = int(cur.lastrowid)
        self.log("finding added", _finding_detail(self.finding(finding_id)))
        return self.finding(finding_id)

    def update_finding(self, finding_id: int, note: str | None = None,
                       region: dict[str, Any] | None | bool = False) -> Finding:
        """Change the note and/or the region (`region=False` leaves it; None makes it the whole item)."""
        old = self.finding(finding_id)
        new_note = old.note if note is None else note
        new_region = old.region if region is False else region
        with self._lock:
            self._db.execute("UPDATE findings SET note = ?, region = ?, updated_at = ? WHERE id = ?",
                             (new_note, _region_json(new_region), now(), finding_id))
        self.log("finding changed", f"{_finding_detail(self.finding(finding_id))} (was: {old.note!r})")
        return self.finding(finding_id)

    def remove_finding(self, finding_id: int) -> None:
        old = self.finding(finding_id)
        with self._lock:
            self._db.execute("DELETE FROM findings WHERE id = ?", (finding_id,))
        self.log("finding removed", _finding_detail(old))

    def finding(self, finding_id: int) -> Finding:
        with self._lock:
            row = self._db.execute(f"SELECT {_FINDING_COLUMNS} FROM findings WHERE id = ?", (finding_id,)).fetchone()
        if row is None:
            raise KeyError(finding_id)
        return _finding_from_row(row)

    def findings(self, evidence_id: int | None = None) -> list[Finding]:
        """The analyst's findings (of one item, or all), oldest first."""
        where, args = ("WHERE evidence_id = ?", (evidence_id,)) if evidence_id is not None else ("", ())
        with self._lock:
            rows = self._db.execute(f"SELECT {_FINDING_COLUMNS} FROM findings {where} ORDER BY id", args).fetchall()
        return [_finding_from_row(r) for r in rows]

    # -- what the report includes -------------------------------------------------------------
    def set_included(self, evidence_id: int, analyzer: str, included: bool) -> None:
        """Whether this analyzer's result on this item gets a detail section in the report."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO report_choices VALUES (?, ?, ?)",
                             (evidence_id, analyzer, int(included)))
        self.log("report contents changed", f"{analyzer} on #{evidence_id}: {'included' if included else 'left out'}")

    def report_choices(self, evidence_id: int) -> dict[str, bool]:
        """The analyst's explicit choices; analyzers absent here follow the report's default."""
        with self._lock:
            rows = self._db.execute("SELECT analyzer, included FROM report_choices WHERE evidence_id = ?",
                                    (evidence_id,)).fetchall()
        return {analyzer: bool(included) for analyzer, included in rows}


_FINDING_COLUMNS = ("id, evidence_id, note, run_id, layer, region, time_start, time_end, created_at, created_by,"
                    " updated_at")


def _region_json(region: dict[str, Any] | None) -> str | None:
    if region is None:
        return None
    if region.get("kind") not in {"rect", "freehand"} or len(region.get("points", [])) < 2:
        raise ValueError(f"a region is a rectangle or a freehand outline of at least 2 points, not {region!r}")
    return json.dumps({"kind": region["kind"], "points": [[float(x), float(y)] for x, y in region["points"]]})


def _finding_from_row(row: tuple[Any, ...]) -> Finding:
    values = list(row)
    values[5] = json.loads(values[5]) if values[5] else None
    return Finding(*values)


def _finding_detail(finding: Finding) -> str:
    where = "whole item" if finding.region is None else (
        f"{finding.region['kind']} {[[round(x) for x in p] for p in finding.region['points'][:2]]}"
        + ("…" if len(finding.region["points"]) > 2 else ""))
    if finding.time_start is not None:
        where += f", {finding.time_start:.2f}–{(finding.time_end or finding.time_start):.2f} s"
    basis = f"run {finding.run_id}" if finding.run_id is not None else "original"
    return f"#{finding.id} on evidence #{finding.evidence_id} ({basis}, {finding.layer or 'no layer'}, {where}): " \
           f"{finding.note!r}"


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


_EVIDENCE_COLUMNS = "id, path, name, sha256, size, kind, format, width, height, warnings, added_at, added_by"


def _evidence_from_row(row: tuple[Any, ...]) -> Evidence:
    values = list(row)
    values[1] = path_from_db(values[1])
    values[9] = json.loads(values[9])
    return Evidence(*values)

