"""The analyst's preferences: saved and read back, damaged files ignored, used by cases and the audit log."""

from __future__ import annotations

from pathlib import Path

from workbench.app.case import Case
from workbench.core import preferences
from workbench.core.paths import data_dir
from workbench.core.plugin import current_user


def test_round_trip_and_defaults() -> None:
    assert preferences.load() == preferences.Preferences()  # offline map, no name until the analyst gives one
    preferences.update(analyst="Jane Doe", organisation="Verification desk", tile_url="http://tiles.lan/{z}/{x}/{y}.png")
    prefs = preferences.load()
    assert (prefs.analyst, prefs.organisation, prefs.tile_url) == ("Jane Doe", "Verification desk",
                                                                    "http://tiles.lan/{z}/{x}/{y}.png")
    assert prefs.max_pixels == preferences.Preferences().max_pixels


def test_damaged_file_gives_defaults() -> None:
    (data_dir() / preferences.FILE_NAME).write_text("{not json", encoding="utf-8")
    assert preferences.load() == preferences.Preferences()
    (data_dir() / preferences.FILE_NAME).write_text('{"analyst": 42, "max_pixels": "lots"}', encoding="utf-8")
    assert preferences.load() == preferences.Preferences()  # wrong types fall back field by field


def test_analyst_names_the_case_and_the_audit_log(tmp_path: Path) -> None:
    preferences.update(analyst="Jane Doe", organisation="Verification desk")
    case = Case.create(tmp_path / "case")
    assert (case.analyst, case.organisation) == ("Jane Doe", "Verification desk")
    assert current_user().startswith("Jane Doe (")
    assert case.audit()[-1].user == current_user()
    case.close()
