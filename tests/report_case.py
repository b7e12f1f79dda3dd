"""An 8-item case with the results Triage leaves, saved directly (running the analyzers takes half a
minute): camera-sized heat maps with further maps, metadata tables, faces, a failure, a missing
model, per-frame series (one whose every frame failed), and the analyst's findings.

The maps are textured like real ones (noise over smooth structure), which is what makes figures
expensive to embed; they are float16 to keep the case folder small, as the analyzers' per-frame
maps are.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from workbench.app.case import Case, Evidence
from workbench.app.importing import import_paths
from workbench.app.sample import splice_box, write_case_evidence
from workbench.core import registry
from workbench.core.media import open_media
from workbench.core.results import Boxes, Facts, Heatmap, Provenance, Result, Series, Status, Table

MAPS = ("ela", "noise_median", "jpeg_ghost", "adq", "blk", "cfa", "copy_move", "fusion")
STACKS = {"jpeg_ghost": ["ghost (closer than typical)", *(f"q={q}" for q in range(50, 100, 5))],
          "noise_median": ["noise level"], "adq": ["Bianchi 2011", "Lin 2009"],
          "fusion": [f"input: {s}" for s in MAPS[:-1]]}
MISSING = ("no deepfake detector is installed; the ensemble needs at least one: model 'deepfake_effnb4_dfb' not "
           "installed: install effnb4_best.pth with Settings ▸ Models or `workbench models install "
           "deepfake_effnb4_dfb FILE`")
NOTES = {"splice": "The cup area does not share the photo's compression history: pasted in.",
         "rim": "ELA brighter along the cup's rim than anywhere else in the image.",
         "original": "Camera original of the spliced copy (same scene, no paste).",
         "clip": "The face is visible throughout; compare with the witness statement."}


def provenance(analyzer_id: str, evidence: Evidence) -> Provenance:
    analyzer = registry.get(analyzer_id)
    params = dataclasses.asdict(analyzer.params_from({}))
    return Provenance(analyzer_id, analyzer.version, params, evidence.sha256, "0.1.0", "cpu", [],
                      "2024-05-02T10:00:00+00:00", 0.5, "Dana Q. Examiner (dana)")


def textured_map(shape: tuple[int, int], rng: np.random.Generator, box: tuple[int, int, int, int] | None) -> np.ndarray:
    """Noise over smooth structure in [0, 1], brighter inside `box` (x0, y0, x1, y1)."""
    h, w = shape
    smooth = cv2.resize(rng.random((h // 64 + 2, w // 64 + 2)).astype(np.float32), (w, h),
                        interpolation=cv2.INTER_CUBIC)
    heat = 0.5 * smooth + 0.35 * rng.random((h, w), dtype=np.float32)
    if box is not None:
        x0, y0, x1, y1 = box
        heat[y0:y1, x0:x1] += 0.4
    return np.clip(heat, 0, 1).astype(np.float16)


def metadata(evidence: Evidence) -> Facts:
    file_rows = [("Name", evidence.name), ("Size", f"{evidence.size:,} bytes"), ("Format", evidence.format),
                 ("Dimensions", f"{evidence.width}×{evidence.height}"), ("Colour mode", "RGB"),
                 ("MD5", "0" * 32), ("SHA-1", "0" * 40), ("SHA-256", evidence.sha256)]
    jpeg_rows = [("Coding", "baseline/sequential"), ("Luma table", " / ".join(["3 2 2 3 5 8 10 12"] * 8)),
                 ("Luma table quality", "exact IJG quality 90"), *[(f"DHT @ {177 + 33 * i}", "(29 bytes)")
                                                                  for i in range(10)]]
    return Facts("metadata", score_meaning="no score: metadata are facts, not a detection",
                 provenance=provenance("metadata", evidence), tables=[Table("File", file_rows),
                                                                     Table("JPEG", jpeg_rows)],
                 findings=["No EXIF metadata at all: it was probably stripped."])


def image_results(evidence: Evidence, rng: np.random.Generator, spliced: bool) -> list[Result]:
    shape = (evidence.height, evidence.width)
    box = splice_box(shape) if spliced else None
    results: list[Result] = [metadata(evidence)]
    for analyzer_id in MAPS:
        stack = {k: textured_map((shape[0] // 2, shape[1] // 2), rng, None) for k in STACKS.get(analyzer_id, [])}
        score = None if analyzer_id == "ela" else float(rng.random())
        results.append(Heatmap(analyzer_id, score=score, score_meaning=f"{analyzer_id} heterogeneity",
                               provenance=provenance(analyzer_id, evidence), map=textured_map(shape, rng, box),
                               stack=stack, stats={"p99": 0.9, "median": 0.2}))
    faces = np.array([[0.3, 0.1, 0.5, 0.35]]) * [shape[1], shape[0], shape[1], shape[0]]
    results.append(Boxes("deepfake.faces", score=1.0, provenance=provenance("deepfake.faces", evidence),
                         boxes=faces.astype(np.float32), labels=["face 0"]))
    results.append(Result("deepfake.ensemble", Status.UNAVAILABLE, MISSING))
    return results


def video_results(evidence: Evidence, rng: np.random.Generator) -> list[Result]:
    media = open_media(evidence.path)
    with media.reader() as reader:
        frames = [f for f in reader.sample(1.0) if f.rgb is not None]
    times = np.array([f.time for f in frames])
    thumbs = {f"frame {f.index} at {f.time:.2f} s": cv2.resize(f.rgb, (320, 240)) for f in frames}
    maps = np.stack([textured_map((120, 160), rng, None) for _ in frames])
    common = {"times": times, "frames": np.array([f.index for f in frames]), "source_analyzer": "ela",
              "sampling": "one frame every 1 s", "label": "99th percentile of the frame's map, 0–1"}
    return [
        metadata(evidence),
        Series("ela", score=0.9, provenance=provenance("ela", evidence), values=rng.random(len(frames)),
               maps=maps, images=thumbs, **common),
        Series("noise_median", score=None, provenance=provenance("noise_median", evidence),
               values=np.full(len(frames), np.nan), **common),
        Boxes("deepfake.faces", score=1.0, provenance=provenance("deepfake.faces", evidence),
              boxes=np.array([[150, 60, 330, 280]] * len(frames), np.float32), frames=common["frames"],
              box_scores=np.linspace(0.5, 0.9, len(frames)), labels=["face"] * len(frames)),
        Result("deepfake.ensemble", Status.UNAVAILABLE, MISSING),
        Result("similarity.video_copy", Status.ERROR, "the case has no reference videos indexed"),
    ]


def build_case(root: Path) -> Case:
    """The case, with findings on the splice (on two layers), the original and a clip's span."""
    case = Case.create(root / "case")
    case.set_details("Harbour fire 2024-031", "Dana Q. Examiner", "Regional Forensic Unit")
    import_paths(case, write_case_evidence(root / "evidence"))
    rng = np.random.default_rng(7)
    for evidence in case.all_evidence():
        results = video_results(evidence, rng) if evidence.kind == "video" else \
            image_results(evidence, rng, evidence.name == "astronaut_spliced.jpg")
        for result in results:
            case.save_result(evidence.id, result)
    items = {e.name: e for e in case.all_evidence()}
    splice = items["astronaut_spliced.jpg"]
    runs = {r.result.analyzer: r for r in case.latest_runs(splice.id)}
    x0, y0, x1, y1 = splice_box((splice.height, splice.width))
    case.add_finding(splice.id, NOTES["splice"], runs["fusion"].id, "Fusion localiser",
                     {"kind": "rect", "points": [[x0, y0], [x1, y1]]})
    case.add_finding(splice.id, NOTES["rim"], runs["ela"].id, "Error level analysis",
                     {"kind": "freehand", "points": [[x0, y0], [x1, y0 + 40], [x1 - 30, y1], [x0 + 20, y1 - 10]]})
    case.add_finding(items["astronaut.jpg"].id, NOTES["original"])
    clip = items["interview.mp4"]
    ela = next(r for r in case.latest_runs(clip.id) if r.result.analyzer == "ela")
    case.add_finding(clip.id, NOTES["clip"], ela.id, "Error level analysis",
                     {"kind": "rect", "points": [[150, 60], [330, 280]]}, time_start=1.0, time_end=2.5)
    return case
