"""The details of one item: only the results the analyst includes (default: every result that
succeeded), drawn as the GUI shows them, and the numbers and provenance that let another analyst
check them.

Maps and boxes over the image go into one contact sheet per item, each with its caption; what
cannot be a tile (metadata tables, per-frame plots, votes, copied segments) follows in run order;
one table gives every result's score, calibration, parameters and provenance. A plugin may add a
figure of its own to an analyzer's results (`Plugin.report_figures`, e.g. video copy detection's
similarity matrix and timelines). What the methods show, how to read them and their limits are in
the appendix, once per method.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from workbench.app.case import Case, Run
from workbench.app.per_frame import box_labels, line_plot, timecode, verdict_line
from workbench.app.report.evidence import Item
from workbench.app.report.figures import boxes_layer, fit, heat_with_pairs, print_size
from workbench.app.report.markup import TEXT_WIDTH, e, grid, heading, img, kv_table, table
from workbench.app.report.origin import claims_html
from workbench.app.triage import title_of
from workbench.core import contributions
from workbench.core.calibration import score_context
from workbench.core.render import colorize, legend_bar
from workbench.core.results import Boxes, Facts, Heatmap, Provenance, Result, Segments, Series, Verdict

COLUMNS = 3
TILE_WIDTH = TEXT_WIDTH // COLUMNS - 8
STACK_COLUMNS = 8
STACK_WIDTH = TEXT_WIDTH // STACK_COLUMNS - 6
STACK_ITEMS = 5
"""Further maps shown per result (the first and last, evenly spaced between), as small tiles."""
PLOT_WIDTH = 560
FRAME_COLUMNS = 4


def split_included(case: Case, evidence_id: int, runs: list[Run]) -> tuple[list[Run], list[Run]]:
    """(results with a detail section, results that succeeded but the analyst left out). A result
    follows the analyst's explicit choice, else the default: included when it succeeded; results
    without one are listed apart (`appendix.failures_html`) whatever the choice."""
    choices = case.report_choices(evidence_id)
    ok = [r for r in runs if r.result.ok]
    included = [r for r in ok if choices.get(r.result.analyzer, True)]
    return included, [r for r in ok if r not in included]


@dataclass
class _Parts:
    tiles: list[str] = field(default_factory=list)
    stacks: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)


def details_html(item: Item, included: list[Run], left_out: list[Run], figures: dict[str, np.ndarray]) -> str:
    ev = item.evidence
    parts = [heading(3, f"#{ev.id} {ev.name}")]
    if not item.check.ok:
        parts.append(f"<p class='bad'>{e(item.check.text)}</p>")
    if ev.kind == "video" and not any(r.result.analyzer == "metadata" for r in included):
        parts.append(_container_html(item))
    if not included:
        parts.append("<p class='note'>No result of this item is included.</p>")
    out = _Parts()
    for run in included:
        _add_run(item, run, out, figures)
    if out.tiles:
        figures["legend.png"] = legend_bar()
        parts.append(grid(out.tiles, COLUMNS))
        parts.append(f"<p class='note'>Colour scale of the maps: low {img('legend.png', 120)} high, over the image "
                     "at opacity 0.7 as in the viewer (what low and high mean for each method: Appendix A).</p>")
    if out.stacks:
        parts.append("<p><b>Further maps</b> <span class='note'>(alone, same colour scale)</span></p>")
        parts.append(grid(out.stacks, STACK_COLUMNS))
    parts.extend(out.bodies)
    if included:
        parts.append(_runs_table(included, ev.sha256))
    if left_out:
        names = ", ".join(title_of(r.result.analyzer) for r in left_out)
        parts.append(f"<p class='note'>Left out of the report by the analyst: {e(names)}.</p>")
    return "\n".join(parts)


def _add_run(item: Item, run: Run, out: _Parts, figures: dict[str, np.ndarray]) -> None:
    result, title = run.result, title_of(run.result.analyzer)
    if isinstance(result, Heatmap) and result.map is not None:
        out.tiles.append(_heat_tile(item, run, figures))
        out.stacks.extend(_stack_tiles(run, figures))
    if isinstance(result, Boxes) and result.boxes is not None and len(result.boxes):
        out.tiles.append(_boxes_tile(item, run, figures))
    body = ""
    if isinstance(result, Facts):
        body = _facts_html(result, run, figures)
    elif isinstance(result, Series):
        body = _series_html(result, item, run, figures)
    elif isinstance(result, Verdict):
        body = _verdict_html(result, item, run, figures)
    elif isinstance(result, Segments):
        body = _segments_html(result)
    body += _plugin_figure(run, figures)
    if body:
        out.bodies.append(f"<h4>{e(title)}</h4>{body}")


def _heat_tile(item: Item, run: Run, figures: dict[str, np.ndarray]) -> str:
    result = run.result
    assert isinstance(result, Heatmap) and result.map is not None
    rgb = item.pixels if item.pixels is not None and item.pixels.shape[:2] == result.map.shape else None
    name = f"run{run.id}-map.png"
    figures[name] = heat_with_pairs(rgb, result.map, print_size(TILE_WIDTH), result.pairs)
    caption = f"{title_of(result.analyzer)} — {_score(result)}"
    if result.pairs is not None and len(result.pairs):
        caption += f"; lines: {len(result.pairs)} matched point pairs"
    if rgb is None:
        caption += " (the map alone: the evidence file could not be re-opened)"
    return img(name, TILE_WIDTH, caption)


def _stack_tiles(run: Run, figures: dict[str, np.ndarray]) -> list[str]:
    result = run.result
    assert isinstance(result, Heatmap)
    keys = list(result.stack)
    if len(keys) > STACK_ITEMS:
        keys = [keys[i] for i in np.linspace(0, len(keys) - 1, STACK_ITEMS).round().astype(int)]
    tiles = []
    for i, key in enumerate(keys):
        name = f"run{run.id}-stack{i}.png"
        figures[name] = colorize(fit(np.nan_to_num(np.asarray(result.stack[key], np.float32)), print_size(STACK_WIDTH)))
        tiles.append(img(name, STACK_WIDTH, f"{title_of(result.analyzer)}: {key}" if i == 0 else key))
    return tiles


def _boxes_tile(item: Item, run: Run, figures: dict[str, np.ndarray]) -> str:
    """Boxes over the image, or on a video over the frame of the most confident box."""
    result = run.result
    assert isinstance(result, Boxes) and result.boxes is not None
    labels, chosen = box_labels(result), np.arange(len(result.boxes))
    title = title_of(result.analyzer)
    if result.frames is None:
        rgb, caption = item.pixels, f"{title} — {len(result.boxes)} box(es) over the image."
    else:
        scores = np.zeros(len(result.boxes)) if result.box_scores is None else np.asarray(result.box_scores, float)
        frame = int(result.frames[int(np.argmax(np.nan_to_num(scores, nan=-np.inf)))])
        chosen = np.flatnonzero(np.asarray(result.frames) == frame)
        rgb = item.frame(frame)
        when = f" ({timecode(frame / item.fps)})" if item.fps else ""
        caption = (f"{title} — frame {frame}{when}, the frame of the most confident box: {len(chosen)} of "
                   f"{len(result.boxes)} box(es) on {len(np.unique(result.frames))} frame(s).")
    if rgb is None:
        return (f"<span class='note'>{e(title)}: boxes not drawn: the evidence file could not be re-opened or "
                "decoded.</span>")
    name = f"run{run.id}-boxes.png"
    figures[name] = boxes_layer(rgb, result.boxes[chosen], [labels[i] for i in chosen], print_size(TILE_WIDTH))
    return img(name, TILE_WIDTH, caption)


def _facts_html(result: Facts, run: Run, figures: dict[str, np.ndarray]) -> str:
    parts = [claims_html(result.claims)] if result.claims else []
    if result.findings:
        parts.append("<ul>" + "".join(f"<li>{e(f)}</li>" for f in result.findings) + "</ul>")
    small = []
    for i, (key, image) in enumerate(result.images.items()):
        name = f"run{run.id}-image{i}.png"
        if image.shape[1] >= 800:  # a full-width figure (a map) prints large, alone
            figures[name] = fit(image, print_size(TEXT_WIDTH))
            parts.append(f"<p>{img(name, TEXT_WIDTH * 2 // 3, key)}</p>")
        else:  # small ones (an EXIF thumbnail) side by side, never enlarged
            figures[name] = fit(image, print_size(TILE_WIDTH))
            small.append(img(name, min(TILE_WIDTH, image.shape[1]), key))
    parts.append(grid(small, COLUMNS))
    tables = [f"<b>{e(t.title)}</b>{kv_table(t.rows, 'small')}" for t in result.tables]
    parts.append(grid(tables, 2))  # side by side: metadata tables are long and narrow
    return "\n".join(parts)


def _series_html(result: Series, item: Item, run: Run, figures: dict[str, np.ndarray]) -> str:
    """The curve over the video's duration (only when a frame has a value), how frames were chosen
    and lost, and the highest frames as a contact sheet."""
    values = np.zeros(0) if result.values is None else np.asarray(result.values, np.float64)
    parts = []
    if result.times is not None and np.isfinite(values).any():
        parts.append(_plot_html(result.times, values, result.label or "value per frame", item, run, figures,
                                "Gaps: frames whose analysis failed."))
    source = title_of(result.source_analyzer) if result.source_analyzer else "—"
    facts = [("Per-frame value", result.label or "—"), ("Computed by", f"{source} ({result.source_analyzer})"),
             ("Frames", result.sampling or "—"), ("Frames analysed", str(len(values))),
             ("Undecodable frames skipped", str(result.skipped)),
             ("Frames whose analysis failed", str(int(np.isnan(values).sum())))]
    parts.append(kv_table(facts, "small"))
    values_of = {int(t["frame"]): t["value"] for t in result.top}
    cells = []
    for i, (key, image) in enumerate(result.images.items()):
        name = f"run{run.id}-frame{i}.png"
        figures[name] = fit(image, print_size(TEXT_WIDTH // FRAME_COLUMNS))
        cells.append(img(name, TEXT_WIDTH // FRAME_COLUMNS - 8, key))
    if cells:
        top = ", ".join(f"frame {f} {'—' if v is None else f'{v:.4f}'}" for f, v in values_of.items())
        parts.append(grid(cells, FRAME_COLUMNS) + (f"<p class='note'>Highest frames: {e(top)}</p>" if top else ""))
    return "\n".join(parts)


def _verdict_html(result: Verdict, item: Item, run: Run, figures: dict[str, np.ndarray]) -> str:
    """The answer or the abstention, calibration, the aggregation rule, every vote, the per-frame curve."""
    parts = [f"<p><b>{e(verdict_line(result))}</b></p>", kv_table([
        ("Abstained", "yes" if result.abstained else "no"),
        ("Explanation", result.explanation or "—"),
        ("Calibrated", "yes: a probability" if result.calibrated else "no: a score for ranking, not a frequency"),
        ("Aggregation", result.aggregation or "—"),
    ], "small")]
    if result.votes:
        parts.append(table(["Model", "Probability", "Status", "Note"], [
            (str(v.get("title") or v.get("model", "")), "—" if v.get("probability") is None
             else f"{v['probability']:.4f}", str(v.get("status", "")), str(v.get("note", ""))) for v in result.votes],
            "small"))
    values = None if result.values is None else np.asarray(result.values, np.float64)
    if result.times is not None and values is not None and np.isfinite(values).any():
        parts.append(_plot_html(result.times, values, result.label or "probability", item, run, figures,
                                "Per-frame probability."))
    return "\n".join(parts)


def _segments_html(result: Segments) -> str:
    """Matched segments as a table (query and reference times); the picture, when the analyzer has
    one, is its plugin's report figure."""
    rows = result.segment_rows()
    parts = [kv_table([("Method", result.method or "—"), ("Query duration", timecode(result.query_duration)),
                       ("Copied segments", str(len(rows)))], "small")]
    if len(rows):
        parts.append(table(["Reference", "Query from", "to", "Reference from", "to", "Score"], [
            (ref, timecode(q0), timecode(q1), timecode(r0), timecode(r1), f"{score:.3f}")
            for ref, (q0, q1, r0, r1, score) in zip(result.references, rows.tolist(), strict=False)], "small"))
    else:
        parts.append("<p>No copied segment found in the reference videos.</p>")
    return "\n".join(parts)


