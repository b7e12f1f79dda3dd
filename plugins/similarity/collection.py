"""A searchable collection of images: one SQLite table of items with the facts that tell an
original from a copy, one .npz of descriptors per item, and the vector index.

Kept inside the case folder (`<case>/similarity/`) or any folder the analyst picks. Adding is
incremental and resumable: each item is committed as soon as it is described, files already in the
collection (same path, size and modification time) are skipped, and an index that disagrees with
the table (a crash between the two) is rebuilt from the stored descriptors on open. Evidence files
are only read.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from plugins.similarity.compact import CompactFeatures, compact, verification_arrays
from plugins.similarity.features import LocalFeatures
from plugins.similarity.global_descriptor import DinoV2Descriptor, GlobalDescriptor, Whitening, descriptor_for
from plugins.similarity.image_pipeline import COMPILE_FROM, Failed, Prepared, describe_files
from plugins.similarity.index import FaissBackend, VectorBackend
from plugins.similarity.local import KIND as SIFT_KIND
from plugins.similarity.milvus_backend import MilvusBackend, normalise_uri
from workbench.api import DEFAULT_MAX_PIXELS, RunContext

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    format TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    jpeg_quality INTEGER,
    taken TEXT NOT NULL DEFAULT '',
    software TEXT NOT NULL DEFAULT '',
    phash TEXT NOT NULL,
    dhash TEXT NOT NULL,
    added_at TEXT NOT NULL,
    latitude REAL,
    longitude REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS items_path ON items(path);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"}
SAVE_INTERVAL_S = 30.0
"""Seconds between index saves while adding (the table is committed after every batch). A save
rewrites the whole index (250 MB of exact vectors at 50k images, 75 MB of codes at a million), so
saving every 50 images, as before, would take longer than indexing them; a crash loses nothing
either way: an index behind the table is rebuilt from the stored descriptors on open."""
REBUILD_CHUNK = 10_000
"""Descriptors read at a time when the index is rebuilt (50 MB of 1280-d vectors)."""
FAISS = "faiss"
"""The collection's record of where its vectors are when they are in its own folder (`global.faiss`)."""
FULL_FEATURES_MAX = 10_000
"""Images of a collection that store full RootSIFT features (about 130 KB each: 1.3 GB at this size)
beside their 1 KB compact record; images added beyond it store the compact record only, and
spatial verification of a shortlist that reaches them uses the compact records
(docs/similarity-bench.md gives the ranking this costs)."""


@dataclass(frozen=True)
class Item:
    """One indexed image and the facts used to suggest which copy is the original."""

    id: int
    path: str
    sha256: str
    file_size: int
    format: str
    width: int
    height: int
    jpeg_quality: int | None
    taken: str
    software: str
    phash: int
    dhash: int
    latitude: float | None = None
    longitude: float | None = None
    """GPS position from the file's metadata: makes the collection a geotagged reference too."""

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass
class AddReport:
    added: int = 0
    skipped: int = 0
    failed: dict[str, str] | None = None


def image_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files given, and the image files inside folders given (recursively, sorted)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            found.append(path)
    return found


