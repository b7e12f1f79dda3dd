"""Video evidence: container facts, exact frames, sampling, broken input, and image analyzers per frame."""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench.app.analysis import Planned, analyze
from workbench.app.case import Case
from workbench.app.cli import main as cli_main
from workbench.core import registry
from workbench.core.frames import FrameSampling, PerFrame, SamplingMode
from workbench.core.media import MediaError, MediaKind, open_media
from workbench.core.plugin import RunContext, run_analyzer
from workbench.core.results import Facts, Series, Status
from workbench.core.video import mp4_creation_time, sample_indices
from workbench.synthetic.videos import photo_clip, write_video

SIZE = (320, 240)


def numbered_frames(count: int) -> list[np.ndarray]:
    """Frames whose grey level encodes their index (8 levels apart survive the encoder)."""
    frames = []
    for i in range(count):
        frame = np.full((SIZE[1], SIZE[0], 3), (i * 8) % 256, np.uint8)
        frames.append(frame)
    return frames


def frame_number(rgb: np.ndarray) -> int:
    return int(round(float(rgb.mean()) / 8))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    scene = photo_clip(0, 3, size=SIZE) + photo_clip(1, 3, size=SIZE)
    return {
        "mp4": write_video(folder / "clip.mp4", scene),
        "avi": write_video(folder / "clip.avi", scene),
        "numbered": write_video(folder / "numbered.avi", numbered_frames(30)),
        "folder": folder,
    }


@pytest.mark.parametrize("ext, container, codec", [("mp4", "MPEG-4", "FMP4"), ("avi", "AVI", "MJPG")])
def test_video_opens_with_its_container_facts(clips: dict[str, Path], ext: str, container: str, codec: str) -> None:
    path = clips[ext]
    media = open_media(path)
    assert media.kind is MediaKind.VIDEO
    assert media.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    info = media.video
    assert info is not None and container in info.container and info.codec == codec
    assert (info.width, info.height, info.fps, info.frame_count) == (320, 240, 25.0, 150)
    assert info.duration == pytest.approx(6.0)
    facts = dict(info.facts())
    assert facts["Duration"] == "6.00 s" and facts["Creation time"] == "not recorded"
    assert media.pixels().shape == (240, 320, 3)  # the poster frame


def test_frames_are_exact_after_seeking_back_and_forth(clips: dict[str, Path]) -> None:
    media = open_media(clips["numbered"])
    with media.reader() as reader:
        for index in (0, 17, 3, 29, 28, 12, 13):
            assert frame_number(reader.frame(index)) == index


def test_sampling_one_frame_per_second_and_scene_changes(clips: dict[str, Path]) -> None:
    media = open_media(clips["mp4"])
    assert sample_indices(150, 25.0, 1.0) == [0, 25, 50, 75, 100, 125]
    with media.reader() as reader:
        frames = list(reader.sample(1.0))
        assert [f.index for f in frames] == [0, 25, 50, 75, 100, 125]
        assert [f.time for f in frames] == [0, 1, 2, 3, 4, 5]
        assert all(f.rgb is not None and f.rgb.shape == (240, 320, 3) for f in frames)
        assert [f.index for f in reader.scenes()] == [0, 75]  # the cut between the two photos


def test_broken_frames_are_counted_not_fatal(clips: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(clips["avi"].read_bytes())
    starts = [m.start() for m in re.finditer(b"\xff\xd8\xff", bytes(data))]
    for start in starts[30:60]:  # wipe the JPEG data of frames 30-59
        data[start:start + 400] = bytes(400)
    broken = tmp_path / "broken.avi"
    broken.write_bytes(bytes(data))
    media = open_media(broken)
    with media.reader() as reader:
        frames = list(reader.sample(0.2))
    broken_indices = [f.index for f in frames if f.rgb is None]
    assert len(broken_indices) >= 4 and all(30 <= i < 60 for i in broken_indices)
    assert len(frames) == 30  # sampling went on after the damage

    ela = registry.get("ela")
    result = run_analyzer(PerFrame(ela), media, ela.params_from({}), RunContext())
    assert isinstance(result, Series) and result.ok
    expected = sum(i in broken_indices for i in (0, 25, 50, 75, 100, 125))
    assert result.skipped == expected >= 1 and f"{expected} undecodable frame(s) skipped" in result.message


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("empty.mp4", b"", ("empty", "0 bytes")),
        ("notes.mp4", b"hello, this is text", ("not a readable video",)),
        ("fake.avi", b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(200), ("not a readable video",)),
    ],
)
def test_bad_video_files_get_a_clear_message(tmp_path: Path, name: str, content: bytes, words: tuple[str, ...]) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MediaError) as info:
        open_media(path)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_truncated_mp4_is_refused_clearly(clips: dict[str, Path], tmp_path: Path) -> None:
    data = clips["mp4"].read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])  # the index (moov) was at the end
    with pytest.raises(MediaError, match="not a readable video"):
        open_media(path)


