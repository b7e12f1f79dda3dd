"""Faces and the deepfake ensemble: detection on real photos, tracking on a generated video, crops,
aggregation, and the ensemble's unavailable / abstained / answered paths.

The ensemble's member here is a network our module builds and saves in the test (random weights,
labelled a test model): the tests check the plumbing (boxes, per-frame series, votes), never accuracy.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from analyzer_runs import run_file
from PIL import Image

from plugins.deepfake.aggregation import Aggregation, combine, ensemble_faces, frame_maxima
from plugins.deepfake.crops import face_crop
from plugins.deepfake.ensemble import EnsembleAnalyzer
from plugins.deepfake.face_analyzer import FacesAnalyzer
from plugins.deepfake.faces import CONTAINED, Face, HaarDetector, overlap, suppress
from plugins.deepfake.scan import sample_span
from plugins.deepfake.tracking import FaceTracker
from workbench.core import registry
from workbench.core.models import TEST_MODEL_LABEL, ModelStore
from workbench.core.results import Boxes, Status, Verdict
from workbench.synthetic.photos import load, source_photos
from workbench.synthetic.videos import camera_move, face_clip, write_video

torch = pytest.importorskip("torch")

ASTRONAUT_FACE = (177, 67, 270, 160)
"""Where the Haar cascade finds the face in scikit-image's astronaut.png (x0, y0, x1, y1)."""
MEMBER = {"arch": "efficientnet_icpr2020", "variant": "efficientnet-b0"}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():  # noqa: ANN202 - a generator fixture
    """Shared cores: one OpenMP thread is far faster than two spinning against other processes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def photo(name: str) -> np.ndarray:
    return load(next(p for p in source_photos() if p.name == name))


@pytest.fixture(scope="module")
def face_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s at 10 fps, 320×240, MJPG: the astronaut's face in every frame, moving and growing."""
    return write_video(tmp_path_factory.mktemp("video") / "face.avi", face_clip(3.0, 10.0), 10.0)


def install_member(model_id: str = "tiny_member", **fields: object) -> None:
    """A deepfake-family model trained 'here': our network's own random weights, registered in the
    user's models folder like the training pipeline does, labelled a test model."""
    store = ModelStore()
    store.user_dir.mkdir(parents=True, exist_ok=True)
    weights = store.user_dir / f"{model_id}.pth"
    from plugins.deepfake.nets import build

    torch.manual_seed(0)
    torch.save(build(MEMBER).state_dict(), weights)
    store.register({
        "id": model_id, "title": "Tiny test member", "weights": weights.name,
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(), "family": "deepfake", "network": MEMBER,
        "input": {"size": [64, 64], "mean": [0.5] * 3, "std": [0.5] * 3, "margin": 1.3}, "output": "logit",
        "test_model": True, **fields,
    })


# -- faces -----------------------------------------------------------------------------------------
def test_haar_finds_the_astronaut_and_no_face_in_face_free_photos() -> None:
    detector = HaarDetector()
    faces = detector.detect(photo("astronaut.png"))
    assert len(faces) == 1 and faces[0].kind == "frontal"
    assert np.allclose(faces[0].box, ASTRONAUT_FACE, atol=12)
    for name in ("coffee.png", "rocket.jpg", "chelsea.png"):
        assert detector.detect(photo(name)) == [], name


def test_suppression_keeps_the_frontal_face_over_a_profile_inside_it() -> None:
    frontal = Face((100, 100, 200, 200), 3.0, "frontal")
    profile = Face((120, 110, 190, 190), 9.0, "profile")
    elsewhere = Face((300, 100, 360, 160), 1.0, "profile")
    assert suppress([profile, elsewhere, frontal]) == [frontal, elsewhere]


def test_a_false_box_over_half_a_face_gives_way_to_the_better_supported_face() -> None:
    """The boxes the frontal cascade gave on a real photo (a footballer): the face (15 windows) and a
    larger false box beside it covering half of it (9 windows); faces that only touch stay apart."""
    face = Face((226, 94, 263, 131), 15.0, "frontal")
    beside = Face((244, 62, 329, 147), 9.0, "frontal")
    assert suppress([beside, face]) == [face]
    neighbour = Face((258, 96, 296, 134), 12.0, "frontal")  # the next face in a crowd: 13% of it shared
    assert suppress([face, neighbour]) == [face, neighbour]


