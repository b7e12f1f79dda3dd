"""Fine-tune a backbone on folders of real and fake images and register the result in the model store.

The recipe (what goes in the manifest's "training" block, so another analyst can redo it):

1. Data: every readable image of the real and fake folders; fakes optionally reduced to the most
   realistic fraction (quality-based sampling, `quality.py`), or made from the real faces
   (self-blended images, `sbi.py`). Split per class into training and validation (20 % by
   default), by source image, so a face and its self-blend never straddle the split.
2. Inputs as the family's analyzer prepares them (`data.py`), with augmentations on the training
   side (`augment.py`).
3. AdamW, binary cross-entropy on a one-logit head ("logit") or cross-entropy on a k-class head
   ("softmax:k"); the epoch with the best validation ROC AUC (then loss) is kept.
4. The weights (a plain state dict of tensors) go to the user's models folder, the manifest to its
   `manifests/` folder, with the validation metrics; `test_model` is true when the user says so or
   when fewer than MIN_CASEWORK_IMAGES images of a class were available.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.device import resolve_device
from workbench.core.hashing import sha256_file
from workbench.core.metrics import roc_auc
from workbench.core.models import ModelStore
from workbench.core.plugin import Cancelled, ModelUnavailable
from workbench.training import quality
from workbench.training.augment import Augment
from workbench.training.backbones import Backbone, backbone
from workbench.training.data import FAKE, REAL, FaceSource, Inputs, Sample, collect, read_rgb, split, with_self_blends

MIN_CASEWORK_IMAGES = 1000
"""Below this many images of either class the model is a test model, whatever the user says."""
CARD = "workbench/training/trained_model.md"
Progress = Callable[[float, str], None]


@dataclass
class TrainConfig:
    model_id: str
    backbone: str
    real: list[Path]
    fake: list[Path] = field(default_factory=list)
    title: str = ""
    self_blend: bool = False
    """Make the fakes from the real faces (SBI) instead of reading fake folders (deepfake family)."""
    faces: FaceSource = FaceSource.CROPS
    size: int | None = None
    """Input side in pixels; None keeps the backbone's."""
    epochs: int = 5
    batch: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.2
    quality_keep: float = 1.0
    """Fraction of the fake images kept by quality-based sampling (1: all)."""
    augment: Augment = field(default_factory=Augment)
    seed: int = 0
    test_model: bool = False
    device: str = "auto"


@dataclass
class TrainReport:
    model_id: str
    weights: Path
    manifest: dict[str, Any]
    metrics: dict[str, float]
    history: list[dict[str, float]]
    skipped: list[str]


def train(
    config: TrainConfig,
    store: ModelStore | None = None,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> TrainReport:
    """Train, validate, save and register one model. ValueError / FileNotFoundError / ModelUnavailable
    say what is wrong with the request; Cancelled when `cancelled()` turns true."""
    import torch

    started = time.perf_counter()
    store = store or ModelStore()
    report = progress or (lambda fraction, message: None)
    store.check_user_id(config.model_id)
    net_spec = backbone(config.backbone, store).with_size(config.size)
    _check_request(config, net_spec)
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)

    report(0.0, "reading the images")
    skipped: list[str] = []
    reals = collect(config.real, REAL, net_spec, config.faces, skipped)
    fakes = [] if config.self_blend else collect(config.fake, FAKE, net_spec, config.faces, skipped)
    _check_counts(reals, fakes, config)
    sampling = None
    if config.quality_keep < 1.0:
        report(0.05, "ranking the fake images by realism")
        fakes, sampling = _quality_sample(reals, fakes, config.quality_keep, store, resolve_device(config.device)[0])
    _check_counts(reals, fakes, config)
    train_set, val_set = split(reals + fakes, config.val_fraction, rng)
    if config.self_blend:
        train_set, val_set = with_self_blends(train_set), with_self_blends(val_set)

    device = resolve_device(config.device)[0]
    net = net_spec.build()
    init_note = _initialise(net, net_spec, store)
    net = net.to(device)
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    inputs = Inputs(net_spec, config.augment, rng)
    history: list[dict[str, float]] = []
    best: tuple[tuple[float, float], dict[str, Any], dict[str, float]] | None = None
    for epoch in range(config.epochs):
        loss = _train_epoch(net, optimiser, train_set, inputs, net_spec.output, config, rng, device,
                            lambda f, e=epoch: report(0.1 + 0.85 * (e + f) / config.epochs,
                                                      f"epoch {e + 1}/{config.epochs}"),
                            cancelled)
        metrics = evaluate(net, val_set, inputs, net_spec.output, config.batch, device)
        history.append({"epoch": epoch + 1, "train_loss": round(loss, 5), **metrics})
        rank = (_nan_low(metrics["auc"]), -metrics["loss"])
        if best is None or rank > best[0]:
            best = (rank, {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}, metrics)
    assert best is not None
    report(0.97, "saving")
    weights = _save(best[1], store, config.model_id)
    manifest = _manifest(config, net_spec, store, weights, best[2], history, skipped, reals, fakes, sampling,
                         init_note, time.perf_counter() - started, device)
    store.register(manifest)
    report(1.0, "done")
    return TrainReport(config.model_id, weights, manifest, best[2], history, skipped)


