"""Similar-image search: descriptors, hashes, index backends, the collection store, search and CLI."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from plugins.similarity.collection import Collection
from plugins.similarity.compact import KEYPOINTS, MAX_BYTES, CompactFeatures, compact, verify_compact
from plugins.similarity.global_descriptor import COMPILED_COSINE, GlobalDescriptor, Whitening, gem
from plugins.similarity.index import FaissBackend, NumpyBackend
from plugins.similarity.local import KIND as SIFT_KIND
from plugins.similarity.local import MIN_INLIERS, sift_features, verify
from plugins.similarity.phash import NEAR_DUPLICATE_BITS, dhash, hamming, phash
from plugins.similarity.search import Query, Rerank, match_lines, query_from_media, search
from workbench.app.cli import main as cli_main
from workbench.app.sample import load_photo
from workbench.core.media import open_media

PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "camera.png", "motorcycle_left.png")


def save_jpeg(path: Path, rgb: np.ndarray, quality: int = 90) -> Path:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    path.write_bytes(data.tobytes())
    return path


def rgb_of(name: str) -> np.ndarray:
    rgb = load_photo(name)
    return np.ascontiguousarray(np.dstack([rgb] * 3) if rgb.ndim == 2 else rgb[..., :3])


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in PHOTOS:
        save_jpeg(folder / f"{Path(name).stem}.jpg", rgb_of(name))
    return folder


@pytest.fixture(scope="module")
def collection(photo_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Collection:
    coll = Collection(tmp_path_factory.mktemp("coll"))
    report = coll.add([photo_folder])
    assert report.added == len(PHOTOS) and not report.failed
    return coll


def test_backbone_loads_the_shipped_imagenet_weights_and_recognises_a_cat() -> None:
    import torch

    from plugins.similarity.global_descriptor import MODEL_ID, network_input
    from plugins.similarity.mobilenet import MobileNetV2
    from workbench.core.models import ModelStore, loaded_model

    net = loaded_model(ModelStore(), MODEL_ID, MobileNetV2)
    with torch.inference_mode():
        logits = net.classifier(net(torch.from_numpy(network_input(rgb_of("chelsea.png"), 224))).mean((2, 3)))
    assert 281 <= int(logits.argmax()) <= 285  # ImageNet's domestic cat classes


def test_gem_with_p_1_is_the_mean_and_descriptors_are_unit_vectors() -> None:
    import torch

    x = torch.rand(2, 5, 3, 4)
    assert torch.allclose(gem(x, p=1.0), x.mean(dim=(2, 3)), atol=1e-6)
    vector = GlobalDescriptor().describe(rgb_of("coffee.png"))
    assert vector.shape == (1280,) and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_same_scene_is_closer_than_other_photos() -> None:
    d = GlobalDescriptor()
    cat = rgb_of("chelsea.png")
    h, w = cat.shape[:2]
    crop = np.ascontiguousarray(cat[h // 6 :, : w * 5 // 6])
    same = float(d.describe(cat) @ d.describe(crop))
    others = [float(d.describe(cat) @ d.describe(rgb_of(n))) for n in PHOTOS if n != "chelsea.png"]
    assert same > max(others) + 0.1, (same, others)


def test_perceptual_hashes_survive_recompression_and_resizing_not_other_content() -> None:
    rgb = rgb_of("astronaut.png")
    _, data = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, 60])
    copy = cv2.resize(cv2.imdecode(data, cv2.IMREAD_COLOR), (300, 300), interpolation=cv2.INTER_AREA)
    assert hamming(phash(rgb), phash(copy)) <= NEAR_DUPLICATE_BITS
    assert hamming(dhash(rgb), dhash(copy)) <= NEAR_DUPLICATE_BITS
    assert hamming(phash(rgb), phash(rgb_of("coffee.png"))) > 2 * NEAR_DUPLICATE_BITS
    assert hamming(0b1011, 0b0001) == 2


def test_whitening_decorrelates_and_keeps_unit_length() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 16)) @ rng.normal(size=(16, 16))
    w = Whitening.learn(x, dims=8, alpha=0.0)
    projected = (x - w.mean) @ w.projection
    cov = np.cov(projected, rowvar=False)
    assert np.allclose(cov, np.eye(8), atol=1e-3)
    assert np.allclose(np.linalg.norm(w.apply(x), axis=1), 1.0, atol=1e-5)


def test_faiss_and_brute_force_agree_and_the_index_survives_a_restart(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(200, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1000, 1200)
    faiss_index, brute = FaissBackend(tmp_path / "i.faiss", 32), NumpyBackend(32)
    for backend in (faiss_index, brute):
        backend.add(ids, vectors)
        assert backend.remove(np.array([1000, 1001])) == 2
    queries = vectors[:5]
    s1, i1 = faiss_index.search(queries, 10)
    s2, i2 = brute.search(queries, 10)
    assert np.array_equal(i1, i2) and np.allclose(s1, s2, atol=1e-5)
    assert 1000 not in i1 and i1[2, 0] == 1002
    faiss_index.save()
    reopened = FaissBackend(tmp_path / "i.faiss", 32)
    assert len(reopened) == 198 and np.array_equal(reopened.search(queries, 10)[1], i1)


def test_spatial_verification_separates_a_copy_from_another_photo() -> None:
    cat = rgb_of("chelsea.png")
    h, w = cat.shape[:2]
    rotated = cv2.warpAffine(cat, cv2.getRotationMatrix2D((w / 2, h / 2), 15, 0.8), (w, h))
    original = sift_features(cat)
    assert verify(original, sift_features(rotated)).inliers >= 5 * MIN_INLIERS
    assert verify(original, sift_features(rgb_of("coffee.png"))).inliers < MIN_INLIERS


def test_a_cropped_flipped_recompressed_copy_is_found_first_with_matches(collection: Collection) -> None:
    cat = rgb_of("chelsea.png")
    h, w = cat.shape[:2]
    copy = np.ascontiguousarray(cat[h // 5 :, w // 6 :][:, ::-1])
    hits = search(collection, Query(copy, width=copy.shape[1], height=copy.shape[0]), k=3)
    assert Path(hits[0].item.path).name == "chelsea.jpg"
    assert hits[0].inliers >= MIN_INLIERS and hits[0].matches.shape[1] == 4
    assert hits[0].score > hits[1].score + 0.2 and hits[1].inliers < MIN_INLIERS
    assert any("more pixels" in hint for hint in hits[0].hints) and not hits[1].hints
    # matches are in the query's frame: inside the copy, and the flip maps x to the mirrored side
    assert (hits[0].matches[:, 0] < copy.shape[1]).all() and (hits[0].matches[:, 1] < copy.shape[0]).all()
    global_only = search(collection, Query(copy), k=3, rerank=Rerank.NONE)
    assert [h.inliers for h in global_only] == [0, 0, 0]
    assert [h.score for h in global_only] == [h.global_sim for h in global_only]


def test_the_compact_record_fits_1_kb_and_round_trips() -> None:
    cat = rgb_of("chelsea.png")
    full = sift_features(cat)
    record = compact(full)
    raw = record.to_bytes()
    assert len(record) == KEYPOINTS and len(raw) <= MAX_BYTES
    back = CompactFeatures.from_arrays(record.to_arrays())
    assert back is not None and back.image_size == cat.shape[:2]
    assert np.array_equal(back.xy, record.xy) and np.array_equal(back.bits, record.bits)
    # the stored positions are the largest keypoints', to 1/4096 of the image's sides
    largest = full.xy[np.argsort(-full.scale, kind="stable")[:KEYPOINTS]]
    assert np.abs(back.xy - largest).max() <= max(cat.shape[:2]) / 4096 + 1e-3
    with pytest.raises(ValueError, match="exceed"):
        compact(full, None).to_bytes()
    with pytest.raises(ValueError, match="format"):
        CompactFeatures.from_bytes(b"\x09" + raw[1:])
    query = compact(sift_features(np.ascontiguousarray(cat[30:, 40:])), None)
    assert verify_compact(query, back).inliers >= 2 * MIN_INLIERS
    assert verify_compact(compact(sift_features(rgb_of("coffee.png")), None), back).inliers < MIN_INLIERS


@pytest.fixture(scope="module")
def compact_collection(photo_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Collection:
    """A collection past its full-features size: its images store compact records only."""
    coll = Collection(tmp_path_factory.mktemp("compact"))
    coll.full_features_max = 2
    assert coll.add([photo_folder]).added == len(PHOTOS)
    return coll


def test_compact_reranking_finds_a_cropped_flipped_recompressed_copy_first(
    compact_collection: Collection, tmp_path: Path
) -> None:
    ids = [item.id for item in compact_collection.items()]
    assert [compact_collection.has_local_features(i, SIFT_KIND) for i in ids] == [True, True] + [False] * (len(ids) - 2)
    assert all(compact_collection.features(i)["rootsift_compact"].nbytes <= MAX_BYTES for i in ids)
    cat = rgb_of("chelsea.png")
    h, w = cat.shape[:2]
    copy = open_media(save_jpeg(tmp_path / "copy.jpg", np.ascontiguousarray(cat[h // 5 :, w // 6 :][:, ::-1]), 60))
    hits = search(compact_collection, query_from_media(copy), k=3)  # some shortlisted images lack full features
    assert Path(hits[0].item.path).name == "chelsea.jpg" and all(h.compact for h in hits)
    assert hits[0].inliers >= MIN_INLIERS > hits[1].inliers and hits[0].score > hits[1].score + 0.1
    assert (hits[0].matches[:, 0] < copy.width).all() and (hits[0].matches[:, 1] < copy.height).all()


def test_the_match_view_recomputes_full_matches_for_a_compact_hit(collection: Collection, tmp_path: Path) -> None:
    cat = rgb_of("chelsea.png")
    h, w = cat.shape[:2]
    copy = np.ascontiguousarray(cat[h // 5 :, w // 6 :][:, ::-1])
    full, small = (search(collection, Query(copy), k=1, rerank=r)[0] for r in (Rerank.SIFT, Rerank.SIFT_COMPACT))
    assert not full.compact and small.compact and Path(small.item.path).name == "chelsea.jpg"
    stored = open_media(small.item.path).pixels()
    assert match_lines(copy, stored, full) is full.matches  # the search's own lines: nothing recomputed
    lines = match_lines(copy, stored, small)
    assert len(lines) >= 2 * small.inliers and abs(len(lines) - full.inliers) <= 0.1 * full.inliers
    assert (lines[:, 0] < copy.shape[1]).all() and (lines[:, 2] < stored.shape[1]).all()


def test_an_image_indexed_before_compact_records_gets_one_from_its_full_features(
    collection: Collection, tmp_path: Path
) -> None:
    shutil.copytree(collection.folder, tmp_path / "older")
    older = Collection(tmp_path / "older")
    item_id = older.items()[0].id
    stored = older.compact_features(item_id)
    arrays = {k: v for k, v in older.features(item_id).items() if k != "rootsift_compact"}
    np.savez(older.folder / "features" / f"{item_id}.npz", **arrays)  # as an earlier version stored it
    made = older.compact_features(item_id)
    assert stored is not None and made is not None
    assert np.array_equal(made.bits, stored.bits) and np.array_equal(made.xy, stored.xy)


def test_query_from_a_file_skips_itself_and_checks_the_rectangle(collection: Collection, photo_folder: Path) -> None:
    media = open_media(photo_folder / "coffee.jpg")
    hits = search(collection, query_from_media(media), k=10)
    assert "coffee.jpg" not in {Path(h.item.path).name for h in hits}
    assert len(hits) == len(PHOTOS) - 1
    roi = query_from_media(media, (10, 20, 100, 50))
    assert roi.rgb.shape == (50, 100, 3)
    with pytest.raises(ValueError, match="too small"):
        query_from_media(media, (0, 0, 10, 10))


def test_adding_is_incremental_and_bad_files_are_reported(tmp_path: Path, photo_folder: Path) -> None:
    folder = tmp_path / "mixed ü"
    folder.mkdir()
    save_jpeg(folder / "фото.jpg", rgb_of("camera.png"))
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes((photo_folder / "coffee.jpg").read_bytes()[:300])
    (folder / "notes.txt").write_text("not an image")
    coll = Collection(tmp_path / "coll")
    report = coll.add([folder])
    assert report.added == 1 and set(map(lambda p: Path(p).name, report.failed)) == {"empty.jpg", "truncated.jpg"}
    assert coll.add([folder]).skipped == 1
    coll.close()
    (tmp_path / "coll" / "global.faiss").unlink()  # a crash before the index was saved
    reopened = Collection(tmp_path / "coll")
    assert reopened.count() == len(reopened.index) == 1
    assert reopened.remove([reopened.items()[0].id]) == 1 and len(reopened.index) == 0
    assert reopened.add([folder]).added == 1
    assert reopened._meta("index") == "exact (flat inner product); 1 vectors"  # the choice, recorded
    assert reopened.remove_paths([folder]) == 1 and reopened.count() == len(reopened.index) == 0


def test_cli_index_and_search(tmp_path: Path, photo_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / "case"
    assert cli_main(["index", str(photo_folder), "--case", str(case)]) == 0
    query = save_jpeg(tmp_path / "query.jpg", rgb_of("motorcycle_left.png")[40:300, 60:500], 70)
    out = tmp_path / "hits.json"
    assert cli_main(["search", str(query), "--case", str(case), "--k", "2", "--json", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert Path(doc["hits"][0]["path"]).name == "motorcycle_left.jpg" and doc["hits"][0]["inliers"] >= MIN_INLIERS
    assert "not a probability" in doc["score_meaning"]
    assert cli_main(["index", str(photo_folder / "coffee.jpg"), "--case", str(case), "--remove"]) == 0
    printed = capsys.readouterr().out
    assert f"{len(PHOTOS) - 1} images (1 removed)" in printed
    assert f"vector index: exact (flat inner product); {len(PHOTOS) - 1} vectors" in printed
    assert cli_main(["search", str(query), "--collection", str(tmp_path / "none")]) == 1
    assert "empty" in capsys.readouterr().err


def test_indexing_matches_describing_one_image_at_a_time(tmp_path: Path, photo_folder: Path) -> None:
    """The pipeline against the steps it replaced: the same vectors and hashes at the stored size;
    a camera-size JPEG, decoded reduced, within float tolerance, its keypoints in its own pixels."""
    folder = tmp_path / "photos"
    shutil.copytree(photo_folder, folder)
    big = cv2.resize(rgb_of("coffee.png"), (2400, 1600), interpolation=cv2.INTER_CUBIC)
    save_jpeg(folder / "zz-camera.jpg", big, 92)
    coll = Collection(tmp_path / "coll")
    assert coll.add([folder]).added == len(PHOTOS) + 1
    for item in coll.items():
        rgb = open_media(item.path).pixels()
        vector = coll.global_vectors([item.id])[0]
        stored = coll.local_features(item.id, "rootsift")
        if item.path.endswith("zz-camera.jpg"):
            assert float(vector @ coll.descriptor.describe(rgb)) > 0.9995
            assert hamming(item.phash, phash(rgb)) <= 4 and hamming(item.dhash, dhash(rgb)) <= 4
            assert stored.image_size == (1600, 2400)
            match = verify(sift_features(rgb), stored)
            assert match.inliers > 200 and np.allclose(match.affine[:, :2], np.eye(2), atol=0.01)
            assert np.abs(match.affine[:, 2]).max() < 1.0  # pixels of the stored image, not of the reduced one
        else:
            np.testing.assert_allclose(vector, coll.descriptor.describe(rgb), atol=1e-5)
            assert (item.phash, item.dhash) == (phash(rgb), dhash(rgb))
            np.testing.assert_allclose(stored.xy, sift_features(rgb).xy, atol=1e-3)
    coll.close()


def test_the_compiled_network_gives_nearly_the_same_descriptors() -> None:
    descriptor = GlobalDescriptor()
    for name in ("chelsea.png", "camera.png"):
        rgb = rgb_of(name)[:, :300]
        x = descriptor.input_of(rgb)
        compiled = descriptor.describe_batch(np.concatenate([x, x]), compiled=True)
        np.testing.assert_allclose(compiled[0], compiled[1], atol=1e-6)
        assert compiled[0] @ descriptor.describe(rgb) >= COMPILED_COSINE


def test_cancelled_indexing_resumes_where_it_stopped(tmp_path: Path, photo_folder: Path) -> None:
    from workbench.core.plugin import Cancelled, RunContext

    folder = tmp_path / "photos"
    folder.mkdir()
    for n in range(3):
        for name in PHOTOS:
            shutil.copy(photo_folder / f"{Path(name).stem}.jpg", folder / f"{n}-{Path(name).stem}.jpg")
    stop = threading.Event()

    def progress(fraction: float, message: str) -> None:
        if 0 < fraction < 1:
            stop.set()  # after the first batch is committed

    coll = Collection(tmp_path / "coll")
    with pytest.raises(Cancelled):
        coll.add([folder], RunContext(progress, stop))
    first = coll.count()
    assert 0 < first < 3 * len(PHOTOS) and len(coll.index) == first
    report = coll.add([folder])
    assert (report.skipped, report.added, report.failed) == (first, 3 * len(PHOTOS) - first, {})
    assert len({item.path for item in coll.items()}) == coll.count() == len(coll.index) == 3 * len(PHOTOS)
    coll.close()


def test_search_answers_many_queries_with_one_collection(
    tmp_path: Path, collection: Collection, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from plugins.similarity import cli as search_cli

    opened = []
    monkeypatch.setattr(search_cli, "_open_collection",
                        lambda args, case: opened.append(1) or Collection(collection.folder))
    queries = [save_jpeg(tmp_path / f"{name}.jpg", rgb_of(f"{name}.png")[30:400, 40:450], 75)
               for name in ("coffee", "chelsea")]
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "hits.json"
    code = cli_main(["search", *map(str, queries), str(tmp_path / "broken.jpg"), "--collection",
                     str(collection.folder), "--k", "1", "--json", str(out)])
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert code == 1 and opened == [1] and "broken.jpg" in capsys.readouterr().err
    assert [Path(q["hits"][0]["path"]).stem for q in doc["queries"][:2]] == ["coffee", "chelsea"]
    assert [Path(q["query"]).name for q in doc["queries"]] == ["coffee.jpg", "chelsea.jpg", "broken.jpg"]
    assert "error" in doc["queries"][2] and "not a probability" in doc["score_meaning"]


def test_ames_reranking_without_its_weights_says_so(
    collection: Collection, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from workbench.core.plugin import ModelUnavailable

    with pytest.raises(ModelUnavailable, match="AMES re-ranking needs three files"):
        search(collection, Query(rgb_of("coffee.png")), rerank=Rerank.AMES)
    query = save_jpeg(tmp_path / "q.jpg", rgb_of("coffee.png"))
    assert cli_main(["search", str(query), "--collection", str(collection.folder), "--rerank", "ames"]) == 1
    assert "not installed" in capsys.readouterr().err
    assert cli_main(["index", str(query), "--collection", str(tmp_path / "c2"), "--ames"]) == 1
    assert "AMES" in capsys.readouterr().err


def test_a_collection_keeps_its_descriptor_and_dinov2_needs_its_weights(
    tmp_path: Path, photo_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from plugins.similarity.global_descriptor import DinoV2Descriptor, GlobalDescriptor, descriptor_for

    assert isinstance(descriptor_for("dinov2"), DinoV2Descriptor)
    assert isinstance(descriptor_for(GlobalDescriptor.kind), GlobalDescriptor)
    with pytest.raises(ValueError, match="unknown descriptor"):
        descriptor_for("clip")
    coll = Collection(tmp_path / "d", DinoV2Descriptor())
    coll.close()
    assert isinstance(Collection(tmp_path / "d").descriptor, DinoV2Descriptor)  # reopened as it was made
    with pytest.raises(ValueError, match="indexed with 'dinov2"):
        Collection(tmp_path / "d", GlobalDescriptor())
    assert cli_main(["index", str(photo_folder / "coffee.jpg"), "--collection", str(tmp_path / "e"),
                     "--descriptor", "dinov2"]) == 1
    assert "dinov2_vitb14_reg" in capsys.readouterr().err
