"""Printing a bench's Markdown report and writing it where `--out` says."""

from __future__ import annotations

from pathlib import Path


def publish(report: str, out: Path | None) -> None:
    print("\n" + report)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report, encoding="utf-8")
        print(f"written to {out}")
