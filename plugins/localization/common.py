"""Building blocks shared by the localisation signals: colour, JPEG round trips, 8×8 blocks,
block DCT, map normalisation and the image-level score convention; and a per-image memo, so the
analyzers run on one image compute what they have in common (luma, JPEG re-saves, JPEG
coefficients) only once."""

from __future__ import annotations

import io
import threading
import weakref
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, is_dataclass
from typing import Any, TypeVar

import cv2
import numpy as np
from PIL import Image

from workbench.api import Media, computing_shared, wait_for

T = TypeVar("T")

SCORE_MEANING = (
    "heterogeneity of the map in [0, 1] (99th percentile minus median): higher means one region stands "
    "out more, which many authentic photos do too; not a probability"
)


MEMO_BYTES = 560 << 20
"""Most bytes of shared values kept per image (587 MB), none of more than a quarter of it. All of
Triage's on a 12-MP JPEG fit (534 MB: the luma, re-saves at 11 qualities, the JPEG coefficients,
none over 48 MB); of a 100-MP image, whose planes take 100–400 MB each, only the decoded luma
plane: the others are computed by each analyzer that needs them and freed after it, instead of
5 GB of them kept to the end (recomputing costs seconds, keeping them costs the memory bound)."""


class _PerImageMemo:
    """Values derived from an image, kept while the image object lives (weak reference: they go
    with the job's Media and its pixels) and within MEMO_BYTES, computed once even when analyzers
    ask concurrently."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, dict[Hashable, Future]] = {}
        self._kept: dict[int, int] = {}
        """Bytes of the values kept, per owner."""

    def get(self, owner: object, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            entries = self._entries.get(id(owner))
            if entries is None:
                entries = self._entries[id(owner)] = {}
                self._kept[id(owner)] = 0
                weakref.finalize(owner, self._forget, id(owner))
            future = entries.get(key)
            mine = future is None
            if mine:
                future = entries[key] = Future()
        if not mine:
            return wait_for(future)
        try:
            with computing_shared():
                value = _read_only(compute())
        except BaseException as exc:
            with self._lock:
                entries.pop(key, None)
            future.set_exception(exc)
            raise
        future.set_result(value)
        with self._lock:
            size = sum(a.nbytes for a in _arrays(value))
            if size > MEMO_BYTES // 4 or self._kept[id(owner)] + size > MEMO_BYTES:
                entries.pop(key, None)  # handed to those who waited for it, not kept
            else:
                self._kept[id(owner)] += size
        return value

    def _forget(self, owner_id: int) -> None:
        """Called when the owner dies, which may happen inside `get` (the collector runs anywhere):
        it must not take the lock. Popping a key is atomic."""
        self._entries.pop(owner_id, None)
        self._kept.pop(owner_id, None)

    def pending(self, owner: object, key: Hashable) -> bool:
        """Whether another caller is computing this value right now."""
        with self._lock:
            future = self._entries.get(id(owner), {}).get(key)
        return future is not None and not future.done()


_MEMO = _PerImageMemo()


def _read_only(value: T) -> T:
    """Shared arrays are made read-only, so no analyzer can change what another one reads."""
    for array in _arrays(value):
        array.setflags(write=False)
    return value


def _arrays(value: object) -> list[np.ndarray]:
    """The arrays of a shared value: itself, or the items of a tuple or the fields of a dataclass."""
    parts = value if isinstance(value, tuple) else vars(value).values() if is_dataclass(value) else (value,)
    return [part for part in parts if isinstance(part, np.ndarray)]


def _immutable(owner: object) -> bool:
    """A Media, or a read-only array whose memory nothing writable shares: its own, or that of
    read-only arrays over `bytes` (the decoded pixels)."""
    if not isinstance(owner, np.ndarray):
        return isinstance(owner, Media)
    while isinstance(owner, np.ndarray):
        if owner.flags.writeable:
            return False
        owner = owner.base
    return owner is None or isinstance(owner, bytes)


def per_image(compute: Callable[..., T], owner: Any, *args: Hashable) -> T:
    """`compute(owner, *args)`, computed once per image and shared by every analyzer run on it.

    `owner` is a Media or the read-only pixel array `Media.pixels()` returns; for anything else
    (a writable array, whose contents may change) the value is computed afresh. The shared values'
    arrays are read-only, and they go when the owner does (at the end of the job).
    """
    if not _immutable(owner):
        return compute(owner, *args)
    return _MEMO.get(owner, (compute, *args), lambda: compute(owner, *args))


BAND_PIXELS = 1 << 18
"""Pixels per band in `in_bands`."""


def model_store() -> Any:
    """The application's model store. Each learned localiser imports it under its own name, so a test
    can point one module's store at another folder (`monkeypatch.setattr(module, "model_store", ...)`)."""
    from workbench.api import ModelStore

    return ModelStore()


