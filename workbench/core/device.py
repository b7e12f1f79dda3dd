"""The compute device of learned models: the user's preference (`auto` = CUDA if present, else Apple
MPS, else CPU), and batch sizes that fit the device's free memory.

Importing torch costs over a second, so callers resolve this off the GUI thread.
"""

from __future__ import annotations

import importlib.util
import os

from workbench.core import preferences

DEVICES = ("auto", "cpu", "cuda", "mps")
"""The values of the `device` preference."""
MEMORY_SHARE = 0.5
"""Share of a GPU's free memory one batch may take: the rest is left to the weights' workspace,
other models cached on the device and other programs."""
MAX_BATCH = 256


def resolve_device(preference: str | None = None) -> tuple[str, str]:
    """(device string for torch, human description for the status bar and reports) for `preference`,
    by default the user's. A device that is asked for but absent gives the CPU, and the description
    says why, so a slow run is never a mystery."""
    preference = preferences.load().device if preference is None else preference
    if preference not in DEVICES:
        return "cpu", f"CPU (unknown device preference {preference!r}; choose one of {', '.join(DEVICES)})"
    if preference == "cpu":
        return "cpu", "CPU (chosen in preferences)"
    if importlib.util.find_spec("torch") is None:
        return "cpu", "CPU (PyTorch not installed: learned models unavailable)"
    import torch

    if preference in ("auto", "cuda") and torch.cuda.is_available():
        return "cuda", f"CUDA: {torch.cuda.get_device_name(0)}"
    if preference in ("auto", "mps") and _mps_available(torch):
        return "mps", "Apple MPS"
    cpu = f"CPU ({torch.get_num_threads()} threads, PyTorch {torch.__version__})"
    if preference == "cuda":
        why = "this PyTorch is built without CUDA" if torch.version.cuda is None else "no CUDA device is visible"
        return "cpu", f"{cpu}: CUDA chosen in preferences, but {why}"
    if preference == "mps":
        return "cpu", f"{cpu}: Apple MPS chosen in preferences, but it is not available here"
    return "cpu", cpu


def _mps_available(torch: object) -> bool:
    mps = getattr(getattr(torch, "backends", None), "mps", None)
    return mps is not None and mps.is_available()


def batch_size(device: str, item_mb: float, default: int, limit: int = MAX_BATCH) -> int:
    """Items per forward pass: on CUDA as many as `MEMORY_SHARE` of the free memory holds at
    `item_mb` each (at least 1, at most `limit`); elsewhere `default` (CPU threads gain nothing from
    bigger batches, and MPS reports no free memory)."""
    if not str(device).startswith("cuda"):
        return default
    import torch

    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return max(1, min(limit, int(free * MEMORY_SHARE / (item_mb * 2**20))))


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity where the OS tells it, else all of them)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
