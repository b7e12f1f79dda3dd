"""The analyzer contract and the one place that turns a run into a `Result` with provenance."""

from __future__ import annotations

import dataclasses
import getpass
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, get_type_hints

from workbench import __version__
from workbench.core import preferences
from workbench.core.calibration import calibrate
from workbench.core.media import Media, MediaKind
from workbench.core.results import Provenance, Result, Status


class Cancelled(Exception):
    """Raised inside an analyzer (via `RunContext.check_cancelled`) to stop early."""


class ModelUnavailable(Exception):
    """A model an analyzer needs is not installed or fails verification."""


ProgressCallback = Callable[[float, str], None]


class RunContext:
    """Handed to `Analyzer.run` by the job runner: progress, cancellation, device, models."""

    def __init__(
        self,
        progress: ProgressCallback | None = None,
        cancel_event: threading.Event | None = None,
        device: str = "cpu",
        workspace: Path | None = None,
    ) -> None:
        self._progress = progress
        self._cancel = cancel_event or threading.Event()
        self.device = device
        self.workspace = workspace
        """The case folder when run inside a case: case-level data (e.g. the similarity collection)."""

    def progress(self, fraction: float, message: str = "") -> None:
        if self._progress is not None:
            self._progress(min(max(fraction, 0.0), 1.0), message)

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def sub(self, start: float, end: float, label: str = "") -> RunContext:
        """A context for a nested step whose progress fills [start, end] of this one."""

        def report(fraction: float, message: str) -> None:
            text = f"{label}: {message}" if label and message else (label or message)
            self.progress(start + (end - start) * fraction, text)

        return RunContext(report, self._cancel, self.device, self.workspace)


def param(default: Any, label: str, help: str = "", **limits: Any) -> Any:
    """A parameter field; `limits` (min, max, choices) drive validation and the GUI form."""
    return dataclasses.field(default=default, metadata={"label": label, "help": help, **limits})


class Analyzer:
    """Base class of every analyzer. Subclasses set the class attributes and `run`.

    Analyzers are pure computation: no Qt, no writing next to the evidence.
    """

    id: ClassVar[str]
    title: ClassVar[str]
    version: ClassVar[str]
    accepts: ClassVar[frozenset[MediaKind]] = frozenset({MediaKind.IMAGE})
    Params: ClassVar[type]
    models: ClassVar[tuple[str, ...]] = ()
    optional_models: ClassVar[tuple[str, ...]] = ()
    """Models the analyzer uses when installed (e.g. ensemble members, a better face detector); it
    runs without them, or is 'unavailable' only when none is. The GUI offers to install them."""
    learned: ClassVar[bool] = False
    """Runs PyTorch networks although `models` is empty (optional members, a descriptor backbone):
    see `needs_device`."""
    card_file: ClassVar[Path]
    needs_file_encoding: ClassVar[str] = ""
    """Set (to the reason) by methods that read the file's own encoding (JPEG quantisation, DCT
    coefficients): meaningless on a decoded video frame, so they are not run on video frames."""
    formats: ClassVar[frozenset[str]] = frozenset()
    """The file formats it reads (Pillow's names, e.g. "JPEG"), empty for any decoded image: a method
    that reads a JPEG file's own encoding is not offered for a PNG."""
    on_frames: ClassVar[bool] = True
    """False for image analyzers that say nothing useful about one decoded frame of a video (where a
    photo was taken, the spectrum of a camera's noise): they are neither offered nor run on videos."""
    cost_per_mp: ClassVar[float] = 0.05
    """Rough CPU seconds per megapixel (bench/localization_speed.py measures the localisation
    signals'). Only for scheduling: the analyses of one image run side by side, costliest first,
    so the last one to finish is a short one."""
    earlier_maps: ClassVar[dict[str, str]] = {}
    """Earlier versions whose map this one still computes, each with the stack layer that holds it:
    a model trained on that version's map (the fusion) reads the layer instead of dropping the signal."""

    @property
    def needs_device(self) -> bool:
        """Whether the job runner hands it the compute device (`ctx.device`, CUDA when present): the
        analyzers that run networks. The others get the CPU, so their provenance says where they ran
        and a plan without networks never imports torch."""
        return self.learned or bool(self.models)

    @property
    def card(self) -> str:
        """The analyzer's Markdown card: what it shows, how to read it, limits, reference."""
        return self.card_file.read_text(encoding="utf-8")

    def run(self, media: Media, params: Any, ctx: RunContext) -> Result:
        raise NotImplementedError

    def params_from(self, values: dict[str, Any] | None = None) -> Any:
        """Build and validate a Params instance, coercing strings (from the CLI) to field types."""
        values = values or {}
        fields = {f.name: f for f in dataclasses.fields(self.Params)}
        unknown = set(values) - set(fields)
        if unknown:
            raise ValueError(
                f"{self.id}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(fields)}"
            )
        hints = get_type_hints(self.Params)
        kwargs = {name: _coerce(self.id, name, hints[name], value) for name, value in values.items()}
        params = self.Params(**kwargs)
        for f in fields.values():
            _check_limits(self.id, f, getattr(params, f.name))
        return params


