"""The similarity family's contributions (entry point `similarity` in pyproject.toml): video copy
detection with its result view and report figure, the "Similar images" panel, the `index` and
`search` commands, the search of each analysed image, and the image descriptors of the training
pipeline's quality-based sampling."""

from workbench.api import Command, Panel, Plugin

PLUGIN = Plugin(
    name="similarity",
    order=50,
    analyzers=("plugins.similarity.video_copy:VideoCopyAnalyzer",),
    commands=(
        Command("index", "add images or folders to a searchable collection (incremental); videos become reference "
                         "videos for video copy detection",
                "plugins.similarity.cli:configure_index", "plugins.similarity.cli:run_index"),
        Command("search", "find where else an image (or part of it) appears in a collection; several images are "
                          "searched with one model load",
                "plugins.similarity.cli:configure_search", "plugins.similarity.cli:run_search"),
    ),
    panels=(Panel("similarity.search", "Similar images", "plugins.similarity.ui.search_panel:similar_images_panel",
                  menu="Sea&rch", shortcut="Ctrl+Shift+F"),),
    views={"similarity.video_copy": "plugins.similarity.ui.segments_view:SegmentsView"},
    report_figures={"similarity.video_copy": "plugins.similarity.video_copy_figure:report_figure"},
    services={"item_search": "plugins.similarity.cli:ItemSearch",
              "image_descriptors": "plugins.similarity.global_descriptor:image_descriptors"},
)
