"""The built-in analyzers, imported only when first asked for so the window starts fast.

A plugin that fails to import is reported (`load_errors`), never allowed to take the
application down with it.
"""

from __future__ import annotations

import importlib
from functools import cache

from workbench.core.plugin import Analyzer

BUILTIN: tuple[str, ...] = (
    "plugins.metadata.analyzer:MetadataAnalyzer",
    "plugins.localization.ela:ElaAnalyzer",
    "plugins.localization.ela_sweep:ElaSweepAnalyzer",
    "plugins.localization.noise:NoiseWaveletAnalyzer",
    "plugins.localization.noise:NoiseMedianAnalyzer",
    "plugins.localization.ghost:JpegGhostAnalyzer",
    "plugins.localization.double_jpeg:AdqAnalyzer",
    "plugins.localization.nadq:NadqAnalyzer",
    "plugins.localization.blocking:BlockingAnalyzer",
    "plugins.localization.cfa:CfaAnalyzer",
    "plugins.localization.splicebuster:SplicebusterAnalyzer",
    "plugins.localization.copy_move:CopyMoveAnalyzer",
    "plugins.localization.copy_move_dense:CopyMoveDenseAnalyzer",
    "plugins.localization.fusion:FusionAnalyzer",
    "plugins.geolocation.analyzer:GeolocationAnalyzer",
    "plugins.localization.msfusion:MsFusionDctAnalyzer",
    "plugins.localization.msfusion:MsFusionSbAnalyzer",
    "plugins.localization.msfusion:MsFusionDctSbAnalyzer",
    "plugins.localization.omgfuser:OmgFuserScoreAnalyzer",
    "plugins.localization.omgfuser:OmgFuserFeatureAnalyzer",
    "plugins.synthetic.detector:SyntheticDetectorAnalyzer",
    "plugins.synthetic.spectrum:SpectrumAnalyzer",
    "plugins.similarity.video_copy:VideoCopyAnalyzer",
    "plugins.deepfake.face_analyzer:FacesAnalyzer",
    "plugins.deepfake.ensemble:EnsembleAnalyzer",
)


@cache
def _load() -> tuple[dict[str, Analyzer], dict[str, str]]:
    found: dict[str, Analyzer] = {}
    errors: dict[str, str] = {}
    for spec in BUILTIN:
        module, _, name = spec.partition(":")
        try:
            analyzer = getattr(importlib.import_module(module), name)()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not fatal
            errors[spec] = f"{type(exc).__name__}: {exc}"
            continue
        found[analyzer.id] = analyzer
    return found, errors


def analyzers() -> dict[str, Analyzer]:
    """All working analyzers by id, in the order of BUILTIN."""
    return _load()[0]


def load_errors() -> dict[str, str]:
    """Plugins that failed to import, with the reason."""
    return _load()[1]


def get(analyzer_id: str) -> Analyzer:
    try:
        return analyzers()[analyzer_id]
    except KeyError:
        raise KeyError(
            f"unknown analyzer '{analyzer_id}'; available: {', '.join(analyzers())}"
        ) from None


def ready(analyzer: Analyzer) -> bool:
    """True when every model the analyzer needs is installed and verified (always for classical ones).
    An analyzer whose members are found at run time (an ensemble) says with `members_ready(store)`
    whether at least one of them is installed."""
    members_ready = getattr(analyzer, "members_ready", None)
    if not analyzer.models and members_ready is None:
        return True
    from workbench.core.models import ModelStore

    store = ModelStore()
    try:
        required = all(store.status(model_id).installed for model_id in analyzer.models)
        return required and (members_ready is None or members_ready(store))
    except Exception:  # noqa: BLE001 - an unknown or broken manifest means "not ready"
        return False
