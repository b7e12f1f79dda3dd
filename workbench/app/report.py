"""The PDF case report: what the GUI shows, with hashes re-verified and provenance spelled out.

`build_report` makes HTML plus named figures (numpy, no Qt); `write_pdf` paints them with
QTextDocument onto a QPdfWriter, offscreen, so the CLI and the GUI share one report.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from workbench import __version__
from workbench.app.cards import card_sections, markdown_to_html
from workbench.app.case import Case, Evidence, Run
from workbench.app.per_frame import box_labels, draw_boxes, line_plot, timecode, verdict_line
from workbench.core import registry
from workbench.core.hashing import sha256_file
from workbench.core.media import Media, MediaError, open_media
from workbench.core.plugin import current_user
from workbench.core.render import blend, colorize, contact_sheet, draw_pairs, legend_bar
from workbench.core.results import Boxes, Facts, Heatmap, Result, Segments, Series, Status, Verdict

FIGURE_WIDTH = 640
THUMBS_PER_ROW = 3
KEY_METADATA = (
    ("Camera", ("Make", "Model")),
    ("Taken", ("DateTimeOriginal",)),
    ("Software", ("Software",)),
    ("GPS", ("Latitude (decimal °)", "Longitude (decimal °)")),
)
CARD_SECTIONS = ("How to read it", "Limits")

CSS = """
body { font-family: 'DejaVu Sans', sans-serif; font-size: 9pt; }
h1 { font-size: 17pt; } h2 { font-size: 13pt; margin-top: 14px; } h3 { font-size: 11pt; }
table { border-collapse: collapse; } td, th { padding: 2px 4px; border: 1px solid #999; }
th { background: #e6e6e6; text-align: left; }
.hash { font-family: 'DejaVu Sans Mono', monospace; font-size: 7pt; }
.bad { color: #b00000; font-weight: bold; } .good { color: #006000; }
.note { color: #555; }
"""


@dataclass
class Report:
    html: str
    figures: dict[str, np.ndarray] = field(default_factory=dict)


MediaOf = Callable[[], Media | None]
"""The evidence re-opened on first use, None when it cannot be or failed the hash check."""


def _reopener(evidence: Evidence, check: HashCheck) -> MediaOf:
    """Opens the file without hashing it a second time: `check` has just hashed it."""

    @functools.cache
    def media() -> Media | None:
        if not check.ok:
            return None
        try:
            return open_media(evidence.path, sha256=evidence.sha256)
        except MediaError:
            return None

    return media


@dataclass
class HashCheck:
    ok: bool
    text: str


def verify_hash(evidence: Evidence) -> HashCheck:
    """Re-hash the evidence now, as the report is made."""
    try:
        current = sha256_file(evidence.path)
    except OSError as exc:
        return HashCheck(False, f"NOT VERIFIED: file unreadable or missing ({exc.strerror or exc})")
    if current != evidence.sha256:
        return HashCheck(False, f"MISMATCH: the file now hashes to {current}")
    return HashCheck(True, "verified at export")


def build_report(case: Case) -> Report:
    figures: dict[str, np.ndarray] = {}
    evidence = case.all_evidence()
    runs = {e.id: case.latest_runs(e.id) for e in evidence}
    checks = {e.id: verify_hash(e) for e in evidence}
    parts = [
        f"<html><head><style>{CSS}</style></head><body>",
        f"<h1>Forensic report: {_e(case.name)}</h1>",
        _kv_table(
            [
                ("Case", case.name),
                ("Analyst", case.analyst),
                ("Report date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
                ("Tool", f"Forensic Workbench {__version__}"),
                ("Exported by", current_user()),
                ("Case folder", str(case.root)),
            ]
        ),
        "<h2>Evidence</h2>",
        _evidence_table(evidence, runs, checks),
    ]
    for item in evidence:
        parts.append(f"<h2>Evidence #{item.id}: {_e(item.name)}</h2>")
        if not checks[item.id].ok:
            parts.append(f"<p class='bad'>{_e(checks[item.id].text)}</p>")
        media = _reopener(item, checks[item.id])
        if item.kind == "video":
            parts.append(_video_facts_html(media))
        if not runs[item.id]:
            parts.append("<p class='note'>No analysis was run on this item.</p>")
        for run in runs[item.id]:
            parts.append(_run_section(media, run, figures))
    parts.append("<h2>Audit log</h2>")
    parts.append(_table(["Time (UTC)", "User", "Action", "Detail"],
                        [(a.at, a.user, a.action, a.detail) for a in case.audit()]))
    parts.append("</body></html>")
    return Report("\n".join(parts), figures)


def _evidence_table(evidence: list[Evidence], runs: dict[int, list[Run]], checks: dict[int, HashCheck]) -> str:
    rows = []
    for e in evidence:
        check = checks[e.id]
        status = f"<span class='{'good' if check.ok else 'bad'}'>{_e(check.text)}</span>"
        meta = "<br/>".join(f"{k}: {_e(v)}" for k, v in key_metadata(runs[e.id]).items()) or "—"
        rows.append(
            f"<tr><td>{e.id}</td><td>{_e(e.name)}<br/><span class='note'>{_e(str(e.path))}</span></td>"
            f"<td>{e.size:,} B</td><td>{e.width}×{e.height}<br/>{_e(e.format)}</td>"
            f"<td><span class='hash'>{e.sha256}</span><br/>{status}</td><td>{meta}</td></tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("#", "File", "Size", "Dimensions", "SHA-256", "Key metadata"))
    return f"<table width='100%'><tr>{head}</tr>{''.join(rows)}</table>"


def key_metadata(runs: list[Run]) -> dict[str, str]:
    """Camera, capture date, software and GPS from the latest metadata run, if any."""
    facts = next((r.result for r in runs if isinstance(r.result, Facts) and r.result.analyzer == "metadata"
                  and r.result.ok), None)
    if facts is None:
        return {}
    values = {k: v for t in facts.tables for k, v in t.rows}
    found = {}
    for label, keys in KEY_METADATA:
        present = [values[k] for k in keys if values.get(k)]
        if present:
            found[label] = ", ".join(present)
    return found


def _video_facts_html(media: MediaOf) -> str:
    opened = media()
    if opened is None or opened.video is None:
        return "<p class='note'>Container facts not read: the video could not be re-opened.</p>"
    return f"<p><b>Container</b></p>{_kv_table(opened.video.facts())}"


def _run_section(media: MediaOf, run: Run, figures: dict[str, np.ndarray]) -> str:
    result = run.result
    analyzer = registry.analyzers().get(result.analyzer)
    title = analyzer.title if analyzer else result.analyzer
    parts = [f"<h3>{_e(title)} <span class='note'>({_e(result.analyzer)})</span></h3>"]
    if result.status is not Status.OK:
        parts.append(f"<p class='bad'>Status: {result.status.value}. {_e(result.message)}</p>")
    if isinstance(result, Heatmap) and result.map is not None:
        parts.append(_heatmap_figure(media, run, figures))
    if isinstance(result, Facts):
        parts.append(_facts_html(result, run, figures))
    if isinstance(result, Series) and result.ok:
        parts.append(_series_html(result, media, run, figures))
    if isinstance(result, Verdict) and result.ok:
        parts.append(_verdict_html(result, media, run, figures))
    if isinstance(result, Boxes) and result.ok and result.boxes is not None and len(result.boxes):
        parts.append(_boxes_figure(result, media, run, figures))
    if isinstance(result, Segments) and result.ok:
        parts.append(_segments_html(result, run, figures))
    parts.append(_numbers_html(result))
    if analyzer is not None:
        sections = card_sections(analyzer.card)
        for name in CARD_SECTIONS:
            if sections.get(name):
                parts.append(f"<p><b>{name}</b></p>{markdown_to_html(sections[name])}")
    return "\n".join(parts)


def _pixels(media: MediaOf) -> np.ndarray | None:
    """The image (a video's poster frame), None when the file cannot be re-opened or decoded."""
    opened = media()
    try:
        return opened.pixels() if opened is not None else None
    except MediaError:
        return None


def _heatmap_figure(media: MediaOf, run: Run, figures: dict[str, np.ndarray]) -> str:
    result = run.result
    assert isinstance(result, Heatmap) and result.map is not None
    name = f"run{run.id}.png"
    rgb = _pixels(media)
    caption = "Left: the map over the image (opacity 0.7). Right: the map alone."
    if rgb is None or rgb.shape[:2] != result.map.shape[:2]:  # the map alone still documents the result
        rgb = np.zeros((*result.map.shape, 3), np.uint8)
        caption = "The map alone, twice (the evidence file could not be re-opened)"
    overlay = blend(rgb, result.map)
    if result.pairs is not None and len(result.pairs):
        overlay = draw_pairs(overlay, result.pairs)
        caption += f" Lines: {len(result.pairs)} matched point pairs."
    gutter = np.full((result.map.shape[0], max(4, result.map.shape[1] // 50), 3), 255, np.uint8)
    figures[name] = np.hstack([overlay, gutter, colorize(result.map)])
    figures["legend.png"] = legend_bar()
    width = min(FIGURE_WIDTH, figures[name].shape[1])
    html_parts = [
        f"<p><img src='{name}' width='{width}'/><br/><span class='note'>{_e(caption)}</span></p>",
        f"<p>{_e(result.legend_low)} <img src='legend.png' width='160' height='10'/> {_e(result.legend_high)}</p>",
    ]
    if result.stack:
        sheet = f"run{run.id}-stack.png"
        figures[sheet] = contact_sheet(result.stack)
        html_parts.append(f"<p><img src='{sheet}' width='{min(FIGURE_WIDTH, figures[sheet].shape[1])}'/><br/>"
                          f"<span class='note'>{len(result.stack)} further maps (same colour scale)</span></p>")
    return "\n".join(html_parts)


def _facts_html(result: Facts, run: Run, figures: dict[str, np.ndarray]) -> str:
    parts = []
    if result.findings:
        parts.append("<p><b>Findings</b></p><ul>" + "".join(f"<li>{_e(f)}</li>" for f in result.findings) + "</ul>")
    for key, image in result.images.items():
        name = f"run{run.id}-{key}.png"
        figures[name] = image
        # full-width figures (a map) print large; small ones (an EXIF thumbnail) stay small
        width = 600 if image.shape[1] >= 800 else min(240, image.shape[1] * 2)
        parts.append(f"<p><img src='{name}' width='{width}'/><br/><span class='note'>{_e(key)}</span></p>")
    for table in result.tables:
        parts.append(f"<p><b>{_e(table.title)}</b></p>{_kv_table(table.rows)}")
    return "\n".join(parts)


def _series_html(result: Series, media: MediaOf, run: Run, figures: dict[str, np.ndarray]) -> str:
    """The curve over the video's duration, how frames were chosen and lost, the top frames."""
    values = np.zeros(0) if result.values is None else np.asarray(result.values, np.float64)
    parts = []
    if result.times is not None and len(values):
        parts.append(_plot_html(result.times, values, result.label or "value per frame", media, run, figures,
                                "Gaps: frames whose analysis failed."))
    source = registry.analyzers().get(result.source_analyzer)
    parts.append(_kv_table([
        ("Per-frame value", result.label or "—"),
        ("Computed by", f"{source.title} ({result.source_analyzer})" if source else result.source_analyzer or "—"),
        ("Frames", result.sampling or "—"),
        ("Frames analysed", str(len(values))),
        ("Undecodable frames skipped", str(result.skipped)),
        ("Frames whose analysis failed", str(int(np.isnan(values).sum()))),
    ]))
    if result.top:
        parts.append("<p><b>Highest frames</b></p>" + _table(["Frame", "Time", "Value"], [
            (str(t["frame"]), timecode(float(t["time"])), "—" if t["value"] is None else f"{t['value']:.4f}")
            for t in result.top]))
    cells = []
    for i, (key, image) in enumerate(result.images.items()):
        name = f"run{run.id}-frame{i}.png"
        figures[name] = image
        cells.append(f"<td><img src='{name}' width='200'/><br/><span class='note'>{_e(key)}</span></td>")
    rows = ["<tr>" + "".join(cells[i:i + THUMBS_PER_ROW]) + "</tr>" for i in range(0, len(cells), THUMBS_PER_ROW)]
    if rows:
        parts.append(f"<table>{''.join(rows)}</table>")
    return "\n".join(parts)


def _verdict_html(result: Verdict, media: MediaOf, run: Run, figures: dict[str, np.ndarray]) -> str:
    """The answer or the abstention, calibration, the aggregation rule, every vote, the per-frame curve."""
    parts = [f"<p><b>{_e(verdict_line(result))}</b></p>", _kv_table([
        ("Abstained", "yes" if result.abstained else "no"),
        ("Explanation", result.explanation or "—"),
        ("Calibrated", "yes: a probability" if result.calibrated else "no: a score for ranking, not a frequency"),
        ("Aggregation", result.aggregation or "—"),
    ])]
    if result.votes:
        parts.append("<p><b>Votes</b></p>" + _table(["Model", "Probability", "Status", "Note"], [
            (str(v.get("title") or v.get("model", "")), "—" if v.get("probability") is None
             else f"{v['probability']:.4f}", str(v.get("status", "")), str(v.get("note", ""))) for v in result.votes]))
    if result.times is not None and result.values is not None and len(result.values):
        parts.append(_plot_html(result.times, np.asarray(result.values, np.float64), result.label or "probability",
                                media, run, figures, "Per-frame probability."))
    return "\n".join(parts)


def _segments_html(result: Segments, run: Run, figures: dict[str, np.ndarray]) -> str:
    """Copied segments as a table (query and reference times) and the matrix with aligned timelines."""
    from plugins.similarity.video_copy_figure import segments_figure  # only for reports with copy detection

    rows = result.rows if result.rows is not None else np.zeros((0, 5))
    parts = [_kv_table([("Method", result.method or "—"), ("Query duration", timecode(result.query_duration)),
                        ("Copied segments", str(len(rows)))])]
    if len(rows):
        parts.append(_table(["Reference", "Query from", "to", "Reference from", "to", "Score"], [
            (ref, timecode(q0), timecode(q1), timecode(r0), timecode(r1), f"{score:.3f}")
            for ref, (q0, q1, r0, r1, score) in zip(result.references, rows.tolist(), strict=False)]))
    else:
        parts.append("<p>No copied segment found in the reference videos.</p>")
    name = f"run{run.id}-segments.png"
    figures[name] = segments_figure(result)
    parts.append(f"<p><img src='{name}' width='{min(FIGURE_WIDTH, figures[name].shape[1])}'/><br/><span "
                 f"class='note'>Frame similarity of the query (time down) against "
                 f"{_e(result.matrix_reference or 'the best reference')} (time across), matched segments "
                 "outlined; below, the segments on aligned timelines.</span></p>")
    return "\n".join(parts)


def _plot_html(times: np.ndarray, values: np.ndarray, label: str, media: MediaOf, run: Run,
               figures: dict[str, np.ndarray], note: str) -> str:
    opened = media()
    duration = opened.video.duration if opened is not None and opened.video else float(np.max(times))
    name = f"run{run.id}-plot.png"
    figures[name] = line_plot(times, values, duration, label)
    return (f"<p><img src='{name}' width='{FIGURE_WIDTH}'/><br/><span class='note'>{_e(label)} against time "
            f"(seconds, whole video). {_e(note)}</span></p>")


def _boxes_figure(result: Boxes, media: MediaOf, run: Run, figures: dict[str, np.ndarray]) -> str:
    """Boxes over the image, or on a video over the frame of the most confident box."""
    assert result.boxes is not None
    labels, chosen = box_labels(result), np.arange(len(result.boxes))
    opened = media()
    if result.frames is None:
        rgb, caption = _pixels(media), f"{len(result.boxes)} box(es) over the image."
    else:
        scores = np.zeros(len(result.boxes)) if result.box_scores is None else np.asarray(result.box_scores, float)
        frame = int(result.frames[int(np.argmax(np.nan_to_num(scores, nan=-np.inf)))])
        chosen = np.flatnonzero(np.asarray(result.frames) == frame)
        rgb = _frame(opened, frame)
        fps = opened.video.fps if opened is not None and opened.video else 0.0
        when = f" ({timecode(frame / fps)})" if fps else ""
        caption = (f"Frame {frame}{when}, the frame of the most confident box: {len(chosen)} of "
                   f"{len(result.boxes)} box(es) on {len(np.unique(result.frames))} frame(s).")
    if rgb is None:
        return "<p class='note'>Boxes not drawn: the evidence file could not be re-opened or decoded.</p>"
    name = f"run{run.id}-boxes.png"
    figures[name] = draw_boxes(rgb, result.boxes[chosen], [labels[i] for i in chosen])
    return (f"<p><img src='{name}' width='{min(FIGURE_WIDTH, rgb.shape[1])}'/><br/>"
            f"<span class='note'>{_e(caption)}</span></p>")


def _frame(media: Media | None, index: int) -> np.ndarray | None:
    if media is None or media.video is None:
        return None
    try:
        with media.reader() as reader:
            return reader.frame(index)
    except MediaError:
        return None


def _numbers_html(result: Result) -> str:
    rows: list[tuple[str, str]] = [
        ("Score", "none" if result.score is None else f"{result.score:.4f}"),
        ("What the score means", result.score_meaning or "—"),
    ]
    if isinstance(result, Heatmap):
        rows += [(k, f"{v:g}") for k, v in result.stats.items()]
    prov = result.provenance
    if prov is not None:
        rows += [(f"parameter {k}", str(v)) for k, v in prov.params.items()]
        models = ", ".join(f"{m['id']} (sha256 {m['sha256']})" for m in prov.models) or "none (no learned model)"
        rows += [
            ("Analyzer", f"{prov.analyzer} v{prov.version}"),
            ("Models", models),
            ("Device", prov.device),
            ("Run at", f"{prov.started_at} by {prov.user}"),
            ("Run time", f"{prov.run_time_s:.3f} s"),
            ("Input SHA-256", prov.input_sha256),
            ("Tool version", prov.tool_version),
        ]
    return _kv_table(rows)


def _kv_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _table(header: list[str], rows: list[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table width='100%'><tr>{head}</tr>{body}</table>"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def write_pdf(case: Case, path: str | Path) -> Path:
    """Paint the report to a PDF (A4) and record it, with its SHA-256, in the audit log."""
    from workbench.app.qt_paint import paint_pdf

    path = Path(path)
    report = build_report(case)
    paint_pdf(report.html, report.figures, path, title=f"Forensic report: {case.name}")
    case.log("report exported", f"{path} sha256={sha256_file(path)}")
    return path

