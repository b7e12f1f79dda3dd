"""False alarms at each score threshold, read from the committed calibration tables (nothing runs).

    .venv/bin/python -m bench.false_alarms --out docs/localization-bench.md

For each analyzer, the share of the unedited photos of its table (`python -m bench.calibration`)
that scored at or above each threshold: what flagging "score ≥ t" costs on authentic photos. The
section sits in the localisation bench report beside the detection tables it qualifies.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from bench.report import publish_section
from workbench.core import registry
from workbench.core.calibration import percent, table_for

THRESHOLDS = (0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
ANALYZERS = ("fusion", "copy_move_dense", "copy_move", "noise_trace", "splicebuster")
"""The learned fusion and the dense copy-move detector (issue 15's tables) and the signals an
investigator reads beside them."""


def section(analyzer_ids: Sequence[str]) -> str:
    """The Markdown section: one row per analyzer, its false-alarm rate at each threshold."""
    lines = [
        "## Calibration: false alarms on unedited photos", "",
        "Share of the unedited photos of each analyzer's calibration table that score at or above each "
        "threshold — the false-alarm rate of flagging \"score ≥ t\". The tables (`plugins/<family>/"
        "calibration/<id>.json`, measured by `python -m bench.calibration`; `docs/calibration.md`) are "
        "what the GUI, the CLI and the report read to put a rank beside every score. The fusion's and the "
        "noise trace's leave out the photos their training samples were made from.", "",
        "Reproduce: `.venv/bin/python -m bench.false_alarms --out docs/localization-bench.md`.", "",
        "| analyzer | version | photos | " + " | ".join(f"≥ {t:g}" for t in THRESHOLDS) + " |",
        "|---|---|---:|" + "---:|" * len(THRESHOLDS),
    ]
    for analyzer_id in analyzer_ids:
        analyzer = registry.get(analyzer_id)
        table = table_for(analyzer)
        if table is None:
            lines.append(f"| {analyzer_id} | {analyzer.version} | no table |" + " – |" * len(THRESHOLDS))
            continue
        rates = " | ".join(percent(table.false_alarms(t)) for t in THRESHOLDS)
        lines.append(f"| {analyzer_id} | {table.version} | {table.count} | {rates} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--analyzers", default=",".join(ANALYZERS), help="comma-separated ids")
    parser.add_argument("--out", type=Path, help="put the section (<!-- calibration -->) in this Markdown file")
    args = parser.parse_args(argv)
    publish_section(section([a for a in args.analyzers.split(",") if a]), args.out, "calibration")


if __name__ == "__main__":
    main()
