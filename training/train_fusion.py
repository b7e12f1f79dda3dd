"""Train the fusion localiser (plugins/localization/fusion_net.py) on the named conditions and the
generator's mixed recipe.

The full recipe: samples from `workbench.synthetic` — every named condition (`CONDITIONS`, each edit
followed by its unedited twin: same host view, region and chain), the generator's mixed recipe and
same-quality re-saves — cut from the photos `workbench.synthetic.splits` assigns to training
(validation draws other seeds AND the validation photos; the evaluation photos are never read);
the signal maps computed once by the project's own analyzers (the same `fusion.signal_inputs` the
analyzer uses at inference, at the same working resolution) into a cache outside the repository;
then AdamW on BCE + Dice (map) and BCE (image label) with random signal dropout, the validation
metrics, the weights file and its manifest.

    .venv/bin/python training/train_fusion.py            # the committed model (≈ 80 min on 2 busy cores, first run)
    .venv/bin/python training/train_fusion.py --help     # every knob
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import importlib
import importlib.util
import inspect
import json
import math
import multiprocessing
import pkgutil
import sys
import tempfile
import time
from enum import Enum
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.calibration import Photo, collect  # noqa: E402
from plugins.localization import fusion  # noqa: E402
from plugins.localization.fusion import SignalSpec  # noqa: E402
from workbench.core import metrics  # noqa: E402
from workbench.core.media import open_media  # noqa: E402
from workbench.core.plugin import Analyzer, RunContext  # noqa: E402
from workbench.synthetic import CONDITIONS, KINDS, Recipe, Sample, make_sample, packaged_photos  # noqa: E402
from workbench.synthetic.manipulations import GENERATOR_VERSION  # noqa: E402
from workbench.synthetic.photos import SKIMAGE_PHOTOS  # noqa: E402
from workbench.synthetic.splits import Role, fusion_role  # noqa: E402

DEFAULT_SIGNALS = (
    "ela", "noise_median", "noise_median:noise level", "noise_wavelet", "noise_wavelet:noise level", "jpeg_ghost",
    "adq", "nadq", "blk", "cfa", "splicebuster", "noise_trace", "copy_move", "copy_move_dense",
)
"""Analyzer ids, ":layer" for a layer of the same run (the noise level keeps the direction — too quiet or
too noisy — that the two-sided deviation map drops)."""
TRAIN_SEED, VAL_SEED = 1, 2
NOT_RECIPE = ("cache", "out", "manifest", "prepare_only", "evaluate", "workers", "against_signals", "head_from", "join")
"""Command-line options that do not change the weights (left out of the manifest)."""
SIZE_RANGE = (256, 640)
"""Views a little larger than the working resolution (512) on the long side, so that some are shrunk
as evidence is; the bench's views are 256–768 px."""
RECIPE = Recipe(size_range=SIZE_RANGE)
"""The generator's mixed recipe (splice / copy-move / removal / pristine in turn, random chains)."""
RESAVE_QUALITIES = (75, 80, 85, 90, 95)
"""Extra samples re-saved at the quality of the first save, on the same grid: the mixed recipe draws
the two qualities independently, so this common case (an edited JPEG saved again with the same
settings, invisible to ADQ, faint in ELA) would otherwise be rare."""


