"""The similarity index in Milvus: the `VectorBackend` for a collection too large for one machine.

Milvus is reached at a URI the analyst configures (`--index-uri`, the `index_uri` preference): a
server or cluster (`http://host:19530`), deployed with Milvus's own recipes (docs/scale.md), or a
Milvus Lite database, a local folder named `*.db` served inside this process (the tests use one).
Each workbench collection has a Milvus collection of its own: the item id as primary key, the
(whitened) global descriptor as a float vector, inner product as the metric. Everything else (the
item table, descriptors, local features) stays in the collection folder, so the index can be
rebuilt from it.

`pymilvus` is imported only when a backend is opened: it costs about a second (it imports pandas)
and nothing without a URI needs it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

LITE_INDEX: dict[str, Any] = {"index_type": "FLAT", "params": {}}
"""Milvus Lite: exact search. Lite serves tests and small local collections, where a scan is fast
enough and gives the FAISS exact backend's results exactly (the tests compare them)."""
SERVER_INDEX: dict[str, Any] = {"index_type": "DISKANN", "params": {}}
"""A server: DiskANN, for collections beyond one machine's memory. Like the embedded IVF-PQ index it
keeps compressed codes in memory and the exact vectors on disk (with its graph) to re-score the
candidates, where HNSW or IVF_FLAT would hold every 5 KB vector in the query nodes' memory (512 GB at
a hundred million images). It needs the query nodes' data path on NVMe (docs/scale.md)."""
DISKANN_SEARCH_LIST = 200
"""Candidates DiskANN keeps while searching (Milvus's default is 16; at least k): about twice the
search's shortlist of 101. Not measured here: no Milvus server was available to tune it."""
CONNECT_TIMEOUT_S = 5.0
"""How long to wait for a server to answer before saying it is unreachable: a wrong URI fails fast
instead of hanging the CLI or the panel."""
CALL_TIMEOUT_S = 120.0
"""Bound on each call, retries included: pymilvus otherwise retries a server that went away mid-job
75 times."""
INSERT_BATCH = 2_000
"""Vectors sent per request: 10 MB at 1280-d, well under Milvus's 64 MB gRPC message limit. Adding
one image at a time (as indexing does) is buffered up to this, or to the next `save()`."""
MAX_TOP_K = 16_384
"""Milvus's largest k (its default `quotaAndLimits.limits.topK`)."""
TOKEN_ENV = "WORKBENCH_MILVUS_TOKEN"
"""Environment variable holding the server's authentication token (`user:password` or an API key):
a secret is neither written into the preferences nor recorded with the collection."""
_SERVER_SCHEMES = ("http://", "https://", "tcp://")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")


class MilvusError(OSError):
    """Milvus could not be reached or refused a request; the message says which server and why."""


def normalise_uri(uri: str) -> str:
    """A server URI as given; a Milvus Lite database as an absolute path (the collection records the
    URI and compares it when opened, from whatever folder)."""
    uri = uri.strip()
    if uri.lower().startswith(_SERVER_SCHEMES):
        return uri.rstrip("/")
    if uri.endswith(".db"):
        return str(Path(uri).expanduser().resolve())
    raise ValueError(f"index URI {uri!r}: expected a Milvus server (http://host:19530, https://…) "
                     "or a Milvus Lite database (a path ending in .db)")


def is_lite(uri: str) -> bool:
    return not uri.lower().startswith(_SERVER_SCHEMES)


def valid_name(name: str) -> bool:
    """Whether Milvus accepts `name` as a collection name."""
    return bool(_NAME.fullmatch(name))


