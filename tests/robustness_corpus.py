"""The robustness corpus: a few hundred malformed and odd files, made at test time, that every path of
the import and the cheap analyzers must survive (no traceback, every path accounted for, the evidence
unchanged).

Each category is a folder of its own, so the account of a run reads by category. The files are
built from scikit-image's photos only (never from optional packages), at 128×96, with fixed seeds:
the same encoders make the same bytes again, except in the signed C2PA manifests, which the SDK
stamps with fresh ids and a random nonce (the damage to them is at fixed places). `python -m tests.robustness_corpus
FOLDER` writes the corpus for a campaign by hand and prints the counts.
"""

from __future__ import annotations

import os
import stat
import struct
import sys
import tempfile
import unicodedata
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from tests import robustness_metadata as metadata
from tests.robustness_metadata import encoded, png_chunk
from workbench.app.sample import load_photo
from workbench.synthetic.videos import camera_move, write_video

SIZE = (128, 96)
"""Width × height of the base images and videos: small enough that hundreds of copies stay a few MB."""

Files = dict[str, bytes]
"""File name → content, for the categories that are plain files."""


def photo(seed: int = 0) -> np.ndarray:
    """A natural RGB image (part of scikit-image's astronaut, face included), shifted by `seed`."""
    rgb = load_photo("astronaut.png")[16 * seed : 16 * seed + 384, 0:512]
    return np.ascontiguousarray(cv2.resize(rgb, SIZE, interpolation=cv2.INTER_AREA))


def video(suffix: str, seed: int = 0, frames: int = 10) -> bytes:
    """A clip of `frames` frames at 10 fps moving over the photo, written by OpenCV's encoder for
    `suffix` (which writes to a path only: a scratch folder)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"clip{suffix}"
        write_video(path, camera_move(load_photo("astronaut.png"), frames / 10, 10.0, SIZE, seed=seed), fps=10.0)
        return path.read_bytes()


def sources() -> Files:
    """One valid file per format, the material of the byte-level damage (the JPEG carries EXIF, so
    damage reaches its metadata too)."""
    rgb = photo()
    exif = Image.Exif()
    exif.update({0x010F: "Workbench", 0x0110: "Corpus camera", 0x0132: "2024:05:01 10:20:30"})
    return {
        "base.jpg": encoded(rgb, "JPEG", quality=90, exif=exif),
        "base.png": encoded(rgb, "PNG"),
        "base.webp": encoded(rgb, "WEBP", quality=80),
        "base.tif": encoded(rgb, "TIFF", compression="tiff_lzw"),
        "base.gif": encoded(Image.fromarray(rgb).quantize(64), "GIF"),
        "base.bmp": encoded(rgb, "BMP"),
        "base.mp4": video(".mp4"),
        "base.avi": video(".avi"),
    }


def renamed(name: str, tag: str) -> str:
    """`base.jpg` → `jpg_<tag>.jpg`: the damaged copy keeps the extension of what it was."""
    suffix = Path(name).suffix
    return f"{suffix[1:]}_{tag}{suffix}"


# -- damage to the bytes ---------------------------------------------------------------------------


def truncations(base: Files) -> Files:
    """Each format cut after a few bytes, inside its header, at a quarter, half and 90 %, one byte short."""
    out = {}
    for name, data in base.items():
        for cut in (1, 4, 16, 64, len(data) // 4, len(data) // 2, len(data) * 9 // 10, len(data) - 1):
            out[renamed(name, f"cut{cut}")] = data[:cut]
    return out


def bit_flips(base: Files) -> Files:
    """Single flipped bits in the first 32 bytes (magic numbers, sizes) and bursts of eight in the body."""
    out = {}
    for n, (name, data) in enumerate(base.items()):
        rng = np.random.default_rng(1400 + n)
        for k in range(3):
            flipped = bytearray(data)
            at = int(rng.integers(0, 32))
            flipped[at] ^= 1 << int(rng.integers(0, 8))
            out[renamed(name, f"head{k}")] = bytes(flipped)
        for k in range(3):
            flipped = bytearray(data)
            for at in rng.integers(len(data) // 8, len(data), size=8):
                flipped[at] ^= 1 << int(rng.integers(0, 8))
            out[renamed(name, f"body{k}")] = bytes(flipped)
    return out


def zeroed_headers(base: Files) -> Files:
    """The first 4, 16 or 256 bytes of each format set to zero; a JPEG whose quantisation steps are all zero
    (decoders read it; JPEG forbids a zero step)."""
    out = {renamed(name, f"zero{n}"): bytes(n) + data[n:] for name, data in base.items() for n in (4, 16, 256)}
    jpeg = bytearray(base["base.jpg"])
    for segment in _all(jpeg, b"\xff\xdb"):  # every DQT segment: after its length, tables of 1 + 64 bytes (8-bit)
        end = segment + 2 + int.from_bytes(jpeg[segment + 2 : segment + 4], "big")
        for table in range(segment + 4, end, 65):
            jpeg[table + 1 : table + 65] = bytes(64)
    out["jpg_zero_quantisation_steps.jpg"] = bytes(jpeg)
    return out


def wrong_extensions(base: Files) -> Files:
    """Content under another format's extension, and things that are no media at all under a media one."""
    text = b"Case notes, not a photo.\n" * 40
    return {
        "jpeg_named.png": base["base.jpg"],
        "jpeg_named.mp4": base["base.jpg"],
        "jpeg_named.gif": base["base.jpg"],
        "png_named.jpg": base["base.png"],
        "png_named.avi": base["base.png"],
        "webp_named.tif": base["base.webp"],
        "tiff_named.bmp": base["base.tif"],
        "mp4_named.jpg": base["base.mp4"],
        "mp4_named.avi": base["base.mp4"],
        "avi_named.mp4": base["base.avi"],
        "avi_named.png": base["base.avi"],
        "text.jpg": text,
        "text.mp4": text,
        "html.gif": b"<!DOCTYPE html><html><body><img src='http://example.invalid/x.gif'></body></html>\n",
        "pdf.jpg": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
        "zip.webp": b"PK\x05\x06" + bytes(18),
        "elf.png": b"\x7fELF\x02\x01\x01" + bytes(57),
        "utf16.jpg": "\ufeffnot an image".encode("utf-16-le"),
    }