def _plugin_figure(run: Run, figures: dict[str, np.ndarray]) -> str:
    """The figure the analyzer's plugin draws for the report (`Plugin.report_figures`), at text width
    with its caption; a figure that fails is named, never fatal to the report."""
    reference = contributions.contributed("report_figures").get(run.result.analyzer)
    if not reference:
        return ""
    try:
        made = contributions.load(reference)(run.result)
    except Exception as exc:  # noqa: BLE001 - a plugin's failure must not cost the whole report
        return f"<p class='note'>Figure not drawn: {e(f'{type(exc).__name__}: {exc}')}</p>"
    if made is None:
        return ""
    rgb, caption = made
    name = f"run{run.id}-figure.png"
    figures[name] = fit(np.asarray(rgb, np.uint8), print_size(TEXT_WIDTH))
    return f"<p>{img(name, min(TEXT_WIDTH, figures[name].shape[1]), caption)}</p>"


def _plot_html(times: np.ndarray, values: np.ndarray, label: str, item: Item, run: Run,
               figures: dict[str, np.ndarray], note: str) -> str:
    duration = item.media.video.duration if item.media is not None and item.media.video else float(np.max(times))
    name = f"run{run.id}-plot.png"
    figures[name] = line_plot(times, values, duration, label)
    return f"<p>{img(name, PLOT_WIDTH, f'{label} against time (seconds, whole video). {note}')}</p>"