def test_image_with_a_video_extension_opens_as_the_image(tmp_path: Path) -> None:
    path = tmp_path / "photo.mp4"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path, format="JPEG")
    media = open_media(path)
    assert media.kind is MediaKind.IMAGE and media.format == "JPEG"
    assert "unusual extension '.mp4'" in media.warnings[0]


def test_non_ascii_video_name(clips: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "vidéo 證據 №1.avi"
    path.write_bytes(clips["avi"].read_bytes())
    media = open_media(path)
    assert media.video is not None and media.video.frame_count == 150


def test_video_name_that_is_not_utf8_opens_and_decodes(clips: dict[str, Path], tmp_path: Path) -> None:
    """OpenCV would crash the whole process on this name: the decoder gets the file another way."""
    raw = os.path.join(os.fsencode(tmp_path), b"clip \xe9\xff.avi")
    with open(raw, "wb") as fh:
        fh.write(clips["avi"].read_bytes())
    media = open_media(os.fsdecode(raw))
    assert media.name == "clip \\xe9\\xff.avi" and media.video is not None and media.video.frame_count == 150
    with media.reader() as reader:
        assert len([f for f in reader.sample(1.0) if f.rgb is not None]) == 6


@pytest.mark.parametrize("ext", ["avi", "mkv"])
def test_truncated_video_gets_an_evidence_warning(clips: dict[str, Path], tmp_path: Path, ext: str) -> None:
    """The header still announces 6 s; the end of the file (and of the frames) is gone."""
    whole = clips[ext] if ext in clips else write_video(tmp_path / f"clip.{ext}", numbered_frames(150))
    assert not any("truncated" in w for w in open_media(whole).warnings)
    data = whole.read_bytes()
    for keep, words in ((0.9, ("announces 150 frames (6.00 s)", "the last", "do not decode", "truncated")),
                        (0.5, ("announces 150 frames", "none of its last 25 decode", "truncated"))):
        cut = tmp_path / f"cut{keep}.{ext}"
        cut.write_bytes(data[: int(len(data) * keep)])
        media = open_media(cut)
        [warning] = [w for w in media.warnings if "truncated" in w]
        assert all(w in warning for w in words), warning


def test_video_pixel_limit(clips: dict[str, Path]) -> None:
    with pytest.raises(MediaError, match="exceed the limit"):
        open_media(clips["avi"], max_pixels=320 * 240 - 1)


def mp4_with_mvhd(seconds: int, version: int = 0) -> bytes:
    body = bytes([version, 0, 0, 0]) + (struct.pack(">QQ", seconds, seconds) if version else
                                        struct.pack(">II", seconds, seconds)) + bytes(80)
    mvhd = struct.pack(">I4s", 8 + len(body), b"mvhd") + body
    moov = struct.pack(">I4s", 8 + len(mvhd), b"moov") + mvhd
    ftyp = struct.pack(">I4s", 16, b"ftyp") + b"isom" + bytes(4)
    mdat = struct.pack(">I4s", 8 + 1000, b"mdat") + bytes(1000)
    return ftyp + mdat + moov


@pytest.mark.parametrize("version", [0, 1])
def test_mp4_creation_time_from_the_movie_header(tmp_path: Path, version: int) -> None:
    path = tmp_path / "header.mp4"
    path.write_bytes(mp4_with_mvhd(3_786_912_000, version))  # 2024-01-01 00:00:00 UTC since 1904
    assert mp4_creation_time(path) == "2024-01-01T00:00:00+00:00"
    path.write_bytes(mp4_with_mvhd(0, version))
    assert mp4_creation_time(path) is None  # zero means "not recorded"


def test_image_analyzers_run_per_frame_in_a_case(clips: dict[str, Path], tmp_path: Path) -> None:
    case = Case.create(tmp_path / "case")
    evidence = case.add_evidence(clips["mp4"])
    assert evidence.kind == "video" and evidence.width == 320
    plan = [Planned(registry.get(i), registry.get(i).params_from({})) for i in ("metadata", "noise_wavelet")]
    runs = analyze(case, evidence, plan, sampling=FrameSampling(SamplingMode.INTERVAL, every_s=2.0))
    facts, series = (case.run(r.id).result for r in runs)  # reloaded from the case store
    assert isinstance(facts, Facts) and facts.table("Video") is not None
    assert any("Codec FMP4" in f for f in facts.findings)
    assert isinstance(series, Series) and series.status is Status.OK
    assert series.frames.tolist() == [0, 50, 100] and series.times.tolist() == [0.0, 2.0, 4.0]
    assert np.isfinite(series.values).all() and series.maps.shape == (3, 120, 160)
    assert series.sampling == "one frame every 2 s" and len(series.images) == len(series.top) == 3
    assert series.top[0]["value"] == pytest.approx(float(series.values.max()))
    assert series.provenance.input_sha256 == evidence.sha256 and series.provenance.version.endswith("+frames.1")
    case.close()


def test_cli_analyzes_a_video(clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    code = cli_main(["analyze", str(clips["avi"]), "--analyzers", "metadata,ela", "--case", str(tmp_path / "c"),
                     "--json", str(out), "--scene-changes"])
    assert code == 0
    [entry] = json.loads(out.read_text())["evidence"]
    assert entry["kind"] == "video"
    ela = next(r for r in entry["results"] if r["analyzer"] == "ela")
    assert ela["type"] == "series" and "scene" in ela["sampling"] and Path(ela["values"]).is_file()


def test_sample_case_videos(tmp_path: Path) -> None:
    from workbench.app.sample import write_sample_videos

    original, reupload = (open_media(p) for p in write_sample_videos(tmp_path))
    assert original.video.duration == pytest.approx(10.0) and reupload.video.duration == pytest.approx(9.0)
    assert original.video.codec == "FMP4" and reupload.video.codec == "MJPG"


def test_showing_a_video_again_does_not_rehash_an_unchanged_file(clips: dict[str, Path], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import workbench.core.media as media_module

    path = tmp_path / "shown.avi"
    path.write_bytes(clips["avi"].read_bytes())
    case = Case.create(tmp_path / "case")
    item = case.add_evidence(path)
    case.open_media(item)  # verified now

    def no_hashing(_path: Path) -> str:
        raise AssertionError("re-hashed")

    monkeypatch.setattr(media_module, "sha256_file", no_hashing)
    assert case.open_media(item, recheck=False).sha256 == item.sha256  # unchanged: trusted for display
    with pytest.raises(AssertionError, match="re-hashed"):
        case.open_media(item)  # an analysis always re-hashes
    monkeypatch.undo()
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(1, 1))
    with pytest.raises(MediaError, match="changed since import"):
        case.open_media(item, recheck=False)  # size or time changed: hashed again, and refused
    case.close()


def test_default_cli_plan_leaves_out_what_does_not_apply_to_video(clips: dict[str, Path], tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.core.frames import applies_to

    adq, ela = registry.get("adq"), registry.get("ela")
    assert not applies_to(adq, MediaKind.VIDEO) and applies_to(adq, MediaKind.IMAGE)
    assert applies_to(ela, MediaKind.VIDEO)
    media = open_media(clips["avi"])
    refused = run_analyzer(adq, media, adq.params_from({}), RunContext())
    assert refused.status is Status.ERROR and "decoded video frame has none" in refused.message

    short = tmp_path / "short.avi"
    write_video(short, photo_clip(2, 1.0, size=SIZE))
    out = tmp_path / "out.json"
    assert cli_main(["analyze", str(short), "--case", str(tmp_path / "c"), "--json", str(out)]) == 0
    assert "adq left out: does not apply to video evidence" in capsys.readouterr().err
    [entry] = json.loads(out.read_text())["evidence"]
    ran = {r["analyzer"]: r["status"] for r in entry["results"]}
    assert "adq" not in ran and "nadq" not in ran and ran["ela"] == "ok" and ran["metadata"] == "ok"


def ebml(element_id: int, body: bytes) -> bytes:
    """One EBML element with a 1-byte size (bodies under 127 bytes) or 8-byte size."""
    head = element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
    size = bytes([0x80 | len(body)]) if len(body) < 127 else (0x01 << 56 | len(body)).to_bytes(8, "big")
    return head + size + body


def test_matroska_creation_time_from_the_segment_info(tmp_path: Path) -> None:
    from workbench.core.video import matroska_creation_time

    date = (725_760_000 * 10**9).to_bytes(8, "big", signed=True)  # 2024-01-01 00:00:00 UTC since 2001
    header = ebml(0x1A45DFA3, ebml(0x4282, b"webm"))
    info = ebml(0x1549A966, ebml(0x2AD7B1, (1_000_000).to_bytes(3, "big")) + ebml(0x4461, date))
    segment = ebml(0x18538067, ebml(0xEC, bytes(20)) + info + ebml(0x1F43B675, bytes(200)))
    path = tmp_path / "clip.webm"
    path.write_bytes(header + segment)
    assert matroska_creation_time(path) == "2024-01-01T00:00:00+00:00"
    path.write_bytes(header + ebml(0x18538067, ebml(0xEC, bytes(20))))
    assert matroska_creation_time(path) is None  # no Info element
    path.write_bytes(b"RIFF" + bytes(60))
    assert matroska_creation_time(path) is None  # not Matroska
