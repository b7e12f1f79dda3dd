"""`workbench analyze` / `workbench analyzers`: the headless twin of the GUI, same code path."""

from __future__ import annotations

import argparse
import dataclasses
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.app.analysis import Planned, analyze
from workbench.app.case import Case, CaseError, Evidence, Run
from workbench.app.cli_paths import RunCase, check_case_outside, check_output_file
from workbench.app.cli_progress import ProgressLine, say, show_warning
from workbench.app.importing import import_paths
from workbench.core import contributions, registry
from workbench.core.frames import FrameSampling, SamplingMode
from workbench.core.media import DEFAULT_MAX_PIXELS, MediaError, MediaKind
from workbench.core.models import ModelStore
from workbench.core.names import shown_all
from workbench.core.paths import data_dir
from workbench.core.plugin import ModelUnavailable
from workbench.core.presets import DEFAULT_PRESET, PRESETS, Preset, plan_ids
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
    listing = sub.add_parser("analyzers", help="list the analyzer ids (or the presets)")
    listing.add_argument("--presets", action="store_true", help="list the presets of `analyze --preset` instead")
    models = sub.add_parser("models", help="list, install or remove model weights")
    models_sub = models.add_subparsers(dest="action", required=True)
    models_sub.add_parser("list", help="every known model with its status")
    install = models_sub.add_parser(
        "install", help="install a weights file (its SHA-256 is verified and recorded, and it is loaded as analyzers "
                        "will load it: a file that does not load is refused)")
    install.add_argument("model_id")
    install.add_argument("file", type=Path)
    remove = models_sub.add_parser("remove", help="remove an installed weights file from the store")
    remove.add_argument("model_id")
    for command in contributed_commands():
        command_parser = sub.add_parser(command.name, help=command.help)
        command_parser.set_defaults(contributed=command)
        contributions.load(command.configure)(command_parser)
    an = sub.add_parser("analyze", help="analyze files or folders")
    an.add_argument("paths", nargs="+", help="image or video files, or folders")
    an.add_argument("--preset", choices=list(PRESETS),
                    help=f"a named set of analyzers (default {DEFAULT_PRESET}, as in the GUI); each item gets those "
                         "that apply to its kind and are installed (`workbench analyzers --presets` lists them)")
    an.add_argument("--analyzers", help="comma-separated analyzer ids, run on every item (instead of a preset)")
    an.add_argument("--collection", type=Path,
                    help="presets that search similar images (provenance): search this collection folder "
                         "instead of the case's own")
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
    warnings.showwarning = show_warning
    try:
        if args.command == "analyzers":
            return list_presets() if args.presets else list_analyzers()
        if args.command == "models":
            return manage_models(args)
        if getattr(args, "contributed", None) is not None:
            return int(contributions.load(args.contributed.run)(args))
        return run_analyze(args)
    except (CliError, CaseError, MediaError, OSError, ModelUnavailable, ValueError) as exc:
        say(f"workbench: error: {exc}")
        return 1


def contributed_commands() -> list[contributions.Command]:
    """The plugins' subcommands, the first plugin in order winning a name (the built-in ones cannot be taken)."""
    from workbench.__main__ import CLI_COMMANDS

    named = contributions.first_by("commands", lambda command: command.name)
    return [command for name, command in named.items() if name not in CLI_COMMANDS]


def list_analyzers() -> int:
    for analyzer_id, analyzer in registry.analyzers().items():
        needs = f"  (models: {', '.join(analyzer.models)})" if analyzer.models else ""
        print(f"{analyzer_id}\t{analyzer.title}{needs}")
    for spec, reason in registry.load_errors().items():
        say(f"# failed to load {spec}: {reason}")
    return 0


def list_presets() -> int:
    for preset in PRESETS.values():
        default = " (default)" if preset.name == DEFAULT_PRESET else ""
        search = " + similar-image search" if preset.search else ""
        print(f"{preset.name}\t{preset.title}{default}\t{', '.join(preset.analyzers)}{search}")
        print(f"\t{preset.description}")
    return 0


def manage_models(args: argparse.Namespace) -> int:
    store = ModelStore()
    if args.action == "install":
        path = store.install_checked(args.model_id, args.file)
        print(f"installed {args.model_id}: {path} (SHA-256 {store.status(args.model_id).sha256})")
    elif args.action == "remove":
        store.remove(args.model_id)
        print(f"removed {args.model_id}")
    else:
        for model_id, manifest in store.manifests().items():
            status = store.status(model_id)
            print(f"{model_id}\t{status.state.value}\t{manifest.title}\t{status.reason}")
        for name, reason in store.manifest_errors().items():
            say(f"# broken manifest {name}: {reason}")
    return 0


