"""The line a copied segment's time mapping follows: reference time = offset + speed × query time.

A path through the similarity matrix picks one reference frame per query frame. Inside a slowly
changing shot many reference frames are about as similar as the one it picked, so the picked frames
wander while the copy plays at one speed, and the reference span read from the path's first and
last frames is wrong by seconds. The line is fitted instead to every frame pair that could be on it:
for each query frame of the segment, the reference frames within `support_margin` of its best
similarity near the path (its *supports*: a whole uniform shot, or a few frames around a sharp
match), each standing for the time until the next sampled frame on either side. The line crossing
the most supports wins, a maximum-consensus fit: exhaustive over speeds in the allowed range, on a
grid fine enough to move the segment's ends by at most half a sampling interval, with a sweep over
offsets for each speed. So the cuts between shots pin the line where the path wandered inside them.
Among equally supported lines the one nearest the path's own robust line wins (a Theil–Sen fit of
its frames, each weighted by how narrow its query frame's supports are, so frames taken at random
in a uniform shot hardly count), kept half an interval inside the offsets the supports allow. Path
frames the line misses for more than `max_gap` frames in a row (a path that drifted away) are cut
off, and the rest is fitted again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from plugins.similarity.temporal_alignment import AlignmentParams

SPEEDS_AT_ONCE = 256
"""Speeds whose offset sweeps run as one array: bounds the memory of very long segments."""
MAX_PAIRED = 400
"""Path frames whose pairwise speeds give the path's own speed (evenly spread on longer paths)."""


@dataclass(frozen=True)
class Grid:
    """The instants (seconds) of the matrix's rows (query) and columns (reference), and their intervals."""

    query: np.ndarray
    reference: np.ndarray
    q_interval: float
    r_interval: float

    @staticmethod
    def of(shape: tuple[int, int], query_times: np.ndarray | None = None,
           reference_times: np.ndarray | None = None) -> Grid:
        """Default: one row or column per second."""
        times = [np.arange(n, dtype=np.float64) if t is None else np.asarray(t, np.float64)
                 for n, t in zip(shape, (query_times, reference_times), strict=True)]
        if any(len(t) != n for t, n in zip(times, shape, strict=True)):
            raise ValueError(f"{shape} matrix with {len(times[0])} query and {len(times[1])} reference instants")
        q, r = times
        return Grid(q, r, *(float(np.median(np.diff(t))) if len(t) > 1 else 1.0 for t in (q, r)))

    def within_speeds(self, dq: np.ndarray | float, dr: np.ndarray, params: AlignmentParams) -> np.ndarray:
        """Whether the reference advancing `dr` while the query advances `dq` is a speed in range, to
        within one reference interval (sampled instants are rounded to it)."""
        tol = self.r_interval
        return (dr >= params.min_speed * dq - tol) & (dr <= params.max_speed * dq + tol)


def fit_line(sim: np.ndarray, rows: np.ndarray, cols: np.ndarray, grid: Grid,
             params: AlignmentParams) -> tuple[np.ndarray, float, float]:
    """A path's (rows, cols: one column per row, rows increasing) line: which of its frames stay on
    the segment (a mask), the speed and the offset (seconds). `sim` has -inf where frames never match."""
    first = rows[0]
    span = np.arange(first, rows[-1] + 1)
    t, r = grid.query[rows], grid.reference[cols]
    window = (params.max_gap + 1) * grid.r_interval + np.ptp(r) / 2
    support = _supports(sim[span], grid.query[span], float(np.interp((t[0] + t[-1]) / 2, t, r)), window, grid,
                        params)
    weight = 1.0 / _spreads(support[rows - first])
    guess = _path_line(t, r, weight, params)
    speed, offset = _consensus(support, grid.query[span], guess, window, grid, params)
    kept = _longest_run(rows, _on_line(support[rows - first], rows, cols, speed, offset, grid), params.max_gap)
    if kept.any() and not kept.all():
        inside = (span >= rows[kept][0]) & (span <= rows[kept][-1])
        guess = _path_line(t[kept], r[kept], weight[kept], params)
        speed, offset = _consensus(support[inside], grid.query[span][inside], guess, window, grid, params)
    return kept, float(speed), float(offset)


def _supports(sim: np.ndarray, t: np.ndarray, r_mid: float, window: float, grid: Grid,
              params: AlignmentParams) -> np.ndarray:
    """rows × columns: the reference frames each query frame could be matched to on a line passing
    within `window` of `r_mid` at the middle (above the threshold and within the margin of the row's
    best inside the cone of such lines)."""
    cone = window + params.max_speed * np.abs(t - (t[0] + t[-1]) / 2)[:, None]
    values = np.where(np.abs(grid.reference[None, :] - r_mid) <= cone, sim, -np.inf)
    top = values.max(axis=1, keepdims=True)
    return values >= np.maximum(params.threshold, top - params.support_margin)


def _spreads(support: np.ndarray) -> np.ndarray:
    """For each row, how many frames its supports spread over (first to last): how uncertain the place
    of its path frame is (a whole uniform shot, whose supports noise breaks up, or a few frames of a
    sharp match); a row without support counts as uncertain as its whole length."""
    any_ = support.any(axis=1)
    first, last = support.argmax(axis=1), support.shape[1] - 1 - support[:, ::-1].argmax(axis=1)
    return np.where(any_, last - first + 1, support.shape[1]).astype(np.float64)


