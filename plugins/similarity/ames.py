"""AMES re-ranking of a similarity-search shortlist (Suma et al., ECCV 2024), with the authors'
released networks: the DINOv2 ViT-B/14-reg backbone, their DINOv2 local-feature detector and
the full-precision DINOv2 AMES.

`extract` turns an image into its strongest local descriptors (stored with the image);
`scores` fuses, for a query and its shortlisted candidates, the caller's global similarity
with AMES's local-descriptor similarity the way the authors evaluate:
score = lamb · global + (1 − lamb) · sigmoid(temp · logit). Any of the three files missing
raises `ModelUnavailable` with the store's reason (where to get it), never a score.

torch is imported inside functions only, so the application runs without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plugins.similarity.features import LocalFeatures
from workbench.api import ModelStore, ModelUnavailable, loaded_model
from workbench.api import batch_size as device_batch

KIND = "dinov2_ames"
AMES_ID = "ames_dinov2"
BACKBONE_ID = "dinov2_vitb14_reg"
DETECTOR_ID = "ames_detector_dinov2"
MODEL_IDS = (AMES_ID, BACKBONE_ID, DETECTOR_ID)

LAMB = 0.55
TEMP = 0.3
"""The authors' README values for DINOv2 full precision (tuned on the GLDv2 public test split)."""
QUERY_LEN = 600
DB_LEN = 50
"""Descriptors AMES reads per query / per database image (the authors' README example: the
asymmetry is the point, a database image costs 50 × 768 float16 values)."""
BATCH = 16
"""Candidate pairs per forward pass on the CPU (651 tokens each)."""
PAIR_MB = 64
"""GPU memory per candidate pair in a pass (651 tokens: attention maps and activations, with margin):
on CUDA a pass holds as many pairs as half the free memory fits."""

SCORE_MEANING = (
    "AMES fused similarity in [0, 1]: lamb × global similarity (clipped to [0, 1]) + (1 − lamb) × "
    "sigmoid(temp × AMES logit), with the authors' lamb 0.55 and temp 0.3. Higher means the learned "
    "model finds more local evidence that the two images show the same object or place; it orders a "
    "shortlist and is not a calibrated probability of a match"
)


def manifest_section(store: ModelStore, model_id: str, key: str) -> dict[str, Any]:
    """A dict-valued manifest entry ("network", "extraction", ...); empty when absent."""
    try:
        value = store.manifest(model_id).extra.get(key, {})
    except ModelUnavailable:
        return {}
    return dict(value) if isinstance(value, dict) else {}


def descriptor_networks(store: ModelStore, device: str) -> tuple[Any, Any]:
    """The verified DINOv2 backbone and AMES detector, built from their manifests: the local
    descriptors of AMES and of LOCORE both come from them."""
    from plugins.similarity import dinov2

    cfg = dinov2.VitConfig(**manifest_section(store, BACKBONE_ID, "network"))
    in_c = int(manifest_section(store, DETECTOR_ID, "network").get("in_channels", 768))
    backbone = loaded_model(store, BACKBONE_ID, lambda: dinov2.build_backbone(cfg), device)
    return backbone, loaded_model(store, DETECTOR_ID, lambda: dinov2.SpatialAttention2d(in_c), device)