# -- steps -----------------------------------------------------------------------------------
def _check_request(config: TrainConfig, net_spec: Backbone) -> None:
    if config.self_blend and net_spec.family != "deepfake":
        raise ValueError("self-blended images are face fakes: use them with a deepfake backbone")
    if config.self_blend and config.quality_keep < 1.0:
        raise ValueError("quality-based sampling ranks fake images from folders, not self-blended ones")
    if not config.self_blend and not config.fake:
        raise ValueError("give folders of fake images, or make fakes from the real faces with self-blending")
    if config.epochs < 1 or config.batch < 2 or not 0.0 < config.val_fraction < 1.0:
        raise ValueError("epochs ≥ 1, batch ≥ 2 and a validation fraction in (0, 1) are required")
    if not 0.0 < config.quality_keep <= 1.0:
        raise ValueError(f"the fraction of fake images to keep must be in (0, 1], got {config.quality_keep}")


def _check_counts(reals: list[Sample], fakes: list[Sample], config: TrainConfig) -> None:
    n_fake = len(reals) if config.self_blend else len(fakes)
    if len(reals) < 2 or n_fake < 2:
        raise ValueError(
            f"too few usable images: {len(reals)} real and {n_fake} fake; at least 2 of each are needed "
            "(one to train on, one to validate with)"
        )


def _quality_sample(
    reals: list[Sample], fakes: list[Sample], keep: float, store: ModelStore, device: str
) -> tuple[list[Sample], dict[str, Any]]:
    real_vectors = quality.descriptors([read_rgb(s.path) for s in reals], store, device)
    fake_vectors = quality.descriptors([read_rgb(s.path) for s in fakes], store, device)
    scores = quality.realism_scores(fake_vectors, real_vectors)
    chosen = quality.most_realistic(scores, keep)
    dropped = sorted(set(range(len(fakes))) - set(chosen.tolist()), key=lambda i: scores[i])
    stats = {
        "method": "mean cosine similarity of the MobileNetV2-GeM descriptor to the 5 most similar real images",
        "keep": keep,
        "kept": len(chosen),
        "of": len(fakes),
        "kept_score_range": [round(float(scores[chosen].min()), 4), round(float(scores[chosen].max()), 4)],
        "least_realistic_dropped": [fakes[i].path.name for i in dropped[:5]],
    }
    return [fakes[i] for i in chosen], stats


def _initialise(net: Any, net_spec: Backbone, store: ModelStore) -> str:
    """Load the starting weights where their shapes fit; a note on what was loaded, for the manifest."""
    if net_spec.init_from is None:
        return "random initialisation"
    fine_tuning = net_spec.init_from == net_spec.name
    try:
        state = store.load_state_dict(net_spec.init_from)
    except ModelUnavailable:
        if fine_tuning:
            raise
        return f"random initialisation ({net_spec.init_from} not installed)"
    own = net.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    net.load_state_dict(fitting, strict=False)
    fresh = len(own) - len(fitting)
    return f"{net_spec.init_from} (SHA-256 {store.provenance(net_spec.init_from)['sha256']}), {fresh} tensors fresh"


def _loss(outputs: Any, labels: Any, output: str, fake_class: Callable[[str], int | None]) -> Any:
    import torch.nn.functional as F

    k = fake_class(output)
    if k is None:
        return F.binary_cross_entropy_with_logits(outputs.reshape(-1), labels.float())
    real_class = 1 if k == 0 else 0
    return F.cross_entropy(outputs, labels * k + (1 - labels) * real_class)


def _batches(samples: list[Sample], size: int, rng: np.random.Generator | None) -> list[list[Sample]]:
    order = rng.permutation(len(samples)) if rng is not None else np.arange(len(samples))
    batches = [[samples[i] for i in order[start : start + size]] for start in range(0, len(samples), size)]
    return batches[:-1] if rng is not None and len(batches) > 1 and len(batches[-1]) == 1 else batches


