"""Metadata analyzer: EXIF/GPS/XMP/IPTC reading, JPEG quality, thumbnail check, robustness."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image

from plugins.metadata import gps, iptc, jpeg, xmp
from plugins.metadata.analyzer import MetadataAnalyzer
from workbench.core.media import MediaError, open_media
from workbench.core.plugin import RunContext, run_analyzer
from workbench.core.results import Facts, Result, Status

SKIMAGE_DATA = Path(__file__).resolve().parents[1] / ".venv/lib/python3.11/site-packages/skimage/data"
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
EIFFEL = ((48.0, 51.0, 29.5), (2.0, 17.0, 40.2))  # 48.858194 N, 2.294500 E

XMP_PACKET = b"""<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmp:CreatorTool="Adobe Photoshop 25.0 (Windows)"
    photoshop:DateCreated="2024-01-02T10:00:00"
    exif:GPSLatitude="48,51.3N"
    exif:GPSLongitude="2,17.67W">
   <dc:subject><rdf:Bag><rdf:li>tower</rdf:li><rdf:li>paris</rdf:li></rdf:Bag></dc:subject>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Evening</rdf:li></rdf:Alt></dc:title>
   <xmpMM:History>
    <rdf:Seq>
     <rdf:li stEvt:action="created" stEvt:softwareAgent="Canon firmware"/>
     <rdf:li rdf:parseType="Resource">
      <stEvt:action>saved</stEvt:action>
      <stEvt:softwareAgent>Adobe Photoshop 25.0 (Windows)</stEvt:softwareAgent>
     </rdf:li>
    </rdf:Seq>
   </xmpMM:History>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


# -- fixtures built with Pillow ---------------------------------------------------------------


