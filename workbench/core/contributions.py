"""Plugins: installed Python packages that contribute analyzers, result views, report figures,
panels, CLI commands, trainable detector families and services, found at start-up through entry points.

A plugin declares everything in one `Plugin` object named by an entry point of the group
`forensic_workbench.plugins` in its `pyproject.toml`; the built-in families register the same way
(this project's own `pyproject.toml`). Every contribution is a "module:attribute" reference, imported
only when used: the CLI never imports a Qt view, and listing plugins imports no analyzer. A plugin
that fails to load, or whose parts fail to import, is listed with the reason (`load_errors`), never
fatal. `docs/plugins.md` says how to write one; `workbench.api` is what a plugin may import.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import distributions
from pathlib import Path
from typing import Any

ENTRY_POINT_GROUP = "forensic_workbench.plugins"
USER_PLUGINS = "plugins"
"""Folder of the user data folder searched for plugins too: `pip install --target <data>/plugins PKG`
adds a pure-Python plugin to the double-click app, which has no environment of its own to install into."""
API_VERSION = "1.0"
"""The plugin API's version (`workbench.api`): a plugin written for another major version is refused."""


@dataclass(frozen=True)
class Panel:
    """A dock widget of the main window (imported by the GUI only, when it builds its window).

    `factory(host)` returns the QWidget; `host` is the window (`workbench.ui.hosting.PanelHost`: the
    case, the job runner, the pixel limit, the selected items, messages, installing a model). The
    window then calls the widget's optional methods (`workbench.ui.hosting.PanelWidget`): `set_case`
    when a case opens, `set_evidence` when an item is shown, `preferences_changed`, `run_preset` when
    analyses start, `menu_actions` once for its menu and `release` when the window closes.

    * `id`: unique, e.g. "similarity.search" (the window's `panels` and `panel_docks` keys).
    * `title`: the dock's title; `menu`: a menu of the window ("Sea&rch") that lists the dock's
      show/hide action and the panel's `menu_actions` (empty: the View menu only); `shortcut`: of the
      show/hide action ("Ctrl+Shift+F"); `visible`: shown when the window opens.
    """

    id: str
    title: str
    factory: str
    menu: str = ""
    shortcut: str = ""
    visible: bool = False


@dataclass(frozen=True)
class ResultTab:
    """A tab beside the viewer for one analyzer's results (e.g. the geolocation map), imported by the
    GUI only. `factory(host)` returns the QWidget, made once per window on the first successful result
    of `analyzer` and then kept (it may hold a costly resource, such as a web view); for each item
    shown with such a result the window adds it as the tab `title` and calls `show_result(run)`, and it
    calls `clear()` when another item is shown (`workbench.ui.hosting.ResultTabWidget`; `release` and
    `preferences_changed` optional, as for panels)."""

    analyzer: str
    title: str
    factory: str


@dataclass(frozen=True)
class Command:
    """A `workbench NAME` subcommand: `configure(parser)` adds its arguments, `run(args)` returns the exit status."""

    name: str
    help: str
    configure: str
    run: str


@dataclass(frozen=True)
class Plugin:
    """Everything one plugin contributes, as "module:attribute" references.

    * `analyzers`: Analyzer classes (each with its card file and model ids).
    * `model_manifests`: folders of model manifests (`*.json`, see `models/README.md`), relative to
      the folder of the module that defines this object.
    * `views`: analyzer id → `factory(run, included=None)` returning the `workbench.api.ResultView`
      (or a subclass) for its successful results in the results panel, in place of the view of its
      result type; `included` is the analyst's report choice (None: the default). GUI only.
    * `report_figures`: analyzer id → `figure(result)` returning `(rgb, caption)`, an RGB uint8
      figure the report prints at text width after the result's details, or None for no figure.
    * `panels`, `result_tabs`, `commands`: dock widgets (`Panel`), tabs beside the viewer for an
      analyzer's results (`ResultTab`) and CLI subcommands (`Command`).
    * `training`: detector family name (the manifests' "family") → its `workbench.api.TrainingFamily`
      (networks, input crop, output reading, backbones), which `python -m workbench.training` trains.
    * `services`: a named capability the application asks for by name (`service`), e.g.
      "item_search": the search of each analysed image in a collection.
    * `order`: where its analyzers are listed (lower first; the built-ins use 10-60).
    """

    name: str
    api: str = API_VERSION
    analyzers: tuple[str, ...] = ()
    model_manifests: tuple[str, ...] = ()
    views: dict[str, str] = field(default_factory=dict)
    report_figures: dict[str, str] = field(default_factory=dict)
    panels: tuple[Panel, ...] = ()
    result_tabs: tuple[ResultTab, ...] = ()
    commands: tuple[Command, ...] = ()
    training: dict[str, str] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)
    order: int = 100
    folder: Path | None = None
    """Set on discovery: the folder of the module that defines the plugin (for `model_manifests`)."""
    distribution: str = ""
    """Set on discovery: the installed distribution that declares it."""


