"""JPEG structure: marker segments (ITU-T T.81), quantisation tables and the IJG quality estimate.

Cameras and editors each use their own quantisation tables, while most software encoders use
the IJG (libjpeg) tables scaled by a quality setting, so the tables hint at what last encoded
the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, JpegImagePlugin

from plugins.metadata.values import decode_text, shorten

IJG_LUMA = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
     14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
     18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
)  # fmt: skip
IJG_CHROMA = np.array(
    [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
     24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32,
)  # fmt: skip
"""ITU-T T.81 Annex K tables in natural (row-major) order, the order Pillow reports them in."""

QUALITIES = np.arange(1, 101)
_SCALES = np.where(QUALITIES < 50, 5000 // QUALITIES, 200 - 2 * QUALITIES)
SCALED_LUMA = np.clip((IJG_LUMA[None, :] * _SCALES[:, None] + 50) // 100, 1, 255)
SCALED_CHROMA = np.clip((IJG_CHROMA[None, :] * _SCALES[:, None] + 50) // 100, 1, 255)
"""Row q-1 holds the table libjpeg's jpeg_set_quality(q, force_baseline=TRUE) writes."""

SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
TABLE_NAMES = {0: "Luma", 1: "Chroma"}

SOF_NAMES = {
    0xC0: "baseline DCT",
    0xC1: "extended sequential DCT",
    0xC2: "progressive DCT",
    0xC3: "lossless",
    0xC5: "differential sequential DCT",
    0xC6: "differential progressive DCT",
    0xC7: "differential lossless",
    0xC9: "extended sequential DCT, arithmetic",
    0xCA: "progressive DCT, arithmetic",
    0xCB: "lossless, arithmetic",
    0xCD: "differential sequential DCT, arithmetic",
    0xCE: "differential progressive DCT, arithmetic",
    0xCF: "differential lossless, arithmetic",
}
PROGRESSIVE_SOFS = {0xC2, 0xC6, 0xCA, 0xCE}
OTHER_MARKERS = {0xC4: "DHT", 0xCC: "DAC", 0xDA: "SOS", 0xDB: "DQT", 0xDC: "DNL", 0xDD: "DRI", 0xFE: "COM"}

APP_IDENTIFIERS = {
    "JFIF": "JFIF",
    "JFXX": "JFIF extension (thumbnail)",
    "Exif": "Exif",
    "http://ns.adobe.com/xap/1.0/": "XMP",
    "http://ns.adobe.com/xmp/extension/": "Extended XMP",
    "ICC_PROFILE": "ICC_PROFILE",
    "MPF": "MPF (multi-picture)",
    "Photoshop 3.0": "Photoshop IRB",
    "Adobe": "Adobe",
    "Ducky": "Ducky (Photoshop 'Save for Web')",
    "FPXR": "FlashPix",
}
MAX_SEGMENTS = 10_000
"""Real files have a few dozen segments; the walk stops beyond this so a crafted file stays cheap."""

ADOBE_SEGMENTS = ("Photoshop IRB", "Ducky (Photoshop 'Save for Web')")
"""Segments typical of Adobe tools (APP14 "Adobe" is not: libjpeg writes it for every CMYK file)."""


@dataclass(frozen=True)
class Segment:
    """One marker segment: where it starts, its marker byte and what it holds."""

    offset: int
    marker: int
    size: int
    detail: str

    @property
    def name(self) -> str:
        if 0xE0 <= self.marker <= 0xEF:
            return f"APP{self.marker - 0xE0}"
        if self.marker in SOF_NAMES:
            return f"SOF{self.marker - 0xC0}"
        return OTHER_MARKERS.get(self.marker, f"marker 0x{self.marker:02X}")


@dataclass(frozen=True)
class QualityEstimate:
    quality: int
    deviation: float

    def describe(self) -> str:
        if self.deviation == 0:
            return f"exact IJG quality {self.quality}"
        return (
            f"non-standard tables; closest IJG quality ≈ {self.quality} "
            f"(mean abs. deviation {self.deviation:.1f})"
        )


def table_problem(slot: int, table: Sequence[int]) -> str | None:
    """Why a quantisation table cannot be used, in words, or None when it can: JPEG steps are 64
    whole numbers from 1 to 65535 (T.81 B.2.4.1); a zero step would divide by zero."""
    name = f"quantisation table {slot} ({TABLE_NAMES.get(slot, 'other').lower()})"
    if len(table) != 64:
        return f"the {name} has {len(table)} entries instead of 64: the file is damaged"
    zeros = sum(1 for step in table if step == 0)
    if zeros:
        return (f"the {name} holds {zeros} zero step(s); JPEG steps are 1 to 65535, so the table is invalid "
                "and the file damaged or crafted")
    return None


