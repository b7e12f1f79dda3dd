"""The similarity family's contributions (entry point `similarity` in pyproject.toml): video copy
detection, the `index` and `search` commands, the search of each analysed image, and the image
descriptors of the training pipeline's quality-based sampling."""

from workbench.api import Command, Plugin

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
    services={"item_search": "plugins.similarity.cli:ItemSearch",
              "image_descriptors": "plugins.similarity.global_descriptor:image_descriptors"},
)
