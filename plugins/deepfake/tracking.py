"""Face tracks across sampled video frames: one id per face for as long as it stays in view.

Per-face scores are only comparable along a track (the same person, the same manipulation), and
the video verdict aggregates per track. Frames are sampled sparsely (default one per second), so
association is greedy on box overlap, with a centre-distance fallback for faces that moved more
than their overlap allows; a face missed for up to `max_gap` sampled frames keeps its id. A scene
cut ends every track: the face after it is another shot, whatever its place in the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from plugins.deepfake.faces import Box, overlap


@dataclass
class _Track:
    id: int
    box: Box
    seen_at: int


class FaceTracker:
    """Call `assign` once per sampled frame, in order; it returns a track id per box."""

    def __init__(self, min_iou: float = 0.3, max_shift: float = 0.5, max_gap: int = 2) -> None:
        self.min_iou = min_iou
        self.max_shift = max_shift
        """Largest centre movement between two samples, in units of the face's size."""
        self.max_gap = max_gap
        self._tracks: list[_Track] = []
        self._first_alive = 0
        """Tracks before this one ended at a scene cut."""
        self._step = -1

    def cut(self) -> None:
        """A scene cut since the last `assign`: no track continues past it."""
        self._first_alive = len(self._tracks)

    def assign(self, boxes: list[Box]) -> list[int]:
        self._step += 1
        alive = [t for t in self._tracks[self._first_alive:] if self._step - t.seen_at <= self.max_gap + 1]
        candidates = sorted(
            ((affinity, ti, bi) for ti, track in enumerate(alive) for bi, box in enumerate(boxes)
             if (affinity := self._affinity(track.box, box)) > 0),
            reverse=True,
        )
        ids = [-1] * len(boxes)
        used: set[int] = set()
        for _, ti, bi in candidates:
            if ti in used or ids[bi] >= 0:
                continue
            used.add(ti)
            alive[ti].box, alive[ti].seen_at = boxes[bi], self._step
            ids[bi] = alive[ti].id
        for bi, box in enumerate(boxes):
            if ids[bi] < 0:
                track = _Track(len(self._tracks), box, self._step)
                self._tracks.append(track)
                ids[bi] = track.id
        return ids

    def _affinity(self, a: Box, b: Box) -> float:
        """Overlap when it is enough; otherwise a small positive value for a face that moved less
        than `max_shift` sizes (ranked below every overlap match); 0 for no match."""
        iou, _ = overlap(a, b)
        if iou >= self.min_iou:
            return iou
        size = max((a[2] - a[0] + a[3] - a[1] + b[2] - b[0] + b[3] - b[1]) / 4, 1e-6)
        shift = math.dist(((a[0] + a[2]) / 2, (a[1] + a[3]) / 2), ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)) / size
        return self.min_iou * (1 - shift / self.max_shift) if shift < self.max_shift else 0.0
