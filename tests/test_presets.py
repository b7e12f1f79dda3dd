"""Presets (`workbench.core.presets`): which analyzers each one offers for images and for videos, and
the reason given for each one left out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.core import presets, registry
from workbench.core.media import MediaKind
from workbench.core.presets import DEFAULT_PRESET, FUSION_SIGNALS, PRESETS, Preset, plan_ids

MODELS = Path(__file__).resolve().parents[1] / "models"
IMAGE_ONLY = {"adq", "nadq", "geolocation", "synthetic.spectrum"}
"""Analyzers that say nothing about video frames (JPEG-only, or needing a photograph's content)."""


@pytest.mark.parametrize("name", list(PRESETS))
def test_video_plans_leave_out_image_only_analyzers(name: str) -> None:
    ids, left_out = plan_ids(name, {MediaKind.VIDEO}, require_ready=False)
    assert not IMAGE_ONLY & set(ids)
    for analyzer_id in IMAGE_ONLY & set(PRESETS[name].analyzers):
        assert left_out[analyzer_id] == "does not apply to video evidence"


@pytest.mark.parametrize("name", list(PRESETS))
def test_image_plans_leave_out_video_copy_detection(name: str) -> None:
    ids, left_out = plan_ids(name, {MediaKind.IMAGE}, require_ready=False)
    assert "similarity.video_copy" not in ids
    if "similarity.video_copy" in PRESETS[name].analyzers:
        assert left_out["similarity.video_copy"] == "does not apply to image evidence"


def test_video_preset_keeps_video_copy_detection_for_videos() -> None:
    ids, _ = plan_ids("video", {MediaKind.VIDEO}, require_ready=False)
    assert {"metadata", "similarity.video_copy", "deepfake.faces"} <= set(ids)


def test_analyzers_without_their_model_are_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "ready", lambda analyzer: analyzer.id != "ela")
    ids, left_out = plan_ids("triage", {MediaKind.IMAGE})
    assert "ela" not in ids and left_out["ela"] == "model not installed"
    assert "metadata" in ids
    assert "ela" in plan_ids("triage", {MediaKind.IMAGE}, require_ready=False)[0]


def test_unregistered_ids_are_left_out_and_the_order_is_the_registry_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PRESETS, "test", Preset("test", "Test", "", ("ela", "no.such", "metadata")))
    ids, left_out = plan_ids("test", {MediaKind.IMAGE}, require_ready=False)
    assert ids == ["metadata", "ela"]
    assert "not installed" in left_out["no.such"]
    with pytest.raises(KeyError, match="unknown preset 'nope'.*triage"):
        presets.preset("nope")


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_id_is_registered(name: str) -> None:
    assert set(PRESETS[name].analyzers) <= set(registry.analyzers())


def test_triage_is_the_default_and_holds_every_fusion_signal() -> None:
    manifest = json.loads((MODELS / "fusion_default.json").read_text(encoding="utf-8"))
    signals = [s["id"] for s in manifest["signals"]]
    assert signals and tuple(dict.fromkeys(signals)) == FUSION_SIGNALS
    assert DEFAULT_PRESET == "triage"
    assert {"fusion", *signals} <= set(PRESETS["triage"].analyzers)


def test_only_provenance_searches_similar_images() -> None:
    assert [p.name for p in PRESETS.values() if p.search] == ["provenance"]
    ids, left_out = plan_ids("provenance", {MediaKind.VIDEO}, require_ready=False)
    assert ids == ["metadata"] and "geolocation" in left_out