def in_bands(per_pixel: Callable[[np.ndarray], np.ndarray], rgb: np.ndarray) -> np.ndarray:
    """`per_pixel(rgb)` (an image → plane function of each pixel alone) as float32, computed on bands
    of rows: the same values without image-sized float64 temporaries, whose fresh memory costs more
    than the arithmetic."""
    out = np.empty(rgb.shape[:2], np.float32)
    rows = max(1, BAND_PIXELS // max(1, rgb.shape[1]))
    for top in range(0, rgb.shape[0], rows):
        out[top : top + rows] = per_pixel(rgb[top : top + rows])
    return out


def luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma as float32 in [0, 255], as JPEG codecs compute it."""
    return in_bands(_luminance, rgb)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float32)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def media_luminance(media: Media) -> np.ndarray:
    """`luminance` of the media's pixels, computed once for all analyzers (read-only)."""
    return per_image(luminance, media.pixels())


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """The image after one more JPEG save at `quality` (libjpeg via OpenCV, 4:2:0), RGB uint8."""
    return cv2.cvtColor(_resaved(_bgr(rgb), quality), cv2.COLOR_BGR2RGB)


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)


JPEG_MAX_SIDE = 65500
"""The widest and tallest image libjpeg codes (its JPEG_MAX_DIMENSION; the format allows 65,535)."""

RESAVE_TILE = 32768
"""Side of the tiles a larger image is re-saved in: a multiple of the 16-pixel MCU of 4:2:0 JPEG."""

MCU = 16
"""The 4:2:0 minimum coded unit: 16×16 pixels, two chroma samples of 8 pixels each way."""


def _resaved(bgr: np.ndarray, quality: int) -> np.ndarray:
    """The BGR image after one JPEG save and decode; past JPEG_MAX_SIDE, in tiles on the MCU grid.

    Each tile is coded with one MCU of its neighbours around it and that border dropped: the
    blocks are coded independently and the chroma is averaged over 2×2 pixels, and the decoder's
    chroma upsampling reads one sample across a border; so the tiles give the pixels one save of
    the whole image would (were libjpeg able to), and the error-level maps mean the same.
    """
    h, w = bgr.shape[:2]
    if max(h, w) <= JPEG_MAX_SIDE:
        return _resaved_whole(bgr, quality)
    out = np.empty_like(bgr)
    for rows in _tile_spans(h):
        for cols in _tile_spans(w):
            top, left = max(0, rows.start - MCU), max(0, cols.start - MCU)
            tile = _resaved_whole(bgr[top : rows.stop + MCU, left : cols.stop + MCU], quality)
            out[rows, cols] = tile[rows.start - top : rows.stop - top, cols.start - left : cols.stop - left]
    return out


def _tile_spans(length: int) -> list[slice]:
    """The whole `length` when libjpeg codes it at once, else spans of RESAVE_TILE."""
    if length <= JPEG_MAX_SIDE:
        return [slice(0, length)]
    return [slice(start, min(start + RESAVE_TILE, length)) for start in range(0, length, RESAVE_TILE)]


