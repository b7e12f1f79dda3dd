"""Where on Earth a photo may have been taken: the published localizability / geolocation model of
Kordopatis-Zilos et al. (ICMR 2021) and Panagiotopoulos et al. (MMM 2022), run with the authors'
released files (mever-team/visloc-estimation).

Three files, one manifest each, each loaded strictly into its own module through the model store:
`visloc_backbone` (EfficientNet-B4), `visloc_mvmf` (the mixture-of-vMF cell head, which also carries
the 31,145 cell centres) and `visloc_rrm` (the retrieval head). `cell_distribution` gives the
probability of every cell for an image, preprocessed as the authors' inference does; any file
missing raises `ModelUnavailable` with the store's reason (where to get it), never a guess.

The authors' final coordinate (search within the predicted cell of a 'background collection' of
geotagged embeddings) needs their separate background-collection file and is not done here; the
cell distribution, the top cell's centre and the prediction density (their localizability
confidence) are.

torch is imported inside functions only, so the application runs without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from workbench.api import ModelStore, ModelUnavailable, loaded_model

BACKBONE_ID = "visloc_backbone"
MVMF_ID = "visloc_mvmf"
RRM_ID = "visloc_rrm"
MODEL_IDS = (BACKBONE_ID, MVMF_ID, RRM_ID)

SHORT_SIDE = 300
"""The authors' inference transform: torchvision Resize(300), shorter side to 300, aspect kept, no crop."""
RGB_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
RGB_STD = np.array([0.229, 0.224, 0.225], np.float32)
MIN_SIDE = 8
MAX_ASPECT = 20.0
"""Refuse strips longer than 20:1 (6000 × 300 network input): the network never saw such shapes."""
HEAD_DEVICE = "cpu"
"""The cell head is float64 (not supported on every accelerator) and costs one 1792 × 31,145 product:
it always runs on the CPU."""

# -- preprocessing ---------------------------------------------------------------------------
def resized_shape(height: int, width: int, short_side: int = SHORT_SIDE) -> tuple[int, int]:
    """(h, w) after torchvision's Resize(short_side): the short side becomes `short_side`, the long
    side `int(short_side · long / short)` (truncated, as torchvision does)."""
    if min(height, width) < MIN_SIDE:
        raise ValueError(f"image too small for geolocation: {width}×{height} pixels, needs {MIN_SIDE}")
    if max(height, width) / min(height, width) > MAX_ASPECT:
        raise ValueError(f"image too elongated for geolocation: {width}×{height} (more than {MAX_ASPECT:g}:1)")
    if width <= height:
        return int(short_side * height / width), short_side
    return short_side, int(short_side * width / height)


def preprocess(rgb: np.ndarray, short_side: int = SHORT_SIDE) -> np.ndarray:
    """uint8 H×W×3 → float32 3×h×w as the authors' inference transform: PIL bilinear resize (what
    torchvision's Resize does to a PIL image), ToTensor (/255), ImageNet normalisation."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 H×W×3 array, got {rgb.dtype} {rgb.shape}")
    h, w = resized_shape(rgb.shape[0], rgb.shape[1], short_side)
    small = np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize((w, h), Image.Resampling.BILINEAR))
    return ((small.astype(np.float32) / 255.0 - RGB_MEAN) / RGB_STD).transpose(2, 0, 1).copy()


# -- geometry --------------------------------------------------------------------------------
def normalized_latlon(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same points with latitude in [−90, 90] and longitude in (−180, 180]: the centres are trained
    parameters that a map or a distance should not take outside those ranges."""
    phi, lam = np.radians(lat), np.radians(lon)
    x, y, z = np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)
    lon_out = np.degrees(np.arctan2(y, x))
    return np.degrees(np.arctan2(z, np.hypot(x, y))), np.where(lon_out <= -180.0, lon_out + 360.0, lon_out)


# -- the model -------------------------------------------------------------------------------
class VislocModel:
    """The three released networks, verified and cached by the model store.

    `short_side` is the authors' 300; tests pass a smaller one to keep a CPU forward pass cheap.
    """

    def __init__(self, store: ModelStore | None = None, short_side: int = SHORT_SIDE) -> None:
        self.store = store if store is not None else ModelStore()
        self.short_side = int(short_side)

    # -- availability ----------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        """Why the model cannot run (every missing or damaged file's reason), or None."""
        return self.store.unavailable_reason(MODEL_IDS)

    def require(self) -> None:
        """ModelUnavailable unless all three files are installed and verified."""
        reason = self.unavailable_reason()
        if reason:
            raise ModelUnavailable(f"visual geolocation needs three files: {reason}")

    # -- networks --------------------------------------------------------------------------
    def _network_config(self, model_id: str) -> dict[str, Any]:
        try:
            value = self.store.manifest(model_id).extra.get("network", {})
        except ModelUnavailable:
            return {}
        return dict(value) if isinstance(value, dict) else {}

    def backbone(self, device: str) -> Any:
        from plugins.geolocation import visloc_net

        return loaded_model(self.store, BACKBONE_ID, visloc_net.build_backbone, device)

    def cell_head(self) -> Any:
        from plugins.geolocation import visloc_net

        num_cells = int(self._network_config(MVMF_ID).get("num_cells", visloc_net.NUM_CELLS))
        return loaded_model(self.store, MVMF_ID, lambda: visloc_net.MvMFHead(num_cells), HEAD_DEVICE)

    def retrieval_head(self, device: str) -> Any:
        from plugins.geolocation import visloc_net

        return loaded_model(self.store, RRM_ID, visloc_net.RetrievalHead, device)

    def network(self, device: str) -> Any:
        """The authors' GeoLocModel assembled from the three loaded modules (the head on the CPU)."""
        self.require()
        from plugins.geolocation import visloc_net

        return visloc_net.GeoLocModel(self.backbone(device), self.cell_head(), self.retrieval_head(device))

    # -- inference -------------------------------------------------------------------------
    def features(self, rgb: np.ndarray, device: str = "cpu") -> Any:
        """The pooled 1792-d backbone feature of the image, a float32 tensor [1, 1792] on `device`."""
        import torch

        self.require()
        x = torch.from_numpy(preprocess(rgb, self.short_side))[None].to(device)
        with torch.inference_mode():
            return self.backbone(device)(x).flatten(1)

    def cell_distribution(self, rgb: np.ndarray, device: str = "cpu") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probability of each cell float64 [M] summing to 1, cell centre latitudes, longitudes)."""
        import torch

        features = self.features(rgb, device)
        head = self.cell_head()
        with torch.inference_mode():
            probs = head(features.to(HEAD_DEVICE, torch.float32))[0].numpy()
            lat, lon = (t.detach().cpu().numpy() for t in head.cell_centres())
        lat, lon = normalized_latlon(lat, lon)
        return probs, lat, lon

    def embedding(self, rgb: np.ndarray, device: str = "cpu") -> np.ndarray:
        """The retrieval head's L2-normalised embedding, float32 [1792] (the authors' search-within-cell
        compares it with their background collection)."""
        import torch

        features = self.features(rgb, device)
        with torch.inference_mode():
            return self.retrieval_head(device)(features)[0].float().cpu().numpy()


def cell_distribution(
    rgb: np.ndarray, device: str = "cpu", store: ModelStore | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities float64 [M], cell_lat, cell_lon) for an RGB uint8 H×W×3 image; ModelUnavailable
    with the store's reason when any of the three released files is missing or damaged."""
    return VislocModel(store).cell_distribution(rgb, device)
