"""Typed analysis results: plain data that serialises to JSON plus compressed array side files.

The same serialisation is the case store's blob format and the CLI's output, so there is
one format to keep compatible. Array-valued fields are declared with `array_field()`; how they
are stored (compressed `.npz`, maps at half precision, browsing layers reduced, a free-space check
first) is `workbench.core.array_files`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from workbench.core.array_files import check_free_space, needed_bytes, read_array, stored_form, write_array
from workbench.core.claims import Claims


class Status(StrEnum):
    OK = "ok"
    ERROR = "error"
    UNAVAILABLE = "unavailable"
    CANCELLED = "cancelled"


def array_field(*, optional: bool = False, unit: bool = False, browse: bool = False) -> Any:
    """A dataclass field holding an ndarray (or a dict name → ndarray), stored compressed.

    `unit`: float values in [0, 1] (heat maps), stored at half precision and read back as float32;
    `browse`: layers shown stretched over the image, stored reduced (`array_files.stored_form`).
    """
    default = {"default": None} if optional else {"default_factory": dict}
    return field(metadata={"array": True, "unit": unit, "browse": browse}, repr=False, compare=False, **default)


@dataclass
class Provenance:
    """Everything needed to reproduce or audit one run."""

    analyzer: str
    version: str
    params: dict[str, Any]
    input_sha256: str
    tool_version: str
    device: str = "cpu"
    models: list[dict[str, str]] = field(default_factory=list)
    started_at: str = ""
    run_time_s: float = 0.0
    user: str = ""


@dataclass
class Result:
    """Outcome of one analyzer on one evidence item. A failed run is a plain `Result`."""

    analyzer: str
    status: Status = Status.OK
    message: str = ""
    score: float | None = None
    score_meaning: str = ""
    provenance: Provenance | None = None
    models_used: list[str] = field(default_factory=list)
    """Optional models this run chose to use (e.g. an installed published model over the default);
    the analyzer's required `models` are always recorded."""
    calibration: dict[str, Any] | None = None
    """The score's rank among authentic photos (`workbench.core.calibration.calibrate`), None when
    the analyzer version has no table or the result has no score."""

    kind: ClassVar[str] = "result"

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    # -- serialisation -------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """The JSON-ready fields, without arrays."""
        doc: dict[str, Any] = {"type": self.kind}
        for f in dataclasses.fields(self):
            if not f.metadata.get("array"):
                doc[f.name] = _jsonable(getattr(self, f.name))
        return doc

    def save(self, folder: Path) -> dict[str, Any]:
        """Write array fields to `folder` (`array_files`); the dict names their files under "arrays".

        Refuses (`array_files.NotEnoughSpace`, an OSError) before writing anything when the disk
        cannot hold them.
        """
        folder = Path(folder)
        doc = self.describe()
        stored: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not f.metadata.get("array") or value is None or (isinstance(value, dict) and not value):
                continue
            form = {"unit": f.metadata["unit"], "browse": f.metadata["browse"]}
            stored[f.name] = (
                {k: stored_form(v, **form) for k, v in value.items()} if isinstance(value, dict)
                else stored_form(value, **form)
            )
        if not stored:
            return doc
        arrays = [a for v in stored.values() for a in (v.values() if isinstance(v, dict) else (v,))]
        check_free_space(folder, needed_bytes(arrays))
        folder.mkdir(parents=True, exist_ok=True)
        doc["arrays"] = {
            name: {k: write_array(folder, f"{name}.{i}", name, v) for i, (k, v) in enumerate(value.items())}
            if isinstance(value, dict) else write_array(folder, name, name, value)
            for name, value in stored.items()
        }
        return doc

    def without_arrays(self) -> Result:
        """A copy without its arrays (they stay in their files): what a list of many results keeps."""
        empty = {f.name: None if f.default is None else f.default_factory()  # type: ignore[misc]
                 for f in dataclasses.fields(self) if f.metadata.get("array")}
        return dataclasses.replace(self, **empty)

    @staticmethod
    def load(doc: dict[str, Any], folder: Path | None) -> Result:
        """The result `save` wrote (or an older case's `.npy` files), its maps as float32 again."""
        cls = RESULT_TYPES.get(doc.get("type", "result"), Result)
        kwargs: dict[str, Any] = {}
        arrays = doc.get("arrays", {})
        for f in dataclasses.fields(cls):
            if f.metadata.get("array"):
                ref = arrays.get(f.name)
                if ref is None or folder is None:
                    continue
                unit = f.metadata["unit"]
                if isinstance(ref, dict):
                    kwargs[f.name] = {k: read_array(Path(folder) / v, unit) for k, v in ref.items()}
                else:
                    kwargs[f.name] = read_array(Path(folder) / ref, unit)
            elif f.name in doc:
                kwargs[f.name] = doc[f.name]
        kwargs["status"] = Status(kwargs.get("status", "ok"))
        if kwargs.get("provenance"):
            kwargs["provenance"] = Provenance(**kwargs["provenance"])
        if issubclass(cls, Facts):
            kwargs["tables"] = [Table(t["title"], [tuple(r) for r in t["rows"]]) for t in kwargs.get("tables", [])]
            if kwargs.get("claims") is not None:
                kwargs["claims"] = Claims.from_doc(kwargs["claims"])
        return cls(**kwargs)


