"""From per-face probabilities to per-frame values and one probability for the image or video.

The per-face ensemble score is the mean of the members' P(fake). Over a video, the default rule
follows the identity ("face") aggregation of the MeVer team (Charitidis et al. 2020): scores are
averaged along each face track and the video takes the most suspicious track, so a single swapped
face among real ones is not averaged away by them, and one odd frame does not decide alone. The
alternative keeps only frames: the mean of the top quarter of per-frame maxima.
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np


class Aggregation(StrEnum):
    TRACKS = "tracks"
    TOP_QUARTILE = "top_quartile"


RULES: dict[Aggregation, str] = {
    Aggregation.TRACKS: (
        "per face: mean of the members' P(fake); per frame: the highest face; per track (one face followed "
        "across frames): mean over its faces; result: the highest track mean (identity aggregation, "
        "Charitidis et al. 2020)"
    ),
    Aggregation.TOP_QUARTILE: (
        "per face: mean of the members' P(fake); per frame: the highest face; result: mean of the highest "
        "quarter of the per-frame values (at least one frame)"
    ),
}


def ensemble_faces(member_scores: np.ndarray) -> np.ndarray:
    """Per-face ensemble score: mean over members (rows: members, columns: faces)."""
    return np.asarray(member_scores, np.float64).mean(axis=0)


def frame_maxima(scores: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted frame indices, highest face score of each)."""
    order = np.unique(frames)
    return order, np.array([scores[frames == f].max() for f in order], np.float64)


def combine(scores: np.ndarray, frames: np.ndarray, tracks: np.ndarray, rule: Aggregation) -> float:
    """One probability from per-face scores with their frame indices and track ids."""
    scores = np.asarray(scores, np.float64)
    if scores.size == 0:
        raise ValueError("no face scores to aggregate")
    if rule is Aggregation.TRACKS:
        return float(max(scores[tracks == t].mean() for t in np.unique(tracks)))
    per_frame = np.sort(frame_maxima(scores, frames)[1])[::-1]
    return float(per_frame[: math.ceil(len(per_frame) / 4)].mean())
