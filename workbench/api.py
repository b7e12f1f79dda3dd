"""The plugin API, version `API_VERSION`: everything a plugin may import from the workbench.

Plugins — the built-in families under `plugins/` as much as a lab's own package — import from this
module only (a test checks the built-ins); the rest of `workbench` may change between releases
without notice. A minor version adds names, a major version removes or changes one: a plugin
declares the version it was written for (`Plugin.api`) and one of another major version is refused.
`docs/plugins.md` says how to write, test and ship a plugin.

Qt parts (`QT_NAMES`) are resolved on first use, so that a headless plugin importing this module
does not load Qt.
"""

from __future__ import annotations

import importlib
from typing import Any

from workbench.app.case import DB_NAME as CASE_DB
from workbench.app.case import Case, Evidence, Run
from workbench.app.cli_progress import ProgressLine, say
from workbench.app.jobs import Job
from workbench.app.per_frame import timecode
from workbench.core.array_files import browse_shape, browsing_copy
from workbench.core.claims import Action, Check, Claims, CredentialState, Ingredient, Marker, Outcome
from workbench.core.claims import Manifest as CredentialManifest
from workbench.core.contributions import API_VERSION, Command, Panel, Plugin, ResultTab
from workbench.core.device import batch_size, resolve_device, usable_cores
from workbench.core.hashing import file_digests
from workbench.core.media import (
    DEFAULT_MAX_PIXELS,
    VIDEO_EXTENSIONS,
    Media,
    MediaError,
    MediaKind,
    open_media,
    open_reduced,
)
from workbench.core.models import TEST_MODEL_LABEL, Manifest, ModelState, ModelStore, loaded_model
from workbench.core.plugin import Analyzer, Cancelled, ModelUnavailable, RunContext, param, run_analyzer
from workbench.core.preferences import load as load_preferences
from workbench.core.registry import analyzers
from workbench.core.registry import get as get_analyzer
from workbench.core.render import ascii_text, colorize, time_ticks
from workbench.core.results import Boxes, Facts, Geolocation, Heatmap, Result, Segments, Table, Verdict
from workbench.core.video import Frame, SceneCuts, VideoError, VideoInfo, VideoReader, sample_indices
from workbench.core.video import probe as probe_video
from workbench.core.waiting import computing_shared, wait_for
from workbench.training.backbones import Backbone as TrainingBackbone
from workbench.training.backbones import TrainingFamily

QT_NAMES: dict[str, str] = {
    "ResultView": "workbench.ui.result_views:ResultView",
    "SegmentsTableView": "workbench.ui.result_views:SegmentsTableView",
    "HeatmapView": "workbench.ui.result_views:HeatmapView",
    "ImageView": "workbench.ui.viewer:ImageView",
    "ZOOM_STEP": "workbench.ui.viewer:ZOOM_STEP",
    "to_pixmap": "workbench.ui.images:to_pixmap",
    "to_qimage": "workbench.ui.images:to_qimage",
    "QtJobs": "workbench.ui.qt_jobs:QtJobs",
    "PanelHost": "workbench.ui.hosting:PanelHost",
}
"""Qt helpers for views and panels: name → "module:attribute", imported when first asked for.

* `ResultView`: the frame of a result in the results panel (what a contributed view subclasses);
  `SegmentsTableView`, `HeatmapView`: the views of a `Segments` result (its segments as a table) and
  of a `Heatmap` (score, legend, statistics); a plugin's view may extend them (`add_line`).
* `ImageView`: the zoomable image view of the viewer; `ZOOM_STEP`: its zoom factor per step.
* `to_pixmap`, `to_qimage`: an RGB(A) uint8 array as a QPixmap / QImage.
* `QtJobs`: the window's background job runner (`submit(title, work, on_done=...)`).
* `PanelHost`: what a panel's or a result tab's factory receives (`workbench.ui.hosting`).
"""

__all__ = [
    "Action", "Analyzer", "analyzers", "API_VERSION", "ascii_text", "batch_size", "Boxes", "browse_shape",
    "browsing_copy", "Cancelled", "Case", "CASE_DB", "Check", "Claims", "colorize", "Command", "computing_shared",
    "CredentialManifest", "CredentialState", "DEFAULT_MAX_PIXELS", "Evidence", "Facts", "file_digests", "Frame",
    "Geolocation", "get_analyzer", "Heatmap", "Ingredient", "Job", "load_preferences", "loaded_model", "Manifest",
    "Marker", "Media", "MediaError", "MediaKind", "ModelState", "ModelStore", "ModelUnavailable", "open_media",
    "open_reduced", "Outcome", "Panel", "param", "Plugin", "probe_video", "ProgressLine", "resolve_device",
    "Result", "ResultTab", "Run", "run_analyzer", "RunContext", "sample_indices", "say", "SceneCuts", "Segments",
    "Table", "TEST_MODEL_LABEL", "time_ticks", "timecode", "TrainingBackbone", "TrainingFamily", "usable_cores",
    "Verdict", "VIDEO_EXTENSIONS", "VideoError", "VideoInfo", "VideoReader", "wait_for",
    *QT_NAMES,
]


def __getattr__(name: str) -> Any:
    if name not in QT_NAMES:
        raise AttributeError(f"workbench.api has no {name!r} (the plugin API {API_VERSION} is `__all__`)")
    module, _, attribute = QT_NAMES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)
