"""The analyzer contract: parameter validation and `run_analyzer`'s outcomes and provenance."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import ClassVar

import pytest

from workbench import __version__
from workbench.core import registry
from workbench.core.media import Media, MediaKind, open_media
from workbench.core.plugin import (
    Analyzer,
    Cancelled,
    ModelUnavailable,
    RunContext,
    param,
    run_analyzer,
)
from workbench.core.results import Result, Status


class Mode(Enum):
    FAST = "fast"
    EXACT = "exact"


@dataclass
class FakeParams:
    count: int = param(3, "Count", min=1, max=10)
    ratio: float = param(0.5, "Ratio", min=0.0, max=1.0)
    flag: bool = param(False, "Flag")
    mode: Mode = param(Mode.FAST, "Mode")
    label: str = param("x", "Label")


class FakeAnalyzer(Analyzer):
    """Does whatever `behaviour` says: return a result or raise."""

    id = "fake"
    title = "Fake analyzer"
    version = "2.5"
    Params = FakeParams
    card_file = Path(__file__)
    behaviour: ClassVar[str] = "ok"

    def __init__(self, behaviour: str = "ok") -> None:
        self.behaviour = behaviour
        self.seen_progress: list[tuple[float, str]] = []

    def run(self, media: Media, params: FakeParams, ctx: RunContext) -> Result:
        ctx.progress(0.5, "half")
        if self.behaviour == "boom":
            raise ValueError("something broke inside")
        if self.behaviour == "model":
            raise ModelUnavailable("model 'fake' not installed: install weights.pt")
        if self.behaviour == "cancel":
            raise Cancelled()
        if self.behaviour == "check_cancel":
            ctx.check_cancelled()
        if self.behaviour == "memory":
            raise MemoryError()
        return Result(self.id, score=params.ratio, score_meaning="test")


@pytest.fixture
def media(jpeg_photo: Path) -> Media:
    return open_media(jpeg_photo)


def test_params_defaults() -> None:
    p = FakeAnalyzer().params_from(None)
    assert (p.count, p.ratio, p.flag, p.mode, p.label) == (3, 0.5, False, Mode.FAST, "x")


def test_params_coerced_from_strings() -> None:
    values = {"count": "7", "ratio": "0.25", "flag": "yes", "mode": "exact", "label": "7"}
    p = FakeAnalyzer().params_from(values)
    assert p.count == 7 and isinstance(p.count, int)
    assert p.ratio == 0.25 and isinstance(p.ratio, float)
    assert p.flag is True
    assert p.mode is Mode.EXACT
    assert p.label == "7"


@pytest.mark.parametrize(("text", "value"), [("1", True), ("true", True), ("ON", True),
                                             ("0", False), ("False", False), ("no", False), ("off", False)])
def test_bool_strings(text: str, value: bool) -> None:
    assert FakeAnalyzer().params_from({"flag": text}).flag is value


def test_params_typed_values_pass_through() -> None:
    p = FakeAnalyzer().params_from({"count": 2, "ratio": 1, "flag": True, "mode": Mode.EXACT})
    assert (p.count, p.ratio, p.flag, p.mode) == (2, 1.0, True, Mode.EXACT)


def test_unknown_parameter_is_named() -> None:
    with pytest.raises(ValueError) as info:
        FakeAnalyzer().params_from({"cuont": "3"})
    message = str(info.value)
    assert "fake" in message and "unknown parameter" in message and "cuont" in message
    assert "count" in message  # the known ones are listed


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"count": "0"}, ["count=0", "outside", "[1, 10]"]),
        ({"count": "11"}, ["count=11", "outside"]),
        ({"ratio": "1.5"}, ["ratio=1.5", "outside", "[0.0, 1.0]"]),
        ({"ratio": "nan"}, ["ratio=nan", "outside"]),
        ({"count": "abc"}, ["count='abc'", "not a valid int"]),
        ({"count": "2.5"}, ["count='2.5'", "not a valid int"]),
        ({"ratio": "half"}, ["ratio='half'", "not a valid float"]),
        ({"flag": "maybe"}, ["flag='maybe'", "not a valid bool"]),
        ({"mode": "slow"}, ["mode='slow'", "not a valid Mode"]),
    ],
)
def test_invalid_values_rejected(values: dict[str, str], words: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        FakeAnalyzer().params_from(values)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_run_ok_with_provenance(media: Media) -> None:
    analyzer = FakeAnalyzer()
    progress: list[tuple[float, str]] = []
    params = analyzer.params_from({"ratio": "0.75"})
    result = run_analyzer(analyzer, media, params, RunContext(lambda f, m: progress.append((f, m))))
    assert result.status is Status.OK and result.ok
    assert result.score == 0.75
    assert progress == [(0.5, "half")]
    prov = result.provenance
    assert prov is not None
    assert prov.analyzer == "fake"
    assert prov.version == "2.5"
    assert prov.input_sha256 == media.sha256
    assert prov.params == {"count": 3, "ratio": 0.75, "flag": False, "mode": Mode.FAST, "label": "x"}
    assert prov.tool_version == __version__
    assert prov.device == "cpu"
    assert prov.run_time_s >= 0
    assert prov.started_at and prov.user


def test_exception_becomes_error_result(media: Media) -> None:
    result = run_analyzer(FakeAnalyzer("boom"), media, FakeParams(), RunContext())
    assert result.status is Status.ERROR and not result.ok
    assert "ValueError: something broke inside" in result.message
    assert "test_plugin.py" in result.message  # where it happened
    assert result.provenance is not None and result.provenance.input_sha256 == media.sha256


def test_model_unavailable(media: Media) -> None:
    result = run_analyzer(FakeAnalyzer("model"), media, FakeParams(), RunContext())
    assert result.status is Status.UNAVAILABLE
    assert result.message == "model 'fake' not installed: install weights.pt"  # the store's reason, verbatim
    assert result.provenance is not None


def test_cancelled_exception(media: Media) -> None:
    result = run_analyzer(FakeAnalyzer("cancel"), media, FakeParams(), RunContext())
    assert result.status is Status.CANCELLED
    assert "cancelled" in result.message


def test_cancel_event_via_context(media: Media) -> None:
    event = threading.Event()
    event.set()
    result = run_analyzer(FakeAnalyzer("check_cancel"), media, FakeParams(), RunContext(cancel_event=event))
    assert result.status is Status.CANCELLED
    not_set = run_analyzer(FakeAnalyzer("check_cancel"), media, FakeParams(), RunContext())
    assert not_set.status is Status.OK


def test_memory_error(media: Media) -> None:
    result = run_analyzer(FakeAnalyzer("memory"), media, FakeParams(), RunContext())
    assert result.status is Status.ERROR and "not enough memory" in result.message


def test_wrong_media_kind(media: Media) -> None:
    class VideoOnly(FakeAnalyzer):
        accepts = frozenset({MediaKind.VIDEO})

    result = run_analyzer(VideoOnly(), media, FakeParams(), RunContext())
    assert result.status is Status.ERROR and "does not accept image" in result.message


def test_progress_is_clamped() -> None:
    seen: list[float] = []
    ctx = RunContext(lambda f, m: seen.append(f))
    ctx.progress(-1.0)
    ctx.progress(2.0)
    assert seen == [0.0, 1.0]


def test_registry_has_ela_with_card() -> None:
    assert "ela" in registry.analyzers()
    ela = registry.get("ela")
    assert "## Limits" in ela.card
    with pytest.raises(KeyError, match="unknown analyzer 'nope'"):
        registry.get("nope")
