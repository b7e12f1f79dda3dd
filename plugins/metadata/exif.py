"""EXIF: reading the TIFF-structured block, checking its structure, and the tables built from it.

Pillow parses the tags, but it silently skips corrupt entries (with a process-wide warning)
and even swallows a bad header while opening a JPEG. To tell the analyst that a block is
malformed we walk the IFD structure ourselves (`tiff_problems`) and load a fresh `Image.Exif`
from the bytes instead of trusting `im.getexif()`, which also injects an XMP orientation.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from PIL import ExifTags, Image, TiffImagePlugin

from plugins.metadata.values import decode_text, format_bytes, format_number, format_value

Base = ExifTags.Base
IFD = ExifTags.IFD

EXIF_PREFIX = re.compile(rb"^(Exif\x00\x00){1,2}")
"""JPEG and PNG blocks start with this marker (twice in some buggy writers); TIFF data follow."""

SUB_IFD_POINTERS = {Base.ExifOffset: "Exif IFD", Base.GPSInfo: "GPS IFD", IFD.Interop: "Interop IFD"}
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
"""Bytes per value of each TIFF field type (BYTE … IFD), to check that data lie inside the block."""

ORIENTATIONS = {
    1: "normal",
    2: "mirrored horizontally",
    3: "rotated 180°",
    4: "mirrored vertically",
    5: "mirrored horizontally, rotated 270° CW",
    6: "rotated 90° CW",
    7: "mirrored horizontally, rotated 90° CW",
    8: "rotated 270° CW",
}

WINDOWS_XP_TAGS = {Base.XPTitle, Base.XPComment, Base.XPAuthor, Base.XPKeywords, Base.XPSubject}


@dataclass
class ExifBlock:
    """Parsed EXIF: the tags of each IFD by name, and the raw TIFF bytes when there was a block."""

    ifds: dict[str, dict[int, Any]]
    tiff: bytes | None
    problems: list[str] = field(default_factory=list)

    def merged(self) -> dict[int, Any]:
        """IFD0 and Exif IFD tags together: writers disagree on which IFD holds some tags."""
        return {**self.ifds.get("IFD0", {}), **self.ifds.get("Exif", {})}


def read_exif(im: Image.Image) -> ExifBlock | None:
    """The image's EXIF, or None when it has none; structural problems are listed, not raised."""
    raw = im.info.get("exif")
    if raw is None and "Raw profile type exif" in im.info:  # ImageMagick's PNG text chunk
        raw = bytes.fromhex("".join(im.info["Raw profile type exif"].split("\n")[3:]))
    if raw:
        return _from_block(EXIF_PREFIX.sub(b"", raw))
    if isinstance(im, TiffImagePlugin.TiffImageFile):  # a TIFF file's own IFD0 holds its tags
        block = ExifBlock({}, None)
        _collect_ifds(im.getexif(), block)
        block.ifds.pop("IFD1", None)  # in a TIFF file the next IFD is the next page, not a thumbnail
        return block
    return None


def _from_block(tiff: bytes) -> ExifBlock:
    block = ExifBlock({}, tiff, tiff_problems(tiff))
    exif = Image.Exif()
    try:
        exif.load(tiff)
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types on corrupt headers
        block.problems.append(f"Pillow could not read it ({type(exc).__name__}: {exc})")
        return block
    _collect_ifds(exif, block)
    return block


def _collect_ifds(exif: Image.Exif, block: ExifBlock) -> None:
    block.ifds["IFD0"] = dict(exif.items())
    for name, tag in (("Exif", IFD.Exif), ("GPS", IFD.GPSInfo), ("Interop", IFD.Interop), ("IFD1", IFD.IFD1)):
        try:
            block.ifds[name] = dict(exif.get_ifd(tag))
        except Exception as exc:  # noqa: BLE001 - a corrupt sub-IFD must not hide the others
            block.problems.append(f"the {name} IFD cannot be read ({type(exc).__name__}: {exc})")


def tiff_problems(tiff: bytes) -> list[str]:
    """Structural defects of a TIFF/EXIF block: bad header, IFDs or values outside the block, loops."""
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return ["it does not start with a TIFF header (II*/MM*)"]
    order = "<" if tiff[:2] == b"II" else ">"
    problems: list[str] = []
    seen: set[int] = set()
    todo = [("IFD0", struct.unpack_from(order + "I", tiff, 4)[0])]
    while todo:
        name, offset = todo.pop()
        if offset in seen:
            problems.append(f"{name} loops back to offset {offset}")
            continue
        seen.add(offset)
        problems += _ifd_problems(tiff, order, name, offset, todo)
    return problems


def _ifd_problems(tiff: bytes, order: str, name: str, offset: int, todo: list[tuple[str, int]]) -> list[str]:
    if offset + 2 > len(tiff):
        return [f"{name} starts at offset {offset}, beyond the end of the block ({len(tiff)} bytes)"]
    (count,) = struct.unpack_from(order + "H", tiff, offset)
    end = offset + 2 + 12 * count
    if end + 4 > len(tiff):
        return [f"{name} ({count} entries) is truncated"]
    problems = []
    for entry in range(offset + 2, end, 12):
        tag, typ, n, value = struct.unpack_from(order + "HHII", tiff, entry)
        size = TYPE_SIZES.get(typ, 0) * n
        if typ not in TYPE_SIZES:
            problems.append(f"{name} tag 0x{tag:04X} has an unknown type {typ}")
        elif size > 4 and value + size > len(tiff):
            problems.append(f"{name} tag 0x{tag:04X} points beyond the end of the block")
        if tag in SUB_IFD_POINTERS and name in ("IFD0", "Exif IFD"):
            todo.append((SUB_IFD_POINTERS[tag], value))
    (next_ifd,) = struct.unpack_from(order + "I", tiff, end)
    if name == "IFD0" and next_ifd:
        todo.append(("IFD1", next_ifd))
    return problems


