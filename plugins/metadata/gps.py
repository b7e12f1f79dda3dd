"""GPS position from EXIF (rational degrees/minutes/seconds + N/S/E/W refs) or XMP ("48,51.3N")."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from PIL.ExifTags import GPSTAGS

from plugins.metadata.values import format_value

_NUMBER = r"(\d+(?:\.\d+)?)"
XMP_COORDINATE = re.compile(rf"^\s*{_NUMBER}(?:,{_NUMBER})?(?:,{_NUMBER})?\s*([NSEW])\s*$", re.I)
"""XMP GPSCoordinate: "DDD,MM,SSk" or "DDD,MM.mmk" (XMP spec part 2, EXIF schema)."""


@dataclass(frozen=True)
class GpsFix:
    """A position in signed decimal degrees (south and west negative)."""

    latitude: float
    longitude: float
    altitude_m: float | None
    timestamp: str
    source: str
    refs: tuple[tuple[str, str], ...]


def to_decimal(parts: Sequence[float], ref: str) -> float:
    """Degrees, minutes, seconds (1 to 3 parts) and a hemisphere ref to signed decimal degrees."""
    values = [float(p) for p in parts]
    if not 1 <= len(values) <= 3 or not all(math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"invalid degrees/minutes/seconds {format_value(list(parts))}")
    degrees = sum(v / 60**i for i, v in enumerate(values))
    return -degrees if ref.strip().upper() in ("S", "W") else degrees


def gps_from_exif(gps: dict[int, Any]) -> GpsFix | None:
    """The fix in an EXIF GPS IFD, or None without coordinates; raises ValueError on bad values."""
    if 2 not in gps or 4 not in gps:
        return None
    lat_ref, lon_ref = _ref(gps.get(1)), _ref(gps.get(3))
    altitude = _signed_altitude(gps.get(6), _ref(gps.get(5)) == "1")
    return _checked(
        GpsFix(
            latitude=to_decimal(_parts(gps[2]), lat_ref),
            longitude=to_decimal(_parts(gps[4]), lon_ref),
            altitude_m=altitude,
            timestamp=_exif_timestamp(gps.get(29), gps.get(7)),
            source="EXIF GPS IFD",
            refs=tuple((GPSTAGS[tag], _ref(gps[tag])) for tag in (1, 3, 5) if tag in gps),
        )
    )


def gps_from_xmp(xmp: dict[str, str]) -> GpsFix | None:
    """The fix in XMP exif:GPSLatitude/GPSLongitude, or None; raises ValueError on bad values."""
    lat, lon = xmp.get("exif:GPSLatitude"), xmp.get("exif:GPSLongitude")
    if not lat or not lon:
        return None
    below = xmp.get("exif:GPSAltitudeRef", "").strip() == "1"
    altitude = xmp.get("exif:GPSAltitude")
    return _checked(
        GpsFix(
            latitude=_xmp_coordinate(lat),
            longitude=_xmp_coordinate(lon),
            altitude_m=_signed_altitude(Fraction(altitude.strip()), below) if altitude else None,
            timestamp=xmp.get("exif:GPSTimeStamp", ""),
            source="XMP (exif:GPSLatitude/GPSLongitude)",
            refs=(("exif:GPSLatitude", lat), ("exif:GPSLongitude", lon)),
        )
    )


def gps_rows(fix: GpsFix) -> list[tuple[str, str]]:
    rows = [
        ("Latitude", _dms_text(fix.latitude, "NS")),
        ("Longitude", _dms_text(fix.longitude, "EW")),
        ("Latitude (decimal °)", f"{fix.latitude:.6f}"),
        ("Longitude (decimal °)", f"{fix.longitude:.6f}"),
    ]
    if fix.altitude_m is not None:
        side = "below" if fix.altitude_m < 0 else "above"
        rows.append(("Altitude", f"{abs(fix.altitude_m):.1f} m {side} sea level"))
    if fix.timestamp:
        rows.append(("GPS date/time", fix.timestamp))
    return [*rows, *fix.refs, ("Source", fix.source)]


def _checked(fix: GpsFix) -> GpsFix:
    if abs(fix.latitude) > 90 or abs(fix.longitude) > 180:
        raise ValueError(f"coordinates out of range ({fix.latitude:.6f}, {fix.longitude:.6f})")
    return fix


def _parts(value: Any) -> Sequence[float]:
    return value if isinstance(value, (tuple, list)) else (value,)


def _ref(value: Any) -> str:
    """A GPS ref as text: Pillow gives str for the ASCII refs but bytes/int for the BYTE altitude ref."""
    if isinstance(value, bytes) and len(value) == 1 and value[0] < 32:
        return str(value[0])
    if isinstance(value, bytes):
        return value.rstrip(b"\x00").decode("latin-1").strip()
    return "" if value is None else str(value).strip("\x00 ")


def _signed_altitude(value: Any, below_sea_level: bool) -> float | None:
    if value is None:
        return None
    altitude = float(value)
    if not math.isfinite(altitude):
        return None
    return -abs(altitude) if below_sea_level else altitude


def _exif_timestamp(date: Any, time: Any) -> str:
    """GPSDateStamp + GPSTimeStamp (hours, minutes, seconds as rationals), always UTC."""
    parts = [format_value(date)] if date else []
    if isinstance(time, (tuple, list)) and len(time) == 3 and all(math.isfinite(float(t)) for t in time):
        h, m, s = (float(t) for t in time)
        parts.append(f"{int(h):02d}:{int(m):02d}:{s:05.2f}")
    return " ".join(parts) + " UTC" if parts else ""


def _xmp_coordinate(text: str) -> float:
    match = XMP_COORDINATE.match(text)
    if not match:
        raise ValueError(f"unreadable XMP GPS coordinate {text!r}")
    degrees, minutes, seconds, ref = match.groups()
    return to_decimal([float(p) for p in (degrees, minutes, seconds) if p is not None], ref)


def _dms_text(decimal: float, refs: str) -> str:
    total = round(abs(decimal) * 360000)  # hundredths of an arc second, so rounding never gives 60"
    degrees, rest = divmod(total, 360000)
    minutes, hundredths = divmod(rest, 6000)
    return f"{degrees}°{minutes:02d}'{hundredths / 100:05.2f}\" {refs[decimal < 0]}"
