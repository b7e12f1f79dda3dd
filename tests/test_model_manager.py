"""Model manager (Settings ▸ Models): lists every manifest with its status, installs a file in the
background, refuses wrong files with a message, removes, shows cards, groups and the test-model label.
Saves docs/screenshot-model-manager.png when WORKBENCH_UPDATE_SCREENSHOTS is set."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
torch = pytest.importorskip("torch")

from PySide6.QtWidgets import QMessageBox  # noqa: E402

from workbench.app.case import Case  # noqa: E402
from workbench.core.models import BUNDLED_DIR, ModelStore  # noqa: E402
from workbench.ui.main_window import MainWindow  # noqa: E402
from workbench.ui.model_manager import TEST_MODEL_LABEL, ModelManager  # noqa: E402
from workbench.ui.qt_jobs import QtJobs  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"
NO_HASH_ID = "ames_detector_dinov2"
"""Published without a hash (recorded at install); its file is a dict holding a state dict under 'state'."""


@pytest.fixture
def jobs(qtbot):
    runner = QtJobs()
    yield runner
    runner.shutdown()


def open_manager(qtbot, jobs: QtJobs, user_dir: Path, bundled_dir: Path = BUNDLED_DIR) -> ModelManager:
    manager = ModelManager(jobs, lambda: ModelStore(user_dir=user_dir, bundled_dir=bundled_dir))
    qtbot.addWidget(manager)
    manager.show()
    wait_idle(qtbot, manager)
    return manager


def wait_idle(qtbot, manager: ModelManager) -> None:
    qtbot.waitUntil(lambda: manager.found is not None and not manager.busy.isVisible(), timeout=30000)


def rows(manager: ModelManager) -> dict[str, dict[str, str]]:
    """Model id -> {column title: text, "group": group title}."""
    found = {}
    for g in range(manager.tree.topLevelItemCount()):
        group = manager.tree.topLevelItem(g)
        for r in range(group.childCount()):
            item = group.child(r)
            texts = {manager.tree.headerItem().text(c): item.text(c) for c in range(manager.tree.columnCount())}
            found[item.text(1)] = {**texts, "group": group.text(0)}
    return found


@pytest.fixture
def detector_file(tmp_path: Path) -> Path:
    """A file laid out like the published AMES detector checkpoint, made with our own module."""
    from plugins.similarity.dinov2 import SpatialAttention2d

    folder = tmp_path / "downloads"
    folder.mkdir()
    path = folder / "dinov2_detector.pt"
    torch.save({"state": SpatialAttention2d(768).state_dict()}, path)
    return path


def test_lists_every_bundled_manifest_with_its_status(qtbot, jobs: QtJobs, tmp_path: Path) -> None:
    store = ModelStore(user_dir=tmp_path / "models")
    manager = open_manager(qtbot, jobs, tmp_path / "models")
    listed = rows(manager)
    assert set(listed) == set(store.manifests()) and len(listed) >= 15
    for model_id, row in listed.items():
        status = store.status(model_id)
        assert row["Status"] == status.state.value
        assert row["Model"] == store.manifest(model_id).title
        assert row["Path"] == (str(status.path) if status.path else "")
    assert listed["fusion_default"]["Status"] == "installed" and listed["fusion_default"]["Size"].endswith("MiB")
    assert listed["fusion_default"]["group"] == "Forgery localisation"
    assert listed["s2vs_pca"]["group"] == listed["ames_dinov2"]["group"] == "Similar images and video copies"
    assert listed["visloc_mvmf"]["group"] == "Geolocation"
    assert listed[NO_HASH_ID]["Status"] == "missing" and listed[NO_HASH_ID]["Size"] == ""
    assert f"{len(listed)} models" in manager.summary.text()


def test_card_and_facts_show_for_the_selected_model(qtbot, jobs: QtJobs, tmp_path: Path) -> None:
    manager = open_manager(qtbot, jobs, tmp_path / "models")
    assert manager.select("fusion_default")
    facts = manager.facts.toPlainText()
    assert hashlib.sha256((BUNDLED_DIR / "fusion_default.pt").read_bytes()).hexdigest() in facts
    assert "FusionNet" in facts and "fusion_default.pt" in facts and "Input size" in facts
    assert "bundled with the application" in facts and "Calibration" in facts
    assert "Used by\nFusion" in facts
    assert manager.card.toPlainText().startswith("Fusion localiser (learned, OMG-Fuser-style)")
    assert not manager.remove_button.isEnabled()  # a bundled file is not the user's to remove

    assert manager.select("s2vs_dns")  # one of a multi-file set: the other files and their status
    facts = manager.facts.toPlainText()
    assert "Needs also" in facts and "s2vs_resnet50: missing" in facts and "s2vs_pca: missing" in facts
    assert "none published" in facts and "https://mever.iti.gr/s2vs/weights/s2vs_dns.pth" in facts
    assert "S2VS" in manager.card.toPlainText()
    manager.copy_source()
    assert manager.copy_source_button.isEnabled()
    assert "mever.iti.gr/s2vs" in manager.status_line.text()


def test_install_then_remove(qtbot, jobs: QtJobs, tmp_path: Path, detector_file: Path, monkeypatch) -> None:
    user_dir = tmp_path / "models"
    manager = open_manager(qtbot, jobs, user_dir)
    assert manager.select(NO_HASH_ID) and not manager.remove_button.isEnabled()
    before = detector_file.read_bytes()
    with qtbot.waitSignal(manager.modelsChanged, timeout=30000):
        job = manager.install_file(NO_HASH_ID, detector_file)
        assert manager.busy.isVisible() and not manager.install_button.isEnabled()
    wait_idle(qtbot, manager)
    assert job.error is None and not manager.messages
    row = rows(manager)[NO_HASH_ID]
    assert row["Status"] == "installed" and row["Path"] == str(user_dir / "ames_detector_dinov2.pt")
    assert row["Size"].endswith("MiB")
    assert manager.selected_id() == NO_HASH_ID and manager.remove_button.isEnabled()
    assert "SHA-256 (recorded at install)" in manager.facts.toPlainText()
    assert detector_file.read_bytes() == before  # the user's file is read, never changed

    manager.copy_path()
    assert manager.status_line.text() == f"Copied {user_dir / 'ames_detector_dinov2.pt'}"
    monkeypatch.setattr(QMessageBox, "question", lambda *args: QMessageBox.StandardButton.No)
    manager.confirm_remove()
    assert (user_dir / "ames_detector_dinov2.pt").is_file()
    monkeypatch.setattr(QMessageBox, "question", lambda *args: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(manager.modelsChanged, timeout=5000):
        manager.confirm_remove()
    wait_idle(qtbot, manager)
    assert rows(manager)[NO_HASH_ID]["Status"] == "missing"
    assert not (user_dir / "ames_detector_dinov2.pt").exists() and detector_file.is_file()


@pytest.mark.parametrize("kind", ["wrong_hash", "not_weights", "no_state_dict", "missing_file"])
def test_wrong_file_is_refused_with_a_message(qtbot, jobs: QtJobs, tmp_path: Path, kind: str) -> None:
    user_dir = tmp_path / "models"
    manager = open_manager(qtbot, jobs, user_dir)
    model_id, path, words = {
        "wrong_hash": ("fusion_default", tmp_path / "other.pt", ("refusing other.pt", "SHA-256")),
        "not_weights": (NO_HASH_ID, tmp_path / "photo.jpg", ("photo.jpg is not usable", "cannot be loaded safely")),
        "no_state_dict": (NO_HASH_ID, tmp_path / "numbers.pt", ("not usable", "no state dict of tensors")),
        "missing_file": (NO_HASH_ID, tmp_path / "gone.pt", ("no such file",)),
    }[kind]
    if kind == "wrong_hash":
        torch.save({"weight": torch.zeros(3)}, path)
    elif kind == "not_weights":
        path.write_bytes(b"\xff\xd8\xff\xe0 not really a photo either" * 10)
    elif kind == "no_state_dict":
        torch.save({"state": {"epoch": 3}}, path)
    manager.select(model_id)
    before = rows(manager)[model_id]["Status"]
    job = manager.install_file(model_id, path)
    qtbot.waitUntil(lambda: bool(manager.messages), timeout=30000)
    wait_idle(qtbot, manager)
    assert job.error is not None
    box = manager.messages[-1]
    assert not box.isModal() and box.windowTitle() == "Model not installed"
    assert all(w in box.text() for w in words), box.text()
    assert rows(manager)[model_id]["Status"] == before
    assert not (user_dir / ModelStore(user_dir=user_dir).manifest(model_id).weights).exists()


def test_groups_by_family_and_labels_test_models(qtbot, jobs: QtJobs, tmp_path: Path) -> None:
    bundled = tmp_path / "manifests"
    bundled.mkdir()
    shutil.copy(BUNDLED_DIR / "msfusion_dct.json", bundled)
    (bundled / "deepfake_test.json").write_text(json.dumps({
        "id": "deepfake_test", "title": "Tiny deepfake detector", "weights": "deepfake_test.pt", "sha256": None,
        "family": "deepfake", "test_model": True, "network": {"arch": "tiny_cnn", "width": 8},
        "input": {"size": [64, 64], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "margin": 1.3},
        "output": "logit", "licence": "Apache-2.0 (trained by the project)", "source": "training/",
    }), encoding="utf-8")
    (bundled / "broken.json").write_text("{not json", encoding="utf-8")
    manager = open_manager(qtbot, jobs, tmp_path / "models", bundled)
    listed = rows(manager)
    assert listed["deepfake_test"]["group"] == "Deepfake detection"
    assert TEST_MODEL_LABEL in listed["deepfake_test"]["Model"]
    assert TEST_MODEL_LABEL not in listed["msfusion_dct"]["Model"]
    assert manager.tree.topLevelItem(0).text(0) == "Deepfake detection"
    assert manager.broken.isVisible() and "broken.json" in manager.broken.text()
    manager.select("deepfake_test")
    facts = manager.facts.toPlainText()
    assert TEST_MODEL_LABEL in facts and "tiny_cnn" in facts and "64 × 64" in facts and "1.3" in facts
    assert "Output" in facts and "logit" in facts
    assert manager.card.toPlainText() == "This model has no card."


def test_model_trained_here_is_listed_and_removed_with_its_manifest(qtbot, jobs: QtJobs, tmp_path: Path,
                                                                    monkeypatch) -> None:
    user_dir = tmp_path / "models"
    user_dir.mkdir()
    weights = user_dir / "synthetic_trained.pt"
    torch.save({"head.weight": torch.zeros(1, 4)}, weights)
    store = ModelStore(user_dir=user_dir)
    store.register({"id": "synthetic_trained", "title": "Synthetic-image detector (trained here)",
                    "weights": weights.name, "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
                    "family": "synthetic", "test_model": True, "network": {"arch": "tiny"}, "output": "logit"})
    manager = open_manager(qtbot, jobs, user_dir)
    row = rows(manager)["synthetic_trained"]
    assert row["group"] == "AI-generated image detection" and row["Status"] == "installed"
    assert TEST_MODEL_LABEL in row["Model"]
    manager.select("synthetic_trained")
    assert "trained on this machine" in manager.facts.toPlainText() and manager.remove_button.isEnabled()
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *args: asked.append(args[2]) or QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(manager.modelsChanged, timeout=5000):
        manager.confirm_remove()
    wait_idle(qtbot, manager)
    assert "its weights and its manifest" in asked[0]
    assert "synthetic_trained" not in rows(manager) and not weights.exists()
    assert not list(store.user_manifest_dir.glob("*.json"))


def test_settings_menu_opens_it_and_installs_refresh_the_analyses(qtbot, tmp_path: Path, monkeypatch) -> None:
    case = Case.create(tmp_path / "case", name="Models", analyst="Tester")
    window = MainWindow(case)
    qtbot.addWidget(window)
    refreshed = []
    monkeypatch.setattr(window.analyses, "refresh_readiness", lambda: refreshed.append(True))
    try:
        settings_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Settings")
        next(a for a in settings_menu.actions() if a.text() == "&Models…").trigger()
        manager = window.model_manager
        assert manager is not None and manager.isVisible() and manager.parent() is window
        wait_idle(qtbot, manager)
        assert manager.found.store.user_dir == Path(os.environ["WORKBENCH_DATA_DIR"]) / "models"
        manager.modelsChanged.emit()
        assert refreshed == [True]
        manager.close()
        assert window.open_model_manager() is manager and manager.isVisible()
        wait_idle(qtbot, manager)
        manager.close()
        window.install_model("msfusion_dct")  # a result's "Install model file…" button: the manager, at it
        assert manager.isVisible()
        wait_idle(qtbot, manager)
        assert manager.selected_id() == "msfusion_dct" and manager.install_button.isEnabled()
        if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS"):
            manager.select("fusion_default")
            manager.grab().save(str(DOCS / "screenshot-model-manager.png"))
    finally:
        window.jobs.shutdown()
