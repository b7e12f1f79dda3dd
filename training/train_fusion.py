"""Train the fusion localiser (plugins/localization/fusion_net.py) on synthetic manipulations.

The full recipe: samples from `workbench.synthetic` (training and validation draw different seeds
AND different source photos), the signal maps computed once by the project's own analyzers (the
same `fusion.signal_inputs` the analyzer uses at inference) into a cache outside the repository,
then AdamW on BCE + Dice (map) and BCE (image label) with random signal dropout, then the
validation metrics, the weights file and its manifest.

    .venv/bin/python training/train_fusion.py            # the committed model (≈ 50 min on 2 cores, first run)
    .venv/bin/python training/train_fusion.py --help     # every knob
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import inspect
import json
import multiprocessing
import pkgutil
import sys
import tempfile
import time
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plugins.localization import fusion  # noqa: E402
from plugins.localization.fusion import SignalSpec  # noqa: E402
from workbench.core import metrics  # noqa: E402
from workbench.core.media import open_media  # noqa: E402
from workbench.core.plugin import Analyzer, RunContext  # noqa: E402
from workbench.synthetic import KINDS, Recipe, make_sample, source_photos  # noqa: E402

DEFAULT_SIGNALS = ("ela", "noise_median", "noise_wavelet", "jpeg_ghost", "adq", "blk", "cfa", "copy_move")
VALIDATION_PHOTOS = ("chelsea.png", "rocket.jpg", "coins.png")
"""Source photos kept out of training: validation measures generalisation to unseen scenes."""
TRAIN_SEED, VAL_SEED = 1, 2
NOT_RECIPE = ("cache", "out", "manifest", "prepare_only", "evaluate", "workers")
"""Command-line options that do not change the weights (left out of the manifest)."""
RECIPE = Recipe(size_range=(256, 448))
"""The generator's defaults with smaller views, so the signals of ~2,000 samples compute in minutes."""
RESAVE_QUALITIES = (75, 80, 85, 90, 95)
"""Extra samples re-saved at the quality of the first save, on the same grid: the default recipe
draws the two qualities independently, so this common case (an edited JPEG saved again with the
same settings, invisible to ADQ, faint in ELA) would otherwise be rare."""


def resave_recipe(quality: int) -> Recipe:
    q = (quality, quality)
    return dataclasses.replace(RECIPE, p_double_jpeg=1.0, p_misaligned=0.0, q1=q, q2=q)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch_setup(args)
    photos = source_photos()
    train_photos = [p for p in photos if p.name not in VALIDATION_PHOTOS]
    val_photos = [p for p in photos if p.name in VALIDATION_PHOTOS]
    specs = signal_specs(args.signals)
    print(f"signals: {', '.join(f'{s.id} {s.version}' for s in specs)}")
    print(f"photos: train {len(train_photos)}, validation {len(val_photos)} ({', '.join(VALIDATION_PHOTOS)})")
    t0 = time.perf_counter()
    train = build_split("train", TRAIN_SEED, args.train, train_photos, specs, args)
    val = build_split("val", VAL_SEED, args.val, val_photos, specs, args)
    train = join([train, *resave_splits("train", TRAIN_SEED, args.resave, train_photos, specs, args)])
    val_resave = join(resave_splits("val", VAL_SEED, args.resave // 5, val_photos, specs, args))
    print(f"data ready in {time.perf_counter() - t0:.0f} s")
    if args.prepare_only:
        return 0
    t1 = time.perf_counter()
    net = load_net(args.evaluate, len(specs), args) if args.evaluate else train_net(train, val, len(specs), args)
    train_s = time.perf_counter() - t1
    metrics = evaluate(net, val, by_group=True)
    print("validation:", json.dumps(metrics))
    only_rgb = evaluate(net, val, present=np.zeros(len(specs), bool))
    print("validation, image only (every signal hidden):", json.dumps(only_rgb))
    metrics["image_only"] = only_rgb
    metrics["same_quality_resave"] = evaluate(net, val_resave)
    print("validation, same-quality re-saves:", json.dumps(metrics["same_quality_resave"]))
    if not args.evaluate:
        write_model(net, specs, metrics, args, train_s)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--signals", default=",".join(DEFAULT_SIGNALS), help="signal analyzer ids (installed ones used)")
    ap.add_argument("--train", type=int, default=1600, help=f"training samples (seed {TRAIN_SEED})")
    ap.add_argument("--val", type=int, default=320, help=f"validation samples (seed {VAL_SEED})")
    ap.add_argument("--resave", type=int, default=400, help="extra same-quality re-save samples (validation: 1/5)")
    ap.add_argument("--crop", type=int, default=256, help="training crop side (px)")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=int, default=16, help="channels at the first U-Net level")
    ap.add_argument("--signal-dropout", type=float, default=0.4, help="chance of hiding each present signal")
    ap.add_argument("--all-dropout", type=float, default=0.1, help="chance of hiding every signal (RGB only)")
    ap.add_argument("--seed", type=int, default=0, help="torch / crop / dropout seed")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--workers", type=int, default=2, help="processes computing the signal maps")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "forensic-workbench" / "fusion")
    ap.add_argument("--prepare-only", action="store_true", help="only generate and cache the samples and signals")
    ap.add_argument("--evaluate", type=Path, help="evaluate this weights file on the validation split; no training")
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "fusion_default.pt", help="weights file")
    ap.add_argument("--manifest", type=Path, default=ROOT / "models" / "fusion_default.json")
    return ap.parse_args(argv)


