"""Named conditions: one kind of edit under one processing chain each, as evidence arrives.

The generator's default recipe mixes every chain at random, which averages strong cases with
hopeless ones; an investigator needs to know how each map does in a given situation ("a JPEG
edited and saved again", "a photo that went through a platform"). Each condition pairs a kind of
manipulation with a recipe that applies exactly one chain; its pristine counterpart is the same
sample (host, region, chain) without the edit, so false alarms are measured under the same chain.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.synthetic.manipulations import CLEAN, Recipe, Sample, make_sample


@dataclass(frozen=True)
class Condition:
    name: str
    kind: str
    """The manipulation: splice, copy_move or removal."""
    recipe: Recipe
    description: str

    def sample(self, seed: int, index: int, pristine: bool, photos: Sequence[Path] | None = None) -> Sample:
        """Sample `index`: the edit under this chain, or (pristine) the same host and chain unedited."""
        return make_sample(seed, index, "pristine" if pristine else self.kind, self.recipe, photos)


def _chain(**changes: object) -> Recipe:
    """CLEAN (no post-processing) with these changes."""
    return dataclasses.replace(CLEAN, **changes)


ONE_SAVE = {"p_jpeg": 1.0, "jpeg_quality": (75, 95)}
CAMERA_THEN_EDIT = {"p_double_jpeg": 1.0, "q1": (60, 80), "q2": (88, 96)}

CONDITIONS: dict[str, Condition] = {c.name: c for c in (
    Condition("double_jpeg", "splice", _chain(**CAMERA_THEN_EDIT, p_misaligned=0.0),
              "aligned double JPEG: camera save q60–80, splice, save q88–96"),
    Condition("double_jpeg_shifted", "splice", _chain(**CAMERA_THEN_EDIT, p_misaligned=1.0),
              "the same, cropped by 1–7 px before the second save (the two 8×8 grids differ)"),
    Condition("splice_jpeg", "splice", _chain(**ONE_SAVE),
              "splice into a resampled photo, one JPEG save q75–95"),
    Condition("splice_platform", "splice",
              _chain(p_edit_jpeg=1.0, edit_quality=(75, 95), p_resize=1.0, resize=(0.5, 0.75),
                     p_jpeg=1.0, jpeg_quality=(70, 85)),
              "that splice saved once (q75–95), then resized ×0.5–0.75 and re-saved q70–85, as platforms do"),
    Condition("splice_matched_crop", "splice",
              _chain(p_soft_edge=1.0, p_colour_match=1.0, p_crop=1.0, **ONE_SAVE),
              "colour-matched splice with a feathered edge, cropped to 70–95 % of each side after the "
              "edit (the grid moves), one save q75–95"),
    Condition("png_jpeg_patch", "splice", _chain(p_donor_jpeg=1.0, donor_quality=(50, 70)),
              "PNG holding a pasted patch with its own JPEG q50–70 history, off the host's grid"),
    Condition("copy_move_rotated", "copy_move",
              _chain(p_rotate_scale=1.0, rotation_deg=(5.0, 20.0), scale=(0.9, 1.15), **ONE_SAVE),
              "copy-move rotated 5–20° and scaled ×0.9–1.15, one save q75–95"),
    Condition("inpainting", "removal", _chain(**ONE_SAVE),
              "object removed by OpenCV inpainting (Telea or Navier–Stokes), one save q75–95"),
    Condition("generative_fill", "removal", _chain(p_generative_fill=1.0, **ONE_SAVE),
              "object removed as a generative inpainter does it (smooth coarse fill, faint grain, "
              "feathered), one save q75–95"),
)}
"""The six conditions of issue 15 (double_jpeg, splice_jpeg, splice_platform, copy_move_rotated,
png_jpeg_patch, inpainting) and three more: a misaligned double JPEG, a colour-matched splice
cropped after the edit, an AI-style fill. Splices always paste a resampled view of another photo."""
