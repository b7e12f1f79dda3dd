"""Splicebuster (Cozzolino, Poggi, Verdoliva 2015): which windows' high-pass noise residual has
statistics that do not fit the model of the rest of the image?"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from plugins.localization.common import (
    BLAS_MULTIPLY_ADDS,
    band_rows,
    cell_counts,
    luminance,
    map_score,
    normalize,
    per_image,
    resize_map,
)
from workbench.api import Analyzer, Heatmap, Media, RunContext, param

CLASSES = 25
"""81 tuples merged with their reversal and their negation (the paper's symmetries): 25 classes."""
MARGIN = 3
"""Pixels lost on each side to the 4-tap filter and the 4-tap co-occurrence."""
SATURATED_LOW, SATURATED_HIGH = 6, 252
"""Pixels whose luminance is outside this range (clipped) carry no noise and are left out."""
MIN_FIT_SHARE = 0.85
"""The host model is learnt only from windows with at least this share of usable pixels (reference value)."""
MIN_SCORED_SHARE = 0.25
"""Windows with a smaller usable share are left out of the map (shown as 0); the reference code leaves
out every window below MIN_FIT_SHARE, which blanks splices that contain some clipped pixels."""
OUTLIER_NLOGL_PER_DIM = 42.0 / 25
"""Negative log-likelihood of the uniform outlier class per whitened dimension (reference: 42 for 25)."""
OUTLIER_PRIOR = 0.01
FIT_SAMPLES = 2000
"""The mixture is fitted on at most this many windows (they overlap heavily), then applied to all."""
RESTARTS = 5
EM_TOLERANCE = 1e-5
MIN_SIDE = 32
BAND_ROWS = 64
"""Pixel rows whose co-occurrences are counted at once (see `cell_histograms`)."""
HISTOGRAM_BLOCK = 256
"""Cell columns counted at once in `cell_histograms`: the histograms' channels are 8-bit."""


@dataclass
class SplicebusterParams:
    window: int = param(128, "Window size", "side of the square window each feature histogram covers (pixels)",
                        min=32, max=512)
    stride: int = param(8, "Stride", "step between windows, and the map's resolution (pixels)", min=4, max=64)
    quantization: float = param(
        2.0, "Quantisation step", "step applied to the residual (scaled to unit gain) before truncation to "
        "−1, 0, 1 (grey levels)", min=0.25, max=16.0
    )
    pca_dims: int = param(25, "PCA dimensions", "dimensions kept after whitening PCA of the 50 features",
                          min=2, max=50)
    em_iterations: int = param(100, "EM iterations (max)", "upper bound on expectation–maximisation steps per "
                               "start", min=1, max=1000)


def _class_table() -> np.ndarray:
    """Lookup table from a base-3 4-tuple code (0…80) to its symmetry class (0…24), padded to the 256
    entries OpenCV's LUT takes."""
    digits = np.array(list(itertools.product(range(3), repeat=4)))[:, ::-1]  # row k: base-3 digits of k
    weights = 3 ** np.arange(4)
    variants = [digits, digits[:, ::-1], 2 - digits, 2 - digits[:, ::-1]]
    canonical = np.minimum.reduce([v @ weights for v in variants])
    table = np.zeros(256, np.uint8)
    table[:81] = np.unique(canonical, return_inverse=True)[1]
    return table


CLASS_TABLE = _class_table()


def quantized_residuals(lum: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Third-order horizontal and vertical residuals x(j−1) − 3x(j) + 3x(j+1) − x(j+2), divided by 3
    (unit gain on the middle taps), quantised with `step` (halves rounded away from zero), truncated to
    ±1 and stored as 0, 1, 2 (so a 4-tuple has 3⁴ = 81 values). At lum's shape and contiguous, for
    `cooccurrence_codes`: the first two and the last column (row) of the horizontal (vertical) residual
    are the filter's border."""
    taps = np.array([[-1.0, 3.0, -3.0, 1.0]], np.float32)  # correlation, anchor at tap 2: x(j−2)…x(j+1)
    threshold = np.float32(1.5 * step)  # |r| / 3 / step ≥ ½

    def quantise(r: np.ndarray) -> np.ndarray:
        return np.add(r >= threshold, r > -threshold, dtype=np.uint8)  # 0, 1, 2 (threshold > 0)

    horizontal = cv2.filter2D(lum, -1, taps, borderType=cv2.BORDER_REPLICATE)
    vertical = cv2.filter2D(lum, -1, taps.T, borderType=cv2.BORDER_REPLICATE)
    return quantise(horizontal), quantise(vertical)


def cooccurrence_codes(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Base-3 codes (0…80) of each 4 consecutive quantised residuals down the columns and along the rows
    of q (uint8, contiguous), at q's shape; the last 3 rows (columns) run past the edge and mean nothing.
    Neighbours are paired first, then the pairs, on the flat array: contiguous passes, 3·q computed once."""
    flat = q.ravel()
    triple = 3 * flat
    codes = []
    for step in (q.shape[1], 1):
        pairs = flat[:-step] + triple[step:]
        code = np.empty_like(flat)
        np.add(pairs[: -2 * step], 9 * pairs[2 * step :], out=code[: -3 * step])
        code[-3 * step :] = 0
        codes.append(code.reshape(q.shape))
    return codes[0], codes[1]


DISCARD = 2 * CLASSES
"""The bin after the 50 features: it collects the co-occurrences of unusable pixels."""


def _feature_tables() -> tuple[np.ndarray, np.ndarray]:
    """`CLASS_TABLE` for the classes across the filter direction (bins 0…24) and along it (25…49),
    code 255 (an unusable pixel) sent to DISCARD."""
    across, along = CLASS_TABLE.copy(), CLASS_TABLE + np.uint8(CLASSES)
    across[255] = along[255] = DISCARD
    return across, along


FEATURE_TABLES = _feature_tables()


def _disk(radius: int) -> np.ndarray:
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.uint8)


DISK_3, DISK_2, SQUARE_9 = _disk(3), _disk(2), np.ones((9, 9), np.uint8)


MASK_MARGIN = 3 + 3 + 4
"""Rows around a band that the mask reads: the openings' erosion and dilation, then the 9×9 dilation."""


def unusable_pixels(lum: np.ndarray) -> np.ndarray:
    """255 near clipped areas, 0 elsewhere (uint8). As in the reference code, the masks of dark
    (< SATURATED_LOW) and bright (> SATURATED_HIGH) pixels are opened with a disk of radius 3 (2), which
    drops isolated pixels, and the rest dilated by 9×9; unlike it, on luminance rather than on each
    channel, so that a saturated colour whose luminance still varies (a deep red) stays usable.
    Computed in bands that OpenCV runs in the calling thread (`band_rows`; the same result)."""
    h = lum.shape[0]
    rows = band_rows(lum.shape[1], 1, MASK_MARGIN)
    out = np.empty(lum.shape, np.uint8)
    for top in range(0, h, rows):
        bottom = min(h, top + rows)
        lo, hi = max(0, top - MASK_MARGIN), min(h, bottom + MASK_MARGIN)
        low = cv2.compare(lum[lo:hi], SATURATED_LOW, cv2.CMP_LT)  # 0 / 255 masks, straight from OpenCV
        high = cv2.compare(lum[lo:hi], SATURATED_HIGH, cv2.CMP_GT)
        clipped = opened(low, DISK_3) | opened(high, DISK_2)
        out[top:bottom] = cv2.dilate(clipped, SQUARE_9)[top - lo : bottom - lo] if cv2.countNonZero(clipped) else 0
    return out


def opened(mask: np.ndarray, disk: np.ndarray) -> np.ndarray:
    """Morphological opening of a 0 / 255 mask; an empty one (a band without clipped pixels) is returned
    as it is (the mask of an 8-MP photo without clipping: −25 % CPU)."""
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, disk) if cv2.countNonZero(mask) else mask


def cell_histograms(lum: np.ndarray, unusable: np.ndarray, step: float, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Per stride×stride cell: the 50 co-occurrence counts (float32; classes across the filter direction,
    then along it, each summed over the horizontal and vertical residual) followed by the DISCARD bin,
    where each unusable pixel adds its 4 co-occurrences; and the number of usable pixels.

    Computed band by band of cell rows from the residuals on: small arrays that stay in the CPU cache,
    instead of image-sized ones. The band's four class planes are stored row by row together, so that a
    cell row's are one sub-image, counted block by block of cell columns by a 2-D cv2.calcHist (8-bit
    channels: cell column in the block, class): float32 counts without np.bincount's pixel-sized intp
    index (−30 % CPU), and the GIL released while counting."""
    h, w = lum.shape[0] - 2 * MARGIN, lum.shape[1] - 2 * MARGIN
    rows, cols, bins = -(-h // stride), -(-w // stride), DISCARD + 1
    band = min(h, stride * max(1, BAND_ROWS // stride))
    classes = np.empty((-(-band // stride) * stride, 4, w), np.uint8)  # [y, plane, x]
    column = np.tile((np.arange(w) // stride % HISTOGRAM_BLOCK).astype(np.uint8), (4 * stride, 1))
    blocks = [(first, slice(first * stride, (first + HISTOGRAM_BLOCK) * stride))
              for first in range(0, cols, HISTOGRAM_BLOCK)]
    counts = np.empty((rows, cols, bins), np.float32)  # exact: at most 4·stride² per bin
    across, along = FEATURE_TABLES
    for top in range(0, h, band):
        n = min(band, h - top)
        horizontal, vertical = quantized_residuals(lum[top : top + n + 2 * MARGIN], step)
        h_across, h_along = (codes[:n, 2 : 2 + w] for codes in cooccurrence_codes(horizontal))
        v_along, v_across = (codes[2 : 2 + n, :w] for codes in cooccurrence_codes(vertical))
        mask = unusable[MARGIN + top : MARGIN + top + n, MARGIN : MARGIN + w]
        planes = ((h_across, across), (v_across, across), (h_along, along), (v_along, along))
        for k, (codes, table) in enumerate(planes):
            cv2.LUT(np.bitwise_or(codes, mask), table, dst=classes[:n, k])
        classes[n:] = bins  # below the image (in the last cell row): outside the histograms' range
        for row in range(top // stride, -(-(top + n) // stride)):
            cell_row = classes[row * stride - top : (row + 1) * stride - top].reshape(4 * stride, w)
            for first, pixels in blocks:
                found = cv2.calcHist(
                    [column[:, pixels], cell_row[:, pixels]], [0, 1], None, [HISTOGRAM_BLOCK, bins],
                    [0, HISTOGRAM_BLOCK, 0, bins],
                )
                counts[row, first : first + HISTOGRAM_BLOCK] = found[: cols - first]
    return counts, cell_counts((h, w), stride) - counts[..., DISCARD] / 4.0


def window_features(
    cells: np.ndarray, usable: np.ndarray, inside: np.ndarray, cells_per_window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell, the window of cells_per_window² cells around the cell's top-left corner: its features
    (square roots of the two normalised histograms, a variance-stabilising step before PCA), its usable
    share, and whether it lies wholly inside the image. `cells` are `cell_histograms` (the DISCARD bin
    is summed with the rest, which spares OpenCV a contiguous copy, and left out of the features)."""
    box = {"ddepth": -1, "ksize": (cells_per_window,) * 2, "normalize": False, "borderType": cv2.BORDER_CONSTANT}
    sums = cv2.boxFilter(cells, **box)[..., :DISCARD]
    count = cv2.boxFilter(usable.astype(np.float32), **box)
    area = cv2.boxFilter(inside.astype(np.float32), **box)
    full = area >= cells_per_window**2 * float(inside.max()) - 0.5
    features = np.sqrt(np.divide(sums, np.maximum(2.0 * count, 1.0)[..., None], out=sums), out=sums)
    return features.reshape(-1, 2 * CLASSES), (count / np.maximum(area, 1.0)).ravel(), full.ravel()


def product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b in float64, in row blocks that OpenBLAS multiplies in the calling thread."""
    out = np.empty((a.shape[0], b.shape[1]))
    rows = max(1, BLAS_MULTIPLY_ADDS // b.size)
    for top in range(0, len(a), rows):
        np.matmul(a[top : top + rows], b, out=out[top : top + rows])
    return out


def gram(a: np.ndarray) -> np.ndarray:
    """aᵀa in float64, summed over row blocks that OpenBLAS multiplies in the calling thread."""
    out = np.zeros((a.shape[1], a.shape[1]))
    rows = max(1, BLAS_MULTIPLY_ADDS // out.size)
    for top in range(0, len(a), rows):
        block = np.asarray(a[top : top + rows], np.float64)
        out += block.T @ block
    return out


def whitening(samples: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and projection onto the `dims` leading principal components, scaled to unit variance.
    OpenCV's eigensolver: numpy's (LAPACK's) wakes OpenBLAS's threads (see BLAS_MULTIPLY_ADDS)."""
    mean = samples.mean(axis=0)
    _, values, vectors = cv2.eigen(gram(samples - mean) / len(samples))  # descending, one vector per row
    values = values.ravel()
    top = np.maximum(values[:dims], np.finfo(np.float64).eps * max(values[0], 1e-30))
    return mean, vectors[:dims].T / np.sqrt(top)


def squared_norms(z: np.ndarray) -> np.ndarray:
    """Squared Euclidean norm of each row."""
    return np.einsum("ij,ij->i", z, z)


@dataclass
class GaussianUniform:
    """Host windows ~ N(mean, cov) with weight `inlier`; anything else ~ uniform (the outlier class)."""

    mean: np.ndarray
    cov: np.ndarray
    inlier: float
    loss: float = -np.inf

    def whitener(self) -> tuple[np.ndarray, float]:
        """L⁻¹ for the Cholesky factor L of the covariance (|L⁻¹(x − mean)|² is the squared Mahalanobis
        distance), and the log-determinant term."""
        chol = np.linalg.cholesky(self.cov)
        return np.linalg.inv(chol), float(np.log(np.diag(chol)).sum())

    def squared_mahalanobis(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """Squared Mahalanobis distances to the host Gaussian, and the log-determinant term."""
        inverse, half_logdet = self.whitener()
        return squared_norms(product(x - self.mean, inverse.T)), half_logdet

    def inlier_posterior(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """Per sample, the posterior of the host class, and the mean log-likelihood."""
        return self.posterior(*self.squared_mahalanobis(x), x.shape[1])

    def posterior(self, d2: np.ndarray, half_logdet: float, dims: int) -> tuple[np.ndarray, float]:
        """`inlier_posterior` from the squared distances and log-determinant term."""
        nlogl = 0.5 * (d2 + dims * np.log(2 * np.pi)) + half_logdet
        log_in = np.log(self.inlier) - nlogl
        log_out = np.log1p(-self.inlier) - OUTLIER_NLOGL_PER_DIM * dims  # uniform: the same for every sample
        top = np.maximum(log_in, log_out)
        inlier = np.exp(log_in - top)
        total = inlier + np.exp(log_out - top)
        return inlier / total, float(np.mean(np.log(total) + top))


def fit_gaussian_uniform(x: np.ndarray, iterations: int, rng: np.random.Generator) -> GaussianUniform:
    """EM for the Gaussian + uniform mixture, started RESTARTS times from random samples as the mean;
    the fit with the highest likelihood wins."""
    n, d = x.shape
    ridge = 1e-6 * np.eye(d)
    base_cov = np.diag(x.var(axis=0)) + ridge
    best = GaussianUniform(x.mean(axis=0), base_cov, 1.0 - OUTLIER_PRIOR)
    for start in rng.choice(n, size=min(RESTARTS, n), replace=False):
        model = GaussianUniform(x[start].copy(), base_cov.copy(), 1.0 - OUTLIER_PRIOR)
        try:
            gamma, loss = model.inlier_posterior(x)
            for _ in range(iterations):
                model.inlier = min(max(float(gamma.mean()), 1e-6), 1.0 - 1e-6)  # np.clip of a scalar: 40 µs
                weight = gamma.sum()
                model.mean = np.einsum("n,ni->i", gamma, x) / weight
                centred = (x - model.mean) * np.sqrt(gamma)[:, None]
                model.cov = gram(centred) / weight + ridge
                gamma, new_loss = model.inlier_posterior(x)
                converged = 0.0 <= new_loss - loss < EM_TOLERANCE * abs(new_loss)
                loss = new_loss
                if converged:
                    break
        except np.linalg.LinAlgError:
            continue
        model.loss = loss
        if model.loss > best.loss:
            best = model
    return best


PROJECTION_ROWS = 8192
"""Windows whose distances are computed at once (their float64 copies stay small)."""


def host_distances(
    features: np.ndarray, mean: np.ndarray, projection: np.ndarray, model: GaussianUniform
) -> tuple[np.ndarray, float]:
    """`model.squared_mahalanobis` of the whitened features `(features − mean) @ projection`, as one
    affine map of the raw features applied chunk by chunk: one product instead of two, and no
    full-size float64 copies."""
    inverse, half_logdet = model.whitener()
    matrix = projection @ inverse.T
    offset = (mean @ projection + model.mean) @ inverse.T
    d2 = np.empty(len(features))
    for top in range(0, len(features), PROJECTION_ROWS):
        rows = slice(top, top + PROJECTION_ROWS)
        z = product(features[rows], matrix)
        d2[rows] = squared_norms(np.subtract(z, offset, out=z))
    return d2, half_logdet


@dataclass
class SplicebusterMaps:
    """Per cell of the stride grid (the window around the cell's top-left corner)."""

    distance: np.ndarray
    """Mahalanobis distance to the host model; 0 where the window is mostly clipped."""
    outlier: np.ndarray
    """Posterior of the outlier class."""
    scored: np.ndarray
    model: GaussianUniform
    window: int


def effective_window(window: int, stride: int, shape: tuple[int, int]) -> int:
    """The window in whole cells, shrunk to half the image's smaller side (at least 2 cells)."""
    fit = (min(shape) - 2 * MARGIN) // 2 // stride
    return max(2, min(round(window / stride), fit))


def fill_partial_windows(grid: np.ndarray, full: np.ndarray) -> np.ndarray:
    """Windows that stick out of the image take the value of the nearest whole window (edge padding of
    the rectangle of whole windows), as the reference code pads its map."""
    rows, cols = np.flatnonzero(full.any(axis=1)), np.flatnonzero(full.any(axis=0))
    inner = grid[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    pad = ((rows[0], grid.shape[0] - rows[-1] - 1), (cols[0], grid.shape[1] - cols[-1] - 1))
    return np.pad(inner, pad, mode="edge")


def splicebuster_maps(rgb: np.ndarray, params: SplicebusterParams, ctx: RunContext) -> SplicebusterMaps:
    """Window features on the stride grid, a Gaussian + uniform model of them fitted by EM, and each
    window's distance to the Gaussian (the image's dominant noise model)."""
    lum = per_image(luminance, rgb)
    cells, usable = cell_histograms(lum, unusable_pixels(lum), params.quantization, params.stride)
    inside = cell_counts((lum.shape[0] - 2 * MARGIN, lum.shape[1] - 2 * MARGIN), params.stride)
    ctx.check_cancelled()
    ctx.progress(0.5, "window histograms")
    k = effective_window(params.window, params.stride, lum.shape)
    features, share, full = window_features(cells, usable, inside, k)
    scored, fitted = full & (share >= MIN_SCORED_SHARE), full & (share >= MIN_FIT_SHARE)
    if fitted.sum() < 2 * params.pca_dims:
        raise ValueError(
            f"too few usable windows for Splicebuster ({int(fitted.sum())}, needs {2 * params.pca_dims}): the "
            "image is too small for this window and stride, or mostly clipped (saturated)"
        )
    rng = np.random.default_rng(0)
    fit_rows = np.flatnonzero(fitted)
    if fit_rows.size > FIT_SAMPLES:
        fit_rows = np.sort(rng.choice(fit_rows, size=FIT_SAMPLES, replace=False))
    samples = features[fit_rows].astype(np.float64)
    mean, projection = whitening(samples, params.pca_dims)
    ctx.progress(0.7, "fitting the host model (EM)")
    model = fit_gaussian_uniform(product(samples - mean, projection), params.em_iterations, rng)
    ctx.check_cancelled()
    d2, half_logdet = host_distances(features, mean, projection, model)
    inlier, _ = model.posterior(d2, half_logdet, projection.shape[1])
    shape, full = cells.shape[:2], full.reshape(cells.shape[:2])
    return SplicebusterMaps(
        fill_partial_windows(np.where(scored, np.sqrt(d2), 0.0).reshape(shape), full),
        fill_partial_windows(np.where(scored, 1.0 - inlier, 0.0).reshape(shape), full),
        fill_partial_windows(scored.reshape(shape), full),
        model,
        k * params.stride,
    )


def to_image(grid: np.ndarray, stride: int, window: int, shape: tuple[int, int]) -> np.ndarray:
    """A map on the stride grid at image size, each value at its window's centre: pixel MARGIN + stride·(i, j)
    for an even number of cells per window, half a cell further for an odd one. The border beyond the
    outermost windows repeats them."""
    h, w = shape
    up = resize_map(grid, (grid.shape[0] * stride, grid.shape[1] * stride))  # value (i, j) at stride·(i + ½, j + ½)
    shift = MARGIN - (stride // 2 if window // stride % 2 == 0 else 0)
    if shift < 0:
        up, shift = up[-shift:, -shift:], 0
    up = up[: h - shift, : w - shift]
    return cv2.copyMakeBorder(up, shift, h - shift - up.shape[0], shift, w - shift - up.shape[1], cv2.BORDER_REPLICATE)


class SplicebusterAnalyzer(Analyzer):
    id = "splicebuster"
    title = "Splicebuster (noise-residual co-occurrences)"
    version = "1.0"
    Params = SplicebusterParams
    card_file = Path(__file__).with_name("splicebuster.md")
    cost_per_mp = 0.048

    def run(self, media: Media, params: SplicebusterParams, ctx: RunContext) -> Heatmap:
        ctx.progress(0.05, "decoding")
        rgb = media.pixels()
        h, w = rgb.shape[:2]
        if min(h, w) < MIN_SIDE:
            raise ValueError(f"image too small for Splicebuster: {w}×{h} pixels, needs {MIN_SIDE} on each side")
        ctx.progress(0.1, "noise residual co-occurrences")
        maps = splicebuster_maps(rgb, params, ctx)
        heat = to_image(normalize(maps.distance), params.stride, maps.window, (h, w))
        outlier = to_image(maps.outlier, params.stride, maps.window, (h, w))
        scored = maps.scored
        note = "" if maps.window == params.window else f"window used: {maps.window} px (whole strides)"
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            message=note,
            score=map_score(heat),
            score_meaning=(
                "heterogeneity of the map in [0, 1] (99th percentile minus median): higher means some windows' "
                "noise statistics stand out more, as they do in most authentic photos (uneven texture, sky, "
                "shadows); not a probability"
            ),
            map=heat,
            stack={"posterior of the outlier (spliced) class": np.clip(outlier, 0.0, 1.0, out=outlier)},
            legend_low="noise statistics like the rest of the image",
            legend_high="farthest from the image's dominant noise model",
            stats={
                "window_px": float(maps.window),
                "max_distance": round(float(maps.distance.max()), 3),
                "median_distance": round(float(np.median(maps.distance[scored])), 3),
                "outlier_fraction": round(float((maps.outlier[scored] > 0.5).mean()), 4),
                "host_weight": round(maps.model.inlier, 4),
                "clipped_window_fraction": round(float(1.0 - scored.mean()), 4),
            },
        )
