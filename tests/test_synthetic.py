"""The synthetic manipulation generator: reproducible, exact masks, honest chains, shifted grids."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench.synthetic import (
    CLEAN,
    CONDITIONS,
    KINDS,
    Recipe,
    generate,
    make_sample,
    read_index,
    source_photos,
    write_conditions,
    write_dataset,
)
from workbench.synthetic.dataset import load_mask
from workbench.synthetic.manipulations import decode_jpeg, donor_history, encode_jpeg
from workbench.synthetic.photos import SKIMAGE_PHOTOS, package_dir

SMALL = Recipe(size_range=(256, 320))
SMALL_CLEAN = dataclasses.replace(CLEAN, size_range=(256, 320))
SKIMAGE = tuple(package_dir("skimage", "data") / name for name in SKIMAGE_PHOTOS)
"""The photos of the new tests: scikit-image's only, whatever optional packages are installed."""


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    first = write_dataset(tmp_path / "a", seed=7, n=4, recipe=SMALL)
    write_dataset(tmp_path / "b", seed=7, n=4, recipe=SMALL, workers=2)  # processes change nothing
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(a) == 2 * 4 + 1 and a == b
    write_dataset(tmp_path / "c", seed=8, n=4, recipe=SMALL)
    assert _files(tmp_path / "c")["index.json"] != a["index.json"]

    index = read_index(tmp_path / "a")
    assert index == first and index["seed"] == 7 and index["photos"]
    for item in index["items"]:
        suffix = ".jpg" if item["chain"] and item["chain"][-1].startswith("jpeg:") else ".png"
        assert item["image"].endswith(suffix)
        with Image.open(tmp_path / "a" / item["image"]) as im:
            assert im.size == (item["width"], item["height"])
        assert load_mask(tmp_path / "a" / item["mask"]).shape == (item["height"], item["width"])


def test_same_seed_gives_identical_arrays() -> None:
    for s, t in zip(generate(3, 4, recipe=SMALL), generate(3, 4, recipe=SMALL), strict=True):
        assert np.array_equal(s.image, t.image) and np.array_equal(s.mask, t.mask) and s.chain == t.chain


@pytest.mark.parametrize("kind", ["splice", "copy_move", "removal"])
def test_only_the_masked_pixels_change(kind: str) -> None:
    """Without post-processing, the manipulated sample equals the pristine one of the same
    (seed, index) outside the mask and differs from it inside."""
    for index in range(3):
        host = make_sample(11, index, "pristine", SMALL_CLEAN)
        fake = make_sample(11, index, kind, SMALL_CLEAN)
        assert fake.image.shape == host.image.shape and fake.mask.any()
        assert np.array_equal(fake.image[~fake.mask], host.image[~fake.mask])
        changed = np.any(fake.image != host.image, axis=2)[fake.mask].mean()
        assert changed > (0.8 if kind == "removal" else 0.9), changed


def test_every_kind_is_produced_with_a_plausible_mask() -> None:
    samples = list(generate(5, 8, recipe=SMALL))
    assert [s.kind for s in samples] == list(KINDS) * 2
    for s in samples:
        assert s.image.dtype == np.uint8 and s.image.shape == (*s.mask.shape, 3)
        assert s.mask.dtype == bool
        if s.kind == "pristine":
            assert not s.mask.any() and len(s.sources) == 1
        else:
            assert 0.005 < s.mask.mean() < 0.3
            assert any(step.startswith(s.kind + ":") for step in s.chain)
    assert len(next(s for s in samples if s.kind == "splice").sources) == 2
    with pytest.raises(ValueError, match="unknown kind"):
        make_sample(1, 0, "deepfake")


