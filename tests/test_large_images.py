"""A large image is analysed within a memory bound: the peak resident memory of a fresh `workbench
analyze` process, with a generous margin (bench/big_image.py measures 100-MP images)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from workbench.app.analysis import LARGE_PIXELS
from workbench.app.sample import load_photo

SIDE = 5200
"""27 MP: above LARGE_PIXELS, so analysed as a 100-MP image is, in a quarter of the time."""
BOUND_MB = 1800
"""Measured (2 cores, Linux): 1.26 GB; 2.33 GB before large images were analysed one analyzer at a
time with their results stored as they come (JPEG ghosts kept every quality's errors, side-by-side
analyses, every result kept to the end); the process with its libraries alone takes 0.1 GB."""


@pytest.mark.skipif(not hasattr(os, "wait4"), reason="reads the child's peak memory with os.wait4 (POSIX)")
def test_a_large_image_is_analysed_within_a_memory_bound(tmp_path: Path) -> None:
    assert SIDE * SIDE > LARGE_PIXELS
    photo = cv2.resize(load_photo("astronaut.png"), (SIDE, SIDE), interpolation=cv2.INTER_LINEAR)
    photo += np.random.default_rng(0).integers(0, 3, photo.shape, dtype=np.uint8)  # grain: no flat areas
    path = tmp_path / "large.jpg"
    assert cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    del photo
    env = {**os.environ, "WORKBENCH_DATA_DIR": str(tmp_path / "data")}
    with open(tmp_path / "log.txt", "w+", encoding="utf-8") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "workbench", "analyze", str(path), "--analyzers", "ela,noise_wavelet,jpeg_ghost,blk",
             "--case", str(tmp_path / "case")], stdout=log, stderr=log, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        log.seek(0)
        assert child.returncode == 0, log.read()
    peak_mb = usage.ru_maxrss / (1 << 20 if sys.platform == "darwin" else 1 << 10)  # bytes on macOS, kB on Linux
    assert peak_mb < BOUND_MB
