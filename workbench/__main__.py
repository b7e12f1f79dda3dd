"""Entry point: `workbench` opens the GUI; `workbench analyze|analyzers ...` (or a plugin's command) is the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

CLI_COMMANDS = {"analyze", "analyzers", "models", "-h", "--help", "--version"}


def is_cli(argv: list[str]) -> bool:
    """The CLI's own commands, or a plugin's command when no file of that name is meant."""
    if not argv:
        return False
    if argv[0] in CLI_COMMANDS:
        return True
    if argv[0].startswith("-") or Path(argv[0]).exists():
        return False
    from workbench.app.cli import contributed_commands

    return any(command.name == argv[0] for command in contributed_commands())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from workbench.core.memory import keep_freed_memory

    keep_freed_memory()  # before any worker thread starts
    if is_cli(argv):
        from workbench.app.cli import main as cli_main

        return cli_main(argv)
    from workbench.ui.app import main as gui_main

    return gui_main(argv)


if __name__ == "__main__":
    sys.exit(main())
