"""Geolocation with abstention: where was this taken — and at which scale can that be told?

Metadata first (GPS with its place and a time-zone check), then a visual estimate as a probability
distribution over geographic cells: the published localizability model when the user installed
it, otherwise retrieval against a geotagged reference collection. Selective prediction then
answers at the finest scale whose selection score passes its calibrated threshold and abstains at
every finer one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from plugins.geolocation.calibration import Thresholds
from plugins.geolocation.clues import PositionClues, read_clues, time_zone_finding
from plugins.geolocation.geo import CellSet
from plugins.geolocation.mapping import static_map, view_from_result
from plugins.geolocation.places import nearest_place
from plugins.geolocation.selective import (
    SELECTION_FUNCTIONS,
    Decision,
    all_selection_scores,
    decide,
    point_estimate,
    scale_label,
)
from workbench.api import Analyzer, Geolocation, Media, ModelUnavailable, RunContext, Table, param

THRESHOLDS_DIR = Path(__file__).with_name("thresholds")
TOP_CELLS = 50
COLLECTION_FOLDER = "similarity"
"""A case keeps its searchable (and geotagged) collection here (see plugins.similarity.cli)."""


class Method(StrEnum):
    AUTO = "auto"
    PUBLISHED = "published"
    RETRIEVAL = "retrieval"
    METADATA = "metadata only"


@dataclass
class GeolocationParams:
    method: Method = param(
        Method.AUTO, "Visual method",
        "auto: the published model when installed, else retrieval against the reference collection",
    )
    reference: str = param(
        "", "Reference collection",
        "folder of an indexed collection with geotagged photos; empty: the case's own search collection",
    )
    neighbours: int = param(20, "Voting neighbours", "geotagged references that vote (retrieval)", min=1, max=500)
    selection: str = param(
        "prediction_density", "Selection function", "the score that decides at which scales to answer",
        choices=SELECTION_FUNCTIONS,
    )


@dataclass(frozen=True)
class VisualEstimate:
    probabilities: np.ndarray
    cells: CellSet
    method: str
    models: list[str]
    notes: list[str]


def load_thresholds(method: str) -> Thresholds:
    """The calibrated thresholds of a method (written by bench/geolocation.py --write-thresholds)."""
    path = THRESHOLDS_DIR / f"{method}.json"
    if not path.is_file():
        raise ModelUnavailable(
            f"no calibrated thresholds for '{method}' ({path.name} missing): run bench/geolocation.py"
        )
    return Thresholds.load(path)


def published_estimate(media: Media, ctx: RunContext) -> VisualEstimate:
    from plugins.geolocation.visloc import MODEL_IDS, cell_distribution

    probabilities, lat, lon = cell_distribution(media.pixels(), ctx.device)
    return VisualEstimate(np.asarray(probabilities, np.float64), CellSet(lat, lon), Method.PUBLISHED.value,
                          list(MODEL_IDS), [])


def retrieval_estimate(media: Media, params: GeolocationParams, ctx: RunContext) -> VisualEstimate:
    from plugins.geolocation.retrieval import vote
    from plugins.similarity.collection import Collection
    from plugins.similarity.global_descriptor import MODEL_ID

    folder = Path(params.reference) if params.reference else (
        ctx.workspace / COLLECTION_FOLDER if ctx.workspace else None
    )
    if folder is None or not (folder / "collection.sqlite").is_file():
        raise ModelUnavailable(
            "no geotagged reference collection: index photos with GPS tags (Search panel or `workbench index`) "
            "or name a collection folder in the parameters"
        )
    collection = Collection(folder, device=ctx.device)
    try:
        result = vote(collection, collection.descriptor.describe(media.pixels()), params.neighbours)
    finally:
        collection.close()
    best = result.neighbours[0]
    notes = [f"{len(result.neighbours)} of {result.n_references} geotagged references voted; the most similar: "
             f"{Path(best[0].path).name} (similarity {best[1]:.3f}); {result.elsewhere:.0%} of the probability "
             "is 'elsewhere' (the collection does not resemble the query)"]
    return VisualEstimate(result.probabilities, result.cells, Method.RETRIEVAL.value, [MODEL_ID], notes)


def visual_estimate(media: Media, params: GeolocationParams, ctx: RunContext) -> VisualEstimate:
    """The cell distribution from the method the parameters ask for (auto: published, else retrieval)."""
    if params.method is Method.PUBLISHED:
        return published_estimate(media, ctx)
    if params.method is Method.RETRIEVAL:
        return retrieval_estimate(media, params, ctx)
    try:
        return published_estimate(media, ctx)
    except ModelUnavailable as published_missing:
        try:
            return retrieval_estimate(media, params, ctx)
        except ModelUnavailable as no_reference:
            raise ModelUnavailable(f"{published_missing}; {no_reference}") from None


def gps_facts(clues: PositionClues) -> tuple[dict[str, Any] | None, Table | None, list[str]]:
    """The GPS fix as a dict, its table and findings (place, time zone; without a fix, a damaged XMP)."""
    fix = clues.fix
    if fix is None:
        return None, None, [f"XMP damaged: {clues.xmp_damage}. Its GPS tags, if any, could not be read; the other "
                            "clues still count."] if clues.xmp_damage else []
    place = nearest_place(fix.latitude, fix.longitude)
    gps = {"lat": fix.latitude, "lon": fix.longitude, "accuracy_m": clues.accuracy_m, "altitude_m": fix.altitude_m,
           "time": fix.timestamp, "place": place.describe(), "source": fix.source}
    rows = [("Position", f"{fix.latitude:.6f}, {fix.longitude:.6f}"), ("Source", fix.source),
            ("Accuracy", f"{clues.accuracy_m:g} m" if clues.accuracy_m is not None else "not recorded"),
            ("Altitude", f"{fix.altitude_m:.1f} m" if fix.altitude_m is not None else "not recorded"),
            ("GPS time", fix.timestamp or "not recorded"), ("Nearest city", place.describe()),
            ("Time zone there", place.timezone)]
    findings = [f"The metadata places the picture near {place.describe()}. GPS tags are easy to add or edit: "
                "corroborate them."]
    finding = time_zone_finding(clues, place)
    if finding:
        findings.append(finding)
    return gps, Table("GPS position (metadata)", rows), findings


def scale_rows(decision: Decision) -> list[dict[str, Any]]:
    return [{"scale_km": s.scale_km, "name": s.name, "score": s.score, "threshold": s.threshold,
             "passed": s.passed, "answered": s.answered} for s in decision.scales]


class GeolocationAnalyzer(Analyzer):
    id = "geolocation"
    title = "Geolocation with abstention"
    version = "1.0"
    Params = GeolocationParams
    card_file = Path(__file__).with_name("geolocation.md")
    on_frames = False  # a video's GPS is in its container (metadata); frames are not geolocated one by one
    learned = True  # the visual estimate's backbone, or the retrieval descriptor

    def run(self, media: Media, params: GeolocationParams, ctx: RunContext) -> Geolocation:
        ctx.progress(0.05, "reading GPS and capture time")
        clues = read_clues(media)
        gps, gps_table, findings = gps_facts(clues)
        tables = [gps_table] if gps_table else []
        no_gps = "no GPS position in the metadata" + (f" (XMP damaged: {clues.xmp_damage})" if clues.xmp_damage else "")
        if params.method is Method.METADATA:
            if gps is None:
                raise ModelUnavailable(f"{no_gps} (visual estimate switched off)")
            return self._result(None, None, None, gps, tables, findings)
        ctx.progress(0.1, "visual estimate")
        try:
            visual = visual_estimate(media, params, ctx)
            thresholds = load_thresholds(visual.method)
        except ModelUnavailable as exc:
            if gps is None:
                raise ModelUnavailable(f"{no_gps}, and no visual estimate: {exc}") from None
            findings.append(f"No visual estimate: {exc}")
            return self._result(None, None, None, gps, tables, findings)
        ctx.check_cancelled()
        ctx.progress(0.8, "selective prediction")
        scores = all_selection_scores(visual.probabilities, visual.cells)[params.selection]
        decision = decide(scores, thresholds.for_function(params.selection))
        findings[:0] = [f"Decision: {decision.sentence}.", *visual.notes]
        tables.append(Table("Visual estimate", [
            ("Method", visual.method), ("Selection function", params.selection),
            ("Thresholds", f"{thresholds.calibration_set} (n = {thresholds.n_calibration}, target accuracy "
                           f"{thresholds.target_accuracy:.0%})"),
            *[(f"{s.name or ''} {s.scale_km:g} km".strip(),
               f"score {s.score:.3f} vs threshold {s.threshold:.3f}: " + ("answered" if s.answered else "abstains"))
              for s in decision.scales],
        ]))
        ctx.progress(1.0, decision.sentence)
        return self._result(visual, decision, params.selection, gps, tables, findings)

    def _result(
        self, visual: VisualEstimate | None, decision: Decision | None, selection: str | None,
        gps: dict[str, Any] | None, tables: list[Table], findings: list[str],
    ) -> Geolocation:
        estimate, cells, score = None, None, None
        if visual is not None and decision is not None:
            p = visual.probabilities
            order = np.argsort(-p, kind="stable")[:TOP_CELLS]
            cells = np.stack([visual.cells.lat[order], visual.cells.lon[order], p[order]], axis=1)
            if not decision.abstained:
                pin = point_estimate(p, visual.cells, decision.answered_scale_km)
                estimate = {"lat": pin.lat, "lon": pin.lon, "place": nearest_place(pin.lat, pin.lon).describe()}
                score = float(decision.at(decision.answered_scale_km).score)
        answered = decision.answered_scale_km if decision else None
        result = Geolocation(
            analyzer=self.id,
            message=decision.sentence if decision else "metadata only",
            score=score,
            score_meaning=(f"{selection} at the answered scale ({scale_label(answered)})" if answered else
                           "none: no visual estimate, or abstained at every scale"),
            models_used=visual.models if visual else [],
            tables=tables,
            findings=findings,
            method=visual.method if visual else Method.METADATA.value,
            selection_function=selection or "",
            scales=scale_rows(decision) if decision else [],
            answered_scale_km=answered,
            decision=decision.sentence if decision else "",
            estimate=estimate,
            gps=gps,
            cells=cells,
        )
        result.images = {"map": static_map(view_from_result(result))}  # the report's figure
        return result