def picture(width: int = 96, height: int = 64, seed: int = 0) -> Image.Image:
    """A smooth, seed-dependent test picture (JPEG-friendly, so thumbnails compare well)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    channels = [
        np.sin(2 * np.pi * (fx * x + fy * y) + phase) for fx, fy, phase in rng.uniform(0.5, 2.5, (3, 3))
    ]
    return Image.fromarray((np.stack(channels, axis=-1) * 110 + 128).astype(np.uint8))


def jpeg_bytes(im: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def app_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def camera_exif(lat_ref: str = "N", lon_ref: str = "E") -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "Canon EOS 5D"
    exif[ExifTags.Base.Software] = "Adobe Photoshop 25.0 (Windows)"
    exif[ExifTags.Base.DateTime] = "2024:01:03 12:00:00"
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.DateTimeOriginal] = "2024:01:02 10:00:00"
    sub[ExifTags.Base.ExposureTime] = 1 / 250
    sub[ExifTags.Base.FNumber] = 2.8
    position = exif.get_ifd(ExifTags.IFD.GPSInfo)
    position.update({1: lat_ref, 2: EIFFEL[0], 3: lon_ref, 4: EIFFEL[1], 5: b"\x01", 6: 12.0})
    position.update({7: (10.0, 0.0, 5.0), 29: "2024:01:02"})
    return exif


def with_thumbnail(exif: Image.Exif, thumbnail: bytes, claimed_length: int | None = None) -> bytes:
    """EXIF bytes whose IFD1 points to `thumbnail`: Pillow itself never writes IFD1."""
    tiff = bytearray(exif.tobytes()[6:])  # Pillow's tobytes() starts with b"Exif\0\0"
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd0,) = struct.unpack_from(order + "I", tiff, 4)
    (count,) = struct.unpack_from(order + "H", tiff, ifd0)
    tiff += b"\x00" * (len(tiff) % 2)
    ifd1 = len(tiff)
    struct.pack_into(order + "I", tiff, ifd0 + 2 + 12 * count, ifd1)  # IFD0's "next IFD" pointer
    data_at = ifd1 + 2 + 2 * 12 + 4
    tiff += struct.pack(order + "H", 2)
    tiff += struct.pack(order + "HHII", 0x0201, 4, 1, data_at)
    tiff += struct.pack(order + "HHII", 0x0202, 4, 1, claimed_length or len(thumbnail))
    tiff += struct.pack(order + "I", 0) + thumbnail
    return b"Exif\x00\x00" + bytes(tiff)


def write(tmp_path: Path, data: bytes, name: str = "evidence.jpg") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def analyse(path: Path, **params: object) -> Facts:
    analyzer = MetadataAnalyzer()
    result = run_analyzer(analyzer, open_media(path), analyzer.params_from(params), RunContext())
    assert result.status is Status.OK, result.message
    assert isinstance(result, Facts)
    return result


def rows(result: Facts, title: str) -> dict[str, str]:
    table = result.table(title)
    assert table is not None, f"no {title!r} table; have {[t.title for t in result.tables]}"
    return dict(table.rows)


def findings_about(result: Facts, *words: str) -> list[str]:
    return [f for f in result.findings if all(w.lower() in f.lower() for w in words)]


# -- GPS ---------------------------------------------------------------------------------------


def test_dms_to_decimal_signs() -> None:
    assert gps.to_decimal(EIFFEL[0], "N") == pytest.approx(48.858194, abs=1e-5)
    assert gps.to_decimal(EIFFEL[1], "E") == pytest.approx(2.294500, abs=1e-5)
    assert gps.to_decimal(EIFFEL[0], "S") == pytest.approx(-48.858194, abs=1e-5)
    assert gps.to_decimal(EIFFEL[1], "W") == pytest.approx(-2.294500, abs=1e-5)
    with pytest.raises(ValueError):
        gps.to_decimal((float("nan"), 0, 0), "N")


@pytest.mark.parametrize(("lat_ref", "lon_ref", "sign"), [("N", "E", 1), ("S", "W", -1)])
def test_exif_gps_table(tmp_path: Path, lat_ref: str, lon_ref: str, sign: int) -> None:
    data = jpeg_bytes(picture(), exif=camera_exif(lat_ref, lon_ref).tobytes())
    result = analyse(write(tmp_path, data))
    table = rows(result, "GPS")
    assert float(table["Latitude (decimal °)"]) == pytest.approx(sign * 48.858194, abs=1e-5)
    assert float(table["Longitude (decimal °)"]) == pytest.approx(sign * 2.294500, abs=1e-5)
    assert table["Latitude"] == f"48°51'29.50\" {lat_ref}"
    assert table["Altitude"] == "12.0 m below sea level"
    assert table["GPS date/time"] == "2024:01:02 10:00:05.00 UTC"
    assert table["GPSLatitudeRef"] == lat_ref
    assert findings_about(result, "GPS coordinates")


def test_xmp_gps_used_when_exif_has_none(tmp_path: Path) -> None:
    data = jpeg_bytes(picture(), extra=app_segment(0xE1, XMP_HEADER + XMP_PACKET))
    table = rows(analyse(write(tmp_path, data)), "GPS")
    assert float(table["Latitude (decimal °)"]) == pytest.approx(48 + 51.3 / 60, abs=1e-6)
    assert float(table["Longitude (decimal °)"]) == pytest.approx(-(2 + 17.67 / 60), abs=1e-6)
    assert table["Source"].startswith("XMP")


# -- EXIF: camera facts and findings -------------------------------------------------------------


def test_camera_table_and_findings(tmp_path: Path) -> None:
    result = analyse(write(tmp_path, jpeg_bytes(picture(), exif=camera_exif().tobytes())))
    camera = rows(result, "Camera")
    assert camera["Make"] == "Canon"
    assert camera["Model"] == "Canon EOS 5D"
    assert camera["DateTimeOriginal"] == "2024:01:02 10:00:00"
    assert camera["DateTime (modified)"] == "2024:01:03 12:00:00"
    assert camera["ExposureTime"] == "1/250 s"
    assert camera["FNumber"] == "f/2.8"
    everything = rows(result, "EXIF (all tags)")
    assert everything["IFD0:Make"] == "Canon"
    assert everything["GPS:GPSLatitudeRef"] == "N"
    assert findings_about(result, "Editing software", "Photoshop")
    assert findings_about(result, "DateTimeOriginal", "differs")
    # Pillow writes IJG tables although EXIF names a camera: a re-encoding hint.
    assert findings_about(result, "standard IJG", "Canon EOS 5D")
    assert rows(result, "File")["SHA-256"] == open_media(tmp_path / "evidence.jpg").sha256


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the corrupt EXIF we feed it
@pytest.mark.parametrize(
    "block",
    [
        b"Exif\x00\x00" + b"\xde\xad" * 20,  # not a TIFF header
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x01" * 30,  # IFD claims 65535 entries
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x0f\x01\x02\x00\xff\x00\x00\x00\x10\x00\x00\x00"
        + b"\x00" * 4,  # a Make value pointing far beyond the block
        b"Exif\x00\x00II*\x00\xff\xff\xff\x7f",  # IFD0 offset beyond the block
    ],
)
def test_garbage_exif_gives_partial_result(tmp_path: Path, block: bytes) -> None:
    result = analyse(write(tmp_path, jpeg_bytes(picture(), exif=block)))
    assert findings_about(result, "EXIF block is malformed")
    assert rows(result, "File")["Format"] == "JPEG"
    assert rows(result, "JPEG")["Estimated quality"] == "exact IJG quality 75"


def test_png_without_metadata(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    picture().save(path)
    result = analyse(path)
    assert [t.title for t in result.tables] == ["File"]
    assert findings_about(result, "No EXIF", "PNG")


def test_extension_mismatch_is_a_finding(tmp_path: Path) -> None:
    result = analyse(write(tmp_path, jpeg_bytes(picture()), name="renamed.png"))
    assert findings_about(result, "extension '.png'")


# -- JPEG quantisation and structure -------------------------------------------------------------


@pytest.mark.parametrize("quality", [50, 75, 90, 95])
def test_quality_estimate_exact_for_pillow(tmp_path: Path, quality: int) -> None:
    table = rows(analyse(write(tmp_path, jpeg_bytes(picture(), quality=quality))), "JPEG")
    assert table["Estimated quality"] == f"exact IJG quality {quality}"
    assert table["Luma table quality"] == f"exact IJG quality {quality}"
    assert table["Chroma subsampling"] == "4:2:0"
    assert table["Coding"] == "baseline/sequential"
    assert len(table["Luma table"].split(" / ")) == 8


def test_luma_table_is_natural_order(tmp_path: Path) -> None:
    table = rows(analyse(write(tmp_path, jpeg_bytes(picture(), quality=75))), "JPEG")
    assert table["Luma table"].startswith("8 6 5 8 12 20 26 31 / ")


def test_a_quantisation_table_of_zeros_is_a_finding_not_a_quality(zero_qtable_jpeg: Path) -> None:
    result = analyse(zero_qtable_jpeg)
    for slot, name in [(0, "luma"), (1, "chroma")]:
        assert findings_about(result, f"quantisation table {slot} ({name}) holds 64 zero step(s)", "invalid")
    assert "Estimated quality" not in rows(result, "JPEG") and not findings_about(result, "IJG")
    assert jpeg.estimate_quality({0: [0] * 64}) is None


def test_custom_tables_are_non_standard(tmp_path: Path) -> None:
    qtables = [list(range(1, 65)), [7] * 64]
    data = jpeg_bytes(picture(), qtables=qtables, subsampling=0, progressive=True)
    table = rows(analyse(write(tmp_path, data)), "JPEG")
    assert table["Estimated quality"].startswith("non-standard tables; closest IJG quality ≈ ")
    assert table["Chroma subsampling"] == "4:4:4"
    assert table["Coding"] == "progressive"


def test_marker_walk_lists_segments_and_comment(tmp_path: Path) -> None:
    data = jpeg_bytes(picture(), comment=b"made by a test", exif=camera_exif().tobytes())
    result = analyse(write(tmp_path, data))
    values = list(rows(result, "JPEG").values())
    assert any(v.startswith("JFIF") for v in values)
    assert any(v.startswith("Exif") for v in values)
    assert any(v.startswith("made by a test") for v in values)
    assert findings_about(result, "made by a test")


def test_marker_walk_never_raises_on_damage() -> None:
    data = jpeg_bytes(picture(), exif=camera_exif().tobytes(), comment=b"x")
    rng = np.random.default_rng(1)
    damaged = [data[:n] for n in range(0, 400, 7)]
    damaged += [b"\xff\xd8" + rng.bytes(200) for _ in range(20)]
    damaged += [b"\xff\xd8\xff\xe1\x00\x01", b"\xff\xd8\xff\xff\xff", b"\xff\xd8\xff\xd9"]
    for blob in damaged:
        segments, stopped = jpeg.walk_markers(blob)
        assert isinstance(segments, list)
        assert stopped  # none of these reaches the image data
    segments, stopped = jpeg.walk_markers(data)
    assert stopped == "" and segments[-1].name == "SOS"
    segments, stopped = jpeg.walk_markers(b"\xff\xd8" + b"\xff\xe0\x00\x02" * (jpeg.MAX_SEGMENTS + 5))
    assert len(segments) == jpeg.MAX_SEGMENTS and stopped.startswith("more than")


def test_quality_estimate_unit() -> None:
    assert jpeg.estimate_quality(
        {0: jpeg.SCALED_LUMA[79], 1: jpeg.SCALED_CHROMA[79]}
    ) == jpeg.QualityEstimate(80, 0.0)
    assert jpeg.estimate_quality({}) is None


# -- thumbnail ---------------------------------------------------------------------------------


def thumbnail_jpeg(im: Image.Image, size: tuple[int, int] = (48, 32)) -> bytes:
    return jpeg_bytes(im.resize(size, Image.Resampling.BOX), quality=90)


def test_matching_thumbnail_gives_no_finding(tmp_path: Path) -> None:
    main = picture(seed=3)
    data = jpeg_bytes(main, quality=95, exif=with_thumbnail(camera_exif(), thumbnail_jpeg(main)))
    result = analyse(write(tmp_path, data))
    assert not findings_about(result, "thumbnail")
    assert result.images["thumbnail"].shape == (32, 48, 3)
    assert result.images["thumbnail"].dtype == np.uint8
    table = rows(result, "Thumbnail")
    assert table["Thumbnail size"] == "48×32"
    assert float(table["PSNR thumbnail vs downscaled image"].split()[0]) > 30


def test_thumbnail_of_another_picture_is_a_finding(tmp_path: Path) -> None:
    thumb = thumbnail_jpeg(picture(seed=4))
    result = analyse(write(tmp_path, jpeg_bytes(picture(seed=3), exif=with_thumbnail(camera_exif(), thumb))))
    assert findings_about(result, "thumbnail does not match")


def test_thumbnail_of_uncropped_picture_is_a_finding(tmp_path: Path) -> None:
    original = picture(seed=5)
    cropped = original.crop((0, 0, 64, 64))
    data = jpeg_bytes(cropped, exif=with_thumbnail(camera_exif(), thumbnail_jpeg(original)))
    assert findings_about(analyse(write(tmp_path, data)), "thumbnail", "aspect ratio")


def test_letterboxed_thumbnail_matches(tmp_path: Path) -> None:
    """Cameras pad 3:2 pictures into 4:3 thumbnails with black bars: not a mismatch."""
    main = picture(96, 64, seed=6)
    padded = Image.new("RGB", (48, 36))
    padded.paste(main.resize((48, 32), Image.Resampling.BOX), (0, 2))
    data = jpeg_bytes(main, exif=with_thumbnail(camera_exif(), jpeg_bytes(padded, quality=95)))
    result = analyse(write(tmp_path, data))
    assert not findings_about(result, "thumbnail")
    assert rows(result, "Thumbnail")["Compared area (black bars removed)"] == "48×32"


def test_thumbnail_comparison_can_be_turned_off(tmp_path: Path) -> None:
    thumb = thumbnail_jpeg(picture(seed=4))
    data = jpeg_bytes(picture(seed=3), exif=with_thumbnail(camera_exif(), thumb))
    result = analyse(write(tmp_path, data), thumbnail_compare="false")
    assert rows(result, "Thumbnail")["Comparison"].startswith("off")
    assert not findings_about(result, "thumbnail")
    assert "thumbnail" in result.images


@pytest.mark.parametrize(
    ("thumbnail", "claimed_length", "reason"),
    [
        (b"\xff\xd8 not a jpeg", None, "not a recognisable image"),
        (b"\xff\xd8", 60000, "outside the EXIF block"),
    ],
)
def test_broken_thumbnail(tmp_path: Path, thumbnail: bytes, claimed_length: int | None, reason: str) -> None:
    block = with_thumbnail(camera_exif(), thumbnail, claimed_length)
    result = analyse(write(tmp_path, jpeg_bytes(picture(), exif=block)))
    assert findings_about(result, "EXIF thumbnail is malformed", reason)
    assert rows(result, "Camera")["Make"] == "Canon"
    assert "thumbnail" not in result.images


# -- XMP and IPTC ------------------------------------------------------------------------------


def test_xmp_packet_is_flattened(tmp_path: Path) -> None:
    data = jpeg_bytes(picture(), extra=app_segment(0xE1, XMP_HEADER + XMP_PACKET))
    result = analyse(write(tmp_path, data))
    table = rows(result, "XMP")
    assert table["xmp:CreatorTool"] == "Adobe Photoshop 25.0 (Windows)"
    assert table["photoshop:DateCreated"] == "2024-01-02T10:00:00"
    assert table["exif:GPSLatitude"] == "48,51.3N"
    assert table["dc:subject"] == "tower; paris"
    assert table["dc:title"] == "Evening"
    assert table["xmpMM:History[1]/stEvt:action"] == "created"
    assert table["xmpMM:History[2]/stEvt:softwareAgent"] == "Adobe Photoshop 25.0 (Windows)"
    assert findings_about(result, "xmpMM:History", "2 event")
    assert findings_about(result, "photoshop: namespace")
    assert findings_about(result, "Editing software", "xmp:CreatorTool")
    assert any(v.startswith("XMP") for v in rows(result, "JPEG").values())


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF>unclosed", "no closing"),
        (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><a><b></a></x:xmpmeta>", "not well-formed XML (mismatched tag"),
        # The DTD lies outside the packet, so its entity is never expanded.
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>', "undefined entity"),
        (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><!DOCTYPE x [<!ENTITY a "aaaa">]>&a;</x:xmpmeta>', "DTD or entities"),
        (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>" + b"<a>" * 500 + b"</a>" * 500 + b"</x:xmpmeta>", "100 deep"),
    ],
)
def test_malformed_xmp_gives_partial_result(tmp_path: Path, packet: bytes, reason: str) -> None:
    data = jpeg_bytes(picture(), exif=camera_exif().tobytes(), extra=app_segment(0xE1, XMP_HEADER + packet))
    result = analyse(write(tmp_path, data))
    assert findings_about(result, "XMP packet is malformed", reason)
    assert not findings_about(result, "Error:")  # worded for the analyst, not an exception's name
    assert rows(result, "Camera")["Make"] == "Canon"


def test_xmp_nested_30000_deep_is_refused_without_recursion() -> None:
    packet = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>" + b"<a>" * 30_000 + b"</a>" * 30_000 + b"</x:xmpmeta>"
    with pytest.raises(ValueError, match=f"more than {xmp.MAX_DEPTH} deep"):
        xmp.parse_xmp(packet)
    nested = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>" + b"<a>" * 99 + b"</a>" * 99 + b"</x:xmpmeta>"
    assert xmp.parse_xmp(nested) == []  # 100 levels: the limit itself is allowed (no rdf:RDF, so no rows)


def test_xmp_packet_limits() -> None:
    assert xmp.find_packet(b"no packet here") is None
    with pytest.raises(ValueError, match="truncated"):
        xmp.find_packet(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>")
    huge = b"<x:xmpmeta>" + b" " * (xmp.MAX_PACKET + 1) + b"</x:xmpmeta>"
    with pytest.raises(ValueError, match="limit"):
        xmp.find_packet(huge)
    with pytest.raises(ValueError, match="limit"):
        xmp.parse_xmp(huge)


def iptc_segment(datasets: list[tuple[int, int, bytes]]) -> bytes:
    """An APP13 "Photoshop 3.0" segment holding one IPTC-NAA resource (8BIM 0x0404)."""
    iim = b"".join(bytes([0x1C, rec, num]) + struct.pack(">H", len(val)) + val for rec, num, val in datasets)
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iim)) + iim
    return app_segment(0xED, b"Photoshop 3.0\x00" + resource + b"\x00" * (len(iim) % 2))


def test_iptc_read_from_jpeg(tmp_path: Path) -> None:
    datasets = [(2, 5, b"Title"), (2, 25, b"kw1"), (2, 25, b"kw2"), (2, 116, "© Me".encode()), (2, 200, b"x")]
    result = analyse(write(tmp_path, jpeg_bytes(picture(), extra=iptc_segment(datasets))))
    table = rows(result, "IPTC")
    assert table == {"Object name": "Title", "Keywords": "kw1; kw2", "Copyright notice": "© Me", "2:200": "x"}
    assert findings_about(result, "Photoshop IRB")


def test_iptc_mapping() -> None:
    info = {(2, 120): b"A caption\x00", (2, 80): [b"Ann", b"Bob"], (2, 55): b"20240102", (1, 90): b"\x1b%G"}
    assert iptc.iptc_rows(info) == [
        ("1:90", "\x1b%G"),
        ("Date created", "20240102"),
        ("By-line", "Ann; Bob"),
        ("Caption", "A caption"),
    ]
    assert iptc.iptc_rows({(2, 5): b"\xff\xfe bad utf-8"})[0][1].startswith("\ufffd")


# -- robustness -------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_corrupted_metadata_never_fails_the_analysis(tmp_path: Path) -> None:
    """Random byte damage anywhere before the image data yields findings, never an error."""
    main = picture(seed=3)
    extra = app_segment(0xE1, XMP_HEADER + XMP_PACKET) + iptc_segment([(2, 5, b"Title"), (2, 25, b"kw")])
    clean = jpeg_bytes(main, exif=with_thumbnail(camera_exif(), thumbnail_jpeg(main)), extra=extra)
    image_data = jpeg.walk_markers(clean)[0][-1].offset
    rng = np.random.default_rng(7)
    analyzer = MetadataAnalyzer()
    for _ in range(60):
        damaged = bytearray(clean)
        for pos in rng.integers(2, image_data, size=4):
            damaged[pos] = rng.integers(0, 256)
        path = write(tmp_path, bytes(damaged))
        try:
            media = open_media(path)
        except MediaError:
            continue  # damage Pillow itself refuses is the importer's business
        result = run_analyzer(analyzer, media, analyzer.params_from({}), RunContext())
        assert result.status is Status.OK, result.message


# -- real photos, result plumbing, card --------------------------------------------------------


@pytest.mark.parametrize("name", ["rocket.jpg", "retina.jpg", "hubble_deep_field.jpg"])
def test_real_photos(name: str) -> None:
    path = SKIMAGE_DATA / name
    if not path.exists():
        pytest.skip(f"{name} not installed")
    result = analyse(path)
    assert rows(result, "JPEG")["Estimated quality"]
    assert result.findings


def test_photoshop_export_is_recognised() -> None:
    path = SKIMAGE_DATA / "hubble_deep_field.jpg"
    if not path.exists():
        pytest.skip("hubble_deep_field.jpg not installed")
    result = analyse(path)
    assert rows(result, "Camera")["Software"] == "Adobe Photoshop CS5 Macintosh"
    assert findings_about(result, "Editing software", "Photoshop CS5")
    assert findings_about(result, "non-standard quantisation tables")


def test_result_round_trip_and_progress(tmp_path: Path) -> None:
    main = picture(seed=3)
    path = write(tmp_path, jpeg_bytes(main, exif=with_thumbnail(camera_exif(), thumbnail_jpeg(main))))
    analyzer = MetadataAnalyzer()
    calls: list[float] = []
    ctx = RunContext(progress=lambda fraction, _message: calls.append(fraction))
    result = run_analyzer(analyzer, open_media(path), analyzer.params_from({}), ctx)
    assert calls == sorted(calls) and calls[-1] == 1.0 and len(calls) >= 4
    assert result.score is None and result.analyzer == "metadata"
    doc = json.loads(json.dumps(result.save(tmp_path / "blob")))
    loaded = Result.load(doc, tmp_path / "blob")
    assert isinstance(loaded, Facts)
    assert loaded.table("GPS").rows == result.table("GPS").rows
    assert loaded.images["thumbnail"].shape == (32, 48, 3)


def test_card_has_report_sections() -> None:
    card = MetadataAnalyzer().card
    for heading in ("## What it shows", "## How to read it", "## Limits", "## Reference"):
        assert heading in card
    assert "trivially editable" in card
