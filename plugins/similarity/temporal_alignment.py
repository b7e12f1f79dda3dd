"""Copied segments from a frame-to-frame similarity matrix: the temporal network of Tan et al. (2009),
with each segment's speed kept in a range and its time mapping fitted as one line.

Rows are query frames, columns reference frames, each sampled at its own instants (seconds; by
default one row or column per second). A copy shows as a run of high similarities along a line:
the diagonal for a straight copy, a steeper or flatter line after a speed change, with holes where
frames were dropped, covered or badly re-encoded.

The temporal network (as in the VCSL / VSC 2022 baselines) keeps, for each query frame, its best
`top_k` reference frames above `threshold` as nodes, links a node to the nodes of the next
`max_gap + 1` query frames whose reference frame is not earlier, and finds by dynamic programming
the path with the largest sum of similarities (minus a small cost per skipped frame). That path is
one copied segment; its query frames leave the network and the search repeats. So each query frame
is matched to one place of the reference, the best: the shifted "shadow" paths that the slowly
changing frames of one shot would otherwise add beside the true one are not reported, nor is a
second showing of the same material in the reference. Time only moves forward in both videos, so a
reversed copy is not found.

A copy plays at one speed: the reference advances between `min_speed` and `max_speed` seconds per
query second, on every link and from the path's start (both within one reference sampling
interval, the rounding of sampled instants). Inside a slowly changing shot every reference frame
looks like every other, so the path's frames there say little about where the copy is, and the
reference span read from the path's first and last frames drifts (a query advancing 8 s against
5 s of reference). Each segment's reference span therefore comes from one line, time → time, fitted
to the whole matrix over the segment's query rows (`fit_line`); path frames far from that line are
cut off the segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plugins.similarity.segment_line import Grid, fit_line


@dataclass(frozen=True)
class AlignmentParams:
    threshold: float = 0.8
    """Frame similarity a frame pair needs to be a node (the copy's frames must all pass it)."""
    top_k: int = 5
    """Reference frames kept per query frame: several, so a repeated shot can be matched twice."""
    max_gap: int = 3
    """Query frames that may be skipped between two matched frames (drops, cuts, covered frames)."""
    gap_cost: float = 0.01
    """Taken off a path's sum per skipped frame: among equal paths, the tightest line wins."""
    min_frames: int = 2
    """Query frames a segment must span."""
    max_segments: int = 20
    min_speed: float = 0.5
    """Fewest reference seconds per query second (0.5: the copy plays at half speed)."""
    max_speed: float = 2.0
    """Most reference seconds per query second (2: the copy plays at double speed)."""
    support_margin: float = 0.03
    """A reference frame within this of a query frame's best similarity (near the path) can lie on the
    segment's line: inside a slowly changing shot that is the whole shot, not the frame the path took."""


@dataclass(frozen=True)
class Match:
    """One copied segment: the query rows it spans, the reference columns its matched frames span, and
    the line that maps its query times to reference times."""

    q_start: int
    q_end: int
    r_start: int
    r_end: int
    score: float
    """Mean similarity of the matched frame pairs."""
    frames: int
    """Matched frame pairs on the path."""
    speed: float = 1.0
    """Reference seconds per query second of the fitted line."""
    offset: float = 0.0
    """Reference time (s) the fitted line gives at query time 0."""

    def reference_time(self, query_time: float) -> float:
        return self.offset + self.speed * query_time


def temporal_network(
    similarity: np.ndarray, params: AlignmentParams = AlignmentParams(),
    query_times: np.ndarray | None = None, reference_times: np.ndarray | None = None,
) -> list[Match]:
    """The copied segments in a similarity matrix (NaN cells never match), best path first. Times are
    the rows' and columns' instants in seconds (default: one per second)."""
    sim = np.nan_to_num(np.asarray(similarity, np.float32), nan=-np.inf)
    if sim.ndim != 2 or 0 in sim.shape:
        return []
    grid = Grid.of(sim.shape, query_times, reference_times)
    k = min(params.top_k, sim.shape[1])
    cols = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(sim, cols, axis=1)
    alive = values >= params.threshold
    matches: list[Match] = []
    while len(matches) < params.max_segments and alive.any():
        path = _best_path(cols, values, alive, grid, params)
        if path[-1][0] - path[0][0] + 1 < params.min_frames:
            break  # the best remaining path is too short, so is every other
        rows = np.array([i for i, _ in path])
        picked = np.array([cols[i, n] for i, n in path])
        kept, speed, offset = fit_line(sim, rows, picked, grid, params)
        for i, n in path:
            alive[i, n] = False  # a node is on one path only, whether the line keeps it or not
        if not kept.any() or rows[kept][-1] - rows[kept][0] + 1 < params.min_frames:
            continue
        q0, q1 = int(rows[kept][0]), int(rows[kept][-1])
        score = float(np.mean([values[i, n] for (i, n), keep in zip(path, kept, strict=True) if keep]))
        matches.append(Match(q0, q1, int(picked[kept].min()), int(picked[kept].max()), score, int(kept.sum()),
                             speed, offset))
        alive[q0 : q1 + 1] = False  # each query frame is matched to one place of the reference
    return matches


def segment_span(match: Match, query_times: np.ndarray, interval: float, query_duration: float,
                 reference_duration: float) -> list[float]:
    """[query start, query end, reference start, reference end] in seconds: a sampled query frame stands
    for the `interval` after it; the reference span is the fitted line's image of the query span, inside
    the reference."""
    q0 = float(query_times[match.q_start])
    q1 = min(float(query_times[match.q_end]) + interval, query_duration)
    r0, r1 = (float(np.clip(match.reference_time(t), 0.0, reference_duration)) for t in (q0, q1))
    return [q0, q1, r0, r1]


def _best_path(
    cols: np.ndarray, values: np.ndarray, alive: np.ndarray, grid: Grid, params: AlignmentParams
) -> list[tuple[int, int]]:
    """Dynamic programming over the rows that have nodes: [(row, node index)] of the best path whose
    speed stays in range on each link and since its first node."""
    reach = params.max_gap + 1
    at = grid.reference[cols]  # each node's reference time
    best = np.full(values.shape, -np.inf, np.float64)
    back = np.full((*values.shape, 2), -1, np.int64)
    first_q = np.zeros(values.shape)  # where each node's best path starts (query and reference time)
    first_r = np.zeros(values.shape)
    rows = np.flatnonzero(alive.any(axis=1))
    for n, i in enumerate(rows):
        here = np.flatnonzero(alive[i])
        gain = values[i, here].astype(np.float64)
        link = np.zeros(len(here))
        start_q, start_r = np.full(len(here), grid.query[i]), at[i, here].copy()
        for p in rows[max(0, n - reach) : n][::-1]:
            if i - p > reach:
                break
            there = np.flatnonzero(alive[p])
            r_here = at[i, here][:, None]
            allowed = (
                (r_here >= at[p, there][None, :])
                & grid.within_speeds(grid.query[i] - grid.query[p], r_here - at[p, there][None, :], params)
                & grid.within_speeds(grid.query[i] - first_q[p, there][None, :],
                                     r_here - first_r[p, there][None, :], params)
            )
            skipped = np.maximum(i - p, cols[i, here][:, None] - cols[p, there][None, :]) - 1
            candidate = np.where(allowed, best[p, there][None, :] - params.gap_cost * skipped, -np.inf)
            pick = candidate.argmax(axis=1)
            value = candidate[np.arange(len(here)), pick]
            better = value > link
            link[better] = value[better]
            back[i, here[better]] = np.stack([np.full(better.sum(), p), there[pick[better]]], axis=1)
            start_q[better], start_r[better] = first_q[p, there[pick[better]]], first_r[p, there[pick[better]]]
        best[i, here] = gain + link
        first_q[i, here], first_r[i, here] = start_q, start_r
    i, n = np.unravel_index(np.argmax(best), best.shape)
    path = [(int(i), int(n))]
    while back[i, n, 0] >= 0:
        i, n = back[i, n]
        path.append((int(i), int(n)))
    return path[::-1]


def merge_overlapping(rows: np.ndarray, references: list[str]) -> tuple[np.ndarray, list[str]]:
    """Segments (N × 5: q_start, q_end, r_start, r_end, score) of one reference whose query spans and
    reference spans both overlap become one (the union; score weighted by query length), sorted by
    decreasing score."""
    order = np.argsort(-rows[:, 4], kind="stable") if len(rows) else np.zeros(0, int)
    merged: list[tuple[np.ndarray, str]] = []
    for index in order:
        row, ref = rows[index].astype(np.float64), references[index]
        for m, (kept, kept_ref) in enumerate(merged):
            if kept_ref == ref and _overlap(kept[0:2], row[0:2]) and _overlap(kept[2:4], row[2:4]):
                w0, w1 = kept[1] - kept[0], row[1] - row[0]
                score = (kept[4] * w0 + row[4] * w1) / max(w0 + w1, 1e-9)
                merged[m] = (np.array([min(kept[0], row[0]), max(kept[1], row[1]), min(kept[2], row[2]),
                                       max(kept[3], row[3]), score]), ref)
                break
        else:
            merged.append((row, ref))
    merged.sort(key=lambda item: -item[0][4])
    out = np.array([m[0] for m in merged], np.float64).reshape(-1, 5)
    return out, [m[1] for m in merged]


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    return min(a[1], b[1]) > max(a[0], b[0])
