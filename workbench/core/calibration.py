"""How unusual a score is among authentic photos: the false-alarm rate behind every image-level score.

A raw score (0.95) says nothing by itself: some analyzers score most untouched photos high. Each
analyzer version may ship a table of the scores it gave on unedited real photos (measured by
`python -m bench.calibration`, never on evidence), kept beside its card in
`plugins/<family>/calibration/<analyzer id>.json`. `calibrate` turns a score into its rank among
them ("higher than 97 % of 132 unedited photos"); `run_analyzer` attaches that to every result, so
the GUI, the CLI JSON and the report read one figure.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

FOLDER = "calibration"


@dataclass(frozen=True)
class Calibration:
    """The scores one analyzer version gave on a population of authentic photos."""

    analyzer: str
    version: str
    population: str
    """What the photos are, in words (e.g. "unedited camera photos shipped by opencv-doc, ...")."""
    scores: tuple[float, ...]
    """Sorted ascending."""
    command: str = ""
    """The command that measured it (reproducible)."""
    made_at: str = ""
    noun: str = "unedited photos"
    """What the photos are in two or three words, for the line beside a score ("… of 36 unedited
    photos"); `population` says it in full (cards, the report's appendix)."""

    def __post_init__(self) -> None:
        if not self.scores or not all(map(math.isfinite, self.scores)):
            raise ValueError(f"calibration of {self.analyzer}: needs at least one score, all finite")
        if list(self.scores) != sorted(self.scores):
            raise ValueError(f"calibration of {self.analyzer}: scores must be sorted ascending")

    @property
    def count(self) -> int:
        return len(self.scores)

    def _below_and_ties(self, score: float) -> tuple[int, int]:
        below = bisect_left(self.scores, score)
        return below, bisect_right(self.scores, score) - below

    def false_alarms(self, threshold: float) -> float:
        """Fraction of the authentic photos that scored `threshold` or more: how often flagging every
        score at or above it would flag an unedited photo."""
        return (self.count - bisect_left(self.scores, threshold)) / self.count

    def rank(self, score: float) -> float:
        """Fraction of the authentic photos that scored below `score` (ties count half)."""
        below, ties = self._below_and_ties(score)
        return (below + ties / 2) / self.count

    def describe(self, score: float) -> str:
        """"higher than 97 % of 132 unedited photos", "… all …", with ties said: a score most photos
        share (0.0) must not read as higher than half of them, as the mid-rank alone would."""
        below, ties = self._below_and_ties(score)
        n, population = self.count, self.noun
        if ties == n:
            return f"the same as all {n} {population}"
        if ties == 0 and below in (0, n):
            return f"{'higher' if below else 'lower'} than all {n} {population}"
        text = f"higher than {percent(below / n)} of {n} {population}"
        return f"{text}; {ties} of them scored the same" if ties else text

    def to_json(self) -> dict[str, Any]:
        return {"analyzer": self.analyzer, "version": self.version, "population": self.population,
                "noun": self.noun, "command": self.command, "made_at": self.made_at, "scores": list(self.scores)}

    @staticmethod
    def from_json(doc: dict[str, Any]) -> Calibration:
        return Calibration(str(doc["analyzer"]), str(doc["version"]), str(doc["population"]),
                           tuple(sorted(float(s) for s in doc["scores"])), str(doc.get("command", "")),
                           str(doc.get("made_at", "")), str(doc.get("noun", "unedited photos")))


def percent(fraction: float) -> str:
    """97 %; one decimal near the ends, rounded inwards, so that only 0 and 1 read "0 %" and "100 %"."""
    value = 100 * fraction
    if 99 < value < 100:
        return f"{min(math.floor(value * 10) / 10, 99.9):.1f} %"
    if 0 < value < 1:
        return f"{max(math.ceil(value * 10) / 10, 0.1):.1f} %"
    return f"{round(value)} %"


def table_path(card_file: Path, analyzer_id: str) -> Path:
    return Path(card_file).parent / FOLDER / f"{analyzer_id}.json"


@cache
def _load(path: Path) -> Calibration | None:
    try:
        return Calibration.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def table_for(analyzer: Any) -> Calibration | None:
    """The analyzer's table for its current version, None when none was measured."""
    card_file = getattr(analyzer, "card_file", None)
    if card_file is None:
        return None
    table = _load(table_path(card_file, analyzer.id))
    if table is None or table.analyzer != analyzer.id or table.version != analyzer.version:
        return None  # another version's scores (or a per-frame wrapper's) would mislead
    return table


def calibrate(analyzer: Any, score: float | None) -> dict[str, Any] | None:
    """What `Result.calibration` holds: the score's rank among authentic photos, with the table's
    identity, or None when the score or the table is missing."""
    table = table_for(analyzer)
    if table is None or score is None or not math.isfinite(score):
        return None
    return {"rank": table.rank(score), "count": table.count, "population": table.population,
            "text": table.describe(score), "table": f"{table.analyzer} v{table.version}",
            "made_at": table.made_at, "command": table.command}


def score_context(calibration: dict[str, Any] | None) -> str:
    """The words shown beside a score: its rank among authentic photos, or that none is known."""
    if not calibration:
        return "no calibration on authentic photos for this analyzer version"
    return str(calibration["text"])
