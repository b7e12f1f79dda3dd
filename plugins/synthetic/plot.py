"""A small line plot drawn with OpenCV, so analyzers can hand the GUI and the report a figure
without Qt or a plotting library."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 320
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 16, 28, 44
LINE = (40, 90, 200)
GRID = (225, 225, 225)
MARK = (220, 50, 40)
TEXT = (30, 30, 30)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def line_plot(
    x: np.ndarray,
    y: np.ndarray,
    x_ticks: Sequence[tuple[float, str]],
    title: str,
    y_label: str,
    marks: Sequence[float] = (),
) -> np.ndarray:
    """RGB uint8 plot of y over x with labelled x ticks, min/max y labels and vertical marks
    (e.g. the frequencies of detected peaks) in red."""
    canvas = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    x0, x1 = float(x.min()), float(x.max())
    y0, y1 = float(np.nanmin(y)), float(np.nanmax(y))
    if y1 <= y0:
        y1 = y0 + 1.0
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM

    def px(value: float) -> int:
        return round(left + (value - x0) / max(x1 - x0, 1e-12) * (right - left))

    def py(value: float) -> int:
        return round(bottom - (value - y0) / (y1 - y0) * (bottom - top))

    for value, label in x_ticks:
        cv2.line(canvas, (px(value), top), (px(value), bottom), GRID, 1)
        size = cv2.getTextSize(label, FONT, 0.45, 1)[0]
        cv2.putText(canvas, label, (px(value) - size[0] // 2, bottom + 18), FONT, 0.45, TEXT, 1, cv2.LINE_AA)
    for value in marks:
        cv2.line(canvas, (px(value), top), (px(value), bottom), MARK, 1, cv2.LINE_AA)
    cv2.rectangle(canvas, (left, top), (right, bottom), TEXT, 1)
    finite = np.isfinite(y)
    points = np.stack([[px(v) for v in x[finite]], [py(v) for v in y[finite]]], axis=1).astype(np.int32)
    cv2.polylines(canvas, [points], False, LINE, 2, cv2.LINE_AA)
    cv2.putText(canvas, f"{y1:.0f}", (6, top + 10), FONT, 0.45, TEXT, 1, cv2.LINE_AA)
    cv2.putText(canvas, f"{y0:.0f}", (6, bottom), FONT, 0.45, TEXT, 1, cv2.LINE_AA)
    cv2.putText(canvas, y_label, (6, (top + bottom) // 2), FONT, 0.45, TEXT, 1, cv2.LINE_AA)
    cv2.putText(canvas, title, (left, 18), FONT, 0.5, TEXT, 1, cv2.LINE_AA)
    return canvas
