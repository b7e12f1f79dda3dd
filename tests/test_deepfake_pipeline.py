"""From training to casework view: a deepfake TEST model trained with self-blended images through the
pipeline is found by the store and used by the `deepfake.ensemble` analyzer on a video with a face,
which reports per-face boxes, a per-frame series and the vote labelled as a test model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.analyzer_runs import run_file
from workbench.core.models import TEST_MODEL_LABEL, ModelStore
from workbench.core.results import Status, Verdict
from workbench.synthetic.videos import face_clip, write_video
from workbench.training.toyset import write_face_crops
from workbench.training.train import TrainConfig, train

pytest.importorskip("torch")
MODEL_ID = "toy_sbi_xception"
DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_sbi_test_model_votes_in_the_ensemble(tmp_path: Path, evidence_dir: Path, qtbot) -> None:  # noqa: ANN001
    from plugins.deepfake.ensemble import EnsembleAnalyzer

    faces = write_face_crops(tmp_path / "faces", count=12)
    # Xception at 32 px, one epoch: a test model in seconds (its scores mean nothing)
    report = train(TrainConfig(MODEL_ID, "xception", [faces], self_blend=True, size=32, epochs=1, batch=8))
    manifest = report.manifest
    assert manifest["test_model"] and manifest["family"] == "deepfake" and manifest["output"] == "softmax:1"
    assert manifest["input"]["margin"] == 1.3 and manifest["training"]["images"]["fake"] == 12
    assert ModelStore().is_user_model(MODEL_ID)

    video = write_video(evidence_dir / "face.avi", face_clip(3.0, 10.0), 10.0)
    result = run_file(EnsembleAnalyzer(), video, every_s=1.0, detector="haar")
    assert result.status is Status.OK, result.message
    assert isinstance(result, Verdict) and result.probability is not None and not result.abstained
    assert result.boxes is not None and result.boxes.shape[1] == 4 and len(result.boxes) >= 3
    assert len(result.frames) == len(result.boxes) == len(result.tracks)
    assert result.times is not None and len(result.times) == len(result.values) >= 3
    assert np.isfinite(result.values).sum() >= 3
    vote = next(v for v in result.votes if v["model"] == MODEL_ID)
    assert vote["status"] == "ok" and TEST_MODEL_LABEL in vote["note"]
    assert TEST_MODEL_LABEL in result.explanation and MODEL_ID in result.models_used
    assert {"id": MODEL_ID, "sha256": manifest["sha256"]} in result.provenance.models

    # in the main window: the faces boxed on the current frame, the per-frame probability on the timeline
    from workbench.app.case import Case
    from workbench.ui.main_window import MainWindow

    case = Case.create(tmp_path / "case", name="Deepfake test-model demo")
    evidence = case.add_evidence(video)
    case.save_result(evidence.id, result)
    window = MainWindow(case)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    window.evidence.select(evidence.id)
    viewer = window.video_viewer
    assert window.viewer_stack.currentWidget() is viewer and len(viewer.timeline.plots) == 1
    viewer.seek(int(result.frames[len(result.frames) // 2]))
    assert any(TEST_MODEL_LABEL in label.text() for label in window.findChildren(type(window.device_label)))
    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS"):
        window.grab().save(str(DOCS / "screenshot-deepfake-test-model.png"))
    window.close()