def test_chain_records_every_step_in_order() -> None:
    everything = dataclasses.replace(SMALL, p_double_jpeg=0, p_resize=1, p_blur=1, p_noise=1, p_jpeg=1)
    s = make_sample(2, 0, "splice", everything)
    assert [step.split(":")[0] for step in s.chain] == ["splice", "resize", "blur", "noise", "jpeg"]
    factor = float(s.chain[1].split(":")[1])
    assert s.mask.shape == s.image.shape[:2] and 0.5 <= factor <= 1.0
    data, suffix = s.encoded()
    assert suffix == ".jpg" and data == s.jpeg_bytes
    q = int(s.chain[-1].split("=")[1])
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), s.image) and 60 <= q <= 100

    clean = make_sample(2, 0, "splice", SMALL_CLEAN)
    assert [step.split(":")[0] for step in clean.chain] == ["splice"] and clean.jpeg_bytes is None
    assert clean.encoded()[1] == ".png"
    assert make_sample(2, 0, "pristine", SMALL_CLEAN).chain == []

    double = make_sample(2, 0, "removal", dataclasses.replace(SMALL, p_double_jpeg=1, p_misaligned=0))
    assert [step.split(":")[0] for step in double.chain] == ["jpeg1", "removal", "jpeg"]


def _grid_phase(rgb: np.ndarray, axis: int) -> int:
    """Where the strongest 8-periodic jump is: k such that pixels k and k + 1 (mod 8) straddle a
    block boundary (7 for a grid that starts at the image's origin)."""
    jumps = np.abs(np.diff(rgb.astype(np.float64).mean(axis=2), axis=axis)).mean(axis=1 - axis)
    return int(np.argmax([jumps[k::8].mean() for k in range(8)]))


def test_misaligned_double_jpeg_shifts_grid_and_mask() -> None:
    double = dataclasses.replace(SMALL, p_double_jpeg=1, q1=(30, 30), q2=(100, 100))
    aligned = make_sample(4, 1, "splice", dataclasses.replace(double, p_misaligned=0))
    shifted = make_sample(4, 1, "splice", dataclasses.replace(double, p_misaligned=1))
    assert [step.split(":")[0] for step in shifted.chain] == ["jpeg1", "splice", "crop", "jpeg"]
    dy, dx = map(int, re.fullmatch(r"crop:dy=(\d),dx=(\d)", shifted.chain[2]).groups())
    assert (dy, dx) != (0, 0)
    assert np.array_equal(shifted.mask, aligned.mask[dy:, dx:])
    assert (_grid_phase(aligned.image, 0), _grid_phase(aligned.image, 1)) == (7, 7)
    assert (_grid_phase(shifted.image, 0), _grid_phase(shifted.image, 1)) == ((7 - dy) % 8, (7 - dx) % 8)


def test_source_photos_are_real_colour_and_grey_photos() -> None:
    names = {p.name for p in source_photos()}
    assert {"astronaut.png", "coffee.png", "camera.png"} <= names
    assert "motorcycle_right.png" not in names


@pytest.mark.parametrize(
    ("name", "steps"),
    [
        ("double_jpeg", ["jpeg1", "splice", "jpeg"]),
        ("double_jpeg_shifted", ["jpeg1", "splice", "crop", "jpeg"]),
        ("splice_jpeg", ["splice", "jpeg"]),
        ("splice_platform", ["splice", "jpeg_edit", "resize", "jpeg"]),
        ("splice_matched_crop", ["splice", "crop", "jpeg"]),
        ("png_jpeg_patch", ["splice"]),
        ("copy_move_rotated", ["copy_move", "jpeg"]),
        ("inpainting", ["removal", "jpeg"]),
        ("generative_fill", ["removal", "jpeg"]),
    ],
)
def test_each_condition_applies_exactly_its_chain(name: str, steps: list[str]) -> None:
    condition = CONDITIONS[name]
    edited, pristine = condition.sample(5, 0, False, SKIMAGE), condition.sample(5, 0, True, SKIMAGE)
    assert [step.split(":")[0] for step in edited.chain] == steps
    assert pristine.chain == [s for s in edited.chain if not s.startswith(condition.kind)]
    assert edited.kind == condition.kind and pristine.kind == "pristine" and not pristine.mask.any()
    assert edited.image.shape == pristine.image.shape and edited.mask.shape == edited.image.shape[:2]
    assert edited.encoded()[1] == (".png" if name == "png_jpeg_patch" else ".jpg")


