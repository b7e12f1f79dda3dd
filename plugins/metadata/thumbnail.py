"""Embedded EXIF thumbnail versus the main image (after Kee & Farid, SPIE 2010).

Cameras write the thumbnail and the image together; many editors rewrite the image but keep
the old thumbnail, so a thumbnail that shows something else, or another framing, is a lead.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_THUMBNAIL_PIXELS = 4_000_000
"""Real thumbnails are ~160×120; anything huge is refused instead of decoded."""

BLACK_LEVEL = 16
"""Rows/columns darker than this on average count as letterbox bars (cameras pad 3:2 into 4:3)."""

ASPECT_TOLERANCE = 0.03
MIN_PSNR_DB = 20.0


@dataclass(frozen=True)
class ThumbnailComparison:
    thumbnail_size: tuple[int, int]
    compared_size: tuple[int, int]
    thumbnail_aspect: float
    image_aspect: float
    psnr_db: float
    mean_abs_diff: float

    @property
    def aspect_differs(self) -> bool:
        return abs(self.thumbnail_aspect / self.image_aspect - 1) > ASPECT_TOLERANCE

    @property
    def mismatch(self) -> bool:
        return self.aspect_differs or self.psnr_db < MIN_PSNR_DB

    def rows(self) -> list[tuple[str, str]]:
        (tw, th), (cw, ch) = self.thumbnail_size, self.compared_size
        rows = [("Thumbnail size", f"{tw}×{th}")]
        if (cw, ch) != (tw, th):
            rows.append(("Compared area (black bars removed)", f"{cw}×{ch}"))
        psnr = "identical" if math.isinf(self.psnr_db) else f"{self.psnr_db:.1f} dB"
        return [
            *rows,
            ("Thumbnail aspect ratio", f"{self.thumbnail_aspect:.3f}"),
            ("Image aspect ratio", f"{self.image_aspect:.3f}"),
            ("PSNR thumbnail vs downscaled image", psnr),
            ("Mean absolute difference", f"{self.mean_abs_diff:.1f} (0–255)"),
        ]


def decode_thumbnail(data: bytes) -> np.ndarray:
    """RGB uint8 pixels of an embedded JPEG; ValueError if it is not a decodable, small image."""
    try:
        im = Image.open(io.BytesIO(data))
        if im.width * im.height > MAX_THUMBNAIL_PIXELS:
            raise ValueError(f"the thumbnail claims {im.width}×{im.height} pixels, too many for a thumbnail")
        return np.ascontiguousarray(np.asarray(im.convert("RGB")))
    except UnidentifiedImageError as exc:
        raise ValueError("the thumbnail data are not a recognisable image") from exc
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"the thumbnail cannot be decoded ({exc})") from exc


def compare(thumbnail: np.ndarray, image: np.ndarray) -> ThumbnailComparison:
    """Aspect ratios, and PSNR/MAD of the thumbnail against the image downscaled to its size.

    Letterbox bars are tried both ways (kept and removed) and the better match is kept, so a
    dark picture edge is not mistaken for padding.
    """
    return max(
        (_compare(thumbnail, content, image) for content in (thumbnail, trim_black_bars(thumbnail))),
        key=lambda c: c.psnr_db,
    )


def _compare(thumbnail: np.ndarray, content: np.ndarray, image: np.ndarray) -> ThumbnailComparison:
    ch, cw = content.shape[:2]
    ih, iw = image.shape[:2]
    reference = cv2.resize(image, (cw, ch), interpolation=cv2.INTER_AREA).astype(np.float64)
    diff = content.astype(np.float64) - reference
    mse = float(np.mean(diff**2))
    return ThumbnailComparison(
        thumbnail_size=(thumbnail.shape[1], thumbnail.shape[0]),
        compared_size=(cw, ch),
        thumbnail_aspect=cw / ch,
        image_aspect=iw / ih,
        psnr_db=10 * math.log10(255.0**2 / mse) if mse > 0 else math.inf,
        mean_abs_diff=float(np.mean(np.abs(diff))),
    )


def trim_black_bars(thumbnail: np.ndarray) -> np.ndarray:
    """Drop dark rows/columns at the edges, unless that would leave less than half the thumbnail."""
    gray = thumbnail.mean(axis=2)
    rows = np.flatnonzero(gray.mean(axis=1) > BLACK_LEVEL)
    cols = np.flatnonzero(gray.mean(axis=0) > BLACK_LEVEL)
    if rows.size == 0 or cols.size == 0:
        return thumbnail
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    if (bottom - top) * 2 < gray.shape[0] or (right - left) * 2 < gray.shape[1]:
        return thumbnail
    return thumbnail[top:bottom, left:right]