@dataclasses.dataclass(frozen=True)
class Part:
    """One block of samples: `kind` edits under `recipe`, each followed by its unedited twin (same host
    view, region and chain), or with `kind` None the generator's kinds in turn."""

    name: str
    recipe: Recipe
    kind: str | None = None

    def sample(self, seed: int, i: int, photos: tuple[Path, ...]) -> Sample:
        if self.kind is None:
            return make_sample(seed, i, KINDS[i % len(KINDS)], self.recipe, photos)
        return make_sample(seed, i // 2, "pristine" if i % 2 else self.kind, self.recipe, photos)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind or "mixed", "recipe": self.recipe.describe()}


def parts() -> list[Part]:
    """Every named condition (at the training view sizes), the mixed recipe, the same-quality re-saves."""
    conditions = [Part(c.name, dataclasses.replace(c.recipe, size_range=SIZE_RANGE), c.kind)
                  for c in CONDITIONS.values()]
    resaves = [Part(f"resave_q{q}", dataclasses.replace(
        RECIPE, p_double_jpeg=1.0, p_misaligned=0.0, q1=(q, q), q2=(q, q))) for q in RESAVE_QUALITIES]
    return [*conditions, Part("mixed", RECIPE), *resaves]


def counts(part: Part, args: argparse.Namespace, validation: bool) -> int:
    """Samples of `part`: per condition (edits + twins), mixed, or a share of the re-saves."""
    if part.name == "mixed":
        n = args.mixed
    elif part.name.startswith("resave_"):
        n = args.resave // len(RESAVE_QUALITIES)
    else:
        n = args.per_condition
    return max(2, n // args.val_fraction) if validation else n


def split_photos() -> dict[Role, dict[str, Path]]:
    """Training and validation photos by key (`workbench.synthetic.splits`) among scikit-image's photos
    and the calibration bench's natural photos found here."""
    catalogue, _ = collect()
    skimage = [Photo("scikit-image", p) for p in packaged_photos() if p.name in SKIMAGE_PHOTOS]
    found = {p.key: p.path for p in [*skimage, *catalogue]}
    return {role: {key: path for key, path in found.items() if fusion_role(key) == role}
            for role in ("train", "validation")}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    origin = provenance(args)  # before any work: a --head-from or --join file no manifest describes stops here
    torch_setup(args)
    photos = split_photos()
    specs = signal_specs(args.signals)
    print(f"signals: {', '.join(f'{s.label} {s.version}' for s in specs)}")
    for role, keys in photos.items():
        print(f"{role} photos ({len(keys)}): {', '.join(keys)}")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.workers, initializer=one_thread) as pool:
        train, val = (
            join([build_split(name, seed * 100 + j, counts(part, args, name == "val"), part, [*photos[role].values()],
                              specs, args, pool) for j, part in enumerate(parts())])
            for name, seed, role in (("train", TRAIN_SEED, "train"), ("val", VAL_SEED, "validation"))
        )
    seconds["data"] = time.perf_counter() - t0
    print(f"data ready in {seconds['data']:.0f} s: {len(train.samples)} training, {len(val.samples)} validation")
    if args.prepare_only:
        return 0
    t1 = time.perf_counter()
    trained = args.evaluate or args.head_from
    if args.join:
        net = joined(args.join, len(specs), args)
    else:
        net = load_net(trained, len(specs), args) if trained else train_net(train, val, len(specs), args)
    if args.evaluate and args.against_signals:
        for name, split, every in (("validation", val, 1), ("training (every third sample)", train, 3)):
            print(f"\n{name}:\n" + "\n".join(against_signals(net, split, [s.label for s in specs], every)))
        return 0
    if not args.join:
        seconds["training"] = time.perf_counter() - t1
    if not (args.evaluate or args.join):
        t1 = time.perf_counter()
        net = refit_head(net, train, args)
        seconds["head"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    found = evaluate(net, val, by_group=True)
    print("validation:", json.dumps(found))
    found["image_only"] = evaluate(net, val, present=np.zeros(len(specs), bool))
    print("validation, image only (every signal hidden):", json.dumps(found["image_only"]))
    found["signal_subsets"] = evaluate(net, val, present=dropped(val.present, np.random.default_rng(args.seed), args))
    print("validation, signals dropped as in training:", json.dumps(found["signal_subsets"]))
    seconds["validation"] = time.perf_counter() - t2
    if not args.evaluate:
        write_model(net, specs, found, args, seconds, photos, origin)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--signals", default=",".join(DEFAULT_SIGNALS), help="signal analyzer ids[:layer] (installed ones)")
    ap.add_argument("--per-condition", type=int, default=200, help="training samples per named condition (half twins)")
    ap.add_argument("--mixed", type=int, default=400, help="training samples of the mixed recipe")
    ap.add_argument("--resave", type=int, default=100, help="training same-quality re-saves, over the qualities")
    ap.add_argument("--val-fraction", type=int, default=6, help="validation samples = training samples / this")
    ap.add_argument("--working-size", type=int, default=fusion.FusionParams().working_size,
                    help="long side the samples and maps are shrunk to, as at inference")
    ap.add_argument("--crop", type=int, default=256, help="training crop side (px)")
    ap.add_argument("--epochs", type=int, default=5,
                    help="5 for the committed model (8 planned; see training/README.md)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=int, default=16, help="channels at the first U-Net level")
    ap.add_argument("--signal-dropout", type=float, default=0.4, help="chance of hiding each present signal")
    ap.add_argument("--all-dropout", type=float, default=0.1, help="chance of hiding every signal (RGB only)")
    ap.add_argument("--mirror", action="store_true", help="mirror each training crop at random (both axes)")
    ap.add_argument("--seed", type=int, default=0, help="torch / crop / dropout seed")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--workers", type=int, default=2, help="processes computing the signal maps")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "forensic-workbench" / "fusion")
    ap.add_argument("--prepare-only", action="store_true", help="only generate and cache the samples and signals")
    ap.add_argument("--evaluate", type=Path, help="evaluate this weights file on the validation split; no training")
    ap.add_argument("--against-signals", action="store_true",
                    help="with --evaluate: only print each part's mean pixel AUC of the fusion beside each input "
                         "signal's own map, on the validation split and every third training sample")
    ap.add_argument("--head-from", type=Path,
                    help="take the U-Net of this weights file (trained by this script) and only fit the image head")
    ap.add_argument("--join", type=Path, nargs="+", metavar="WEIGHTS",
                    help="no training: join these weights files (trained by this script, each with its manifest "
                         "beside it) into one model that averages their readings (fusion_net.FusionEnsemble)")
    ap.add_argument("--head-steps", type=int, default=50,
                    help="full-batch steps of the image head's fit (50: the least validation log-loss among 25–300 "
                         "at the same AUC; longer fits grow overconfident)")
    ap.add_argument("--head-subsets", type=int, default=3,
                    help="extra reads of each image in the head's fit, signals dropped as in training: the image "
                         "score must hold for any subset of signals a user chooses")
    ap.add_argument("--head-lr", type=float, default=1e-2)
    ap.add_argument("--head-decay", type=float, default=1e-3, help="weight decay of the image head's fit")
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
    """The installed signals among `ids` ("id" or "id:layer"), each with its version and (JSON-safe)
    default params."""
    specs = []
    for item in (s.strip() for s in ids.split(",") if s.strip()):
        analyzer_id, _, layer = item.partition(":")
        analyzer = discover(analyzer_id)
        if analyzer is None:
            print(f"  {analyzer_id}: not installed, left out")
            continue
        params = {k: v.value if isinstance(v, Enum) else v for k, v in dataclasses.asdict(analyzer.Params()).items()}
        specs.append(SignalSpec(analyzer.id, analyzer.version, params, layer or None))
    return specs


# -- data ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Split:
    """Samples as uint8 C×h×w views into a memory-mapped pack: RGB (3), the K maps × 255, the mask × 255;
    read crop by crop, so thousands of samples do not have to fit in memory."""

    samples: list[np.ndarray]
    present: np.ndarray  # N×K bool
    kinds: list[str]
    chains: list[str]  # "double JPEG", "JPEG" or "lossless": the compression history
    parts: list[str]


def build_split(
    name: str, seed: int, n: int, part: Part, photos: list[Path], specs: list[SignalSpec], args: argparse.Namespace,
    pool: Any,
) -> Split:
    """Generate (or read from the cache) `n` samples of `part` and their signal maps, one file per signal
    and sample, then pack them (once per set of signals) into one uint8 file."""
    key = hashlib.sha256(json.dumps([seed, part.describe(), [p.name for p in photos], GENERATOR_VERSION,
                                     args.working_size]).encode()).hexdigest()[:12]
    folder = args.cache / f"{name}-{part.name}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    keys = [spec_key(spec) for spec in specs]
    pack_key = hashlib.sha256(json.dumps([n, keys]).encode()).hexdigest()[:12]
    pack, index = folder / f"pack-{pack_key}.u8", folder / f"pack-{pack_key}.json"
    if not index.is_file():
        write_pack(pack, index, [(folder, seed, i, part, tuple(photos), tuple(specs), args.working_size)
                                 for i in range(n)], f"{name} {part.name}", pool)
    meta = json.loads(index.read_text())
    data = np.memmap(pack, np.uint8, mode="r")
    channels = 4 + len(specs)
    samples = [data[o : o + channels * h * w].reshape(channels, h, w) for o, (h, w) in zip(
        meta["offsets"], meta["shapes"], strict=True)]
    present = np.array(meta["present"], bool).reshape(n, len(specs))
    return Split(samples, present, meta["kinds"], meta["chains"], [part.name] * n)


def write_pack(pack: Path, index: Path, jobs: list[tuple], label: str, pool: Any) -> None:
    """Compute (or read) every job's sample in the worker `pool` and append it to the pack file."""
    t0 = time.perf_counter()
    meta: dict[str, list] = {"offsets": [], "shapes": [], "present": [], "kinds": [], "chains": []}
    offset = 0
    with pack.open("wb") as out:
        for packed, present, kind, chain in pool.imap(cached_sample, jobs, chunksize=2):
            out.write(packed.tobytes())
            meta["offsets"].append(offset)
            meta["shapes"].append(list(packed.shape[1:]))
            meta["present"].append(present.tolist())
            meta["kinds"].append(kind)
            meta["chains"].append(chain)
            offset += packed.size
    rates = np.mean(meta["present"], axis=0)
    print(f"  {label}: {len(jobs)} samples ({time.perf_counter() - t0:.0f} s); signals present: "
          + " ".join(f"{r:.0%}" for r in rates), flush=True)
    index.write_text(json.dumps(meta))


def one_thread() -> None:
    """Worker processes run single-threaded, so two of them share two cores without oversubscribing."""
    cv2.setNumThreads(1)


def cached_sample(job: tuple) -> tuple[np.ndarray, np.ndarray, str, str]:
    """One sample packed at the working resolution (RGB, maps, mask as uint8 C×h×w), which signals are
    present, its kind and compression; each signal map is computed once and cached to disk."""
    folder, seed, index, part, photos, specs, working_size = job
    sample = part.sample(seed, index, photos)
    shape = fusion.working_shape(*sample.mask.shape, working_size)
    maps = np.zeros((len(specs), *shape), np.float32)
    present = np.zeros(len(specs), bool)
    missing = []
    for k, spec in enumerate(specs):
        path = folder / spec_key(spec) / f"{index:05d}.npz"
        if path.is_file():
            with np.load(path) as cached:
                present[k] = bool(cached["present"])
                maps[k] = cached["map"]
        else:
            missing.append(k)
    data, suffix = sample.encoded()
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / f"sample{suffix}"
        file.write_bytes(data)
        media = open_media(file)
        rgb = np.round(fusion.rgb_input(media, shape) * 255).astype(np.uint8)
        chosen = [specs[k] for k in missing]
        new_maps, new_present, _ = fusion.signal_inputs(media, chosen, shape, RunContext(), lookup=discover)
    for j, k in enumerate(missing):
        path = folder / spec_key(specs[k]) / f"{index:05d}.npz"
        path.parent.mkdir(exist_ok=True)
        np.savez_compressed(path, map=new_maps[j].astype(np.float16), present=new_present[j])
        maps[k], present[k] = new_maps[j], new_present[j]
    mask = fusion.shrink(sample.mask.astype(np.float32), shape) >= 0.5
    packed = np.concatenate([rgb, np.round(maps * 255).astype(np.uint8), (mask * 255).astype(np.uint8)[None]])
    return packed, present, sample.kind, compression(sample.chain)


def join(splits: list[Split]) -> Split:
    return Split(
        sum((s.samples for s in splits), []), np.concatenate([s.present for s in splits]),
        *(sum((getattr(s, f) for s in splits), []) for f in ("kinds", "chains", "parts")),
    )


def compression(chain: list[str]) -> str:
    if any(step.startswith("jpeg1:") for step in chain):
        return "double JPEG"
    return "JPEG" if any(step.startswith(("jpeg:", "jpeg_edit:")) for step in chain) else "lossless"


def module_source(analyzer_id: str) -> bytes:
    analyzer = discover(analyzer_id)
    return Path(inspect.getsourcefile(type(analyzer))).read_bytes() if analyzer is not None else b""


def source_digest(analyzer_id: str) -> str:
    """SHA-256 of the analyzer's module source: which code made the maps (recorded, for audits)."""
    return hashlib.sha256(module_source(analyzer_id)).hexdigest()


@functools.cache
def model_hashes(analyzer_id: str) -> bytes:
    """For a learned signal, the SHA-256 of each model it loads and the source of the module that
    builds its network (the manifest's `architecture`): its maps change with either. Nothing for a
    classical signal, whose cache keys stay as they were."""
    from workbench.core.models import ModelStore

    analyzer = discover(analyzer_id)
    if analyzer is None or not analyzer.models:
        return b""
    store = ModelStore()
    parts = []
    for model_id in analyzer.models:
        manifest = store.manifest(model_id)
        module = (manifest.architecture or "").partition(":")[0]
        spec = importlib.util.find_spec(module) if module.startswith("plugins.") else None
        source = Path(spec.origin).read_bytes() if spec and spec.origin else b""
        parts.append([manifest.sha256, hashlib.sha256(source).hexdigest()])
    return json.dumps(parts).encode()


def spec_key(spec: SignalSpec) -> str:
    """Cache folder of one signal: its id, layer, version, parameters, the source of its module (so a
    change to an analyzer's code, even without a version bump, recomputes its maps) and its weights."""
    digest = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode() + module_source(spec.id)
                            + model_hashes(spec.id))
    layer = "" if spec.layer is None else "-" + spec.layer.replace(" ", "_")
    return f"{spec.id}{layer}-{spec.version}-{digest.hexdigest()[:10]}"


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
        h, w = split.samples[i].shape[1:]
        ch, cw = min(crop, h), min(crop, w)
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        window = np.asarray(split.samples[i][:, y0 : y0 + ch, x0 : x0 + cw], np.float32) / 255.0
        pad = ((0, 0), (0, crop - ch), (0, crop - cw))
        x[b] = np.pad(window[:-1], pad, mode="reflect" if ch > crop - ch and cw > crop - cw else "edge")
        y[b, 0, :ch, :cw] = window[-1] > 0.5
        valid[b, 0, :ch, :cw] = 1.0
        if args.mirror:  # each crop mirrored left-right and/or upside down, maps and mask with it
            axes = tuple(a for a in (1, 2) if rng.random() < 0.5)
            x[b], y[b], valid[b] = (np.flip(v[b], axes) for v in (x, y, valid))
    present = dropped(present, rng, args)
    label = (y.reshape(n, -1).sum(1) >= 64).astype(np.float32)
    t = torch.from_numpy
    return t(x[:, :3]), t(x[:, 3:]), t(present), t(y), t(valid), t(label)


def dropped(present: np.ndarray, rng: np.random.Generator, args: argparse.Namespace) -> np.ndarray:
    """N×K presence with signal dropout: each present signal hidden with probability `--signal-dropout`,
    every signal of a row with `--all-dropout`, so every subset is a trained case."""
    present = present & (rng.random(present.shape) >= args.signal_dropout)
    present[rng.random(len(present)) < args.all_dropout] = False
    return present


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
    steps_per_epoch = len(train.samples) // args.batch
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.15
    )
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        net.train()
        perm = rng.permutation(len(train.samples))
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
        quick = evaluate(net, val, every=5)
        print(
            f"epoch {epoch + 1}/{args.epochs}: bce {bce_m:.4f} dice {dice_m:.4f} image {img_m:.4f} | "
            f"val(1/5) pixel F1 {quick['pixel_f1']:.3f} AUC {quick['pixel_auc']:.3f} "
            f"image AUC {quick['image_auc']:.3f} | {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    return net.eval()


def load_net(path: Path, num_signals: int, args: argparse.Namespace):
    """A weights file this script wrote: one network, or an ensemble (keys "members.<i>.…")."""
    import torch

    from plugins.localization.fusion_net import FusionConfig, build

    state = torch.load(path, map_location="cpu", weights_only=True)
    count = len({k.split(".")[1] for k in state if k.startswith("members.")})
    stats_key = "members.0.head_mean" if count else "head_mean"
    net = build(FusionConfig(num_signals=num_signals, width=args.width, image_stats=stats_key in state,
                             members=count or 1))
    net.load_state_dict(state, strict=True)
    return net.eval()


def joined(paths: list[Path], num_signals: int, args: argparse.Namespace):
    """One ensemble of the single networks in `paths` (`--join`), each kept as it was trained."""
    from plugins.localization.fusion_net import build

    nets = [load_net(path, num_signals, args) for path in paths]
    configs = {net.config for net in nets}
    if len(configs) != 1 or next(iter(configs)).members != 1:
        raise SystemExit(f"--join: single networks of one shape only, got {sorted(map(str, configs))}")
    ensemble = build(dataclasses.replace(nets[0].config, members=len(nets)))
    for slot, net in zip(ensemble.members, nets, strict=True):
        slot.load_state_dict(net.state_dict(), strict=True)
    return ensemble.eval()


def refit_head(net, split: Split, args: argparse.Namespace):
    """The network with a new image head fitted on whole training images: it reads the bottleneck,
    the map's statistics and each input map's `signal_stats`, standardised. The head trained with the
    U-Net saw 256-px crops labelled by their own share of the mask; evidence is judged whole, and a
    copy-move detector's small bright region, decisive for the image, was diluted in its averages
    (validation image AUC on rotated copy-moves 0.59). Each image is read with every signal it has and
    `--head-subsets` more times with signals dropped as in training: a head fitted on all signals only
    answered 1.0 for every image once a user chose a subset. The U-Net is kept as it is."""
    import torch

    from plugins.localization.fusion_net import FusionConfig, FusionNet

    new = FusionNet(FusionConfig(num_signals=net.config.num_signals, width=net.config.width, image_stats=True))
    missing, _ = new.load_state_dict({k: v for k, v in net.state_dict().items()
                                      if not k.startswith(("head.", "head_"))}, strict=False)
    assert all(k.startswith(("head.", "head_")) for k in missing), missing
    new.eval()
    rng = np.random.default_rng(args.seed)
    with torch.inference_mode():
        rows, labels = [], []
        for i, sample in enumerate(split.samples):
            inputs = np.asarray(sample[:-1], np.float32) / 255.0
            subsets = np.repeat(split.present[i][None], 1 + args.head_subsets, axis=0)
            subsets[1:] = dropped(subsets[1:], rng, args)
            for present in subsets:
                *x, _ = fusion.network_inputs(new, inputs[:3], inputs[3:], present, "cpu")
                rows.append(new.map_and_head_input(*x)[1][0])
                labels.append(split.kinds[i] != "pristine")
    features = torch.stack(rows).clone()  # a plain tensor: the head's fit needs it saved for backward
    labels = torch.tensor(labels, dtype=torch.float32)
    new.head_mean.copy_(features.mean(dim=0))
    new.head_std.copy_(features.std(dim=0) + 1e-6)
    torch.manual_seed(args.seed)
    for layer in new.head:
        if isinstance(layer, torch.nn.Linear):
            layer.reset_parameters()
    opt = torch.optim.AdamW(new.head.parameters(), lr=args.head_lr, weight_decay=args.head_decay)
    for _ in range(args.head_steps):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(new.image_logit(features), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"image head refitted on {len(split.samples)} whole training images ({len(rows)} signal subsets): "
          f"loss {loss.item():.4f}", flush=True)
    return new.eval()


# -- evaluation ------------------------------------------------------------------------------------


def predict_sample(net, split: Split, i: int, present: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    inputs = np.asarray(split.samples[i][:-1], np.float32) / 255.0
    mask = split.present[i] if present is None else present[i] if present.ndim == 2 else present
    return fusion.predict(net, inputs[:3], inputs[3:], mask, "cpu")


def evaluate(
    net, split: Split, every: int = 1, present: np.ndarray | None = None, by_group: bool = False
) -> dict[str, Any]:
    """workbench.core.metrics conventions: pixel metrics are means over the manipulated samples
    (F1 at 0.5, best-threshold F1, per-image AUC); image AUC ranks the image head's score against the
    pristine samples of the same group. `present` (K, or N×K per sample) overrides which signals are
    read; `every` > 1 reads one sample in so many (a quick look); `by_group` adds
    the same metrics per part (condition, mixed recipe, re-saves) and per compression."""
    net.eval()
    rows = []
    for i in range(0, len(split.samples), every):
        heat, prob = predict_sample(net, split, i, present)
        truth = split.samples[i][-1] > 127
        group = "resave" if split.parts[i].startswith("resave_") else split.parts[i]
        rows.append((metrics.pixel_metrics(heat, truth), prob, split.kinds[i], split.chains[i], group))
    out: dict[str, Any] = summarise(rows)
    if by_group:
        for group in dict.fromkeys(r[4] for r in rows):
            out[group] = summarise([r for r in rows if r[4] == group])
        for chain in ("double JPEG", "JPEG", "lossless"):
            out[chain] = summarise([r for r in rows if r[3] == chain])
    return out


def against_signals(net, split: Split, labels: list[str], every: int) -> list[str]:
    """A Markdown table: per part, the mean pixel AUC over its edited samples of the fusion and of each
    input signal's map read alone (where present): does the fusion beat its best input, and is a weak
    condition weak in the signals already?"""
    aucs: dict[str, dict[str, list[float]]] = {}
    for i in range(0, len(split.samples), every):
        truth = split.samples[i][-1] > 127
        if split.kinds[i] == "pristine" or truth.all() or not truth.any():
            continue
        row = aucs.setdefault(split.parts[i], {name: [] for name in ["fusion", *labels]})
        row["fusion"].append(metrics.roc_auc(predict_sample(net, split, i)[0], truth))
        for k, label in enumerate(labels):
            if split.present[i][k]:
                row[label].append(metrics.roc_auc(split.samples[i][3 + k].astype(np.float32), truth))
    head = ["part", "n", "fusion", *labels]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for part, row in aucs.items():
        cells = [f"{np.mean(v):.3f}" if v else "–" for v in row.values()]
        lines.append(f"| {part} | {len(row['fusion'])} | " + " | ".join(cells) + " |")
    return lines


def summarise(rows: list[tuple[dict[str, float], float, str, str, str]]) -> dict[str, float]:
    out = {f"pixel_{name}": round(metrics.mean_defined(r[0][name] for r in rows)[0], 4)
           for name in ("f1", "best_f1", "auc")}
    auc = metrics.image_auc((r[1] for r in rows), (r[2] != "pristine" for r in rows))
    out["image_auc"] = round(auc, 4) if math.isfinite(auc) else None  # None: one class only (the re-saves)
    out["samples"] = len(rows)
    return out


# -- output ----------------------------------------------------------------------------------------


def provenance(args: argparse.Namespace) -> dict[str, Any]:
    """Where the weights came from when this run did not train them all, for the manifest's training
    record: with --head-from the U-Net's file ("unet_from"), with --join each member's ("members")."""
    if args.join:
        return {"members": [weights_origin(path, None) for path in args.join]}
    return {"unet_from": weights_origin(args.head_from, args.manifest)} if args.head_from else {}


def weights_origin(weights: Path, fallback: Path | None) -> dict[str, Any]:
    """A weights file's SHA-256 and the training record of its manifest (beside it, else `fallback`),
    which must describe that very file."""
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    beside = weights.with_suffix(".json")
    manifest = beside if beside.is_file() or fallback is None else fallback
    if not manifest.is_file():
        also = f" nor at {fallback}" if fallback else ""
        raise SystemExit(f"{weights}: no manifest beside it ({beside.name}){also}")
    earlier = json.loads(manifest.read_text(encoding="utf-8"))
    if earlier.get("sha256") != sha:
        raise SystemExit(f"{manifest} does not describe {weights} (SHA-256 differs)")
    training = earlier["training"]
    return {"sha256": sha, **{k: training[k] for k in ("hyper_parameters", "stage_seconds", "unet_from", "members")
                              if k in training}}


def write_model(
    net, specs: list[SignalSpec], found: dict[str, Any], args: argparse.Namespace, seconds: dict[str, float],
    photos: dict[Role, dict[str, Path]], origin: dict[str, Any],
) -> None:
    """The weights (a plain state dict) and, beside them, the manifest the model store reads."""
    import torch

    from plugins.localization.fusion_net import parameter_count

    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), args.out)
    sha = hashlib.sha256(args.out.read_bytes()).hexdigest()
    size_mb = args.out.stat().st_size / 1e6
    print(f"wrote {args.out} ({size_mb:.2f} MB, sha256 {sha}); stage seconds: {seconds}")
    manifest = {
        "id": fusion.MODEL_ID,
        "title": "Fusion localiser (learned, OMG-Fuser-style), trained by the project",
        "architecture": (
            f"plugins.localization.fusion_net:FusionNet (width {args.width}): a stem shared by the signal maps "
            "(+ per-signal embedding), masked mean ‖ max over the present signals, an RGB stem, a 3-level "
            "U-Net at 1/4 resolution and an image-level head"
            + (f"; {net.config.members} such networks trained apart, their readings averaged"
               if net.config.members > 1 else "")
            + f"; {parameter_count(net):,} parameters"
        ),
        "weights": args.out.name,
        "sha256": sha,
        "licence": "Apache-2.0 (trained by the project)",
        "source": "training/train_fusion.py",
        "input_size": [args.working_size],
        "calibration": "plugins/localization/calibration/fusion.json (rank among unedited photos held out from "
                       "training; python -m bench.calibration); the score itself is the networks' mean sigmoid",
        "card": "plugins/localization/fusion.md",
        "network": net.config.to_dict(),
        "signals": [s.to_dict() for s in specs],
        "training": {
            "generator": "workbench.synthetic.make_sample",
            "photo_split": {
                "rule": "workbench/synthetic/splits.py (fusion_role)",
                "train": list(photos["train"]), "validation": list(photos["validation"]),
            },
            "parts": [{**part.describe(), "train": {"seed": TRAIN_SEED * 100 + j, "samples": counts(part, args, False)},
                       "validation": {"seed": VAL_SEED * 100 + j, "samples": counts(part, args, True)}}
                      for j, part in enumerate(parts())],
            # a joined model's hyper-parameters and image heads are its members' (`origin`)
            **({} if args.join else {
                "hyper_parameters": {k: v for k, v in vars(args).items() if k not in NOT_RECIPE},
                "image_head": "refit on whole training images with each input map's statistics (refit_head)"}),
            "stage_seconds": {k: round(v) for k, v in seconds.items()},
            "signal_sources": {s.id: source_digest(s.id) for s in specs},
            **origin,
        },
        "validation": found,
    }
    args.manifest.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.manifest}")


if __name__ == "__main__":
    raise SystemExit(main())
