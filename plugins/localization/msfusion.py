"""Multi-stream fusion splicing localiser (Siopi et al., MMM 2023), run with the authors' weights.

The network (`msfusion_net`) reads the RGB image and one or two handcrafted forensic signals,
each rendered as an RGB picture the way the authors fed them: the toolbox's DCT blocking-artifact
map (Ye, Sun, Chang 2007) and the Splicebuster map. One analyzer per released checkpoint:
RGB + DCT, RGB + Splicebuster, RGB + both. Without the checkpoint installed the result is
'unavailable' (ModelUnavailable), never a score.

torch is imported inside functions only, so the application runs without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from plugins.localization.common import block_dct, decoded_luma, expand_blocks, normalize, resize_map, zigzag
from workbench.api import Analyzer, Heatmap, Media, RunContext, param

RGB_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
RGB_STD = np.array([0.229, 0.224, 0.225], np.float32)
"""ImageNet normalisation, applied by the authors to the image and to the rendered signal maps alike."""
STRIDE = 32
MAX_LONG_SIDE = 2048
"""Network input long side cap, so a panorama does not take minutes."""
MIN_SIDE = 32
DCT_COEFFICIENTS = 32
"""The toolbox estimates a quantisation step for the first 32 zig-zag coefficients (DC skipped)."""
HIST_HALF = 256
"""DCT histograms cover −256 … 256 (the toolbox drops the two outlier bins beyond)."""
THRESHOLD = 0.5
"""The network was trained with per-pixel binary cross-entropy: 0.5 is its decision point."""
SCORE_MEANING = (
    "largest per-pixel output of the network (its sigmoid after 3×3 smoothing), in [0, 1]: how sure it is "
    "about its most suspicious spot. The network's own output, not a calibrated probability"
)
STREAM_SIGNALS = {"dct": ("dct",), "sb": ("splicebuster",), "dct_sb": ("dct", "splicebuster")}
"""Which signal feeds each signal stream of a released variant, in the network's argument order."""
SIGNAL_TITLES = {"dct": "DCT blocking artifacts", "splicebuster": "Splicebuster"}


class SignalRendering(StrEnum):
    JET = "jet"
    GRAY = "gray"


@dataclass
class MsFusionParams:
    short_side: int = param(
        256,
        "Network input size",
        "the image's short side is resized to this many pixels (then both sides to multiples of 32) before "
        "the network; the authors trained at 256",
        min=64,
        max=1024,
    )
    rendering: SignalRendering = param(
        SignalRendering.JET,
        "Signal rendering",
        "how the signal maps become the 3-channel pictures the network reads: 'jet' colour map (what the "
        "authors' signal files appear to be) or grey",
    )


