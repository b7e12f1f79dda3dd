"""The Milvus backend against Milvus Lite, started by each test in its tmp_path: the same neighbours
and similarities as the FAISS exact backend, persistence, and a clear, quick error for a server that
does not answer."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from plugins.similarity import milvus_backend
from plugins.similarity.index import FaissBackend
from plugins.similarity.milvus_backend import MilvusBackend, MilvusError, normalise_uri

DIM = 32


def unit_vectors(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_round_trip_finds_what_faiss_exact_search_finds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(milvus_backend, "INSERT_BATCH", 64)  # several requests per add, and a remainder
    uri, vectors, ids = str(tmp_path / "milvus.db"), unit_vectors(500, 1), np.arange(1000, 1500)
    milvus, faiss = MilvusBackend(uri, "workbench_test", DIM), FaissBackend(tmp_path / "global.faiss", DIM)
    for start in range(0, len(ids), 150):
        milvus.add(ids[start : start + 150], vectors[start : start + 150])
        faiss.add(ids[start : start + 150], vectors[start : start + 150])
    queries = unit_vectors(20, 2)

    def same_top_k(k: int = 10) -> None:
        sims, found = milvus.search(queries, k)
        exact_sims, exact_ids = faiss.search(queries, k)
        assert np.array_equal(found, exact_ids)
        assert np.allclose(sims, exact_sims, atol=1e-5)

    same_top_k()
    gone = ids[::7]
    assert milvus.remove(np.r_[gone, [7, 8]]) == len(gone)  # ids never added are not counted
    faiss.remove(gone)
    assert len(milvus) == len(faiss) == 500 - len(gone)
    same_top_k()
    milvus.add(ids[1:2], -vectors[1:2])  # an id indexed again replaces its vector
    assert len(milvus) == len(faiss) and milvus.search(vectors[1:2], 1)[1][0, 0] != ids[1]
    milvus.add(ids[1:2], vectors[1:2])
    milvus.save()
    milvus.close()

    reopened = MilvusBackend(uri, "workbench_test", DIM)
    assert len(reopened) == len(faiss) and "FLAT (IP metric)" in reopened.describe()
    milvus = reopened
    same_top_k()
    sims, found = milvus.search(queries[:2], 1000)  # more than it holds: all of them, best first
    assert found.shape == (2, len(faiss)) and (found >= 0).all() and (np.diff(sims, axis=1) <= 1e-6).all()
    with pytest.raises(ValueError, match="holds 32-dimensional vectors, expected 64"):
        MilvusBackend(uri, "workbench_test", 64)


def test_build_replaces_the_collection(tmp_path: Path) -> None:
    uri, vectors = str(tmp_path / "milvus.db"), unit_vectors(300, 3)
    MilvusBackend(uri, "workbench_test", DIM).add(np.arange(5), vectors[:5])
    built = MilvusBackend.build(uri, "workbench_test", DIM, [(np.arange(100, 200), vectors[:100]),
                                                             (np.arange(200, 400), vectors[100:])])
    assert len(built) == 300
    assert np.array_equal(built.search(vectors[150:151], 1)[1], [[250]])


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback port that accepts connections and never answers (a server hung, or a firewall)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_server_that_does_not_answer_fails_quickly_and_says_where(silent_server: str) -> None:
    started = time.monotonic()
    with pytest.raises(MilvusError, match=f"cannot reach Milvus within 1 s at {silent_server}"):
        MilvusBackend(silent_server, "workbench_test", DIM, timeout=1.0)
    assert time.monotonic() - started < 10


def test_index_uris() -> None:
    assert normalise_uri("http://milvus.lan:19530/") == "http://milvus.lan:19530"
    assert normalise_uri("relative.db") == str(Path("relative.db").resolve())
    with pytest.raises(ValueError, match="expected a Milvus server"):
        normalise_uri("milvus.lan:19530")
