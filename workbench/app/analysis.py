"""Running chosen analyzers on one evidence item and storing the results: the single code
path behind the GUI's Run button and `workbench analyze`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.app.case import Case, Evidence, Run
from workbench.core.device import resolve_device
from workbench.core.frames import FrameSampling, PerFrame, runs_on_frames
from workbench.core.media import DEFAULT_MAX_PIXELS, MediaError, MediaKind
from workbench.core.plugin import Analyzer, RunContext, run_analyzer
from workbench.core.results import Result, Status


@dataclass
class Planned:
    """An analyzer with validated parameters, ready to run."""

    analyzer: Analyzer
    params: Any


def analyze(
    case: Case,
    evidence: Evidence,
    plan: list[Planned],
    progress: Callable[[float, str], None] | None = None,
    cancel_event: threading.Event | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    sampling: FrameSampling | None = None,
) -> list[Run]:
    """Run each planned analyzer in turn; every outcome (even a failure) is stored and logged.

    On a video, an analyzer made for images runs on the frames `sampling` picks (default: one per
    second) and gives a per-frame `Series`.
    """
    cancel_event = cancel_event or threading.Event()
    try:
        media = case.open_media(evidence, max_pixels=max_pixels)
    except MediaError as exc:
        return [case.save_result(evidence.id, Result(p.analyzer.id, Status.ERROR, str(exc))) for p in plan]

    device = resolve_device()[0] if any(p.analyzer.models for p in plan) else "cpu"
    runs = []
    for i, item in enumerate(plan):
        def step(fraction: float, message: str, i: int = i, title: str = item.analyzer.title) -> None:
            if progress:
                progress((i + fraction) / len(plan), f"{title}: {message}" if message else title)

        if cancel_event.is_set():
            result = Result(item.analyzer.id, Status.CANCELLED, "cancelled by the user")
        else:
            analyzer = item.analyzer
            if media.kind is MediaKind.VIDEO and runs_on_frames(analyzer):
                analyzer = PerFrame(analyzer, sampling)
            result = run_analyzer(analyzer, media, item.params, RunContext(step, cancel_event, device, case.root))
        runs.append(case.save_result(evidence.id, result))
    return runs
