"""`workbench clipping FILE...`: the share of clipped pixels of each image, without the GUI."""

from __future__ import annotations

import argparse
from pathlib import Path

from lab_clipping.analyzer import clipped
from workbench.api import MediaError, open_media


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", type=Path, nargs="+")
    parser.add_argument("--margin", type=int, default=0, help="levels from 0 and 255 still counted as clipped")


def run(args: argparse.Namespace) -> int:
    status = 0
    for path in args.images:
        try:
            share = clipped(open_media(path).pixels(), args.margin).mean()
        except MediaError as exc:
            print(f"{path}: {exc}")
            status = 1
            continue
        print(f"{path}: {share:.2%} clipped")
    return status