def torch_setup(args: argparse.Namespace) -> None:
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)


# -- signals ---------------------------------------------------------------------------------------


def discover(analyzer_id: str) -> Analyzer | None:
    """The analyzer with this id: from the registry, else from any module of plugins.localization
    (so a signal can be trained on before it is registered)."""
    found = fusion.find_analyzer(analyzer_id)
    if found is not None:
        return found
    import plugins.localization as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name in ("fusion", "fusion_net", "common"):
            continue
        try:
            module = importlib.import_module(f"plugins.localization.{info.name}")
        except Exception:  # noqa: BLE001 - a module being written by someone else must not stop training
            continue
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Analyzer) and getattr(value, "id", None) == analyzer_id:
                return value()
    return None


def signal_specs(ids: str) -> list[SignalSpec]:
    """The installed signals among `ids`, each with its version and (JSON-safe) default params."""
    specs = []
    for analyzer_id in (s.strip() for s in ids.split(",") if s.strip()):
        analyzer = discover(analyzer_id)
        if analyzer is None:
            print(f"  {analyzer_id}: not installed, left out")
            continue
        params = {k: v.value if isinstance(v, Enum) else v for k, v in dataclasses.asdict(analyzer.Params()).items()}
        specs.append(SignalSpec(analyzer.id, analyzer.version, params))
    return specs


# -- data ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Split:
    rgb: list[np.ndarray]  # H×W×3 uint8
    maps: list[np.ndarray]  # K×H×W float16
    present: np.ndarray  # N×K bool
    masks: list[np.ndarray]  # H×W bool
    kinds: list[str]
    chains: list[str]  # "double JPEG", "JPEG" or "lossless": the compression history