def test_one_box_for_a_face_that_the_cascade_also_finds_inside_a_false_box() -> None:
    """The astronaut's face pasted small on the coffee photo: the frontal cascade also fires on a large
    window around it; the merged result is one box, on the face."""
    face = cv2.resize(photo("astronaut.png")[40:200, 150:300], None, fx=0.45, fy=0.45, interpolation=cv2.INTER_AREA)
    image = cv2.resize(photo("coffee.png"), (480, 360), interpolation=cv2.INTER_AREA)
    image[150:150 + face.shape[0], 200:200 + face.shape[1]] = face
    detector = HaarDetector()
    found = detector.candidates(image)
    assert len(found) >= 2 and any(overlap(a.box, b.box)[1] > CONTAINED for a in found for b in found if a != b)
    [merged] = detector.detect(image)
    assert np.allclose(merged.box, (211, 161, 257, 207), atol=8) and merged.score >= 5


def test_tracker_keeps_ids_bridges_short_gaps_and_starts_new_tracks() -> None:
    tracker = FaceTracker(max_gap=1)
    a, b = (10.0, 10.0, 60.0, 60.0), (200.0, 10.0, 250.0, 60.0)
    assert tracker.assign([a, b]) == [0, 1]
    # b came closer (grew and moved: IoU 0.24, matched by its centre); a moved a little
    assert tracker.assign([(215.0, 0.0, 295.0, 80.0), (30.0, 12.0, 80.0, 62.0)]) == [1, 0]
    assert tracker.assign([]) == []  # both missed once
    assert tracker.assign([(32.0, 12.0, 82.0, 62.0)]) == [0]  # gap bridged
    assert tracker.assign([]) == [] and tracker.assign([]) == []
    assert tracker.assign([(32.0, 12.0, 82.0, 62.0)]) == [2]  # lost for too long: a new face


def test_crops_have_the_margin_and_the_input_size() -> None:
    image = np.zeros((300, 400, 3), np.uint8)
    image[100:200, 150:250] = 255  # the "face"
    crop = face_crop(image, (150, 100, 250, 200), margin=2.0, size=(64, 48))
    assert crop.shape == (64, 48, 3) and crop.dtype == np.uint8
    assert crop[20:44, 14:34].min() == 255  # the face fills the middle half
    assert crop[:12].max() == 0 and crop[:, :8].max() == 0  # the margin around it
    corner = face_crop(image + 1, (0, 0, 40, 40), margin=1.5, size=(60, 60))
    assert corner[:8, :8].max() == 0 and corner[30, 30].min() == 1  # padded black outside the frame


