"""The AI-generated-image family's contributions (entry point `synthetic` in pyproject.toml)."""

from workbench.api import Plugin

PLUGIN = Plugin(
    name="synthetic",
    order=40,
    analyzers=("plugins.synthetic.detector:SyntheticDetectorAnalyzer", "plugins.synthetic.spectrum:SpectrumAnalyzer"),
    training={"synthetic": "plugins.synthetic.training:FAMILY"},
)