def tag_name(ifd: str, tag: int) -> str:
    names = ExifTags.GPSTAGS if ifd == "GPS" else ExifTags.TAGS
    return names.get(tag) or f"Tag 0x{tag:04X}"


def all_tags_rows(block: ExifBlock) -> list[tuple[str, str]]:
    """Every tag of every IFD as ("IFD:Name", value); the maker note only by its length.

    Sub-IFD pointers are left out: they are offsets, and the sub-IFDs' tags are listed instead.
    """
    return [
        (f"{ifd}:{tag_name(ifd, tag)}", _display(tag, value))
        for ifd, tags in block.ifds.items()
        for tag, value in tags.items()
        if tag not in SUB_IFD_POINTERS
    ]


def _display(tag: int, value: Any) -> str:
    if tag == Base.MakerNote and isinstance(value, bytes):
        return f"{len(value)} bytes (maker-specific, not decoded)"
    if tag == Base.UserComment and isinstance(value, bytes):
        return _user_comment(value)
    if tag in WINDOWS_XP_TAGS and isinstance(value, bytes):  # Windows Explorer writes UTF-16LE
        return format_value(value.decode("utf-16-le", errors="replace"))
    return format_value(value)


def _user_comment(data: bytes) -> str:
    """UserComment starts with an 8-byte character-code prefix (EXIF 2.32 §4.6.5)."""
    code, text = data[:8], data[8:]
    if code.startswith(b"UNICODE"):
        encoding = "utf-16-be" if text[:1] == b"\x00" else "utf-16-le"  # byte order is not recorded
        return format_value(text.decode(encoding, errors="replace"))
    if code.startswith(b"ASCII") or code == b"\x00" * 8:
        return format_value(decode_text(text))
    return format_bytes(data)


CAMERA_FIELDS: tuple[tuple[str, int], ...] = (
    ("Make", Base.Make),
    ("Model", Base.Model),
    ("BodySerialNumber", Base.BodySerialNumber),
    ("CameraOwnerName", Base.CameraOwnerName),
    ("LensMake", Base.LensMake),
    ("LensModel", Base.LensModel),
    ("Software", Base.Software),
    ("DateTimeOriginal", Base.DateTimeOriginal),
    ("DateTimeDigitized", Base.DateTimeDigitized),
    ("DateTime (modified)", Base.DateTime),
    ("OffsetTime", Base.OffsetTime),
    ("OffsetTimeOriginal", Base.OffsetTimeOriginal),
    ("OffsetTimeDigitized", Base.OffsetTimeDigitized),
    ("ExposureTime", Base.ExposureTime),
    ("FNumber", Base.FNumber),
    ("ISO", Base.ISOSpeedRatings),
    ("FocalLength", Base.FocalLength),
    ("Orientation", Base.Orientation),
    ("Artist", Base.Artist),
    ("Copyright", Base.Copyright),
)


def camera_rows(block: ExifBlock) -> list[tuple[str, str]]:
    """The facts an investigator asks first: device, software, dates, exposure, author."""
    tags = block.merged()
    return [(label, _camera_value(tag, tags[tag])) for label, tag in CAMERA_FIELDS if tag in tags]


def _camera_value(tag: int, value: Any) -> str:
    number = _as_float(value)
    if tag == Base.ExposureTime and number and 0 < number < 1 and _is_unit_fraction(number):
        return f"1/{round(1 / number)} s"
    if tag == Base.ExposureTime and number:
        return f"{format_number(number)} s"
    if tag == Base.FNumber and number:
        return f"f/{format_number(number)}"
    if tag == Base.FocalLength and number:
        return f"{format_number(number)} mm"
    if tag == Base.Orientation and value in ORIENTATIONS:
        return f"{value} ({ORIENTATIONS[value]})"
    return format_value(value)


def _is_unit_fraction(number: float) -> bool:
    """True for 1/250 or 1/3 (shown as such), False for 0.3 s (shown as a decimal)."""
    return abs(1 / number - round(1 / number)) < 0.01 / number


def _as_float(value: Any) -> float | None:
    """A finite float for a single number, else None (tuples, text, 0-denominator rationals)."""
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None


def text_tag(block: ExifBlock | None, tag: int) -> str:
    """A tag as clean text ("" when absent), for comparisons and findings."""
    tags = block.merged() if block else {}
    return format_value(tags[tag]) if tag in tags else ""


def thumbnail_jpeg(block: ExifBlock) -> bytes | None:
    """The JPEG thumbnail that IFD1 points to (offsets are relative to the TIFF header)."""
    ifd1 = block.ifds.get("IFD1", {})
    offset, length = ifd1.get(Base.JpegIFOffset), ifd1.get(Base.JpegIFByteCount)
    if block.tiff is None or offset is None or length is None:
        return None
    if not (isinstance(offset, int) and isinstance(length, int) and offset >= 0 and length > 0):
        raise ValueError(f"the thumbnail pointer ({offset!r}, {length!r}) is not a valid offset/length")
    if offset + length > len(block.tiff):
        raise ValueError(
            f"the thumbnail ({length} bytes at offset {offset}) lies outside the EXIF block "
            f"({len(block.tiff)} bytes)"
        )
    return block.tiff[offset : offset + length]