def build_split(
    name: str, seed: int, n: int, photos: list[Path], specs: list[SignalSpec], args: argparse.Namespace,
    recipe: Recipe = RECIPE,
) -> Split:
    """Generate (or read from the cache) `n` samples and their signal maps, one file per signal."""
    key = hashlib.sha256(json.dumps([seed, recipe.describe(), [p.name for p in photos]]).encode()).hexdigest()[:12]
    folder = args.cache / f"{name}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(folder, seed, i, KINDS[i % len(KINDS)], recipe, tuple(photos), tuple(specs)) for i in range(n)]
    t0 = time.perf_counter()
    pool = multiprocessing.get_context("spawn").Pool(args.workers) if args.workers > 1 else None
    try:
        results = pool.imap(cached_sample, jobs, chunksize=4) if pool is not None else map(cached_sample, jobs)
        items = []
        for done, item in enumerate(results, start=1):
            items.append(item)
            if done % 200 == 0 or done == n:
                print(f"  {name}: {done}/{n} samples ({time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        if pool is not None:
            pool.terminate()
    present = np.array([it[2] for it in items], bool).reshape(n, len(specs))
    rate = ", ".join(f"{s.id} {present[:, i].mean():.0%}" for i, s in enumerate(specs))
    print(f"  {name}: signals present: {rate}")
    return Split([it[0] for it in items], [it[1] for it in items], present, [it[3] for it in items],
                 [it[4] for it in items], [it[5] for it in items])


def resave_splits(
    name: str, seed: int, n: int, photos: list[Path], specs: list[SignalSpec], args: argparse.Namespace
) -> list[Split]:
    """`n` same-quality re-saves in all, spread over RESAVE_QUALITIES."""
    per = n // len(RESAVE_QUALITIES)
    return [
        build_split(f"{name}-resave{q}", seed, per, photos, specs, args, resave_recipe(q)) for q in RESAVE_QUALITIES
    ]


def join(splits: list[Split]) -> Split:
    return Split(
        *(sum((getattr(s, f) for s in splits), []) for f in ("rgb", "maps")),
        np.concatenate([s.present for s in splits]),
        *(sum((getattr(s, f) for s in splits), []) for f in ("masks", "kinds", "chains")),
    )


def cached_sample(job: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str, str]:
    """One sample's image, mask and signal maps; each signal is computed once and cached to disk."""
    folder, seed, index, kind, recipe, photos, specs = job
    sample = make_sample(seed, index, kind, recipe, photos)
    shape = sample.mask.shape
    maps = np.zeros((len(specs), *shape), np.float16)
    present = np.zeros(len(specs), bool)
    missing = []
    keys = [spec_key(spec) for spec in specs]
    for k in range(len(specs)):
        path = folder / keys[k] / f"{index:05d}.npz"
        if path.is_file():
            with np.load(path) as cached:
                present[k] = bool(cached["present"])
                maps[k] = cached["map"]
        else:
            missing.append(k)
    if missing:
        data, suffix = sample.encoded()
        with tempfile.TemporaryDirectory() as tmp:
            file = Path(tmp) / f"sample{suffix}"
            file.write_bytes(data)
            media = open_media(file)
            chosen = [specs[k] for k in missing]
            new_maps, new_present, _ = fusion.signal_inputs(media, chosen, shape, RunContext(), lookup=discover)
        for j, k in enumerate(missing):
            path = folder / keys[k] / f"{index:05d}.npz"
            path.parent.mkdir(exist_ok=True)
            np.savez_compressed(path, map=new_maps[j].astype(np.float16), present=new_present[j])
            maps[k], present[k] = new_maps[j], new_present[j]
    return sample.image, maps, present, sample.mask, kind, compression(sample.chain)


def compression(chain: list[str]) -> str:
    if any(step.startswith("jpeg1:") for step in chain):
        return "double JPEG"
    return "JPEG" if any(step.startswith("jpeg:") for step in chain) else "lossless"


def module_source(analyzer_id: str) -> bytes:
    analyzer = discover(analyzer_id)
    return Path(inspect.getsourcefile(type(analyzer))).read_bytes() if analyzer is not None else b""


def source_digest(analyzer_id: str) -> str:
    """SHA-256 of the analyzer's module source: which code made the maps (recorded, for audits)."""
    return hashlib.sha256(module_source(analyzer_id)).hexdigest()


def spec_key(spec: SignalSpec) -> str:
    """Cache folder of one signal: its id, version, parameters and the source of its module (so a
    change to an analyzer's code, even without a version bump, recomputes its maps)."""
    digest = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode() + module_source(spec.id))
    return f"{spec.id}-{spec.version}-{digest.hexdigest()[:10]}"


# -- training --------------------------------------------------------------------------------------


