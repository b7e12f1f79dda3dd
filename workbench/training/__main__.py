"""`python -m workbench.training`: list the backbones, write a tiny generated set to try the pipeline
on, or train a detector into the model store. Errors are one line on stderr and exit code 1, as in `workbench`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workbench.app.cli import positive_float, positive_int
from workbench.core.contributions import PluginError
from workbench.core.models import TEST_MODEL_LABEL, ModelStore
from workbench.core.plugin import ModelUnavailable
from workbench.training.augment import NONE, Augment
from workbench.training.backbones import backbones
from workbench.training.data import FaceSource
from workbench.training.toyset import write_face_crops, write_generated_set


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workbench.training",
                                     description="Train deepfake and AI-generated-image detectors offline.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("backbones", help="the networks that can be trained (of the families plugins contribute)")
    toy = sub.add_parser("toy-set", help="write a tiny generated set (real/, fake/, faces/) to try the pipeline on")
    toy.add_argument("folder", type=Path)
    toy.add_argument("--count", type=positive_int, default=40)
    tr = sub.add_parser("train", help="train a detector and register it in the model store")
    tr.add_argument("--id", required=True, dest="model_id", help="model id (letters, digits, . _ -)")
    tr.add_argument("--backbone", required=True, help="a name from `backbones`")
    tr.add_argument("--real", type=Path, nargs="+", required=True, help="folders of real images (or face crops)")
    tr.add_argument("--fake", type=Path, nargs="*", default=[], help="folders of fake images")
    tr.add_argument("--self-blend", action="store_true", help="make the fakes from the real faces (SBI; deepfake)")
    tr.add_argument("--faces", choices=[f.value for f in FaceSource], default=FaceSource.CROPS.value,
                    help="deepfake: images are face crops, or detect the largest face in each")
    tr.add_argument("--title", default="")
    tr.add_argument("--size", type=positive_int, help="input side in pixels (default: the backbone's)")
    tr.add_argument("--epochs", type=positive_int, default=5)
    tr.add_argument("--batch", type=positive_int, default=16)
    tr.add_argument("--lr", type=positive_float, default=1e-3)
    tr.add_argument("--val-fraction", type=positive_float, default=0.2)
    tr.add_argument("--quality-keep", type=positive_float, default=1.0,
                    help="keep this fraction of the fake images, the most realistic first (quality-based sampling)")
    tr.add_argument("--no-augment", action="store_true", help="train without blur/JPEG/resize/flip augmentation")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--test-model", action="store_true", help=f"label the model '{TEST_MODEL_LABEL}'")
    tr.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "backbones":
            for name, spec in backbones(ModelStore()).items():
                print(f"{name}\t{spec.family}\t{spec.description}")
            return 0
        if args.command == "toy-set":
            real, fake = write_generated_set(args.folder, args.count)
            faces = write_face_crops(args.folder / "faces", args.count)
            print(f"real images: {real}\nfake images: {fake}\nface crops: {faces}")
            return 0
        return run_train(args)
    except (OSError, ValueError, TypeError, ModelUnavailable, PluginError) as exc:
        print(f"python -m workbench.training: error: {exc}", file=sys.stderr)
        return 1


def run_train(args: argparse.Namespace) -> int:
    from workbench.training.train import TrainConfig, train

    config = TrainConfig(
        model_id=args.model_id, backbone=args.backbone, real=args.real, fake=args.fake, title=args.title,
        self_blend=args.self_blend, faces=FaceSource(args.faces), size=args.size, epochs=args.epochs,
        batch=args.batch, lr=args.lr, val_fraction=args.val_fraction, quality_keep=args.quality_keep,
        augment=NONE if args.no_augment else Augment(), seed=args.seed, test_model=args.test_model,
        device=args.device,
    )

    def progress(fraction: float, message: str) -> None:
        print(f"\r{fraction:6.1%} {message:<40}", end="", file=sys.stderr, flush=True)

    try:
        result = train(config, progress=progress)
    finally:
        print(file=sys.stderr)  # end the progress line
    for line in result.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    label = f" [{TEST_MODEL_LABEL}]" if result.manifest["test_model"] else ""
    print(f"registered {result.model_id}{label}: {result.weights}")
    print(json.dumps({"validation": result.metrics}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
