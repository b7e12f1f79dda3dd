"""A third-party plugin, pip-installed from `docs/plugins.md`'s example (docs/plugin-example), is
found through its entry point: its analyzer in `workbench analyzers`, the GUI's analysis list and a
report, its CLI command, its result view; uninstalled, it is gone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_report import flat, pdf_text
from workbench.app.case import Case
from workbench.app.cli import main as cli_main
from workbench.app.report import write_pdf
from workbench.core import contributions, registry

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "plugin-example"


def pip_install(source: Path, target: Path) -> None:
    """`pip install` the package into a folder of its own (not the test's environment), offline."""
    build = target.parent / "src"
    shutil.copytree(source, build)  # a build writes its egg-info beside the sources
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(target), str(build)], check=True, capture_output=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("plugin") / "site"
    pip_install(EXAMPLE, target)
    return target


@pytest.fixture
def installed(site: Path) -> Iterator[Path]:
    """The plugin on the path, as if installed in the environment; removed after the test."""
    sys.path.insert(0, str(site))
    registry.refresh()
    try:
        yield site
    finally:
        uninstall(site)


def uninstall(folder: Path) -> None:
    """The plugin's folder off the path and its modules forgotten, as after `pip uninstall` and a restart."""
    if str(folder) in sys.path:
        sys.path.remove(str(folder))
    for name in [m for m in sys.modules if m == "lab_clipping" or m.startswith("lab_clipping.")]:
        del sys.modules[name]
    registry.refresh()


def test_its_analyzer_and_command_join_the_cli(installed: Path, jpeg_photo: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert "lab_clipping" in [p.name for p in contributions.plugins()] and not registry.load_errors()
    assert cli_main(["analyzers"]) == 0
    assert "lab.clipping\tClipped pixels (lab plugin)" in capsys.readouterr().out
    assert cli_main(["clipping", str(jpeg_photo)]) == 0
    assert capsys.readouterr().out.strip().endswith("% clipped")
    card = registry.get("lab.clipping").card
    assert "## Limits" in card


def test_a_fresh_process_finds_it_through_its_entry_point(site: Path, jpeg_photo: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "workbench", "clipping", str(jpeg_photo)], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"{jpeg_photo}: " in out.stdout


def test_its_results_reach_the_report(installed: Path, jpeg_photo: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.pdf"
    assert cli_main(["analyze", str(jpeg_photo), "--analyzers", "lab.clipping", "--case", str(tmp_path / "case"),
                     "--report", str(report)]) == 0
    text = flat(pdf_text(report))
    assert "Clipped pixels (lab plugin)" in text and "lab.clipping" in text
    uninstall(installed)  # the case keeps its results: reported under the analyzer's id
    assert "lab.clipping" not in registry.analyzers()
    write_pdf(Case.open(tmp_path / "case"), report)
    assert "lab.clipping (lab.clipping v0.1)" in flat(pdf_text(report))


def test_the_window_lists_it_and_shows_its_results_in_its_view(installed: Path, qtbot, case: Case,  # noqa: ANN001
                                                                jpeg_photo: Path) -> None:
    from workbench.app.analysis import Planned, analyze
    from workbench.ui.analyses_panel import AnalysesPanel
    from workbench.ui.result_views import view_for

    panel = AnalysesPanel()
    qtbot.addWidget(panel)
    assert panel.items["lab.clipping"].text() == "Clipped pixels (lab plugin)"
    analyzer = registry.get("lab.clipping")
    evidence = case.add_evidence(jpeg_photo)
    [run] = analyze(case, evidence, [Planned(analyzer, analyzer.params_from(None))])
    view = view_for(run)
    qtbot.addWidget(view)
    assert type(view).__name__ == "HeatmapView" and "pixels are clipped" in view_text(view)


def view_text(view: object) -> str:
    from PySide6.QtWidgets import QLabel

    return " ".join(label.text() for label in view.findChildren(QLabel))


def test_uninstalled_it_is_gone(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry.refresh()
    assert "lab.clipping" not in registry.analyzers()
    assert cli_main(["analyzers"]) == 0
    assert "lab.clipping" not in capsys.readouterr().out


def test_a_broken_plugin_is_listed_with_its_reason(installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (installed / "lab_clipping" / "manifest.py").rename(installed / "lab_clipping" / "manifest.bak")
    try:
        registry.refresh()
        assert "lab.clipping" not in registry.analyzers() and "ela" in registry.analyzers()
        assert cli_main(["analyzers"]) == 0
        reason = "failed to load lab_clipping (lab_clipping.manifest:PLUGIN): ModuleNotFoundError"
        assert reason in capsys.readouterr().err
    finally:
        (installed / "lab_clipping" / "manifest.bak").rename(installed / "lab_clipping" / "manifest.py")


def test_the_double_click_app_finds_plugins_in_the_user_plugin_folder(site: Path) -> None:
    folder = contributions.user_plugin_dir()  # in the test's own data folder
    shutil.copytree(site, folder)
    try:
        registry.refresh()
        assert "lab.clipping" in registry.analyzers()
    finally:
        uninstall(folder)
