"""Adding files and folders to a search collection: images become searchable, videos become the
reference videos of video copy detection.

`workbench index` and the GUI's Search ▸ Add folder… both call `add_media`, so a folder gives the
same collection whichever way it was added (the GUI used to skip its videos without a word).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plugins.similarity.collection import AddReport, Collection, image_files
from plugins.similarity.features import LocalFeatures
from plugins.similarity.video_copy import default_sampling
from plugins.similarity.video_copy_store import VideoStore, video_files
from workbench.api import DEFAULT_MAX_PIXELS, VIDEO_EXTENSIONS, RunContext

VIDEOS_FOLDER = "videos"
"""A collection keeps its reference videos in `<collection>/videos/` (for a case: `similarity/videos`)."""


def video_store(collection_folder: str | Path) -> VideoStore:
    """The reference videos kept beside a collection."""
    return VideoStore(Path(collection_folder) / VIDEOS_FOLDER)


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def split_media(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """The image files to index (files named, and images found in folders) and the video files (named,
    or found in folders). A named file that is neither stays with the images, to fail with a reason."""
    given = [Path(p) for p in paths]
    videos = video_files(p for p in given if p.is_dir() or is_video(p))
    return image_files(p for p in given if not is_video(p)), videos


@dataclass
class IndexReport:
    images: AddReport = field(default_factory=lambda: AddReport(failed={}))
    videos: AddReport = field(default_factory=lambda: AddReport(failed={}))

    @property
    def failed(self) -> dict[str, str]:
        return {**(self.images.failed or {}), **(self.videos.failed or {})}

    @property
    def found(self) -> tuple[int, int]:
        """How many image files and video files were considered."""
        images, videos = (r.added + r.skipped + len(r.failed or {}) for r in (self.images, self.videos))
        return images, videos

    def summary(self) -> str:
        """Added and skipped images and videos, in one line for the analyst."""
        return (f"{self.images.added} image(s) added, {self.images.skipped} already indexed; "
                f"{self.videos.added} reference video(s) added, {self.videos.skipped} already there")


def add_media(
    collection: Collection,
    paths: Iterable[str | Path],
    ctx: RunContext | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    extra_extractors: dict[str, Callable[[np.ndarray], LocalFeatures]] | None = None,
) -> IndexReport:
    """Index the images into `collection` and make the videos its reference videos (described now, with
    video copy detection's default sampling, so a default query finds them cached). Progress is shared
    by file count; cancelling keeps what was added."""
    ctx = ctx or RunContext()
    images, videos = split_media(paths)
    report = IndexReport()
    share = len(images) / max(1, len(images) + len(videos))
    if images:
        report.images = collection.add(images, ctx.sub(0.0, share), max_pixels, extra_extractors)
    if videos:
        report.videos = video_store(collection.folder).add(videos, default_sampling(), ctx.sub(share, 1.0),
                                                           max_pixels)
    return report
