"""The localisation family's contributions (entry point `localization` in pyproject.toml)."""

from workbench.api import Plugin

PLUGIN = Plugin(
    name="localization",
    order=20,
    analyzers=tuple(f"plugins.localization.{spec}" for spec in (
        "ela:ElaAnalyzer", "ela_sweep:ElaSweepAnalyzer", "noise:NoiseWaveletAnalyzer", "noise:NoiseMedianAnalyzer",
        "ghost:JpegGhostAnalyzer", "double_jpeg:AdqAnalyzer", "nadq:NadqAnalyzer", "blocking:BlockingAnalyzer",
        "cfa:CfaAnalyzer", "splicebuster:SplicebusterAnalyzer", "noise_trace:NoiseTraceAnalyzer",
        "copy_move:CopyMoveAnalyzer", "copy_move_dense:CopyMoveDenseAnalyzer", "fusion:FusionAnalyzer",
        "msfusion:MsFusionDctAnalyzer", "msfusion:MsFusionSbAnalyzer", "msfusion:MsFusionDctSbAnalyzer",
        "omgfuser:OmgFuserScoreAnalyzer", "omgfuser:OmgFuserFeatureAnalyzer",
    )),
)
