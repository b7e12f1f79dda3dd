"""Metadata clues to where a photo was taken: the GPS fix (EXIF or XMP) with its accuracy, the
place it falls in, and whether the capture time agrees with the time zone of that place."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from plugins.geolocation.places import Place
from plugins.metadata.gps import GpsFix, gps_from_exif, gps_from_xmp
from workbench.api import Media

TZ_TOLERANCE = timedelta(minutes=30)
"""Offsets closer than this agree (cameras round, some zones are offset by 30 or 45 minutes)."""
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


@dataclass(frozen=True)
class PositionClues:
    fix: GpsFix | None
    accuracy_m: float | None
    """GPSHPositioningError when the device recorded it."""
    local_time: str
    """DateTimeOriginal (camera clock, local time), "YYYY:MM:DD HH:MM:SS"."""
    offset: str
    """OffsetTimeOriginal ("+02:00") when recorded."""
    xmp_damage: str = ""
    """Why the XMP packet, read when EXIF has no GPS, could not be parsed ("" when it could): the
    result says so while the other clues still count."""


def read_clues(media: Media) -> PositionClues:
    """GPS and capture-time tags of an image; empty clues when it has none."""
    from plugins.metadata.exif import read_exif, text_tag
    from plugins.metadata.xmp import read_xmp

    im = media.pil()
    block = read_exif(im)
    gps_ifd = block.ifds.get("GPS", {}) if block else {}
    xmp_damage = ""
    fix = _readable(gps_from_exif, gps_ifd) if gps_ifd else None
    if fix is None:
        try:
            fix = _readable(gps_from_xmp, dict(read_xmp(media.raw_bytes())))
        except ValueError as exc:  # worded by the XMP reader
            xmp_damage = str(exc)
    accuracy = gps_ifd.get(31)
    return PositionClues(
        fix,
        float(accuracy) if accuracy is not None else None,
        text_tag(block, 36867),
        text_tag(block, 36881),
        xmp_damage,
    )


def _readable(read: Callable[[dict], GpsFix | None], tags: dict) -> GpsFix | None:
    """The fix, or None when its coordinates are unreadable: the metadata analyzer reports those."""
    try:
        return read(tags)
    except ValueError:
        return None


def camera_utc_offset(clues: PositionClues) -> timedelta | None:
    """The UTC offset the camera clock ran on: OffsetTimeOriginal, else local capture time minus
    the GPS (UTC) time stamp, rounded to 15 minutes."""
    match = _OFFSET.match(clues.offset.strip())
    if match:
        sign = -1 if match.group(1) == "-" else 1
        return sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
    local = _parse(clues.local_time)
    utc = _parse(clues.fix.timestamp.removesuffix(" UTC")) if clues.fix and clues.fix.timestamp else None
    if local is None or utc is None:
        return None
    quarters = round((local - utc) / timedelta(minutes=15))
    return timedelta(minutes=15 * quarters)


def place_utc_offset(place: Place, when: datetime) -> timedelta | None:
    """The legal UTC offset at the place's time zone on that date (daylight saving included)."""
    try:
        return ZoneInfo(place.timezone).utcoffset(when)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def time_zone_finding(clues: PositionClues, place: Place) -> str | None:
    """A finding when the camera's UTC offset disagrees with the time zone where the GPS puts it."""
    when = _parse(clues.local_time)
    camera = camera_utc_offset(clues)
    if when is None or camera is None:
        return None
    expected = place_utc_offset(place, when)
    if expected is None or abs(camera - expected) < TZ_TOLERANCE:
        return None
    return (
        f"The capture time was recorded at UTC{_fmt(camera)}, but the GPS position ({place.city}, {place.country}) "
        f"was at UTC{_fmt(expected)} ({place.timezone}) on that date: the photo may have been taken elsewhere, "
        "or the GPS tag or the clock was edited — or, innocently, the camera's time zone was never set "
        "for the trip. Corroborate before relying on either."
    )


def _parse(text: str) -> datetime | None:
    try:
        return datetime.strptime(text.strip()[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def _fmt(offset: timedelta) -> str:
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
