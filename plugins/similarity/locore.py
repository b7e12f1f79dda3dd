"""LOCORE re-ranking of a similarity-search shortlist (Xiao et al., CVPR 2025), with the authors'
released `locore_base.safetensors` reading DINOv2 ViT-B/14-reg tokens through the AMES detector.

Where AMES compares the query with one candidate at a time, LOCORE reads the query and up to 100
candidates in one sequence, so every candidate is judged in the context of the others. A longer
shortlist is covered the authors' way: windows of 100 images, 50 apart, from the end of the list to
its start; each pass re-sorts its window by the blend
score = alpha · global + (1 − alpha) · sigmoid(temp · logit) and the next window, overlapping
by half, sees the new order, so strong candidates climb from deep in the list towards the top.

`extract` turns an image into what LOCORE reads (stored with the image): the 48 strongest detector
descriptors of the image brought to a 770-px long side, and its global token (the detector-weighted
mean of all its descriptors). Any of the three files missing raises `ModelUnavailable` with the
store's reason (where to get it), never a score.

torch is imported inside functions only, so the application runs without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from plugins.similarity.ames import BACKBONE_ID, DETECTOR_ID, descriptor_networks, manifest_section
from plugins.similarity.features import LocalFeatures
from workbench.api import ModelStore, ModelUnavailable, loaded_model

KIND = "dinov2_locore"
LOCORE_ID = "locore_base"
MODEL_IDS = (LOCORE_ID, BACKBONE_ID, DETECTOR_ID)

ALPHA = 0.5
TEMP = 0.1
"""The authors' README values for their final (sliding-window) run."""
WINDOW = 100
STRIDE = 50
"""Images per forward pass and the step between windows (the authors' `topk` and `sliding_stride`)."""
IMSIZE = 770
NUM_DESCRIPTORS = 48
"""Long side every image is brought to before DINOv2, and local descriptors read per image."""

SCORE_MEANING = (
    "LOCORE blended score in [0, 1]: alpha × global similarity (clipped to [0, 1]) + (1 − alpha) × "
    "sigmoid(temp × LOCORE logit), with the authors' alpha 0.5 and temp 0.1, from the last window of "
    "100 images that held the hit. The list is in LOCORE's order (windows of 100, 50 apart, from the "
    "end of the shortlist to its start), which a score from an earlier window need not follow exactly. "
    "Higher means the learned model, reading the query beside the other candidates, finds more local "
    "evidence of the same object or place; an ordering, not a calibrated probability"
)


@dataclass(frozen=True)
class LocoreFeatures(LocalFeatures):
    """An image's strongest local descriptors (float32, as the authors store them) and its global
    token, stored together under one kind."""

    global_desc: np.ndarray

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {**super().to_arrays(prefix), f"{prefix}.global": self.global_desc.astype(np.float32)}

    @staticmethod
    def stored(arrays: dict[str, np.ndarray], prefix: str = KIND) -> LocoreFeatures | None:
        """The features as `to_arrays` wrote them, or None when the image has none."""
        if f"{prefix}.global" not in arrays:
            return None
        local = LocalFeatures.from_arrays(KIND, arrays, prefix)
        return LocoreFeatures(local.kind, local.xy, local.scale, local.weight, local.desc, local.image_size,
                              np.asarray(arrays[f"{prefix}.global"], np.float32))


# -- the sliding-window protocol -------------------------------------------------------------
def window_starts(n: int, window: int = WINDOW, stride: int = STRIDE) -> list[int]:
    """First shortlist rank of each pass, end to start: 400 images → 300, 250, …, 50, 0 (the
    authors'). A list whose length is not on the stride's grid still ends with the window at 0."""
    if n <= 0:
        return []
    starts = list(range(max(n - window, 0), -1, -stride))
    return starts if starts[-1] == 0 else [*starts, 0]


