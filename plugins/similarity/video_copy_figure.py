"""The copy-detection figure for the PDF report, without Qt: the similarity matrix with the copied
segments outlined, and per reference the two timelines joined by bands where they match.

The GUI view (`plugins/similarity/ui/segments_view.py`) draws the same picture interactively and
takes its colours and the matrix rendering from here, so the report shows what the analyst saw.
"""

from __future__ import annotations

import cv2
import numpy as np

from workbench.api import Segments, ascii_text, colorize, time_ticks

LOW = 0.5
"""Similarity drawn darkest; 1 is brightest (unrelated frames are mostly 0.4-0.75)."""
NAN_GREY = (128, 128, 128)
SEGMENT_COLOURS = ((0, 200, 255), (80, 255, 80), (255, 80, 200), (255, 220, 0), (120, 140, 255), (255, 120, 40))
"""RGB per segment (cycled), shared by the figure and the GUI view."""
MAX_REFERENCES = 4
"""Timelines drawn in the figure (the references with the best segments)."""
BLACK, GREY = (0, 0, 0), (200, 200, 200)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def frame_step(result: Segments) -> float:
    """Seconds between two matrix rows (the analyzer's frame interval)."""
    params = result.provenance.params if result.provenance else {}
    rows = result.matrix.shape[0] if result.matrix is not None else 0
    return float(params.get("every_s") or (result.query_duration / rows if rows else 1.0))


def matrix_rgb(matrix: np.ndarray) -> np.ndarray:
    """One RGB pixel per frame pair: similarity from `LOW` (dark) to 1 (bright), grey where a frame
    did not decode."""
    values = np.asarray(matrix, np.float32)
    rgb = colorize((values - LOW) / (1.0 - LOW))
    rgb[np.isnan(values)] = NAN_GREY
    return rgb


def segment_colour(index: int) -> tuple[int, int, int]:
    return SEGMENT_COLOURS[index % len(SEGMENT_COLOURS)]


def segments_figure(result: Segments, width: int = 900) -> np.ndarray:
    """RGB figure: the matrix (query time down, reference time across) above the timelines."""
    parts = [_matrix_panel(result, width)] if result.matrix is not None and result.matrix.size else []
    rows = result.segment_rows()
    shown = list(dict.fromkeys(result.references))[:MAX_REFERENCES]
    parts += [_timeline_panel(result, rows, label, width) for label in shown]
    if not shown:
        parts.append(_text_panel("no copied segment found", width))
    return np.vstack(parts)


def report_figure(result: Segments) -> tuple[np.ndarray, str]:
    """The report's figure of a copy-detection result (`Plugin.report_figures`) and its caption."""
    caption = (f"Frame similarity of the query (time down) against {result.matrix_reference or 'the best reference'} "
               "(time across), matched segments outlined; below, the segments on aligned timelines.")
    return segments_figure(result), caption


def _matrix_panel(result: Segments, width: int) -> np.ndarray:
    matrix = np.asarray(result.matrix, np.float32)
    step = frame_step(result)
    rows, cols = matrix.shape
    margin_left, margin_top, side = 70, 34, min(width - 90, 420)
    scale = side / max(rows, cols)
    h, w = max(1, round(rows * scale)), max(1, round(cols * scale))
    interpolation = cv2.INTER_NEAREST if scale >= 1 else cv2.INTER_AREA
    image = cv2.resize(matrix_rgb(matrix), (w, h), interpolation=interpolation)
    panel = np.full((h + margin_top + 12, width, 3), 255, np.uint8)
    panel[margin_top : margin_top + h, margin_left : margin_left + w] = image
    _text(panel, f"reference (s) -> {result.matrix_reference}", (margin_left, 12), 0.4)
    _text(panel, "query (s)", (4, margin_top - 6), 0.35)
    for seconds in time_ticks(cols * step, 5):
        x = margin_left + round(seconds / step * scale)
        _text(panel, f"{seconds:g}", (x - 4, margin_top - 6), 0.35)
    for seconds in time_ticks(rows * step, 5):
        y = margin_top + round(seconds / step * scale)
        _text(panel, f"{seconds:g}", (margin_left - 30, y + 4), 0.35)
    segments = result.segment_rows()
    for n, (row, label) in enumerate(zip(segments, result.references, strict=True)):
        if label != result.matrix_reference:
            continue
        q0, q1, r0, r1 = (float(v) / step * scale for v in row[:4])
        cv2.rectangle(panel, (margin_left + round(r0), margin_top + round(q0)),
                      (margin_left + round(r1) - 1, margin_top + round(q1) - 1), segment_colour(n), 2)
    return panel


def _timeline_panel(result: Segments, rows: np.ndarray, label: str, width: int) -> np.ndarray:
    """Query bar above, reference bar below, on one time scale; each segment a band between them."""
    reference_duration = result.reference_durations.get(label, float(rows[:, 3].max()) if len(rows) else 1.0)
    left, bar_w, bar_h, gap = 70, width - 90, 14, 46
    per_second = bar_w / max(result.query_duration, reference_duration, 1e-6)
    panel = np.full((22 + 2 * bar_h + gap + 20, width, 3), 255, np.uint8)
    top_q, top_r = 22, 22 + bar_h + gap
    _text(panel, label, (left, 14), 0.4)
    _text(panel, "query", (4, top_q + 11), 0.4)
    _text(panel, "reference", (4, top_r + 11), 0.35)
    cv2.rectangle(panel, (left, top_q), (left + round(result.query_duration * per_second), top_q + bar_h), GREY, -1)
    cv2.rectangle(panel, (left, top_r), (left + round(reference_duration * per_second), top_r + bar_h), GREY, -1)
    spans = [(n, [left + round(float(v) * per_second) for v in row[:4]], float(row[4]))
             for n, (row, name) in enumerate(zip(rows, result.references, strict=True)) if name == label]
    overlay = panel.copy()
    for n, (q0, q1, r0, r1), _ in spans:
        band = np.array([[q0, top_q + bar_h], [q1, top_q + bar_h], [r1, top_r], [r0, top_r]], np.int32)
        cv2.fillPoly(overlay, [band], segment_colour(n))
    panel = cv2.addWeighted(overlay, 0.35, panel, 0.65, 0)
    for n, (q0, q1, r0, r1), score in spans:
        cv2.rectangle(panel, (q0, top_q), (max(q0 + 1, q1), top_q + bar_h), segment_colour(n), -1)
        cv2.rectangle(panel, (r0, top_r), (max(r0 + 1, r1), top_r + bar_h), segment_colour(n), -1)
        _text(panel, f"{score:.2f}", ((q0 + q1) // 2 - 12, top_q + bar_h + 24), 0.35)
    end = left + round(max(result.query_duration, reference_duration) * per_second)
    _text(panel, f"{max(result.query_duration, reference_duration):.0f} s", (min(end, width - 40) - 10,
          panel.shape[0] - 6), 0.35)
    _text(panel, "0 s", (left, panel.shape[0] - 6), 0.35)
    return panel


def _text_panel(text: str, width: int) -> np.ndarray:
    panel = np.full((30, width, 3), 255, np.uint8)
    _text(panel, text, (70, 20), 0.45)
    return panel


def _text(image: np.ndarray, text: str, origin: tuple[int, int], size: float) -> None:
    """Black text in OpenCV's ASCII-only font (accents folded, other characters as '?')."""
    cv2.putText(image, ascii_text(text), origin, FONT, size, BLACK, 1, cv2.LINE_AA)
