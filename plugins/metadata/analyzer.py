"""Metadata analyzer: file identity, Content Credentials (C2PA) and AI-generation markers, EXIF/XMP/IPTC,
GPS, JPEG structure and the EXIF thumbnail.

Every section is parsed defensively: a malformed block becomes a finding and the other
sections still report, because damaged metadata are themselves a fact worth seeing.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import ExifTags, Image

from plugins.metadata import exif, generators, gps, iptc, jpeg, provenance, thumbnail, xmp
from plugins.metadata.credentials import read_credentials
from plugins.metadata.exif import ExifBlock
from plugins.metadata.trust_list import load_trust_list
from plugins.metadata.values import capped
from workbench.api import (
    Analyzer,
    Cancelled,
    Claims,
    CredentialState,
    Facts,
    Marker,
    Media,
    MediaKind,
    RunContext,
    Table,
    VideoInfo,
    file_digests,
    load_preferences,
    param,
)

T = TypeVar("T")

TABLE_ORDER = ("File", "Video", "Camera", "GPS", "EXIF (all tags)", "XMP", "IPTC", "JPEG", "Thumbnail")

EDITORS = (
    "photoshop", "lightroom", "gimp", "snapseed", "affinity", "pixelmator", "paint.net", "canva",
    "picsart", "facetune", "luminar", "capture one", "darktable", "rawtherapee", "acdsee", "photoscape",
    "fotor", "krita", "paintshop", "corel", "photopea", "photodirector", "meitu", "faceapp", "vsco",
)  # fmt: skip
"""Lower-case name fragments of image editors; a camera's firmware never names one of these."""

HISTORY_ENTRY = re.compile(r"^xmpMM:History\[(\d+)\]")