def test_faces_analyzer_on_an_image_and_a_video(jpeg_photo: Path, face_video: Path) -> None:
    analyzer = registry.get("deepfake.faces")
    image = run_file(analyzer, jpeg_photo, detector="haar")
    assert isinstance(image, Boxes) and image.ok and image.score == 1 and image.boxes.shape == (1, 4)
    video = run_file(analyzer, face_video, every_s=0.5, detector="haar")
    assert isinstance(video, Boxes) and video.ok
    assert len(video.boxes) >= 5 and set(video.tracks.tolist()) == {0}  # one face, one id, in most samples
    assert video.score == 1 and list(video.frames) == sorted(video.frames) and "6 sampled frame(s)" in video.message
    width = video.boxes[:, 2] - video.boxes[:, 0]
    assert width[-1] > width[0]  # the push-in: the face grows


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 fps: the astronaut's face (frames 0–16), a cut to the coffee photo (17–26), a cut back to
    her face (27–40)."""
    face = face_clip(4.1, 10.0)
    coffee = camera_move(photo("coffee.png"), 1.0, 10.0, (320, 240), seed=3)
    return write_video(tmp_path_factory.mktemp("video") / "cuts.avi", face[:17] + coffee + face[27:], 10.0)


def test_boxes_and_tracks_stop_at_scene_cuts(cut_video: Path) -> None:
    result = run_file(FacesAnalyzer(), cut_video, every_s=0.5, detector="haar")
    assert result.ok and "2 scene cut(s)" in result.message, result.message
    spans = {int(f): tuple(s) for f, s in zip(result.frames, result.spans.tolist(), strict=True)}
    assert set(spans) <= {0, 5, 10, 15, 30, 35, 40} and {15, 30} <= set(spans)  # no face on the coffee
    assert spans[15] == (13, 16)  # not frame 17: the coffee is on screen from there
    assert spans[30] == (28, 32) and spans.get(40, (38, 40)) == (38, 40)
    before, after = result.tracks[result.frames < 17], result.tracks[result.frames > 27]
    assert len(set(before.tolist())) == len(set(after.tolist())) == 1
    assert set(before.tolist()).isdisjoint(after.tolist())  # her face after the cut is another track


def test_a_sample_stands_for_the_frames_nearest_to_it_within_its_scene() -> None:
    assert sample_span(30, 0, 60, [], 100) == (16, 45)  # ties go to the earlier sample
    assert sample_span(0, -29.97, 30, [], 100) == (0, 15)  # 29.97 fps: frame 15 belongs to one sample
    assert sample_span(60, 30, 89.97, [], 70) == (46, 70)  # the video's end
    assert sample_span(30, 0, 60, [17, 33, 50], 100) == (17, 32)
    assert sample_span(33, 0, 60, [33], 100) == (33, 46)  # a sample on a scene's first frame


def test_undecodable_frames_are_counted(face_video: Path, tmp_path: Path) -> None:
    data = bytearray(face_video.read_bytes())
    for start in [m.start() for m in re.finditer(b"\xff\xd8\xff", bytes(data))][10:20]:  # frames 10-19
        data[start:start + 400] = bytes(400)
    broken = tmp_path / "broken.avi"
    broken.write_bytes(bytes(data))
    result = run_file(FacesAnalyzer(), broken, every_s=0.5, detector="haar")
    assert result.ok and "undecodable frame(s) skipped" in result.message and len(result.boxes) >= 3


def test_yunet_without_its_file_or_with_a_wrong_file_is_unavailable(jpeg_photo: Path, tmp_path: Path) -> None:
    missing = run_file(FacesAnalyzer(), jpeg_photo, detector="yunet")
    assert missing.status is Status.UNAVAILABLE and "face_detection_yunet_2023mar.onnx" in missing.message
    fake = tmp_path / "face_detection_yunet_2023mar.onnx"
    fake.write_bytes(b"not a network" * 10)
    ModelStore().install("face_yunet", fake)
    wrong = run_file(FacesAnalyzer(), jpeg_photo)  # auto picks the installed file and refuses it
    assert wrong.status is Status.UNAVAILABLE and "not a face detection network" in wrong.message


# -- aggregation -----------------------------------------------------------------------------------
def test_aggregation_rules_on_hand_made_scores() -> None:
    members = np.array([[0.2, 0.9, 0.1, 0.7, 0.3], [0.4, 0.7, 0.3, 0.9, 0.1]])
    faces = ensemble_faces(members)
    assert faces.tolist() == pytest.approx([0.3, 0.8, 0.2, 0.8, 0.2])
    frames = np.array([0, 0, 25, 25, 50])
    tracks = np.array([0, 1, 0, 1, 0])  # track 0 looks real, track 1 (two faces) looks manipulated
    assert frame_maxima(faces, frames)[1].tolist() == pytest.approx([0.8, 0.8, 0.2])
    assert combine(faces, frames, tracks, Aggregation.TRACKS) == pytest.approx(0.8)
    assert combine(faces, frames, tracks, Aggregation.TOP_QUARTILE) == pytest.approx(0.8)  # top 1 of 3 frames
    many = np.array([0.9, 0.1, 0.1, 0.1, 0.5, 0.1, 0.1, 0.1])
    eight = np.arange(8)
    assert combine(many, eight, np.zeros(8, int), Aggregation.TRACKS) == pytest.approx(0.25)
    assert combine(many, eight, np.zeros(8, int), Aggregation.TOP_QUARTILE) == pytest.approx(0.7)


# -- ensemble --------------------------------------------------------------------------------------
def test_ensemble_without_any_member_is_unavailable_and_names_what_to_install(jpeg_photo: Path) -> None:
    result = run_file(EnsembleAnalyzer(), jpeg_photo)
    assert result.status is Status.UNAVAILABLE and result.score is None
    assert "no deepfake detector is installed" in result.message
    for model_id in ("deepfake_xception_ffpp", "deepfake_effnb4_dfb", "deepfake_effnb4_icpr_dfdc"):
        assert model_id in result.message
    assert not EnsembleAnalyzer().members_ready(ModelStore())


def test_ensemble_abstains_without_a_face(png_image: Path) -> None:
    install_member()
    assert registry.ready(registry.get("deepfake.ensemble"))
    result = run_file(EnsembleAnalyzer(), png_image, detector="haar")
    assert isinstance(result, Verdict) and result.ok and result.abstained
    assert result.probability is None and result.score is None and "No face was found" in result.explanation
    assert [v["status"] for v in result.votes] == ["abstained"] and result.votes[0]["probability"] is None


def test_ensemble_on_a_video_with_a_test_member(face_video: Path) -> None:
    install_member()
    result = run_file(EnsembleAnalyzer(), face_video, every_s=0.5, detector="haar")
    assert isinstance(result, Verdict) and result.ok and not result.abstained, result.message
    n = len(result.boxes)
    assert n >= 5 and result.frames.shape == result.tracks.shape == result.box_scores.shape == (n,)
    assert len(result.times) == len(result.values) == 6 and np.nanmax(result.values) <= 1.0
    assert result.times.tolist() == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    assert 0.0 <= result.probability <= 1.0 and result.score == result.probability and not result.calibrated
    assert result.label.startswith(("likely manipulated", "no manipulation detected")) and "0.50" in result.label
    (vote,) = result.votes
    assert vote["model"] == "tiny_member" and vote["status"] == "ok" and 0.0 <= vote["probability"] <= 1.0
    assert vote["test_model"] and TEST_MODEL_LABEL in vote["note"] and TEST_MODEL_LABEL in result.explanation
    assert "highest track mean" in result.aggregation
    assert result.models_used == ["tiny_member"]
    assert [m["id"] for m in result.provenance.models] == ["tiny_member"]
    assert len(result.provenance.models[0]["sha256"]) == 64


@pytest.mark.parametrize(
    "broken, words",
    [
        ({"output": "probability"}, "unknown output spec"),
        ({"input": {"size": [64, 64]}}, 'needs "input"'),
        ({"network": {"arch": "resnet"}}, "unknown deepfake network architecture"),
        ({"network": {"arch": "xception"}}, "do not fit the network"),
    ],
)
def test_a_broken_member_is_a_vote_not_a_crash(jpeg_photo: Path, broken: dict, words: str) -> None:
    install_member()
    install_member("broken", **broken)
    result = run_file(EnsembleAnalyzer(), jpeg_photo, detector="haar")
    assert result.ok and not result.abstained and len(result.boxes) == 1
    votes = {v["model"]: v for v in result.votes}
    assert votes["tiny_member"]["status"] == "ok" and votes["broken"]["probability"] is None
    assert votes["broken"]["status"] == "unavailable" and words in votes["broken"]["note"]
    assert "1 installed detector(s) could not be used" in result.explanation and result.models_used == ["tiny_member"]


def test_image_verdict_has_one_box_per_face(tmp_path: Path) -> None:
    install_member()
    two = np.concatenate([photo("astronaut.png"), photo("astronaut.png")], axis=1)
    path = tmp_path / "two.png"
    Image.fromarray(two).save(path)
    result = run_file(EnsembleAnalyzer(), path, detector="haar")
    assert result.ok and len(result.boxes) == 2 and sorted(result.tracks.tolist()) == [0, 1]
    assert result.times is None and result.probability == pytest.approx(float(result.box_scores.max()))


def test_unavailable_ensemble_offers_to_install_its_members(qtbot) -> None:  # noqa: ANN001 - pytest-qt fixture
    from PySide6.QtWidgets import QPushButton

    from workbench.app.case import Run
    from workbench.core.results import Result
    from workbench.ui.result_views import ResultView

    view = ResultView(Run(1, 1, Result("deepfake.ensemble", Status.UNAVAILABLE, "no deepfake detector"), ""))
    qtbot.addWidget(view)
    buttons = [b.text() for b in view.findChildren(QPushButton) if b.text().startswith("Install model file")]
    assert buttons == [f"Install model file for {m}…" for m in EnsembleAnalyzer.optional_models]
