"""The Milvus backend against Milvus Lite, started by each test in its tmp_path: the same neighbours
and similarities as the FAISS exact backend, persistence, `workbench index/search --index-uri`, the
refusal to mix backends, and a clear, quick error for a server that does not answer."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from plugins.similarity import milvus_backend
from plugins.similarity.index import FaissBackend
from plugins.similarity.milvus_backend import MilvusBackend, MilvusError, normalise_uri
from workbench.app.cli import main as cli_main
from workbench.app.sample import jpeg_bytes, load_photo
from workbench.core import preferences

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
    old = MilvusBackend(uri, "workbench_test", 2 * DIM)  # another dimension, as before whitening
    old.add(np.arange(5), np.hstack([vectors[:5], vectors[:5]]))
    old.save()
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


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in ("astronaut.png", "coffee.png", "chelsea.png"):
        (folder / f"{Path(name).stem}.jpg").write_bytes(jpeg_bytes(load_photo(name), 90))
    return folder


def search_json(capsys: pytest.CaptureFixture[str], query: Path, *args: object) -> list[dict[str, object]]:
    out = query.parent.parent / "hits.json"
    assert cli_main(["search", str(query), "--rerank", "none", "--json", str(out), *map(str, args)]) == 0, \
        capsys.readouterr().err
    return json.loads(out.read_text(encoding="utf-8"))["hits"]


def test_index_and_search_with_an_index_uri(tmp_path: Path, photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lite, folder = tmp_path / "milvus.db", tmp_path / "collection"
    assert cli_main(["index", str(photos), "--collection", str(folder), "--index-uri", str(lite)]) == 0
    out = capsys.readouterr().out
    assert f"vector index: Milvus Lite at {lite}, collection workbench_" in out and "; 3 vectors" in out
    assert not (folder / "global.faiss").exists()

    query = tmp_path / "query" / "astronaut copy.jpg"
    query.parent.mkdir()
    query.write_bytes(jpeg_bytes(np.ascontiguousarray(load_photo("astronaut.png")[20:480, 10:500][:, ::-1]), 80))
    hits = search_json(capsys, query, "--collection", folder, "--index-uri", lite)
    assert [Path(str(h["path"])).name for h in hits][0] == "astronaut.jpg" and len(hits) == 3
    assert float(hits[0]["global_similarity"]) > float(hits[1]["global_similarity"]) + 0.1  # the copy stands out

    preferences.update(index_uri=str(lite))  # without --index-uri, the preference says where
    assert cli_main(["index", str(photos / "coffee.jpg"), "--collection", str(folder), "--remove"]) == 0
    assert "(1 removed)" in capsys.readouterr().out
    assert [h["path"] for h in search_json(capsys, query, "--collection", folder)] == \
           [h["path"] for h in hits if not str(h["path"]).endswith("coffee.jpg")]


def test_a_collection_refuses_another_backend_than_the_one_holding_its_vectors(
        tmp_path: Path, photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lite, folder = tmp_path / "milvus.db", tmp_path / "collection"
    assert cli_main(["index", str(photos / "coffee.jpg"), "--collection", str(folder)]) == 0
    capsys.readouterr()
    assert cli_main(["index", str(photos / "chelsea.jpg"), "--collection", str(folder), "--index-uri", str(lite)]) == 1
    err = capsys.readouterr().err
    assert f"keeps its vectors in its own FAISS index ({folder / 'global.faiss'}), not in Milvus at {lite}" in err

    elsewhere = tmp_path / "in_milvus"
    assert cli_main(["index", str(photos / "coffee.jpg"), "--collection", str(elsewhere),
                     "--index-uri", str(lite)]) == 0
    capsys.readouterr()
    assert cli_main(["search", str(photos / "coffee.jpg"), "--collection", str(elsewhere)]) == 1
    assert f"keeps its vectors in Milvus at {lite}, not in its own FAISS index" in capsys.readouterr().err
    assert cli_main(["search", str(photos / "coffee.jpg"), "--collection", str(elsewhere),
                     "--index-uri", str(tmp_path / "other.db")]) == 1
    assert f"open it with --index-uri {lite}" in capsys.readouterr().err


def test_the_cli_says_when_the_server_is_unreachable(tmp_path: Path, photos: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{sock.getsockname()[1]}"
    started = time.monotonic()
    assert cli_main(["index", str(photos / "coffee.jpg"), "--collection", str(tmp_path / "c"), "--index-uri", uri]) == 1
    assert f"cannot reach Milvus within 5 s at {uri}" in capsys.readouterr().err
    assert time.monotonic() - started < 30  # the descriptor's model loads too; nothing waits on the network
