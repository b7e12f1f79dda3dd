"""Helpers shared by the analyzer tests: run one analyzer on a file, and read the published
reference files of ../shared/reference (skipping where a machine has none, as CI's)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workbench.app.sample import decode, jpeg_bytes, load_photo
from workbench.core.media import open_media
from workbench.core.plugin import Analyzer, RunContext, run_analyzer
from workbench.core.results import Heatmap, Result, Status

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


def bundle_model(monkeypatch: pytest.MonkeyPatch, module: Any, folder: Path, manifest: Path,
                 weights: bytes | None) -> None:
    """Point `module.model_store` at a bundled folder under `folder` holding a copy of `manifest` and,
    unless None, `weights` under the manifest's weights name (missing and altered files)."""
    from workbench.core.models import ModelStore

    bundled = folder / "bundled"
    bundled.mkdir()
    (bundled / manifest.name).write_bytes(manifest.read_bytes())
    if weights is not None:
        (bundled / json.loads(manifest.read_text(encoding="utf-8"))["weights"]).write_bytes(weights)
    monkeypatch.setattr(module, "model_store", lambda: ModelStore(user_dir=folder / "user", bundled_dir=bundled))


def run_file(analyzer: Analyzer, path: Path, cancel: threading.Event | None = None, **params: object) -> Result:
    return run_analyzer(analyzer, open_media(path), analyzer.params_from(params), RunContext(cancel_event=cancel))


def write_splice(path: Path, first: int, second: int) -> np.ndarray:
    """A never-compressed patch pasted off the 8×8 grid into a JPEG (quality `first`), saved at
    `second`: the host is compressed twice, the patch once. Returns the exact mask."""
    host, donor = load_photo("astronaut.png")[:256, :256], load_photo("coffee.png")
    image = decode(jpeg_bytes(host, first)).copy()
    image[83:163, 61:161] = donor[100:180, 150:250]
    mask = np.zeros(image.shape[:2], bool)
    mask[83:163, 61:161] = True
    path.write_bytes(jpeg_bytes(image, second))
    return mask


def heatmap_of(analyzer: Analyzer, path: Path, **params: object) -> Heatmap:
    result = run_file(analyzer, path, **params)
    assert result.status is Status.OK, result.message
    assert isinstance(result, Heatmap)
    return result


def reference_json(relative: str) -> Any:
    """A JSON file of ../shared/reference; the test is skipped where it is absent."""
    path = REFERENCE / relative
    if not path.is_file():
        pytest.skip(f"reference file not found at {path}")
    return json.loads(path.read_text(encoding="utf-8"))