class AmesReranker:
    """Extraction and scoring with the three installed networks (verified and cached by the store).

    `lamb`, `temp`, `query_len`, `db_len`, `topk` and `max_side` default to the manifests' values
    (the authors' settings); `batch_size` (pairs per pass on the CPU; on CUDA what half the free
    memory holds) only trades memory for speed.
    """

    def __init__(
        self,
        store: ModelStore | None = None,
        *,
        lamb: float | None = None,
        temp: float | None = None,
        query_len: int | None = None,
        db_len: int | None = None,
        topk: int | None = None,
        max_side: int | None = None,
        batch_size: int = BATCH,
    ) -> None:
        self.store = store if store is not None else ModelStore()
        evaluation = self._extra(AMES_ID, "evaluation")
        extraction = self._extra(DETECTOR_ID, "extraction")
        self.lamb = float(lamb if lamb is not None else evaluation.get("lamb", LAMB))
        self.temp = float(temp if temp is not None else evaluation.get("temp", TEMP))
        self.query_len = int(query_len or evaluation.get("query_len", QUERY_LEN))
        self.db_len = int(db_len or evaluation.get("db_len", DB_LEN))
        self.topk = int(topk or extraction.get("topk", 700))
        self.max_side = int(max_side or extraction.get("max_side", 1024))
        self.batch_size = max(1, int(batch_size))
        if not 0.0 <= self.lamb <= 1.0:
            raise ValueError(f"lamb must be in [0, 1], got {self.lamb}")

    # -- availability ----------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        """Why the re-ranker cannot run (every missing or damaged file's reason), or None."""
        return self.store.unavailable_reason(MODEL_IDS)

    def require(self) -> None:
        """ModelUnavailable unless all three files are installed: descriptors are only worth
        extracting and storing when the network that reads them is there too."""
        reason = self.unavailable_reason()
        if reason:
            raise ModelUnavailable(f"AMES re-ranking needs three files: {reason}")

    # -- networks --------------------------------------------------------------------------
    def _extra(self, model_id: str, key: str) -> dict[str, Any]:
        return manifest_section(self.store, model_id, key)

    def _ames(self, device: str) -> Any:
        from plugins.similarity import ames_net

        network = self._extra(AMES_ID, "network")
        network.pop("variant", None)
        cfg = ames_net.AmesConfig(**network)
        return loaded_model(self.store, AMES_ID, lambda: ames_net.Ames(cfg), device)

    # -- extraction ------------------------------------------------------------------------
    def extract(self, rgb: np.ndarray, device: str = "cpu") -> LocalFeatures:
        """The image's `topk` strongest DINOv2 tokens (kind "dinov2_ames"), strongest first."""
        self.require()
        from plugins.similarity import dinov2

        backbone, detector = descriptor_networks(self.store, device)
        return dinov2.extract_local(backbone, detector, rgb, device, topk=self.topk, max_side=self.max_side)

    # -- scoring ---------------------------------------------------------------------------
    def logits(self, query: LocalFeatures, candidates: list[LocalFeatures], device: str = "cpu") -> np.ndarray:
        """AMES's raw logit per candidate (query: its first `query_len` features; each candidate:
        its first `db_len`, padded and masked in batches)."""
        self.require()
        import torch

        net = self._ames(device)
        dim = net.cfg.local_dim
        for name, feats in [("query", query), *((f"candidate {i}", c) for i, c in enumerate(candidates))]:
            if feats.kind != KIND:
                raise ValueError(f"{name} holds '{feats.kind}' features; AMES reads '{KIND}' features")
            if len(feats) and feats.desc.shape[1] != dim:
                raise ValueError(f"{name} has {feats.desc.shape[1]}-d descriptors; the network reads {dim}-d")
        if not len(query):
            raise ValueError("the query has no local features")
        src = torch.from_numpy(np.asarray(query.desc[: self.query_len], np.float32)).to(device)[None]
        out = np.empty(len(candidates), np.float32)
        step = device_batch(device, PAIR_MB, self.batch_size)
        with torch.inference_mode():
            for start in range(0, len(candidates), step):
                chunk = candidates[start : start + step]
                length = max(1, max(min(len(c), self.db_len) for c in chunk))
                tgt = np.zeros((len(chunk), length, dim), np.float32)
                pad = np.ones((len(chunk), length), bool)
                for row, cand in enumerate(chunk):
                    n = min(len(cand), self.db_len)
                    tgt[row, :n] = cand.desc[:n]
                    pad[row, :n] = False
                logit = net(
                    src.expand(len(chunk), -1, -1),
                    None,
                    torch.from_numpy(tgt).to(device),
                    torch.from_numpy(pad).to(device),
                )
                out[start : start + len(chunk)] = logit.float().cpu().numpy()
        return out

    def fuse(self, logits: np.ndarray, global_sims: np.ndarray) -> np.ndarray:
        """The authors' blend; global similarities are clipped to [0, 1] so the result stays there."""
        local = 1.0 / (1.0 + np.exp(-self.temp * np.asarray(logits, np.float64)))
        glob = np.clip(np.asarray(global_sims, np.float64), 0.0, 1.0)
        return (self.lamb * glob + (1.0 - self.lamb) * local).astype(np.float32)

    def scores(
        self,
        query: LocalFeatures,
        candidates: list[LocalFeatures],
        global_sims: np.ndarray,
        device: str = "cpu",
    ) -> np.ndarray:
        """Fused score in [0, 1] per candidate (see SCORE_MEANING); `global_sims` are the caller's
        global-descriptor similarities of the same candidates (cosine, as the authors' shortlist)."""
        sims = np.asarray(global_sims, np.float64).reshape(-1)
        if sims.shape[0] != len(candidates):
            raise ValueError(f"{len(candidates)} candidates but {sims.shape[0]} global similarities")
        if not np.all(np.isfinite(sims)):
            raise ValueError("global similarities must be finite")
        return self.fuse(self.logits(query, candidates, device), sims)
