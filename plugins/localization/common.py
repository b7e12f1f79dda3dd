"""Building blocks shared by the localisation signals: colour, JPEG round trips, 8×8 blocks,
block DCT, map normalisation and the image-level score convention."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from workbench.core.media import Media

SCORE_MEANING = (
    "uncalibrated heterogeneity of the map in [0, 1] (99th percentile minus median): higher means "
    "one region stands out more; not a probability"
)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma as float32 in [0, 255], as JPEG codecs compute it."""
    rgb = rgb.astype(np.float32)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """The image after one more JPEG save at `quality` (libjpeg via OpenCV, 4:2:0), RGB uint8."""
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG re-compression failed")
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def crop_to_blocks(arr: np.ndarray, block: int) -> np.ndarray:
    """Drop the last rows/columns that do not fill a whole block."""
    h, w = arr.shape[:2]
    return arr[: h - h % block, : w - w % block]


def blocks(arr: np.ndarray, block: int) -> np.ndarray:
    """View of a 2-D array as (rows, cols, block, block) tiles (cropped to whole blocks)."""
    arr = crop_to_blocks(arr, block)
    h, w = arr.shape
    return arr.reshape(h // block, block, w // block, block).swapaxes(1, 2)


def block_reduce(arr: np.ndarray, block: int, func: str = "mean") -> np.ndarray:
    """Per-block statistic of a 2-D array: 'mean', 'median', 'max', 'var' or 'std'."""
    tiles = blocks(arr, block)
    return getattr(np, func)(tiles, axis=(2, 3))


def expand_blocks(block_map: np.ndarray, block: int, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour upsampling of a per-block map to `shape` (edges repeat the last block)."""
    up = np.repeat(np.repeat(block_map, block, axis=0), block, axis=1)
    h, w = shape
    pad_h, pad_w = max(0, h - up.shape[0]), max(0, w - up.shape[1])
    if pad_h or pad_w:
        up = np.pad(up, ((0, pad_h), (0, pad_w)), mode="edge")
    return up[:h, :w].astype(np.float32)


def resize_map(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Smooth (bilinear) resize of any map to the image's (height, width), float32."""
    h, w = shape
    return cv2.resize(values.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def normalize(values: np.ndarray, low_pct: float = 0.0, high_pct: float = 100.0) -> np.ndarray:
    """Min–max (or robust percentile) scaling to float32 [0, 1]; a constant map becomes zeros."""
    values = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = np.percentile(values, [low_pct, high_pct]) if (low_pct, high_pct) != (0.0, 100.0) else (
        float(values.min()), float(values.max()))
    if hi <= lo:
        return np.zeros_like(values, dtype=np.float32)
    return np.clip((values - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def map_score(heat: np.ndarray) -> float:
    """The image-level score convention of the classical signals (see SCORE_MEANING)."""
    p99, median = np.percentile(heat, [99, 50])
    return float(np.clip(p99 - median, 0.0, 1.0))


def dct_matrix(n: int = 8) -> np.ndarray:
    """Orthonormal DCT-II matrix D, so that coefficients = D @ block @ D.T (JPEG's transform)."""
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    d = np.cos((2 * x + 1) * k * np.pi / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d.astype(np.float64)


def block_dct(channel: np.ndarray) -> np.ndarray:
    """8×8 block DCT of a [0, 255] channel level-shifted by 128, shape (rows, cols, 8, 8).

    Applied to decoded pixels this re-estimates the JPEG coefficients (up to rounding), which
    is how the double-quantisation methods read the compression history.
    """
    d = dct_matrix(8)
    return d @ blocks(channel.astype(np.float64) - 128.0, 8) @ d.T


def quantization_tables(media: Media) -> dict[int, np.ndarray] | None:
    """The file's JPEG quantisation tables as 8×8 arrays (natural order), or None if not a JPEG."""
    if media.format not in ("JPEG", "MPO"):
        return None
    tables = getattr(media.pil(), "quantization", None) or {}
    return {k: np.asarray(v, dtype=np.float64).reshape(8, 8) for k, v in tables.items()} or None


def zigzag(count: int = 64) -> list[tuple[int, int]]:
    """The first `count` (row, column) DCT positions in JPEG zig-zag order (DC first)."""
    order = sorted(
        ((r, c) for r in range(8) for c in range(8)),
        key=lambda rc: (rc[0] + rc[1], rc[1] if (rc[0] + rc[1]) % 2 == 0 else rc[0]),
    )
    return order[:count]


def decoded_luma(media: Media) -> np.ndarray:
    """The luma plane exactly as the JPEG decoder produced it (before conversion to RGB), float64.

    Re-estimating DCT coefficients from this plane avoids the rounding of the YCbCr → RGB → Y
    round trip, so far more coefficients come out as exact multiples of the quantisation step.
    Files that are not YCbCr/greyscale JPEGs fall back to `luminance` of the RGB pixels.
    """
    if media.format in ("JPEG", "MPO"):
        im = Image.open(io.BytesIO(media.raw_bytes()))
        im.draft("YCbCr", im.size)
        if im.mode == "L":
            return np.asarray(im, dtype=np.float64)
        if im.mode == "YCbCr":
            return np.asarray(im)[..., 0].astype(np.float64)
    return luminance(media.pixels()).astype(np.float64)


def cell_sums(values: np.ndarray, cell: int) -> np.ndarray:
    """Per-cell sums of a 2-D array over `cell`×`cell` cells, the last row/column of cells partial
    when the size is not a multiple (OpenCV area resampling: ~10× faster than a numpy reshape)."""
    values = np.asarray(values, dtype=np.float32)
    h, w = values.shape
    hf, wf = h - h % cell, w - w % cell
    rows, cols = hf // cell, wf // cell
    out = np.zeros((-(-h // cell), -(-w // cell)), np.float32)
    if rows and cols:
        area = cv2.resize(values[:hf, :wf], (cols, rows), interpolation=cv2.INTER_AREA)
        out[:rows, :cols] = area * float(cell * cell)
    if wf < w:
        out[:rows, -1] = values[:hf, wf:].reshape(rows, cell, w - wf).sum(axis=(1, 2))
    if hf < h:
        out[-1, :cols] = values[hf:, :wf].reshape(h - hf, cols, cell).sum(axis=(0, 2))
    if hf < h and wf < w:
        out[-1, -1] = values[hf:, wf:].sum()
    return out


def ycbcr_luma(rgb: np.ndarray) -> np.ndarray:
    """Y of MATLAB's `rgb2ycbcr` on uint8 RGB: BT.601 studio range 16–235, rounded, float32.

    The toolbox's noise methods estimate noise on this channel; the rounding is itself a small
    noise floor, so using the same channel is what makes their maps reproducible.
    """
    y = rgb.astype(np.float64) @ np.array([65.481, 128.553, 24.966]) / 255.0 + 16.0
    return np.rint(y).astype(np.float32)


def luma_quantization(media: Media, method: str) -> np.ndarray:
    """The luminance quantisation table of a JPEG; a clear ValueError for any other file."""
    tables = quantization_tables(media)
    if tables is None:
        raise ValueError(f"{method} requires a JPEG file: {media.name} is {media.format}")
    return tables[min(tables)]


def quantized_coefficients(luma: np.ndarray, qtable: np.ndarray) -> np.ndarray:
    """The integer JPEG coefficients (rows, cols, 8, 8) re-estimated from decoded luma."""
    return np.round(block_dct(luma) / qtable)


def block_idct(coeffs: np.ndarray) -> np.ndarray:
    """Inverse of `block_dct`: (rows, cols, 8, 8) coefficients → [0, 255]-range channel, unrounded."""
    d = dct_matrix(8)
    rows, cols = coeffs.shape[:2]
    return (d.T @ coeffs @ d).swapaxes(1, 2).reshape(rows * 8, cols * 8) + 128.0


def rounding_error_dct(coeffs: np.ndarray, qtable: np.ndarray, rgb_luma: np.ndarray) -> np.ndarray:
    """Block DCT of the decoder's rounding/clipping error: the exact dequantised coefficients
    minus those of the stored 8-bit pixels' luma (Bianchi's estimate of the noise it adds)."""
    rows, cols = coeffs.shape[:2]
    return coeffs * qtable - block_dct(rgb_luma[: rows * 8, : cols * 8])


COEFFICIENT_RANGE = 2048
"""Coefficient histograms cover rounded values −2048 … 2047 (the JPEG coefficient range)."""


def coefficient_bins(values: np.ndarray) -> np.ndarray:
    """Histogram bin index (0 … 4095) of each rounded value; outliers go to the end bins."""
    rounded = np.floor(np.asarray(values) + 0.5).astype(np.int64)
    return np.clip(rounded + COEFFICIENT_RANGE, 0, 2 * COEFFICIENT_RANGE - 1)


def coefficient_histogram(values: np.ndarray) -> np.ndarray:
    """Counts of the rounded values −2048 … 2047, float64 (the double-quantisation methods' histogram)."""
    return np.bincount(coefficient_bins(values).ravel(), minlength=2 * COEFFICIENT_RANGE).astype(np.float64)
