"""The geolocation family's contributions (entry point `geolocation` in pyproject.toml): the
analyzer, and the "Map" tab of its results."""

from workbench.api import Plugin, ResultTab

PLUGIN = Plugin(
    name="geolocation",
    order=30,
    analyzers=("plugins.geolocation.analyzer:GeolocationAnalyzer",),
    result_tabs=(ResultTab("geolocation", "Map", "plugins.geolocation.ui.map_panel:map_tab"),),
)