class MilvusBackend:
    """Inner-product search in one Milvus collection, created on first use with the index its
    deployment calls for (`LITE_INDEX` or `SERVER_INDEX`) and strong consistency, so that an image
    just indexed is found by the next search."""

    def __init__(self, uri: str, name: str, dim: int, timeout: float = CONNECT_TIMEOUT_S,
                 replace: bool = False) -> None:
        """Connects to `uri` and opens the collection `name`, created if absent or if `replace`."""
        if not valid_name(name):
            raise ValueError(f"{name!r} is not a valid Milvus collection name")
        self.uri, self.name, self.dim = normalise_uri(uri), name, dim
        self._pending_ids: list[np.ndarray] = []
        self._pending_vectors: list[np.ndarray] = []
        self._unflushed = False
        self._client = _connect(self.uri, timeout)
        exists = self._call("has_collection", self.name)
        if exists and replace:
            self._call("drop_collection", self.name)
        if exists and not replace:
            stored = _vector_dim(self._call("describe_collection", self.name))
            if stored != dim:
                raise ValueError(f"Milvus collection {self.name} at {self.uri} holds {stored}-dimensional vectors, "
                                 f"expected {dim}")
        else:
            self._create()
        self._call("load_collection", self.name)

    @classmethod
    def build(cls, uri: str, name: str, dim: int, chunks: Iterable[tuple[np.ndarray, np.ndarray]]) -> MilvusBackend:
        """A new Milvus collection filled from (ids, vectors) chunks; it replaces the one named `name`,
        whatever its dimension (learning whitening changes it)."""
        backend = cls(uri, name, dim, replace=True)
        for ids, vectors in chunks:
            backend.add(ids, vectors)
        backend.save()
        return backend

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Buffer the vectors, sending them INSERT_BATCH at a time (the rest at the next save or read)."""
        self._pending_ids.append(np.asarray(ids, np.int64).ravel())
        self._pending_vectors.append(np.asarray(vectors, np.float32).reshape(-1, self.dim))
        if sum(len(i) for i in self._pending_ids) >= INSERT_BATCH:
            self._send_pending()

    def remove(self, ids: np.ndarray) -> int:
        self._readable()
        wanted = [int(i) for i in np.asarray(ids, np.int64).ravel()]
        if not wanted:
            return 0
        # Milvus reports the ids it was asked to delete, present or not: count the present ones first
        present = self._call("query", self.name, ids=wanted, output_fields=["id"])
        self._call("delete", self.name, ids=wanted)
        self._unflushed = True
        return len(present)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, np.float32).reshape(-1, self.dim)
        n = len(self)
        if n == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        k = max(1, min(k, n, MAX_TOP_K))
        params: dict[str, Any] = {"metric_type": "IP"}
        if not is_lite(self.uri):
            params["params"] = {"search_list": max(k, DISKANN_SEARCH_LIST)}
        hits = self._call("search", self.name, data=list(queries), limit=k, anns_field="vector",
                          output_fields=["id"], search_params=params)
        sims = np.full((len(queries), k), -np.inf, np.float32)
        found = np.full((len(queries), k), -1, np.int64)
        for row, row_hits in enumerate(hits):
            for col, hit in enumerate(row_hits[:k]):
                sims[row, col], found[row, col] = hit["distance"], hit["id"]
        return sims, found

    def __len__(self) -> int:
        self._readable()
        rows = self._call("query", self.name, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def save(self) -> None:
        """Send what is buffered. Milvus makes each acknowledged write durable (its write-ahead log)
        and seals segments itself: an explicit flush, rate-limited on a server, is not needed."""
        self._send_pending()

    def describe(self) -> str:
        index = self._call("describe_index", self.name, "vector")
        kind = "Milvus Lite" if is_lite(self.uri) else "Milvus"
        search = "" if is_lite(self.uri) else f", search list {DISKANN_SEARCH_LIST}"
        return (f"{kind} at {self.uri}, collection {self.name}: {index.get('index_type', '?')} "
                f"({index.get('metric_type', '?')} metric{search}); {len(self):,} vectors")

    def close(self) -> None:
        """Send what is buffered and close the connection."""
        self._send_pending()
        self._client.close()

    def _create(self) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False,
                                            description="Forensic Workbench similarity collection")
        schema.add_field("id", DataType.INT64, is_primary=True, description="the item's id in collection.sqlite")
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim, description="global descriptor")
        index = self._client.prepare_index_params()
        index.add_index(field_name="vector", metric_type="IP", **(LITE_INDEX if is_lite(self.uri) else SERVER_INDEX))
        self._call("create_collection", self.name, schema=schema, index_params=index, consistency_level="Strong")

    def _readable(self) -> None:
        """Send what is buffered and, on Lite, flush it into an indexed segment before reading: Lite
        scans rows it has not flushed in pure Python (1.5 s per count or search at 10,000 vectors,
        against tens of ms once flushed). Only before reading: a flush per save while indexing would
        leave hundreds of small segments to search. A server seals segments itself."""
        self._send_pending()
        if self._unflushed and is_lite(self.uri):
            self._call("flush", self.name)
        self._unflushed = False

    def _send_pending(self) -> None:
        """Upsert the buffered vectors: an id indexed again replaces its vector, where a plain insert
        would keep both (Milvus does not enforce unique primary keys)."""
        if not self._pending_ids:
            return
        ids, vectors = np.concatenate(self._pending_ids), np.concatenate(self._pending_vectors)
        self._pending_ids, self._pending_vectors = [], []
        for start in range(0, len(ids), INSERT_BATCH):
            rows = [{"id": int(i), "vector": v} for i, v in
                    zip(ids[start : start + INSERT_BATCH], vectors[start : start + INSERT_BATCH], strict=True)]
            self._call("upsert", self.name, rows)
        self._unflushed = True

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A client call, bounded in time, whose failure names the server."""
        from pymilvus.exceptions import MilvusException

        try:
            return getattr(self._client, method)(*args, timeout=CALL_TIMEOUT_S, **kwargs)
        except MilvusException as exc:
            raise MilvusError(f"Milvus at {self.uri} ({self.name}): {method} failed: {exc.message}") from exc


def _connect(uri: str, timeout: float) -> Any:
    """A client for `uri`, or MilvusError within `timeout` seconds."""
    try:
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException
    except ImportError as exc:
        raise MilvusError("Milvus support needs the pymilvus and milvus-lite packages (pip install "
                          "forensic-workbench installs them); this build has none") from exc
    try:
        return MilvusClient(uri=uri, token=os.environ.get(TOKEN_ENV, ""), timeout=timeout)
    except MilvusException as exc:
        if is_lite(uri):
            raise MilvusError(f"cannot open the Milvus Lite database {uri}: {exc.message}. Lite serves one process "
                              "at a time: is it open in the workbench window or another command?") from exc
        raise MilvusError(f"cannot reach Milvus within {timeout:g} s at {uri}: {exc.message}. Check that the server "
                          f"runs and the URI (--index-uri, or the index_uri preference) is right; a server that "
                          f"requires authentication reads its token from {TOKEN_ENV}") from exc


def _vector_dim(description: dict[str, Any]) -> int:
    for field in description["fields"]:
        if field["name"] == "vector":
            return int(field["params"]["dim"])
    raise ValueError(f"Milvus collection {description.get('collection_name')} has no 'vector' field")