@dataclass
class Heatmap(Result):
    """A per-pixel map in [0, 1] at the image's size; higher means more suspicious."""

    map: np.ndarray | None = array_field(optional=True, unit=True)
    """Stored at full resolution (half precision, compressed)."""
    mask: np.ndarray | None = array_field(optional=True)
    stack: dict[str, np.ndarray] = array_field(unit=True, browse=True)
    """Further maps the analyst can browse (e.g. one per JPEG quality), in [0, 1]: the size of `map`
    or smaller; stored reduced to `array_files.BROWSE_SIDE` (the viewer stretches them over the image)."""
    pairs: np.ndarray | None = array_field(optional=True)
    """Matched point pairs (N × 4: x1, y1, x2, y2 in pixels), drawn as lines (copy-move)."""
    legend_low: str = "low"
    legend_high: str = "high"
    stats: dict[str, float] = field(default_factory=dict)

    kind: ClassVar[str] = "heatmap"


@dataclass
class Table:
    title: str
    rows: list[tuple[str, str]]


@dataclass
class Facts(Result):
    """Tables of facts (metadata), findings worth an analyst's attention, and small images."""

    tables: list[Table] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    images: dict[str, np.ndarray] = array_field()
    claims: Claims | None = None
    """What the file claims about its origin (Content Credentials, AI-generation markers), when read."""

    kind: ClassVar[str] = "facts"

    def table(self, title: str) -> Table | None:
        return next((t for t in self.tables if t.title == title), None)


@dataclass
class Geolocation(Facts):
    """Where the picture was taken, and at which scales that can be told (selective prediction).

    `scales` holds one entry per scale (km): the selection score, its threshold, whether it passed
    and whether the analyzer answers there; it abstains at every scale finer than the finest pass.
    """

    method: str = ""
    selection_function: str = ""
    scales: list[dict[str, Any]] = field(default_factory=list)
    answered_scale_km: float | None = None
    decision: str = ""
    estimate: dict[str, Any] | None = None
    """{"lat", "lon", "place"} of the point estimate, None when abstaining at every scale."""
    gps: dict[str, Any] | None = None
    """{"lat", "lon", "accuracy_m", "altitude_m", "time", "place"} from the metadata, when present."""
    cells: np.ndarray | None = array_field(optional=True)
    """The most probable cells, N × 3: latitude, longitude, probability."""

    kind: ClassVar[str] = "geolocation"

    @property
    def abstained(self) -> bool:
        return self.answered_scale_km is None


