"""Speed of the classical localisation signals on one large JPEG, and of our vectorised block
statistics against naive per-block Python loops of the same computation.

    .venv/bin/python -m bench.localization_speed [--mp 12] [--repeat 3] [--naive-mp 1] [--cores N]
        [--glibc-default] [--out FILE.md]

The target (issue): every classical signal together under 3 s for a 12-megapixel JPEG on 2 CPU
cores. The bench prints the measured times and ratios against baselines run in the same process;
it asserts nothing, because absolute times depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from plugins.localization.blocking import STUDIO_SWING, block_artifact_grid, block_values
from plugins.localization.common import block_dct, dct_matrix, jpeg_roundtrip, luminance, ycbcr_luma
from plugins.localization.ghost import GhostParams, ghost_differences, qualities_of
from plugins.localization.noise import MAD_TO_SIGMA, NoiseWaveletParams, block_noise_sigma, diagonal_detail
from workbench.app.analysis import Planned, run_plan
from workbench.app.sample import load_photo, make_splice
from workbench.core import registry
from workbench.core.device import usable_cores
from workbench.core.media import Media, open_media
from workbench.core.memory import keep_freed_memory
from workbench.core.plugin import Analyzer, RunContext, run_analyzer
from workbench.core.results import Result

FAMILY = "plugins.localization"
TARGET_S = 3.0
"""All classical signals together, seconds, for a 12-MP JPEG on 2 CPU cores (the issue's target)."""

TARGET_MP = 12.0


# -- timing ----------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Median and minimum wall time, and median process CPU time (all threads) with its system
    (kernel) part, over the repeats. A large system part is page faults: fresh memory for big arrays."""

    wall: float
    best: float
    cpu: float
    system: float

    @staticmethod
    def over(runs: list[Timing]) -> Timing:
        """Median and minimum over single runs; the median resists other jobs on the machine, the
        minimum shows what it takes when nothing interferes."""
        return Timing(
            statistics.median(r.wall for r in runs), min(r.wall for r in runs),
            statistics.median(r.cpu for r in runs), statistics.median(r.system for r in runs),
        )


def timed(fn: Callable[[], Any], repeat: int) -> tuple[Timing, Any]:
    """Run `fn` `repeat` times."""
    runs = []
    out = None
    for _ in range(repeat):
        c0, s0, t0 = time.process_time(), os.times().system, time.perf_counter()
        out = fn()
        wall = time.perf_counter() - t0
        runs.append(Timing(wall, wall, time.process_time() - c0, os.times().system - s0))
    return Timing.over(runs), out


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Unix; NaN elsewhere)."""
    try:
        import resource
    except ImportError:
        return float("nan")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the evidence ----------------------------------------------------------------------------------


def frame(mp: float, align: int = 8) -> tuple[int, int]:
    """(height, width) of a 4:3 image of about `mp` megapixels, both multiples of `align` (12 → 3000×4000)."""
    width = align * round((mp * 1e6 * 4 / 3) ** 0.5 / align)
    return align * round(width * 3 / 4 / align), width


def with_noise(rgb: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian grain, so an upscaled photo is not trivially smooth (JPEG, noise and grid
    signals all need texture to work on)."""
    noisy = rgb.astype(np.float32) + rng.normal(0.0, sigma, rgb.shape).astype(np.float32)
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)


def make_evidence(folder: Path, mp: float, seed: int = 0) -> Path:
    """A spliced JPEG of about `mp` megapixels (quality 90): the astronaut photo upscaled with
    grain σ = 4, twice compressed, with a once-compressed, less grainy (σ = 1) patch of the coffee
    photo pasted off the 8×8 grid, so the JPEG-history, noise and grid signals have something to find."""
    rng = np.random.default_rng(seed)
    h, w = frame(mp)
    host = with_noise(cv2.resize(load_photo("astronaut.png")[64:448], (w, h), interpolation=cv2.INTER_CUBIC), 4.0, rng)
    donor = load_photo("coffee.png")[90:230, 190:350]
    ph, pw = 16 * (h // 48), 16 * (w // 48)  # a third of each side
    patch = with_noise(cv2.resize(donor, (pw, ph), interpolation=cv2.INTER_CUBIC), 1.0, rng)
    data, _ = make_splice(host, patch, (h // 3 + 3, w // 2 + 5))
    path = folder / f"spliced_{w}x{h}.jpg"
    path.write_bytes(data)
    return path


# -- the analyzers ---------------------------------------------------------------------------------


def classical() -> dict[str, Analyzer]:
    """Registered localisation analyzers that need no model, plus the metadata analyzer."""
    return {
        aid: a
        for aid, a in registry.analyzers().items()
        if (type(a).__module__.startswith(FAMILY) and not a.models) or aid == "metadata"
    }


def run_one(analyzer: Analyzer, media: Media) -> str:
    """One analyzer with default parameters, exactly as the app runs it; its status (and message)."""
    return status_of(run_analyzer(analyzer, media, analyzer.params_from({}), RunContext()))


def status_of(result: Result) -> str:
    return result.status.value + (f" ({result.message})" if not result.ok and result.message else "")


def run_as_the_app(analyzers: list[Analyzer], media: Media) -> list[str]:
    """All analyzers as the app runs them on one image (`run_plan`: side by side, one thread per core,
    costliest first by their `cost_per_mp`)."""
    return [status_of(r) for r in run_plan(media, [Planned(a, a.params_from({})) for a in analyzers])]


def decoded(path: Path) -> Media:
    """A fresh Media with its pixels decoded: nothing derived from it is shared yet."""
    media = open_media(path)
    media.pixels()
    return media


def one_after_another(
    path: Path, analyzers: dict[str, Analyzer], repeat: int
) -> tuple[dict[str, Timing], dict[str, str]]:
    """Each analyzer in turn on one Media, as a job runs them: what they share (luma, JPEG re-saves,
    JPEG coefficients: `plugins.localization.common.per_image`) is computed by the first that needs
    it. A fresh Media for every repeat."""
    runs: dict[str, list[Timing]] = {aid: [] for aid in analyzers}
    statuses: dict[str, str] = {}
    for _ in range(repeat):
        media = decoded(path)
        for aid, analyzer in analyzers.items():
            timing, statuses[aid] = timed(lambda a=analyzer, m=media: run_one(a, m), 1)
            runs[aid].append(timing)
            print(f"  {aid}: {timing.wall:.2f} s", file=sys.stderr, flush=True)
    return {aid: Timing.over(r) for aid, r in runs.items()}, statuses


def side_by_side(path: Path, analyzers: list[Analyzer], repeat: int) -> tuple[Timing, list[str]]:
    """`run_as_the_app` on a fresh Media for every repeat."""
    runs, statuses = [], []
    for _ in range(repeat):
        media = decoded(path)
        timing, statuses = timed(lambda m=media: run_as_the_app(analyzers, m), 1)
        runs.append(timing)
    return Timing.over(runs), statuses


# -- naive per-block baselines ---------------------------------------------------------------------


def naive_noise_sigma(luma: np.ndarray, block: int) -> np.ndarray:
    """NOI1: our wavelet transform, then median(|HH|) / 0.6745 block by block in Python."""
    hh = np.abs(diagonal_detail(luma))
    rows, cols = hh.shape[0] // block, hh.shape[1] // block
    sigma = np.empty((rows, cols))
    for r in range(rows):
        for c in range(cols):
            sigma[r, c] = np.median(hh[r * block : (r + 1) * block, c * block : (c + 1) * block]) / MAD_TO_SIGMA
    return sigma


def naive_ghost(rgb: np.ndarray, qualities: list[int], window: int) -> np.ndarray:
    """JPEG ghost δ_q: our JPEG re-save, then the mean over R, G, B and a window×window block of
    the squared difference, block by block in Python; shape (qualities, rows, cols)."""
    rows, cols = rgb.shape[0] // window, rgb.shape[1] // window
    out = np.empty((len(qualities), rows, cols))
    for i, quality in enumerate(qualities):
        diff = rgb.astype(np.float64) - jpeg_roundtrip(rgb, quality)
        for r in range(rows):
            for c in range(cols):
                tile = diff[r * window : (r + 1) * window, c * window : (c + 1) * window]
                out[i, r, c] = np.mean(tile * tile)
    return out


def ghost_at_block_centres(rgb: np.ndarray, qualities: list[int], window: int) -> np.ndarray:
    """Our dense δ_q maps sampled at the centre of each window×window block: OpenCV's even box
    filter covers rows y − w/2 … y + w/2 − 1, so there it is exactly the naive block mean."""
    half = window // 2
    return ghost_differences(rgb, qualities, window)[:, half::window, half::window]


def naive_block_values(grid: np.ndarray) -> np.ndarray:
    """BLK: per 8×8 block, strongest inner grid line minus weakest border line (rows plus
    columns), block by block in Python, on our block artifact grid."""
    rows, cols = grid.shape[0] // 8, grid.shape[1] // 8
    values = np.empty((rows, cols))
    for r in range(rows):
        for c in range(cols):
            tile = grid[8 * r : 8 * r + 8, 8 * c : 8 * c + 8]
            inner = tile[1:7, 1:7]
            columns = inner.sum(axis=0).max() - tile[1:7, [0, 7]].sum(axis=0).min()
            lines = inner.sum(axis=1).max() - tile[[0, 7], 1:7].sum(axis=1).min()
            values[r, c] = columns + lines
    return values


def naive_block_dct(luma: np.ndarray) -> np.ndarray:
    """ADQ/NADQ coefficient re-estimation: D · (block − 128) · Dᵀ for each 8×8 block in Python."""
    d = dct_matrix(8)
    rows, cols = luma.shape[0] // 8, luma.shape[1] // 8
    coeffs = np.empty((rows, cols, 8, 8))
    for r in range(rows):
        for c in range(cols):
            coeffs[r, c] = d @ (luma[8 * r : 8 * r + 8, 8 * c : 8 * c + 8].astype(np.float64) - 128.0) @ d.T
    return coeffs


@dataclass
class Baseline:
    """One per-block step: the naive loop and our code on the same input; `shared` is the part
    both run identically (our transform or JPEG re-saves), timed alone for reference."""

    algorithm: str
    step: str
    naive: Callable[[], np.ndarray]
    ours: Callable[[], np.ndarray]
    shared: Callable[[], Any] | None = None


def baselines(rgb: np.ndarray) -> list[Baseline]:
    luma = luminance(rgb)
    noise_block = NoiseWaveletParams().block
    ghost = GhostParams()
    qualities = qualities_of(ghost)
    grid = block_artifact_grid(luma * STUDIO_SWING)
    y = ycbcr_luma(rgb)
    return [
        Baseline(
            "NOI1 (noise_wavelet)", f"db8 HH1, then median(|HH|)/0.6745 per {noise_block}×{noise_block} block",
            lambda: naive_noise_sigma(y, noise_block), lambda: block_noise_sigma(y, noise_block),
            lambda: diagonal_detail(y),
        ),
        Baseline(
            "JPEG ghost (jpeg_ghost)",
            f"{len(qualities)} re-saves, then mean squared difference per {ghost.window}×{ghost.window} block",
            lambda: naive_ghost(rgb, qualities, ghost.window),
            lambda: ghost_at_block_centres(rgb, qualities, ghost.window),
            lambda: [jpeg_roundtrip(rgb, q) for q in qualities],
        ),
        Baseline(
            "BLK (blk)", "inner-line max minus border-line min per 8×8 block (grid given)",
            lambda: naive_block_values(grid), lambda: block_values(grid),
        ),
        Baseline(
            "ADQ / NADQ (adq, nadq)", "8×8 block DCT of the luma (coefficient re-estimation)",
            lambda: naive_block_dct(luma), lambda: block_dct(luma),
        ),
    ]


def centre_crop(rgb: np.ndarray, mp: float) -> np.ndarray:
    """A 16-aligned centre crop of about `mp` megapixels (kept on the file's JPEG grid)."""
    h, w = (min(a, 16 * (b // 16)) for a, b in zip(frame(mp, 16), rgb.shape[:2], strict=True))
    y0, x0 = 16 * ((rgb.shape[0] - h) // 32), 16 * ((rgb.shape[1] - w) // 32)
    return np.ascontiguousarray(rgb[y0 : y0 + h, x0 : x0 + w])


# -- report ----------------------------------------------------------------------------------------


def _ratio(num: float, den: float) -> str:
    return f"{num / den:.1f}" if den > 1e-4 else "–"


def machine_header(args: argparse.Namespace, media: Media, cores: int, allocator: str) -> list[str]:
    load = os.getloadavg()
    return [
        f"- Input: {media.width}×{media.height} ({media.megapixels:.1f} MP) JPEG quality 90, spliced "
        f"(`bench/localization_speed.py`, seed 0)",
        f"- Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, {cores} usable by this process, "
        f"OpenCV threads {cv2.getNumThreads()}; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        f"(1 / 5 / 15 min) at the start; memory allocator: {allocator}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, OpenCV {cv2.__version__}; "
        f"{args.repeat} repeat(s): wall = median (min), CPU = median process time of all threads (its "
        f"system part, mostly page faults, in brackets)",
    ]


def time_signals(path: Path, mp: float, args: argparse.Namespace, emit: Callable[[str], None]) -> None:
    """Every classical analyzer in turn, then all of them in a thread pool; the target verdict."""
    analyzers = classical()
    emit("| analyzer | wall s (min) | CPU s (system) | s/MP | declared `cost_per_mp` | share of total | status |")
    emit("|---|---:|---:|---:|---:|---:|---|")
    times, statuses = one_after_another(path, analyzers, args.repeat)
    total = sum(t.wall for t in times.values())
    for aid in sorted(times, key=lambda a: -times[a].wall):
        t = times[aid]
        emit(f"| {aid} | {t.wall:.3f} ({t.best:.3f}) | {t.cpu:.2f} ({t.system:.2f}) | {t.wall / mp:.3f} | "
             f"{analyzers[aid].cost_per_mp:.3f} | {100 * t.wall / total:.1f} % | {statuses[aid]} |")
    cpu, system = sum(t.cpu for t in times.values()), sum(t.system for t in times.values())
    emit(f"| **total, one after another** | **{total:.2f}** ({sum(t.best for t in times.values()):.2f}) | "
         f"{cpu:.2f} ({system:.2f}) | {total / mp:.3f} | | 100 % | |")

    app, app_statuses = side_by_side(path, list(analyzers.values()), args.repeat)
    failed = [f"{aid}: {s}" for aid, s in zip(analyzers, app_statuses, strict=True) if s != "ok"]
    emit(f"| **total, as the app runs them** (side by side on {usable_cores()} threads, costliest first) | "
         f"**{app.wall:.2f}** ({app.best:.2f}) | {app.cpu:.2f} ({app.system:.2f}) | {app.wall / mp:.3f} | | | "
         f"{'; '.join(failed) or 'ok'} |")
    emit()
    scale = TARGET_MP / mp
    emit(f"Target: all classical signals under {TARGET_S:.0f} s for a {TARGET_MP:.0f}-MP JPEG on 2 CPU cores. "
         f"Measured{' (scaled to 12 MP)' if scale != 1 else ''} as the app runs them: median "
         f"{app.wall * scale:.2f} s, best {app.best * scale:.2f} s → "
         f"**{'met' if app.wall * scale < TARGET_S else 'NOT met'}** ({app.wall * scale / TARGET_S:.2f} × the "
         f"target; {total * scale:.2f} s one after another). CPU time {app.cpu * scale:.1f} s: on "
         f"{usable_cores()} cores the wall time cannot go below {app.cpu * scale / usable_cores():.1f} s.")


def time_baselines(crop: np.ndarray, repeat: int, emit: Callable[[str], None]) -> None:
    """Each naive per-block loop against our code on the same crop, outputs checked equal."""
    emit("Same input, same function for any shared transform; the naive output is checked equal to ours "
         "(`np.allclose`). `shared` is the part both run identically, timed alone; the last column but one is "
         "the speed-up of the per-block part once it is taken out.")
    emit()
    emit("| algorithm | step | naive s | ours s | speed-up × | shared s | per-block part × | equal |")
    emit("|---|---|---:|---:|---:|---:|---:|---|")
    for base in baselines(crop):
        naive_t, naive_out = timed(base.naive, repeat)
        ours_t, ours_out = timed(base.ours, repeat)
        shared = timed(base.shared, repeat)[0].wall if base.shared else 0.0
        equal = naive_out.shape == ours_out.shape and np.allclose(naive_out, ours_out, rtol=1e-4, atol=1e-4)
        emit(f"| {base.algorithm} | {base.step} | {naive_t.wall:.3f} | {ours_t.wall:.4f} | "
             f"{_ratio(naive_t.wall, ours_t.wall)} | {shared:.3f} | "
             f"{_ratio(naive_t.wall - shared, ours_t.wall - shared)} | {'yes' if equal else 'NO'} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mp", type=float, default=TARGET_MP, help="megapixels of the test JPEG (default 12)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing (default 3)")
    parser.add_argument("--naive-mp", type=float, default=1.0, help="crop for the naive baselines (default 1 MP)")
    parser.add_argument("--cores", type=int, default=0, help="pin to this many CPUs (Linux; default: all)")
    parser.add_argument("--glibc-default", action="store_true",
                        help="leave glibc's allocator as it is (fresh pages for every big array), "
                        "not the app's tuning")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = parser.parse_args(argv)
    if args.cores:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cores])
        cv2.setNumThreads(args.cores)
    cores = usable_cores()
    allocator = "glibc default (--glibc-default)"
    if not args.glibc_default:
        tuned = keep_freed_memory()
        allocator = "as the app: freed memory kept (keep_freed_memory)" if tuned else "default (mallopt n/a)"
    lines: list[str] = []

    def emit(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = make_evidence(Path(tmp), args.mp)
        opened, media = timed(lambda: open_media(path), 1)
        decoding, _ = timed(media.pixels, 1)
        emit(f"## Classical signals on a {media.megapixels:.0f}-megapixel JPEG")
        emit()
        for line in machine_header(args, media, cores, allocator):
            emit(line)
        emit(f"- Not timed below: opening (hash + decode check) {opened.wall:.2f} s, decoding the pixels "
             f"once {decoding.wall:.2f} s (cached by `Media.pixels()` for every analyzer)")
        emit("- One after another: the analyzers in registry order on one Media; what they share (luma, JPEG "
             "re-saves, JPEG coefficients) is counted in the first that needs it. Then as the app runs them "
             "(`workbench.app.analysis.run_plan`). Every repeat starts from a fresh Media.")
        emit()
        time_signals(path, media.megapixels, args, emit)
        emit()
        crop = centre_crop(media.pixels(), args.naive_mp)
        emit(f"## Naive per-block Python loops against ours ({crop.shape[1]}×{crop.shape[0]} centre crop, "
             f"{crop.shape[0] * crop.shape[1] / 1e6:.2f} MP)")
        emit()
        time_baselines(crop, args.repeat, emit)
    load = os.getloadavg()
    emit()
    emit(f"Load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; peak resident memory "
         f"{peak_rss_mb():.0f} MB; bench run time {time.perf_counter() - started:.0f} s.")
    if args.out:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
