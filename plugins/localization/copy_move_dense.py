"""Dense-field copy-move detection (Cozzolino, Poggi & Verdoliva 2015): which regions of the image
match another region of the same image point by point, under one rotation and scale?

Where keypoints are few (smooth or fine, repetitive texture) a copy still carries its pixels: a
rotation-invariant description of the disc around *every* pixel (Zernike-moment magnitudes) finds
its twin elsewhere in the image. PatchMatch gives each point its nearest neighbour cheaply; inside
a copy these offsets form a smooth field that a local rotation/scale model fits, elsewhere they are
noise. Which side is the copy is told by resampling: a rotated or scaled copy was interpolated from
its source, so the source predicts the copy better than the copy predicts the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from plugins.localization.copy_move import analysis_gray, to_full
from plugins.localization.copy_move_roles import Pair, copy_pairs, refine, resampling_direction
from plugins.localization.dense_field import Verification, verify
from plugins.localization.patchmatch import nearest_neighbour_field
from plugins.localization.zernike import RADIUS, zernike_features
from workbench.api import Analyzer, Heatmap, Media, RunContext, param

STRIDE = 2
"""Query grid of the field (px): a quarter of the points, while matches keep pixel precision."""
SOURCE, TARGET = 0.5, 1.0
"""Map values: the source of a copy (mid-scale) and the copy itself (top of the scale)."""
FLAT = 1.0
"""Standard deviation (grey levels) of a feature disc's window below which it is flat: no structure
to match (overexposed, synthetic or heavily compressed smooth areas)."""
MIN_AREA_PX = 256.0
"""Smallest region ever kept (px at the working size): a 16 × 16 patch, the paper's block."""
SCORE_AREA = 1200.0
"""Verified copy area (px at the working size) at which the score reaches 1 − 1/e ≈ 0.63."""
LINES_PER_PAIR = 40
"""Source → target vectors drawn per copy (a sparse sample of its field)."""


@dataclass
class CopyMoveDenseParams:
    max_side: int = param(
        1024, "Working size (px)",
        "longer side the image is reduced to (if larger) before matching; results are mapped back to full size",
        min=64, max=8192,
    )
    iterations: int = param(5, "PatchMatch iterations", "propagation + random-search rounds", min=1, max=32)
    min_offset: float = param(
        8.0, "Minimum match distance (px)", "a point may not match a place closer than this (no self-matches)",
        min=1.0, max=500.0,
    )
    min_shift: float = param(
        50.0, "Minimum copy shift (px)", "copies closer to their source than this are dropped (working pixels)",
        min=1.0, max=2000.0,
    )
    max_fit_error: float = param(
        300.0, "Fitting-error threshold (px²)",
        "largest least-squares error of the local rotation/scale model, summed over a 6-px disc",
        min=1.0, max=10000.0,
    )
    min_area: float = param(
        0.15, "Minimum copy area (% of image)",
        "smaller verified regions are dropped (the paper's 1200 px on its 0.8-MP images); never below 256 px",
        min=0.0, max=50.0,
    )
    max_scale: float = param(2.0, "Largest scale change", "local maps scaling more than this are refused",
                             min=1.05, max=10.0)
    seed: int = param(0, "Random seed", "PatchMatch's random start and search (results are reproducible)",
                      min=0, max=2**31 - 1)


MEDIAN_RADIUS = 4.0
"""ρ_M of the paper: radius (px) of the median filter of the field."""
FIT_RADIUS = 6.0
"""ρ_N of the paper: radius (px) of the disc the local linear model is fitted on."""
REACH = 2 * (MEDIAN_RADIUS + FIT_RADIUS)
"""How far (px) a region may grow beyond its verified points where it agrees with the pair's map:
twice the paper's dilation ρ_D = ρ_M + ρ_N, since the verified points lie a feature disc inside."""


def local_std(gray: np.ndarray) -> np.ndarray:
    """Standard deviation of the grey levels in the feature disc's bounding window around each pixel."""
    side = (2 * RADIUS + 1, 2 * RADIUS + 1)
    mean = cv2.blur(gray, side)
    return np.sqrt(np.maximum(cv2.blur(gray * gray, side) - mean * mean, 0.0))


def min_area(shape: tuple[int, int], percent: float) -> float:
    """Smallest verified region kept (px at the working size)."""
    return max(MIN_AREA_PX, shape[0] * shape[1] * percent / 100.0)


def coherence(ver: Verification, params: CopyMoveDenseParams) -> np.ndarray:
    """How well a rotation/scale model fits the field around each grid point, in [0, 1] (1 = exact,
    0 = twice the threshold or worse), 0 where the offset is shorter than the minimum shift: the
    evidence the decision thresholds, shown so an analyst can see near misses."""
    fit = np.clip(1.0 - ver.fit_error / (2.0 * params.max_fit_error), 0.0, 1.0)
    return np.where(np.hypot(ver.offsets[..., 0], ver.offsets[..., 1]) >= params.min_shift, fit, 0.0)


