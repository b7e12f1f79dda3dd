"""The geolocation family's contributions (entry point `geolocation` in pyproject.toml)."""

from workbench.api import Plugin

PLUGIN = Plugin(
    name="geolocation",
    order=30,
    analyzers=("plugins.geolocation.analyzer:GeolocationAnalyzer",),
)
