"""Face detectors on the real faces available offline: faces found, duplicate boxes, false boxes, time.

    .venv/bin/python -m bench.faces [--out FILE]

Every detector of `plugins.deepfake.faces` whose files are installed (Haar is the baseline), as the
analyzers call it (`detect` on the RGB frame). Four sets:

* **photos**: the photos with faces that installed packages ship, each face boxed by hand below
  (scikit-image's astronaut and cameraman; matplotlib's Grace Hopper and opencv-doc's footballer and
  basketball players when installed);
* **harder views** of those faces: turned 20° and 35° either way, shrunk to a ~40-pixel face,
  darkened (gamma 2.5), JPEG quality 20;
* **lfw crops**: scikit-image's `lfw_subset`, 100 faces and 100 non-faces of 25 pixels, enlarged
  to 100 pixels on a grey 200-pixel canvas (a face must be found on the first half, nothing on the
  second);
* **face-free photos**: the other source photos (`workbench.synthetic.photos`) but those with
  people nobody boxed (`unannotated`): any box there is false.

A box counts for a face when its centre lies within half a face size of the face's centre and its
size is within ×0.5–2 of the face's; further boxes on the same face are duplicates; boxes on no face
are false. Time: median per image, one torch thread.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from bench.report import publish
from plugins.deepfake.faces import DetectorChoice, FaceDetector, face_detector
from workbench.core.models import ModelStore
from workbench.core.plugin import ModelUnavailable
from workbench.synthetic.photos import OPENCV_DOC_DATA, load, package_dir, source_photos

FACES: dict[str, list[tuple[int, int, int, int]]] = {
    "astronaut.png": [(170, 55, 275, 175)],
    "camera.png": [(190, 105, 265, 195)],
    "grace_hopper.jpg": [(160, 105, 370, 345)],
    "messi5.jpg": [(222, 88, 268, 136)],
    "basketball1.png": [(68, 88, 115, 135), (500, 50, 560, 125)],  # the right one turned away, in profile
}
"""Every visible face of each photo (x0, y0, x1, y1), boxed by hand."""
def unannotated(name: str) -> bool:
    """Source photos left out of the face-free set though no face is boxed here: opencv-doc's stereo
    calibration shots (left*.jpg, right*.jpg: a person holds the chessboard) and its rendered monkey
    heads (Blender_Suzanne*.jpg, arguably faces)."""
    return name.startswith(("left", "right", "Blender_Suzanne"))


@dataclass
class Tally:
    faces: int = 0
    found: int = 0
    duplicates: int = 0
    false: int = 0
    images: int = 0
    seconds: list[float] = field(default_factory=list)

    def add(self, detector: FaceDetector, rgb: np.ndarray, truth: list[tuple[float, float, float, float]]) -> None:
        start = time.perf_counter()
        boxes = [f.box for f in detector.detect(rgb)]
        self.seconds.append(time.perf_counter() - start)
        self.images += 1
        self.faces += len(truth)
        hits = [0] * len(truth)
        for box in boxes:
            j = next((j for j, face in enumerate(truth) if _matches(box, face)), None)
            if j is None:
                self.false += 1
            else:
                hits[j] += 1
        self.found += sum(h > 0 for h in hits)
        self.duplicates += sum(max(h - 1, 0) for h in hits)


def _matches(box: tuple[float, ...], face: tuple[float, ...]) -> bool:
    side = math.sqrt((face[2] - face[0]) * (face[3] - face[1]))
    size = math.sqrt(max((box[2] - box[0]) * (box[3] - box[1]), 1e-9))
    shift = math.dist(_centre(box), _centre(face))
    return shift <= side / 2 and 0.5 <= size / side <= 2.0


def _centre(box: tuple[float, ...]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def photos_with_faces() -> list[tuple[str, np.ndarray, list]]:
    folders = [package_dir("skimage", "data"), package_dir("matplotlib", "mpl-data", "sample_data"), OPENCV_DOC_DATA]
    found = []
    for name, faces in FACES.items():
        path = next((f / name for f in folders if f is not None and (f / name).is_file()), None)
        if path is not None:
            found.append((name, np.asarray(load(path)), [tuple(map(float, b)) for b in faces]))
    return found


def harder_views(photos: list[tuple[str, np.ndarray, list]]) -> list[tuple[str, np.ndarray, list]]:
    """Turned, shrunk, darkened and recompressed copies, with the faces' boxes moved along."""
    views = []
    for name, rgb, faces in photos:
        h, w = rgb.shape[:2]
        for angle in (-35, -20, 20, 35):
            matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
            turned = cv2.warpAffine(rgb, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
            views.append((f"{name} turned {angle}°", turned, [_moved(b, matrix) for b in faces]))
        scale = 40 / math.sqrt((faces[0][2] - faces[0][0]) * (faces[0][3] - faces[0][1]))
        small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        views.append((f"{name} small", small, [tuple(v * scale for v in b) for b in faces]))
        dark = (255 * (rgb / 255.0) ** 2.5).astype(np.uint8)
        views.append((f"{name} dark", dark, faces))
        _, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 20])
        views.append((f"{name} jpeg 20", cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB), faces))
    return views


