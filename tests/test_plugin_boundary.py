"""The plugin boundary (issue 18): the workbench imports no plugin, and plugins import the workbench
only through its plugin API, `workbench.api` — the built-in families are the API's first users.

Both rules are read from the source (the AST), so they hold for code no test happens to run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules(folder: str) -> Iterator[tuple[str, ast.Module]]:
    for path in sorted((ROOT / folder).rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"), str(path))


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring nodes (module, class, function), and of bare string statements
    (attribute docstrings): text, not references."""
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for statement in body:
                if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                    found.add(id(statement.value))
    return found


def _imported(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, module) of every import, anywhere in the module (`from a import b`: a)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def plugin_references(tree: ast.Module) -> list[str]:
    """Where a workbench module reaches into `plugins`: imports of it, and string constants naming a
    plugin module ("plugins.x", "plugins.x:attr": what importlib and contribution references take;
    docstrings aside)."""
    found = [f"line {line}: import {module}" for line, module in _imported(tree)
             if module == "plugins" or module.startswith("plugins.")]
    text = _docstrings(tree)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in text
                and node.value.startswith("plugins.")):
            found.append(f"line {node.lineno}: string {node.value!r}")
    return found


def workbench_imports_besides_api(tree: ast.Module) -> list[str]:
    """Where a plugin module imports from the workbench anything but `workbench.api`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module] if node.module != "workbench" else [f"workbench.{a.name}" for a in node.names]
        else:
            continue
        found += [f"line {node.lineno}: {m}" for m in modules
                  if (m == "workbench" or m.startswith("workbench.")) and m != "workbench.api"]
    return found


def test_the_workbench_imports_no_plugin() -> None:
    offences = {
        path: found for path, tree in _modules("workbench")
        if (found := plugin_references(tree))
    }
    assert not offences, f"workbench modules reaching into plugins (contribute through a manifest): {offences}"


def test_plugins_import_the_workbench_only_through_its_api() -> None:
    offences = {path: found for path, tree in _modules("plugins") if (found := workbench_imports_besides_api(tree))}
    assert not offences, f"plugin modules importing the workbench besides workbench.api: {offences}"


def test_the_checks_see_violations() -> None:
    """The detectors above catch each form of the violations they look for."""
    workbench_side = ast.parse(
        '"""Docstrings may name plugins.deepfake.nets."""\n'
        "import plugins.deepfake\n"
        "from plugins.synthetic import nets\n"
        "from plugins import similarity\n"
        'NETS = {"deepfake": "plugins.deepfake.nets"}\n'
        'x = importlib.import_module("plugins.synthetic.nets")\n'
    )
    assert [line.split(":")[0] for line in plugin_references(workbench_side)] == [
        "line 2", "line 3", "line 4", "line 5", "line 6",
    ]
    plugin_side = ast.parse(
        "from workbench.api import Media\n"
        "import workbench.core.media\n"
        "from workbench.core import registry\n"
        "from workbench import api\n"
        "def f():\n"
        "    from workbench.core.models import ModelStore\n"
    )
    assert workbench_imports_besides_api(plugin_side) == [
        "line 2: workbench.core.media", "line 3: workbench.core", "line 6: workbench.core.models",
    ]
