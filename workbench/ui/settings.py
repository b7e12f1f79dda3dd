"""User preferences, kept in the user data folder (so tests and portable installs stay isolated)."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from workbench.core.media import DEFAULT_MAX_PIXELS
from workbench.core.paths import data_dir


def settings() -> QSettings:
    return QSettings(str(data_dir() / "settings.ini"), QSettings.Format.IniFormat)


def max_pixels() -> int:
    return int(settings().value("max_pixels", DEFAULT_MAX_PIXELS))


def set_max_pixels(value: int) -> None:
    settings().setValue("max_pixels", int(value))


def tile_url() -> str:
    """The user's own map tile server ("" = none: maps use the bundled boundaries only, offline)."""
    return str(settings().value("tile_url", ""))


def set_tile_url(value: str) -> None:
    settings().setValue("tile_url", value.strip())
