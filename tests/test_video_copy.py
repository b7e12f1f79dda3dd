"""Video copy detection: temporal alignment on hand-made matrices, the analyzer end to end on small
generated videos (a copy inserted into other footage), the reference store and its cache, the CLI
`index` + `analyze` path, the report figure and the GUI view (pytest-qt, offscreen)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from plugins.similarity import video_copy_store
from plugins.similarity.temporal_alignment import AlignmentParams, merge_overlapping, segment_span, temporal_network
from plugins.similarity.video_copy import VideoCopyAnalyzer, default_sampling, store_for
from plugins.similarity.video_copy_features import VideoFeatures, describe_video, similarity_matrix
from plugins.similarity.video_copy_figure import segments_figure
from plugins.similarity.video_frame_index import FrameIndex
from workbench.app.case import Case
from workbench.app.cli import main as cli_main
from workbench.app.report import build_report
from workbench.core.media import open_media
from workbench.core.plugin import RunContext, run_analyzer
from workbench.core.results import Result, Segments, Status
from workbench.core.video import Frame, VideoReader
from workbench.synthetic.photos import load, source_photos
from workbench.synthetic.videos import camera_move, write_video

DOCS = Path(__file__).resolve().parents[1] / "docs"
FPS, SIZE = 10.0, (224, 168)
COPY_Q, COPY_R = (2.0, 8.0), (3.0, 9.0)
"""Where the query's copied part is, in the query and in the reference (seconds)."""