@dataclass
class Series(Result):
    """Per-frame values for the video timeline (an image analyzer run on sampled frames).

    `values[i]` belongs to frame `frames[i]` at `times[i]` seconds; NaN marks a sampled frame
    whose analysis failed. `maps` optionally holds each sampled frame's heat map, reduced, so
    the viewer can overlay the current frame's map.
    """

    times: np.ndarray | None = array_field(optional=True)
    values: np.ndarray | None = array_field(optional=True)
    frames: np.ndarray | None = array_field(optional=True)
    maps: np.ndarray | None = array_field(optional=True)
    """N × h × w float16 in [0, 1], one per sampled frame, at reduced size (optional)."""
    images: dict[str, np.ndarray] = array_field()
    """Thumbnails of the highest-scoring frames (name → RGB), for the report."""
    label: str = ""
    """What `values` is (e.g. the frame analyzer's score meaning)."""
    source_analyzer: str = ""
    sampling: str = ""
    """How frames were chosen, e.g. "1 frame per second" or "scene changes"."""
    skipped: int = 0
    """Sampled frames that could not be decoded (counted, never fatal)."""
    top: list[dict[str, Any]] = field(default_factory=list)
    """The highest-scoring frames: {"frame", "time", "value"}."""

    kind: ClassVar[str] = "series"


@dataclass
class Boxes(Result):
    """Rectangles over the media (faces, regions): x0, y0, x1, y1 in pixels of the frame.

    On video `frames` gives each box's frame index and `tracks` its track id (one per face), and
    `spans` the first and last frame its sampled frame stands for (N × 2: up to half a sampling step
    either side, never across a scene cut); views draw a box on those frames only.
    """

    boxes: np.ndarray | None = array_field(optional=True)
    frames: np.ndarray | None = array_field(optional=True)
    tracks: np.ndarray | None = array_field(optional=True)
    spans: np.ndarray | None = array_field(optional=True)
    box_scores: np.ndarray | None = array_field(optional=True)
    labels: list[str] = field(default_factory=list)

    kind: ClassVar[str] = "boxes"


@dataclass
class Verdict(Boxes):
    """A yes/no question answered with a probability, or explicitly not answered (abstained).

    `votes` keeps each ensemble member's own answer visible; `times`/`values` carry a per-frame
    probability for the timeline when the input is a video.
    """

    probability: float | None = None
    label: str = ""
    calibrated: bool = False
    abstained: bool = False
    explanation: str = ""
    votes: list[dict[str, Any]] = field(default_factory=list)
    """One entry per ensemble member: {"model", "title", "probability" (or None), "status", "note"}."""
    aggregation: str = ""
    """The rule that turned per-face/per-frame scores into `probability`, in words."""
    times: np.ndarray | None = array_field(optional=True)
    values: np.ndarray | None = array_field(optional=True)

    kind: ClassVar[str] = "verdict"


@dataclass
class Segments(Result):
    """Copied video segments: one row per match, query start/end and reference start/end (s).

    `rows` is N × 5: q_start, q_end, r_start, r_end, score; `references[i]` names the reference
    video of row i. `matrix` is the frame-to-frame similarity of the query against the best
    reference (rows = query frames), kept so the view can show it as an image.
    """

    rows: np.ndarray | None = array_field(optional=True)
    references: list[str] = field(default_factory=list)
    matrix: np.ndarray | None = array_field(optional=True)
    matrix_reference: str = ""
    query_duration: float = 0.0
    reference_durations: dict[str, float] = field(default_factory=dict)
    method: str = ""

    kind: ClassVar[str] = "segments"

    def segment_rows(self) -> np.ndarray:
        """`rows` as an (n, 5) array (none: 0 rows): query start, end, reference start, end, score."""
        return np.asarray(self.rows, np.float64).reshape(-1, 5) if self.rows is not None else np.zeros((0, 5))


RESULT_TYPES: dict[str, type[Result]] = {
    cls.kind: cls for cls in (Result, Heatmap, Facts, Geolocation, Series, Boxes, Verdict, Segments)
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
