"""Synthetic manipulations with exact masks, made from real photos and reproducible by seed.

Qt-free and core-like (numpy, OpenCV, Pillow, workbench.core): used to train the learned fusion
localiser and by `bench/localization.py`.
"""

from workbench.synthetic.conditions import CONDITIONS, Condition
from workbench.synthetic.dataset import read_index, write_conditions, write_dataset
from workbench.synthetic.manipulations import CLEAN, KINDS, Recipe, Sample, generate, make_sample
from workbench.synthetic.photos import packaged_photos, source_photos

__all__ = [
    "CLEAN",
    "CONDITIONS",
    "Condition",
    "KINDS",
    "Recipe",
    "Sample",
    "generate",
    "make_sample",
    "read_index",
    "packaged_photos",
    "source_photos",
    "write_conditions",
    "write_dataset",
]
