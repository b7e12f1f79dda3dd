"""Plugin discovery: the built-in families through their entry points, a plugin's model manifests in
the model store, and plugins the workbench refuses (another API major version, not a Plugin)."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.core import contributions, registry
from workbench.core.models import ModelState, ModelStore

FAMILIES = ["metadata", "localization", "geolocation", "synthetic", "similarity", "deepfake"]


def test_the_built_in_families_are_plugins_like_any_other() -> None:
    assert [p.name for p in contributions.plugins()][: len(FAMILIES)] == FAMILIES
    assert all(p.distribution == "forensic-workbench" for p in contributions.plugins()[: len(FAMILIES)])
    assert not registry.load_errors()
    assert list(registry.analyzers())[:2] == ["metadata", "ela"]
    assert contributions.service("item_search").__name__ == "ItemSearch"
    assert contributions.service("no such service") is None


def write_plugin(site: Path, name: str, body: str) -> None:
    """A plugin module and the dist-info that registers its entry point, as pip would install them."""
    (site / f"{name}.py").write_text(body, encoding="utf-8")
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[{contributions.ENTRY_POINT_GROUP}]\n{name} = {name}:PLUGIN\n",
                                           encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "site"
    folder.mkdir()
    sys.path.insert(0, str(folder))
    try:
        yield folder
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m.startswith("lab_")]:
            del sys.modules[name]
        registry.refresh()


def test_a_plugin_of_another_api_major_version_or_no_plugin_is_refused(site: Path) -> None:
    write_plugin(site, "lab_future", 'from workbench.api import Plugin\nPLUGIN = Plugin("lab_future", api="2.0")\n')
    write_plugin(site, "lab_wrong", "PLUGIN = 42\n")
    registry.refresh()
    errors = registry.load_errors()
    assert "written for plugin API 2.0; this workbench has 1." in errors["lab_future (lab_future:PLUGIN)"]
    assert "is a int, not a workbench.api.Plugin" in errors["lab_wrong (lab_wrong:PLUGIN)"]
    assert "ela" in registry.analyzers()  # the others load


def test_a_plugins_model_manifests_join_the_model_store(site: Path, tmp_path: Path) -> None:
    write_plugin(site, "lab_models", 'from workbench.api import Plugin\n'
                                     'PLUGIN = Plugin("lab_models", model_manifests=("models",))\n')
    weights = b"small weights shipped beside the manifest"
    (site / "models").mkdir()
    (site / "models" / "lab_net.json").write_text(json.dumps(
        {"id": "lab_net", "title": "Lab network", "weights": "lab_net.pt", "card": "lab_net.md",
         "sha256": hashlib.sha256(weights).hexdigest()}), encoding="utf-8")
    (site / "models" / "lab_net.md").write_text("# Lab network\n", encoding="utf-8")
    registry.refresh()
    store = ModelStore(user_dir=tmp_path / "user")
    assert store.status("lab_net").state is ModelState.MISSING
    assert store.card("lab_net") == "# Lab network\n"
    (site / "models" / "lab_net.pt").write_bytes(weights)
    assert ModelStore(user_dir=tmp_path / "user").status("lab_net").state is ModelState.INSTALLED