def shots(*photos: int, seconds: float = 4.0) -> list[np.ndarray]:
    """Footage made of one camera move per photo (different photos: unrelated shots)."""
    found = source_photos()
    return [f for p in photos for f in camera_move(load(found[p]), seconds, FPS, SIZE, seed=p)]


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 12 s reference, a query with its 3–9 s inserted after 2 s of other footage, a distractor."""
    refs, evidence = tmp_path_factory.mktemp("refs"), tmp_path_factory.mktemp("evidence")
    reference = shots(0, 2, 5)
    start, end = (round(t * FPS) for t in COPY_R)
    query = shots(9, seconds=2.0) + reference[start:end] + shots(11, seconds=2.0)
    return {
        "reference": write_video(refs / "broadcast.mp4", reference, FPS),
        "distractor": write_video(refs / "other.avi", shots(7, 8), FPS),
        "query": write_video(evidence / "upload.mp4", query, FPS),
    }


@pytest.fixture(scope="module")
def indexed(videos: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    """A case whose reference videos were added with `workbench index` (described once for the module:
    the tests share its descriptor cache)."""
    root = tmp_path_factory.mktemp("indexed") / "case"
    assert cli_main(["index", str(videos["reference"].parent), "--case", str(root)]) == 0
    case = Case.open(root)
    yield case
    case.close()


def run_query(query: Path, workspace: Path | None = None, **params: object) -> Result:
    analyzer = VideoCopyAnalyzer()
    return run_analyzer(analyzer, open_media(query), analyzer.params_from(params), RunContext(workspace=workspace))


# -- temporal alignment on hand-made matrices -------------------------------------------------------
def noise(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.3, 0.6, shape).astype(np.float32)


def test_an_exact_diagonal_is_one_segment() -> None:
    sim = noise((20, 20))
    np.fill_diagonal(sim, 0.97)
    [match] = temporal_network(sim)
    assert (match.q_start, match.q_end, match.r_start, match.r_end, match.frames) == (0, 19, 0, 19, 20)
    assert match.score == pytest.approx(0.97)


def test_an_offset_copy_with_a_dropped_frame_and_a_broken_row() -> None:
    sim = noise((30, 40), seed=1)
    for i in range(5, 20):
        sim[i, i + 12] = 0.92
    sim[11, 23] = 0.5  # a frame the edit spoiled: bridged (gap ≤ max_gap)
    sim[14] = np.nan  # a query frame that did not decode
    [match] = temporal_network(sim)
    assert (match.q_start, match.q_end, match.r_start, match.r_end) == (5, 19, 17, 31)
    assert match.frames == 13


@pytest.mark.parametrize("speed", [2.0, 0.5])
def test_a_speed_change_is_followed(speed: float) -> None:
    sim = noise((30, 40), seed=2)
    rows = range(0, 16) if speed == 2.0 else range(0, 30)
    for i in rows:
        sim[i, 4 + int(i * speed)] = 0.9
    [match] = temporal_network(sim)
    assert (match.q_start, match.q_end) == (rows[0], rows[-1])
    assert (match.r_start, match.r_end) == (4, 4 + int(rows[-1] * speed))


def test_no_match_gives_no_segment_and_short_paths_are_dropped() -> None:
    assert temporal_network(noise((25, 30), seed=3)) == []
    sim = noise((25, 30), seed=4)
    sim[10, 3] = sim[11, 4] = 0.95
    assert temporal_network(sim, AlignmentParams(min_frames=3)) == []
    assert len(temporal_network(sim, AlignmentParams(min_frames=2))) == 1
    assert temporal_network(np.zeros((0, 5))) == []


def test_two_copies_from_one_reference_and_overlaps_merged() -> None:
    sim = noise((40, 40), seed=5)
    for i in range(0, 10):
        sim[i, 20 + i] = 0.95
    for i in range(20, 32):
        sim[i, 2 + i - 20] = 0.9
    found = sorted((m.q_start, m.q_end, m.r_start, m.r_end) for m in temporal_network(sim))
    assert found == [(0, 9, 20, 29), (20, 31, 2, 13)]
    rows = np.array([[0, 10, 20, 30, 0.9], [5, 12, 25, 33, 0.8], [20, 30, 0, 10, 0.85], [0, 10, 40, 50, 0.7]])
    merged, names = merge_overlapping(rows, ["a", "a", "a", "b"])
    assert names == ["a", "a", "b"]
    np.testing.assert_allclose(merged[0, :4], [0, 12, 20, 33])
    assert 0.8 < merged[0, 4] < 0.9


def test_a_path_that_drifts_off_its_line_is_cut() -> None:
    """A straight copy for 10 frames, then 10 query frames all matching the copy's last reference frame
    (a freeze): the path follows it (its speed since its start stays in range: 9 reference s in 19
    query s), the line fitted to the copy does not, and the segment ends with the copy, to within the
    one interval a sampled frame is uncertain by."""
    sim = noise((30, 30), seed=6)
    for i in range(10):
        sim[i, i] = 0.95
    sim[10:20, 9] = 0.9
    [match] = temporal_network(sim)
    assert match.q_start == 0 and 9 <= match.q_end <= 11
    assert match.speed == pytest.approx(1.0, abs=0.05)
    assert segment_span(match, np.arange(30.0), 1.0, 30.0, 30.0)[2:] == pytest.approx([0, 10], abs=1.0)


def test_a_path_never_stays_on_one_reference_frame_for_long() -> None:
    sim = noise((20, 20), seed=7)
    sim[2:14, 5] = 0.95  # 12 query frames all like one reference frame: speed 0, out of range
    found = temporal_network(sim)
    assert found and all(m.q_end - m.q_start <= 2 for m in found)  # ≥ 0.5 s per s, to within one frame
    assert all(0.5 <= m.speed <= 2.0 for m in found)


def shots_matrix(speed: float, q_every: float, r_every: float, seed: int) -> tuple[np.ndarray, ...]:
    """A matrix where the reference's 5–29 s are copied at `speed` from the query's 3 s on. The copy's
    first shot (up to the cut at 9 s) is uniform: all its frames equally similar up to noise, so the
    path wanders in it; the next shots (cuts at 15, 24 and 31 s) change slowly, the similarity falling
    by 0.01 a second away from the copied frame. Query and reference sampled every `q_every` and
    `r_every` seconds. Returns the matrix and both axes' instants."""
    rng = np.random.default_rng(seed)
    cuts = np.array([9.0, 15.0, 24.0, 31.0])
    tr = np.arange(0.0, 40.0, r_every)
    length = 24.0 / speed
    tq = np.arange(0.0, 3.0 + length + 4.0, q_every)
    copied = 5.0 + speed * (tq - 3.0)
    shot = np.searchsorted(cuts, copied, side="right")
    shot_of_column = np.searchsorted(cuts, tr, side="right")
    same_shot = ((tq >= 3.0) & (tq < 3.0 + length))[:, None] & (shot[:, None] == shot_of_column[None, :])
    slowly = 0.96 - 0.01 * np.abs(tr[None, :] - copied[:, None]) + rng.normal(0, 0.005, same_shot.shape)
    inside = np.where(shot[:, None] == 0, rng.uniform(0.86, 0.92, same_shot.shape), np.maximum(slowly, 0.82))
    return np.where(same_shot, inside, rng.uniform(0.3, 0.6, same_shot.shape)).astype(np.float32), tq, tr


