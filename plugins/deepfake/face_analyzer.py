"""`deepfake.faces`: the faces of an image or a video, as boxes the viewers draw (no weights needed).

It shows what the deepfake ensemble will judge: a face the detector misses is never scored, and a
false detection is scored as if it were a face, so an analyst checks these boxes first.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from plugins.deepfake.faces import DETECTOR_MODELS, face_detector
from plugins.deepfake.scan import FaceScanParams, scan_faces
from workbench.api import Analyzer, Boxes, Media, MediaKind, ModelStore, RunContext


class FacesAnalyzer(Analyzer):
    id = "deepfake.faces"
    title = "Faces (detection and tracking)"
    version = "1.1"
    accepts = frozenset({MediaKind.IMAGE, MediaKind.VIDEO})
    Params = FaceScanParams
    optional_models: ClassVar[tuple[str, ...]] = DETECTOR_MODELS
    card_file = Path(__file__).with_name("faces.md")

    def run(self, media: Media, params: FaceScanParams, ctx: RunContext) -> Boxes:
        detector, used = face_detector(params.detector, ModelStore())
        scan = scan_faces(media, detector, params.every_s, ctx)
        video = media.kind is MediaKind.VIDEO
        arrays = scan.box_arrays()
        return Boxes(
            self.id,
            score=float(scan.track_count if video else scan.face_count),
            score_meaning=(
                f"number of distinct faces (tracks) found on the sampled frames by {detector.name}"
                if video else f"number of faces found by {detector.name}"
            ) + f"; box scores: {detector.score_meaning}",
            message=f"{scan.describe(media)}; detector: {detector.name}",
            models_used=used,
            labels=[f"face {t}" for t in arrays["tracks"]],
            **arrays,
        )
