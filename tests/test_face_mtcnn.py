"""MTCNN, the default face detector: its suppression and pyramid on hand-made inputs, the choice
between detectors, and the shipped weights (facenet-pytorch's wheel, installed by scripts/setup.sh)
on real photos. Only the weight tests need the wheel; they are skipped where it is not installed."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest

from plugins.deepfake import faces
from plugins.deepfake.faces import DetectorChoice, HaarDetector, MtcnnDetector, face_detector
from workbench.core import models
from workbench.core.models import ModelStore
from workbench.core.plugin import ModelUnavailable
from workbench.synthetic.photos import load, source_photos

torch = pytest.importorskip("torch")
from plugins.deepfake.mtcnn import nms, pyramid  # noqa: E402 - needs torch

needs_weights = pytest.mark.skipif(importlib.util.find_spec("facenet_pytorch") is None,
                                   reason="facenet-pytorch's wheel (MTCNN weights) is not installed: scripts/setup.sh")
ASTRONAUT_FACE = (181.1, 62.2, 267.7, 172.1)
"""MTCNN's box on scikit-image's astronaut.png (facenet-pytorch's own code gives the same to 0.1 px)."""


def photo(name: str) -> np.ndarray:
    return load(next(p for p in source_photos() if p.name == name))


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():  # noqa: ANN202 - a generator fixture
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_nms_by_union_and_by_the_smaller_box() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [2, 2, 6, 6]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.95], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [3, 0, 2]  # box 1 overlaps box 0 by IoU 0.68
    assert nms(boxes, scores, 0.7, by_smaller=True).tolist() == [3, 2]  # box 0 holds all of box 3
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).tolist() == []


def test_pyramid_spans_the_smallest_face_to_the_whole_image() -> None:
    scales = pyramid(240, 320, min_face=20)
    assert scales[0] == pytest.approx(0.6) and 240 * scales[-1] >= 12 > 240 * scales[-1] * 0.709
    assert np.allclose(np.diff(np.log(scales)), np.log(0.709))


def test_auto_falls_back_to_haar_and_mtcnn_says_what_to_install_without_the_weights(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "_package_folder", lambda _package: None)  # as if the wheel were absent
    detector, used = face_detector(DetectorChoice.AUTO, ModelStore())
    assert isinstance(detector, HaarDetector) and used == []
    with pytest.raises(ModelUnavailable, match="facenet-pytorch"):
        face_detector(DetectorChoice.MTCNN, ModelStore())


@needs_weights
def test_auto_uses_mtcnn_with_its_shipped_weights() -> None:
    detector, used = face_detector(DetectorChoice.AUTO, ModelStore())
    assert isinstance(detector, MtcnnDetector) and used == list(faces.MTCNN_IDS)
    assert all(ModelStore().status(m).installed for m in used)  # present and SHA-256 verified


@needs_weights
def test_mtcnn_finds_the_astronaut_and_nothing_in_face_free_photos() -> None:
    detector = MtcnnDetector(ModelStore())
    [face] = detector.detect(photo("astronaut.png"))
    assert face.kind == "mtcnn" and face.score > 0.99
    assert np.allclose(face.box, ASTRONAUT_FACE, atol=1.0)
    for name in ("coffee.png", "rocket.jpg", "chelsea.png"):
        assert detector.detect(photo(name)) == [], name


@needs_weights
def test_mtcnn_boxes_are_in_pixels_of_the_full_frame() -> None:
    """A frame larger than the detector's working size: boxes scale back to the frame."""
    big = cv2.resize(photo("astronaut.png"), (1536, 1536), interpolation=cv2.INTER_CUBIC)
    [face] = MtcnnDetector(ModelStore()).detect(big)
    assert np.allclose(face.box, np.multiply(ASTRONAUT_FACE, 3), atol=12)
