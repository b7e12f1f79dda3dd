"""The compute device: the preference is honoured (a device asked for but absent gives the CPU with
the reason), batches follow the GPU's free memory, the analyzers that run networks receive the
device while the others get the CPU, and the Preferences dialog sets it. CPU only: CUDA is faked by
patching torch's queries, no tensor ever goes to a GPU."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from workbench.app.analysis import Planned, run_plan
from workbench.core import preferences, registry
from workbench.core.device import DEVICES, batch_size, resolve_device
from workbench.core.media import Media, open_media
from workbench.core.plugin import Analyzer, RunContext
from workbench.core.results import Result, Status

torch = pytest.importorskip("torch")


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch reports one CUDA device with 8 GiB free (and no Apple GPU)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Test GPU")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (8 * 2**30, 16 * 2**30))
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.mark.usefixtures("gpu")
def test_auto_and_cuda_pick_the_gpu_and_cpu_stays_cpu() -> None:
    assert resolve_device() == ("cuda", "CUDA: Test GPU")  # default preference: auto
    preferences.update(device="cuda")
    assert resolve_device() == ("cuda", "CUDA: Test GPU")
    preferences.update(device="cpu")
    assert resolve_device() == ("cpu", "CPU (chosen in preferences)")
    assert resolve_device("auto")[0] == "cuda"  # an explicit argument wins over the preference


@pytest.mark.usefixtures("no_gpu")
@pytest.mark.parametrize(
    "cuda_build, reason", [(None, "this PyTorch is built without CUDA"), ("12.4", "no CUDA device is visible")]
)
def test_absent_cuda_falls_back_to_the_cpu_and_says_why(
    monkeypatch: pytest.MonkeyPatch, cuda_build: str | None, reason: str
) -> None:
    monkeypatch.setattr(torch.version, "cuda", cuda_build)
    preferences.update(device="cuda")
    device, description = resolve_device()
    assert device == "cpu" and description.startswith("CPU (")
    assert f"CUDA chosen in preferences, but {reason}" in description
    assert resolve_device("mps")[1].endswith("Apple MPS chosen in preferences, but it is not available here")
    assert resolve_device("auto")[1] == description.split(":")[0]  # nothing asked for, nothing to explain


def test_an_unknown_preference_is_the_cpu_with_the_choices() -> None:
    choices = ", ".join(DEVICES)
    assert resolve_device("gpu") == ("cpu", f"CPU (unknown device preference 'gpu'; choose one of {choices})")


@pytest.mark.usefixtures("gpu")
def test_batches_fill_half_the_free_gpu_memory() -> None:
    assert batch_size("cpu", 16, default=32) == 32
    assert batch_size("cuda", 16, default=32) == 256  # 4 GiB / 16 MiB = 256, the cap
    assert batch_size("cuda", 64, default=16) == 64
    assert batch_size("cuda", 10_000, default=16) == 1  # never zero


@dataclass
class NoParams:
    pass


class Recorder(Analyzer):
    """Records the device its context carries."""

    title, version, Params, card_file = "Recorder", "1", NoParams, Path(__file__)

    def __init__(self, name: str, seen: dict[str, str], learned: bool = False, models: tuple[str, ...] = ()) -> None:
        self.id, self.seen, self.learned, self.models = name, seen, learned, models

    def run(self, media: Media, params: NoParams, ctx: RunContext) -> Result:
        self.seen[self.id] = ctx.device
        return Result(self.id, Status.OK, "")


@pytest.mark.usefixtures("gpu")
def test_the_analyzers_that_run_networks_receive_the_device(jpeg_photo: Path) -> None:
    seen: dict[str, str] = {}
    plan = [Recorder("classical", seen), Recorder("learned", seen, learned=True),
            Recorder("with_model", seen, models=("some_model",))]
    results = run_plan(open_media(jpeg_photo), [Planned(a, NoParams()) for a in plan])
    assert seen == {"classical": "cpu", "learned": "cuda", "with_model": "cuda"}
    assert [r.provenance.device for r in results] == ["cpu", "cuda", "cuda"]  # where each one ran
    preferences.update(device="cpu")
    run_plan(open_media(jpeg_photo), [Planned(a, NoParams()) for a in plan])
    assert set(seen.values()) == {"cpu"}


def test_every_registered_network_user_asks_for_the_device() -> None:
    # the audit of issue 16: these run PyTorch networks; the others (faces: OpenCV's YuNet) run on the CPU
    learned = {a.id for a in registry.analyzers().values() if a.needs_device}
    assert learned == {"deepfake.ensemble", "synthetic.detector", "geolocation", "fusion", "noise_trace",
                       "msfusion_dct", "msfusion_sb", "msfusion_dct_sb", "omgfuser_score_fusion",
                       "omgfuser_feature_fusion", "similarity.video_copy"}


def test_preferences_dialog_sets_the_device(qtbot) -> None:  # noqa: ANN001 - pytest-qt fixture
    from workbench.ui.preferences_dialog import PreferencesDialog

    preferences.update(device="cpu")
    dialog = PreferencesDialog()
    qtbot.addWidget(dialog)
    assert dialog.device.currentData() == "cpu"
    assert [dialog.device.itemData(i) for i in range(dialog.device.count())] == list(DEVICES)
    dialog.device.setCurrentIndex(dialog.device.findData("cuda"))
    dialog.accept()
    assert preferences.load().device == "cuda"