def blend(logits: np.ndarray, global_sims: np.ndarray, alpha: float = ALPHA, temp: float = TEMP) -> np.ndarray:
    """The authors' blend; global similarities are clipped to [0, 1] so the result stays there."""
    local = 1.0 / (1.0 + np.exp(-temp * np.asarray(logits, np.float64)))
    return alpha * np.clip(np.asarray(global_sims, np.float64), 0.0, 1.0) + (1.0 - alpha) * local


def sliding_rerank(
    global_sims: np.ndarray,
    logits_of: Callable[[list[int]], np.ndarray],
    window: int = WINDOW,
    stride: int = STRIDE,
    alpha: float = ALPHA,
    temp: float = TEMP,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[int], np.ndarray]:
    """The final order of a shortlist (its positions, best first) and each position's blended score.

    `logits_of(members)` scores the shortlist positions `members` (in the window's current order)
    in one forward pass. Each pass re-sorts only its window, by the blend of this pass's logits with
    each image's own global similarity; nothing is averaged over windows, so an image's place is the
    one the last window holding it gave it, and its score is that window's.
    """
    sims = np.asarray(global_sims, np.float64).reshape(-1)
    order = list(range(len(sims)))
    scores = np.zeros(len(sims))
    starts = window_starts(len(sims), window, stride)
    for n, start in enumerate(starts):
        members = order[start : start + window]
        s = blend(logits_of(members), sims[members], alpha, temp)
        order[start : start + window] = [members[i] for i in np.argsort(-s, kind="stable")]
        scores[members] = s
        if progress is not None:
            progress(n + 1, len(starts))
    return order, scores


