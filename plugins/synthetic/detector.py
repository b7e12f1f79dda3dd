"""AI-generated image detection by the installed learned detectors, each casting a vote.

Every model-store manifest with "family": "synthetic" is a member: the published detectors (their
manifests ship in `models/`, the user installs the weights) and any model trained on this machine
with `workbench.training`. Each installed member sees the image prepared as its manifest's "input"
says and answers P(AI-generated); the verdict is the mean of the answers, never calibrated. With no
member installed the result is 'unavailable' and names what to install: never a score.

torch is imported inside functions only, so the application runs without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from plugins.deepfake.members import any_member_installed, family_manifests
from workbench.api import (
    TEST_MODEL_LABEL,
    Analyzer,
    Manifest,
    Media,
    ModelState,
    ModelStore,
    ModelUnavailable,
    RunContext,
    Verdict,
    loaded_model,
    param,
)

FAMILY = "synthetic"
PUBLISHED_MEMBERS = ("synthetic_cnndetection_blur_jpg_prob0.5", "synthetic_cnndetection_blur_jpg_prob0.1")
"""The published detectors whose manifests ship with the workbench (weights installed by the user)."""
FITS = ("full", "center_crop", "resize")
MIN_SIDE = 32
SCORE_MEANING = (
    "mean of the installed detectors' P(AI-generated) in [0, 1]; each is its network's own sigmoid/softmax "
    "output, not calibrated on your material: a ranking signal, not a probability you can quote"
)


@dataclass
class DetectorParams:
    max_side: int = param(
        1024, "Largest side for full-image detectors",
        "detectors that read the whole image see at most this many pixels per side: larger images are "
        "centre-cropped, not resized, since resizing erases the traces they look for", min=64, max=4096,
    )
    threshold: float = param(
        0.5, "Decision threshold", "mean P(AI-generated) at or above which the label says so", min=0.0, max=1.0,
    )


def network_input(rgb: np.ndarray, spec: dict[str, Any], max_side: int) -> np.ndarray:
    """RGB uint8 → normalised float32 1×3×H×W as a manifest's "input" prescribes.

    "fit": "full" keeps the pixels as they are (centre crop to `max_side` when larger),
    "center_crop" takes the central `size` (reflect-padded when smaller), "resize" resizes to `size`.
    """
    fit = spec.get("fit", "resize")
    height, width = (int(v) for v in spec.get("size", (224, 224)))
    if fit not in FITS:
        raise ValueError(f"unknown input fit {fit!r}; known: {', '.join(FITS)}")
    if fit == "resize":
        shrink = rgb.shape[0] > height or rgb.shape[1] > width
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    else:
        target = (min(rgb.shape[0], max_side), min(rgb.shape[1], max_side)) if fit == "full" else (height, width)
        rgb = center_crop(rgb, target)
    mean = np.asarray(spec.get("mean", (0.485, 0.456, 0.406)), np.float32)
    std = np.asarray(spec.get("std", (0.229, 0.224, 0.225)), np.float32)
    x = (rgb.astype(np.float32) / 255.0 - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def center_crop(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The central `size` = (h, w) of the image, reflect-padded where the image is smaller."""
    h, w = size
    pad_y, pad_x = max(0, h - rgb.shape[0]), max(0, w - rgb.shape[1])
    if pad_y or pad_x:
        rgb = cv2.copyMakeBorder(rgb, pad_y // 2, pad_y - pad_y // 2, pad_x // 2, pad_x - pad_x // 2,
                                 cv2.BORDER_REFLECT_101)
    y0, x0 = (rgb.shape[0] - h) // 2, (rgb.shape[1] - w) // 2
    return np.ascontiguousarray(rgb[y0 : y0 + h, x0 : x0 + w])


def member_probability(store: ModelStore, manifest: Manifest, rgb: np.ndarray, max_side: int, device: str) -> float:
    """One member's P(AI-generated) for the image. Raises ModelUnavailable."""
    import torch

    from plugins.deepfake.nets import fake_probability
    from plugins.synthetic.nets import build

    network = manifest.extra.get("network") or {}
    try:
        x = torch.from_numpy(network_input(rgb, manifest.extra.get("input") or {}, max_side)).to(device)
        net = loaded_model(store, manifest.id, lambda: build(network), device)
        with torch.inference_mode():
            return float(fake_probability(net(x), manifest.extra.get("output", "logit"))[0])
    except ValueError as exc:  # a manifest that names an unknown architecture, fit or output
        raise ModelUnavailable(f"model '{manifest.id}': {exc}") from exc


