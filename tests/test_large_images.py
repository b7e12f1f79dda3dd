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
PEAK_OF_CHILD = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=sys.stderr)
_, status, usage = os.wait4(child.pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""
"""Runs the command and prints its peak resident memory. Measured through this small launcher because
Linux counts the resident memory of the process that forked the child into the child's peak: spawned
straight from a pytest process grown to 2 GB by earlier tests, the analysis would 'peak' at 2 GB."""


@pytest.mark.skipif(not hasattr(os, "wait4"), reason="reads the child's peak memory with os.wait4 (POSIX)")
def test_a_large_image_is_analysed_within_a_memory_bound(tmp_path: Path) -> None:
    assert SIDE * SIDE > LARGE_PIXELS
    photo = cv2.resize(load_photo("astronaut.png"), (SIDE, SIDE), interpolation=cv2.INTER_LINEAR)
    photo += np.random.default_rng(0).integers(0, 3, photo.shape, dtype=np.uint8)  # grain: no flat areas
    path = tmp_path / "large.jpg"
    assert cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    del photo
    env = {**os.environ, "WORKBENCH_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "workbench", "analyze", str(path),
               "--analyzers", "ela,noise_wavelet,jpeg_ghost,blk", "--case", str(tmp_path / "case")]
    with open(tmp_path / "log.txt", "w+", encoding="utf-8") as log:
        launcher = subprocess.run([sys.executable, "-c", PEAK_OF_CHILD, *command], stdout=subprocess.PIPE, stderr=log,
                                  env=env, text=True)
        log.seek(0)
        assert launcher.returncode == 0, log.read()
    peak_mb = int(launcher.stdout.split()[-1]) / (1 << 20 if sys.platform == "darwin" else 1 << 10)  # B macOS, kB Linux
    assert peak_mb < BOUND_MB
