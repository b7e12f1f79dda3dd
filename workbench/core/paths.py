"""Where the application keeps its own files (never beside the evidence)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "ForensicWorkbench"


def data_dir() -> Path:
    """User data folder; `WORKBENCH_DATA_DIR` overrides it (tests, portable installs)."""
    override = os.environ.get("WORKBENCH_DATA_DIR")
    path = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path



def is_within(path: Path, folder: Path) -> bool:
    """True when `path` is `folder` or lies inside it, links resolved (neither needs to exist)."""
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents
