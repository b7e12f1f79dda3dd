"""The FAISS backend's automatic choice: exact while small, IVF-PQ with exact re-scoring when large
(thresholds lowered so that a few thousand vectors cross them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from plugins.similarity import index
from plugins.similarity.index import FaissBackend, NumpyBackend

DIM = 32
EXACT_MAX = 1500


@pytest.fixture(autouse=True)
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "EXACT_MAX_VECTORS", EXACT_MAX)
    monkeypatch.setattr(index, "SHRINK_TO_EXACT", EXACT_MAX // 2)


def clustered(n: int, seed: int) -> np.ndarray:
    """Unit vectors around 40 centres: neighbours are close, as between views of one scene."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(40, DIM))
    x = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.normal(size=(n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def recall_at(k: int, found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(found, exact, strict=True)]))


def filled(path: Path, n: int, step: int = 500) -> tuple[FaissBackend, NumpyBackend, np.ndarray]:
    """Both backends given ids 1000… and the same vectors, `step` at a time as a collection grows."""
    vectors, ids = clustered(n, 1), np.arange(1000, 1000 + n)
    backend, brute = FaissBackend(path, DIM), NumpyBackend(DIM)
    for start in range(0, n, step):
        backend.add(ids[start : start + step], vectors[start : start + step])
        brute.add(ids[start : start + step], vectors[start : start + step])
    return backend, brute, vectors


def test_exact_up_to_the_threshold_then_compressed(tmp_path: Path) -> None:
    backend, _, _ = filled(tmp_path / "global.faiss", EXACT_MAX)
    backend.save()
    assert backend.describe().startswith("exact") and (tmp_path / "global.faiss").is_file()
    backend.add(np.array([5000]), clustered(1, 2))
    assert backend.describe().startswith("IVF-PQ") and "trained on 1,501 vectors" in backend.describe()
    assert len(backend) == EXACT_MAX + 1 and not (tmp_path / "global.faiss").exists()
    assert (tmp_path / "global.json").is_file() and (tmp_path / "global.ivfpq.1" / "vectors.vectors").is_file()


def test_compressed_search_finds_the_exact_neighbours_with_exact_similarities(tmp_path: Path) -> None:
    backend, brute, _ = filled(tmp_path / "global.faiss", 4000)
    assert backend.describe().startswith("IVF-PQ")
    queries = clustered(50, 3)
    sims, ids = backend.search(queries, 10)
    exact_sims, exact_ids = brute.search(queries, 10)
    assert recall_at(10, ids, exact_ids) >= 0.95
    same = ids == exact_ids
    assert np.allclose(sims[same], exact_sims[same], atol=1e-5)  # re-scored with the exact vectors


def test_the_compressed_index_survives_a_restart(tmp_path: Path) -> None:
    backend, _, _ = filled(tmp_path / "global.faiss", 3000)
    backend.save()
    queries = clustered(5, 3)
    reopened = FaissBackend(tmp_path / "global.faiss", DIM)
    assert reopened.describe() == backend.describe()
    assert np.array_equal(reopened.search(queries, 10)[1], backend.search(queries, 10)[1])
    with pytest.raises(ValueError, match="64-dimensional|expected 64"):
        FaissBackend(tmp_path / "global.faiss", 64)


def test_vectors_added_after_training_are_found_without_retraining(tmp_path: Path) -> None:
    backend, _, _ = filled(tmp_path / "global.faiss", 2000)
    trained = backend.describe().split(";")[0]
    new = clustered(20, 4)
    backend.add(np.arange(9000, 9020), new)
    assert backend.describe().split(";")[0] == trained
    assert np.array_equal(backend.search(new, 1)[1][:, 0], np.arange(9000, 9020))


def test_removed_vectors_are_never_returned_even_after_a_restart(tmp_path: Path) -> None:
    backend, _, vectors = filled(tmp_path / "global.faiss", 2000)
    gone = np.arange(1000, 1100)
    assert backend.remove(gone) == 100 and len(backend) == 1900
    assert not np.isin(backend.search(vectors[:100], 20)[1], gone).any()
    # removed but not saved: the codes on disk still hold them, the vector file does not
    reopened = FaissBackend(tmp_path / "global.faiss", DIM)
    assert len(reopened) == 1900 and not np.isin(reopened.search(vectors[:100], 20)[1], gone).any()


def test_a_collection_that_shrinks_goes_back_to_exact_search(tmp_path: Path) -> None:
    backend, brute, vectors = filled(tmp_path / "global.faiss", 2000)
    ids = np.arange(1000, 2400)
    backend.remove(ids)
    brute.remove(ids)
    assert backend.describe().startswith("exact") and len(backend) == 600
    assert not (tmp_path / "global.json").exists() and not list(tmp_path.glob("global.ivfpq.*"))
    assert np.array_equal(backend.search(vectors[-5:], 10)[1], brute.search(vectors[-5:], 10)[1])
    assert len(FaissBackend(tmp_path / "global.faiss", DIM)) == 600


def test_the_index_is_trained_again_when_the_collection_has_doubled(tmp_path: Path) -> None:
    backend, brute, _ = filled(tmp_path / "global.faiss", 3500)
    assert "trained on 2,000 vectors" in backend.describe()  # first trained at 2,000; doubled at 4,000
    backend.add(np.arange(9000, 9500), clustered(500, 5))
    assert "trained on 4,000 vectors" in backend.describe()
    assert [p.name for p in tmp_path.glob("global.ivfpq.*")] == ["global.ivfpq.2"]
    assert len(FaissBackend(tmp_path / "global.faiss", DIM)) == 4000


def test_a_bulk_build_picks_the_kind_by_size(tmp_path: Path) -> None:
    vectors = clustered(3000, 6)
    chunks = [(np.arange(0, 1000), vectors[:1000]), (np.arange(1000, 3000), vectors[1000:])]
    small = FaissBackend.build(tmp_path / "a.faiss", DIM, chunks[:1], 1000)
    large = FaissBackend.build(tmp_path / "b.faiss", DIM, chunks, 3000)
    assert small.describe().startswith("exact") and large.describe().startswith("IVF-PQ")
    assert large.memory_bytes() < small.memory_bytes() * 3  # 3× the vectors in less than 3× the memory
