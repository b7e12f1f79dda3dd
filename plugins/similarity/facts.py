"""What tells an original from a copy, read from a file's metadata: JPEG quality, capture date,
software, GPS position. Stored with every collection item and read from every query."""

from __future__ import annotations

from PIL import Image

from workbench.api import Media


def facts_of(media: Media) -> dict[str, object]:
    """The facts of an opened file (its metadata decoded again from the bytes)."""
    try:
        im = media.pil()
    except Exception:  # noqa: BLE001 - a file that no longer decodes has empty facts, as broken metadata does
        im = None
    return image_facts(im)


def image_facts(im: Image.Image | None) -> dict[str, object]:
    """Format, JPEG quality, capture date and software of a Pillow image (its header is enough);
    empty facts without one (a video's poster frame)."""
    from plugins.metadata.exif import read_exif, text_tag
    from plugins.metadata.gps import gps_from_exif
    from plugins.metadata.jpeg import estimate_quality

    quality, taken, software, latitude, longitude = None, "", "", None, None
    try:
        if im is not None:
            if im.format == "JPEG" and getattr(im, "quantization", None):
                estimate = estimate_quality(im.quantization)
                quality = estimate.quality if estimate else None
            block = read_exif(im)
            taken = text_tag(block, 36867) or text_tag(block, 306)  # DateTimeOriginal, else DateTime
            software = text_tag(block, 305)
            fix = gps_from_exif(block.ifds.get("GPS", {})) if block else None
            if fix is not None:
                latitude, longitude = fix.latitude, fix.longitude
    except Exception:  # noqa: BLE001 - broken metadata must not stop indexing; the facts stay empty
        pass
    return {"jpeg_quality": quality, "taken": taken, "software": software, "latitude": latitude,
            "longitude": longitude}