def crop_batch(split: Split, order: np.ndarray, crop: int, rng: np.random.Generator, args: argparse.Namespace):
    """Random crops (reflect-padded up to `crop`, padding excluded from the loss) with signal dropout."""
    import torch

    n, k = len(order), split.present.shape[1]
    x = np.zeros((n, 3 + k, crop, crop), np.float32)
    y = np.zeros((n, 1, crop, crop), np.float32)
    valid = np.zeros((n, 1, crop, crop), np.float32)
    present = split.present[order].copy()
    for b, i in enumerate(order):
        h, w = split.masks[i].shape
        ch, cw = min(crop, h), min(crop, w)
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        rgb = split.rgb[i][y0 : y0 + ch, x0 : x0 + cw].transpose(2, 0, 1).astype(np.float32) / 255.0
        maps = split.maps[i][:, y0 : y0 + ch, x0 : x0 + cw].astype(np.float32)
        stacked = np.concatenate([rgb, maps])
        pad = ((0, 0), (0, crop - ch), (0, crop - cw))
        x[b] = np.pad(stacked, pad, mode="reflect" if ch > crop - ch and cw > crop - cw else "edge")
        y[b, 0, :ch, :cw] = split.masks[i][y0 : y0 + ch, x0 : x0 + cw]
        valid[b, 0, :ch, :cw] = 1.0
    present &= rng.random(present.shape) >= args.signal_dropout
    present[rng.random(n) < args.all_dropout] = False
    label = (y.reshape(n, -1).sum(1) >= 64).astype(np.float32)
    t = torch.from_numpy
    return t(x[:, :3]), t(x[:, 3:]), t(present), t(y), t(valid), t(label)


def losses(logits, image_logit, y, valid, label):
    import torch.nn.functional as F

    bce = (F.binary_cross_entropy_with_logits(logits, y, reduction="none") * valid).sum() / valid.sum()
    prob = logits.sigmoid() * valid
    inter = (prob * y).sum(dim=(1, 2, 3))
    dice = 1 - (2 * inter + 1) / (prob.sum(dim=(1, 2, 3)) + y.sum(dim=(1, 2, 3)) + 1)
    # Dice only on crops that contain manipulated pixels: on pristine crops it cannot be met
    has = (y.sum(dim=(1, 2, 3)) > 0).float()
    dice = (dice * has).sum() / has.sum().clamp(min=1)
    image = F.binary_cross_entropy_with_logits(image_logit, label)
    return bce, dice, image


