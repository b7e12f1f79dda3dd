"""Copied segments from a frame-to-frame similarity matrix: the temporal network of Tan et al. (2009).

Rows are query frames, columns reference frames, both sampled at the same interval. A copy shows
as a run of high similarities along a line: the diagonal for a straight copy, a steeper or flatter
line after a speed change, with holes where frames were dropped, covered or badly re-encoded.

The temporal network (as in the VCSL / VSC 2022 baselines) keeps, for each query frame, its best
`top_k` reference frames above `threshold` as nodes, links a node to the nodes of the next
`max_gap + 1` query frames whose reference frame is not earlier and at most `max_gap + 1` frames
later, and finds by dynamic programming the path with the largest sum of similarities (minus a
small cost per skipped frame). That path is one copied segment; its query frames leave the network
and the search repeats. So each query frame is matched to one place of the reference, the best:
the shifted "shadow" paths that the slowly changing frames of one shot would otherwise add beside
the true one are not reported, nor is a second showing of the same material in the reference.
Time only moves forward in both videos, so a reversed copy is not found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AlignmentParams:
    threshold: float = 0.8
    """Frame similarity a frame pair needs to be a node (the copy's frames must all pass it)."""
    top_k: int = 5
    """Reference frames kept per query frame: several, so a repeated shot can be matched twice."""
    max_gap: int = 3
    """Frames that may be skipped in either video between two matched frames (drops, cuts, speed)."""
    gap_cost: float = 0.01
    """Taken off a path's sum per skipped frame: among equal paths, the tightest line wins."""
    min_frames: int = 2
    """Query frames a segment must span."""
    max_segments: int = 20


@dataclass(frozen=True)
class Match:
    """One aligned path, as inclusive row (query) and column (reference) indices of the matrix."""

    q_start: int
    q_end: int
    r_start: int
    r_end: int
    score: float
    """Mean similarity of the matched frame pairs."""
    frames: int
    """Matched frame pairs on the path."""


def temporal_network(similarity: np.ndarray, params: AlignmentParams = AlignmentParams()) -> list[Match]:
    """The copied segments in a similarity matrix (NaN cells never match), best path first."""
    sim = np.nan_to_num(np.asarray(similarity, np.float32), nan=-np.inf)
    if sim.ndim != 2 or 0 in sim.shape:
        return []
    k = min(params.top_k, sim.shape[1])
    cols = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(sim, cols, axis=1)
    alive = values >= params.threshold
    matches: list[Match] = []
    while len(matches) < params.max_segments and alive.any():
        path = _best_path(cols, values, alive, params)
        rows = [i for i, _ in path]
        picked = np.array([cols[i, n] for i, n in path])
        q0, q1, r0, r1 = rows[0], rows[-1], int(picked.min()), int(picked.max())
        if q1 - q0 + 1 < params.min_frames:
            break  # the best remaining path is too short, so is every other
        matches.append(Match(q0, q1, r0, r1, float(np.mean([values[i, n] for i, n in path])), len(path)))
        alive[q0 : q1 + 1] = False  # each query frame is matched to one place of the reference
    return matches


def _best_path(
    cols: np.ndarray, values: np.ndarray, alive: np.ndarray, params: AlignmentParams
) -> list[tuple[int, int]]:
    """Dynamic programming over the rows that have nodes: [(row, node index)] of the best path."""
    reach = params.max_gap + 1
    best = np.full(values.shape, -np.inf, np.float64)
    back = np.full((*values.shape, 2), -1, np.int64)
    rows = np.flatnonzero(alive.any(axis=1))
    for n, i in enumerate(rows):
        here = np.flatnonzero(alive[i])
        gain = values[i, here].astype(np.float64)
        link = np.zeros(len(here))
        for p in rows[max(0, n - reach) : n][::-1]:
            if i - p > reach:
                break
            there = np.flatnonzero(alive[p])
            dj = cols[i, here][:, None] - cols[p, there][None, :]
            skipped = np.maximum(i - p, dj) - 1
            candidate = best[p, there][None, :] - params.gap_cost * skipped
            candidate[(dj < 0) | (dj > reach)] = -np.inf
            pick = candidate.argmax(axis=1)
            better = candidate[np.arange(len(here)), pick] > link
            link[better] = candidate[np.arange(len(here)), pick][better]
            back[i, here[better]] = np.stack([np.full(better.sum(), p), there[pick[better]]], axis=1)
        best[i, here] = gain + link
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
