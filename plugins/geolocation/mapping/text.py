"""Text on the static map: a system font with wide Latin coverage (or Pillow's own), characters it
lacks spelled out, wrapping and fitting, and label placement that never overlaps what is drawn."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import cache
from typing import Any

FONT_CANDIDATES = {
    False: ("DejaVuSans.ttf", "NotoSans-Regular.ttf", "LiberationSans-Regular.ttf", "segoeui.ttf", "arial.ttf",
            "Arial.ttf", "Helvetica.ttc"),
    True: ("DejaVuSans-Bold.ttf", "NotoSans-Bold.ttf", "LiberationSans-Bold.ttf", "segoeuib.ttf", "arialbd.ttf",
           "Arial Bold.ttf", "Helvetica.ttc"),
}
"""System fonts with wide Latin coverage (place names such as Zürich, Côte d'Ivoire), tried in order."""


@cache
def load_font(size: int, bold: bool = False) -> Any:
    """A system TrueType font, else Pillow's built-in one (whose glyph set is small: see `printable`)."""
    from PIL import ImageFont

    for name in FONT_CANDIDATES[bold]:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


@cache
def has_glyph(font: Any, char: str) -> bool:
    """False when `font` would draw `char` as its missing-glyph box (compared with an unassigned code point)."""
    if char.isascii():
        return True
    try:
        return bytes(font.getmask(char)) != bytes(font.getmask("\U000f0000"))
    except Exception:  # noqa: BLE001 - bitmap fonts cannot even try: ASCII only
        return False


FALLBACK_CHARS = {"…": "...", "·": "-", "°": " deg", "±": "+/-", "⚠": "!", "–": "-", "—": "-", "≥": ">=", "×": "x"}


def printable(font: Any, text: str) -> str:
    """`text` with characters the font lacks replaced: accents dropped (é → e), symbols spelled out."""
    if all(has_glyph(font, ch) for ch in text):
        return text
    out = []
    for ch in text:
        if has_glyph(font, ch):
            out.append(ch)
        elif ch in FALLBACK_CHARS:
            out.append(FALLBACK_CHARS[ch])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and all(has_glyph(font, c) for c in base) else "?")
    return "".join(out)


def font_size(font: Any) -> int:
    return int(getattr(font, "size", 11))


def draw_text(draw: Any, xy: tuple[float, float], text: str, font: Any, fill: Sequence[int],
              halo: Sequence[int] | None = (255, 255, 255), anchor: str = "la") -> None:
    """Text (characters the font lacks replaced); a white halo keeps it legible over land and cells."""
    halo_kw = {"stroke_width": max(1, font_size(font) // 7), "stroke_fill": tuple(halo)} if halo else {}
    draw.text(xy, printable(font, text), font=font, fill=tuple(fill), anchor=anchor, **halo_kw)


def wrap(draw: Any, text: str, font: Any, width: float) -> list[str]:
    """Greedy word wrap to `width` pixels."""
    lines: list[str] = []
    for word in printable(font, text).split():
        if lines and draw.textlength(lines[-1] + " " + word, font=font) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def fit(draw: Any, text: str, font: Any, width: float) -> str:
    """`text` on one line of at most `width` pixels, cut at a word with an ellipsis."""
    text = printable(font, text)
    if draw.textlength(text, font=font) <= width:
        return text
    ell = printable(font, " …")
    words, out = text.split(), ""
    for word in words:
        trial = f"{out} {word}".strip()
        if draw.textlength(trial + ell, font=font) > width:
            break
        out = trial
    return out + ell


Box = tuple[float, float, float, float]


class Labels:
    """Places text where it overlaps nothing placed before (title, legend, markers, other labels)."""

    def __init__(self, draw: Any, width: int, height: int) -> None:
        self.draw, self.width, self.height = draw, width, height
        self.occupied: list[Box] = []

    def free(self, box: Box) -> bool:
        x0, y0, x1, y1 = box
        if x0 < 0 or y0 < 0 or x1 > self.width or y1 > self.height:
            return False
        return all(x1 <= a or x0 >= c or y1 <= b or y0 >= d for a, b, c, d in self.occupied)

    def place(self, candidates: Sequence[tuple[float, float, str]], text: str, font: Any, fill: Sequence[int],
              halo: Sequence[int] | None = (255, 255, 255), force: bool = False) -> bool:
        """Draw at the first free candidate (x, y, anchor); with force, at the first one anyway."""
        text = printable(font, text)
        stroke = max(1, font_size(font) // 7) if halo else 0
        for x, y, anchor in candidates:
            box = self.draw.textbbox((x, y), text, font=font, anchor=anchor, stroke_width=stroke)
            if self.free(box):
                break
        else:
            if not force or not candidates:
                return False
            x, y, anchor = candidates[0]
            box = self.draw.textbbox((x, y), text, font=font, anchor=anchor, stroke_width=stroke)
        draw_text(self.draw, (x, y), text, font, fill, halo, anchor)
        self.occupied.append(tuple(float(v) for v in box))  # type: ignore[arg-type]
        return True