class Collection:
    """One collection folder. Not safe for concurrent use: one job at a time (the GUI runs its
    collection jobs one after another; the SQLite connection and the index are shared)."""

    full_features_max: int = FULL_FEATURES_MAX

    def __init__(
        self, folder: str | Path, descriptor: GlobalDescriptor | DinoV2Descriptor | None = None, device: str = "cpu",
        index_uri: str = "",
    ) -> None:
        """Opens (or creates) the collection in `folder`. Without `descriptor`, the one the collection
        was indexed with (the default MobileNetV2 for a new one), on `device`. Its vectors are in a FAISS
        index in the folder, or, given `index_uri`, in Milvus there (`milvus_backend`); a collection with
        items stays with the backend that holds them."""
        self.folder = Path(folder)
        (self.folder / "features").mkdir(parents=True, exist_ok=True)
        self._global_cache: dict[int, np.ndarray] = {}
        self._db = sqlite3.connect(self.folder / "collection.sqlite", check_same_thread=False)
        self._db.executescript(SCHEMA)
        self._add_missing_columns()
        recorded = self._meta("descriptor")
        self.descriptor = descriptor or (descriptor_for(recorded, device) if recorded else GlobalDescriptor(device))
        self._check_kind()
        self.whitening = self._load_whitening()
        self.index_uri = self._check_backend(index_uri)
        self.index: VectorBackend = (
            MilvusBackend(self.index_uri, self._milvus_name(), self._index_dim()) if self.index_uri
            else FaissBackend(self.folder / "global.faiss", self._index_dim())
        )
        if len(self.index) != self.count():
            self.rebuild_index()

    # -- items ------------------------------------------------------------------------------
    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def items(self, ids: Iterable[int] | None = None) -> list[Item]:
        if ids is None:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM items ORDER BY id").fetchall()
        else:
            wanted = [int(i) for i in ids]
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM items WHERE id IN ({','.join('?' * len(wanted))})", wanted
            ).fetchall()
        return [_item(row) for row in rows]

    def item(self, item_id: int) -> Item:
        found = self.items([item_id])
        if not found:
            raise KeyError(f"no item {item_id} in the collection")
        return found[0]

    def features(self, item_id: int) -> dict[str, np.ndarray]:
        with np.load(self._features_path(item_id)) as data:
            return {key: data[key] for key in data.files}

    def global_vectors(self, item_ids: Iterable[int]) -> np.ndarray:
        """The stored (raw, unwhitened) global descriptors of these items, N × dim, read once per
        item and cached: only the "global" member of each features file is read."""
        rows = []
        for item_id in item_ids:
            vector = self._global_cache.get(item_id)
            if vector is None:
                vector = self._global_cache[item_id] = self._read_global(item_id)
            rows.append(vector)
        return np.stack(rows) if rows else np.zeros((0, self.descriptor.dim), np.float32)

    def _cached_or_read(self, item_id: int) -> np.ndarray:
        """A global descriptor from the cache if `global_vectors` read it, else from its file (not cached)."""
        vector = self._global_cache.get(item_id)
        return self._read_global(item_id) if vector is None else vector

    def _read_global(self, item_id: int) -> np.ndarray:
        with np.load(self._features_path(item_id)) as data:
            return np.asarray(data["global"], np.float32)

    def local_features(self, item_id: int, kind: str) -> LocalFeatures | None:
        data = self.features(item_id)
        return LocalFeatures.from_arrays(kind, data, kind) if f"{kind}.desc" in data else None

    def has_local_features(self, item_id: int, kind: str) -> bool:
        """Whether the item stores local features of this kind (reads the file's list of arrays only)."""
        with np.load(self._features_path(item_id)) as data:
            return f"{kind}.desc" in data.files

    def compact_features(self, item_id: int) -> CompactFeatures | None:
        """The item's compact RootSIFT record, read alone (1 KB); made from its full features for
        items indexed before compact records were stored; None when it has neither."""
        with np.load(self._features_path(item_id)) as data:  # an .npz reads only the members asked for
            stored = CompactFeatures.from_arrays(data)
        if stored is not None:
            return stored
        full = self.local_features(item_id, SIFT_KIND)
        return compact(full) if full is not None else None

    # -- adding and removing ----------------------------------------------------------------
    def add(
        self,
        paths: Iterable[str | Path],
        ctx: RunContext | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        extra_extractors: dict[str, Callable[[np.ndarray], LocalFeatures]] | None = None,
    ) -> AddReport:
        """Describe and index image files (folders are walked) through `image_pipeline`, committing
        each batch as it is described. Cancelling keeps what was added; files already in the
        collection are skipped, so adding again resumes an interrupted run."""
        ctx = ctx or RunContext()
        files = image_files(paths)
        report = AddReport(failed={})
        new: list[Path] = []
        for path in files:
            ctx.check_cancelled()
            try:
                if self._known(path):
                    report.skipped += 1
                else:
                    new.append(path)
            except OSError as exc:
                report.failed[str(path)] = str(exc)
        ctx.progress(report.skipped / max(1, len(files)), f"{len(new)} new images to describe")
        batches = describe_files(new, self.descriptor, ctx, max_pixels=max_pixels, extractors=extra_extractors or {},
                                 compiled=len(new) >= COMPILE_FROM)
        saved = time.monotonic()
        try:
            with contextlib.closing(batches):
                for batch in batches:
                    for failed in (b for b in batch if isinstance(b, Failed)):
                        report.failed[str(failed.path)] = failed.reason
                    report.added += self._store([b for b in batch if isinstance(b, Prepared)])
                    done = report.skipped + report.added + len(report.failed)
                    ctx.progress(done / max(1, len(files)), f"{done}/{len(files)} {batch[-1].path.name}")
                    if time.monotonic() - saved >= SAVE_INTERVAL_S:
                        self.index.save()  # its description is recorded once, at the end
                        saved = time.monotonic()
        finally:  # cancelled or a missing model: what was added stays searchable
            self._save_index()
        ctx.progress(1.0, f"{report.added} added, {report.skipped} already indexed, {len(report.failed)} failed")
        return report

    def remove(self, item_ids: Iterable[int]) -> int:
        ids = [int(i) for i in item_ids]
        self.index.remove(np.array(ids, np.int64))
        with self._db:
            self._db.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in ids])
        for i in ids:
            self._features_path(i).unlink(missing_ok=True)
            self._global_cache.pop(i, None)
        self._save_index()
        return len(ids)

    def remove_paths(self, paths: Iterable[str | Path]) -> int:
        """Remove the items of these files, or of every file under these folders (the files
        themselves need not exist any more)."""
        wanted = [str(Path(p).resolve()) for p in paths]
        ids = [item.id for item in self.items()
               if any(item.path == w or item.path.startswith(w.rstrip("/") + "/") for w in wanted)]
        return self.remove(ids)

    def _known(self, path: Path) -> bool:
        stat = path.stat()
        row = self._db.execute("SELECT file_size, mtime FROM items WHERE path = ?", (str(path.resolve()),)).fetchone()
        return row is not None and row[0] == stat.st_size and abs(row[1] - stat.st_mtime) < 1e-3

    def _store(self, described: list[Prepared]) -> int:
        """Commit described files in one transaction (a changed file replaces its item), each with its
        .npz written before the commit, then add their vectors to the index."""
        ids = []
        count = self.count()
        with self._db:
            for d in described:
                stat = d.path.stat()
                resolved = str(d.path.resolve())
                count += 1 - self._db.execute("DELETE FROM items WHERE path = ?", (resolved,)).rowcount
                row = {
                    "path": resolved, "sha256": d.media.sha256, "file_size": stat.st_size, "mtime": stat.st_mtime,
                    "format": d.media.format, "width": d.media.width, "height": d.media.height, **d.facts,
                    "phash": f"{d.phash:016x}", "dhash": f"{d.dhash:016x}",
                    "added_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                cursor = self._db.execute(
                    f"INSERT INTO items ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())
                )
                item_id = int(cursor.lastrowid or 0)
                tmp = self._features_path(item_id).with_suffix(".tmp.npz")
                keep_full = count <= self.full_features_max  # this item counted
                np.savez(tmp, **{"global": d.vector, **verification_arrays(d.sift, keep_full), **d.arrays})
                tmp.replace(self._features_path(item_id))
                ids.append(item_id)
        if ids:
            self.index.add(np.array(ids, np.int64), self._indexed(np.stack([d.vector for d in described])))
        return len(ids)

    # -- the global index -------------------------------------------------------------------
    def query_vector(self, vector: np.ndarray) -> np.ndarray:
        """A raw descriptor in the index's space (whitened when the collection learned it)."""
        return self._indexed(np.asarray(vector, np.float32).reshape(1, -1))[0]

    def learn_whitening(self, dims: int = 256) -> None:
        """Learn PCA-whitening on the collection's descriptors and re-index with it."""
        ids = [item.id for item in self.items()]
        raw = self.global_vectors(ids) if ids else np.zeros((0, 1))
        # at most a quarter of the collection's size: whitening with about as many dimensions as
        # images fits noise (the bench: mAP 0.93 → 0.76 on 72–242 images)
        self.whitening = Whitening.learn(raw, min(dims, max(8, len(ids) // 4)))
        np.savez(self.folder / "whitening.npz", **self.whitening.to_arrays())
        self._set_meta("whitening", "1")
        self.rebuild_index()

    def rebuild_index(self) -> None:
        """The vector index from the stored descriptors (after a crash, or with new whitening), of the
        kind the collection's size calls for; read in chunks, so a large collection is never held whole."""
        ids = np.array([item.id for item in self.items()], np.int64)
        chunks = ((part, self._indexed(np.stack([self._cached_or_read(int(i)) for i in part])))
                  for part in np.array_split(ids, max(1, -(-len(ids) // REBUILD_CHUNK))) if len(part))
        if self.index_uri:
            self.index = MilvusBackend.build(self.index_uri, self._milvus_name(), self._index_dim(), chunks)
        else:
            self.index = FaissBackend.build(self.folder / "global.faiss", self._index_dim(), chunks, len(ids))
        self._set_meta("index", self.index.describe())

    def _save_index(self) -> None:
        """Save the index and record its kind and parameters with the collection."""
        self.index.save()
        self._set_meta("index", self.index.describe())

    def _indexed(self, raw: np.ndarray) -> np.ndarray:
        return self.whitening.apply(raw) if self.whitening else raw.astype(np.float32)

    def _index_dim(self) -> int:
        return self.whitening.projection.shape[1] if self.whitening else self.descriptor.dim

    def _load_whitening(self) -> Whitening | None:
        path = self.folder / "whitening.npz"
        if self._meta("whitening") != "1" or not path.is_file():
            return None
        with np.load(path) as data:
            return Whitening.from_arrays(data)

    # -- bookkeeping ------------------------------------------------------------------------
    def _add_missing_columns(self) -> None:
        """Collections made by an earlier version gain the newer columns (empty)."""
        present = {row[1] for row in self._db.execute("PRAGMA table_info(items)")}
        with self._db:
            for column in ("latitude", "longitude"):
                if column not in present:
                    self._db.execute(f"ALTER TABLE items ADD COLUMN {column} REAL")

    def geotagged(self) -> list[Item]:
        """Items with a GPS position: the reference set of retrieval-based geolocation."""
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM items WHERE latitude IS NOT NULL ORDER BY id").fetchall()
        return [_item(row) for row in rows]

    def _check_kind(self) -> None:
        stored = self._meta("descriptor")
        if stored and stored != self.descriptor.kind:
            raise ValueError(
                f"this collection was indexed with '{stored}' descriptors, not '{self.descriptor.kind}': "
                "index it again in a new folder"
            )
        self._set_meta("descriptor", self.descriptor.kind)

    def _check_backend(self, index_uri: str) -> str:
        """The index URI, normalised ("" for the FAISS index), once it is where the collection records its
        vectors; a ValueError otherwise: a collection's vectors are never split between two backends, nor
        searched in one that lacks them. An empty collection takes the one it is opened with; one made
        before the record has its vectors in FAISS."""
        wanted = normalise_uri(index_uri) if index_uri else FAISS
        stored = (self._meta("vectors_in") or FAISS) if self.count() else wanted
        if stored != wanted:
            fix = ("open it without an index URI (no --index-uri, an empty index_uri preference)" if stored == FAISS
                   else f"open it with --index-uri {stored} (or that index_uri preference)")
            raise ValueError(f"the collection {self.folder} keeps its vectors in {self._vectors_at(stored)}, not in "
                             f"{self._vectors_at(wanted)}: {fix}, or index the images again into a new collection")
        self._set_meta("vectors_in", wanted)
        return "" if wanted == FAISS else wanted

    def _vectors_at(self, where: str) -> str:
        return f"its own FAISS index ({self.folder / 'global.faiss'})" if where == FAISS else f"Milvus at {where}"

    def _milvus_name(self) -> str:
        """The collection's own Milvus collection, named once at random: one server holds many cases."""
        name = self._meta("milvus_collection")
        if not name:
            name = f"workbench_{uuid.uuid4().hex}"
            self._set_meta("milvus_collection", name)
        return name

    @property
    def index_location(self) -> str:
        """Where the vectors are, in a few words, for status lines."""
        return self._vectors_at(self.index_uri or FAISS)

    def _meta(self, key: str) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else ""

    def _set_meta(self, key: str, value: str) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _features_path(self, item_id: int) -> Path:
        return self.folder / "features" / f"{item_id}.npz"

    def close(self) -> None:
        if isinstance(self.index, MilvusBackend):
            self.index.close()
        self._db.close()


_COLUMNS = (
    "id, path, sha256, file_size, format, width, height, jpeg_quality, taken, software, phash, dhash, "
    "latitude, longitude"
)


def _item(row: tuple[object, ...]) -> Item:
    (item_id, path, sha, size, fmt, width, height, quality, taken, software, ph, dh, lat, lon) = row
    return Item(int(item_id), str(path), str(sha), int(size), str(fmt), int(width), int(height),
                None if quality is None else int(quality), str(taken), str(software), int(str(ph), 16),
                int(str(dh), 16), None if lat is None else float(lat), None if lon is None else float(lon))