def _coerce(analyzer: str, name: str, typ: Any, value: Any) -> Any:
    try:
        if typ is bool and isinstance(value, str):
            if value.lower() not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(value)
            return value.lower() in {"1", "true", "yes", "on"}
        if isinstance(typ, type) and issubclass(typ, Enum):
            return typ(value)
        if typ in (int, float, str):
            return typ(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{analyzer}: parameter {name}={value!r} is not a valid {typ.__name__}") from exc
    return value


def _check_limits(analyzer: str, f: dataclasses.Field, value: Any) -> None:
    lo, hi = f.metadata.get("min"), f.metadata.get("max")
    # `not value >= lo` rather than `value < lo`, so that NaN (e.g. --param ela.scale=nan) is refused too
    if (lo is not None and not value >= lo) or (hi is not None and not value <= hi):
        raise ValueError(f"{analyzer}: parameter {f.name}={value} is outside [{lo}, {hi}]")


def run_analyzer(
    analyzer: Analyzer, media: Media, params: Any, ctx: RunContext
) -> Result:
    """Run one analyzer and always return a Result: ok, error, unavailable or cancelled.

    Provenance (versions, parameters, input hash, device, timing, user) is attached here so
    no analyzer can forget it.
    """
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    if media.kind not in analyzer.accepts:
        why = f": {analyzer.needs_file_encoding}" if analyzer.needs_file_encoding else ""
        result = Result(analyzer.id, Status.ERROR, f"{analyzer.title} does not accept {media.kind.value} evidence{why}")
    else:
        try:
            result = analyzer.run(media, params, ctx)
        except Cancelled:
            result = Result(analyzer.id, Status.CANCELLED, "cancelled by the user")
        except ModelUnavailable as exc:
            result = Result(analyzer.id, Status.UNAVAILABLE, str(exc))
        except MemoryError:
            result = Result(analyzer.id, Status.ERROR, "not enough memory for this image")
        except Exception as exc:  # noqa: BLE001 - an analyzer bug must not take the case down
            last = traceback.extract_tb(exc.__traceback__)[-1]
            result = Result(
                analyzer.id,
                Status.ERROR,
                f"{type(exc).__name__}: {exc} (at {Path(last.filename).name}:{last.lineno})",
            )
    if result.ok:
        result.calibration = calibrate(analyzer, result.score)
    result.provenance = Provenance(
        analyzer=analyzer.id,
        version=analyzer.version,
        params=dataclasses.asdict(params) if dataclasses.is_dataclass(params) else {},
        input_sha256=media.sha256,
        tool_version=__version__,
        device=ctx.device,
        models=_model_provenance((*analyzer.models, *result.models_used)) if result.ok else [],
        started_at=started.isoformat(timespec="seconds"),
        run_time_s=round(time.perf_counter() - t0, 4),
        user=current_user(),
    )
    return result


def _model_provenance(model_ids: tuple[str, ...]) -> list[dict[str, str]]:
    """Id and SHA-256 of every model the run used (the store verified them on load)."""
    if not model_ids:
        return []
    from workbench.core.models import ModelStore  # the store imports this module

    store = ModelStore()
    found = []
    for model_id in dict.fromkeys(model_ids):
        try:
            found.append(store.provenance(model_id))
        except ModelUnavailable as exc:  # e.g. removed while the analysis ran
            found.append({"id": model_id, "sha256": f"unverified ({exc})"})
    return found


def current_user() -> str:
    """Who acts, for the audit log and provenance: the analyst's name from the preferences with the
    OS account ("Jane Doe (jdoe)"), or the account alone when no name is set."""
    try:
        account = getpass.getuser()
    except (KeyError, OSError):
        account = "unknown"
    name = preferences.load().analyst.strip()
    return f"{name} ({account})" if name and name != account else account