@dataclass
class Plan:
    """What `analyze` runs: the analyzers named with --analyzers on every item, or else the preset's
    analyzers that apply to the item's kind and are installed."""

    preset: Preset | None
    named: list[str]
    params: dict[str, Any]
    """Validated parameters of the analyzers given --param."""

    def ids(self, kind: MediaKind, file_format: str = "") -> list[str]:
        if self.preset is None:
            return self.named
        return plan_ids(self.preset.name, {kind}, formats={file_format} if file_format else None)[0]

    def for_item(self, kind: MediaKind, file_format: str) -> list[Planned]:
        return [Planned(registry.get(i), self.params[i] if i in self.params else registry.get(i).params_from(None))
                for i in self.ids(kind, file_format)]

    def notes(self, items: set[tuple[MediaKind, str]]) -> list[str]:
        """One line per analyzer the preset leaves out (per reason), and per --param no analyzer uses."""
        if self.preset is None:
            return []
        reasons: dict[tuple[str, str], None] = {}
        for kind, file_format in sorted(items, key=lambda item: (item[0].value, item[1])):
            formats = {file_format} if file_format else None
            reasons.update(dict.fromkeys(plan_ids(self.preset.name, {kind}, formats=formats)[1].items()))
        used = {i for kind, file_format in items for i in self.ids(kind, file_format)}
        return ([f"{analyzer_id} left out: {reason}" for analyzer_id, reason in reasons]
                + [f"--param for {i} unused: {i} is not run by the preset {self.preset.name}"
                   for i in self.params if i not in used])


def make_plan(args: argparse.Namespace) -> Plan:
    """The plan, with every id and parameter checked before anything is written."""
    named = [i.strip() for i in (args.analyzers or "").split(",") if i.strip()]
    values: dict[str, dict[str, str]] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        analyzer_id, dot, name = key.partition(".")
        if not sep or not dot:
            raise CliError(f"--param {item!r}: expected ID.NAME=VALUE, e.g. ela.quality=80")
        values.setdefault(analyzer_id, {})[name] = value
    unknown = (set(named) | set(values)) - set(registry.analyzers())
    if unknown:
        raise CliError(f"unknown analyzer(s) {', '.join(sorted(unknown))}; available: "
                       f"{', '.join(registry.analyzers())}")
    try:
        params = {i: registry.get(i).params_from(v) for i, v in values.items()}
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    preset = None if named else PRESETS[args.preset or DEFAULT_PRESET]
    if args.collection is not None and not (preset and preset.search):
        searching = ", ".join(p.name for p in PRESETS.values() if p.search)
        raise CliError(f"--collection is searched by presets that search similar images ({searching}) only")
    return Plan(preset, named, params)


def check_outputs(args: argparse.Namespace) -> None:
    """Output files and the collection named are checked before the case is touched."""
    for option, path in (("--json", args.json), ("--report", args.report)):
        if path is not None:
            check_output_file(path, option)
    if args.collection is not None:
        item_search().check(args.collection)


def run_analyze(args: argparse.Namespace) -> int:
    plan = make_plan(args)
    check_outputs(args)
    if args.preset and plan.preset is None:
        say(f"note: --analyzers overrides --preset {args.preset}")
    root = args.case or data_dir() / "cases" / f"cli-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"
    check_case_outside(root, args.paths)
    with RunCase(root, args.name, args.analyst) as run:
        say(f"case: {run.case.root}")
        doc, problems = analyze_all(run.case, args, plan)
        doc["damaged_runs"] = damaged_runs(run.case)
        kept = run.kept
        if not kept:
            doc["case"] = None
        write_outputs(run.case, args, doc)
    if not kept:
        say(f"note: removed the case folder made for this run ({run.case.root}): nothing was imported")
    if not doc["evidence"] and not problems:
        problems.append("no evidence to analyze")
    if problems:
        more = f" (and {len(problems) - 1} more problem(s), see above)" if len(problems) > 1 else ""
        say(f"workbench: error: {problems[0]}{more}")
        return 1
    return 0