@pytest.mark.parametrize(("speed", "q_every", "r_every"), [
    (1.0, 1.0, 1.0), (0.5, 1.0, 1.0), (2.0, 1.0, 1.0),
    (1.0, 0.5, 1.0), (2.0, 1.0, 0.5), (1.0, 1.0, 1.001),  # other samplings: 2 fps, or 29.97 fps read as 30
])
def test_the_reference_span_comes_from_a_line_fitted_to_the_segment(speed: float, q_every: float,
                                                                    r_every: float) -> None:
    sim, tq, tr = shots_matrix(speed, q_every, r_every, seed=int(10 * speed + 3 * q_every))
    [match] = temporal_network(sim, AlignmentParams(), tq, tr)
    q0, q1, r0, r1 = segment_span(match, tq, q_every, tq[-1] + q_every, tr[-1] + r_every)
    assert (q0, q1) == pytest.approx((3.0, 3.0 + 24.0 / speed), abs=1e-6)
    interval = max(r_every, speed * q_every)  # one sampling interval, in reference seconds
    assert (r0, r1) == pytest.approx((5.0, 29.0), abs=interval)
    assert match.speed == pytest.approx(speed, rel=0.05)


@pytest.mark.parametrize("ivf_from", [10**9, 1], ids=["exact", "inverted file"])
def test_the_frame_index_shortlists_the_copied_reference_among_distractors(ivf_from: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(8)

    def unit(x: np.ndarray) -> np.ndarray:
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    videos = [(f"ref{n}", unit(np.cumsum(rng.normal(size=(20, 32)), axis=0))) for n in range(300)]  # slow drifts
    videos[5][1][3] = np.nan  # a reference frame that did not decode: not indexed
    query = unit(videos[137][1][4:12] + 0.05 * rng.normal(size=(8, 32)))
    query[2] = np.nan
    index = FrameIndex.build(videos, ivf_from=ivf_from)
    assert index.index.ntotal == 300 * 20 - 1
    [(key, score), *others] = index.shortlist(query, 5)
    assert key == "ref137" and len(others) == 4 and all(s < score - 0.1 for _, s in others)
    brute = np.nanmax(np.nan_to_num(query) @ videos[137][1].T)  # the pair score, reference by reference
    assert score == pytest.approx(brute, abs=1e-4)
    index.save(tmp_path / "index")
    assert FrameIndex.load(tmp_path / "index").shortlist(query, 5) == index.shortlist(query, 5)
    assert FrameIndex.load(tmp_path / "none") is None


def test_undecodable_frames_never_match() -> None:
    vectors = np.eye(3, 8, dtype=np.float32)
    broken = vectors.copy()
    broken[1] = np.nan
    query = VideoFeatures("k", np.arange(3, dtype=np.float32), broken, 3.0, 1)
    reference = VideoFeatures("k", np.arange(3, dtype=np.float32), vectors, 3.0, 0)
    sim = similarity_matrix(query, reference)
    assert np.isnan(sim[1]).all() and sim[0, 0] == pytest.approx(1.0) and sim[2, 2] == pytest.approx(1.0)


def test_a_frame_that_does_not_decode_is_counted_and_left_as_a_gap(videos: dict[str, Path],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    real_sample = VideoReader.sample

    def second_frame_broken(self: VideoReader, *args: object, **kwargs: object) -> Iterator[Frame]:
        for n, frame in enumerate(real_sample(self, *args, **kwargs)):
            yield Frame(frame.index, frame.time, None) if n == 1 else frame

    monkeypatch.setattr(VideoReader, "sample", second_frame_broken)
    features = describe_video(open_media(videos["distractor"]), default_sampling(), RunContext())
    assert features.skipped == 1 and features.valid.tolist() == [True, False] + [True] * 6
    assert features.times.tolist() == list(range(8)) and features.vectors.shape == (8, 1280)


# -- the analyzer end to end --------------------------------------------------------------------------
def test_finds_an_inserted_copy_within_a_second(videos: dict[str, Path], indexed: Case) -> None:
    refs = f"{videos['reference']};{videos['distractor'].parent}"  # the same videos again: compared once
    result = run_query(videos["query"], indexed.root, references=refs)
    assert result.status is Status.OK, result.message
    assert isinstance(result, Segments)
    q0, q1, r0, r1, score = result.rows[0]
    assert abs(q0 - COPY_Q[0]) <= 1 and abs(q1 - COPY_Q[1]) <= 1, result.rows
    assert abs(r0 - COPY_R[0]) <= 1 and abs(r1 - COPY_R[1]) <= 1, result.rows
    assert result.references[0].startswith("broadcast.mp4 [") and result.score == pytest.approx(score)
    assert set(result.references) == {result.references[0]}  # nothing from the distractor
    assert result.matrix.dtype == np.float16 and result.matrix.shape == (10, 12)
    assert result.matrix_reference == result.references[0] and "not a probability" in result.score_meaning.lower()
    assert result.reference_durations[result.references[0]] == pytest.approx(12.0)
    assert result.query_duration == pytest.approx(10.0)


def test_references_are_described_once_and_cached_by_hash(videos: dict[str, Path], indexed: Case, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store = store_for(indexed.root)
    assert [v.path.name for v in store.references()] == ["broadcast.mp4", "other.avi"]
    report = store.add([videos["reference"], tmp_path / "missing.mp4"], default_sampling())
    assert (report.added, report.skipped) == (0, 1) and "no such file" in report.failed[str(tmp_path / "missing.mp4")]
    first = run_query(videos["query"], indexed.root)

    def no_decoding(*_args: object) -> None:
        raise AssertionError("a cached video was decoded again")

    monkeypatch.setattr(video_copy_store, "describe_video", no_decoding)
    again = run_query(videos["query"], indexed.root)
    assert again.ok and np.array_equal(again.rows, first.rows) and len(first.rows) == 1
    label = first.references[0]
    assert store.locate(label) == videos["reference"].resolve() and store.locate("nothing [0123]") is None
    assert (store.folder / "features" / f"index-{default_sampling().key}.faiss").is_file()  # the frame index
    index = store.frame_index(default_sampling(), RunContext(), [])
    assert sorted(index.keys) == sorted(v.sha256 for v in store.references())


def test_missing_references_and_bad_input_are_said_plainly(videos: dict[str, Path], indexed: Case, tmp_path: Path,
                                                           jpeg_photo: Path) -> None:
    none = run_query(videos["query"], tmp_path / "empty case")
    assert none.status is Status.UNAVAILABLE and "workbench index" in none.message
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    workspace = indexed.root / "elsewhere"  # a store without references, sharing nothing
    partly = run_query(videos["query"], workspace, references=f"{bad};{videos['reference']}")
    assert partly.ok and "broken.mp4 left out" in partly.message and len(partly.rows) == 1
    only_bad = run_query(videos["query"], workspace, references=str(bad))
    assert only_bad.status is Status.UNAVAILABLE and "broken.mp4" in only_bad.message
    itself = run_query(videos["query"], workspace, references=str(videos["query"]))
    assert itself.status is Status.UNAVAILABLE  # the query is never its own reference
    image = run_analyzer(VideoCopyAnalyzer(), open_media(jpeg_photo), VideoCopyAnalyzer().params_from({}),
                         RunContext())
    assert image.status is Status.ERROR and "does not accept image" in image.message
    with pytest.raises(ValueError, match="every_s"):
        VideoCopyAnalyzer().params_from({"every_s": "0"})


def test_s2vs_features_without_their_files_are_unavailable(videos: dict[str, Path]) -> None:
    result = run_query(videos["query"], None, references=str(videos["reference"]), features="s2vs")
    assert result.status is Status.UNAVAILABLE and "s2vs_resnet50" in result.message and result.score is None


def test_no_copy_in_unrelated_footage(videos: dict[str, Path], indexed: Case) -> None:
    result = run_query(videos["distractor"], indexed.root)  # the other reference is compared
    assert result.ok and len(result.rows) == 0 and result.score is None
    assert "no copied segment" in result.message and "1 reference" in result.message
    assert result.matrix.shape == (8, 12)
    figure = segments_figure(result)
    assert figure.ndim == 3 and figure.shape[1] == 900


def test_segments_round_trip_through_a_case_and_the_figure(videos: dict[str, Path], indexed: Case, case: Case) -> None:
    evidence = case.add_evidence(videos["query"])
    result = run_query(videos["query"], indexed.root)
    run = case.save_result(evidence.id, result)
    loaded = case.run(run.id).result
    assert isinstance(loaded, Segments) and loaded.references == result.references
    np.testing.assert_array_equal(loaded.rows, result.rows)
    np.testing.assert_array_equal(loaded.matrix, result.matrix)
    assert loaded.reference_durations == result.reference_durations and loaded.method == result.method
    figure = segments_figure(loaded)
    assert figure.dtype == np.uint8 and figure.shape[2] == 3 and figure.shape[0] > 300


def test_cli_index_then_analyze(videos: dict[str, Path], indexed: Case, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    root = str(indexed.root)
    assert cli_main(["index", str(videos["reference"].parent), "--case", root]) == 0
    assert "2 reference videos (0 added, 2 already indexed, 0 failed)" in capsys.readouterr().out
    out = tmp_path / "out.json"
    assert cli_main(["analyze", str(videos["query"]), "--analyzers", "similarity.video_copy", "--case", root,
                     "--json", str(out)]) == 0
    report = build_report(Case.open(indexed.root))
    assert "Copied segments" in report.html and "broadcast.mp4" in report.html
    assert any(name.endswith("-figure.png") for name in report.figures)
    [entry] = json.loads(out.read_text(encoding="utf-8"))["evidence"]
    [result] = entry["results"]
    assert result["type"] == "segments" and result["status"] == "ok"
    assert result["references"][0].startswith("broadcast.mp4") and Path(result["rows"]).is_file()
    assert cli_main(["index", str(videos["distractor"]), "--case", root, "--remove"]) == 0
    assert "1 reference videos (1 removed)" in capsys.readouterr().out
    assert cli_main(["index", str(videos["distractor"]), "--case", root]) == 0
    assert "(1 added, 0 already indexed" in capsys.readouterr().out


# -- the GUI view -----------------------------------------------------------------------------------
def test_view_shows_the_matrix_and_opens_both_videos_at_a_segment(videos: dict[str, Path], indexed: Case,
                                                                  qtbot) -> None:  # noqa: ANN001
    from PySide6.QtCore import QPoint, Qt

    from plugins.similarity.ui.segments_view import SegmentsView
    from workbench.ui.result_views import view_for

    evidence = indexed.find_evidence(open_media(videos["query"]).sha256) or indexed.add_evidence(videos["query"])
    run = indexed.save_result(evidence.id, run_query(videos["query"], indexed.root))
    assert isinstance(view_for(run), SegmentsView)
    view = SegmentsView(run, case=indexed)
    qtbot.addWidget(view)
    assert view.table.topLevelItemCount() == 1
    window = view.open_window()
    window.resize(1000, 760)
    window.show()
    qtbot.waitExposed(window)
    assert window.matrix.image.width() == 12 and window.matrix.image.height() == 10
    [(row, rect)] = window.matrix.segment_rects()
    assert row == 0 and rect.width() > 0 and rect.height() > 0

    window.query_pane.show_time(0.0)
    window.reference_pane.show_time(0.0)
    [(n, band, query_bar, _)] = window.timelines.shapes()
    qtbot.mouseClick(window.timelines, Qt.MouseButton.LeftButton, pos=query_bar.center().toPoint())
    q0, _, r0, _, _ = run.result.rows[0]
    assert window.query_pane.time == pytest.approx(q0, abs=0.11)
    assert window.reference_pane.time == pytest.approx(r0, abs=0.11)
    assert window.query_pane.view.has_image() and window.reference_pane.view.has_image()
    assert "broadcast.mp4" in window.reference_pane.heading.text()
    window.step(1.0, 0)
    assert window.reference_pane.time == pytest.approx(r0 + 1.0, abs=0.11)
    qtbot.mouseClick(window.matrix, Qt.MouseButton.LeftButton,
                     pos=QPoint(int(rect.left()) - 3, int(rect.top()) + 2))  # beside the box: those instants
    assert window.reference_pane.time < r0
    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS"):
        window.open_segment(n)
        window.grab().save(str(DOCS / "screenshot-video-copy.png"))
    window.close()


def test_main_window_adds_selected_videos_as_references(videos: dict[str, Path], tmp_path: Path,
                                                        qtbot) -> None:  # noqa: ANN001
    from workbench.ui.main_window import MainWindow

    case = Case.create(tmp_path / "gui-case")
    item = case.add_evidence(videos["reference"])
    window = MainWindow(case)
    qtbot.addWidget(window)
    window.evidence.select(item.id)
    panel = window.panels["similarity.search"]
    job = panel.add_reference_videos()
    qtbot.waitUntil(lambda: job.done, timeout=60000)
    assert job.error is None and "1 reference video(s) added" in job.result
    assert [v.sha256 for v in store_for(case.root).references()] == [item.sha256]
    window.evidence.clearSelection()
    assert panel.add_reference_videos() is None  # nothing selected: a message, no job
    window.close()


def test_reference_time_follows_the_segments_alignment_and_stays_inside_it() -> None:
    from plugins.similarity.ui.segments_view import reference_time

    slowed = np.array([2.0, 8.0, 3.0, 6.0, 0.9])  # the query shows 3 s of reference over 6 s
    assert reference_time(slowed, 2.0) == pytest.approx(3.0)
    assert reference_time(slowed, 5.0) == pytest.approx(4.5)
    assert reference_time(slowed, 1.0) == pytest.approx(3.0)  # before the segment: its start
    assert reference_time(slowed, 9.5) == pytest.approx(6.0)  # after it: its end
    assert reference_time(np.array([4.0, 4.0, 7.0, 7.0, 0.5]), 4.0) == pytest.approx(7.0)  # one instant


def test_stepping_in_a_segment_moves_the_reference_through_its_alignment(videos: dict[str, Path],
                                                                         qtbot) -> None:  # noqa: ANN001
    """A copy played at double speed in the query: 1 s of query is 2 s of reference. Steps and clicks
    in the segment's box keep the frames matched; outside a segment both move by the same time."""
    from PySide6.QtCore import QPoint, Qt

    from plugins.similarity.ui.segments_view import CopyDetectionWindow

    result = Segments("similarity.video_copy", rows=np.array([[2.0, 5.0, 3.0, 9.0, 0.9]]),
                      references=["broadcast.mp4"], matrix=np.zeros((10, 12), np.float32),
                      matrix_reference="broadcast.mp4", query_duration=10.0,
                      reference_durations={"broadcast.mp4": 12.0})
    window = CopyDetectionWindow(result, videos["query"], lambda _label: videos["reference"])
    qtbot.addWidget(window)
    window.show()
    window.open_segment(0)
    assert (window.query_pane.time, window.reference_pane.time) == pytest.approx((2.0, 3.0))
    window.step(1.0, 0)
    assert (window.query_pane.time, window.reference_pane.time) == pytest.approx((3.0, 5.0))
    window.step(0.0, 1)  # one query frame (0.1 s) is two reference frames
    assert (window.query_pane.time, window.reference_pane.time) == pytest.approx((3.1, 5.2))
    assert "query 0:03.100 ↔ reference 0:05.200 (segment 1's alignment)" in window.times.text()
    window.step(-1.0, 0)
    window.step(-1.0, 0)  # before the segment: the reference waits at its start
    assert (window.query_pane.time, window.reference_pane.time) == pytest.approx((1.1, 3.0))

    [(_, rect)] = window.matrix.segment_rects()
    middle = rect.center()
    qtbot.mouseClick(window.matrix, Qt.MouseButton.LeftButton, pos=middle.toPoint())
    clicked = (middle.toPoint().y() - window.matrix.MARGIN_TOP) / window.matrix.cell() * window.matrix.step
    assert window.query_pane.time == pytest.approx(clicked, abs=0.06)
    assert window.reference_pane.time == pytest.approx(3.0 + 2 * (window.query_pane.time - 2.0), abs=0.06)

    qtbot.mouseClick(window.matrix, Qt.MouseButton.LeftButton,
                     pos=QPoint(int(rect.left()) - 3, int(rect.top()) + 2))  # beside the box: unlinked
    before = window.reference_pane.time
    window.step(1.0, 0)
    assert window.reference_pane.time == pytest.approx(before + 1.0)
    assert "not linked" in window.times.text()
    window.close()
