"""The compute device: `auto` = CUDA if present, else Apple MPS, else CPU.

Importing torch costs over a second, so callers resolve this off the GUI thread.
"""

from __future__ import annotations

import importlib.util
import os


def resolve_device(preference: str = "auto") -> tuple[str, str]:
    """(device string for torch, human description for the status bar and reports)."""
    if preference == "cpu":
        return "cpu", "CPU (chosen in preferences)"
    if importlib.util.find_spec("torch") is None:
        return "cpu", "CPU (PyTorch not installed: learned models unavailable)"
    import torch

    if torch.cuda.is_available():
        return "cuda", f"CUDA: {torch.cuda.get_device_name(0)}"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps", "Apple MPS"
    return "cpu", f"CPU ({torch.get_num_threads()} threads, PyTorch {torch.__version__})"


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity where the OS tells it, else all of them)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