def estimate_quality(tables: dict[int, Sequence[int]]) -> QualityEstimate | None:
    """Closest IJG quality for these tables (slot 0 against luma, the others against chroma); invalid
    tables (`table_problem`) are left out."""
    usable = {slot: np.asarray(t, dtype=np.int64) for slot, t in tables.items() if table_problem(slot, t) is None}
    if not usable:
        return None
    errors = sum(
        np.abs((SCALED_LUMA if slot == 0 else SCALED_CHROMA) - table[None, :]).sum(axis=1)
        for slot, table in usable.items()
    )
    best = int(np.argmin(errors))
    return QualityEstimate(int(QUALITIES[best]), float(errors[best]) / (64 * len(usable)))


def walk_markers(data: bytes) -> tuple[list[Segment], str]:
    """Marker segments from SOI up to SOS, and why the walk stopped early ("" if it did not).

    Never raises: a broken length or stray byte ends the walk with a reason.
    """
    if data[:2] != b"\xff\xd8":
        return [], "the file does not start with a JPEG SOI marker"
    segments: list[Segment] = []
    pos = 2
    while pos < len(data):
        if len(segments) >= MAX_SEGMENTS:
            return segments, f"more than {MAX_SEGMENTS} segments before the image data"
        if data[pos] != 0xFF:
            return segments, f"expected a marker at offset {pos}, found byte 0x{data[pos]:02X}"
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes may precede a marker
            pos += 1
        if pos + 3 > len(data):
            break
        marker, start = data[pos], pos - 1
        length = int.from_bytes(data[pos + 1 : pos + 3], "big")
        if marker == 0xD9 or 0xD0 <= marker <= 0xD7 or marker in (0x00, 0x01, 0xD8):
            return segments, f"unexpected marker 0x{marker:02X} at offset {start} before the image data"
        if length < 2 or pos + 1 + length > len(data):
            return segments, f"the segment at offset {start} has an invalid length {length}"
        payload = data[pos + 3 : pos + 1 + length]
        segments.append(Segment(start, marker, length - 2, _detail(marker, payload)))
        if marker == 0xDA:
            return segments, ""
        pos += 1 + length
    return segments, "the file ends before the image data (no SOS marker)"


def _detail(marker: int, payload: bytes) -> str:
    if marker == 0xEB and payload.startswith(b"JP"):  # ISO/IEC 19566-5 wraps JUMBF boxes in APP11 "JP"
        return "JUMBF (e.g. C2PA Content Credentials)"
    if 0xE0 <= marker <= 0xEF:
        identifier = payload.split(b"\x00", 1)[0][:40]
        text = identifier.decode("latin-1") if identifier.isascii() else ""
        return APP_IDENTIFIERS.get(text, text if text.isprintable() and text else "unidentified")
    if marker == 0xFE:
        return shorten(decode_text(payload), 200)
    if marker in SOF_NAMES and len(payload) >= 6:
        height, width = int.from_bytes(payload[1:3], "big"), int.from_bytes(payload[3:5], "big")
        return f"{SOF_NAMES[marker]}, {width}×{height}, {payload[5]} component(s), {payload[0]}-bit"
    return ""


def segment_rows(segments: list[Segment]) -> list[tuple[str, str]]:
    return [(f"{s.name} @ {s.offset}", f"{s.detail} ({s.size} bytes)".lstrip()) for s in segments]


def jpeg_rows(im: JpegImagePlugin.JpegImageFile, segments: list[Segment]) -> list[tuple[str, str]]:
    """Coding process, subsampling, quantisation tables and their quality estimates."""
    sof = next((s for s in segments if s.marker in SOF_NAMES), None)
    progressive = sof.marker in PROGRESSIVE_SOFS if sof else bool(im.info.get("progressive"))
    rows = [("Coding", "progressive" if progressive else "baseline/sequential")]
    if sof:
        rows.append(("Frame (SOF)", f"{sof.name}: {sof.detail}"))
    rows.append(("Chroma subsampling", subsampling(im)))
    tables = dict(getattr(im, "quantization", None) or {})
    for slot, table in sorted(tables.items()):
        name = TABLE_NAMES.get(slot, f"Table {slot}")
        rows.append((f"{name} table", format_table(table)))
        estimate = estimate_quality({slot: table})
        if estimate:
            rows.append((f"{name} table quality", estimate.describe()))
    overall = estimate_quality(tables)
    if overall:
        rows.append(("Estimated quality", overall.describe()))
    return rows


def subsampling(im: Image.Image) -> str:
    components = len(im.getbands())
    if components == 1:
        return "none (greyscale)"
    if components != 3:
        return f"not applicable ({components} colour components, {im.mode})"
    return SUBSAMPLING.get(JpegImagePlugin.get_sampling(im), "other (non-standard sampling factors)")


def format_table(table: Sequence[int]) -> str:
    """A 64-entry table as its 8 rows, "a b c … / …", for reading and copying."""
    values = [str(int(v)) for v in table]
    return " / ".join(" ".join(values[i : i + 8]) for i in range(0, len(values), 8))


def is_jpeg(im: Image.Image) -> bool:
    return isinstance(im, JpegImagePlugin.JpegImageFile)
