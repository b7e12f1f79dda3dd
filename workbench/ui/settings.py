"""The GUI's access to the preferences (`workbench.core.preferences`, shared with the CLI)."""

from __future__ import annotations

from workbench.core import preferences


def max_pixels() -> int:
    return preferences.load().max_pixels


def set_max_pixels(value: int) -> None:
    preferences.update(max_pixels=int(value))


def tile_url() -> str:
    """The user's own map tile server ("" = none: maps use the bundled boundaries only, offline)."""
    return preferences.load().tile_url


def set_tile_url(value: str) -> None:
    preferences.update(tile_url=value.strip())
