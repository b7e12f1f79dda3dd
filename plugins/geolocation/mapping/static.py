"""The static map: the same content as the interactive page drawn with OpenCV (geometry, at 2× and
reduced) and Pillow (text) into an RGB array, for the PDF report and the CLI. Equirectangular,
auto-zoomed to what matters; the base map (land, borders, place names) comes from `basemap.py`."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from .basemap import draw_base, fixed, graticule, label_places
from .geometry import MapProjection, contains_pole, geodesic_circle, map_projection
from .layers import CREDIT
from .style import BANNER_BG, BANNER_FG, CELL_RAMP, CIRCLE, ESTIMATE, GPS, INK, cell_colour, relative_probabilities
from .text import Box, Labels, draw_text, fit, font_size, load_font, printable, wrap
from .view import GeoView

__all__ = ["static_map"]


def _fmt_deg(value: float, pos: str, neg: str) -> str:
    v = round(value, 2)
    hemi = pos if v > 0 else neg if v < 0 else ""
    return f"{abs(v):g}°{hemi}"


def _nice_km(max_km: float) -> float:
    exp = 10 ** math.floor(math.log10(max_km)) if max_km > 0 else 1
    for f in (5, 2, 1):
        if f * exp <= max_km:
            return f * exp
    return exp


def _blend(canvas: np.ndarray, colour_layer: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return (canvas * (1.0 - a) + colour_layer * a + 0.5).astype(np.uint8)


def _circle_polys(proj: MapProjection, lat: float, lon: float, radius_km: float) -> tuple[np.ndarray, np.ndarray]:
    """(outline, fill) polygons of a geodesic circle in fixed-point pixels (fill closes via a pole)."""
    clat, clon = geodesic_circle(lat, lon, radius_km, 240)
    lon_c = proj.lon0 + ((lon - proj.lon0 + 180.0) % 360.0 - 180.0)  # centre's copy nearest the view
    clon = clon + (lon_c - lon)
    x, y = proj.to_pixel(clat, clon, wrap=False)
    outline = fixed(x, y)
    pole = contains_pole(lat, radius_km)
    if not pole:
        return outline, outline
    order = np.argsort(clon)
    flat, flon = clat[order], clon[order]
    plat = 90.0 * pole
    fx, fy = proj.to_pixel(np.r_[plat, flat, plat], np.r_[flon[0], flon, flon[-1]], wrap=False)
    return fixed(x[order], y[order]), fixed(fx, fy)



def static_map(view: GeoView, size: tuple[int, int] = (1200, 600)) -> np.ndarray:
    """An RGB uint8 image (height × width × 3) of `view`, for reports and the CLI.

    Geometry is drawn at 2× and reduced with area averaging (clean edges at print size); markers
    and text are drawn at 1×. The projection is `map_projection(view, size)`, so a test or a caller
    can find where any position lands.
    """
    from PIL import Image, ImageDraw

    width, height = int(size[0]), int(size[1])
    if width < 200 or height < 120:
        raise ValueError(f"map size {width}×{height} is too small (at least 200×120)")
    proj = map_projection(view, (width, height))
    canvas = _draw_geometry(view, proj)
    r = max(5, min(width, height) // 85)
    markers = _draw_markers(canvas, view, proj, r)

    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image, "RGBA")
    base = max(11, min(width, height) // 40)
    small, normal, large = load_font(base - 2), load_font(base), load_font(base + 4, bold=True)
    pad = max(4, base // 3)
    labels = Labels(draw, width, height)

    # title strip and abstention banner
    title_h = font_size(large) + 2 * pad
    draw.rectangle([0, 0, width, title_h], fill=(255, 255, 255, 255))
    draw.line([0, title_h, width, title_h], fill=(200, 200, 200, 255), width=1)
    draw_text(draw, (pad, title_h / 2), fit(draw, view.title, large, width - 2 * pad), large, INK, halo=None,
          anchor="lm")
    top = title_h
    if view.abstention:
        lines = wrap(draw, "⚠ " + view.abstention, normal, width - 4 * pad)
        line_h = font_size(normal) + pad
        banner_h = len(lines) * line_h + 2 * pad
        draw.rectangle([0, title_h, width, title_h + banner_h], fill=(*BANNER_BG, 245))
        draw.line([0, title_h + banner_h, width, title_h + banner_h], fill=(201, 154, 46), width=2)
        for i, line in enumerate(lines):
            draw_text(draw, (width / 2, title_h + pad + i * line_h), line, normal, BANNER_FG, halo=None, anchor="ma")
        top = title_h + banner_h + 2
    labels.occupied.append((0.0, 0.0, float(width), float(top)))
    labels.occupied.extend(_draw_legend(draw, view, proj, small, normal, pad))

    # marker labels first (they matter most), then circle labels, place names, and graticule labels
    # where room is left
    for x, y, _ in markers:
        labels.occupied.append((x - r - 2, y - r - 2, x + r + 2, y + r + 2))
    step = font_size(normal) + 2
    for x, y, (label, colour) in markers:
        dx = r + 6
        candidates = [(x + dx, y, "lm"), (x - dx, y, "rm"), (x + dx, y + step, "lm"), (x + dx, y - step, "lm"),
                      (x - dx, y + step, "rm"), (x - dx, y - step, "rm"), (x, y + dx, "mt"), (x, y - dx, "mb")]
        labels.place(candidates, label, normal, colour, force=0 <= x < width and top <= y < height)
    for c in view.circles:
        x, y = (float(v) for v in proj.to_pixel(c.lat, c.lon))
        r_px = c.radius_km / proj.km_per_px
        if r_px < r + 3:  # hidden under the marker: the legend lists it
            continue
        text = c.label or f"{c.radius_km:g} km"
        labels.place([(x, y - r_px - 3, "mb"), (x, y + r_px + 3, "mt")], text, small, CIRCLE)
    label_places(draw, labels, proj, base)
    grey = (90, 110, 130)
    for lat in graticule(proj)[1]:
        _, y = proj.to_pixel(lat, proj.lon0)
        labels.place([(4, float(y) - 2, "lb")], _fmt_deg(lat, "N", "S"), small, grey)
    for lon in graticule(proj)[2]:
        x, _ = proj.to_pixel(0.0, lon, wrap=False)
        labels.place([(float(x) + 3, height - 4, "lb")], _fmt_deg((lon + 180) % 360 - 180, "E", "W"), small, grey)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _draw_geometry(view: GeoView, proj: MapProjection, ss: int = 2) -> np.ndarray:
    """Base map, cells and circles at `ss`× resolution, reduced to the image size."""
    big = proj.scaled(ss)
    canvas = np.empty((big.height, big.width, 3), np.uint8)
    draw_base(canvas, big, ss)

    # cells: disks, darker and more opaque for more probable cells (most probable drawn last, on top)
    if view.cells:
        layer = canvas.copy()
        alpha = np.zeros(canvas.shape[:2], np.float32)
        radius = max(3, min(proj.width, proj.height) // 110) * ss
        for c, t in sorted(zip(view.cells, relative_probabilities(view.cells), strict=True), key=lambda ct: ct[1]):
            x, y = big.to_pixel(c.lat, c.lon)
            centre = (int(round(float(x))), int(round(float(y))))
            colour = cell_colour(t)
            cv2.circle(layer, centre, radius, tuple(int(v * 0.7) for v in colour), -1, cv2.LINE_AA)
            cv2.circle(layer, centre, radius - ss, colour, -1, cv2.LINE_AA)
            cv2.circle(alpha, centre, radius, 0.45 + 0.5 * t, -1, cv2.LINE_AA)
        canvas = _blend(canvas, layer, alpha)

    # circles: the answered (smallest) one and the GPS accuracy get a faint fill; coarser ones a thinner line
    rings = [(c.lat, c.lon, c.radius_km, CIRCLE, 2 if i == len(view.circles) - 1 else 1,
              i == len(view.circles) - 1) for i, c in enumerate(view.circles)]
    if view.gps and view.gps.accuracy_m:
        rings.append((view.gps.lat, view.gps.lon, view.gps.accuracy_m / 1000.0, GPS, 1, True))
    for lat, lon, radius_km, colour, weight, filled in rings:
        if radius_km / big.km_per_px < 2 * ss:
            continue
        outline, fill = _circle_polys(big, lat, lon, radius_km)
        if filled:
            layer = canvas.copy()
            cv2.fillPoly(layer, [fill], colour, cv2.LINE_AA, shift=4)
            canvas = cv2.addWeighted(layer, 0.12, canvas, 0.88, 0)
        cv2.polylines(canvas, [outline], not contains_pole(lat, radius_km), colour, weight * ss, cv2.LINE_AA,
                      shift=4)
    return cv2.resize(canvas, (proj.width, proj.height), interpolation=cv2.INTER_AREA)


def _draw_markers(canvas: np.ndarray, view: GeoView, proj: MapProjection,
                  r: int) -> list[tuple[float, float, tuple[str, tuple[int, int, int]]]]:
    """GPS (blue diamond) and estimate (red disk) with white rims, in place; returns their pixels and labels."""
    out = []
    if view.gps:
        x, y = (float(v) for v in proj.to_pixel(view.gps.lat, view.gps.lon))
        for rr, colour in ((r + 3, (255, 255, 255)), (r + 1, GPS)):
            diamond = np.array([[x, y - rr], [x + rr, y], [x, y + rr], [x - rr, y]])
            cv2.fillPoly(canvas, [fixed(diamond[:, 0], diamond[:, 1])], colour, cv2.LINE_AA, shift=4)
        out.append((x, y, (view.gps.label, GPS)))
    if view.estimate:
        x, y = (float(v) for v in proj.to_pixel(view.estimate.lat, view.estimate.lon))
        centre = (int(round(x)), int(round(y)))
        cv2.circle(canvas, centre, r + 2, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(canvas, centre, r, ESTIMATE, -1, cv2.LINE_AA)
        out.append((x, y, (view.estimate.label, ESTIMATE)))
    return out


def _draw_legend(draw: Any, view: GeoView, proj: MapProjection, small: Any, normal: Any, pad: int) -> list[Box]:
    """Legend box (bottom left), scale bar and source credit (bottom right); returns the boxes drawn."""
    width, height = proj.width, proj.height
    size = font_size(normal)
    line_h = size + pad
    boxes: list[Box] = []
    rows: list[tuple[str, str, tuple[int, int, int]]] = []
    if view.estimate:
        rows.append(("dot", view.estimate.label, ESTIMATE))
    if view.gps:
        rows.append(("diamond", view.gps.details(), GPS))
    if view.circles:
        labels = ", ".join(c.label or f"{c.radius_km:g} km" for c in reversed(view.circles))
        rows.append(("ring", f"answered at: {labels}", CIRCLE))
    if view.cells:
        rows.append(("ramp", f"top {len(view.cells)} cells, low to high probability", CELL_RAMP[2]))
    bottom = height - pad - font_size(small) - pad  # room for the longitude labels below
    if rows:
        texts = [fit(draw, t, normal, width * 0.55) for _, t, _ in rows]
        sym_w = 3 * size if any(kind == "ramp" for kind, _, _ in rows) else size
        box_w = int(max(draw.textlength(t, font=normal) for t in texts) + sym_w + 3 * pad)
        box_h = len(rows) * line_h + 2 * pad
        x0, y1 = pad, bottom
        y0 = y1 - box_h
        draw.rectangle([x0, y0, x0 + box_w, y1], fill=(255, 255, 255, 235), outline=(170, 170, 170, 255))
        boxes.append((x0, y0, x0 + box_w, y1))
        for i, ((kind, _, colour), text) in enumerate(zip(rows, texts, strict=True)):
            cy = y0 + pad + i * line_h + line_h / 2
            h = size * 0.4
            sx = x0 + pad + (0 if kind == "ramp" else (sym_w - 2 * h) / 2)
            if kind == "dot":
                draw.ellipse([sx, cy - h, sx + 2 * h, cy + h], fill=colour, outline=(255, 255, 255), width=1)
            elif kind == "diamond":
                draw.polygon([(sx + h, cy - h), (sx + 2 * h, cy), (sx + h, cy + h), (sx, cy)], fill=colour)
            elif kind == "ring":
                draw.ellipse([sx, cy - h, sx + 2 * h, cy + h], outline=colour, width=2)
            else:
                steps = 12
                for j in range(steps):
                    draw.rectangle([sx + j * sym_w / steps, cy - h, sx + (j + 1) * sym_w / steps, cy + h],
                                   fill=cell_colour(j / (steps - 1)))
            draw_text(draw, (x0 + 2 * pad + sym_w, cy), text, normal, INK, halo=None, anchor="lm")

    # scale bar (true along the standard parallel) and the credit line, in one box at the bottom right
    km = _nice_km(proj.km_per_px * width * 0.18)
    bar = km / proj.km_per_px
    where = "equator" if abs(proj.lat0) < 0.5 else _fmt_deg(proj.lat0, "N", "S")
    caption = printable(small, f"{km:g} km (at {where})")
    credit = printable(small, f"{CREDIT} · offline")
    inner_w = max(bar, draw.textlength(caption, font=small), draw.textlength(credit, font=small))
    x1 = width - pad
    x0 = x1 - inner_w - 2 * pad
    y0 = bottom - 3 * font_size(small) - 5 * pad
    draw.rectangle([x0, y0, x1, bottom], fill=(255, 255, 255, 225), outline=(170, 170, 170, 255))
    boxes.append((x0, y0, x1, bottom))
    cx = (x0 + x1) / 2
    ty = y0 + pad
    draw.text((cx, ty), caption, font=small, fill=INK, anchor="ma")
    by = ty + font_size(small) + pad + 4
    draw.line([cx - bar / 2, by, cx + bar / 2, by], fill=INK, width=3)
    draw.line([cx - bar / 2, by - 5, cx - bar / 2, by + 2], fill=INK, width=2)
    draw.line([cx + bar / 2, by - 5, cx + bar / 2, by + 2], fill=INK, width=2)
    draw.text((cx, bottom - pad), credit, font=small, fill=(110, 110, 110), anchor="mb")
    return boxes
