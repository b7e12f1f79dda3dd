"""Damaged metadata for the robustness corpus: EXIF, GPS, XMP, IPTC, ICC and JUMBF/C2PA blocks built
byte by byte (bad offsets, loops, huge counts, zero denominators, entities, unclosed packets, broken
boxes), each put into an otherwise valid image.

The EXIF blocks are written by a small TIFF writer of our own (`Tag`, `tiff`), because the damage is
in exactly what a well-behaved writer such as Pillow's refuses to produce.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms

from plugins.metadata.credentials import OFFLINE
from tests.c2pa_signing import GENERATED, jpeg_segments, make_signer, sign

Files = dict[str, bytes]

BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, SRATIONAL = 1, 2, 3, 4, 5, 7, 10
EXIF_IFD, GPS_IFD, MAKE, ORIENTATION, DATE_TIME_ORIGINAL = 0x8769, 0x8825, 0x010F, 0x0112, 0x9003
THUMBNAIL_OFFSET, THUMBNAIL_LENGTH = 0x0201, 0x0202


# -- building blocks ------------------------------------------------------------------------------------


def pixels(base: Files) -> np.ndarray:
    """The corpus photo, decoded from its lossless copy."""
    return np.asarray(Image.open(io.BytesIO(base["base.png"])).convert("RGB"))


def encoded(image: Image.Image | np.ndarray, fmt: str, **options: object) -> bytes:
    """`image` saved by Pillow in format `fmt`."""
    im = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return buffer.getvalue()


def plain_jpeg(base: Files) -> bytes:
    """The corpus photo as a JPEG of quality 90 with no metadata: what each damaged block is put into."""
    return encoded(pixels(base), "JPEG", quality=90)


def with_segment(jpeg: bytes, marker: int, *payloads: bytes) -> bytes:
    """`jpeg` with one segment per payload (marker 0xE1 = APP1 …) right after its start marker."""
    segments = b"".join(bytes([0xFF, marker]) + struct.pack(">H", len(p) + 2) + p for p in payloads)
    return jpeg[:2] + segments + jpeg[2:]


def png_chunk(png: bytes, kind: bytes, payload: bytes) -> bytes:
    """`png` with a chunk (CRC correct) inserted just before its first IDAT."""
    at = png.index(b"IDAT") - 4
    return png[:at] + struct.pack(">I", len(payload)) + kind + payload + struct.pack(
        ">I", zlib.crc32(kind + payload)) + png[at:]


@dataclass(frozen=True)
class Tag:
    """One IFD entry: `data` is placed inline (4 bytes or fewer) or after the IFD; `offset`, when
    given, is written as the value field as it is (a bad offset, a sub-IFD pointer)."""

    tag: int
    kind: int
    count: int
    data: bytes = b""
    offset: int | None = None


def text(tag: int, value: bytes | str, terminated: bool = True) -> Tag:
    raw = value.encode() if isinstance(value, str) else value
    raw += b"\0" if terminated else b""
    return Tag(tag, ASCII, len(raw), raw)


def shorts(tag: int, *values: int) -> Tag:
    return Tag(tag, SHORT, len(values), struct.pack(f"<{len(values)}H", *values))


def rationals(tag: int, *pairs: tuple[int, int], kind: int = RATIONAL) -> Tag:
    code = "i" if kind == SRATIONAL else "I"
    return Tag(tag, kind, len(pairs), b"".join(struct.pack(f"<{code}{code}", n, d) for n, d in pairs))


def ifd(tags: list[Tag], at: int, next_ifd: int = 0, count: int | None = None) -> bytes:
    """An IFD placed at offset `at` of the TIFF block (`count` overrides the entry count it states)."""
    data_at = at + 2 + 12 * len(tags) + 4
    entries, extra = b"", b""
    for t in tags:
        if t.offset is not None:
            value = struct.pack("<I", t.offset)
        elif len(t.data) <= 4:
            value = t.data.ljust(4, b"\0")
        else:
            value = struct.pack("<I", data_at + len(extra))
            extra += t.data + b"\0" * (len(t.data) % 2)
        entries += struct.pack("<HHI", t.tag, t.kind, t.count) + value
    return struct.pack("<H", len(tags) if count is None else count) + entries + struct.pack("<I", next_ifd) + extra


def tiff(ifd0: list[Tag], exif: list[Tag] | None = None, gps: list[Tag] | None = None,
         ifd1: list[Tag] | None = None, tail: bytes = b"") -> bytes:
    """A little-endian TIFF block: IFD0 at 8, then (pointed to from IFD0) the Exif and GPS IFDs, then
    IFD1 (the thumbnail's) as IFD0's next IFD, then `tail` (thumbnail bytes)."""
    subs = {tag: tags for tag, tags in ((EXIF_IFD, exif), (GPS_IFD, gps)) if tags is not None}
    placeholders = [Tag(tag, LONG, 1, offset=0) for tag in subs]  # a pointer's value does not change IFD0's size
    at, offsets, blocks = 8 + len(ifd(ifd0 + placeholders, 8)), {}, []
    for tag, tags in subs.items():
        offsets[tag] = at
        blocks.append(ifd(tags, at))
        at += len(blocks[-1])
    if ifd1 is not None:
        blocks.append(ifd(ifd1, at))
    pointers = [Tag(tag, LONG, 1, offset=offsets[tag]) for tag in subs]
    first = ifd(ifd0 + pointers, 8, next_ifd=at if ifd1 is not None else 0)
    return b"II*\x00" + struct.pack("<I", 8) + first + b"".join(blocks) + tail


def exif_jpeg(base: Files, block: bytes) -> bytes:
    """The corpus photo as a JPEG whose APP1 holds `block` as its EXIF."""
    return with_segment(plain_jpeg(base), 0xE1, b"Exif\x00\x00" + block)


# -- EXIF -------------------------------------------------------------------------------------------------


def damaged_exif(base: Files) -> Files:
    """Offsets past the end or back into the header, loops between IFDs, counts of 4 billion, unknown
    types, dates and orientations that cannot be, zero denominators, thumbnails that are not there."""
    rng = np.random.default_rng(1402)
    make = text(MAKE, "Workbench")
    exif_at_zero = Tag(EXIF_IFD, LONG, 1, offset=0)  # the size of IFD0 with its pointer: where the Exif IFD starts
    thumb = encoded(pixels(base)[::8, ::8], "JPEG")
    blocks = {
        "ifd0_past_end": b"II*\x00" + struct.pack("<I", 0xFFFFFF00),
        "ifd0_at_zero": b"II*\x00" + struct.pack("<I", 0) + ifd([make], 8),
        "entry_count_huge": b"II*\x00" + struct.pack("<I", 8) + ifd([make, shorts(ORIENTATION, 1)], 8, count=0xFFFF),
        "tag_count_huge": tiff([Tag(MAKE, ASCII, 0xFFFFFFFF, offset=8)]),
        "value_past_end": tiff([Tag(MAKE, ASCII, 100, offset=0x7FFFFFF0)]),
        "next_ifd_loop": b"II*\x00" + struct.pack("<I", 8) + ifd([make], 8, next_ifd=8),
        "exif_ifd_loop": tiff([make, Tag(EXIF_IFD, LONG, 1, offset=8)]),
        "exif_ifd_self": tiff([make], exif=[Tag(EXIF_IFD, LONG, 1, offset=8 + len(ifd([make, exif_at_zero], 8)))]),
        "gps_ifd_in_header": tiff([make, Tag(GPS_IFD, LONG, 1, offset=2)]),
        "unknown_types": tiff([Tag(MAKE, 0, 4, b"abcd"), Tag(0x0110, 99, 1000, offset=8), Tag(0x0131, 13, 2, b"xy")]),
        "count_zero": tiff([Tag(MAKE, ASCII, 0), Tag(ORIENTATION, SHORT, 0), Tag(0x011A, RATIONAL, 0)]),
        "text_not_terminated": tiff([text(MAKE, b"\xff\xfeCanon \xe9\x80", terminated=False)]),
        "text_not_utf8": tiff([text(MAKE, b"\xc3\x28\xa0\xa1"), text(0x0131, bytes(range(1, 255)))]),
        "dates_impossible": tiff([make], exif=[text(DATE_TIME_ORIGINAL, "9999:99:99 99:99:99"),
                                               text(0x9004, "0000:00:00 00:00:00"), text(0x0132, ""),
                                               text(0x9010, "+99:99"), text(0x9290, "-1")]),
        "orientation_zero": tiff([shorts(ORIENTATION, 0)]),
        "orientation_nine": tiff([shorts(ORIENTATION, 9)]),
        "orientation_many": tiff([shorts(ORIENTATION, 65535, 6, 3)]),
        "resolution_zero_denominators": tiff([rationals(0x011A, (72, 0)), rationals(0x011B, (0, 0)),
                                              shorts(0x0128, 7)]),
        "exposure_zero_denominators": tiff([make], exif=[rationals(0x829A, (1, 0)), rationals(0x829D, (0, 0)),
                                                         rationals(0x920A, (50, 0)),
                                                         rationals(0x9204, (-3, 0), kind=SRATIONAL)]),
        "wrong_types": tiff([make], exif=[text(0x829A, "1/250"), Tag(0x829D, SHORT, 0),
                                          rationals(0x8827, (100, 1)), text(0xA002, "wide")]),
        "makernote_huge": tiff([make], exif=[Tag(0x927C, UNDEFINED, 60000, rng.bytes(60000))]),
        "many_entries": b"II*\x00" + struct.pack("<I", 8) + ifd(
            [Tag(int(t), int(k), 1, rng.bytes(4)) for t, k in zip(rng.integers(0, 65536, 4000),
                                                                   rng.integers(1, 13, 4000), strict=True)], 8),
        "thumbnail_past_end": tiff([make], ifd1=[Tag(THUMBNAIL_OFFSET, LONG, 1, offset=0x7FFFFFFF),
                                                 Tag(THUMBNAIL_LENGTH, LONG, 1, offset=5000)]),
        "thumbnail_length_huge": _with_thumbnail(make, thumb, length=0xFFFFFFFF),
        "thumbnail_garbage": _with_thumbnail(make, rng.bytes(700)),
        "thumbnail_truncated": _with_thumbnail(make, thumb[: len(thumb) // 2]),
        "thumbnail_of_another_picture": _with_thumbnail(make, encoded(pixels(base)[::-8, ::-8], "JPEG")),
        "byte_order_bad": b"XX*\x00" + struct.pack("<I", 8) + ifd([make], 8),
        "bigtiff_magic": b"II+\x00" + struct.pack("<I", 8) + ifd([make], 8),
        "empty": b"",
    }
    out = {f"exif_{name}.jpg": exif_jpeg(base, block) for name, block in blocks.items()}
    plain = plain_jpeg(base)
    cut = with_segment(plain, 0xE1, b"Exif\x00\x00" + tiff([make]))
    at = cut.index(b"Exif") - 2
    out["exif_segment_longer_than_its_file.jpg"] = cut[:at] + b"\xff\xff" + cut[at + 2 : at + 40]
    out["exif_two_segments_disagree.jpg"] = with_segment(plain, 0xE1, b"Exif\x00\x00" + tiff([text(MAKE, "One")]),
                                                         b"Exif\x00\x00" + tiff([text(MAKE, "Other")]))
    loop = b"II*\x00" + struct.pack("<I", 8) + ifd([make], 8, next_ifd=8)
    out["exif_loop.png"] = png_chunk(base["base.png"], b"eXIf", loop)
    out["exif_loop.webp"] = encoded(pixels(base), "WEBP", exif=b"Exif\x00\x00" + loop)
    out["exif_ifd_past_end.tif"] = encoded(pixels(base), "TIFF", tiffinfo={EXIF_IFD: 0x7FFFFFF0})
    return out


def _with_thumbnail(make: Tag, thumbnail: bytes, length: int | None = None) -> bytes:
    """A TIFF block whose IFD1 points at `thumbnail`, stored right after the IFDs."""
    def block(offset: int) -> bytes:
        return tiff([make], ifd1=[Tag(THUMBNAIL_OFFSET, LONG, 1, offset=offset),
                                  Tag(THUMBNAIL_LENGTH, LONG, 1, offset=len(thumbnail) if length is None else length)],
                    tail=thumbnail)

    return block(len(block(0)) - len(thumbnail))


# -- GPS --------------------------------------------------------------------------------------------------


def damaged_gps(base: Files) -> Files:
    """Positions off the globe, references that are no direction, zero denominators, the wrong types
    and counts, times and dates that cannot be; and GPS in XMP that is not a coordinate."""
    north, east = text(0x0001, "N"), text(0x0003, "E")

    def deg(tag: int, d: int, m: int = 0, s: int = 0) -> Tag:
        return rationals(tag, (d, 1), (m, 1), (s, 1))

    ifds = {
        "latitude_200": [north, deg(2, 200), east, deg(4, 10)],
        "longitude_500_south_west": [text(1, "S"), deg(2, 45), text(3, "W"), deg(4, 500, 99, 99)],
        "zero_denominators": [north, rationals(2, (45, 0), (0, 0), (0, 0)), east, rationals(4, (0, 0), (1, 0), (2, 0))],
        "huge_numerators": [north, rationals(2, (0xFFFFFFFF, 1), (0xFFFFFFFF, 1), (0xFFFFFFFF, 1)), east,
                            rationals(4, (1, 0xFFFFFFFF), (0, 1), (0, 1))],
        "references_not_directions": [text(1, "X"), deg(2, 10), Tag(3, ASCII, 0), deg(4, 10)],
        "reference_missing": [deg(2, 48, 51, 24), deg(4, 2, 21, 3)],
        "counts_short": [north, rationals(2, (45, 1)), east, Tag(4, RATIONAL, 3, offset=0x7FFFFF00)],
        "wrong_types": [north, text(2, "45.5"), east, shorts(4, 10, 20, 30)],
        "negative_srationals": [north, rationals(2, (-45, 1), (-30, 1), (0, 1), kind=SRATIONAL), east,
                                rationals(4, (-200, 1), (0, 1), (0, 1), kind=SRATIONAL)],
        "altitude_zero_denominator": [north, deg(2, 45), east, deg(4, 7), Tag(5, BYTE, 1, b"\x07"),
                                      rationals(6, (1, 0))],
        "time_impossible": [north, deg(2, 45), east, deg(4, 7), rationals(7, (25, 1), (61, 1), (99, 0)),
                            text(0x001D, "2024:13:45")],
        "datestamp_garbage": [north, deg(2, 45), east, deg(4, 7), text(0x001D, b"\xff\xfe\x00\x01 not a date")],
        "version_weird_and_empty": [Tag(0, BYTE, 4, b"\xff\xff\xff\xff")],
        "no_entries": [],
    }
    out = {f"gps_{name}.jpg": exif_jpeg(base, tiff([text(MAKE, "Workbench")], gps=tags)) for name, tags in ifds.items()}
    out["gps_pointer_past_end.jpg"] = exif_jpeg(base, tiff([Tag(GPS_IFD, LONG, 1, offset=0xFFFFFFF0)]))
    out["gps_pointer_loop.jpg"] = exif_jpeg(base, tiff([Tag(GPS_IFD, LONG, 1, offset=8)]))
    packet = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              '<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="north-ish" '
              'exif:GPSLongitude="999,99.9999W extra" exif:GPSAltitude="1/0" exif:GPSTimeStamp="yesterday"/>'
              "</rdf:RDF></x:xmpmeta>")
    out["gps_xmp_not_coordinates.jpg"] = xmp_jpeg(base, packet.encode())
    return out


# -- XMP --------------------------------------------------------------------------------------------------

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
RDF_OPEN = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
            'xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#">')
RDF_CLOSE = "</rdf:Description></rdf:RDF></x:xmpmeta>"


def xmp_jpeg(base: Files, packet: bytes) -> bytes:
    return with_segment(plain_jpeg(base), 0xE1, XMP_HEADER + packet)


def itxt(keyword: bytes, value: bytes, compressed: bool = False) -> bytes:
    return keyword + b"\x00" + bytes([compressed, 0]) + b"\x00\x00" + value


def damaged_xmp(base: Files) -> Files:
    """Nesting thousands deep, entity bombs and external entities (a file and a URL), unclosed and
    mismatched packets, bytes that are not the declared encoding, huge values and lists."""
    laughs = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10))
    bomb_dtd = f'<?xml version="1.0"?><!DOCTYPE x:xmpmeta [<!ENTITY l0 "lol">{laughs}]>'
    deep = "<dc:a>" * 4000 + "x" + "</dc:a>" * 4000  # 40 times the recursion limit, in one APP1
    packets = {
        "deep_nesting": RDF_OPEN + deep + RDF_CLOSE,
        "billion_laughs": bomb_dtd + RDF_OPEN + "<dc:title>&l9;</dc:title>" + RDF_CLOSE,
        "entity_declared_inside": RDF_OPEN.replace("<rdf:RDF", '<!ENTITY e "boom"><rdf:RDF') + "&e;" + RDF_CLOSE,
        "external_entity_url": '<!DOCTYPE x [<!ENTITY e SYSTEM "http://xmp.invalid/entity">]>' + RDF_OPEN
                               + "<dc:title>&e;</dc:title>" + RDF_CLOSE,
        "external_entity_file": '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + RDF_OPEN
                                + "<dc:title>&e;</dc:title>" + RDF_CLOSE,
        "unclosed": RDF_OPEN + "<dc:title><rdf:Alt><rdf:li>never closed",
        "mismatched_tags": RDF_OPEN + "<dc:title></dc:creator>" + RDF_CLOSE,
        "unbound_prefix": RDF_OPEN + "<nope:title>x</nope:title>" + RDF_CLOSE,
        "huge_attribute": RDF_OPEN.replace("<rdf:Description", f'<rdf:Description dc:format="{"A" * 60000}"')
                          + RDF_CLOSE,
        "many_list_items": RDF_OPEN + "<dc:subject><rdf:Bag>" + "<rdf:li>k</rdf:li>" * 3000 + "</rdf:Bag></dc:subject>"
                           + RDF_CLOSE,
        "history_garbage": RDF_OPEN + "<xmpMM:History><rdf:Seq>" + '<rdf:li stEvt:action="saved" stEvt:when="never" '
                           'stEvt:softwareAgent="&#0;"/>' * 2 + "</rdf:Seq></xmpMM:History>" + RDF_CLOSE,
        "only_wrapper": '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
                        "</x:xmpmeta><?xpacket end=\"w\"?>",
        "no_rdf": '<x:xmpmeta xmlns:x="adobe:ns:meta/"><foo>bar</foo></x:xmpmeta>',
    }
    out = {f"xmp_{name}.jpg": xmp_jpeg(base, packet.encode()) for name, packet in packets.items()}
    out["xmp_not_utf8.jpg"] = xmp_jpeg(base, (RDF_OPEN + "<dc:title>caf\udce9 \udcff</dc:title>" + RDF_CLOSE).encode(
        "utf-8", "surrogateescape"))
    out["xmp_utf16.jpg"] = xmp_jpeg(base, ("\ufeff" + RDF_OPEN + RDF_CLOSE).encode("utf-16-le"))
    extension = b"http://ns.adobe.com/xmp/extension/\x00" + b"0" * 32 + struct.pack(">II", 0xFFFFFFFF, 0xFFFFFFF0)
    out["xmp_extended_bad_offsets.jpg"] = with_segment(encoded(pixels(base), "JPEG"), 0xE1,
                                                       XMP_HEADER + (RDF_OPEN + RDF_CLOSE).encode(),
                                                       extension + b"<x:xmpmeta")
    png = base["base.png"]
    out["xmp_deep_nesting.png"] = png_chunk(png, b"iTXt", itxt(b"XML:com.adobe.xmp", (
        RDF_OPEN + "<dc:a>" * 30000 + "</dc:a>" * 30000 + RDF_CLOSE).encode()))
    out["xmp_compressed_garbage.png"] = png_chunk(png, b"iTXt", itxt(b"XML:com.adobe.xmp", b"\x78\x9c garbage", True))
    out["xmp_truncated.png"] = png_chunk(png, b"iTXt", itxt(b"XML:com.adobe.xmp", (RDF_OPEN + "<dc:ti").encode()))
    out["xmp_unclosed.webp"] = encoded(pixels(base), "WEBP", xmp=(RDF_OPEN + "<dc:title>").encode())
    return out


# -- IPTC -------------------------------------------------------------------------------------------------


def resource(data: bytes, resource_id: int = 0x0404, name: bytes = b"\x00\x00", size: int | None = None) -> bytes:
    """One Photoshop image resource (8BIM), 0x0404 being IPTC-NAA."""
    stated = len(data) if size is None else size
    return b"8BIM" + struct.pack(">H", resource_id) + name + struct.pack(">I", stated) + data + b"\0" * (len(data) % 2)


def dataset(record: int, number: int, value: bytes, length: int | None = None) -> bytes:
    return b"\x1c" + bytes([record, number]) + struct.pack(">H", len(value) if length is None else length) + value


def damaged_iptc(base: Files) -> Files:
    """IPTC datasets and Photoshop resources whose lengths overrun, with extended lengths of 4 GB,
    markers and records that do not exist, text in no declared character set, thousands of keywords."""
    caption = dataset(2, 120, b"A caption")
    resources = {
        "length_past_end": resource(caption + dataset(2, 25, b"short", length=0x7FFF)),
        "extended_length_huge": resource(b"\x1c\x02\x78\x80\x04" + struct.pack(">I", 0xFFFFFFFF) + b"x"),
        "extended_length_zero_bytes": resource(b"\x1c\x02\x78\x80\x00" + b"x"),
        "marker_missing": resource(b"\x1d\x02\x78\x00\x04abcd" + caption),
        "records_out_of_range": resource(dataset(0, 0, b"zero") + dataset(255, 255, b"max") + dataset(9, 10, b"x")),
        "not_utf8_declared_utf8": resource(dataset(1, 90, b"\x1b%G") + dataset(2, 120, b"caf\xe9 \xff\xfe")),
        "resource_size_past_end": resource(caption, size=0xFFFFFF),
        "resource_name_past_end": resource(caption, name=b"\xff" + b"n" * 10),
        "many_keywords": resource(b"".join(dataset(2, 25, f"k{n}".encode()) for n in range(5000))),
        "empty_values": resource(dataset(2, 120, b"") * 50),
    }
    plain = plain_jpeg(base)
    out = {f"iptc_{name}.jpg": with_segment(plain, 0xED, b"Photoshop 3.0\x00" + data) for name, data in
           resources.items()}
    out["iptc_no_8bim.jpg"] = with_segment(plain, 0xED, b"Photoshop 3.0\x00" + b"garbage, not a resource")
    out["iptc_tiff_tag_garbage.tif"] = encoded(pixels(base), "TIFF", tiffinfo={33723: b"\x1c\x02\x78\xff\xff"})
    return out


# -- ICC --------------------------------------------------------------------------------------------------


def icc_segment(data: bytes, sequence: int = 1, count: int = 1) -> bytes:
    return b"ICC_PROFILE\x00" + bytes([sequence, count]) + data


def damaged_icc(base: Files) -> Files:
    """ICC profiles that are garbage, cut short, state sizes and tag counts of 4 billion, or arrive in
    chunks that are missing, repeated or numbered zero."""
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    srgb = srgb[:24] + struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + srgb[36:]  # a fixed creation time: the same bytes
    garbage = np.random.default_rng(1403).bytes(500)
    plain = plain_jpeg(base)
    half = len(srgb) // 2
    segments = {
        "garbage": [icc_segment(garbage)],
        "truncated": [icc_segment(srgb[:half])],
        "size_field_huge": [icc_segment(struct.pack(">I", 0xFFFFFFFF) + srgb[4:])],
        "tag_count_huge": [icc_segment(srgb[:128] + struct.pack(">I", 0xFFFFFFFF) + srgb[132:])],
        "chunk_missing": [icc_segment(srgb[:half], 1, 3), icc_segment(srgb[half:], 3, 3)],
        "chunk_zero": [icc_segment(srgb, 0, 0)],
        "chunk_repeated": [icc_segment(srgb[:half], 1, 2), icc_segment(srgb[:half], 1, 2),
                           icc_segment(srgb[half:], 2, 2)],
        "count_disagrees": [icc_segment(srgb[:half], 1, 2), icc_segment(srgb[half:], 2, 5)],
    }
    out = {f"icc_{name}.jpg": with_segment(plain, 0xE2, *parts) for name, parts in segments.items()}
    png = base["base.png"]
    out["icc_bad_zlib.png"] = png_chunk(png, b"iCCP", b"icc\x00\x00\x78\x9cnot zlib")
    out["icc_garbage_profile.png"] = png_chunk(png, b"iCCP", b"icc\x00\x00" + zlib.compress(garbage))
    out["icc_garbage.webp"] = encoded(pixels(base), "WEBP", icc_profile=garbage)
    out["icc_garbage.tif"] = encoded(pixels(base), "TIFF", icc_profile=garbage)
    return out


# -- JUMBF / C2PA ---------------------------------------------------------------------------------------

C2PA_UUID = bytes.fromhex("00110010800000aa00389b71")
"""The ISO tail shared by C2PA's box-type UUIDs (the first four bytes name the box: c2pa, c2ma, c2cl…)."""


def box(kind: bytes, payload: bytes, size: int | None = None) -> bytes:
    return struct.pack(">I", len(payload) + 8 if size is None else size) + kind + payload


def description(label: bytes, kind: bytes = b"c2pa") -> bytes:
    """A JUMBF description box (jumd): type UUID, toggles (label present), the label."""
    return box(b"jumd", kind + C2PA_UUID + b"\x03" + label + b"\x00")


def superbox(label: bytes, *children: bytes, kind: bytes = b"c2pa") -> bytes:
    return box(b"jumb", description(label, kind) + b"".join(children))


def app11(payload: bytes, instance: int = 1, sequence: int = 1) -> bytes:
    """One APP11 segment of a JPEG-XT box (common identifier JP, box instance, packet sequence)."""
    return b"JP" + struct.pack(">HI", instance, sequence) + payload


def damaged_c2pa(base: Files) -> Files:
    """JUMBF boxes with lengths that lie (zero, too small, 64-bit huge), nesting a thousand deep, a
    description of garbage, a C2PA store with no manifest or a claim of garbage CBOR, segments out of sequence;
    then manifests signed by a throw-away signer and damaged at fixed places, and one kept at a URL
    (never fetched: the test watches for the attempt)."""
    rng = np.random.default_rng(1404)
    cbor = box(b"cbor", rng.bytes(64))
    deep = b""
    for _ in range(1500):
        deep = box(b"jumb", box(b"jumd", b"json" + C2PA_UUID + b"\x00") + deep)
    stores = {
        "bogus_length": box(b"jumb", description(b"c2pa"), size=0xFFFFFF),
        "length_zero": box(b"jumb", description(b"c2pa"), size=0),
        "length_too_small": box(b"jumb", description(b"c2pa"), size=4),
        "length_64bit_huge": struct.pack(">I", 1) + b"jumb" + struct.pack(">Q", 2**64 - 1) + description(b"c2pa"),
        "nested_deep": deep,
        "description_garbage": box(b"jumb", box(b"jumd", rng.bytes(3)) + cbor),
        "store_without_manifests": superbox(b"c2pa"),
        "manifest_without_claim": superbox(b"c2pa", superbox(b"urn:uuid:0", superbox(b"c2pa.assertions", cbor,
                                                                                     kind=b"c2as"), kind=b"c2ma")),
        "claim_garbage_cbor": superbox(b"c2pa", superbox(b"urn:uuid:1", superbox(b"c2pa.claim", cbor, kind=b"c2cl"),
                                                         kind=b"c2ma")),
        "label_not_terminated": box(b"jumb", box(b"jumd", b"c2pa" + C2PA_UUID + b"\x03" + b"\xff" * 40)),
    }
    plain = plain_jpeg(base)
    out = {f"jumbf_{name}.jpg": with_segment(plain, 0xEB, app11(store)) for name, store in stores.items()}
    whole = superbox(b"c2pa", superbox(b"urn:uuid:2", cbor, kind=b"c2ma"))
    out["jumbf_segments_out_of_order.jpg"] = with_segment(plain, 0xEB, app11(whole[40:], sequence=2),
                                                          app11(whole[:40], instance=7, sequence=1))
    out["jumbf_garbage_in_png.png"] = png_chunk(base["base.png"], b"caBX", stores["claim_garbage_cbor"])
    out.update(_damaged_signed(plain, base["base.png"]))
    return out


def _damaged_signed(jpeg: bytes, png: bytes) -> Files:
    """Real manifests (the C2PA SDK signs them with a throw-away certificate), damaged at fixed places."""
    import c2pa

    signer = make_signer()
    signed = sign(jpeg, "image/jpeg", signer)
    segments = jpeg_segments(signed, 0xEB)
    start, end = segments[0][0], segments[-1][0] + len(segments[-1][1])
    out: Files = {}
    for n, fraction in enumerate((0.05, 0.3, 0.6, 0.95)):
        at = start + 4 + int((end - start - 4) * fraction)
        inverted = bytes(b ^ 0xFF for b in signed[at : at + 4])
        out[f"c2pa_signed_damaged{n}.jpg"] = signed[:at] + inverted + signed[at + 4 :]
    last = segments[-1][0]
    out["c2pa_signed_last_segment_cut.jpg"] = signed[:last] + signed[last + len(segments[-1][1]) // 2 :]
    out["c2pa_signed_store_twice.jpg"] = signed[:end] + signed[start:end] + signed[end:]
    signed_png = sign(png, "image/png", signer)
    at = signed_png.index(b"caBX") + 40
    out["c2pa_signed_damaged.png"] = signed_png[:at] + b"\xde\xad\xbe\xef" + signed_png[at + 4 :]
    builder = c2pa.Builder(GENERATED, context=c2pa.Context.from_dict(OFFLINE))
    builder.set_no_embed()
    builder.set_remote_url("http://c2pa.invalid/manifest.c2pa")
    remote = io.BytesIO()
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, signer.chain_pem, signer.key_pem, None)
    builder.sign(c2pa.Signer.from_info(info), "image/jpeg", io.BytesIO(jpeg), remote)
    out["c2pa_remote_manifest.jpg"] = remote.getvalue()
    return out