def role_maps(pairs: list[Pair], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Masks (working px) of copies and of their sources. A pair whose direction could not be told
    marks both regions as copies (either may be the original)."""
    targets, sources = np.zeros(shape, bool), np.zeros(shape, bool)
    for pair in pairs:
        targets |= pair.target_region
        if pair.direction == 0:
            targets |= pair.source_region
        else:
            sources |= pair.source_region
    return targets, sources & ~targets


def sample_lines(pairs: list[Pair], rng: np.random.Generator) -> np.ndarray:
    """A sparse sample of each pair's source → target field vectors (x1, y1, x2, y2, working px)."""
    return np.concatenate([np.zeros((0, 4))] + [p.lines[rng.permutation(len(p.lines))[:LINES_PER_PAIR]] for p in pairs])


def pair_stats(pairs: list[Pair]) -> dict[str, float]:
    """Per pair (largest first): area, direction evidence and the fitted map from target to source
    converted to the copy's own rotation (degrees, counter-clockwise as displayed) and scale."""
    stats: dict[str, float] = {}
    for i, pair in enumerate(pairs[:5], start=1):
        linear = cv2.invertAffineTransform(pair.affine)[:, :2]  # source → target, (x, y)
        stats |= {
            f"pair{i}_area_px": float(pair.area),
            f"pair{i}_scale": round(float(np.sqrt(abs(np.linalg.det(linear)))), 4),
            f"pair{i}_rotation_deg": round(float(-np.degrees(np.arctan2(linear[1, 0], linear[0, 0]))), 2) + 0.0,
            f"pair{i}_direction_ratio": round(float(pair.ratio), 3),
            f"pair{i}_direction_known": float(pair.direction != 0),
        }
    return stats


class CopyMoveDenseAnalyzer(Analyzer):
    id = "copy_move_dense"
    title = "Copy-move (dense field)"
    version = "1.0"
    Params = CopyMoveDenseParams
    card_file = Path(__file__).with_name("copy_move_dense.md")
    cost_per_mp = 1.0

    def run(self, media: Media, params: CopyMoveDenseParams, ctx: RunContext) -> Heatmap:
        ctx.progress(0.05, "decoding")
        rgb = media.pixels()
        full_shape = rgb.shape[:2]
        gray, scale = analysis_gray(rgb, params.max_side)
        if min(gray.shape) < 2 * RADIUS + 1 + STRIDE:
            return self._result(full_shape, gray.shape, scale, None, [], params)
        ctx.progress(0.1, f"Zernike moments at {gray.shape[1]} × {gray.shape[0]} px")
        features = zernike_features(gray)
        ctx.check_cancelled()
        ctx.progress(0.25, "nearest-neighbour field (PatchMatch)")
        field = nearest_neighbour_field(features, STRIDE, params.min_offset, params.iterations, params.seed, ctx)
        ctx.progress(0.8, "verifying the field (median, local linear fit)")
        structured = local_std(gray.astype(np.float32))[field.ys][:, field.xs] >= FLAT
        ver = verify(
            field.offsets, STRIDE, structured, median_radius=MEDIAN_RADIUS, fit_radius=FIT_RADIUS,
            max_fit_error=params.max_fit_error, min_shift=params.min_shift,
            min_area=min_area(gray.shape, params.min_area), max_scale=params.max_scale,
        )
        pairs = copy_pairs(ver, field, STRIDE, MEDIAN_RADIUS + FIT_RADIUS)
        ctx.check_cancelled()
        ctx.progress(0.9, f"telling source from copy in {len(pairs)} pair(s)")
        luma = gray.astype(np.float32)
        for pair in pairs:
            resampling_direction(pair, luma, STRIDE)
            refine(pair, luma, STRIDE, MEDIAN_RADIUS + FIT_RADIUS, REACH)
        return self._result(full_shape, gray.shape, scale, ver, pairs, params)

    def _result(
        self, full_shape: tuple[int, int], work_shape: tuple[int, int], scale: np.ndarray,
        ver: Verification | None, pairs: list[Pair], params: CopyMoveDenseParams,
    ) -> Heatmap:
        targets, sources = role_maps(pairs, work_shape)
        roles = np.where(targets, TARGET, np.where(sources, SOURCE, 0.0)).astype(np.float32)
        heat = cv2.resize(roles, full_shape[::-1], interpolation=cv2.INTER_NEAREST)
        area = sum(p.area for p in pairs)
        stack = {}
        if ver is not None:
            stack = {
                "copies": cv2.resize(targets.astype(np.float32), full_shape[::-1], interpolation=cv2.INTER_NEAREST),
                "their sources": cv2.resize(sources.astype(np.float32), full_shape[::-1],
                                            interpolation=cv2.INTER_NEAREST),
                "field fit (before size and pairing tests)": coherence(ver, params).astype(np.float32),
            }
        lines = sample_lines(pairs, np.random.default_rng(params.seed))
        return Heatmap(
            analyzer=self.id,
            score=round(1.0 - float(np.exp(-area / SCORE_AREA)), 4),
            score_meaning=(
                f"1 − exp(−area / {SCORE_AREA:g} px), area = verified copy and source regions at the working "
                "size: 0 = nothing verified, 0.63 for one pair of the minimum size; a monotone amount of "
                "evidence, not a calibrated probability"
            ),
            map=heat,
            mask=heat > 0,
            stack=stack,
            pairs=to_full(lines, scale).astype(np.float32),
            legend_low="nothing matched; mid-scale (red): the source of a copy",
            legend_high="a copy (both regions when the direction is unknown)",
            stats={
                "working_scale": round(float(scale.mean()), 4),
                "working_width": float(work_shape[1]),
                "working_height": float(work_shape[0]),
                "kept_points": float(ver.kept.sum()) if ver is not None else 0.0,
                "pairs": float(len(pairs)),
                "area_px": float(area),
            } | pair_stats(pairs),
        )
