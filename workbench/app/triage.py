"""The triage summary of one item: its signals ranked by how unusual they are among authentic photos.

A raw score means little across analyzers (ELA's 0.3 and Splicebuster's 0.95 are not comparable);
the rank of each score among unedited photos is (`workbench.core.calibration`). The GUI's summary
and the report's per-item summary both list `ranked_signals`: what the file claims about its origin
first (signed and valid, signature broken, declares AI generation: investigators check these before
any score), then the strongest scores; signals without a calibration table follow, said to be
uncalibrated, and failures are counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.app.case import Run
from workbench.core import registry
from workbench.core.calibration import score_context
from workbench.core.claims import Claims, CredentialState
from workbench.core.results import Boxes, Facts, Status, Verdict


@dataclass(frozen=True)
class Signal:
    run: Run
    title: str
    score: float | None
    rank: float | None
    """Fraction of authentic photos scoring lower (None: no calibration)."""
    reading: str
    """The score, what it is, how unusual it is (without the title), e.g. for a table beside the title."""
    leading: bool = False
    """A claim about the file's origin (Content Credentials, a declared AI generation): listed first."""

    @property
    def text(self) -> str:
        """One line for the analyst: the title and the reading."""
        return f"{self.title}: {self.reading}"

    @property
    def strong(self) -> bool:
        """Worth a look first: a claim about the file's origin, or higher than 95 % of authentic photos."""
        return self.leading or (self.rank is not None and self.rank >= 0.95)


def title_of(analyzer_id: str) -> str:
    analyzer = registry.analyzers().get(analyzer_id)
    return analyzer.title if analyzer else analyzer_id


def signal_of(run: Run) -> Signal | None:
    """The run as a ranked signal, None when it has nothing to rank (failed, no score, no findings)."""
    result = run.result
    title = title_of(result.analyzer)
    if result.status is not Status.OK:
        return None
    if isinstance(result, Verdict):
        line = "abstained" if result.abstained or result.probability is None else (
            f"{result.label or 'probability'} {result.probability:.2f}"
            + ("" if result.calibrated else " (uncalibrated)"))
        return Signal(run, title, result.probability, None, line)
    if isinstance(result, Boxes):  # a count (faces found), not a degree of suspicion
        count = int(result.score) if result.score is not None else 0 if result.boxes is None else len(result.boxes)
        return Signal(run, title, None, None, f"{count} found" if count else "none found")
    if isinstance(result, Facts) and result.score is None:
        origin = origin_reading(result.claims) if result.claims else ""
        if origin:
            return Signal(run, title, None, None, f"{origin} — {len(result.findings)} finding(s) in all", leading=True)
        if not result.findings:
            return None
        count = len(result.findings)
        return Signal(run, title, None, None, f"{count} finding(s) — {result.findings[0]}")
    if result.score is None:
        return None
    rank = result.calibration["rank"] if result.calibration else None
    return Signal(run, title, result.score, rank, f"{result.score:.3g} — {score_context(result.calibration)}")


def origin_reading(claims: Claims) -> str:
    """"signed and valid…", "signature broken…", "declares AI generation (…)", or "" when the file
    claims nothing checkable (no manifest, which proves nothing, and no AI declaration)."""
    parts = [claims.summary] if claims.signed or claims.state is CredentialState.UNREADABLE else []
    declared = claims.ai_declarations()
    if declared:
        more = f" and {len(declared) - 1} more" if len(declared) > 1 else ""
        parts.append(f"declares AI generation ({declared[0]}{more})")
    return "; ".join(parts)


def ranked_signals(runs: list[Run]) -> list[Signal]:
    """Claims about the origin first, then calibrated signals by rank (most unusual first), then the
    others in run order."""
    signals = [s for s in (signal_of(r) for r in runs) if s is not None]
    calibrated = sorted((s for s in signals if s.rank is not None and not s.leading), key=lambda s: -s.rank)
    return ([s for s in signals if s.leading] + calibrated
            + [s for s in signals if s.rank is None and not s.leading])


def failures(runs: list[Run]) -> list[Run]:
    """Runs that did not give a result (error, unavailable, cancelled)."""
    return [r for r in runs if r.result.status is not Status.OK]