@dataclass
class _Report:
    """What the sections produce, collected before being turned into a `Facts` result."""

    tables: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    images: dict[str, np.ndarray] = field(default_factory=dict)
    claims: Claims | None = None
    markers: list[Marker] = field(default_factory=list)

    def add(self, title: str, rows: list[tuple[str, str]]) -> None:
        if rows:
            self.tables[title] = capped(rows)

    def attempt(self, what: str, section: Callable[..., T], *args: Any) -> T | None:
        """Run one section; a parsing failure becomes a finding instead of failing the analysis."""
        try:
            return section(self, *args)
        except (Cancelled, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - malformed metadata must still give a partial result
            # Our own ValueErrors are worded for the analyst; other exceptions keep their type.
            reason = str(exc) if type(exc) is ValueError else f"{type(exc).__name__}: {exc}"
            self.findings.append(f"{what} is malformed: {reason}. The other sections are still shown.")
            return None

    def rows(self, title: str) -> dict[str, str]:
        return dict(self.tables.get(title, []))


@dataclass
class MetadataParams:
    thumbnail_compare: bool = param(
        True,
        "Compare embedded thumbnail with the image",
        help="Decode the EXIF thumbnail and measure how well it matches the downscaled image.",
    )


class MetadataAnalyzer(Analyzer):
    id = "metadata"
    title = "Metadata"
    version = "1.1"
    accepts = frozenset({MediaKind.IMAGE, MediaKind.VIDEO})
    Params = MetadataParams
    card_file = Path(__file__).with_name("card.md")
    cost_per_mp = 0.001

    def run(self, media: Media, params: MetadataParams, ctx: RunContext) -> Facts:
        report = _Report()
        ctx.progress(0.0, "Hashing the file")
        _file_section(report, media)
        ctx.progress(0.1, "Checking Content Credentials (C2PA)")
        report.claims = report.attempt("The C2PA manifest store", _credentials_section, media) or Claims(
            CredentialState.UNCHECKED, detail="the check itself failed (see the findings)")
        ctx.check_cancelled()
        if media.video is not None:
            _video_section(report, media.video)
            return _facts(self.id, report)
        data = media.raw_bytes()
        # Opened without decoding the pixels: headers, EXIF and tables are all that is read here.
        im = Image.open(io.BytesIO(data))
        ctx.check_cancelled()
        ctx.progress(0.2, "Reading EXIF")
        block = report.attempt("EXIF block", _exif_section, im, media.format)
        ctx.progress(0.4, "Reading XMP and IPTC")
        xmp_values = report.attempt("XMP packet", _xmp_section, data) or {}
        report.attempt("GPS data", _gps_section, block, xmp_values)
        report.attempt("IPTC block", _iptc_section, im)
        ctx.check_cancelled()
        if jpeg.is_jpeg(im):
            ctx.progress(0.6, "Reading the JPEG structure")
            report.attempt("JPEG structure", _jpeg_section, im, data, block)
        if block is not None:
            ctx.progress(0.8, "Checking the embedded thumbnail")
            report.attempt("EXIF thumbnail", _thumbnail_section, block, media, params.thumbnail_compare)
        _software_findings(report, block, xmp_values)
        report.attempt("Generator traces", _generator_section, im, block, xmp_values)
        ctx.progress(1.0, "Done")
        return _facts(self.id, report)


def _facts(analyzer_id: str, report: _Report) -> Facts:
    """The result; what the file claims about its origin leads the findings, as investigators check it first."""
    claims = replace(report.claims, markers=report.markers) if report.claims else None
    findings = (provenance.claims_findings(claims) if claims else []) + report.findings
    return Facts(
        analyzer=analyzer_id,
        message=f"{len(report.tables)} tables, {len(findings)} findings",
        score=None,
        score_meaning="no score: metadata are facts, not a detection",
        tables=[Table(title, report.tables[title]) for title in TABLE_ORDER if title in report.tables],
        findings=findings,
        images=report.images,
        claims=claims,
    )


def _credentials_section(report: _Report, media: Media) -> Claims:
    """Read from the file on disk, not from memory: the SDK streams videos of any size."""
    return read_credentials(media.path, load_trust_list(load_preferences().c2pa_trust_list))


def _video_section(report: _Report, info: VideoInfo) -> None:
    """The container's facts. The creation time is read from MP4/MOV and Matroska/WebM headers only;
    other containers' tags (and per-stream metadata) are not parsed yet, so their absence proves nothing."""
    report.add("Video", info.facts())
    if info.creation_time is None:
        report.findings.append(
            "The container records no creation time (or one we do not read: only MP4/MOV and Matroska/WebM "
            "headers are parsed). Re-encoding by apps and platforms often resets or removes it."
        )
    if info.rotation:
        report.findings.append(
            f"The container asks players to rotate the picture by {info.rotation}°: phones record this "
            "way; frames are analysed as displayed."
        )
    if info.codec in ("mp4v", "FMP4", "MJPG", "XVID", "DIVX"):
        report.findings.append(
            f"Codec {info.codec}: unusual for a phone or camera original (they record H.264/HEVC); the file "
            "was probably produced or converted by software."
        )


def _file_section(report: _Report, media: Media) -> None:
    digests = file_digests(media.path, ("md5", "sha1"))
    report.add(
        "File",
        [
            ("Name", media.name),
            ("Size", f"{media.size:,} bytes"),
            ("Format", media.format),
            ("Dimensions", f"{media.width}×{media.height}"),
            ("Colour mode", media.mode),
            ("MD5", digests["md5"]),
            ("SHA-1", digests["sha1"]),
            ("SHA-256", media.sha256),
            *(("Warning", warning) for warning in media.warnings),
        ],
    )
    report.findings += [
        f"{w[0].upper()}{w[1:]}. Find out why before relying on the file name."
        for w in media.warnings
        if "extension" in w
    ]


def _exif_section(report: _Report, im: Image.Image, fmt: str) -> ExifBlock | None:
    block = exif.read_exif(im)
    if block is None:
        report.findings.append(_no_exif_finding(fmt))
        return None
    if block.problems:
        report.findings.append(
            f"EXIF block is malformed: {'; '.join(block.problems[:5])}. The tags shown are those that "
            "could be read; damage comes from faulty software or from editing the metadata by hand."
        )
    report.add("Camera", exif.camera_rows(block))
    report.add("EXIF (all tags)", exif.all_tags_rows(block))
    if any(block.ifds.values()) and not _camera_name(block):
        report.findings.append(
            "The EXIF names no camera (no Make/Model): the file was probably written by software "
            "rather than coming straight from a camera."
        )
    modified = exif.text_tag(block, ExifTags.Base.DateTime)
    original = exif.text_tag(block, ExifTags.Base.DateTimeOriginal)
    if modified and original and modified != original:
        report.findings.append(
            f"The modification date (DateTime {modified}) differs from the capture date "
            f"(DateTimeOriginal {original}): the file was probably saved again after capture, e.g. by an "
            "editor (some phones also update it after in-camera edits)."
        )
    return block


def _no_exif_finding(fmt: str) -> str:
    if fmt in ("JPEG", "MPO"):
        return (
            "No EXIF metadata at all: it was probably stripped, as social networks, messaging apps and "
            "re-saving or 'export for web' do. That removes camera and date facts but proves nothing "
            "about the content."
        )
    return (
        f"No EXIF metadata, which is common for {fmt} files (screenshots, exports, web graphics); it is "
        "unusual only if the file is presented as a camera original."
    )


def _xmp_section(report: _Report, data: bytes) -> dict[str, str]:
    packet = xmp.find_packet(data)
    if packet is None:
        return {}
    rows = xmp.parse_xmp(packet)
    report.add("XMP", rows)
    source_type = xmp.digital_source_type(packet)
    if source_type:
        report.markers.append(generators.source_type_marker(source_type))
    values = dict(rows)
    events = {m.group(1) for key in values if (m := HISTORY_ENTRY.match(key))}
    if events:
        actions = _distinct(
            v for k, v in values.items() if HISTORY_ENTRY.match(k) and k.endswith("/stEvt:action")
        )
        report.findings.append(
            f"The XMP edit history (xmpMM:History) records {len(events)} event(s) "
            f"(actions: {actions or 'n/a'}): the file went through software that logs edits; the log "
            "is written by that software and may be incomplete."
        )
    if any(key.startswith("photoshop:") for key in values):
        report.findings.append(
            "The XMP contains Adobe Photoshop properties (photoshop: namespace): the file passed through "
            "Photoshop or a tool that writes that namespace (e.g. for captions)."
        )
    if any(key.startswith("xmpMM:DerivedFrom") for key in values):
        report.findings.append(
            "The XMP says this file was derived from another document (xmpMM:DerivedFrom): it is probably "
            "an exported or edited copy; the original may exist elsewhere."
        )
    return values


def _gps_section(report: _Report, block: ExifBlock | None, xmp_values: dict[str, str]) -> None:
    fix = gps.gps_from_exif(block.ifds.get("GPS", {})) if block else None
    fix = fix or gps.gps_from_xmp(xmp_values)
    if fix is None:
        return
    report.add("GPS", gps.gps_rows(fix))
    report.findings.append(
        f"GPS coordinates are embedded ({fix.latitude:.6f}, {fix.longitude:.6f}; from {fix.source}): a lead "
        "to where the picture was taken, and personal data to protect. Coordinates are easy to add or "
        "edit, so corroborate them."
    )


def _iptc_section(report: _Report, im: Image.Image) -> None:
    report.add("IPTC", iptc.read_iptc(im))


def _jpeg_section(report: _Report, im: Image.Image, data: bytes, block: ExifBlock | None) -> None:
    segments, stopped = jpeg.walk_markers(data)
    rows = jpeg.jpeg_rows(im, segments)
    report.add("JPEG", rows + jpeg.segment_rows(segments))
    if stopped:
        report.findings.append(
            f"The JPEG marker structure is irregular ({stopped}): some encoders write such files, but "
            "damage or splicing of file parts are other explanations."
        )
    comments = [s.detail for s in segments if s.marker == 0xFE and s.detail][:3]
    report.findings += [
        f'The JPEG comment reads "{text}": comments are usually written by the encoding software.'
        for text in comments
    ]
    adobe = _distinct(s.detail for s in segments if s.detail in jpeg.ADOBE_SEGMENTS)
    if adobe:
        report.findings.append(
            f"Adobe-specific JPEG segments are present ({adobe}): the file was probably written by Adobe "
            "software or by a tool that edits IPTC captions."
        )
    tables = dict(getattr(im, "quantization", None) or {})
    report.findings += [
        f"{problem[0].upper()}{problem[1:]}: decoders read it anyway, but its quality estimate and the "
        "double-JPEG analyses (ADQ, NADQ) cannot use it."
        for slot, table in sorted(tables.items()) if (problem := jpeg.table_problem(slot, table))
    ]
    estimate = jpeg.estimate_quality(tables)
    if estimate is not None:
        report.findings += _quantisation_findings(estimate, block)


def _quantisation_findings(estimate: jpeg.QualityEstimate, block: ExifBlock | None) -> list[str]:
    camera = _camera_name(block)
    if estimate.deviation == 0 and camera:
        return [
            f"The JPEG uses standard IJG (libjpeg) quantisation tables at quality {estimate.quality} "
            f"although the EXIF names a camera ({camera}): most cameras use their own tables, so the "
            "file may have been re-encoded by software that kept the metadata. Some phones do use IJG "
            "tables: compare with reference images from the same model."
        ]
    if estimate.deviation == 0:
        return []
    source = f"consistent with the firmware of the {camera} named in EXIF" if camera else "no camera is named"
    return [
        f"The JPEG uses non-standard quantisation tables (closest IJG quality ≈ {estimate.quality}); such "
        f"tables come from camera firmware or from editing software ({source}). Compare with reference "
        "images from the claimed device."
    ]


def _thumbnail_section(report: _Report, block: ExifBlock, media: Media, compare: bool) -> None:
    data = exif.thumbnail_jpeg(block)
    if data is None:
        return
    thumb = thumbnail.decode_thumbnail(data)
    report.images["thumbnail"] = thumb
    if not compare:
        size = f"{thumb.shape[1]}×{thumb.shape[0]}"
        report.add("Thumbnail", [("Thumbnail size", size), ("Comparison", "off (parameter)")])
        return
    result = thumbnail.compare(thumb, media.pixels())
    report.add("Thumbnail", result.rows())
    if result.aspect_differs:
        report.findings.append(
            f"The embedded EXIF thumbnail has another aspect ratio ({result.thumbnail_aspect:.3f}) than the "
            f"image ({result.image_aspect:.3f}): the image was probably cropped, rotated or resized after "
            "the thumbnail was made; the thumbnail may show the original framing."
        )
    elif result.mismatch:
        report.findings.append(
            f"The embedded EXIF thumbnail does not match the image (PSNR {result.psnr_db:.1f} dB, below "
            f"{thumbnail.MIN_PSNR_DB:.0f} dB): the image was probably edited after capture while the old "
            "thumbnail was kept; look at the thumbnail, it may show the original content."
        )


def _software_findings(report: _Report, block: ExifBlock | None, xmp_values: dict[str, str]) -> None:
    """Name any editing program mentioned by EXIF, XMP (creator tool, history) or IPTC."""
    named = [
        ("EXIF Software", exif.text_tag(block, ExifTags.Base.Software)),
        ("xmp:CreatorTool", xmp_values.get("xmp:CreatorTool", "")),
        ("IPTC Originating program", report.rows("IPTC").get("Originating program", "")),
        *(("XMP history", v) for k, v in xmp_values.items() if k.endswith("/stEvt:softwareAgent")),
    ]
    editors = _distinct(f"{source}: '{value}'" for source, value in named if _names_editor(value))
    if editors:
        report.findings.append(
            f"Editing software is named in the metadata ({editors}): the file was at least re-saved by that "
            "program; look for what was changed."
        )


def _generator_section(report: _Report, im: Image.Image, block: ExifBlock | None, xmp_values: dict[str, str]) -> None:
    """Generator names and generation settings in software and comment fields and in PNG text chunks."""
    fields = [
        ("EXIF Software", exif.text_tag(block, ExifTags.Base.Software)),
        ("EXIF UserComment", report.rows("EXIF (all tags)").get("Exif:UserComment", "")),
        ("XMP xmp:CreatorTool", xmp_values.get("xmp:CreatorTool", "")),
        ("IPTC Originating program", report.rows("IPTC").get("Originating program", "")),
        *((f"XMP {k}", v) for k, v in xmp_values.items() if k.endswith("/stEvt:softwareAgent")),
    ]
    texts = {k: v for k, v in im.info.items() if isinstance(v, str) and k != "XML:com.adobe.xmp"}
    report.markers += generators.generator_markers(fields, texts if im.format == "PNG" else {})


def _camera_name(block: ExifBlock | None) -> str:
    """ "Make Model" from EXIF ("Canon EOS 5D", not "Canon Canon EOS 5D"), or "" if neither is set."""
    make, model = exif.text_tag(block, ExifTags.Base.Make), exif.text_tag(block, ExifTags.Base.Model)
    if model.lower().startswith(make.lower()):
        return model
    return f"{make} {model}".strip()


def _names_editor(software: str) -> bool:
    lowered = software.lower()
    return any(editor in lowered for editor in EDITORS)


def _distinct(values: Iterable[str]) -> str:
    """Unique values in first-seen order, joined for a sentence."""
    return ", ".join(dict.fromkeys(values))
