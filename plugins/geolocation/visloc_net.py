"""The published geolocation network of Kordopatis-Zilos et al. (ICMR 2021), laid out so the
authors' three released files load unchanged with `strict=True`.

* `Backbone`: EfficientNet-B4 (`efficientnet.py`), pooled to a 1792-d feature. Its `base_cnn` is the
  module the released `efficientnet_backbone.pt` fits.
* `MvMFHead`: the mixture-of-von-Mises–Fisher head over M = 31,145 geographic cells
  (`mvmf_head.pt`). A linear layer turns the feature into one logit per cell; the softmax of those
  logits are the mixture weights, which the authors' inference reads as the probability of each cell
  (`MVMFModule.run_inference`). Each cell also carries a vMF density on the sphere, centred on the
  cell's (lat, lon) stored in `mvmf.mus` (float64 [2, M], row 0 latitude, row 1 longitude, degrees),
  with concentration κ = exp(`mvmf.kappas` + 16) (float64 [M]). The mixture density
  p(x) = Σ_m w_m · vMF(x; μ_m, κ_m) is what the network was trained to maximise at the photo's true
  location (the MvMF loss of Izbicki et al. 2019); `log_density` evaluates it.
* `RetrievalHead`: the residual retrieval module (RRM, `rrm_head.pt`) that maps the feature to an
  L2-normalised 1792-d embedding for the authors' search-within-cell step.
* `GeoLocModel`: the three together, with the authors' top-level names (`backbone.base_cnn.`,
  `cls_head.`, `rrm_head.`).

Probabilities are computed in float64 with log-sum-exp: the cell logits are float32 (as trained),
the softmax over 31,145 cells and the vMF terms (κ up to ~10^7, whose plain exponentials underflow
away from the centre) are not.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from plugins.geolocation.efficientnet import EfficientNet, efficientnet

NUM_CELLS = 31145
"""Cells of the released head (len(data/initial_mu_kappa.pkl) in the authors' repository)."""
FEATURE_DIM = 1792
PREKAPPA = 16.0
"""The released head stores log κ − 16: κ = exp(kappas + 16)."""
HIDDEN_DIM = 4096


def haversine_term(lat1: torch.Tensor, lon1: torch.Tensor, lat2: torch.Tensor, lon2: torch.Tensor) -> torch.Tensor:
    """(1 − cos θ)/2 = sin²(Δlat/2) + cos lat1 · cos lat2 · sin²(Δlon/2) for degrees, broadcast.

    The angle θ between two points enters the vMF exponent as κ(cos θ − 1) = −2κ · this; computing
    it this way keeps full precision for nearby points, where 1 − cos θ would cancel."""
    p1, p2 = torch.deg2rad(lat1), torch.deg2rad(lat2)
    dlat, dlon = p2 - p1, torch.deg2rad(lon2 - lon1)
    return torch.sin(dlat / 2) ** 2 + torch.cos(p1) * torch.cos(p2) * torch.sin(dlon / 2) ** 2


def vmf_log_density(half_versine: torch.Tensor, kappa: torch.Tensor) -> torch.Tensor:
    """log of the von Mises–Fisher density on the unit sphere (per steradian),
    κ · exp(κ(cos θ − 1)) / (2π (1 − exp(−2κ))), given (1 − cos θ)/2 and κ > 0."""
    return torch.log(kappa) - math.log(2 * math.pi) - torch.log(-torch.expm1(-2 * kappa)) - 2 * kappa * half_versine


class VonMisesFisherMixture(nn.Module):
    """Cell centres and concentrations (the authors' `VectorizedMixtureVMF`: `mus`, `kappas`, float64)."""

    def __init__(self, num_cells: int = NUM_CELLS, prekappa: float = PREKAPPA) -> None:
        super().__init__()
        self.prekappa = prekappa
        self.mus = nn.Parameter(torch.zeros((2, num_cells), dtype=torch.float64))
        self.kappas = nn.Parameter(torch.zeros(num_cells, dtype=torch.float64))

    def concentrations(self) -> torch.Tensor:
        """κ of each cell, float64 [M]."""
        return torch.exp(self.kappas + self.prekappa)

    def log_components(self, lat: torch.Tensor, lon: torch.Tensor) -> torch.Tensor:
        """log vMF_m(x) for every point x = (lat, lon) [N] and every cell m: float64 [N, M]."""
        lat = lat.to(torch.float64).reshape(-1, 1)
        lon = lon.to(torch.float64).reshape(-1, 1)
        half = haversine_term(lat, lon, self.mus[0][None], self.mus[1][None])
        return vmf_log_density(half, self.concentrations()[None])


class MixtureWeights(nn.Module):
    """Feature → one logit per cell (the authors' `MixtureWeights(1792, [M])`: `seq_model.0`)."""

    def __init__(self, in_features: int = FEATURE_DIM, num_cells: int = NUM_CELLS) -> None:
        super().__init__()
        self.seq_model = nn.Sequential(nn.Linear(in_features, num_cells))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.seq_model(features)


class MvMFHead(nn.Module):
    """The released `mvmf_head.pt`: keys `mvmf.mus`, `mvmf.kappas`, `mixture_weights.seq_model.0.*`.

    `num_cells` is the released 31,145 unless a test builds a small head.
    """

    def __init__(self, num_cells: int = NUM_CELLS, in_features: int = FEATURE_DIM, prekappa: float = PREKAPPA) -> None:
        super().__init__()
        self.mvmf = VonMisesFisherMixture(num_cells, prekappa)
        self.mixture_weights = MixtureWeights(in_features, num_cells)

    @property
    def num_cells(self) -> int:
        return int(self.mvmf.kappas.shape[0])

    def cell_centres(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(latitude, longitude) of each cell's centre in degrees, float64 [M] each."""
        return self.mvmf.mus[0], self.mvmf.mus[1]

    def cell_log_probabilities(self, features: torch.Tensor) -> torch.Tensor:
        """log w_m = log softmax of the cell logits, float64 [B, M] (log-sum-exp in float64)."""
        return torch.log_softmax(self.mixture_weights(features).to(torch.float64), dim=-1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Probability of each cell, float64 [B, M], summing to 1 (the authors' mixture weights)."""
        return torch.exp(self.cell_log_probabilities(features))

    def log_density(self, features: torch.Tensor, lat: torch.Tensor, lon: torch.Tensor) -> torch.Tensor:
        """log p(x | image) = log Σ_m w_m vMF(x; μ_m, κ_m) at points (lat, lon) [N] in degrees:
        float64 [B, N], a density per steradian of the unit sphere (log-sum-exp over cells). Memory is
        B·N·M float64: evaluate large grids in chunks of points."""
        log_w = self.cell_log_probabilities(features)  # [B, M]
        log_vmf = self.mvmf.log_components(lat, lon)  # [N, M]
        return torch.logsumexp(log_w[:, None, :] + log_vmf[None, :, :], dim=-1)

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """(lat, lon) of the most probable cell's centre, float64 [B, 2] (the authors' prediction)."""
        top = torch.argmax(self.mixture_weights(features), dim=-1)
        return self.mvmf.mus.index_select(1, top).transpose(0, 1)


class Residual(nn.Module):
    """x ↦ LayerNorm(fc2(relu(fc1(x))) + x) (the authors' `Residual`)."""

    def __init__(self, dims: int = FEATURE_DIM, hidden_dims: int = HIDDEN_DIM) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dims)
        self.fc1 = nn.Linear(dims, hidden_dims)
        self.fc2 = nn.Linear(hidden_dims, dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.fc2(F.relu(self.fc1(x))) + x)


class RetrievalHead(nn.Module):
    """The released `rrm_head.pt` (keys `norm.*`, `res.*`): LayerNorm, residual MLP, L2 normalisation."""

    def __init__(self, dims: int = FEATURE_DIM, hidden_dims: int = HIDDEN_DIM) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dims)
        self.res = Residual(dims, hidden_dims)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.res(self.norm(features)), p=2, dim=-1)


class Backbone(nn.Module):
    """EfficientNet-B4 without its classifier, pooled and flattened to [B, 1792]."""

    def __init__(self, base_cnn: EfficientNet | None = None) -> None:
        super().__init__()
        self.base_cnn = base_cnn if base_cnn is not None else build_backbone()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.base_cnn(images).flatten(1)


class GeoLocModel(nn.Module):
    """The authors' GeoLocModel; built from already-loaded parts (no copies) or at random init.

    `forward(images)` → (top cell centre [B, 2] float64, cell probabilities [B, M] float64,
    embeddings [B, 1792]). The head's outputs land on the head's device (`cell_features` moves the
    feature there), so the float64 head may stay on the CPU while the backbone runs elsewhere.
    """

    def __init__(
        self,
        base_cnn: EfficientNet | None = None,
        cls_head: MvMFHead | None = None,
        rrm_head: RetrievalHead | None = None,
        num_cells: int = NUM_CELLS,
    ) -> None:
        super().__init__()
        self.backbone = Backbone(base_cnn)
        self.cls_head = cls_head if cls_head is not None else MvMFHead(num_cells)
        self.rrm_head = rrm_head if rrm_head is not None else RetrievalHead()

    def extract_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images)

    def cell_features(self, features: torch.Tensor) -> torch.Tensor:
        """The feature on the head's device, float32."""
        return features.to(self.cls_head.mvmf.mus.device, torch.float32)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.extract_features(images)
        head_in = self.cell_features(features)
        return self.cls_head.predict(head_in), self.cls_head(head_in), self.rrm_head(features)


def build_backbone() -> EfficientNet:
    """EfficientNet-B4 as `EfficientNet.from_pretrained('efficientnet-b4', include_top=False)`
    builds it in efficientnet_pytorch 0.7.0 (static padding for 380, `_fc` kept), random init."""
    return efficientnet("efficientnet-b4", include_top=False)
