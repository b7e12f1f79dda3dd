"""Named sets of analyzers, shared by the GUI and the CLI: what an investigator runs first.

A preset names analyzer ids; `plan_ids` keeps those that are registered, apply to the item's kind
and (unless asked otherwise) have their models installed, so "Triage" on a video never offers a
JPEG-only method and a detector without weights is left out with a reason, never run on nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.core import registry
from workbench.core.frames import applies_to
from workbench.core.media import MediaKind
from workbench.core.plugin import Analyzer

FUSION_SIGNALS = (
    "ela", "noise_median", "noise_wavelet", "jpeg_ghost", "adq", "nadq", "blk", "cfa", "splicebuster", "noise_trace",
    "copy_move", "copy_move_dense",
)
"""The signal analyzers the project's fusion model was trained on (its manifest lists them, an analyzer read
twice for two of its maps once; a test checks)."""
FACES = ("deepfake.faces", "deepfake.ensemble")


@dataclass(frozen=True)
class Preset:
    name: str
    """Stable id, used by `workbench analyze --preset NAME`."""
    title: str
    description: str
    analyzers: tuple[str, ...]
    search: bool = False
    """Also search the case's reference collection for the item (similar images)."""


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("triage", "Triage",
           "Metadata, the fusion localiser and the signals it fuses, faces and installed detectors: "
           "the first look at any item.",
           ("metadata", "fusion", *FUSION_SIGNALS, *FACES, "synthetic.detector")),
    Preset("full", "Full forgery analysis",
           "Every forgery localiser and detector that applies, learned ones when installed.",
           ("metadata", "ela", "ela_sweep", "noise_wavelet", "noise_median", "jpeg_ghost", "adq", "nadq", "blk",
            "cfa", "splicebuster", "noise_trace", "copy_move", "copy_move_dense", "fusion", "msfusion_dct",
            "msfusion_sb", "msfusion_dct_sb", "omgfuser_score_fusion", "omgfuser_feature_fusion",
            "synthetic.spectrum", "synthetic.detector", *FACES)),
    Preset("video", "Video",
           "Container facts, faces and deepfake votes per frame, copies of the case's reference videos, "
           "and two fast localisers on sampled frames.",
           ("metadata", *FACES, "similarity.video_copy", "ela", "noise_median", "synthetic.detector")),
    Preset("provenance", "Provenance",
           "Where the picture comes from: metadata (Content Credentials, AI-generation markers, GPS), "
           "geolocation with abstention, and similar images in the case's reference collection.",
           ("metadata", "geolocation"), search=True),
)}
DEFAULT_PRESET = "triage"


def preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset '{name}'; available: {', '.join(PRESETS)}") from None


def offered(kind: MediaKind) -> list[Analyzer]:
    """Every registered analyzer that can say something about evidence of this kind."""
    return [a for a in registry.analyzers().values() if applies_to(a, kind)]


def plan_ids(name: str, kinds: set[MediaKind], require_ready: bool = True,
             formats: set[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The preset's analyzer ids that apply to at least one of `kinds` (and of the file `formats`,
    when given), in registry order, and for each one left out the reason (not registered, not for
    this kind or format, model not installed)."""
    chosen, left_out = [], {}
    wanted = preset(name).analyzers
    available = registry.analyzers()
    for analyzer_id in wanted:
        if analyzer_id not in available:
            left_out[analyzer_id] = "not installed (plugin missing or failed to load)"
    for analyzer_id, analyzer in available.items():
        if analyzer_id not in wanted:
            continue
        if not any(applies_to(analyzer, kind) for kind in kinds):
            left_out[analyzer_id] = f"does not apply to {' or '.join(sorted(k.value for k in kinds))} evidence"
        elif formats and analyzer.formats and not formats & analyzer.formats:
            left_out[analyzer_id] = f"reads {' or '.join(sorted(analyzer.formats))} files only"
        elif require_ready and not registry.ready(analyzer):
            left_out[analyzer_id] = "model not installed"
        else:
            chosen.append(analyzer_id)
    return chosen, left_out
