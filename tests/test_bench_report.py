"""Bench reports: a mode's section of a shared --out file is replaced in place and kept by the other mode."""

from __future__ import annotations

from pathlib import Path

from bench.report import publish, publish_section


def test_a_section_is_appended_then_replaced_and_kept_by_a_full_rewrite(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    publish("# Mixed set\n\n| a |\n", out)
    publish_section("## Per condition\n\nfirst", out, "conditions")
    block = "<!-- conditions -->\n## Per condition\n\nfirst\n<!-- /conditions -->\n"
    assert out.read_text() == "# Mixed set\n\n| a |\n\n" + block
    publish_section("## Per condition\n\nsecond", out, "conditions")
    text = out.read_text()
    assert "second" in text and "first" not in text and text.count("<!-- conditions -->") == 1
    publish("# Mixed set again\n", out, keep=("conditions",))
    text = out.read_text()
    assert text.startswith("# Mixed set again\n") and "| a |" not in text and text.count("second") == 1
    publish("# Alone\n", out)
    assert out.read_text() == "# Alone\n"