# -- decompression bombs -----------------------------------------------------------------------------


def png_claiming(width: int, height: int) -> bytes:
    """A valid tiny 1-bit PNG whose IHDR (CRC fixed) claims width × height."""
    data = bytearray(encoded(Image.new("1", (8, 8)), "PNG"))
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def bombs(base: Files) -> Files:
    """Headers claiming far more pixels than the data holds, and small chunks that inflate to 100 MB."""
    gif = bytearray(base["base.gif"])
    struct.pack_into("<HH", gif, 6, 65535, 65535)  # the logical screen
    descriptor = gif.index(b"\x2c\x00\x00\x00\x00")
    struct.pack_into("<HH", gif, descriptor + 5, 65535, 65535)  # the image itself
    jpeg = bytearray(base["base.jpg"])
    sof = jpeg.index(b"\xff\xc0")
    struct.pack_into(">HH", jpeg, sof + 5, 65500, 65500)
    bmp = bytearray(base["base.bmp"])
    struct.pack_into("<ii", bmp, 18, 50000, -50000)  # top-down, 2.5 gigapixels
    webp = encoded(Image.new("RGB", (16, 16)), "WEBP", lossless=True)
    inflating = zlib.compress(bytes(100 << 20), 9)  # 100 MB of zeros in ~100 kB
    avi = bytearray(base["base.avi"])
    for at in _all(avi, b"strf"):
        struct.pack_into("<ii", avi, at + 12, 40000, 40000)  # BITMAPINFOHEADER width, height
    return {
        "png_30000x30000.png": png_claiming(30000, 30000),
        "png_2g_wide.png": png_claiming(2**31 - 1, 1),
        "png_ztxt_100mb.png": png_chunk(base["base.png"], b"zTXt", b"Comment\x00\x00" + inflating),
        "png_iccp_100mb.png": png_chunk(base["base.png"], b"iCCP", b"icc\x00\x00" + inflating),
        "gif_65535x65535.gif": bytes(gif),
        "jpeg_65500x65500.jpg": bytes(jpeg),
        "bmp_50000x50000.bmp": bytes(bmp),
        "tiff_100000x100000.tif": _tiff_claiming(100000, 100000),
        "webp_16383x16383.webp": webp[:24] + struct.pack("<HH", 16383 | 0x0000, 0) + webp[28:],
        "ppm_100000x100000.ppm": b"P6\n100000 100000\n255\n" + bytes(64),
        "avi_40000x40000.avi": bytes(avi),
    }


