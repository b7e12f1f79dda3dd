"""Metadata clues to the place: reverse geocoding offline and the capture-time / time-zone check."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import ExifTags, Image, PngImagePlugin

from plugins.geolocation.clues import camera_utc_offset, read_clues, time_zone_finding
from plugins.geolocation.places import nearest_place
from workbench.core.media import open_media

PARIS = ((48.0, 51.0, 30.0), (2.0, 17.0, 40.0))  # the Champ de Mars, degrees/minutes/seconds


def photo(path: Path, local: str, offset: str = "", gps_utc: tuple[str, tuple[float, float, float]] | None = None,
          accuracy: float | None = None) -> Path:
    exif = Image.Exif()
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.DateTimeOriginal] = local
    if offset:
        sub[ExifTags.Base.OffsetTimeOriginal] = offset
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps.update({1: "N", 2: PARIS[0], 3: "E", 4: PARIS[1]})
    if gps_utc:
        gps.update({29: gps_utc[0], 7: gps_utc[1]})
    if accuracy is not None:
        gps[31] = accuracy
    Image.new("RGB", (64, 48), (90, 120, 150)).save(path, "JPEG", exif=exif)
    return path


def test_reverse_geocoding_names_the_city_country_and_time_zone() -> None:
    place = nearest_place(48.8584, 2.2945)
    assert place.country_code == "FR" and place.timezone == "Europe/Paris" and place.distance_km < 10
    sydney = nearest_place(-33.8568, 151.2153)
    assert sydney.country == "Australia" and sydney.timezone == "Australia/Sydney"
    assert nearest_place(0.0, -30.0).distance_km > 500  # mid-Atlantic: far from any city, and it says so
    with pytest.raises(ValueError, match="not a position"):
        nearest_place(95.0, 0.0)


def test_gps_accuracy_and_times_are_read(tmp_path: Path) -> None:
    clues = read_clues(open_media(photo(tmp_path / "a.jpg", "2024:07:01 14:00:00", "+02:00", accuracy=8.5)))
    assert clues.fix is not None
    assert abs(clues.fix.latitude - 48.8583) < 1e-3 and abs(clues.fix.longitude - 2.2944) < 1e-3
    assert clues.accuracy_m == 8.5 and clues.local_time == "2024:07:01 14:00:00" and clues.offset == "+02:00"


def test_capture_time_agreeing_with_the_place_gives_no_finding(tmp_path: Path) -> None:
    place = nearest_place(48.8584, 2.2945)
    summer = read_clues(open_media(photo(tmp_path / "s.jpg", "2024:07:01 14:00:00", "+02:00")))
    assert time_zone_finding(summer, place) is None  # CEST
    winter = read_clues(open_media(photo(tmp_path / "w.jpg", "2024:01:10 14:00:00", "",
                                         ("2024:01:10", (13.0, 0.0, 20.0)))))
    assert camera_utc_offset(winter) is not None and time_zone_finding(winter, place) is None  # CET from GPS UTC


def test_capture_time_from_another_time_zone_is_flagged(tmp_path: Path) -> None:
    place = nearest_place(48.8584, 2.2945)
    tokyo_clock = read_clues(open_media(photo(tmp_path / "t.jpg", "2024:07:01 21:00:00", "+09:00")))
    finding = time_zone_finding(tokyo_clock, place)
    assert finding is not None and "UTC+09:00" in finding and "UTC+02:00" in finding and "Europe/Paris" in finding
    derived = read_clues(open_media(photo(tmp_path / "d.jpg", "2024:07:01 07:00:00", "",
                                          ("2024:07:01", (12.0, 0.0, 0.0)))))
    assert "UTC-05:00" in (time_zone_finding(derived, place) or "")  # local − GPS UTC = −5 h


DEEP_XMP = ("<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
            "<rdf:Description xmlns:exif='http://ns.adobe.com/exif/1.0/'>" + "<exif:a>" * 30_000
            + "</exif:a>" * 30_000 + "</rdf:Description></rdf:RDF></x:xmpmeta>")


def with_xmp(path: Path, exif_from: Path, xmp: str) -> Path:
    """A PNG with the EXIF of `exif_from` and an XMP packet of any size (an iTXt chunk)."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    with Image.open(exif_from) as im:
        im.save(path, "PNG", exif=im.info["exif"], pnginfo=info)
    return path


@pytest.mark.parametrize("xmp", [DEEP_XMP, "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF></x:xmpmeta>"])
def test_damaged_xmp_is_named_and_the_exif_clues_still_count(tmp_path: Path, xmp: str) -> None:
    tagged = photo(tmp_path / "gps.jpg", "2024:07:01 14:00:00", "+02:00")
    with_gps = read_clues(open_media(with_xmp(tmp_path / "gps.png", tagged, xmp)))
    assert with_gps.fix is not None and with_gps.fix.source.startswith("EXIF") and with_gps.xmp_damage == ""
    untagged = tmp_path / "untagged.jpg"
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2024:07:01 14:00:00"
    Image.new("RGB", (64, 48)).save(untagged, "JPEG", exif=exif)
    without_gps = read_clues(open_media(with_xmp(tmp_path / "untagged.png", untagged, xmp)))
    assert without_gps.fix is None and without_gps.local_time == "2024:07:01 14:00:00"
    assert without_gps.xmp_damage.startswith("the XMP packet") and "Error" not in without_gps.xmp_damage
