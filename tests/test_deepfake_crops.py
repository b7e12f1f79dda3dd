"""Face crops per published recipe: each bundled detector names its authors' crop, and near the
frame's edge FaceForensics++'s and Bonettini et al.'s crops stay inside the image while the padded
one (DeepfakeBench's black border) leaves it. Regions are worked out by hand from the authors' code."""

from __future__ import annotations

import json

import numpy as np
import pytest

from plugins.deepfake.crops import CROPS, face_crop, ffpp_region, icpr2020_region, padded_region
from plugins.deepfake.members import InputRecipe
from workbench.core.models import BUNDLED_DIR, Manifest

WIDTH, HEIGHT = 400, 300
EDGE_FACE = (350.0, 10.0, 390.0, 60.0)
"""40 × 50 face 10 pixels from the right edge and the top."""


def test_a_face_inside_the_frame_gets_the_same_square_from_padded_and_ffpp() -> None:
    box = (100.0, 100.0, 200.0, 200.0)
    assert padded_region(box, 1.3, WIDTH, HEIGHT) == ffpp_region(box, 1.3, WIDTH, HEIGHT) == (85, 85, 215, 215)


def test_padded_crop_leaves_the_frame() -> None:
    # centre (370, 35), side round(50 × 1.3) = 65
    assert padded_region(EDGE_FACE, 1.3, WIDTH, HEIGHT) == (338, 2, 403, 67)


def test_ffpp_crop_is_moved_and_shrunk_inside_the_frame() -> None:
    # get_boundingbox: side int(65.0) = 65, corner (370 − 32, 35 − 32) = (338, 3), side min(65, 400 − 338)
    assert ffpp_region(EDGE_FACE, 1.3, WIDTH, HEIGHT) == (338, 3, 400, 65)
    # a face past the top-left corner: the corner moves to (0, 0), the side stays 65
    assert ffpp_region((-10.0, -5.0, 30.0, 45.0), 1.3, WIDTH, HEIGHT) == (0, 0, 65, 65)


def test_icpr2020_crop_grows_the_box_upwards_and_stays_inside() -> None:
    # offset round(0.2 × 50) = 10: box (340, max(10 − 20, 0), min(400, 400), 70) = 60 × 70, side 70,
    # centre (370, 35): corner (335, 0), right and bottom clipped to the frame → 65 × 70
    assert icpr2020_region(EDGE_FACE, 1.2, WIDTH, HEIGHT) == (335, 0, 400, 70)
    inside = icpr2020_region((100.0, 100.0, 200.0, 200.0), 1.2, WIDTH, HEIGHT)
    assert inside == (70, 60, 230, 220)  # grown to (80, 60, 220, 220): its 160-pixel square around (150, 140)


@pytest.mark.parametrize("crop, black", [("padded", True), ("ffpp", False), ("icpr2020", False)])
def test_only_the_padded_crop_shows_black_at_the_edge(crop: str, black: bool) -> None:
    frame = np.full((HEIGHT, WIDTH, 3), 7, np.uint8)
    out = face_crop(frame, EDGE_FACE, 1.3 if crop != "icpr2020" else 1.2, (64, 64), crop)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert bool(out.min() == 0) is black and out.max() == 7


def test_the_crop_shows_the_region() -> None:
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    frame[3:65, 338:400] = 200  # exactly the FaceForensics++ region of EDGE_FACE
    assert face_crop(frame, EDGE_FACE, 1.3, (31, 31), "ffpp").min() == 200


def test_each_bundled_detector_names_its_authors_crop() -> None:
    ffpp, icpr, dfb = ("ffpp", 1.3), ("icpr2020", 1.2), ("padded", 1.3)
    expected = {
        "deepfake_xception_ffpp": ffpp,
        "deepfake_effnb4_icpr_ffpp": icpr,
        "deepfake_effnb4_icpr_dfdc": icpr,
        "deepfake_xception_dfb": dfb,
        "deepfake_effnb4_dfb": dfb,
    }
    docs = {doc["id"]: doc for doc in (json.loads(p.read_text("utf-8")) for p in BUNDLED_DIR.glob("deepfake_*.json"))}
    assert set(docs) == set(expected)
    for model_id, doc in docs.items():
        assert (doc["input"]["crop"], doc["input"]["margin"]) == expected[model_id], model_id
        assert InputRecipe.from_manifest(Manifest.from_dict(doc)).crop == doc["input"]["crop"]


def test_recipe_defaults_to_padded_and_refuses_unknown_crops() -> None:
    spec = {"size": [64, 64], "mean": [0.5] * 3, "std": [0.5] * 3, "margin": 1.3}
    doc = {"id": "m", "title": "m", "weights": "m.pth", "input": spec}
    assert InputRecipe.from_manifest(Manifest.from_dict(doc)).crop == "padded"
    with pytest.raises(ValueError, match="unknown face crop 'tight'"):
        InputRecipe.from_manifest(Manifest.from_dict({**doc, "input": {**spec, "crop": "tight"}}))
    with pytest.raises(ValueError, match="unknown face crop"):
        face_crop(np.zeros((8, 8, 3), np.uint8), (0, 0, 4, 4), 1.3, (16, 16), "tight")
    assert set(CROPS) == {"padded", "ffpp", "icpr2020"}