# -- inputs ----------------------------------------------------------------------------------
def network_shape(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(h, w) multiples of 32 with the short side ≈ `short_side` (long side ≤ MAX_LONG_SIDE)."""
    scale = min(short_side / min(height, width), MAX_LONG_SIDE / max(height, width))
    h, w = (max(STRIDE, round(side * scale / STRIDE) * STRIDE) for side in (height, width))
    return h, w


def network_input(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 H×W×3 → float32 3×h×w, bilinear resize (albumentations' default) and ImageNet normalisation."""
    h, w = shape
    small = cv2.resize(np.ascontiguousarray(rgb), (w, h), interpolation=cv2.INTER_LINEAR)
    return ((small.astype(np.float32) / 255.0 - RGB_MEAN) / RGB_STD).transpose(2, 0, 1).copy()


def jet(values: np.ndarray) -> np.ndarray:
    """MATLAB-style jet colour map of values in [0, 1] → uint8 RGB (…×3)."""
    v = np.clip(values, 0.0, 1.0)[..., None] * 4.0
    centres = np.array([3.0, 2.0, 1.0], np.float32)  # red, green, blue peak at 3/4, 1/2, 1/4
    return np.round(np.clip(1.5 - np.abs(v - centres), 0.0, 1.0) * 255.0).astype(np.uint8)


def render_signal(signal: np.ndarray, rendering: SignalRendering) -> np.ndarray:
    """A signal map as the 8-bit RGB picture the network was trained on (min–max scaled first)."""
    scaled = normalize(signal)
    if rendering is SignalRendering.JET:
        return jet(scaled)
    grey = np.round(scaled * 255.0).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def _gaussian(sigma: float, taps: int = 51) -> np.ndarray:
    """MATLAB's fspecial('gaussian', [1 taps], sigma)."""
    x = np.arange(taps) - taps // 2
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    g[g < np.finfo(np.float64).eps * g.max()] = 0.0
    return g / g.sum()


def _count_local_minima(y: np.ndarray) -> int:
    inner = np.count_nonzero((y[1:-1] < y[:-2]) & (y[1:-1] < y[2:]))
    return int(inner) + int(y[0] < y[1]) + int(y[-1] < y[-2])


def histogram_period(hist: np.ndarray) -> int:
    """The toolbox's estimate of a coefficient's quantisation step from its histogram: the number
    of peaks in the spectrum of the histogram once the DC lobe is cut away (0 when none)."""
    power = np.abs(np.fft.fft(hist) - 1.0)
    smooth = np.convolve(power, _gaussian(3.0), "same")
    valley = 1
    while valley < len(smooth) and smooth[valley - 1] <= smooth[valley]:
        valley += 1
    valley += 1
    while valley < len(smooth) - 1 and smooth[valley - 1] >= smooth[valley]:
        valley += 1
    if valley * 2 >= len(power) * 0.8:
        return 0
    curvature = np.diff(power[valley - 1 : -valley], 2)
    if curvature.size < 3:
        return 0
    dips = np.convolve(curvature, _gaussian(5.0), "same")
    dips[dips > dips.min() / 5.0] = 0.0
    return _count_local_minima(dips)


def dct_artifact_map(luma: np.ndarray) -> np.ndarray:
    """Per 8×8 block: how far its DCT coefficients lie from the image-wide quantisation grid
    (Ye, Sun, Chang 2007, as in the toolbox's DCT). Coefficients are re-estimated from the decoded
    luma (rounded to integers) rather than read from the file."""
    coeffs = np.round(block_dct(luma))
    steps = np.zeros((8, 8))
    for r, c in zigzag(DCT_COEFFICIENTS)[1:]:
        values = coeffs[:, :, r, c].ravel().astype(np.int64)
        values = values[np.abs(values) <= HIST_HALF] + HIST_HALF
        steps[r, c] = histogram_period(np.bincount(values, minlength=2 * HIST_HALF + 1).astype(np.float64))
    used = steps > 0
    if not used.any():
        return np.zeros(coeffs.shape[:2], np.float32)
    c, q = coeffs[:, :, used], steps[used]
    return np.abs(c - np.round(c / q) * q).sum(axis=-1).astype(np.float32)


def splicebuster_signal(media: Media, ctx: RunContext) -> np.ndarray:
    """The project's Splicebuster map at image size (default parameters: 128-pixel windows, stride 8,
    those of the published code the authors ran)."""
    from plugins.localization.splicebuster import SplicebusterAnalyzer

    analyzer = SplicebusterAnalyzer()
    return analyzer.run(media, analyzer.params_from({}), ctx).map


def signal_map(name: str, media: Media, ctx: RunContext) -> np.ndarray:
    """One handcrafted signal, at its own resolution (DCT: one value per 8×8 block)."""
    if name == "dct":
        return dct_artifact_map(decoded_luma(media))
    return splicebuster_signal(media, ctx)


# -- network ---------------------------------------------------------------------------------
def build_network(variant: str) -> Any:
    from plugins.localization import msfusion_net  # imports torch

    return msfusion_net.build(variant)


def load_network(variant: str, device: str) -> Any:
    """The verified released network on `device`. ModelUnavailable when the file is not installed
    or PyTorch is missing (the store loads the weights before anything imports torch here)."""
    from workbench.api import ModelStore, loaded_model

    return loaded_model(ModelStore(), f"msfusion_{variant}", lambda: build_network(variant), device)


def predict(net: Any, inputs: list[np.ndarray], device: str) -> np.ndarray:
    """One forward pass → the network's probability map (h×w float32)."""
    import torch

    with torch.inference_mode():
        tensors = [torch.from_numpy(x)[None].to(device) for x in inputs]
        return net(*tensors)[0].float().cpu().numpy()


class MsFusionAnalyzer(Analyzer):
    """Shared run of the three released variants; subclasses name the variant."""

    variant: ClassVar[str]
    version = "1.0"
    Params = MsFusionParams
    card_file = Path(__file__).with_name("msfusion.md")

    def run(self, media: Media, params: MsFusionParams, ctx: RunContext) -> Heatmap:
        rgb = media.pixels()
        h, w = rgb.shape[:2]
        if min(h, w) < MIN_SIDE:
            raise ValueError(f"image too small for the multi-stream network: {w}×{h} pixels, needs {MIN_SIDE}")
        ctx.progress(0.05, "loading the network")
        net = load_network(self.variant, ctx.device)
        shape = network_shape(h, w, params.short_side)
        inputs = [network_input(rgb, shape)]
        stack: dict[str, np.ndarray] = {}
        for name in STREAM_SIGNALS[self.variant]:
            ctx.check_cancelled()
            ctx.progress(0.15, f"computing the {SIGNAL_TITLES[name]} signal")
            signal = signal_map(name, media, ctx)
            inputs.append(network_input(render_signal(signal, params.rendering), shape))
            full = expand_blocks(signal, 8, (h, w)) if name == "dct" else signal
            stack[f"{SIGNAL_TITLES[name]} (network input)"] = normalize(full)
        ctx.check_cancelled()
        ctx.progress(0.7, f"running the network at {shape[1]}×{shape[0]}")
        prob = predict(net, inputs, ctx.device)
        heat = np.clip(resize_map(prob, (h, w)), 0.0, 1.0)
        ctx.progress(1.0, "done")
        return Heatmap(
            analyzer=self.id,
            score=float(prob.max()),
            score_meaning=SCORE_MEANING,
            map=heat,
            mask=heat >= THRESHOLD,
            stack=stack,
            legend_low="network: authentic",
            legend_high="network: spliced",
            stats={
                "max_output": round(float(prob.max()), 4),
                "mean_output": round(float(prob.mean()), 4),
                "area_above_0.5": round(float((prob >= THRESHOLD).mean()), 4),
                "network_width": float(shape[1]),
                "network_height": float(shape[0]),
            },
        )


class MsFusionDctAnalyzer(MsFusionAnalyzer):
    id = "msfusion_dct"
    title = "Multi-stream fusion network (RGB + DCT)"
    variant = "dct"
    models = ("msfusion_dct",)


class MsFusionSbAnalyzer(MsFusionAnalyzer):
    id = "msfusion_sb"
    title = "Multi-stream fusion network (RGB + Splicebuster)"
    variant = "sb"
    models = ("msfusion_sb",)


class MsFusionDctSbAnalyzer(MsFusionAnalyzer):
    id = "msfusion_dct_sb"
    title = "Multi-stream fusion network (RGB + DCT + Splicebuster)"
    variant = "dct_sb"
    models = ("msfusion_dct_sb",)