def test_condition_ranges_are_respected() -> None:
    for index in range(4):
        rotated = CONDITIONS["copy_move_rotated"].sample(6, index, False, SKIMAGE).chain[0]
        rot, scale = map(float, re.search(r"rot=([-\d.]+),scale=([\d.]+)", rotated).groups())
        assert 5.0 <= rot <= 20.0 and 0.9 * 0.9 <= scale <= 1.15  # the scale shrinks by 0.9 until it fits
        platform = CONDITIONS["splice_platform"].sample(6, index, False, SKIMAGE).chain
        assert 75 <= int(platform[1].split("=")[1]) <= 95 and 70 <= int(platform[-1].split("=")[1]) <= 85
        double = CONDITIONS["double_jpeg"].sample(6, index, False, SKIMAGE).chain
        assert 60 <= int(double[0].split("=")[1]) <= 80 and 88 <= int(double[-1].split("=")[1]) <= 96


@pytest.mark.parametrize("changes", [{"p_donor_jpeg": 1.0}, {"p_generative_fill": 1.0}])
def test_new_edits_change_only_the_masked_pixels(changes: dict) -> None:
    recipe = dataclasses.replace(SMALL_CLEAN, **changes)
    kind = "splice" if "p_donor_jpeg" in changes else "removal"
    for index in range(3):
        host, fake = make_sample(12, index, "pristine", recipe, SKIMAGE), make_sample(12, index, kind, recipe, SKIMAGE)
        assert np.array_equal(fake.image[~fake.mask], host.image[~fake.mask])
        assert np.any(fake.image != host.image, axis=2)[fake.mask].mean() > 0.8
        assert ("donor-jpeg:q=" if kind == "splice" else ",generative,") in fake.chain[0]


def test_donor_history_is_a_jpeg_off_the_host_grid() -> None:
    rng = np.random.default_rng(0)
    donor = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    moved, note = donor_history(donor, np.random.default_rng(3), dataclasses.replace(CLEAN, p_donor_jpeg=1.0))
    q, dy, dx = map(int, re.fullmatch(r",donor-jpeg:q=(\d+),dy=(\d),dx=(\d)", note).groups())
    assert 50 <= q <= 70 and (dy, dx) != (0, 0)
    np.testing.assert_array_equal(moved, decode_jpeg(encode_jpeg(donor, q))[dy:, dx:])
    same, none = donor_history(donor, np.random.default_rng(3), CLEAN)
    assert same is donor and none == ""


def test_new_recipe_fields_leave_other_samples_as_they_were() -> None:
    """The added choices are drawn after every earlier one: switching them on changes only their step."""
    base = dataclasses.replace(SMALL, p_double_jpeg=0.0, p_resize=0.0, p_jpeg=1.0)
    cropped = dataclasses.replace(base, p_crop=1.0, crop_keep=(1.0, 1.0))
    a, b = make_sample(9, 2, "splice", base, SKIMAGE), make_sample(9, 2, "splice", cropped, SKIMAGE)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert [s for s in b.chain if not s.startswith("crop:")] == a.chain


def test_conditions_dataset_pairs_edited_and_pristine_samples(tmp_path: Path) -> None:
    index = write_conditions(tmp_path, seed=3, n=2, conditions=["splice_jpeg", "inpainting"], photos=SKIMAGE)
    assert list(index["conditions"]) == ["splice_jpeg", "inpainting"] and index["n"] == 2
    items = index["items"]
    assert [(i["condition"], i["kind"], i["sample"]) for i in items] == [
        (c, k, s) for c, kind in (("splice_jpeg", "splice"), ("inpainting", "removal"))
        for k in (kind, "pristine") for s in (0, 1)
    ]
    assert [i["index"] for i in items] == list(range(8)) and read_index(tmp_path) == index
    for item in items:
        assert load_mask(tmp_path / item["mask"]).any() == (item["kind"] != "pristine")
