"""A generated dataset on disk: images, masks and an index, byte-identical for a given seed.

Layout: `images/00000.jpg` (the final JPEG bytes when the chain ended with a JPEG save, else
`.png`), `masks/00000.png` (0 / 255, same size), and `index.json` = `header(...)` plus `items`
(image, mask, kind, chain, seed, index, sources, height, width) in index order. A set of named
conditions (`write_conditions`) adds each item's `condition` and the generator's `sample` index.
"""

from __future__ import annotations

import io
import json
import multiprocessing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from workbench.synthetic.conditions import CONDITIONS
from workbench.synthetic.manipulations import GENERATOR_VERSION, KINDS, Recipe, make_sample
from workbench.synthetic.photos import source_photos

FORMAT = 1
INDEX = "index.json"


def header(
    seed: int, n: int, kinds: Sequence[str], recipe: Recipe, photos: Sequence[Path]
) -> dict[str, Any]:
    """Everything that determines the dataset's bytes; two equal headers give equal datasets
    (with the same library versions)."""
    return {
        "format": FORMAT,
        "generator": GENERATOR_VERSION,
        "seed": seed,
        "n": n,
        "kinds": list(kinds),
        "recipe": recipe.describe(),
        "photos": [p.name for p in photos],
    }


def conditions_header(seed: int, n: int, conditions: Sequence[str], photos: Sequence[Path]) -> dict[str, Any]:
    """`header` of a set of named conditions: `n` edited and `n` pristine samples of each."""
    return {
        "format": FORMAT,
        "generator": GENERATOR_VERSION,
        "seed": seed,
        "n": n,
        "conditions": {
            name: {"kind": CONDITIONS[name].kind, "recipe": CONDITIONS[name].recipe.describe()} for name in conditions
        },
        "photos": [p.name for p in photos],
    }


def write_dataset(
    folder: Path,
    seed: int,
    n: int,
    kinds: Sequence[str] = KINDS,
    recipe: Recipe = Recipe(),
    photos: Sequence[Path] | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Generate and write `n` samples to `folder` (created); returns the index it wrote.

    `workers` > 1 generates in parallel processes; the files do not depend on it.
    `progress(done, n)` is called after each sample.
    """
    photos = tuple(photos) if photos is not None else source_photos()
    jobs = [(seed, i, kinds[i % len(kinds)], recipe, photos, {}) for i in range(n)]
    return _write(Path(folder), header(seed, n, kinds, recipe, photos), jobs, workers, progress)


def write_conditions(
    folder: Path,
    seed: int,
    n: int,
    conditions: Sequence[str],
    photos: Sequence[Path],
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Generate and write, for each named condition, samples 0..n−1 of `seed` edited and the same
    samples pristine (file numbers run on across conditions); returns the index it wrote. Every
    condition draws the same hosts and regions, so conditions differ only by the edit and chain."""
    photos = tuple(photos)
    jobs = [
        (seed, i, "pristine" if pristine else CONDITIONS[name].kind, CONDITIONS[name].recipe, photos,
         {"condition": name, "sample": i})
        for name in conditions for pristine in (False, True) for i in range(n)
    ]
    return _write(Path(folder), conditions_header(seed, n, conditions, photos), jobs, workers, progress)


def _write(
    folder: Path, head: dict[str, Any], jobs: list[tuple], workers: int, progress: Callable[[int, int], None] | None
) -> dict[str, Any]:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    jobs = [(number, *job) for number, job in enumerate(jobs)]
    n, items = len(jobs), []
    with _mapper(workers) as mapper:
        for done, (data, suffix, mask_png, item) in enumerate(mapper(_encode, jobs), start=1):
            stem = f"{item['index']:05d}"
            item["image"], item["mask"] = f"images/{stem}{suffix}", f"masks/{stem}.png"
            (folder / item["image"]).write_bytes(data)
            (folder / item["mask"]).write_bytes(mask_png)
            items.append(item)
            if progress is not None:
                progress(done, n)
    index = {**head, "items": items}
    (folder / INDEX).write_text(json.dumps(index, indent=1), encoding="utf-8")
    return index


def read_index(folder: Path) -> dict[str, Any] | None:
    """The dataset's index, or None when there is no complete dataset in `folder`."""
    path = Path(folder) / INDEX
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def load_mask(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L")) > 127


def _encode(
    job: tuple[int, int, int, str, Recipe, tuple[Path, ...], dict[str, Any]],
) -> tuple[bytes, str, bytes, dict[str, Any]]:
    number, seed, index, kind, recipe, photos, labels = job
    sample = make_sample(seed, index, kind, recipe, photos)
    data, suffix = sample.encoded()
    buf = io.BytesIO()
    Image.fromarray(sample.mask.astype(np.uint8) * 255).save(buf, "PNG")
    h, w = sample.mask.shape
    item = {"index": number, "kind": kind, "chain": sample.chain, "seed": seed, "sources": sample.sources,
            "height": h, "width": w, **labels}
    return data, suffix, buf.getvalue(), item


class _mapper:
    """`map` in this process (workers ≤ 1) or an ordered `imap` over a process pool."""

    def __init__(self, workers: int) -> None:
        self._pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else None

    def __enter__(self) -> Callable:
        return map if self._pool is None else lambda f, jobs: self._pool.imap(f, jobs, chunksize=4)

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
