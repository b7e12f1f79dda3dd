"""The deepfake family's contributions (entry point `deepfake` in pyproject.toml)."""

from workbench.api import Plugin

PLUGIN = Plugin(
    name="deepfake",
    order=60,
    analyzers=("plugins.deepfake.face_analyzer:FacesAnalyzer", "plugins.deepfake.ensemble:EnsembleAnalyzer"),
    training={"deepfake": "plugins.deepfake.training:FAMILY"},
)