# -- the re-ranker ---------------------------------------------------------------------------
class LocoreReranker:
    """Extraction and re-ranking with the three installed networks (verified and cached by the store).

    `alpha`, `temp`, `window`, `stride`, `imsize` and `num_descriptors` default to the manifests'
    values (the authors' settings).
    """

    def __init__(
        self,
        store: ModelStore | None = None,
        *,
        alpha: float | None = None,
        temp: float | None = None,
        window: int | None = None,
        stride: int | None = None,
        imsize: int | None = None,
        num_descriptors: int | None = None,
    ) -> None:
        self.store = store if store is not None else ModelStore()
        evaluation = manifest_section(self.store, LOCORE_ID, "evaluation")
        extraction = manifest_section(self.store, LOCORE_ID, "extraction")
        self.alpha = float(alpha if alpha is not None else evaluation.get("alpha", ALPHA))
        self.temp = float(temp if temp is not None else evaluation.get("temp", TEMP))
        self.window = int(window or evaluation.get("window", WINDOW))
        self.stride = int(stride or evaluation.get("stride", STRIDE))
        self.imsize = int(imsize or extraction.get("imsize", IMSIZE))
        self.num_descriptors = int(num_descriptors or extraction.get("num_descriptors", NUM_DESCRIPTORS))
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if not 0 < self.stride <= self.window:
            raise ValueError(f"the stride ({self.stride}) must be between 1 and the window ({self.window})")

    # -- availability ----------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        """Why the re-ranker cannot run (every missing or damaged file's reason), or None."""
        return self.store.unavailable_reason(MODEL_IDS)

    def require(self) -> None:
        """ModelUnavailable unless all three files are installed: descriptors are only worth
        extracting and storing when the network that reads them is there too."""
        reason = self.unavailable_reason()
        if reason:
            raise ModelUnavailable(f"LOCORE re-ranking needs three files: {reason}")

    def _network(self, device: str) -> Any:
        from plugins.similarity import locore_net
        from plugins.similarity.longformer import LongformerConfig

        cfg = LongformerConfig(**manifest_section(self.store, LOCORE_ID, "network"))
        return loaded_model(self.store, LOCORE_ID, lambda: locore_net.build(cfg), device)

    # -- extraction ------------------------------------------------------------------------
    def extract(self, rgb: np.ndarray, device: str = "cpu") -> LocoreFeatures:
        """What LOCORE reads of an image (kind "dinov2_locore"): the image scaled to a long side of
        `imsize` (enlarged too), its `num_descriptors` strongest tokens (strongest first, float32)
        and its global token."""
        self.require()
        import torch

        from plugins.similarity import dinov2

        backbone, detector = descriptor_networks(self.store, device)
        size = dinov2.network_size(rgb.shape[0], rgb.shape[1], self.imsize, enlarge=True)
        desc, weight = dinov2.detector_tokens(backbone, detector, rgb, size, device)
        local = dinov2.strongest(KIND, desc, weight, self.num_descriptors, (rgb.shape[0], rgb.shape[1]), size,
                                 np.float32)
        with torch.inference_mode():
            glob = torch.nn.functional.normalize((weight[:, None] * desc).mean(0), dim=0)
        return LocoreFeatures(local.kind, local.xy, local.scale, local.weight, local.desc, local.image_size,
                              glob.float().cpu().numpy())

    # -- scoring ---------------------------------------------------------------------------
    def logits(self, query: LocoreFeatures, candidates: list[LocoreFeatures], device: str = "cpu") -> np.ndarray:
        """LOCORE's raw logit per candidate from one sequence (query block + one block per candidate)."""
        self.require()
        import torch

        net = self._network(device)
        for name, feats in [("query", query), *((f"candidate {i}", c) for i, c in enumerate(candidates))]:
            if feats.kind != KIND or not isinstance(feats, LocoreFeatures):
                raise ValueError(f"{name} holds '{feats.kind}' features; LOCORE reads '{KIND}' features")
            if feats.global_desc.shape != (net.cfg.hidden_size,):
                raise ValueError(f"{name} has a {feats.global_desc.shape} global token; the network reads "
                                 f"{net.cfg.hidden_size}-d tokens")
        with torch.inference_mode():
            tokens = [self._tokens(f, net.cfg.hidden_size, device) for f in [query, *candidates]]
            return net(tokens[0], tokens[1:]).float().cpu().numpy()

    def _tokens(self, feats: LocoreFeatures, dim: int, device: str) -> Any:
        """The first `num_descriptors` descriptors, zero-padded and masked when the image has fewer."""
        import torch

        from plugins.similarity.locore_net import ImageTokens

        n = min(len(feats), self.num_descriptors)
        local = torch.zeros(self.num_descriptors, dim)
        local[:n] = torch.from_numpy(np.asarray(feats.desc[:n], np.float32))
        valid = torch.zeros(self.num_descriptors, dtype=torch.bool)
        valid[:n] = True
        scales = torch.zeros(self.num_descriptors, dtype=torch.long)  # one scale: row 0 of the scale encoder
        glob = torch.from_numpy(np.asarray(feats.global_desc, np.float32))
        return ImageTokens(local.to(device), scales.to(device), valid.to(device), glob.to(device))

    def rerank(
        self,
        query: LocoreFeatures,
        candidates: list[LocoreFeatures],
        global_sims: np.ndarray,
        device: str = "cpu",
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[list[int], np.ndarray]:
        """The candidates' LOCORE order (indices into `candidates`, best first) and blended scores
        (see SCORE_MEANING); `global_sims` are the caller's global similarities of the same candidates,
        in shortlist order."""
        sims = np.asarray(global_sims, np.float64).reshape(-1)
        if sims.shape[0] != len(candidates):
            raise ValueError(f"{len(candidates)} candidates but {sims.shape[0]} global similarities")
        if not np.all(np.isfinite(sims)):
            raise ValueError("global similarities must be finite")
        self.require()

        def logits_of(members: list[int]) -> np.ndarray:
            return self.logits(query, [candidates[i] for i in members], device)

        return sliding_rerank(sims, logits_of, self.window, self.stride, self.alpha, self.temp, progress)
