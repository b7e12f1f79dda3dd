"""The analyzers the installed plugins contribute (`contributions`), imported only when first asked
for so the window starts fast.

A plugin that fails to import is reported (`load_errors`), never allowed to take the
application down with it.
"""

from __future__ import annotations

from functools import cache

from workbench.core import contributions
from workbench.core.plugin import Analyzer


@cache
def _load() -> tuple[dict[str, Analyzer], dict[str, str]]:
    found: dict[str, Analyzer] = {}
    errors: dict[str, str] = dict(contributions.load_errors())
    for plugin in contributions.plugins():
        for spec in plugin.analyzers:
            try:
                analyzer = contributions.load(spec)()
            except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not fatal
                errors[spec] = f"{type(exc).__name__}: {exc}"
                continue
            if analyzer.id in found:
                errors[spec] = f"analyzer id {analyzer.id!r} is taken by another plugin"
                continue
            found[analyzer.id] = analyzer
    return found, errors


def refresh() -> None:
    """Discover the plugins again (one was installed or removed while running)."""
    contributions.refresh()
    _load.cache_clear()


def analyzers() -> dict[str, Analyzer]:
    """All working analyzers by id, in the plugins' order, each plugin's in its own order."""
    return _load()[0]


def load_errors() -> dict[str, str]:
    """Plugins and analyzers that failed to load, with the reason."""
    return _load()[1]


def get(analyzer_id: str) -> Analyzer:
    try:
        return analyzers()[analyzer_id]
    except KeyError:
        raise KeyError(
            f"unknown analyzer '{analyzer_id}'; available: {', '.join(analyzers())}"
        ) from None


def ready(analyzer: Analyzer) -> bool:
    """True when every model the analyzer needs is installed and verified (always for classical ones).
    An analyzer whose members are found at run time (an ensemble) says with `members_ready(store)`
    whether at least one of them is installed."""
    members_ready = getattr(analyzer, "members_ready", None)
    if not analyzer.models and members_ready is None:
        return True
    from workbench.core.models import ModelStore

    store = ModelStore()
    try:
        required = all(store.status(model_id).installed for model_id in analyzer.models)
        return required and (members_ready is None or members_ready(store))
    except Exception:  # noqa: BLE001 - an unknown or broken manifest means "not ready"
        return False
