"""open_media: every unusable file gives a MediaError an analyst can act on; good files open."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench.core import media as media_module
from workbench.core.media import DEFAULT_MAX_PIXELS, MediaError, MediaKind, open_media, open_reduced


def has_all(message: str, words: tuple[str, ...] | list[str]) -> bool:
    return all(w.lower() in message.lower() for w in words)


def test_jpeg_opens_with_hash_and_size(jpeg_photo: Path) -> None:
    m = open_media(jpeg_photo)
    assert m.kind is MediaKind.IMAGE
    assert m.format == "JPEG"
    assert (m.width, m.height) == (512, 512)
    assert m.size == jpeg_photo.stat().st_size
    assert m.sha256 == hashlib.sha256(jpeg_photo.read_bytes()).hexdigest()
    assert m.warnings == []
    px = m.pixels()
    assert px.shape == (512, 512, 3) and px.dtype == np.uint8
    assert not px.flags.writeable


def test_png_opens(png_image: Path) -> None:
    m = open_media(png_image)
    assert m.format == "PNG"
    assert (m.width, m.height) == (600, 400)
    assert m.pixels().shape == (400, 600, 3)
    assert m.warnings == []


def test_a_large_jpeg_is_decoded_reduced_with_the_facts_of_the_whole_file(
    evidence_dir: Path, astronaut: np.ndarray, png_image: Path
) -> None:
    big = np.asarray(Image.fromarray(np.asarray(astronaut)).resize((2600, 1800)))
    path = evidence_dir / "big.jpg"
    Image.fromarray(big).save(path, quality=90)
    opened = open_reduced(path, 600)
    assert opened.pixels.shape == (450, 650, 3)  # libjpeg's 1/4 scale: the smallest still ≥ 600 px long
    full = open_media(path)
    assert (opened.media.width, opened.media.height, opened.media.sha256) == (2600, 1800, full.sha256)
    assert opened.image is not None and opened.image.quantization  # metadata without a second decode
    assert np.abs(opened.pixels[::10, ::10].astype(int).mean() - full.pixels()[::40, ::40].mean()) < 3
    assert open_reduced(path, 1301).pixels.shape == (1800, 2600, 3)  # half would be under 1301: full size
    assert open_reduced(path, None).pixels.shape == (1800, 2600, 3)
    assert open_reduced(png_image, 100).pixels.shape == (400, 600, 3)  # only JPEGs decode reduced


def test_bad_file_fails_reduced_decoding_too(bad_kind: str, make_bad_file) -> None:
    path, words = make_bad_file(bad_kind)
    with pytest.raises(MediaError) as info:
        open_reduced(path, 64)
    assert has_all(str(info.value), words), str(info.value)


def test_bad_file_gives_clear_media_error(bad_kind: str, make_bad_file) -> None:
    path, words = make_bad_file(bad_kind)
    with pytest.raises(MediaError) as info:
        open_media(path)
    message = str(info.value)
    assert has_all(message, words), message
    assert path.name in message
    assert "\n" not in message


def test_folder_is_not_a_file(evidence_dir: Path) -> None:
    with pytest.raises(MediaError, match="is a folder, not a file"):
        open_media(evidence_dir)


def test_unreadable_file_permission_check(jpeg_photo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, for whom chmod 000 changes nothing: simulate the failed access check.
    real_access = os.access
    monkeypatch.setattr(media_module.os, "access",
                        lambda p, mode: False if Path(p) == jpeg_photo else real_access(p, mode))
    with pytest.raises(MediaError) as info:
        open_media(jpeg_photo)
    assert has_all(str(info.value), ["photo.jpg", "permission denied", "not readable"])


def test_unreadable_file_read_error(jpeg_photo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The access check passes but reading fails (network share, ACL, race).
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(media_module, "open", refuse, raising=False)
    with pytest.raises(MediaError) as info:
        open_media(jpeg_photo)
    assert has_all(str(info.value), ["photo.jpg", "cannot read the file", "permission denied"])


@pytest.mark.parametrize(
    ("source", "renamed", "actual"), [("png_image", "really_a_png.jpg", "PNG"),
                                      ("jpeg_photo", "really_a_jpeg.png", "JPEG")]
)
def test_wrong_extension_opens_with_warning(
    request: pytest.FixtureRequest, source: str, renamed: str, actual: str
) -> None:
    original: Path = request.getfixturevalue(source)
    path = original.with_name(renamed)
    shutil.copyfile(original, path)
    m = open_media(path)
    assert m.format == actual
    assert len(m.warnings) == 1
    assert has_all(m.warnings[0], [f"extension '{path.suffix}'", actual, "renamed"])


def test_unknown_extension_warns(jpeg_photo: Path) -> None:
    path = jpeg_photo.with_name("photo.dat")
    shutil.copyfile(jpeg_photo, path)
    m = open_media(path)
    assert m.format == "JPEG"
    assert has_all(m.warnings[0], ["unusual extension", ".dat"])


def test_multi_frame_gif_warns(evidence_dir: Path) -> None:
    path = evidence_dir / "anim.gif"
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    m = open_media(path)
    assert any("2 frames" in w and "first" in w for w in m.warnings)


def test_max_pixels_lowers_the_limit(jpeg_photo: Path) -> None:
    with pytest.raises(MediaError) as info:
        open_media(jpeg_photo, max_pixels=1000)
    message = str(info.value)
    # Small numbers must not be rounded to a meaningless "0 megapixels".
    assert has_all(message, ["512×512", "0.262 megapixels", "limit of 0.001 megapixels", "--max-pixels"])
    # The limit is inclusive: exactly W×H pixels is accepted, one less is not.
    assert open_media(jpeg_photo, max_pixels=512 * 512).width == 512
    with pytest.raises(MediaError, match="megapixels"):
        open_media(jpeg_photo, max_pixels=512 * 512 - 1)


def test_max_pixels_raises_the_limit(make_bad_file) -> None:
    path, _ = make_bad_file("bomb")
    with pytest.raises(MediaError, match="limit of 100 megapixels"):
        open_media(path, max_pixels=DEFAULT_MAX_PIXELS)
    # With a higher limit the size check passes; the (fake) pixel data then fails to decode.
    with pytest.raises(MediaError) as info:
        open_media(path, max_pixels=10**9)
    assert "megapixels" not in str(info.value)
    assert "truncated or corrupt" in str(info.value)


def test_non_ascii_name(tmp_path: Path, jpeg_photo: Path) -> None:
    folder = tmp_path / "папка_文件夹_é"
    folder.mkdir()
    path = folder / "фото_测试_é.jpg"
    shutil.copyfile(jpeg_photo, path)
    m = open_media(path)
    assert m.name == "фото_测试_é.jpg"
    assert m.path == path.resolve()
    assert m.sha256 == hashlib.sha256(jpeg_photo.read_bytes()).hexdigest()


def test_open_media_only_reads(jpeg_photo: Path) -> None:
    before = (jpeg_photo.read_bytes(), jpeg_photo.stat().st_mtime_ns, sorted(os.listdir(jpeg_photo.parent)))
    open_media(jpeg_photo).pixels()
    after = (jpeg_photo.read_bytes(), jpeg_photo.stat().st_mtime_ns, sorted(os.listdir(jpeg_photo.parent)))
    assert after == before