class PluginError(Exception):
    """A contribution that cannot be imported."""


def user_plugin_dir() -> Path:
    from workbench.core.paths import data_dir

    return data_dir() / USER_PLUGINS


@cache
def _discover() -> tuple[tuple[Plugin, ...], dict[str, str]]:
    user_folder = user_plugin_dir()
    if user_folder.is_dir() and str(user_folder) not in sys.path:
        sys.path.append(str(user_folder))
    found: list[Plugin] = []
    errors: dict[str, str] = {}
    # every distribution, not importlib's first of each name: a stale `*.egg-info` left in the working
    # folder by a build would otherwise hide the installed package's entry points
    for ep in (ep for dist in distributions() for ep in dist.entry_points.select(group=ENTRY_POINT_GROUP)):
        where = f"{ep.name} ({ep.value})"
        try:
            plugin = ep.load()
            if not isinstance(plugin, Plugin):
                raise TypeError(f"is a {type(plugin).__name__}, not a workbench.api.Plugin")
            if plugin.api.split(".")[0] != API_VERSION.split(".")[0]:
                raise ValueError(f"written for plugin API {plugin.api}; this workbench has {API_VERSION}")
        except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, never fatal
            errors[where] = f"{type(exc).__name__}: {exc}"
            continue
        module = importlib.import_module(ep.module)
        folder = Path(module.__file__).parent if getattr(module, "__file__", None) else None
        dist = ep.dist.name if ep.dist is not None else ""
        found.append(dataclasses.replace(plugin, folder=folder, distribution=dist))
    unique: dict[str, Plugin] = {}
    for plugin in sorted(found, key=lambda p: (p.order, p.name)):
        if plugin.name in unique:  # the same package seen twice on the path (e.g. an editable and a copy)
            continue
        unique[plugin.name] = plugin
    return tuple(unique.values()), errors


def plugins() -> tuple[Plugin, ...]:
    """The installed plugins that loaded, in their `order`."""
    return _discover()[0]


def load_errors() -> dict[str, str]:
    """Plugins whose entry point failed to load, with the reason."""
    return _discover()[1]


def refresh() -> None:
    """Forget what was discovered (a plugin was installed or removed while running: tests, the CLI)."""
    _discover.cache_clear()
    importlib.invalidate_caches()


def load(reference: str) -> Any:
    """The object a "module:attribute" reference names (PluginError when it cannot be imported)."""
    module, _, name = reference.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in name.split(".") if name else ():
            obj = getattr(obj, part)
    except Exception as exc:  # noqa: BLE001 - a broken contribution is reported by its caller
        raise PluginError(f"{reference}: {type(exc).__name__}: {exc}") from exc
    return obj


def contributed(kind: str) -> dict[str, str]:
    """Every plugin's mapping contributions of one kind ("views", "report_figures", "training",
    "services") merged, the first plugin in order winning a key."""
    merged: dict[str, str] = {}
    for plugin in plugins():
        for key, reference in getattr(plugin, kind).items():
            merged.setdefault(key, reference)
    return merged


def first_by(kind: str, key: Callable[[Any], str]) -> dict[str, Any]:
    """Every plugin's list contributions of one kind ("panels", "result_tabs", "commands") by `key`, in
    plugin order, the first plugin in order winning a key."""
    unique: dict[str, Any] = {}
    for plugin in plugins():
        for item in getattr(plugin, kind):
            unique.setdefault(key(item), item)
    return unique


def panels() -> tuple[Panel, ...]:
    """Every plugin's panels in plugin order, the first plugin in order winning an id."""
    return tuple(first_by("panels", lambda panel: panel.id).values())


def result_tabs() -> dict[str, ResultTab]:
    """Analyzer id → the tab its results get, the first plugin in order winning an analyzer."""
    return first_by("result_tabs", lambda tab: tab.analyzer)


def service(name: str) -> Any | None:
    """The object a plugin contributes as the named service, or None when no plugin offers it."""
    reference = contributed("services").get(name)
    return load(reference) if reference else None


def manifest_dirs() -> list[Path]:
    """The model-manifest folders plugins contribute."""
    return [plugin.folder / rel for plugin in plugins() if plugin.folder is not None for rel in plugin.model_manifests]
