"""IPTC IIM 4.2 datasets (captions, keywords, credits) as read by Pillow from JPEG APP13 or TIFF."""

from __future__ import annotations

from PIL import Image, IptcImagePlugin

from plugins.metadata.values import decode_text, shorten

DATASET_NAMES: dict[tuple[int, int], str] = {
    (2, 5): "Object name",
    (2, 25): "Keywords",
    (2, 55): "Date created",
    (2, 60): "Time created",
    (2, 65): "Originating program",
    (2, 80): "By-line",
    (2, 90): "City",
    (2, 95): "Province/State",
    (2, 101): "Country",
    (2, 105): "Headline",
    (2, 110): "Credit",
    (2, 115): "Source",
    (2, 116): "Copyright notice",
    (2, 120): "Caption",
}


def read_iptc(im: Image.Image) -> list[tuple[str, str]]:
    """The image's IPTC rows, or [] when it has none."""
    return iptc_rows(IptcImagePlugin.getiptcinfo(im) or {})


def iptc_rows(info: dict[tuple[int, int], bytes | list[bytes]]) -> list[tuple[str, str]]:
    """Name each dataset ("2:NN" when not a common one); repeated datasets are joined with "; "."""
    rows = []
    for (record, number), value in sorted(info.items()):
        values = value if isinstance(value, list) else [value]
        text = "; ".join(decode_text(v) for v in values if isinstance(v, bytes))
        rows.append((DATASET_NAMES.get((record, number), f"{record}:{number}"), shorten(text)))
    return rows
