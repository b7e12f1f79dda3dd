"""The static map's base: ocean, graticule, land with its borders, and place names, drawn with the
same layers and the same label density as the interactive page (`layers.py`), so the report's
figure reads like the map on screen."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

import cv2
import numpy as np

from .geometry import MapProjection, web_zoom
from .layers import DETAIL_ZOOM, detail_layer, land_rings, place_names
from .style import ADMIN1_BORDER, BORDER, COAST, COUNTRY_BORDER, GRATICULE, LAND, OCEAN, PLACE
from .text import Labels, load_font

__all__ = ["draw_base", "fixed", "graticule", "label_places", "uses_detail"]

MAX_PLACES = 60
"""Place labels on one static map: enough to read a region by, few enough to leave room for the marks."""


def fixed(x: np.ndarray, y: np.ndarray, shift: int = 4) -> np.ndarray:
    """Sub-pixel points for cv2 drawing with `shift` fractional bits."""
    pts = np.stack([x, y], axis=1) * (1 << shift)
    return np.clip(np.round(pts), -(2**28), 2**28).astype(np.int32).reshape(-1, 1, 2)


def _nice_step(span: float, target: int = 5) -> float:
    for step in (0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60):
        if span / step <= target:
            return float(step)
    return 90.0


def graticule(proj: MapProjection) -> tuple[float, list[float], list[float]]:
    """(step, latitudes, longitudes) of the graticule lines inside the image, at a round step."""
    lat_top, lon_left = proj.to_latlon(0, 0)
    lat_bottom, lon_right = proj.to_latlon(proj.width, proj.height)
    step = _nice_step(max(float(lat_top - lat_bottom), float(lon_right - lon_left) / 2.0))
    lats = [v for v in np.arange(math.ceil(float(lat_bottom) / step) * step, float(lat_top), step) if abs(v) < 90]
    lons = list(np.arange(math.ceil(float(lon_left) / step) * step, float(lon_right), step))
    return step, [float(v) for v in lats], [float(v) for v in lons]


def uses_detail(proj: MapProjection) -> bool:
    """True when the 1:10m provinces are drawn instead of the 1:110m countries (as in the page)."""
    return web_zoom(proj.km_per_px, proj.lat0) >= DETAIL_ZOOM


@cache
def _bounds(kind: str) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The lines (N × 2 lon, lat) of one layer and their boxes (west, south, east, north), for culling."""
    if kind == "land110":
        lines = land_rings()
    else:
        detail = detail_layer()
        lines = {"regions": tuple(r for reg in detail.regions for r in reg.rings), "coast": detail.coast,
                 "country": detail.country, "admin1": detail.admin1}[kind]
    boxes = np.array([(a[:, 0].min(), a[:, 1].min(), a[:, 0].max(), a[:, 1].max()) for a in lines])
    return lines, boxes


def _visible(proj: MapProjection, kind: str) -> Iterator[np.ndarray]:
    """Fixed-point pixel polylines of a layer, each at the longitude offset(s) that make it visible."""
    half_w = proj.width / 2.0 / (proj.k * proj.s)
    half_h = proj.height / 2.0 / proj.s
    west, east = proj.lon0 - half_w, proj.lon0 + half_w
    south, north = proj.lat0 - half_h, proj.lat0 + half_h
    lines, boxes = _bounds(kind)
    rows = (boxes[:, 3] >= south) & (boxes[:, 1] <= north)
    for offset in (-360.0, 0.0, 360.0):
        hit = rows & (boxes[:, 2] + offset >= west) & (boxes[:, 0] + offset <= east)
        for i in np.flatnonzero(hit):
            x, y = proj.to_pixel(lines[i][:, 1], lines[i][:, 0] + offset, wrap=False)
            yield fixed(x, y)


def draw_base(canvas: np.ndarray, proj: MapProjection, ss: int) -> None:
    """Ocean, graticule and land into `canvas` (drawn at `ss`× the image's resolution, as `proj` is)."""
    canvas[:] = OCEAN
    _, grat_lats, grat_lons = graticule(proj)
    for lat in grat_lats:
        y = int(round(float(proj.to_pixel(lat, proj.lon0)[1])))
        cv2.line(canvas, (0, y), (proj.width, y), GRATICULE, ss)
    for lon in grat_lons:
        x = int(round(float(proj.to_pixel(0.0, lon, wrap=False)[0])))
        cv2.line(canvas, (x, 0), (x, proj.height), GRATICULE, ss)
    thin = max(1, proj.width // 1200)
    if not uses_detail(proj):
        polys = list(_visible(proj, "land110"))
        if polys:
            cv2.fillPoly(canvas, polys, LAND, lineType=cv2.LINE_AA, shift=4)
            cv2.polylines(canvas, polys, True, BORDER, thin, lineType=cv2.LINE_AA, shift=4)
        return
    regions = list(_visible(proj, "regions"))
    if regions:
        cv2.fillPoly(canvas, regions, LAND, lineType=cv2.LINE_AA, shift=4)
    for kind, colour, weight in (("admin1", ADMIN1_BORDER, 1), ("coast", COAST, 1), ("country", COUNTRY_BORDER, 2)):
        lines = list(_visible(proj, kind))
        if lines:
            cv2.polylines(canvas, lines, False, colour, weight * thin, lineType=cv2.LINE_AA, shift=4)


def label_places(draw: Any, labels: Labels, proj: MapProjection, base_size: int,
                 limit: int = MAX_PLACES) -> list[str]:
    """Dots and names of the places the page would label at this scale, where they overlap nothing
    already placed; most important first. Returns the names drawn."""
    places = place_names()
    zoom = web_zoom(proj.km_per_px, proj.lat0)
    x, y = proj.to_pixel(places.lat, places.lon)
    inside = (places.zoom <= zoom + 0.5) & (x >= 0) & (x < proj.width) & (y >= 0) & (y < proj.height)
    fonts: dict[int, Any] = {0: load_font(base_size - 2), 1: load_font(base_size - 1),
                             2: load_font(base_size - 1, bold=True), 3: load_font(base_size, bold=True)}
    drawn: list[str] = []
    for i in np.flatnonzero(inside):
        if len(drawn) >= limit:
            break
        px, py, kind = float(x[i]), float(y[i]), int(places.kind[i])
        dot = 2.5 if kind < 2 else 3.5
        candidates: Sequence[tuple[float, float, str]] = ((px + dot + 3, py, "lm"), (px - dot - 3, py, "rm"))
        if labels.free((px - dot, py - dot, px + dot, py + dot)) and labels.place(
                candidates, places.names[i], fonts[kind], PLACE):
            draw.ellipse([px - dot, py - dot, px + dot, py + dot], fill=PLACE, outline=(255, 255, 255), width=1)
            labels.occupied.append((px - dot, py - dot, px + dot, py + dot))
            drawn.append(places.names[i])
    return drawn