def _tiff_claiming(width: int, height: int) -> bytes:
    """A baseline TIFF header whose one strip of 8 bytes is said to hold width × height grey pixels."""
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
               (273, 4, 8 + 2 + 12 * 8 + 4), (278, 4, height), (279, 4, 8)]  # fmt: skip
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
        for tag, kind, value in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + bytes(8)


def _all(data: bytes | bytearray, needle: bytes) -> list[int]:
    """Every offset of `needle` in `data`."""
    found, at = [], data.find(needle)
    while at >= 0:
        found.append(at)
        at = data.find(needle, at + 1)
    return found


# -- odd but valid images ------------------------------------------------------------------------------


def odd_images() -> Files:
    """Valid files at the edges of what decoders and analyzers expect."""
    rgb = photo(1)
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    ramp16 = (np.arange(96 * 128, dtype=np.uint32).reshape(96, 128) * 5).astype(np.uint16)
    palette_alpha = Image.fromarray(rgb).quantize(16)
    palette_alpha.info["transparency"] = bytes(range(0, 256, 16))
    frames = [Image.fromarray(photo(k)).quantize(32) for k in range(4)]
    out: Files = {
        "1x1.jpg": encoded(rgb[:1, :1], "JPEG"),
        "1x1.png": encoded(rgb[:1, :1], "PNG"),
        "1x1.gif": encoded(Image.new("P", (1, 1)), "GIF"),
        "1x10000.png": encoded(np.repeat(rgb[:1, :1], 10000, axis=0), "PNG"),
        "70000x1.png": encoded(np.tile(rgb[:1, :100], (1, 700, 1)), "PNG"),  # wider than a JPEG can be (ELA re-saves)
        "10000x1.jpg": encoded(np.tile(rgb[:1, :100], (1, 100, 1)), "JPEG"),
        "7x5_odd.jpg": encoded(rgb[:5, :7], "JPEG"),
        "grey16.png": encoded(Image.fromarray(ramp16), "PNG"),
        "rgb48.tif": _rgb48_tiff(rgb),
        "float32.tif": encoded(Image.fromarray(grey.astype(np.float32) / 255), "TIFF"),
        "int32.tif": encoded(Image.fromarray(grey.astype(np.int32) - 128), "TIFF"),
        "grey.jpg": encoded(grey, "JPEG"),
        "grey.png": encoded(grey, "PNG"),
        "bilevel.png": encoded(Image.fromarray(grey).convert("1"), "PNG"),
        "bilevel_g4.tif": encoded(Image.fromarray(grey).convert("1"), "TIFF", compression="group4"),
        "cmyk.jpg": encoded(Image.fromarray(rgb).convert("CMYK"), "JPEG"),
        "cmyk.tif": encoded(Image.fromarray(rgb).convert("CMYK"), "TIFF"),
        "ycbcr.jpg": encoded(rgb, "JPEG", subsampling=0, quality=100),
        "palette_alpha.png": encoded(palette_alpha, "PNG"),
        "rgba.png": encoded(np.dstack([rgb, grey]), "PNG"),
        "grey_alpha.png": encoded(Image.fromarray(np.dstack([grey, grey])), "PNG"),
        "rgba.webp": encoded(np.dstack([rgb, grey]), "WEBP", lossless=True),
        "rgba.tif": encoded(np.dstack([rgb, grey]), "TIFF"),
        "bmp_1bit.bmp": encoded(Image.fromarray(grey).convert("1"), "BMP"),
        "bmp_palette.bmp": encoded(Image.fromarray(rgb).quantize(16), "BMP"),
        "animated.gif": encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0),
        "animated.png": encoded(frames[0].convert("RGB"), "PNG", save_all=True,
                                append_images=[f.convert("RGB") for f in frames[1:]]),
        "animated.webp": encoded(frames[0].convert("RGB"), "WEBP", save_all=True,
                                 append_images=[f.convert("RGB") for f in frames[1:]]),
        "progressive.jpg": encoded(rgb, "JPEG", progressive=True, quality=85),
        "restart_markers.jpg": encoded(rgb, "JPEG", restart_marker_blocks=1),
        "quality100.jpg": encoded(rgb, "JPEG", quality=100),
        "quality1.jpg": encoded(rgb, "JPEG", quality=1),
        "steps_16bit.jpg": encoded(rgb, "JPEG", qtables=[[512] * 64, [700] * 64]),  # not baseline: 16-bit steps
        "multipage.tif": encoded(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        "dpi_65535.jpg": encoded(rgb, "JPEG", dpi=(65535, 65535)),
        "dpi_0.png": encoded(rgb, "PNG", dpi=(0, 0)),
        "dpi_huge.tif": encoded(rgb, "TIFF", dpi=(1e9, 1e-9)),
        "ppm.ppm": encoded(rgb, "PPM"),
        "pgm16.pgm": encoded(Image.fromarray(ramp16), "PPM"),
        "flat_black.png": encoded(np.zeros((96, 128, 3), np.uint8), "PNG"),
        "flat_white.jpg": encoded(np.full((96, 128, 3), 255, np.uint8), "JPEG"),
        "noise.png": encoded(np.random.default_rng(7).integers(0, 256, (96, 128, 3), dtype=np.uint8), "PNG"),
    }
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        out[f"orientation{orientation}.jpg"] = encoded(rgb, "JPEG", exif=exif)
    return out