def train_net(train: Split, val: Split, num_signals: int, args: argparse.Namespace):
    import torch

    from plugins.localization.fusion_net import FusionConfig, FusionNet, parameter_count

    net = FusionNet(FusionConfig(num_signals=num_signals, width=args.width))
    print(f"parameters: {parameter_count(net):,}")
    steps_per_epoch = len(train.rgb) // args.batch
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.15
    )
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        net.train()
        perm = rng.permutation(len(train.rgb))
        totals = np.zeros(3)
        for step in range(steps_per_epoch):
            batch = crop_batch(train, perm[step * args.batch : (step + 1) * args.batch], args.crop, rng, args)
            rgb, maps, present, y, valid, label = batch
            logits, image_logit = net(rgb, maps, present)
            bce, dice, image = losses(logits, image_logit, y, valid, label)
            loss = bce + dice + 0.5 * image
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            totals += [bce.item(), dice.item(), image.item()]
        bce_m, dice_m, img_m = totals / steps_per_epoch
        quick = evaluate(net, val, limit=100)
        print(
            f"epoch {epoch + 1}/{args.epochs}: bce {bce_m:.4f} dice {dice_m:.4f} image {img_m:.4f} | "
            f"val(100) pixel F1 {quick['pixel_f1']:.3f} AUC {quick['pixel_auc']:.3f} "
            f"image AUC {quick['image_auc']:.3f} | {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    return net.eval()


def load_net(path: Path, num_signals: int, args: argparse.Namespace):
    import torch

    from plugins.localization.fusion_net import FusionConfig, FusionNet

    net = FusionNet(FusionConfig(num_signals=num_signals, width=args.width))
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return net.eval()


# -- evaluation ------------------------------------------------------------------------------------


def predict_sample(net, split: Split, i: int, present: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    rgb = split.rgb[i].transpose(2, 0, 1).astype(np.float32) / 255.0
    mask = split.present[i] if present is None else present
    return fusion.predict(net, rgb, split.maps[i].astype(np.float32), mask, "cpu")


def evaluate(
    net, split: Split, limit: int | None = None, present: np.ndarray | None = None, by_group: bool = False
) -> dict[str, Any]:
    """workbench.core.metrics conventions: pixel metrics are means over the manipulated samples
    (F1 at 0.5, best-threshold F1, per-image AUC); image AUC ranks the image head's probability.
    `by_group` adds the same metrics per manipulation kind and per compression history."""
    net.eval()
    n = len(split.rgb) if limit is None else min(limit, len(split.rgb))
    rows = []
    for i in range(n):
        heat, prob = predict_sample(net, split, i, present)
        rows.append((metrics.pixel_metrics(heat, split.masks[i]), prob, split.kinds[i], split.chains[i]))
    out: dict[str, Any] = summarise(rows)
    if by_group:
        for kind in KINDS[:-1]:
            out[kind] = summarise([r for r in rows if r[2] in (kind, "pristine")])
        for chain in ("double JPEG", "JPEG", "lossless"):
            out[chain] = summarise([r for r in rows if r[3] == chain])
    return out


def summarise(rows: list[tuple[dict[str, float], float, str, str]]) -> dict[str, float]:
    out = {f"pixel_{name}": round(metrics.mean_defined(r[0][name] for r in rows)[0], 4)
           for name in ("f1", "best_f1", "auc")}
    out["image_auc"] = round(metrics.image_auc((r[1] for r in rows), (r[2] != "pristine" for r in rows)), 4)
    out["samples"] = len(rows)
    return out


# -- output ----------------------------------------------------------------------------------------


def write_model(net, specs: list[SignalSpec], metrics: dict[str, float], args: argparse.Namespace, train_s: float):
    """The weights (a plain state dict) and, beside them, the manifest the model store reads."""
    import torch

    from plugins.localization.fusion_net import parameter_count

    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), args.out)
    sha = hashlib.sha256(args.out.read_bytes()).hexdigest()
    size_mb = args.out.stat().st_size / 1e6
    print(f"wrote {args.out} ({size_mb:.2f} MB, sha256 {sha}); training {train_s:.0f} s")
    manifest = {
        "id": fusion.MODEL_ID,
        "title": "Fusion localiser (learned, OMG-Fuser-style), trained by the project",
        "architecture": (
            f"plugins.localization.fusion_net:FusionNet (width {args.width}): a stem shared by the signal maps "
            "(+ per-signal embedding), masked mean ‖ max over the present signals, an RGB stem, a 3-level "
            f"U-Net at 1/4 resolution and an image-level head; {parameter_count(net):,} parameters"
        ),
        "weights": args.out.name,
        "sha256": sha,
        "licence": "Apache-2.0 (trained by the project)",
        "source": "training/train_fusion.py",
        "input_size": [fusion.FusionParams().working_size],
        "calibration": "none — scores are the network's sigmoid outputs on synthetic data",
        "card": "plugins/localization/fusion.md",
        "network": net.config.to_dict(),
        "signals": [s.to_dict() for s in specs],
        "training": {
            "generator": "workbench.synthetic.make_sample",
            "recipe": RECIPE.describe(),
            "kinds": list(KINDS),
            "train": {"seed": TRAIN_SEED, "samples": args.train},
            "validation": {"seed": VAL_SEED, "samples": args.val, "photos": list(VALIDATION_PHOTOS)},
            "same_quality_resaves": {
                "qualities": list(RESAVE_QUALITIES), "recipe": "RECIPE with p_double_jpeg=1, p_misaligned=0, q1=q2",
                "train": args.resave, "validation": args.resave // 5,
            },
            "hyper_parameters": {k: v for k, v in vars(args).items() if k not in NOT_RECIPE},
            "training_seconds": round(train_s),
            "signal_sources": {s.id: source_digest(s.id) for s in specs},
        },
        "validation": metrics,
    }
    args.manifest.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.manifest}")


if __name__ == "__main__":
    raise SystemExit(main())
