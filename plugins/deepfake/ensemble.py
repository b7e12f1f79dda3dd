"""`deepfake.ensemble`: is a face in this image or video manipulated? An ensemble of published detectors.

After the design of the MeVer DeepFake detection service (Baxevanakis et al. 2022): faces are
found and tracked, every installed detector of the "deepfake" family scores every face, the
per-face ensemble score is the members' mean, and per-frame and per-video scores are aggregated
from it (`aggregation.py`). Each member's own answer stays visible as a vote. No member
installed: 'unavailable' with what to install; no face found: an explicit abstention.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from plugins.deepfake.aggregation import RULES, Aggregation, combine, ensemble_faces, frame_maxima
from plugins.deepfake.faces import DETECTOR_MODELS, FaceDetector, YuNetDetector, face_detector
from plugins.deepfake.members import Member, any_member_installed, load_members, vote
from plugins.deepfake.scan import FaceScan, FaceScanParams, SampledFrame, scan_faces
from workbench.api import TEST_MODEL_LABEL, Analyzer, Media, MediaKind, ModelStore, RunContext, Verdict, param

PUBLISHED_MEMBERS = (
    "deepfake_xception_ffpp",
    "deepfake_xception_dfb",
    "deepfake_effnb4_dfb",
    "deepfake_effnb4_icpr_dfdc",
    "deepfake_effnb4_icpr_ffpp",
)
"""The bundled manifests of published detectors (the GUI offers to install their files)."""


@dataclass
class EnsembleParams(FaceScanParams):
    threshold: float = param(
        0.5, "Decision threshold", "ensemble P(fake) at or above which the label is 'likely manipulated'; the "
        "members' outputs are not calibrated, so 0.5 is their training decision point, not a 50% chance",
        min=0.0, max=1.0,
    )
    aggregation: Aggregation = param(
        Aggregation.TRACKS, "Aggregation", "tracks: the most suspicious face track (mean along each track); "
        "top_quartile: mean of the highest quarter of per-frame values",
    )


def decision_label(probability: float, threshold: float) -> str:
    if probability >= threshold:
        return f"likely manipulated (P(fake) ≥ {threshold:.2f})"
    return f"no manipulation detected (P(fake) < {threshold:.2f})"


class EnsembleAnalyzer(Analyzer):
    id = "deepfake.ensemble"
    title = "Deepfake detection (ensemble)"
    version = "1.1"
    accepts = frozenset({MediaKind.IMAGE, MediaKind.VIDEO})
    Params = EnsembleParams
    optional_models: ClassVar[tuple[str, ...]] = (*PUBLISHED_MEMBERS, *DETECTOR_MODELS)
    learned = True
    card_file = Path(__file__).with_name("ensemble.md")

    def members_ready(self, store: ModelStore) -> bool:
        return any_member_installed(store)

    def run(self, media: Media, params: EnsembleParams, ctx: RunContext) -> Verdict:
        store = ModelStore()
        ctx.progress(0.0, "loading the detectors")
        members, failed = load_members(store, ctx.device)
        detector, detector_models = face_detector(params.detector, store)
        per_frame: list[np.ndarray] = []  # one (members × faces) block per frame with faces

        def score(sample: SampledFrame, rgb: np.ndarray) -> None:
            if sample.faces:
                boxes = [face.box for face in sample.faces]
                per_frame.append(np.stack([member.probabilities(rgb, boxes) for member in members]))

        scan = scan_faces(media, detector, params.every_s, ctx.sub(0.05, 1.0, "faces"), score)
        used = [m.id for m in members] + detector_models
        arrays = scan.box_arrays()
        video = media.kind is MediaKind.VIDEO
        calibrated = all(m.manifest.extra.get("calibrated") is True for m in members)
        common = {
            "models_used": used,
            "aggregation": RULES[params.aggregation],
            "calibrated": calibrated,
            "boxes": arrays["boxes"],
            "frames": arrays["frames"],
            "tracks": arrays["tracks"],
            "spans": arrays["spans"],
        }
        if not per_frame:
            return Verdict(
                self.id,
                score_meaning="no probability: no face to judge",
                abstained=True,
                label="abstained: no face found",
                explanation=self._no_face(scan, media, detector, members),
                votes=[vote(m.manifest, None, "abstained", "no face to judge") for m in members] + failed,
                times=self._times(scan) if video else None,
                values=np.full(len(scan.frames), np.nan) if video else None,
                **common,
            )
        member_scores = np.concatenate(per_frame, axis=1)
        faces = ensemble_faces(member_scores)
        frames, tracks = arrays["frames"], arrays["tracks"]
        probability = combine(faces, frames, tracks, params.aggregation)
        votes = [
            vote(m.manifest, combine(member_scores[i], frames, tracks, params.aggregation), "ok")
            for i, m in enumerate(members)
        ]
        return Verdict(
            self.id,
            score=probability,
            score_meaning="ensemble P(fake): " + RULES[params.aggregation] + "; the members' own outputs, "
            + ("calibrated" if calibrated else "not calibrated probabilities"),
            box_scores=faces.astype(np.float32),
            labels=[f"face {t}: P(fake) {p:.2f}" for t, p in zip(tracks, faces, strict=True)],
            probability=probability,
            label=decision_label(probability, params.threshold),
            explanation=self._explain(
                f"{scan.describe(media)}, found by {detector.name}", members, failed, probability, params.threshold,
                calibrated,
            ),
            votes=votes + failed,
            times=self._times(scan) if video else None,
            values=self._frame_values(scan, faces, frames) if video else None,
            **common,
        )

    @staticmethod
    def _times(scan: FaceScan) -> np.ndarray:
        return np.array([f.time for f in scan.frames], np.float64)

    @staticmethod
    def _frame_values(scan: FaceScan, faces: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """Per sampled frame: its most suspicious face, NaN where no face was found."""
        indices, maxima = frame_maxima(faces, frames)
        by_frame = dict(zip(indices.tolist(), maxima.tolist(), strict=True))
        return np.array([by_frame.get(f.index, np.nan) for f in scan.frames], np.float64)

    @staticmethod
    def _test_warning(members: list[Member]) -> str:
        tests = [m.id for m in members if m.manifest.is_test_model]
        if not tests:
            return ""
        return (f"{TEST_MODEL_LABEL}: {', '.join(tests)} (trained by the workbench's own pipeline on a tiny "
                "generated set): such scores only show that the analysis runs. ")

    def _no_face(self, scan: FaceScan, media: Media, detector: FaceDetector, members: list[Member]) -> str:
        where = "the image" if media.kind is not MediaKind.VIDEO else f"any of {len(scan.frames)} sampled frames"
        skipped = f" ({scan.skipped} undecodable frame(s) skipped)" if scan.skipped else ""
        return (
            f"{self._test_warning(members)}No face was found in {where}{skipped} by {detector.name}. The detectors "
            "judge faces only, so the ensemble does not answer. Faces that are small, strongly turned, partly hidden "
            "or dark are missed: try a denser frame sampling"
            + ("." if isinstance(detector, YuNetDetector) else " or the YuNet detector (install its model file).")
        )

    def _explain(
        self,
        faces: str,
        members: list[Member],
        failed: list[dict],
        probability: float,
        threshold: float,
        calibrated: bool,
    ) -> str:
        relation = "≥" if probability >= threshold else "<"
        text = (
            f"{self._test_warning(members)}{faces}; every face scored by "
            f"{len(members)} detector(s): {', '.join(m.manifest.title for m in members)}. Ensemble P(fake) "
            f"{probability:.3f} {relation} threshold {threshold:.2f}. "
        )
        if failed:
            text += f"{len(failed)} installed detector(s) could not be used (see their votes). "
        if not calibrated:
            text += "The members' outputs are their networks' own scores, not calibrated probabilities. "
        return text + (
            "Detectors are weaker on heavily compressed or low-resolution faces, profiles, unseen manipulation "
            "methods and adversarially perturbed media (see the card)."
        )