def vote(store: ModelStore, manifest: Manifest, rgb: np.ndarray, max_side: int, device: str) -> dict[str, Any]:
    """{"model", "title", "probability" (None if it could not answer), "status", "note", "test_model"}."""
    test_model = manifest.is_test_model
    entry: dict[str, Any] = {"model": manifest.id, "title": manifest.title, "test_model": test_model}
    status = store.status(manifest.id)
    if not status.installed:
        return {**entry, "probability": None, "status": status.state.value, "note": status.reason}
    try:
        probability = member_probability(store, manifest, rgb, max_side, device)
    except ModelUnavailable as exc:
        return {**entry, "probability": None, "status": "unavailable", "note": str(exc)}
    note = TEST_MODEL_LABEL if test_model else manifest.calibration or "uncalibrated"
    return {**entry, "probability": round(probability, 4), "status": "ok", "note": note}


class SyntheticDetectorAnalyzer(Analyzer):
    id = "synthetic.detector"
    title = "AI-generated image detectors"
    version = "1.0"
    Params = DetectorParams
    optional_models: ClassVar[tuple[str, ...]] = PUBLISHED_MEMBERS
    learned = True
    card_file = Path(__file__).with_name("detector.md")

    def members_ready(self, store: ModelStore) -> bool:
        return any_member_installed(store, FAMILY)

    def run(self, media: Media, params: DetectorParams, ctx: RunContext) -> Verdict:
        store = ModelStore()
        candidates = family_manifests(store, FAMILY)
        rgb = media.pixels()
        if min(rgb.shape[:2]) < MIN_SIDE:
            raise ValueError(f"image too small for the detectors: {rgb.shape[1]}×{rgb.shape[0]} pixels, "
                             f"needs at least {MIN_SIDE}×{MIN_SIDE}")
        votes = []
        for index, manifest in enumerate(candidates):
            ctx.check_cancelled()
            ctx.progress(index / max(len(candidates), 1), manifest.title)
            votes.append(vote(store, manifest, rgb, params.max_side, ctx.device))
        answered = [v for v in votes if v["probability"] is not None]
        if not answered:
            raise ModelUnavailable(_none_answered(votes, store))
        probability = float(np.mean([v["probability"] for v in answered]))
        tested = [v["model"] for v in answered if v["test_model"]]
        label = "AI-generated" if probability >= params.threshold else "not flagged as AI-generated"
        if tested:
            label = f"{TEST_MODEL_LABEL}: {label}"
        ctx.progress(1.0, "done")
        return Verdict(
            analyzer=self.id,
            score=round(probability, 4),
            score_meaning=SCORE_MEANING,
            probability=round(probability, 4),
            label=label,
            calibrated=False,
            explanation=_explanation(answered, len(votes), tested, params.threshold),
            votes=votes,
            aggregation="mean of the answering members' P(AI-generated), equal weights",
            models_used=[v["model"] for v in answered],
        )


def _none_answered(votes: list[dict[str, Any]], store: ModelStore) -> str:
    """Why no detector answered: a file present but refused (damaged, another release, not loadable)
    is named as such first; "none is installed" is said only when none is."""
    if not votes:
        return f"no AI-generated image detector is installed: no '{FAMILY}' model manifest in {store.bundled_dir}"
    refused = [v for v in votes if v["status"] != ModelState.MISSING.value]
    missing = [v for v in votes if v["status"] == ModelState.MISSING.value]
    if not refused:
        return "no AI-generated image detector is installed: " + "; ".join(v["note"] for v in missing)
    text = (f"no AI-generated image detector could be used: {len(refused)} present but refused: "
            + "; ".join(v["note"] for v in refused))
    if missing:
        text += f". Not installed: {'; '.join(v['note'] for v in missing)}"
    return text


def _explanation(answered: list[dict[str, Any]], total: int, tested: list[str], threshold: float) -> str:
    parts = [
        f"{len(answered)} of {total} detector(s) answered; the verdict is their mean P(AI-generated), "
        f"read against a threshold of {threshold:g}. The numbers are uncalibrated network outputs: "
        "they rank images, they are not error rates."
    ]
    if tested:
        parts.append(
            f"{', '.join(tested)}: {TEST_MODEL_LABEL} (trained by the workbench's pipeline on a tiny or generated "
            "set; it shows the pipeline works, its answers mean nothing about real evidence)."
        )
    return " ".join(parts)
