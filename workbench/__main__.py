"""Entry point: `workbench` opens the GUI; `workbench analyze|analyzers ...` is the CLI."""

from __future__ import annotations

import sys

CLI_COMMANDS = {"analyze", "analyzers", "models", "index", "search", "-h", "--help", "--version"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from workbench.core.memory import keep_freed_memory

    keep_freed_memory()  # before any worker thread starts
    if argv and argv[0] in CLI_COMMANDS:
        from workbench.app.cli import main as cli_main

        return cli_main(argv)
    from workbench.ui.app import main as gui_main

    return gui_main(argv)


if __name__ == "__main__":
    sys.exit(main())
