"""File names that are not valid UTF-8: kept exactly, shown escaped; on a terminal, names that hold
control characters too.

On Linux a file name is any bytes; Python decodes the ones that are not UTF-8 to lone surrogates
("surrogateescape"), which open the file again but cannot be written as UTF-8 text: SQLite, JSON
files, Qt and PDF text would fail on them. Where a name is stored, its bytes are stored; where it
is shown, those bytes read `\\xff`, so the analyst sees that the name is unusual and which bytes
make it so. A name may also hold a newline or a terminal's escape sequence: what is printed on a
terminal shows those as `\\x0a`, `\\x1b` (`one_line`).
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path
from typing import Any


def is_text(name: str) -> bool:
    """True when `name` can be written as UTF-8 as it is (no undecodable bytes in it)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(text: str | os.PathLike[str]) -> str:
    """`text` with every byte that is not UTF-8 written `\\xNN`; unchanged when it has none."""
    text = os.fspath(text)
    if is_text(text):
        return text
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that did not come from a file name's byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Characters that reorder the text around them: "photo\u202egnp.jpg" reads as a PNG file on screen."""


def one_line(text: str) -> str:
    """`text` for a terminal: control characters (a newline, a carriage return, an escape sequence that
    recolours or clears the screen) and bidirectional controls written `\\xNN` / `\\uNNNN`, so a file
    name can neither break a one-line message nor drive the analyst's terminal."""
    return "".join(map(_escaped, text))


def _escaped(c: str) -> str:
    if unicodedata.category(c) == "Cc":
        return f"\\x{ord(c):02x}"
    return f"\\u{ord(c):04x}" if c in BIDI_CONTROLS else c


def shown_all(value: Any) -> Any:
    """A JSON-like document with every string (keys too) passed through `shown`."""
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, dict):
        return {shown_all(k): shown_all(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [shown_all(v) for v in value]
    return value


def path_to_db(path: Path) -> str | bytes:
    """What a database column holds for `path`: its text, or its exact bytes when it is not UTF-8."""
    text = str(path)
    return text if is_text(text) else os.fsencode(text)


def path_from_db(value: str | bytes) -> Path:
    """The path `path_to_db` stored, byte for byte."""
    return Path(os.fsdecode(value) if isinstance(value, bytes) else value)