def _train_epoch(
    net: Any, optimiser: Any, samples: list[Sample], inputs: Inputs, output: str, config: TrainConfig,
    rng: np.random.Generator, device: str, progress: Callable[[float], None], cancelled: Callable[[], bool] | None,
) -> float:
    """One pass over the shuffled training set (a last batch of one is dropped: BatchNorm); mean loss."""
    import torch

    net.train()
    losses = []
    batches = _batches(samples, config.batch, rng)
    for index, batch in enumerate(batches):
        if cancelled is not None and cancelled():
            raise Cancelled()
        x = torch.from_numpy(np.stack([inputs(s, train=True) for s in batch])).to(device)
        y = torch.tensor([s.label for s in batch], device=device)
        loss = _loss(net(x), y, output, inputs.family.fake_class)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
        progress((index + 1) / len(batches))
    return float(np.mean(losses))


def evaluate(net: Any, samples: list[Sample], inputs: Inputs, output: str, batch: int, device: str) -> dict[str, float]:
    """Loss, accuracy at P(fake) ≥ 0.5 and ROC AUC on `samples` (NaN where undefined), and the counts."""
    import torch

    net.eval()
    probabilities, losses, labels = [], [], []
    with torch.inference_mode():
        for group in _batches(samples, batch, None):
            x = torch.from_numpy(np.stack([inputs(s, train=False) for s in group])).to(device)
            y = torch.tensor([s.label for s in group], device=device)
            outputs = net(x)
            losses.append(float(_loss(outputs, y, output, inputs.family.fake_class)) * len(group))
            probabilities += inputs.family.fake_probability(outputs, output).cpu().tolist()
            labels += [s.label for s in group]
    p, truth = np.asarray(probabilities), np.asarray(labels, bool)
    return {
        "loss": round(sum(losses) / max(len(labels), 1), 5),
        "accuracy": round(float(np.mean((p >= 0.5) == truth)), 4) if len(p) else math.nan,
        "auc": round(roc_auc(p, truth), 4) if len(p) else math.nan,
        "real": int((~truth).sum()),
        "fake": int(truth.sum()),
    }


def _nan_low(value: float) -> float:
    return -1.0 if math.isnan(value) else value


def _save(state: dict[str, Any], store: ModelStore, model_id: str) -> Path:
    import torch

    store.user_dir.mkdir(parents=True, exist_ok=True)
    path = store.user_dir / f"{model_id}.pt"
    tmp = path.with_name(path.name + ".part")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def _manifest(
    config: TrainConfig, net_spec: Backbone, store: ModelStore, weights: Path, metrics: dict[str, float],
    history: list[dict[str, float]], skipped: list[str], reals: list[Sample], fakes: list[Sample],
    sampling: dict[str, Any] | None, init_note: str, seconds: float, device: str,
) -> dict[str, Any]:
    n_fake = len(reals) if config.self_blend else len(fakes)
    tiny = min(len(reals), n_fake) < MIN_CASEWORK_IMAGES
    reason = "the user marked it so" if config.test_model else (
        f"fewer than {MIN_CASEWORK_IMAGES} images of a class" if tiny else "")
    when = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "id": config.model_id,
        "title": config.title or f"{config.model_id} (trained here on {when[:10]}, {net_spec.name})",
        "family": net_spec.family,
        "test_model": config.test_model or tiny,
        "test_model_reason": reason,
        "architecture": f"{net_spec.family} nets: {net_spec.network['arch']} (backbone '{net_spec.name}')",
        "network": net_spec.network,
        "input": net_spec.input,
        "output": net_spec.output,
        "weights": weights.name,
        "sha256": sha256_file(weights),
        "licence": "trained on this machine by the user: the licence of the training images applies",
        "source": f"workbench.training on {when}",
        "input_size": net_spec.input["size"],
        "calibration": "none: the network's own output; validation metrics below are on a held-out part of the "
                       "training folders, not on independent data",
        "card": CARD,
        "training": {
            "backbone": net_spec.name,
            "initialisation": init_note,
            "real_folders": [str(p) for p in config.real],
            "fake_folders": [str(p) for p in config.fake],
            "fakes": "self-blended images made from the real faces" if config.self_blend else "fake folders",
            "faces": config.faces.value if net_spec.family == "deepfake" else None,
            "images": {"real": len(reals), "fake": n_fake, "skipped": len(skipped)},
            "quality_sampling": sampling,
            "augment": asdict(config.augment),
            "epochs": config.epochs, "batch": config.batch, "lr": config.lr,
            "weight_decay": config.weight_decay, "val_fraction": config.val_fraction, "seed": config.seed,
            "device": device,
            "seconds": round(seconds, 1),
            "history": history,
        },
        "validation": metrics,
    }