def _resaved_whole(bgr: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError(f"JPEG re-compression of a {bgr.shape[1]}×{bgr.shape[0]} image failed")
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


def _resave_error(rgb: np.ndarray, quality: int) -> np.ndarray:
    bgr = per_image(_bgr, rgb)
    difference = _resave_difference(bgr, quality)
    del bgr  # a BGR copy too large to share goes before the planes are made (300 MB at 100 MP)
    return _planes(difference)


def bgr_resave_error(bgr: np.ndarray, quality: int) -> np.ndarray:
    """`resave_error` of an image in OpenCV's BGR order, computed afresh (not shared): for rows of
    an image too large to keep every quality's errors."""
    return _planes(_resave_difference(bgr, quality))


def _resave_difference(bgr: np.ndarray, quality: int) -> np.ndarray:
    """|bgr − its re-save|, interleaved, in the re-save's memory (one image-sized copy less)."""
    resaved = _resaved(bgr, quality)
    return cv2.absdiff(bgr, resaved, dst=resaved)


def _planes(interleaved: np.ndarray) -> np.ndarray:
    planes = np.empty((3, *interleaved.shape[:2]), np.uint8)
    cv2.split(interleaved, list(planes))
    return planes


def resave_error(rgb: np.ndarray, quality: int) -> np.ndarray:
    """|image − its `jpeg_roundtrip` at `quality`| as planes (3, H, W) uint8, in B, G, R order
    (for statistics over the channels); shared by the analyzers that re-save one image (ELA, the
    ELA sweep and JPEG ghosts ask for the same qualities)."""
    return per_image(_resave_error, rgb, int(quality))


def resave_errors(rgb: np.ndarray, qualities: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
    """(quality, `resave_error`) for each quality, in the order that avoids waiting: each time,
    one that no other analyzer is computing right now (done or not started), so two analyzers
    running at once re-save different qualities; one being computed elsewhere only when no other
    is left."""
    remaining = [int(q) for q in qualities]
    while remaining:
        quality = next((q for q in remaining if not _MEMO.pending(rgb, (_resave_error, q))), remaining[0])
        remaining.remove(quality)
        yield quality, resave_error(rgb, quality)


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


SERIAL_PIXELS = 1 << 20
"""Pixels per band of the full-size passes that must stay in the calling thread: OpenCV splits
images of more than 2²⁰ pixels into parallel stripes, which costs more CPU time, far more when the
other core is busy with another analyzer; the work of a band also stays in cache and needs no
image-sized planes (fresh memory costs about as much as the arithmetic)."""


def band_rows(width: int, unit: int, margin: int) -> int:
    """Rows per band of `width` columns: a multiple of `unit` that fits in SERIAL_PIXELS with `margin`
    rows on each side (at least `unit`)."""
    return max(1, (SERIAL_PIXELS // max(1, width) - 2 * margin) // unit) * unit


def pixel_blocks(
    shape: tuple[int, int], block: int, grid: tuple[int, int], offset: tuple[int, int] = (0, 0)
) -> tuple[np.ndarray, np.ndarray]:
    """The block row of each pixel row and the block column of each pixel column of an image of
    `shape`, for a `grid` of `block`-pixel blocks whose first starts at pixel `offset` (pixels before
    it or past the last block take the nearest block)."""
    rows, cols = (
        np.clip((np.arange(n) - start) // block, 0, count - 1)
        for n, start, count in zip(shape, offset, grid, strict=True)
    )
    return rows, cols


def expand_blocks(
    block_map: np.ndarray, block: int, shape: tuple[int, int], offset: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Nearest-neighbour upsampling of a per-block map to `shape` (`pixel_blocks`: edges repeat the
    nearest block), float32: one row of pixels per block row, repeated (half the CPU of a resize)."""
    rows, cols = pixel_blocks(shape, block, block_map.shape, offset)
    wide = block_map.astype(np.float32, copy=False)[:, cols]
    return np.repeat(wide, np.bincount(rows, minlength=len(block_map)), axis=0)


def resize_map(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Smooth (bilinear) resize of any map to the image's (height, width), float32."""
    h, w = shape
    return cv2.resize(values.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


SAMPLE_SIZE = 1 << 16
"""Values drawn (with a fixed seed) to bracket an order statistic in `percentiles`."""
SAMPLE_MARGIN = 4 * 256
"""Sample ranks on either side of the estimate: 4 × √SAMPLE_SIZE, so the bracket misses (and the
exact fallback runs) essentially never."""


def percentiles(values: np.ndarray, q: float | Sequence[float]) -> Any:
    """`np.percentile(values, q)` (linear interpolation), the same result bit for bit, ~3× faster
    on a 12-MP map: each order statistic is selected among the values between bounds read from a
    sorted random sample, instead of partially sorting the whole map (falls back to numpy when
    the bracket misses, or for NaN)."""
    flat = np.asarray(values).ravel()
    n = flat.size
    if n < 8 * SAMPLE_SIZE or flat.dtype.kind not in "fiu" or (flat.dtype.kind == "f" and np.isnan(flat.min())):
        return np.percentile(flat, q)
    virtual = np.atleast_1d((n - 1) * np.true_divide(q, 100))
    previous = np.minimum(np.floor(virtual), n - 1)
    lower, upper = previous.astype(np.intp), np.minimum(previous + 1, n - 1).astype(np.intp)
    selected = _order_statistics(flat, np.unique(np.concatenate([lower, upper])))
    if selected is None:
        return np.percentile(flat, q)
    a = np.array([selected[k] for k in lower], flat.dtype)
    b = np.array([selected[k] for k in upper], flat.dtype)
    t = virtual - previous
    if type(q) in (int, float):  # numpy's weak promotion: the result keeps the values' dtype
        t, a, b = float(t[0]), a[0], b[0]
        return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t
    result = np.add(a, (b - a) * t)
    np.subtract(b, (b - a) * (1 - t), out=result, where=t >= 0.5, casting="unsafe")
    return result


SELECTION_CHUNK = 1 << 16
"""Values compared at once in `_order_statistics`: each chunk stays in the CPU cache while every
bracket reads it (one pass over a large map instead of five per bracket)."""


def _order_statistics(flat: np.ndarray, ranks: np.ndarray) -> dict[int, Any] | None:
    """The values of rank `ranks` (sorted) in `flat` (no NaN), or None if a bracket missed."""
    n = flat.size
    sample = np.sort(flat[np.random.default_rng(0).integers(0, n, SAMPLE_SIZE)])
    at = ranks * (SAMPLE_SIZE - 1) // (n - 1)
    brackets: list[list[Any]] = []  # [ranks, low, high], merged where they overlap
    for rank, low, high in zip(ranks, sample[np.maximum(at - SAMPLE_MARGIN, 0)],
                               sample[np.minimum(at + SAMPLE_MARGIN, SAMPLE_SIZE - 1)], strict=True):
        if brackets and low <= brackets[-1][2]:
            brackets[-1][0].append(rank)
            brackets[-1][2] = high
        else:
            brackets.append([[rank], low, high])
    below, count = [0] * len(brackets), [0] * len(brackets)
    parts: list[list[np.ndarray]] = [[] for _ in brackets]
    at_least, at_most = np.empty(min(n, SELECTION_CHUNK), bool), np.empty(min(n, SELECTION_CHUNK), bool)
    for start in range(0, n, SELECTION_CHUNK):
        chunk = flat[start : start + SELECTION_CHUNK]
        ge, le = at_least[: chunk.size], at_most[: chunk.size]
        for i, (_, low, high) in enumerate(brackets):
            np.greater_equal(chunk, low, out=ge)
            below[i] += chunk.size - np.count_nonzero(ge)
            np.logical_and(ge, np.less_equal(chunk, high, out=le), out=ge)
            if low < high:
                parts[i].append(chunk[ge])
            else:  # one value fills the bracket (ties): no need to extract it
                count[i] += np.count_nonzero(ge)
    selected = {}
    for (bracket_ranks, low, high), first, part, ties in zip(brackets, below, parts, count, strict=True):
        inside = np.concatenate(part) if low < high else None
        offsets = [int(rank) - first for rank in bracket_ranks]
        if offsets[0] < 0 or offsets[-1] >= (inside.size if inside is not None else ties):
            return None
        if inside is None:
            selected |= {int(rank): low for rank in bracket_ranks}
            continue
        inside.partition(offsets)
        selected |= {int(rank): inside[k] for rank, k in zip(bracket_ranks, offsets, strict=True)}
    return selected


def normalize(values: np.ndarray, low_pct: float = 0.0, high_pct: float = 100.0) -> np.ndarray:
    """Min–max (or robust percentile) scaling to float32 [0, 1]; a constant map becomes zeros,
    NaN and ±inf count as 0. Computed in place on one float32 copy (a 12-MP map is 48 MB)."""
    values = np.array(values, dtype=np.float32)
    if not np.isfinite(float(values.min()) + float(values.max())):
        np.nan_to_num(values, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = percentiles(values, [low_pct, high_pct]) if (low_pct, high_pct) != (0.0, 100.0) else (
        values.min(), values.max())
    return _stretch(values, lo, hi)


def stretch(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(values − lo) / (hi − lo) clipped to [0, 1], float32; zeros if hi ≤ lo (`normalize` with the
    bounds already known)."""
    return _stretch(np.array(values, dtype=np.float32), lo, hi)


def _stretch(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    lo, hi = float(lo), float(hi)
    if hi <= lo:
        return np.zeros_like(values)
    values -= lo
    values /= hi - lo
    return np.clip(values, 0.0, 1.0, out=values)


def map_score(heat: np.ndarray) -> float:
    """The image-level score convention of the classical signals (see SCORE_MEANING)."""
    p99, median = percentiles(heat, [99, 50])
    return float(np.clip(p99 - median, 0.0, 1.0))


def block_map_score(
    block_map: np.ndarray, block: int, shape: tuple[int, int], offset: tuple[int, int] = (0, 0)
) -> float:
    """`map_score` of `expand_blocks(block_map, block, shape, offset)`, from the blocks alone: the
    same value without the full-size map."""
    p99, median = expanded_percentiles(block_map, *pixel_blocks(shape, block, block_map.shape, offset), [99, 50])
    return float(np.clip(p99 - median, 0.0, 1.0))


def weighted_percentiles(values: np.ndarray, counts: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """`percentiles` (numpy's linear method) of the data that holds each of `values` `counts`
    times (non-negative integers, same shape), the same result bit for bit, from the values alone."""
    values, counts = np.ravel(values), np.ravel(counts)
    order = np.argsort(values)
    ends = np.cumsum(counts[order])  # ranks below ends[i] hold values[order[i]]
    n = int(ends[-1])
    virtual = (n - 1) * np.true_divide(q, 100)
    previous = np.minimum(np.floor(virtual), n - 1)
    lower, upper = previous.astype(np.intp), np.minimum(previous + 1, n - 1).astype(np.intp)
    a, b = (values[order[np.searchsorted(ends, ranks, side="right")]] for ranks in (lower, upper))
    t = virtual - previous
    result = np.add(a, (b - a) * t)
    np.subtract(b, (b - a) * (1 - t), out=result, where=t >= 0.5, casting="unsafe")
    return result


def expanded_percentiles(block_map: np.ndarray, rows: np.ndarray, cols: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """`percentiles(block_map[rows][:, cols], q)` of a nearest-neighbour expansion to the image,
    from the block map weighted by the pixels each block covers: no image-sized selection."""
    counts = np.outer(np.bincount(rows, minlength=len(block_map)), np.bincount(cols, minlength=block_map.shape[1]))
    return weighted_percentiles(block_map, counts, q)


def dct_matrix(n: int = 8) -> np.ndarray:
    """Orthonormal DCT-II matrix D, so that coefficients = D @ block @ D.T (JPEG's transform)."""
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    d = np.cos((2 * x + 1) * k * np.pi / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d.astype(np.float64)


BLAS_MULTIPLY_ADDS = 1 << 18
"""The largest matrix product (multiply-adds) that numpy's OpenBLAS runs in the calling thread; a
larger one (or LAPACK's eigensolver) wakes its threads, which then spin for about 0.1 s: CPU time
taken from the other analyzer when both cores are busy."""
PRODUCT_COLUMNS = BLAS_MULTIPLY_ADDS // 64
"""Columns per product of 8 × 8 by 8 × columns in the block transforms."""


def _block_products(band: np.ndarray, left: np.ndarray, right: np.ndarray, rows: int = 8) -> np.ndarray:
    """`left @ B @ right` for every 8×8 block B of a band of block rows in image layout ((r, 8, w)
    float64, w a multiple of 64), as (r, rows, w / 8, 8) in image layout: its first `rows` rows only.

    Each output is the same sum in the same order as in the per-block products `left @ tiles @ right`
    (OpenBLAS's kernels add the 8 products of an element one after another), so the values are the
    same bit for bit, but numpy makes two BLAS calls per block row instead of two per block. The
    width padded to whole 8-block groups keeps every call on the kernels' full-size path (their edge
    paths add in another order).
    """
    r, _, width = band.shape
    half = np.empty((r, 8, width))
    for start in range(0, width, PRODUCT_COLUMNS):
        columns = slice(start, start + PRODUCT_COLUMNS)
        np.matmul(left, band[..., columns], out=half[..., columns])
    return np.matmul(half.reshape(r, 8, width // 8, 8)[:, :rows], right)


def _padded_width(cols: int) -> int:
    """Pixels per row in the block transforms' buffers: `cols` blocks rounded up to whole groups of 8
    (see `_block_products`), the rest zeros."""
    return 64 * -(-cols // 8)


def dct_bands(channel: np.ndarray, rows: int = 8) -> Iterator[tuple[slice, np.ndarray]]:
    """`block_dct` of `channel` band by band of block rows (`block_bands`): (block rows, their
    coefficients in image layout (r, rows, cols, rows): mode (k, l) of block (i, j) at [i, k, j, l]),
    only the modes with k, l < `rows`.

    The values are `block_dct`'s bit for bit; without its full-size float64 result or its
    transposing copy, a caller reads the band while it is in cache.
    """
    d = dct_matrix(8)
    grid = (channel.shape[0] // 8, channel.shape[1] // 8)
    width = 8 * grid[1]
    buffer = np.zeros((8 * min(grid[0], _band_step(grid[1])), _padded_width(grid[1])))
    for band in block_bands(grid):
        r = min(band.stop, grid[0]) - band.start
        pixels = buffer[: 8 * r]
        top = 8 * band.start
        np.copyto(pixels[:, :width], channel[top : top + 8 * r, :width])
        pixels[:, :width] -= 128.0
        coefficients = _block_products(pixels.reshape(r, 8, -1), d, d.T, rows)
        yield slice(band.start, band.start + r), coefficients[:, :, : grid[1], :rows]


def block_dct(channel: np.ndarray) -> np.ndarray:
    """8×8 block DCT of a [0, 255] channel level-shifted by 128, shape (rows, cols, 8, 8).

    Applied to decoded pixels this re-estimates the JPEG coefficients (up to rounding), which
    is how the double-quantisation methods read the compression history.
    """
    out = np.empty((channel.shape[0] // 8, channel.shape[1] // 8, 8, 8))
    for band, coefficients in dct_bands(channel):
        out[band] = coefficients.swapaxes(1, 2)
    return out


def block_bands(grid: tuple[int, int]) -> Iterator[slice]:
    """Bands of block rows of about BAND_PIXELS pixels: per-band float64 temporaries stay small."""
    rows, cols = grid
    step = _band_step(cols)
    return (slice(top, top + step) for top in range(0, rows, step))


def _band_step(cols: int) -> int:
    """Block rows per band of `block_bands` (the last band may have fewer)."""
    return max(1, BAND_PIXELS // (64 * max(cols, 1)))


JPEG_FORMATS = frozenset({"JPEG", "MPO"})
"""Pillow's names for JPEG files: MPO is a JPEG with more pictures after it (phones, 3-D cameras)."""


def quantization_tables(media: Media) -> dict[int, np.ndarray] | None:
    """The file's JPEG quantisation tables as 8×8 arrays (natural order), or None if not a JPEG."""
    if media.format not in JPEG_FORMATS:
        return None
    with Image.open(media.path) as im:  # parses the header only, unlike reading the whole file
        tables = getattr(im, "quantization", None) or {}
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
    return per_image(_decoded_plane, media).astype(np.float64)


def _decoded_plane(media: Media) -> np.ndarray:
    """`decoded_luma` as the decoder gave it: uint8 (or float32 `luminance` for other files)."""
    if media.format in JPEG_FORMATS:
        im = Image.open(io.BytesIO(media.raw_bytes()))
        if im.mode == "RGB" and im.info.get("adobe_transform") != 0:  # YCbCr-coded (0: RGB-coded)
            im.draft("L", im.size)  # libjpeg then decodes Y alone, its values as in a YCbCr decode
        if im.mode == "L":
            return np.asarray(im)
    return media_luminance(media)


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


def cell_counts(shape: tuple[int, ...], cell: int) -> np.ndarray:
    """Pixels per `cell`×`cell` cell, the last row/column partial (as `cell_sums` of ones)."""
    rows, cols = (np.minimum(cell, n - np.arange(0, n, cell)) for n in shape[:2])
    return np.outer(rows, cols).astype(np.float32)


def ycbcr_luma(rgb: np.ndarray) -> np.ndarray:
    """Y of MATLAB's `rgb2ycbcr` on uint8 RGB: BT.601 studio range 16–235, rounded, float32.

    The toolbox's noise methods estimate noise on this channel; the rounding is itself a small
    noise floor, so using the same channel is what makes their maps reproducible.
    """
    return in_bands(_ycbcr_luma, rgb)


def _ycbcr_luma(rgb: np.ndarray) -> np.ndarray:
    return np.rint(rgb.astype(np.float64) @ np.array([65.481, 128.553, 24.966]) / 255.0 + 16.0)


def luma_quantization(media: Media, method: str) -> np.ndarray:
    """The luminance quantisation table of a JPEG; a clear ValueError for any other file or an invalid
    table (a zero step would divide the coefficients by zero)."""
    from plugins.metadata.jpeg import table_problem

    tables = quantization_tables(media)
    if tables is None:
        raise ValueError(f"{method} requires a JPEG file: {media.name} is {media.format}")
    slot = min(tables)
    if problem := table_problem(slot, tables[slot].ravel().tolist()):
        raise ValueError(f"{method} cannot read {media.name}: {problem}")
    return tables[slot]


@dataclass(frozen=True)
class JpegLuma:
    """A JPEG's luma as the double-quantisation methods (ADQ, NADQ) read it; `jpeg_luma` computes it
    once per file for both."""

    qtable: np.ndarray
    """The luminance quantisation table, 8×8 (natural order)."""
    decoded: np.ndarray
    """The luma plane as the decoder gave it (`decoded_luma` before its float64 conversion): uint8,
    or float32 luminance for files that are not YCbCr/greyscale JPEGs."""
    coefficients: np.ndarray
    """The integer DCT coefficients re-estimated from `decoded`, (rows, cols, 8, 8) int16."""
    error_mean: np.ndarray
    error_var: np.ndarray
    """Per DCT mode (8×8): mean and variance over the blocks of the decoder's rounding and clipping
    error in DCT terms, the exact dequantised coefficients minus those of the stored 8-bit pixels'
    luma (Bianchi's estimate of the noise it adds)."""

    def error_variance(self) -> float:
        """The variance of that error over all modes together."""
        return float(np.mean(self.error_var + self.error_mean**2) - np.mean(self.error_mean) ** 2)


def jpeg_luma(media: Media) -> JpegLuma:
    """The file's `JpegLuma`, computed once and shared (check the file with `luma_quantization` first)."""
    return per_image(_jpeg_luma, media)


def _jpeg_luma(media: Media) -> JpegLuma:
    """Computed band by band of block rows (`dct_bands`), without image-sized float64 arrays.

    The statistics sum the blocks in the same order as over a (rows, cols, 8, 8) array, so they
    are the same bit for bit: each band goes to that block layout by cv2.transpose (a block row in
    image layout is an 8 × cols matrix of 8-value rows; float64 ones go as two 32-byte halves).
    """
    qtable = luma_quantization(media, "double-quantisation analysis")
    decoded = per_image(_decoded_plane, media)
    rows, cols = decoded.shape[0] // 8, decoded.shape[1] // 8
    coefficients = np.empty((rows, cols, 8, 8), np.int16)
    steps = np.repeat(qtable[:, None, :], cols, axis=1)  # in image layout, as `dct_bands` gives them
    error = np.empty((min(rows, _band_step(cols)), cols, 2, 8, 4))  # per block: the halves of its rows
    sums, squares = np.zeros((2, 8, 4)), np.zeros((2, 8, 4))
    for (band, quantized), (_, rgb) in zip(dct_bands(decoded), dct_bands(media_luminance(media)), strict=True):
        quantized /= steps
        np.round(quantized, out=quantized)
        integers = quantized.astype(np.int16)
        quantized *= steps
        quantized -= rgb
        for i, block_row in enumerate(range(band.start, band.stop)):
            cv2.transpose(integers[i], dst=coefficients[block_row])
            cv2.transpose(quantized[i].reshape(8, 2 * cols, 4), dst=error[i].reshape(2 * cols, 8, 4))
        band_error = error[: len(quantized)]
        sums += band_error.sum(axis=(0, 1))
        squares += np.einsum("ijabc,ijabc->abc", band_error, band_error)
    sums, squares = (total.transpose(1, 0, 2).reshape(8, 8) for total in (sums, squares))
    mean = sums / (rows * cols)
    return JpegLuma(qtable, decoded, coefficients, mean, squares / (rows * cols) - mean**2)


def idct_bands(coeffs: np.ndarray, qtable: np.ndarray | None = None) -> Iterator[tuple[slice, np.ndarray]]:
    """`block_idct` band by band of block rows (`block_bands`): (block rows, their pixels in image
    layout (r, 8, cols, 8), i.e. image rows 8·r × 8·cols), the values of `block_idct` bit for bit."""
    d = dct_matrix(8)
    rows, cols = coeffs.shape[:2]
    step = min(rows, _band_step(cols))
    buffer = np.zeros((step, 8, _padded_width(cols) // 8, 8))
    # Blocks whose rows of 8 values fit in 32 bytes (the JPEG's int16 coefficients) go to image layout by
    # cv2.transpose of each block row, 4× faster than numpy's copy through the swapped axes.
    transposed = np.empty((step, 8, cols, 8), coeffs.dtype) if coeffs.itemsize <= 4 else None
    steps = None if qtable is None else np.repeat(qtable[:, None, :], cols, axis=1)  # in image layout
    for band in block_bands((rows, cols)):
        r = min(band.stop, rows) - band.start
        blocks_in_rows = buffer[:r, :, :cols]  # image layout: row k of block (i, j) at [i, k, j]
        if transposed is None:
            np.copyto(blocks_in_rows, coeffs[band].swapaxes(1, 2), casting="unsafe")
        else:
            for i, block_row in enumerate(coeffs[band]):
                cv2.transpose(block_row, dst=transposed[i])
            np.copyto(blocks_in_rows, transposed[:r], casting="unsafe")
        if steps is not None:
            blocks_in_rows *= steps
        pixels = _block_products(buffer[:r].reshape(r, 8, -1), d.T, d)[:, :, :cols]
        yield slice(band.start, band.start + r), np.add(pixels, 128.0, out=pixels)


def block_idct(coeffs: np.ndarray, qtable: np.ndarray | None = None) -> np.ndarray:
    """Inverse of `block_dct`: (rows, cols, 8, 8) coefficients, times `qtable` (8×8) if given (the
    dequantised coefficients), → [0, 255]-range channel, unrounded.

    The same values bit for bit as `(d.T @ coeffs @ d)` block by block (see `_block_products`).
    """
    rows, cols = coeffs.shape[:2]
    out = np.empty((8 * rows, 8 * cols))
    for band, pixels in idct_bands(coeffs, qtable):
        out[8 * band.start : 8 * band.stop].reshape(-1, 8, cols, 8)[:] = pixels
    return out


def mode_planes(coeffs: np.ndarray, positions: Sequence[tuple[int, int]]) -> np.ndarray:
    """The coefficients (rows, cols, 8, 8) of the DCT modes at `positions` as planes (len(positions),
    rows, cols): one pass over the coefficients, instead of one strided pass per mode."""
    index = [8 * row + col for row, col in positions]
    planes = np.take(coeffs.reshape(-1, 64), index, axis=1).T
    return np.ascontiguousarray(planes).reshape(len(index), *coeffs.shape[:2])


COEFFICIENT_RANGE = 2048
"""Coefficient histograms cover rounded values −2048 … 2047 (the JPEG coefficient range)."""


def coefficient_bins(values: np.ndarray) -> np.ndarray:
    """Histogram bin index (0 … 4095) of each value rounded as floor(x + ½); outliers go to the end bins."""
    values = np.asarray(values)
    if values.dtype.kind not in "iu":  # integers are whole already
        values = np.floor(values + 0.5).astype(np.int64)
    return np.add(np.clip(values, -COEFFICIENT_RANGE, COEFFICIENT_RANGE - 1), COEFFICIENT_RANGE, dtype=np.int64)


def coefficient_histogram(values: np.ndarray) -> np.ndarray:
    """Counts of the rounded values −2048 … 2047, float64 (the double-quantisation methods' histogram)."""
    return bins_histogram(coefficient_bins(values))


def bins_histogram(bins: np.ndarray) -> np.ndarray:
    """`coefficient_histogram` from the values' `coefficient_bins`."""
    return np.bincount(bins.ravel(), minlength=2 * COEFFICIENT_RANGE).astype(np.float64)
