"""Turning raw metadata values into short, readable strings for the tables.

Metadata come from untrusted files: any value may be huge, binary or of an unexpected type,
so every formatter here accepts anything and bounds the length of what it returns.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

MAX_TEXT = 500
"""Longest value shown in a table cell; longer text is cut with an ellipsis."""

MAX_ROWS = 2000
"""Most rows per table, so a hostile file cannot flood the GUI or the report."""

HEX_PREVIEW = 32


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """Cut `text` to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def decode_text(data: bytes) -> str:
    """Bytes as UTF-8 text (invalid sequences replaced), without trailing NUL padding."""
    return data.rstrip(b"\x00").decode("utf-8", errors="replace").strip()


def format_bytes(data: bytes) -> str:
    """Printable ASCII as text; anything else as a short hex preview with its length."""
    stripped = data.rstrip(b"\x00")
    if not stripped:
        return "(empty)" if not data else f"{len(data)} NUL bytes"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in stripped):
        return shorten(stripped.decode("ascii"))
    more = " …" if len(data) > HEX_PREVIEW else ""
    return f"{len(data)} bytes: {data[:HEX_PREVIEW].hex(' ')}{more}"


def format_number(value: numbers.Real) -> str:
    """Integers as such, rationals and floats compactly; 0-denominator rationals as undefined."""
    if isinstance(value, numbers.Integral):
        return str(int(value))
    number = float(value)
    return f"{number:g}" if math.isfinite(number) else "undefined"


def format_value(value: Any) -> str:
    """Any metadata value (bytes, text, rationals, sequences, nested IFDs) as a bounded string."""
    if isinstance(value, bytes):
        return format_bytes(value)
    if isinstance(value, str):
        return shorten(value.replace("\x00", "").strip())
    if isinstance(value, numbers.Real):
        return format_number(value)
    if isinstance(value, (tuple, list)):
        shown = ", ".join(format_value(v) for v in value[:64])
        return shorten(shown + (f", … ({len(value)} values)" if len(value) > 64 else ""))
    if isinstance(value, dict):
        return f"({len(value)} sub-entries)"
    return shorten(str(value))


def capped(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """At most `MAX_ROWS` rows, with a last row saying how many were left out."""
    if len(rows) <= MAX_ROWS:
        return rows
    return [*rows[:MAX_ROWS], ("…", f"{len(rows) - MAX_ROWS} more entries not shown")]
