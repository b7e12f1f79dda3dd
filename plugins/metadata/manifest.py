"""The metadata family's contributions (entry point `metadata` in pyproject.toml)."""

from workbench.api import Plugin

PLUGIN = Plugin(
    name="metadata",
    order=10,
    analyzers=("plugins.metadata.analyzer:MetadataAnalyzer",),
)
