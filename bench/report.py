"""Printing a bench's Markdown report and writing it where `--out` says."""

from __future__ import annotations

import re
from pathlib import Path


def publish(report: str, out: Path | None, keep: tuple[str, ...] = ()) -> None:
    """Print the report and write it to `out`, carrying over the `keep` sections `out` already holds
    (another mode's report in the same file)."""
    print("\n" + report)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        old = out.read_text(encoding="utf-8") if out.is_file() else ""
        kept = [block for name in keep if (block := _section(old, name))]
        out.write_text("\n".join([report.rstrip("\n"), *kept]) + "\n", encoding="utf-8")
        print(f"written to {out}")


def publish_section(report: str, out: Path | None, name: str) -> None:
    """Print the report and put it in `out` as the section `name` (between `<!-- name -->` and
    `<!-- /name -->`), replacing that section or appending it; the rest of the file stays."""
    print("\n" + report)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        old = out.read_text(encoding="utf-8") if out.is_file() else ""
        block = f"<!-- {name} -->\n{report.strip()}\n<!-- /{name} -->"
        pattern = _pattern(name)
        if pattern.search(old):
            text = pattern.sub(lambda _: block, old)
        else:
            text = "\n\n".join(filter(None, [old.rstrip(), block]))
        out.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
        print(f"written to {out} (section {name})")


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(f"<!-- {name} -->") + r".*?" + re.escape(f"<!-- /{name} -->"), re.S)


def _section(text: str, name: str) -> str:
    found = _pattern(name).search(text)
    return "\n" + found.group(0) if found else ""
