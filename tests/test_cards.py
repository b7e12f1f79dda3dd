"""Analyzer cards: sections for the report, and the bench rows copied into them."""

from __future__ import annotations

from pathlib import Path

from bench.card_rows import END, START, measured, section, update_card
from workbench.app.cards import card_sections
from workbench.core import registry

REPORT = """# Localisation bench

| method | pixel AUC | n ok / n |
|---|---:|---:|
| centre-prior | 0.574 | 300 / 300 |
| ela | 0.481 | 300 / 300 |
| adq | 0.635 | 193 / 300 |
| msfusion_dct | – | 0 / 300 |
"""


def test_card_sections_skip_tool_markers() -> None:
    sections = card_sections(f"## Limits\nslow\n{START}\n## Measured\n| a |\n{END}\n")
    assert sections == {"Limits": "slow", "Measured": "| a |"}


def test_bench_rows_replace_the_block_and_skip_unscored_methods(tmp_path: Path) -> None:
    assert measured(REPORT) == {"centre-prior", "ela", "adq"}
    card = tmp_path / "card.md"
    card.write_text("# ELA\n\n## Limits\nslow\n", encoding="utf-8")
    update_card(card, section(REPORT, "docs/x.md", ["ela"]))
    first = card.read_text(encoding="utf-8")
    assert "| ela | 0.481 |" in first and "| centre-prior |" in first and "| adq |" not in first
    update_card(card, section(REPORT.replace("0.481", "0.5"), "docs/x.md", ["ela"]))
    second = card.read_text(encoding="utf-8")
    assert second.count(START) == 1 and "| ela | 0.5 |" in second and "0.481" not in second


def test_per_condition_tables_are_copied_but_do_not_make_a_method_measured(tmp_path: Path) -> None:
    report = REPORT + """
| method (mean pixel AUC) | double_jpeg | inpainting |
|---|---:|---:|
| centre-prior | 0.558 | 0.522 |
| ela | 0.660 | 0.390 |
| msfusion_dct | – | – |
"""
    assert measured(report) == {"centre-prior", "ela", "adq"}
    block = section(report, "docs/x.md", ["ela"])
    assert "| method (mean pixel AUC) | double_jpeg | inpainting |" in block and "| ela | 0.660 | 0.390 |" in block


def test_every_localisation_card_with_weights_free_method_carries_bench_rows() -> None:
    for analyzer_id, analyzer in registry.analyzers().items():
        if analyzer.card_file.parent.name == "localization" and not analyzer.models:
            assert f"| {analyzer_id} |" in analyzer.card, analyzer_id
