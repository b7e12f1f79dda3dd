"""`workbench analyze` / `workbench analyzers`: the headless twin of the GUI, same code path."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.app import search_cli
from workbench.app.analysis import Planned, analyze
from workbench.app.case import Case, CaseError, Evidence, Run
from workbench.app.importing import import_paths
from workbench.core import registry
from workbench.core.frames import FrameSampling, SamplingMode, applies_to
from workbench.core.media import DEFAULT_MAX_PIXELS, MediaError, MediaKind
from workbench.core.models import ModelStore
from workbench.core.paths import data_dir
from workbench.core.plugin import ModelUnavailable
from workbench.core.results import Status


class CliError(Exception):
    """A problem worth one line on stderr and a non-zero exit code."""


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description="Forensic Workbench, headless.")
    parser.add_argument("--version", action="version", version=f"Forensic Workbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("analyzers", help="list the analyzer ids")
    models = sub.add_parser("models", help="list, install or remove model weights")
    models_sub = models.add_subparsers(dest="action", required=True)
    models_sub.add_parser("list", help="every known model with its status")
    install = models_sub.add_parser("install", help="install a weights file (its SHA-256 is verified and recorded)")
    install.add_argument("model_id")
    install.add_argument("file", type=Path)
    remove = models_sub.add_parser("remove", help="remove an installed weights file from the store")
    remove.add_argument("model_id")
    search_cli.add_commands(sub)
    an = sub.add_parser("analyze", help="analyze files or folders")
    an.add_argument("paths", nargs="+", help="image or video files, or folders")
    an.add_argument("--analyzers", help="comma-separated analyzer ids (default: all)")
    an.add_argument("--case", type=Path,
                    help="case folder to use or create (default: a new one in the user data folder)")
    an.add_argument("--json", type=Path, help="write results as JSON here")
    an.add_argument("--report", type=Path, help="write the PDF report here")
    an.add_argument("--param", "-p", action="append", default=[], metavar="ID.NAME=VALUE",
                    help="analyzer parameter, e.g. ela.quality=80 (repeatable)")
    an.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                    help=f"refuse images above this many pixels (default {DEFAULT_MAX_PIXELS:,})")
    an.add_argument("--frame-interval", type=positive_float, default=1.0, metavar="SECONDS",
                    help="videos: run image analyzers on one frame every SECONDS (default 1)")
    an.add_argument("--scene-changes", action="store_true",
                    help="videos: run image analyzers on the first frame of each scene instead")
    an.add_argument("--name", default="", help="case name (new cases)")
    an.add_argument("--analyst", default="", help="analyst name (new cases)")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "analyzers":
            return list_analyzers()
        if args.command == "models":
            return manage_models(args)
        if args.command == "index":
            return search_cli.run_index(args)
        if args.command == "search":
            return search_cli.run_search(args)
        return run_analyze(args)
    except (CliError, CaseError, MediaError, OSError, ModelUnavailable, ValueError) as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return 1


def list_analyzers() -> int:
    for analyzer_id, analyzer in registry.analyzers().items():
        needs = f"  (models: {', '.join(analyzer.models)})" if analyzer.models else ""
        print(f"{analyzer_id}\t{analyzer.title}{needs}")
    for spec, reason in registry.load_errors().items():
        print(f"# failed to load {spec}: {reason}", file=sys.stderr)
    return 0


def manage_models(args: argparse.Namespace) -> int:
    store = ModelStore()
    if args.action == "install":
        path = store.install(args.model_id, args.file)
        print(f"installed {args.model_id}: {path} (SHA-256 {store.status(args.model_id).sha256})")
    elif args.action == "remove":
        store.remove(args.model_id)
        print(f"removed {args.model_id}")
    else:
        for model_id, manifest in store.manifests().items():
            status = store.status(model_id)
            print(f"{model_id}\t{status.state.value}\t{manifest.title}\t{status.reason}")
        for name, reason in store.manifest_errors().items():
            print(f"# broken manifest {name}: {reason}", file=sys.stderr)
    return 0


def make_plan(ids: str | None, raw_params: list[str]) -> list[Planned]:
    """The analyzers to run: those named, or by default every one whose models are installed."""
    if ids:
        chosen = [i.strip() for i in ids.split(",") if i.strip()]
    else:
        chosen = [i for i, a in registry.analyzers().items() if a.by_default and registry.ready(a)]
        for analyzer_id, analyzer in registry.analyzers().items():
            if analyzer_id not in chosen:
                why = "model not installed" if analyzer.by_default else "needs more than the image"
                print(f"note: {analyzer_id} left out ({why}; name it with --analyzers to see why)", file=sys.stderr)
    values: dict[str, dict[str, str]] = {}
    for item in raw_params:
        key, sep, value = item.partition("=")
        analyzer_id, dot, name = key.partition(".")
        if not sep or not dot:
            raise CliError(f"--param {item!r}: expected ID.NAME=VALUE, e.g. ela.quality=80")
        values.setdefault(analyzer_id, {})[name] = value
    unknown = (set(chosen) | set(values)) - set(registry.analyzers())
    if unknown:
        raise CliError(f"unknown analyzer(s) {', '.join(sorted(unknown))}; available: "
                       f"{', '.join(registry.analyzers())}")
    try:
        return [Planned(registry.get(i), registry.get(i).params_from(values.get(i))) for i in chosen]
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def open_or_create_case(args: argparse.Namespace) -> Case:
    if args.case is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        return Case.create(data_dir() / "cases" / f"cli-{stamp}", args.name, args.analyst)
    if (args.case / "case.sqlite").exists():
        return Case.open(args.case)
    return Case.create(args.case, args.name, args.analyst)


def run_analyze(args: argparse.Namespace) -> int:
    plan = make_plan(args.analyzers, args.param)
    case = open_or_create_case(args)
    print(f"case: {case.root}", file=sys.stderr)
    imported = import_paths(case, args.paths, max_pixels=args.max_pixels)
    items = list({e.id: e for e in imported.added + imported.already_present}.values())
    for _path, reason in imported.skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    for evidence in items:
        for warning in evidence.warnings:
            print(f"warning: {evidence.name}: {warning}", file=sys.stderr)

    sampling = FrameSampling(SamplingMode.SCENES if args.scene_changes else SamplingMode.INTERVAL,
                             every_s=args.frame_interval)
    entries = []
    problems = [reason for _, reason in imported.skipped]
    for n, evidence in enumerate(items, 1):
        def progress(fraction: float, message: str, n: int = n, name: str = evidence.name) -> None:
            print(f"[{n}/{len(items)}] {name}: {message} ({fraction:.0%})", file=sys.stderr)

        chosen = plan
        if not args.analyzers:  # the default plan: only what applies to this kind of evidence
            chosen = [p for p in plan if applies_to(p.analyzer, MediaKind(evidence.kind))]
            for left in (p for p in plan if p not in chosen):
                print(f"note: {left.analyzer.id} left out for {evidence.name} (not applicable to "
                      f"{evidence.kind} evidence)", file=sys.stderr)
        runs = analyze(case, evidence, chosen, progress=progress, max_pixels=args.max_pixels, sampling=sampling)
        entries.append(evidence_json(evidence, runs))
        problems += [f"{evidence.name}: {r.result.analyzer} {r.result.status.value}: {r.result.message}"
                     for r in runs if r.result.status is not Status.OK]

    doc = {
        "tool": "Forensic Workbench",
        "version": __version__,
        "case": str(case.root),
        "evidence": entries,
        "skipped": [{"path": str(p), "reason": r} for p, r in imported.skipped],
    }
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"json: {args.json}", file=sys.stderr)
    if args.report:
        from workbench.app.report import write_pdf

        write_pdf(case, args.report)
        print(f"report: {args.report}", file=sys.stderr)
    case.close()
    if not items and not problems:
        problems.append("no evidence to analyze")
    if problems:
        more = f" (and {len(problems) - 1} more problem(s), see above)" if len(problems) > 1 else ""
        print(f"workbench: error: {problems[0]}{more}", file=sys.stderr)
        return 1
    return 0


def evidence_json(evidence: Evidence, runs: list[Run]) -> dict[str, Any]:
    return {
        "path": str(evidence.path),
        "sha256": evidence.sha256,
        "kind": evidence.kind,
        "format": evidence.format,
        "size": evidence.size,
        "width": evidence.width,
        "height": evidence.height,
        "warnings": evidence.warnings,
        "results": [result_json(run) for run in runs],
    }


def result_json(run: Run) -> dict[str, Any]:
    """The result's fields plus absolute paths of its arrays (`map` is the heat map `.npy`)."""
    return run.result.describe() | run.arrays
