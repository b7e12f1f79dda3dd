"""The GUI's view of the analyzer's results: the workbench's heat-map view, with the clipped share
said in words above it. Imported by the GUI only (Qt)."""

from __future__ import annotations

from typing import Any

from workbench.api import HeatmapView


def clipping_view(run: Any, included: bool | None = None) -> Any:
    view = HeatmapView(run, included=included)
    share = run.result.stats.get("clipped_fraction", 0.0)
    view.add_line(f"{share:.1%} of the pixels are clipped: the noise and JPEG maps are blind there.")
    return view
