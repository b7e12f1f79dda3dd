"""The analyst's findings as the report opens with them: the region on the layer it was marked on,
the note, who and when.

An image finding shows a crop around its region drawn on that layer (the heat map of the run it
rests on over the image, or the original) with an overview of the whole image beside it; a video
finding shows the frames at the start, middle and end of its span, with the per-frame map of its
run when there is one.
"""

from __future__ import annotations

import cv2
import numpy as np

from workbench.app.case import Case, Finding, Run, RunDamaged
from workbench.app.per_frame import timecode
from workbench.app.report.evidence import Item
from workbench.app.report.figures import fit, heat_layer, outline, print_size, region_box
from workbench.app.report.markup import e, grid, img
from workbench.app.triage import title_of
from workbench.core.results import Heatmap, Series

CROP_WIDTH, OVERVIEW_WIDTH, WHOLE_WIDTH, FRAME_WIDTH = 340, 200, 300, 220
"""Document pixels: the crop, the overview beside it, a finding on the whole image, a video frame."""


def findings_html(case: Case, item: Item, findings: list[Finding], figures: dict[str, np.ndarray]) -> str:
    if not findings:
        return "<p class='note'>No finding recorded by the analyst for this item.</p>"
    return "\n".join(_finding_html(case, item, f, figures) for f in findings)


def _finding_html(case: Case, item: Item, finding: Finding, figures: dict[str, np.ndarray]) -> str:
    run, missing = _basis(case, finding)
    layer = finding.layer or (title_of(run.result.analyzer) if run else "original")
    basis = f"{layer} (run {run.id}: {title_of(run.result.analyzer)})" if run else layer
    if missing:
        basis += f" — {missing}; drawn on the original"
    where = _where(finding)
    stamp = f"{finding.created_by}, {finding.created_at}"
    if finding.updated_at and finding.updated_at != finding.created_at:
        stamp += f" (edited {finding.updated_at})"
    figure = _video_figure(item, finding, run, figures) if item.evidence.kind == "video" else \
        _image_figure(item, finding, run, figures)
    return (f"<p><b>Finding {finding.id}.</b> {e(finding.note)}<br/><span class='note'>Marked on {e(basis)}; "
            f"{e(where)}. By {e(stamp)}.</span></p>{figure}")


def _basis(case: Case, finding: Finding) -> tuple[Run | None, str]:
    """The run the finding rests on, or None and why it cannot be drawn ("" when it rests on none)."""
    if finding.run_id is None:
        return None, ""
    try:
        return case.run(finding.run_id), ""
    except KeyError:
        return None, f"run {finding.run_id} is no longer in the case"
    except RunDamaged as exc:
        return None, str(exc)


def _where(finding: Finding) -> str:
    if finding.region is None:
        where = "the whole item"
    else:
        points = np.asarray(finding.region["points"], np.float64)
        (x0, y0), (x1, y1) = points.min(0).round().astype(int), points.max(0).round().astype(int)
        shape = "rectangle" if finding.region["kind"] == "rect" else f"outline of {len(points)} points"
        where = f"{shape} x {x0}–{x1}, y {y0}–{y1} px"
    if finding.time_start is not None:
        end = finding.time_end if finding.time_end is not None else finding.time_start
        where += f", {timecode(finding.time_start)}–{timecode(end)}"
    return where


def _layer(item: Item, run: Run | None, box: tuple[int, int, int, int], width: int) -> np.ndarray | None:
    """The part `box` (x0, y0, x1, y1) of the layer the finding was marked on, reduced to `width`:
    the run's map over the image (cropped before blending: a 20-MP blend takes seconds), or the image."""
    x0, y0, x1, y1 = box
    rgb = None if item.pixels is None else item.pixels[y0:y1, x0:x1]
    result = run.result if run else None
    if isinstance(result, Heatmap) and result.map is not None and result.map.shape == _shape(item):
        return heat_layer(rgb, result.map[y0:y1, x0:x1], width)
    return None if rgb is None else fit(rgb, width)


def _shape(item: Item) -> tuple[int, int]:
    """The image's height and width as recorded at import (a changed file is not read)."""
    return item.evidence.height, item.evidence.width


def _image_figure(item: Item, finding: Finding, run: Run | None, figures: dict[str, np.ndarray]) -> str:
    h, w = _shape(item)
    whole = (0, 0, w, h)
    overview = _layer(item, run, whole, print_size(WHOLE_WIDTH if finding.region is None else OVERVIEW_WIDTH))
    if overview is None:
        return ("<p class='note'>Figure not drawn: the evidence file could not be re-opened or failed its hash "
                "check.</p>")
    name = f"finding{finding.id}"
    if finding.region is None:
        figures[f"{name}.png"] = overview
        return f"<p>{img(f'{name}.png', WHOLE_WIDTH)}</p>"
    box = region_box(finding.region, (h, w))
    crop = _layer(item, run, box, print_size(CROP_WIDTH))
    figures[f"{name}.png"] = outline(crop, finding.region, crop.shape[1] / (box[2] - box[0]), box[:2])
    figures[f"{name}-overview.png"] = outline(overview, finding.region, overview.shape[1] / w, extra_box=box)
    return grid([img(f"{name}.png", CROP_WIDTH, "The region (outlined) and its surroundings."),
                 img(f"{name}-overview.png", OVERVIEW_WIDTH, "The whole image; white: the part shown left.")],
                2, [CROP_WIDTH + 10, OVERVIEW_WIDTH + 10])


def _video_figure(item: Item, finding: Finding, run: Run | None, figures: dict[str, np.ndarray]) -> str:
    start = finding.time_start or 0.0
    end = finding.time_end if finding.time_end is not None else start
    cells = []
    for i, seconds in enumerate(sorted({start, (start + end) / 2, end})):
        index, rgb = item.frame_at(seconds)
        if rgb is None:
            continue
        layer = _frame_layer(rgb, run, seconds, print_size(FRAME_WIDTH))
        name = f"finding{finding.id}-{i}.png"
        figures[name] = outline(layer, finding.region, layer.shape[1] / rgb.shape[1])
        cells.append(img(name, FRAME_WIDTH, f"Frame {index} at {timecode(seconds)}"))
    if not cells:
        return ("<p class='note'>Frames not drawn: the video could not be re-opened or decoded, or failed its hash "
                "check.</p>")
    return grid(cells, 3)


def _frame_layer(rgb: np.ndarray, run: Run | None, seconds: float, width: int) -> np.ndarray:
    """The frame reduced to `width`, under the per-frame map of the sampled frame nearest in time
    when the finding rests on a per-frame run, as the viewer shows it."""
    result = run.result if run else None
    if not isinstance(result, Series) or result.maps is None or result.times is None or not len(result.times):
        return fit(rgb, width)
    nearest = int(np.argmin(np.abs(np.asarray(result.times, np.float64) - seconds)))
    small = fit(rgb, width)
    heat = cv2.resize(np.asarray(result.maps[nearest], np.float32), small.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    return heat_layer(small, heat, width)
