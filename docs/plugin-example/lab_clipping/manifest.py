"""Everything the plugin contributes, in one place; each part is imported only when used."""

from workbench.api import Command, Plugin

PLUGIN = Plugin(
    name="lab_clipping",
    api="1.0",
    analyzers=("lab_clipping.analyzer:ClippingAnalyzer",),
    views={"lab.clipping": "lab_clipping.view:clipping_view"},
    commands=(Command("clipping", "print the share of clipped pixels of images",
                      "lab_clipping.cli:configure", "lab_clipping.cli:run"),),
)
