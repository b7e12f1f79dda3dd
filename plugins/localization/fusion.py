"""Learned fusion of the classical localisation signals (OMG-Fuser-style, trained by the project).

The analyzer runs the signal analyzers it was trained on (with the versions and parameters the
model's manifest records), shrinks their maps and the image to the working resolution, and lets
`FusionNet` (or an ensemble of them) fuse whichever signals came out into one map and one
image-level score. The same `signal_inputs` builds the training inputs (training/train_fusion.py),
so both see identical maps.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from plugins.localization.common import model_store, resize_map
from workbench.api import Analyzer, Heatmap, Media, ModelUnavailable, RunContext, get_analyzer, param, run_analyzer

MODEL_ID = "fusion_default"
SCORE_MEANING = (
    "mean sigmoid of the networks' image-level heads in [0, 1]: a score learned on generated manipulations of 22 "
    "photos, not a probability; read its rank among unedited photos the networks were not trained on"
)


@dataclass(frozen=True)
class SignalSpec:
    """One input signal as the model was trained on it: analyzer id, version and parameters, and
    which of its maps: the heat map, or a `layer` of its stack (the noise level beside the noise
    deviation map: one run gives both, and the level keeps the direction the deviation drops)."""

    id: str
    version: str
    params: dict[str, Any]
    layer: str | None = None

    @staticmethod
    def from_dict(doc: dict[str, Any]) -> SignalSpec:
        return SignalSpec(doc["id"], str(doc["version"]), dict(doc.get("params", {})), doc.get("layer"))

    def to_dict(self) -> dict[str, Any]:
        doc = {"id": self.id, "version": self.version, "params": self.params}
        return doc if self.layer is None else {**doc, "layer": self.layer}

    @property
    def label(self) -> str:
        """How messages, statistics and the stack name this input: the id, with the layer if any."""
        return self.id if self.layer is None else f"{self.id} ({self.layer})"


@dataclass
class FusionParams:
    signals: str = param(
        "all", "Signals",
        "comma-separated signal ids to fuse (a subset of those the model was trained on), or 'all'",
    )
    working_size: int = param(
        512, "Working resolution", "long side (pixels) the image and the signals are shrunk to", min=128, max=2048
    )


def working_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) with the long side shrunk to `size`; smaller images keep their size."""
    scale = min(1.0, size / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def shrink(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Area-average resize to (h, w) (keeps block averages of blocky maps), float32."""
    h, w = shape
    if values.shape[:2] == (h, w):
        return values.astype(np.float32)
    return cv2.resize(values.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)


def find_analyzer(analyzer_id: str) -> Analyzer | None:
    try:
        return get_analyzer(analyzer_id)
    except KeyError:
        return None


def signal_inputs(
    media: Media, specs: list[SignalSpec], shape: tuple[int, int], ctx: RunContext,
    span: tuple[float, float] = (0.0, 1.0), lookup: Callable[[str], Analyzer | None] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Run each signal analyzer once and shrink the maps the specs name to `shape`.

    Returns maps K×h×w float32 in [0, 1], present K bool, and for each absent input (by its label)
    the reason (not installed, another version than the model was trained with, a JPEG-only method
    on a PNG, or the analyzer's error). An analyzer of another version that still computes the
    trained version's map (`Analyzer.earlier_maps`) gives that stack layer instead of its map.
    """
    maps = np.zeros((len(specs), *shape), np.float32)
    present = np.zeros(len(specs), bool)
    absent: dict[str, str] = {}
    runs: dict[str, tuple[Analyzer, dict[str, Any], list[tuple[int, str | None]]]] = {}
    for i, spec in enumerate(specs):
        analyzer = (lookup or find_analyzer)(spec.id)
        if analyzer is None:
            absent[spec.label] = "analyzer not installed"
            continue
        same = analyzer.version == spec.version
        layer = spec.layer if same else analyzer.earlier_maps.get(spec.version)
        if not same and (layer is None or spec.layer is not None):
            absent[spec.label] = f"version {analyzer.version}, the model was trained on {spec.version}"
            continue
        if analyzer.formats and media.format not in analyzer.formats:  # said as the presets say it
            absent[spec.label] = f"reads {' or '.join(sorted(analyzer.formats))} files only"
            continue
        key = json.dumps([spec.id, spec.params], sort_keys=True)
        runs.setdefault(key, (analyzer, spec.params, []))[2].append((i, layer))
    lo, hi = span
    step = (hi - lo) / max(1, len(runs))
    for n, (analyzer, params, wanted) in enumerate(runs.values()):
        reasons = shrunk_signals(analyzer, media, params, wanted, maps,
                                 ctx.sub(lo + n * step, lo + (n + 1) * step, analyzer.id))
        ctx.check_cancelled()
        for i, _ in wanted:
            if i in reasons:
                absent[specs[i].label] = reasons[i]
            else:
                present[i] = True
    return maps, present, absent


def shrunk_signals(analyzer: Analyzer, media: Media, params: dict[str, Any], wanted: list[tuple[int, str | None]],
                   maps: np.ndarray, ctx: RunContext) -> dict[int, str]:
    """Run one signal analyzer once and shrink into `maps[i]`, for each (i, layer) wanted, its map
    (layer None) or that stack layer (another map it gives, or an earlier version's map a model was
    trained on); why an input got none, by index.

    A function of its own so the full-size result goes when it returns, before the next signal runs
    (400 MB per map at 100 MP)."""
    result = run_analyzer(analyzer, media, analyzer.params_from(params), ctx)
    if not result.ok:
        return {i: result.message or result.status.value for i, _ in wanted}
    reasons: dict[int, str] = {}
    for i, layer in wanted:
        heat = getattr(result, "map", None) if layer is None else getattr(result, "stack", {}).get(layer)
        if heat is None:
            reasons[i] = f"its result has no layer {layer!r}"
        else:
            maps[i] = np.clip(np.nan_to_num(shrink(heat, maps.shape[1:])), 0.0, 1.0)
    return reasons


def rgb_input(media: Media, shape: tuple[int, int]) -> np.ndarray:
    """The image at the working resolution as float32 3×h×w in [0, 1]."""
    rgb = media.pixels()
    if rgb.shape[:2] != shape:
        rgb = cv2.resize(rgb, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return rgb.transpose(2, 0, 1).astype(np.float32) / 255.0


def network_inputs(net: Any, rgb: np.ndarray, maps: np.ndarray, present: np.ndarray, device: str) -> tuple[Any, ...]:
    """(RGB, maps, presence, map statistics or None, (h, w)) as the network takes them: the images
    padded to its stride, the statistics taken before the padding."""
    import torch

    from plugins.localization.fusion_net import pad_to_stride, signal_stats

    x = torch.from_numpy(np.concatenate([rgb, maps])[None]).to(device)
    mask = torch.from_numpy(present[None]).to(device)
    stats = signal_stats(x[:, 3:], mask) if net.config.image_stats else None
    x, size = pad_to_stride(x)
    return x[:, :3], x[:, 3:], mask, stats, size


MIRRORS: tuple[tuple[int, ...], ...] = ((), (2,), (1,), (1, 2))
"""The views `predict` averages: as is, mirrored left–right, upside down, both (axes of C×h×w). The
network is not mirror-invariant, and the mean of its four readings is a steadier map (condition bench,
pooled pixel AUC 0.903 → 0.906; platform chain 0.795 → 0.802) for four passes of a network that
costs little beside the signals."""


def predict(net: Any, rgb: np.ndarray, maps: np.ndarray, present: np.ndarray, device: str) -> tuple[np.ndarray, float]:
    """Working-resolution inputs → (sigmoid map h×w, image-level sigmoid score), each the mean over
    the model's networks (`fusion_net.members`) and the MIRRORS views of the inputs (each map
    mirrored back first): mirrored evidence gets the mirrored map and the same score. Each view's
    inputs are built once for all the networks (they share one config)."""
    import torch

    from plugins.localization.fusion_net import members

    heats, scores = [], []
    with torch.inference_mode():
        for axes in MIRRORS:
            inputs = network_inputs(net, np.flip(rgb, axes), np.flip(maps, axes), present, device)
            for member in members(net):
                heat, score = forward(member, inputs)
                heats.append(np.flip(heat, tuple(a - 1 for a in axes)))
                scores.append(score)
    return np.mean(heats, axis=0).astype(np.float32), float(np.mean(scores))


def predict_once(
    net: Any, rgb: np.ndarray, maps: np.ndarray, present: np.ndarray, device: str
) -> tuple[np.ndarray, float]:
    """One forward pass on working-resolution inputs → (sigmoid map h×w, image-level sigmoid score)."""
    import torch

    with torch.inference_mode():
        return forward(net, network_inputs(net, rgb, maps, present, device))


def forward(net: Any, inputs: tuple[Any, ...]) -> tuple[np.ndarray, float]:
    """`network_inputs`' tuple through one network (under torch.inference_mode) → (sigmoid map h×w,
    image-level sigmoid score)."""
    import torch

    *tensors, (h, w) = inputs  # network_inputs' concatenate copied any mirrored view
    logits, image_logit = net(*tensors)
    heat = torch.sigmoid(logits[0, 0, :h, :w]).cpu().numpy()
    return heat.astype(np.float32), float(torch.sigmoid(image_logit[0]))


@dataclass(frozen=True)
class LoadedModel:
    net: Any
    signals: tuple[SignalSpec, ...]


def load_model(device: str) -> LoadedModel:
    """The verified network and the signals it was trained on; ModelUnavailable otherwise."""
    from plugins.localization.fusion_net import FusionConfig, build
    from workbench.api import loaded_model

    store = model_store()
    extra = store.manifest(MODEL_ID).extra
    try:
        config = FusionConfig(**extra["network"])
        signals = tuple(SignalSpec.from_dict(s) for s in extra["signals"])
    except (KeyError, TypeError) as exc:
        raise ModelUnavailable(f"model '{MODEL_ID}': the manifest lacks the network or its signals ({exc})") from exc
    if config.num_signals != len(signals):
        raise ModelUnavailable(f"model '{MODEL_ID}': {len(signals)} signals listed for {config.num_signals} inputs")
    if config.members < 1:
        raise ModelUnavailable(f"model '{MODEL_ID}': the manifest lists {config.members} networks")
    net = loaded_model(store, MODEL_ID, lambda: build(config), device)
    return LoadedModel(net, signals)


def select(signals: tuple[SignalSpec, ...], choice: str) -> list[bool]:
    """Which trained signals the `signals` parameter keeps; unknown ids are an error."""
    if choice.strip().lower() in ("", "all"):
        return [True] * len(signals)
    wanted = {s.strip() for s in choice.split(",") if s.strip()}
    unknown = wanted - {s.id for s in signals}
    if unknown:
        trained = ", ".join(dict.fromkeys(s.id for s in signals))
        raise ValueError(f"fusion: unknown signal(s) {', '.join(sorted(unknown))}; trained on {trained}")
    return [s.id in wanted for s in signals]


class FusionAnalyzer(Analyzer):
    id = "fusion"
    title = "Fusion localiser (learned, OMG-Fuser-style)"
    version = "3.3"
    Params = FusionParams
    models = (MODEL_ID,)
    card_file = Path(__file__).with_name("fusion.md")

    def run(self, media: Media, params: FusionParams, ctx: RunContext) -> Heatmap:
        ctx.progress(0.02, "loading the fusion model")
        model = load_model(ctx.device)
        keep = select(model.signals, params.signals)
        specs = [s for s, k in zip(model.signals, keep, strict=True) if k]
        shape = working_shape(media.height, media.width, params.working_size)
        chosen, present_chosen, absent = signal_inputs(media, specs, shape, ctx, span=(0.05, 0.9))
        maps = np.zeros((len(model.signals), *shape), np.float32)
        present = np.zeros(len(model.signals), bool)
        index = [i for i, k in enumerate(keep) if k]
        maps[index], present[index] = chosen, present_chosen
        ctx.progress(0.92, f"fusing {int(present.sum())} signal(s)")
        heat, image_score = predict(model.net, rgb_input(media, shape), maps, present, ctx.device)
        ctx.check_cancelled()
        full = np.clip(resize_map(heat, (media.height, media.width)), 0.0, 1.0)
        ctx.progress(1.0, "done")
        used = [s.label for s, p in zip(model.signals, present, strict=True) if p]
        notes = "; ".join(f"{k}: {v}" for k, v in absent.items())
        return Heatmap(
            analyzer=self.id,
            message=f"fused {', '.join(used) or 'no signal (image only)'}" + (f"; absent: {notes}" if notes else ""),
            score=round(image_score, 4),
            score_meaning=SCORE_MEANING,
            map=full,
            mask=full >= 0.5,
            stack={  # at the working resolution the network saw (the viewer stretches them): thirteen
                # full-size copies of a 100-MP image would take 5 GB
                f"input: {s.label}": m for s, m, p in zip(model.signals, maps, present, strict=True) if p
            },
            legend_low="looks authentic to the network",
            legend_high="looks manipulated to the network",
            stats={
                "signals_present": float(present.sum()),
                **{f"present.{s.label}": float(p) for s, p in zip(model.signals, present, strict=True)},
                "working_height": float(shape[0]),
                "working_width": float(shape[1]),
                "masked_fraction": round(float((full >= 0.5).mean()), 4),
            },
        )
