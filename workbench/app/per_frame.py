"""Per-frame results (Series, Boxes, Verdict) told the same way in the report and the GUI:
time codes, the verdict in words, box captions, and figures drawn with OpenCV (no Qt): values
over time as a line plot, boxes over a frame."""

from __future__ import annotations

import math

import cv2
import numpy as np

from workbench.core.render import ascii_text, time_ticks
from workbench.core.results import Boxes, Verdict

PLOT_LINE = (31, 119, 180)  # RGB
PLOT_AXIS = (90, 90, 90)
PLOT_GRID = (225, 225, 225)
BOX_RGB = (0, 230, 118)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def timecode(seconds: float) -> str:
    """"m:ss.mmm" (or "h:mm:ss.mmm"): exact to the millisecond, so a frame can be found again."""
    millis = round(max(seconds, 0.0) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    if hours:
        return f"{hours}:{minutes:02d}:{rest / 1000:06.3f}"
    return f"{minutes}:{rest / 1000:06.3f}"


def verdict_line(result: Verdict) -> str:
    """The answer in one sentence, with abstention and calibration said plainly."""
    if result.abstained:
        return "Abstained: no answer is given" + (f" ({result.explanation})" if result.explanation else "") + "."
    if result.probability is None:
        return "No probability was produced."
    what = result.label or "probability"
    calibration = ("calibrated probability" if result.calibrated
                   else "not calibrated: a score for ranking, not a frequency")
    return f"{what}: {result.probability:.3f} ({calibration})."


def highest(times: np.ndarray, values: np.ndarray, count: int = 5) -> list[tuple[float, float]]:
    """(time, value) of the `count` highest finite values, highest first."""
    values = np.asarray(values, np.float64)
    order = [i for i in np.argsort(-np.nan_to_num(values, nan=-np.inf)) if np.isfinite(values[i])]
    return [(float(times[i]), float(values[i])) for i in order[:count]]


def value_range(values: np.ndarray) -> tuple[float, float]:
    """[0, 1] for probabilities and map levels, else the finite data's range (never empty)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or (finite.min() >= 0 and finite.max() <= 1):
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return (lo - 0.5, hi + 0.5) if hi - lo < 1e-9 else (lo, hi)


def line_plot(times: np.ndarray, values: np.ndarray, duration: float, title: str,
              size: tuple[int, int] = (640, 200)) -> np.ndarray:
    """RGB figure of `values` over `times` (seconds, x from 0 to `duration`); NaN values (frames
    whose analysis failed) leave a gap rather than being joined across."""
    width, height = size
    left, right, top, bottom = 48, 12, 22, 26
    out = np.full((height, width, 3), 255, np.uint8)
    lo, hi = value_range(np.asarray(values, np.float64))
    span = max(duration, float(np.nanmax(times)) if len(times) else 0.0, 1e-6)

    def x_of(t: float) -> int:
        return round(left + (width - left - right) * t / span)

    def y_of(v: float) -> int:
        return round(height - bottom - (height - top - bottom) * (v - lo) / (hi - lo))

    for v in np.linspace(lo, hi, 5):
        cv2.line(out, (left, y_of(v)), (width - right, y_of(v)), PLOT_GRID, 1)
        cv2.putText(out, f"{v:.3g}", (4, y_of(v) + 4), FONT, 0.35, PLOT_AXIS, 1, cv2.LINE_AA)
    for t in time_ticks(span):
        cv2.line(out, (x_of(t), height - bottom), (x_of(t), height - bottom + 4), PLOT_AXIS, 1)
        cv2.putText(out, f"{t:g} s", (x_of(t) - 10, height - 8), FONT, 0.35, PLOT_AXIS, 1, cv2.LINE_AA)
    cv2.rectangle(out, (left, top), (width - right, height - bottom), PLOT_AXIS, 1)
    cv2.putText(out, ascii_text(title), (left, 15), FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)

    points = [(x_of(float(t)), y_of(float(v))) if math.isfinite(v) else None
              for t, v in zip(times, np.asarray(values, np.float64), strict=True)]
    run: list[tuple[int, int]] = []
    for point in [*points, None]:
        if point is not None:
            run.append(point)
            continue
        if len(run) > 1:
            cv2.polylines(out, [np.array(run, np.int32)], False, PLOT_LINE, 2, cv2.LINE_AA)
        for p in run if len(points) <= 120 or len(run) == 1 else []:  # a lone sample still shows
            cv2.circle(out, p, 2, PLOT_LINE, -1, cv2.LINE_AA)
        run = []
    return out


def box_labels(result: Boxes) -> list[str]:
    """One caption per box: its label (else its track, "#2") and its score, whichever are present."""
    count = 0 if result.boxes is None else len(result.boxes)
    captions = []
    for i in range(count):
        parts = []
        if i < len(result.labels) and result.labels[i]:
            parts.append(result.labels[i])
        elif result.tracks is not None and i < len(result.tracks):
            parts.append(f"#{int(result.tracks[i])}")
        if result.box_scores is not None and i < len(result.box_scores) and np.isfinite(result.box_scores[i]):
            score = f"{float(result.box_scores[i]):.2f}"
            if not parts or score not in parts[0]:  # e.g. "face 0: P(fake) 0.50" already says it
                parts.append(score)
        captions.append(" ".join(parts))
    return captions


def draw_boxes(rgb: np.ndarray, boxes: np.ndarray, labels: list[str]) -> np.ndarray:
    """Rectangles (x0, y0, x1, y1 in pixels) with their labels above them, on a copy."""
    out = np.ascontiguousarray(rgb.copy())
    thickness = max(2, round(max(out.shape[:2]) / 400))
    scale = max(0.45, max(out.shape[:2]) / 1400)
    for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, np.float64).reshape(-1, 4).round().astype(int)):
        cv2.rectangle(out, (x0, y0), (x1, y1), BOX_RGB, thickness, cv2.LINE_AA)
        if i < len(labels) and labels[i]:
            text = ascii_text(labels[i])
            (w, h), _ = cv2.getTextSize(text, FONT, scale, 1)
            y = y0 - 4 if y0 - h - 6 >= 0 else y0 + h + 4
            cv2.rectangle(out, (x0, y - h - 3), (x0 + w + 4, y + 3), (0, 0, 0), -1)
            cv2.putText(out, text, (x0 + 2, y), FONT, scale, BOX_RGB, 1, cv2.LINE_AA)
    return out