def _path_line(t: np.ndarray, r: np.ndarray, weight: np.ndarray, params: AlignmentParams) -> tuple[float, float]:
    """(speed, offset) of the path's own frames, robustly: a weighted Theil–Sen fit (the weighted median
    of the pairwise speeds, clipped to the range, then of the offsets), each frame weighted by how
    sharply it is placed (1 / the spread of its row's supports), so the frames a path took at random
    in a uniform shot hardly count. What the fit stays closest to where the supports allow several lines."""
    if len(t) > MAX_PAIRED:  # pairwise speeds of evenly spread frames
        pick = np.linspace(0, len(t) - 1, MAX_PAIRED).astype(int)
        speed = _path_line(t[pick], r[pick], weight[pick], params)[0]
    elif len(t) > 1:
        i, j = np.triu_indices(len(t), 1)
        speed = float(np.clip(_weighted_median((r[j] - r[i]) / (t[j] - t[i]), weight[i] * weight[j]),
                              params.min_speed, params.max_speed))
    else:
        speed = 1.0
    return speed, _weighted_median(r - speed * t, weight)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def _consensus(support: np.ndarray, t: np.ndarray, guess: tuple[float, float], window: float, grid: Grid,
               params: AlignmentParams) -> tuple[float, float]:
    """(speed, offset) of the line crossing the most supports within `window` of the path's line at the
    segment's middle; among those, the one nearest the path's line (gap at the segment's ends), kept half
    an interval inside the offsets the supports allow."""
    t_mid, half = (t[0] + t[-1]) / 2, (t[-1] - t[0]) / 2
    r_mid = guess[1] + guess[0] * t_mid
    edges = np.diff(np.pad(support, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    row, first = np.nonzero(edges == 1)
    _, past = np.nonzero(edges == -1)  # row-major order: the k-th end closes the k-th start
    if not len(row):
        return guess  # nothing to fit beyond the path
    # the content of sampled frames a..b lasts at most until the next sample on either side
    lo, hi = grid.reference[first] - grid.r_interval, grid.reference[past - 1] + grid.r_interval
    dt = t[row] - t_mid
    cells: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []  # count, speed, offset range at t_mid
    speeds = _speeds(t[-1] - t[0] + grid.q_interval, grid, params)
    for chunk in np.array_split(speeds, -(-len(speeds) // SPEEDS_AT_ONCE)):
        start, end = lo[None, :] - chunk[:, None] * dt, hi[None, :] - chunk[:, None] * dt  # at t_mid
        counted = (end >= r_mid - window) & (start <= r_mid + window)
        position = np.clip(np.concatenate([start, end], axis=1), r_mid - window, r_mid + window)
        step = np.concatenate([counted, counted], axis=1).astype(np.int64) * np.repeat([1, -1], len(lo))
        order = np.lexsort((step, position), axis=1)  # open intervals: at one position, ends before starts
        position, cover = np.take_along_axis(position, order, 1), np.cumsum(np.take_along_axis(step, order, 1), 1)
        if cover.max() == 0:
            continue
        s, e = np.nonzero(cover == cover.max())  # a maximum is never the last event (an end)
        cells.append((int(cover.max()), chunk[s], position[s, e], position[s, e + 1]))
    count = max((c[0] for c in cells), default=0)
    if count == 0:
        return guess  # no support inside the window either
    speed, p0, p1 = (np.concatenate([c[i] for c in cells if c[0] == count]) for i in (1, 2, 3))
    inset = np.minimum(grid.r_interval / 2, (p1 - p0) / 2)
    value = np.clip(r_mid, p0 + inset, p1 - inset)
    k = int(np.argmin(np.abs(value - r_mid) + np.abs(speed - guess[0]) * half))
    return float(speed[k]), float(value[k] - speed[k] * t_mid)


def _speeds(duration: float, grid: Grid, params: AlignmentParams) -> np.ndarray:
    """Speeds from min to max, geometric, close enough that the ends of a `duration`-long segment
    (anchored at its middle) move by at most half a reference interval between two; 1 among them."""
    step = grid.r_interval / (max(duration, grid.q_interval) * params.max_speed)
    n = int(np.ceil(np.log(params.max_speed / params.min_speed) / step)) + 1
    speeds = np.geomspace(params.min_speed, params.max_speed, max(n, 2))
    return np.union1d(speeds, [1.0]) if params.min_speed <= 1.0 <= params.max_speed else speeds


def _on_line(support: np.ndarray, rows: np.ndarray, cols: np.ndarray, speed: float, offset: float,
             grid: Grid) -> np.ndarray:
    """Path frames whose query frame backs the line (a support it crosses, as in the fit), or that lie
    within an interval of it."""
    line = offset + speed * grid.query[rows]
    crossed = support & (np.abs(grid.reference[None, :] - line[:, None]) < grid.r_interval)
    return crossed.any(axis=1) | (np.abs(grid.reference[cols] - line) < grid.r_interval)


def _longest_run(rows: np.ndarray, on: np.ndarray, max_gap: int) -> np.ndarray:
    """The frames (a mask) of the longest stretch of the path that stays on the line. Up to `max_gap`
    frames in a row off it are kept, as the network bridges as many; more (a path that drifted away)
    split the path."""
    on = on.copy()
    edges = np.diff(np.concatenate([[0], (~on).astype(np.int8), [0]]))
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        on[start:end] |= end - start <= max_gap
    kept = np.zeros(len(rows), bool)
    index = np.flatnonzero(on)
    if len(index):
        kept[max(np.split(index, np.flatnonzero(np.diff(rows[index]) > max_gap + 1) + 1), key=len)] = True
    return kept