def _container_html(item: Item) -> str:
    if item.media is None or item.media.video is None:
        return "<p class='note'>Container facts not read: the video could not be re-opened.</p>"
    return f"<p><b>Container</b></p>{kv_table(item.media.video.facts(), 'small')}"


def _score(result: Result) -> str:
    return "no score" if result.score is None else f"score {result.score:.3g}"


def _runs_table(runs: list[Run], sha256: str) -> str:
    """One row per included result: score and calibration, figures and parameters, provenance. What
    every result shares (tool version, device, user, the evidence as input) is said once above."""
    provs = [r.result.provenance for r in runs if r.result.provenance]
    shared = {key: values.pop() for key, values in (
        ("tool", {p.tool_version for p in provs}), ("device", {p.device for p in provs}),
        ("by", {p.user for p in provs})) if len(values) == 1}
    rows = []
    for run in runs:
        result, prov = run.result, run.result.provenance
        score = "none" if result.score is None else f"{result.score:.4f}"
        if result.score is not None:
            score += f"<br/>{e(score_context(result.calibration) if result.calibration else 'no calibration')}"
        numbers = [f"{k} {v:g}" for k, v in getattr(result, "stats", {}).items()]
        params = [f"{k}={v}" for k, v in prov.params.items()] if prov else []
        detail = "<br/>".join(e(x) for x in (", ".join(numbers), "parameters: " + ", ".join(params) if params else "",
                                             result.message) if x)
        rows.append((f"{e(title_of(result.analyzer))}<br/><span class='note'>{e(result.analyzer)}</span>", score,
                     detail or "—", e(_made(prov, sha256, shared))))
    common = ", ".join(f"{k} {v}" for k, v in shared.items())
    head = (f"<p class='note'>Results of this item: {e(common)}; input: the evidence's SHA-256 unless a row says "
            "otherwise. Scores are raw unless calibrated on authentic photos (Appendix A says what each means).</p>")
    return head + table(("Result", "Score", "Figures and parameters", "Provenance"), rows, "small", escape=False,
                        widths=(17, 15, 40, 28))


def _made(prov: Provenance | None, sha256: str, shared: dict[str, str]) -> str:
    """Version, run time and models of one run, and whatever differs from the item's other results."""
    if prov is None:
        return "no provenance recorded"
    models = ", ".join(f"{m['id']} (sha256 {m['sha256']})" for m in prov.models) or "no learned model"
    parts = [f"v{prov.version}, {prov.run_time_s:.2f} s at {prov.started_at.replace('+00:00', 'Z')}", models]
    parts += [f"{k} {v}" for k, v in (("tool", prov.tool_version), ("device", prov.device), ("by", prov.user))
              if k not in shared]
    if prov.input_sha256 != sha256:
        parts.append(f"input SHA-256 {prov.input_sha256} (not the evidence's)")
    return "; ".join(parts)