def _rgb48_tiff(rgb: np.ndarray) -> bytes:
    """16 bits per channel, the way scanners and raw converters write it (Pillow cannot: OpenCV can)."""
    ok, data = cv2.imencode(".tif", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
    assert ok
    return data.tobytes()


# -- damaged videos -------------------------------------------------------------------------------------


def damaged_videos(base: Files) -> Files:
    """MP4s with their index (`moov`) damaged, zero time scales or zero-length samples; AVIs with zero
    frame rates, counts or sizes; a video of one frame."""
    mp4, avi = base["base.mp4"], base["base.avi"]
    out: Files = {"one_frame.mp4": video(".mp4", seed=3, frames=1), "one_frame.avi": video(".avi", seed=3, frames=1)}
    moov = mp4.index(b"moov") - 4
    moov_end = moov + int.from_bytes(mp4[moov : moov + 4], "big")
    rng = np.random.default_rng(1401)
    for k in range(4):
        flipped = bytearray(mp4)
        for at in rng.integers(moov + 8, moov_end, size=4 * (k + 1)):
            flipped[at] ^= 1 << int(rng.integers(0, 8))
        out[f"mp4_moov_flips{k}.mp4"] = bytes(flipped)
    out["mp4_moov_renamed.mp4"] = mp4.replace(b"moov", b"free", 1)
    out["mp4_moov_size0.mp4"] = _patched(mp4, moov, ">I", 0)
    out["mp4_moov_size_huge.mp4"] = _patched(mp4, moov, ">I", 0xFFFFFFF0)
    out["mp4_mdat_size1.mp4"] = _patched(mp4, mp4.index(b"mdat") - 4, ">I", 1)  # "a 64-bit size follows": garbage
    out["mp4_mvhd_timescale0.mp4"] = _patched(mp4, mp4.index(b"mvhd") + 16, ">I", 0)
    out["mp4_mdhd_timescale0.mp4"] = _patched(mp4, mp4.index(b"mdhd") + 16, ">I", 0)
    out["mp4_stts_delta0.mp4"] = _patched(mp4, mp4.index(b"stts") + 16, ">I", 0)
    stsz = mp4.index(b"stsz")
    count = int.from_bytes(mp4[stsz + 12 : stsz + 16], "big")
    out["mp4_zero_length_samples.mp4"] = _every_other_zero(mp4, stsz + 16, count)
    out["mp4_all_samples_empty.mp4"] = bytes(mp4[: stsz + 16]) + bytes(4 * count) + mp4[stsz + 16 + 4 * count :]
    out["mp4_stco_past_end.mp4"] = _patched(mp4, mp4.index(b"stco") + 12, ">I", 0x7FFFFFFF)
    out["mp4_tkhd_zero_size.mp4"] = _patched(_patched(mp4, mp4.index(b"tkhd") + 80, ">I", 0),
                                             mp4.index(b"tkhd") + 84, ">I", 0)
    avih = avi.index(b"avih") + 8
    out["avi_zero_microsec_per_frame.avi"] = _patched(avi, avih, "<I", 0)
    out["avi_zero_total_frames.avi"] = _patched(avi, avih + 16, "<I", 0)
    strh = avi.index(b"strh") + 8
    out["avi_zero_rate.avi"] = _patched(avi, strh + 24, "<I", 0)
    out["avi_zero_scale.avi"] = _patched(avi, strh + 20, "<I", 0)
    out["avi_zero_size.avi"] = _patched(_patched(avi, avih + 32, "<I", 0), avih + 36, "<I", 0)
    idx1 = avi.index(b"idx1")
    entries = int.from_bytes(avi[idx1 + 4 : idx1 + 8], "little") // 16
    empty_index = bytearray(avi)
    for n in range(entries):
        struct.pack_into("<I", empty_index, idx1 + 8 + 16 * n + 12, 0)
    out["avi_index_says_empty.avi"] = bytes(empty_index)
    out["avi_zero_length_frames.avi"] = _avi_with_empty_frames(avi)
    out["avi_no_index.avi"] = avi[:idx1] + b"JUNK" + avi[idx1 + 4 :]
    return out


def _patched(data: bytes, at: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


def _every_other_zero(mp4: bytes, table: int, count: int) -> bytes:
    """The `stsz` table starting at `table` with every other sample's size set to zero."""
    out = bytearray(mp4)
    for n in range(0, count, 2):
        struct.pack_into(">I", out, table + 4 * n, 0)
    return bytes(out)


def _avi_with_empty_frames(avi: bytes) -> bytes:
    """The AVI rebuilt with every other video chunk (`00dc`) emptied, chunk and index alike: dropped
    frames, which AVI allows. Sizes of the enclosing lists are fixed so the file stays well formed."""
    movi = avi.index(b"movi") - 8
    movi_end = movi + 8 + int.from_bytes(avi[movi + 4 : movi + 8], "little")
    chunks, at = [], movi + 12
    while at + 8 <= movi_end:
        size = int.from_bytes(avi[at + 4 : at + 8], "little")
        chunks.append((avi[at : at + 4], avi[at + 8 : at + 8 + size]))
        at += 8 + size + (size & 1)
    body, index, frame = b"", b"", 0
    for fourcc, data in chunks:
        if fourcc.endswith(b"dc"):
            data = b"" if frame % 2 else data
            frame += 1
        index += fourcc + struct.pack("<III", 0x10, 4 + len(body), len(data))
        body += fourcc + struct.pack("<I", len(data)) + data + bytes(len(data) & 1)
    movi_list = b"LIST" + struct.pack("<I", 4 + len(body)) + b"movi" + body
    rest = avi[movi_end:]
    idx1 = rest.find(b"idx1")
    if idx1 >= 0:
        rest = rest[:idx1] + b"idx1" + struct.pack("<I", len(index)) + index
    riff = avi[12:movi] + movi_list + rest
    return b"RIFF" + struct.pack("<I", 4 + len(riff)) + b"AVI " + riff


# -- the filesystem ---------------------------------------------------------------------------------------


def filesystem_oddities(folder: Path, base: Files) -> None:
    """Names and kinds of entry that are not plain files with plain names: non-ASCII and non-UTF-8
    names, the longest names allowed, lookalike names (NFC and NFD), links of every sort, a pipe,
    hard links, empty and unreadable files, a folder that cannot be listed, deep nesting.

    The unreadable ones are `chmod 000`, which root (as in containers) reads all the same: the test runs
    the CLI without root's power to read any file (`test_robustness.without_root_reads`), so they are
    skipped as unreadable there as for an investigator's account; where that power cannot be dropped,
    root imports them like any file, and either way they are accounted for."""
    names = ["café.jpg", "日本語の写真.png", "📷 emoji.webp", "with spaces  and  tabs\t.jpg", "two\nlines.jpg",
             "carriage\rreturn.jpg", "\x1b[2J\x1b[31mterminal escape\x1b[0m.jpg", "bell\x07.png",
             "-starts-with-dash.jpg", "quotes'\"and\\backslash.jpg", "percent %s %n.jpg", "UPPER.JPG",
             "right-to-left \u202egnp.jpg",
             "x" * 250 + ".jpg", "é" * 125 + ".png", unicodedata.normalize("NFC", "crème.jpg"),
             unicodedata.normalize("NFD", "crème.jpg"), os.fsdecode(b"latin1 caf\xe9 \xff\xfe.jpg")]
    for n, name in enumerate(names):  # each its own picture: an item of its own, its name all the way to the JSON
        fmt = {".png": "PNG", ".webp": "WEBP"}.get(Path(name).suffix, "JPEG")
        (folder / name).write_bytes(encoded(photo(n % 8), fmt, **({"quality": 50 + n} if fmt == "JPEG" else {})))
    others = {"double.jpg.txt": base["base.jpg"], "no_extension": base["base.jpg"], "one_byte.jpg": b"\xff",
              "empty.jpg": b"", "empty.mp4": b""}
    for name, data in others.items():
        (folder / name).write_bytes(data)
    (folder / "copy of café.jpg").write_bytes((folder / "café.jpg").read_bytes())
    os.link(folder / "café.jpg", folder / "hard link to café.jpg")
    (folder / "link to café.jpg").symlink_to("café.jpg")
    (folder / "link to link.jpg").symlink_to("link to café.jpg")
    (folder / "dangling.jpg").symlink_to("no such file.jpg")
    (folder / "loop.jpg").symlink_to("loop.jpg")
    (folder / "loop a.jpg").symlink_to("loop b.jpg")
    (folder / "loop b.jpg").symlink_to("loop a.jpg")
    (folder / "null.jpg").symlink_to(os.devnull)
    (folder / "zero.mp4").symlink_to("/dev/zero")
    (folder / "parent folder.jpg").symlink_to("..", target_is_directory=True)
    os.mkfifo(folder / "pipe.jpg")
    os.mkfifo(folder / "pipe.mp4")
    unreadable = folder / "unreadable.jpg"
    unreadable.write_bytes(encoded(photo(5), "JPEG"))
    unreadable.chmod(0)
    deep = folder.joinpath(*(f"level{n}" for n in range(40)))
    deep.mkdir(parents=True)
    (deep / "deep.jpg").write_bytes(encoded(photo(6), "JPEG"))
    locked = folder / "locked folder"
    locked.mkdir()
    (locked / "inside.jpg").write_bytes(encoded(photo(7), "JPEG"))
    locked.chmod(0)


# -- the corpus ------------------------------------------------------------------------------------------


CATEGORIES: dict[str, Callable[[Files], Files]] = {
    "truncated": truncations,
    "bit_flips": bit_flips,
    "zeroed_headers": zeroed_headers,
    "wrong_extensions": wrong_extensions,
    "bombs": bombs,
    "exif": metadata.damaged_exif,
    "gps": metadata.damaged_gps,
    "xmp": metadata.damaged_xmp,
    "iptc": metadata.damaged_iptc,
    "icc": metadata.damaged_icc,
    "c2pa": metadata.damaged_c2pa,
    "odd_valid": lambda base: odd_images(),
    "videos": damaged_videos,
}
"""Folder name → the files in it (the filesystem oddities, which are not all files, are made apart)."""


def write_corpus(root: Path) -> dict[str, int]:
    """Write every category into its own folder of `root` (which must not exist); paths per category."""
    base = sources()
    for category, make in CATEGORIES.items():
        folder = root / category
        folder.mkdir(parents=True)
        for name, data in make(base).items():
            (folder / name).write_bytes(data)
    (root / "filesystem").mkdir()
    filesystem_oddities(root / "filesystem", base)
    return {folder.name: len(paths_to_account(folder)) for folder in sorted(root.iterdir())}


def paths_to_account(root: Path) -> set[Path]:
    """What a run given the folder `root` must account for: every file, link and pipe in it, a link
    to a folder, a folder that cannot be listed. Hidden entries are passed over, as the import does."""
    found: set[Path] = set()

    def unlisted(exc: OSError) -> None:
        found.add(Path(exc.filename))

    for top, dirs, files in os.walk(root, onerror=unlisted):
        here = Path(top)
        found |= {here / name for name in files if not name.startswith(".")}
        found |= {here / name for name in dirs if not name.startswith(".") and (here / name).is_symlink()}
        dirs[:] = [name for name in dirs if not name.startswith(".")]
    return found


def unlock(root: Path) -> None:
    """Give the corpus's `chmod 000` entries their permissions back, so the folder can be removed."""
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(top) / name
            if not path.is_symlink() and stat.S_IMODE(path.lstat().st_mode) == 0:
                path.chmod(0o700 if path.is_dir() else 0o600)


if __name__ == "__main__":
    counts = write_corpus(Path(sys.argv[1]))
    for name, count in counts.items():
        print(f"{name}\t{count}")
    print(f"total\t{sum(counts.values())}")