def _moved(box: tuple[float, ...], matrix: np.ndarray) -> tuple[float, float, float, float]:
    """The box of the same size around its centre's new place."""
    cx, cy = matrix @ np.array([*_centre(box), 1.0])
    half_w, half_h = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
    return (cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def lfw_crops() -> list[tuple[str, np.ndarray, list]]:
    from skimage.data import lfw_subset

    crops = []
    for i, crop in enumerate(lfw_subset()):
        canvas = np.full((200, 200), 128, np.uint8)
        canvas[50:150, 50:150] = cv2.resize((crop * 255).astype(np.uint8), (100, 100), interpolation=cv2.INTER_CUBIC)
        faces = [(50.0, 50.0, 150.0, 150.0)] if i < 100 else []
        crops.append((f"lfw {i}", np.stack([canvas] * 3, axis=-1), faces))
    return crops


def face_free() -> list[tuple[str, np.ndarray, list]]:
    return [(p.name, np.asarray(load(p)), []) for p in source_photos()
            if p.name not in FACES and not unannotated(p.name)]


def detectors() -> dict[str, FaceDetector]:
    found = {}
    for choice in (DetectorChoice.HAAR, DetectorChoice.MTCNN, DetectorChoice.YUNET):
        try:
            found[choice.value] = face_detector(choice, ModelStore())[0]
        except ModelUnavailable as exc:
            print(f"{choice.value}: not installed ({exc})")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    photos = photos_with_faces()
    sets = {"photos": photos, "harder views": harder_views(photos), "lfw crops": lfw_crops(),
            "face-free photos": face_free()}
    lines = ["| set | images | faces | detector | found | duplicates | false boxes | ms / image |",
             "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    found = detectors()
    for set_name, items in sets.items():
        for name, detector in found.items():
            detector.detect(items[0][1])  # warm-up: first calls load and allocate
            tally = Tally()
            for _, rgb, faces in items:
                tally.add(detector, rgb, faces)
            lines.append(f"| {set_name} | {tally.images} | {tally.faces} | {name} | {tally.found} | "
                         f"{tally.duplicates} | {tally.false} | {1000 * statistics.median(tally.seconds):.0f} |")
    sources = ", ".join(name for name, _, _ in photos)
    matplotlib = "found" if importlib.util.find_spec("matplotlib") else "not installed"
    publish("\n".join([f"Photos with faces: {sources} (matplotlib {matplotlib}; opencv-doc "
                       f"{'found' if OPENCV_DOC_DATA.is_dir() else 'not installed'}).", "", *lines]), args.out)


if __name__ == "__main__":
    main()