def analyze_all(case: Case, args: argparse.Namespace, plan: Plan) -> tuple[dict[str, Any], list[str]]:
    """Import the paths, run the plan on each item (and its similar-image search), and return the
    JSON document with the problems met."""
    imported = import_paths(case, args.paths, max_pixels=args.max_pixels)
    items = list({e.id: e for e in imported.added + imported.already_present}.values())
    for _path, reason in imported.skipped:
        say(f"skipped: {reason}")
    for duplicate in imported.copies:
        say(f"duplicate: {duplicate.note()}")
    for evidence in items:
        for warning in evidence.warnings:
            say(f"warning: {evidence.name}: {warning}")
    kinds = {MediaKind(e.kind) for e in items}
    for note in plan.notes({(MediaKind(e.kind), e.format) for e in items}):
        say(f"note: {note}")
    searcher = open_search(case, args, plan, kinds)
    sampling = FrameSampling(SamplingMode.SCENES if args.scene_changes else SamplingMode.INTERVAL,
                             every_s=args.frame_interval)
    progress = ProgressLine()
    entries = []
    problems = [reason for _, reason in imported.skipped]
    try:
        for n, evidence in enumerate(items, 1):
            label = f"[{n}/{len(items)}] {evidence.name}"
            chosen = plan.for_item(MediaKind(evidence.kind), evidence.format)
            runs = analyze(case, evidence, chosen, progress=progress.task(label), max_pixels=args.max_pixels,
                           sampling=sampling)
            entry = evidence_json(evidence, runs)
            problems += [f"{evidence.name}: {r.result.analyzer} {r.result.status.value}: {r.result.message}"
                         for r in runs if r.result.status is not Status.OK]
            if searcher is not None and evidence.kind == MediaKind.IMAGE.value:
                entry["similar_images"] = search_item(case, evidence, searcher, progress.task(f"{label}: search"),
                                                      problems, args.max_pixels)
            progress.end()
            entries.append(entry)
    finally:
        if searcher is not None:
            searcher.close()
    doc = {
        "tool": "Forensic Workbench",
        "version": __version__,
        "case": str(case.root),
        "preset": plan.preset.name if plan.preset else None,
        "evidence": entries,
        "duplicates": [{"path": str(d.path), "same_as": str(d.same_as.path), "warnings": d.warnings}
                       for d in imported.copies],
        "skipped": [{"path": str(Path(p).absolute()), "reason": r} for p, r in imported.skipped],
    }
    return doc, problems


def damaged_runs(case: Case) -> list[dict[str, Any]]:
    """The case's stored runs that cannot be read, each said on stderr: the report leaves them out."""
    damaged = case.damaged_runs()
    for damage in damaged:
        say(f"warning: {damage.describe()}")
    return [dataclasses.asdict(d) for d in damaged]


def item_search() -> Any:
    """The "item_search" service a plugin contributes (the similarity plugin's); CliError without one."""
    service = contributions.service("item_search")
    if service is None:
        raise CliError("similar-image search: no installed plugin offers it (the similarity plugin)")
    return service


def open_search(case: Case, args: argparse.Namespace, plan: Plan, kinds: set[MediaKind]) -> Any | None:
    """The collection the preset searches, opened once for the run; None (and why, once) when not searched."""
    if plan.preset is None or not plan.preset.search or not kinds:
        return None
    if MediaKind.VIDEO in kinds:
        say("note: similar-image search skipped for videos (their copies are found by similarity.video_copy, "
            "preset video)")
    if MediaKind.IMAGE not in kinds:
        return None
    service = contributions.service("item_search")
    if service is None:
        say("note: similar-image search skipped: no installed plugin offers it")
        return None
    searcher = service(args.collection, case.root)
    if searcher.skipped:
        say(f"note: similar-image search skipped: {searcher.skipped}")
        searcher.close()
        return None
    return searcher


def search_item(case: Case, evidence: Evidence, searcher: Any,
                progress: Callable[[float, str], None], problems: list[str], max_pixels: int) -> dict[str, Any]:
    """The item's similar images, or the error that stopped the search (also added to `problems`)."""
    try:
        entry = searcher.entry(case.open_media(evidence, max_pixels), progress)
    except (MediaError, ModelUnavailable, OSError, ValueError) as exc:
        problems.append(f"{evidence.name}: similar-image search failed: {exc}")
        return {"collection": str(searcher.folder.resolve()), "error": str(exc)}
    case.log("search", f"{evidence.name} in {searcher.folder}: {len(entry['hits'])} hits")
    return entry


def write_outputs(case: Case, args: argparse.Namespace, doc: dict[str, Any]) -> None:
    if args.json:
        args.json.write_text(json.dumps(shown_all(doc), indent=2, ensure_ascii=False), encoding="utf-8")
        say(f"json: {args.json}")
    if args.report:
        from workbench.app.report import write_pdf

        write_pdf(case, args.report)
        say(f"report: {args.report}")


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
    """The result's fields plus absolute paths of its arrays (`map`: the heat map's `.npz`, see README)."""
    return run.result.describe() | run.arrays
