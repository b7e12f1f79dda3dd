"""A case's reference videos and the frame descriptors of every video described in the case.

Kept under `<case>/similarity/videos/` (or `<collection>/videos/`): an SQLite table of the videos
seen (SHA-256, path, duration, whether the analyst made it a reference) and one `.npz` of
descriptors per video and sampling, named by the video's SHA-256, so each video is decoded and
described once whatever its file name; per sampling, a frame index over all the references' frames
(`video_frame_index`), rebuilt when the set of references changed. Evidence files are only read.
Each operation opens its own connection, so jobs in several threads can share a store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from plugins.similarity.collection import AddReport
from plugins.similarity.video_copy_features import Sampling, VideoFeatures, describe_video
from plugins.similarity.video_frame_index import FrameIndex
from workbench.api import DEFAULT_MAX_PIXELS, VIDEO_EXTENSIONS, Media, MediaError, MediaKind, RunContext, open_media

SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    sha256 TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    duration REAL NOT NULL,
    reference INTEGER NOT NULL DEFAULT 0,
    added_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class StoredVideo:
    sha256: str
    path: Path
    duration: float
    reference: bool

    @property
    def label(self) -> str:
        return reference_label(self.path.name, self.sha256)


def reference_label(name: str, sha256: str) -> str:
    """How results name a video: its file name and the start of its SHA-256 (names can repeat)."""
    return f"{name} [{sha256[:12]}]"


def video_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files given, and the video files inside folders given (recursively, sorted)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
        else:
            found.append(path)
    return found


class VideoStore:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        (self.folder / "features").mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(SCHEMA)

    # -- the videos ---------------------------------------------------------------------------
    def references(self) -> list[StoredVideo]:
        return self._select("WHERE reference = 1 ORDER BY added_at, path")

    def find(self, sha256_prefix: str) -> StoredVideo | None:
        found = self._select("WHERE sha256 LIKE ?", (f"{sha256_prefix}%",))
        return found[0] if len(found) == 1 else None

    def locate(self, label: str) -> Path | None:
        """The file of a video named as in a result (`reference_label`), if it is still there."""
        name, _, sha = label.rpartition(" [")
        video = self.find(sha.rstrip("]")) if name and label.endswith("]") else None
        return video.path if video is not None and video.path.is_file() else None

    def add(
        self, paths: Iterable[str | Path], sampling: Sampling, ctx: RunContext | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> AddReport:
        """Make these videos (folders are walked) references, describing each now, so that queries
        only decode the query. Cancelling keeps the videos already added."""
        ctx = ctx or RunContext()
        files = video_files(paths)
        report = AddReport(failed={})
        for n, path in enumerate(files):
            ctx.check_cancelled()
            step = ctx.sub(n / len(files), (n + 1) / len(files), f"{n + 1}/{len(files)} {path.name}")
            try:
                media = open_media(path, max_pixels=max_pixels)
                if media.kind is not MediaKind.VIDEO:
                    raise MediaError(f"{path.name}: not a video")
                known = self.find(media.sha256)
                self.features(media, sampling, step)
                with self._db() as db:
                    db.execute("UPDATE videos SET reference = 1 WHERE sha256 = ?", (media.sha256,))
                if known is not None and known.reference:
                    report.skipped += 1
                else:
                    report.added += 1
            except (MediaError, OSError, ValueError) as exc:
                report.failed[str(path)] = str(exc)
        return report

    def remove_paths(self, paths: Iterable[str | Path]) -> int:
        """These files, or every reference under these folders, stop being references (their
        descriptors stay cached: the files themselves need not exist any more)."""
        wanted = [Path(p).resolve() for p in paths]
        gone = [v.sha256 for v in self.references() if any(v.path == w or w in v.path.parents for w in wanted)]
        with self._db() as db:
            db.executemany("UPDATE videos SET reference = 0 WHERE sha256 = ?", [(s,) for s in gone])
        return len(gone)

    # -- descriptors ----------------------------------------------------------------------------
    def features(self, media: Media, sampling: Sampling, ctx: RunContext) -> VideoFeatures:
        """The video's descriptors for this sampling: from the cache, or described now and cached."""
        path = self._features_path(media.sha256, sampling)
        if path.is_file():
            features = VideoFeatures.load(path)
        else:
            features = describe_video(media, sampling, ctx)
            features.save(path)
        self._record(media, features.duration)
        return features

    def stored_features(self, video: StoredVideo, sampling: Sampling, ctx: RunContext) -> VideoFeatures:
        """A stored video's descriptors; a sampling not cached yet decodes its file again, which must
        still be the same bytes (MediaError otherwise)."""
        path = self._features_path(video.sha256, sampling)
        if path.is_file():
            return VideoFeatures.load(path)
        media = open_media(video.path)
        if media.sha256 != video.sha256:
            raise MediaError(f"{video.path.name}: the file changed since it was added as a reference")
        return self.features(media, sampling, ctx)

    def shortlist(self, query: VideoFeatures, sampling: Sampling, wanted: int, ctx: RunContext,
                  notes: list[str]) -> list[tuple[StoredVideo, float]]:
        """The `wanted` references whose frames are most like the query's (global descriptors), with
        their best frame similarity, best first, through the references' frame index for this sampling."""
        index = self.frame_index(sampling, ctx, notes)
        by_sha = {v.sha256: v for v in self.references()}
        found = index.shortlist(query.vectors, wanted) if index is not None else []
        return [(by_sha[sha], score) for sha, score in found if sha in by_sha]

    def frame_index(self, sampling: Sampling, ctx: RunContext, notes: list[str]) -> FrameIndex | None:
        """The frame index of the references' descriptors for this sampling: the saved one while the
        references are those it holds, else built again (describing references not described yet); a
        reference that cannot be described is left out with a note (and the index built again next time)."""
        references = self.references()
        path = self.folder / "features" / f"index-{sampling.key}"
        index = FrameIndex.load(path)
        if index is not None and sorted(index.keys) == sorted(v.sha256 for v in references):
            return index
        described: list[tuple[str, np.ndarray]] = []
        for n, video in enumerate(references):
            step = ctx.sub(n / len(references), (n + 1) / len(references), video.path.name)
            try:
                described.append((video.sha256, self.stored_features(video, sampling, step).vectors))
            except (MediaError, OSError, ValueError) as exc:
                notes.append(f"reference {video.label} left out: {exc}")
        if not described:
            return None
        index = FrameIndex.build(described)
        index.save(path)
        return index

    # -- bookkeeping ----------------------------------------------------------------------------
    def _record(self, media: Media, duration: float) -> None:
        stat = media.path.stat()
        with self._db() as db:
            db.execute(
                "INSERT INTO videos (sha256, path, file_size, mtime, duration, added_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(sha256) DO UPDATE SET path = excluded.path, file_size = excluded.file_size, "
                "mtime = excluded.mtime",
                (media.sha256, str(media.path), stat.st_size, stat.st_mtime, duration,
                 datetime.now(UTC).isoformat(timespec="seconds")),
            )

    def _select(self, where: str, args: tuple[object, ...] = ()) -> list[StoredVideo]:
        with self._db() as db:
            rows = db.execute(f"SELECT sha256, path, duration, reference FROM videos {where}", args).fetchall()
        return [StoredVideo(str(s), Path(p), float(d), bool(r)) for s, p, d, r in rows]

    def _features_path(self, sha256: str, sampling: Sampling) -> Path:
        return self.folder / "features" / f"{sha256}-{sampling.key}.npz"

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.folder / "videos.sqlite", timeout=30)) as db, db:
            yield db
