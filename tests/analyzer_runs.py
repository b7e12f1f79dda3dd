"""Helpers shared by the analyzer tests: run one analyzer on a file, and read the published
reference files of ../shared/reference (skipping where a machine has none, as CI's)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from workbench.core.media import open_media
from workbench.core.plugin import Analyzer, RunContext, run_analyzer
from workbench.core.results import Heatmap, Result, Status

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


def run_file(analyzer: Analyzer, path: Path, cancel: threading.Event | None = None, **params: object) -> Result:
    return run_analyzer(analyzer, open_media(path), analyzer.params_from(params), RunContext(cancel_event=cancel))


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
