"""Copy each method's rows of a localisation bench report into its analyzer card.

    .venv/bin/python -m bench.card_rows docs/localization-bench.md

The rows go between `<!-- bench -->` and `<!-- /bench -->` in the card (appended when absent), with
the table headers and a pointer to the report, so cards and `docs/` never disagree.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from workbench.core import registry

START, END = "<!-- bench -->", "<!-- /bench -->"


def tables(report: str) -> list[list[str]]:
    """The Markdown tables of the report, each as its lines (header, rule, rows)."""
    found: list[list[str]] = []
    current: list[str] = []
    for line in report.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    return found


def _method(line: str) -> str:
    return line.split("|")[1].strip()


def measured(report: str) -> set[str]:
    """Methods with at least one scored image in a table whose last column reads "n ok / n" (the
    per-condition tables have none: a method measured there is measured in those too)."""
    return {
        _method(line) for table in tables(report) if table[0].rstrip(" |").endswith("n ok / n")
        for line in table[2:] if line.rstrip(" |").split("|")[-1].strip().split("/")[0].strip() not in ("", "0")
    }


def section(report: str, report_name: str, methods: list[str]) -> str:
    """A card's bench block: the summary and per-kind rows of its `methods`, with the
    centre-prior baseline for scale."""
    parts = [
        START,
        "## Measured on the project's synthetic bench",
        f"From `{report_name}` (how the set is made, the metric definitions and the caveats are "
        "there); the centre-prior row is a map that ignores the image, for scale.",
        "",
    ]
    for table in tables(report):
        rows = [line for line in table[2:] if _method(line) in ("centre-prior", *methods)]
        if any(_method(line) in methods for line in rows):
            parts += [*table[:2], *rows, ""]
    return "\n".join(parts + [END])


def update_card(card: Path, block: str) -> None:
    text = card.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    card.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="the Markdown written by bench.localization --out")
    args = parser.parse_args(argv)
    report = args.report.read_text(encoding="utf-8")
    scored = measured(report)
    by_card: dict[Path, list[str]] = {}
    for analyzer_id, analyzer in registry.analyzers().items():
        if analyzer_id in scored and analyzer.card_file.is_file():
            by_card.setdefault(analyzer.card_file, []).append(analyzer_id)
    for card, methods in by_card.items():
        update_card(card, section(report, args.report.as_posix(), methods))
        print(f"{', '.join(methods)}: {card}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
