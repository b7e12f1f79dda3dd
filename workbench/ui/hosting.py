"""What the main window gives the parts that plugins contribute to it, and what it asks of them.

A panel (`workbench.api.Panel`, a dock) or a result tab (`workbench.api.ResultTab`, a tab beside the
viewer) is made by its factory, `factory(host)`, when the window is built (a panel) or when the first
result it shows arrives (a tab). `host` is the window, seen through `PanelHost`: a plugin uses nothing
else of it. The window then calls the methods of `PanelWidget` / `ResultTabWidget` that the widget
has (`call`): all of a panel's are optional, a result tab needs `show_result` and `clear`.

Nothing here imports a plugin; the window finds the parts through `workbench.core.contributions`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    from PySide6.QtGui import QAction

    from workbench.app.case import Case, Evidence, Run
    from workbench.core.preferences import Preferences
    from workbench.core.presets import Preset
    from workbench.ui.qt_jobs import QtJobs


class PanelHost(Protocol):
    """The window, as a panel's or result tab's factory receives it."""

    case: Case
    """The open case (it changes: a panel hears of it through `set_case`)."""
    jobs: QtJobs
    """The window's job runner: work off the GUI thread, listed with progress and cancel in Analyses."""
    max_pixels: int
    """The largest image the analyst allows (Preferences; a panel hears of changes through
    `preferences_changed`)."""

    def selected_evidence(self) -> list[Evidence]:
        """The items selected in the evidence list, in list order."""

    def install_model(self, model_id: str) -> None:
        """Open Settings ▸ Models at this model (its card says where to get the file)."""

    def show_message(self, title: str, text: str) -> object:
        """A non-blocking warning; several collect in one box."""

    def show_status(self, text: str, timeout_ms: int = 10000) -> None:
        """A line in the status bar for `timeout_ms` (0: until replaced)."""


class PanelWidget(Protocol):
    """The methods the window calls on a panel's widget, each only when the widget has it."""

    def set_case(self, case: Case | None) -> None:
        """A case was opened (also once right after the panel is made)."""

    def set_evidence(self, evidence: Evidence | None, rgb: np.ndarray | None) -> None:
        """The item shown now and its pixels (None when it could not be decoded)."""

    def preferences_changed(self, prefs: Preferences) -> None:
        """The analyst accepted Settings ▸ Preferences."""

    def run_preset(self, preset: Preset, evidence_ids: list[int]) -> bool:
        """Analyses of `preset` start on these items: do the panel's share (e.g. the similar-image
        search of a preset with `search`); True when it did, and the window then shows its dock."""

    def menu_actions(self) -> list[QAction]:
        """Actions the window lists in the panel's menu (`Panel.menu`), after its show/hide action;
        asked once, when the window builds its menus."""

    def release(self) -> None:
        """The window closes: stop what must not outlive it (web views, files)."""


class ResultTabWidget(Protocol):
    """A result tab's widget: the window shows one run's result in it, or clears it."""

    def show_result(self, run: Run) -> None:
        """Show this successful result of the tab's analyzer (the tab is on screen or about to be)."""

    def clear(self) -> None:
        """Another item is shown: forget the result (the widget is kept for the next one)."""

    def release(self) -> None:
        """Optional: the window closes."""

    def preferences_changed(self, prefs: Preferences) -> None:
        """Optional: the analyst accepted Settings ▸ Preferences."""


def call(widget: object, method: str, *args: Any) -> Any:
    """`widget.method(*args)` when the widget has that method, else None."""
    function = getattr(widget, method, None)
    return function(*args) if callable(function) else None
