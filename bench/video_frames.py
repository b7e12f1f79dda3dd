"""Image analyzers on video frames: throughput in video-seconds per wall-clock second.

    .venv/bin/python -m bench.video_frames [--seconds 20] [--out docs/video-frames-speed.md]

A generated 640×480 clip (camera moves over real photos, MPEG-4 part 2). Baseline in the same
process: the naive loop that decodes and converts every frame with `read()` and keeps one per
second, against our sampler that only grabs the frames in between. Then every weight-free image
analyzer through `PerFrame` at one frame per second (decoding included).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import cv2

from bench.report import publish
from workbench.core import registry
from workbench.core.frames import PerFrame, runs_on_frames
from workbench.core.media import open_media
from workbench.core.memory import keep_freed_memory
from workbench.core.plugin import RunContext, run_analyzer
from workbench.synthetic.videos import photo_clip, write_video


def naive_decode(path: Path, every_s: float) -> int:
    cap = cv2.VideoCapture(str(path))
    fps, kept, index = cap.get(cv2.CAP_PROP_FPS), 0, 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if index % round(every_s * fps) == 0:
            kept += rgb.shape[0] > 0
        index += 1
    cap.release()
    return kept


def ours_decode(path: Path, every_s: float) -> int:
    with open_media(path).reader() as reader:
        return sum(f.rgb is not None for f in reader.sample(every_s))


def timed(fn, *args) -> tuple[float, object]:  # noqa: ANN001 - any callable
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    keep_freed_memory()
    folder = Path(tempfile.mkdtemp())
    parts = int(args.seconds // 5)
    frames = [f for i in range(parts) for f in photo_clip(i, 5.0)]
    path = write_video(folder / "bench.mp4", frames)
    media = open_media(path)
    duration = media.video.duration

    naive_s, naive_n = timed(naive_decode, path, 1.0)
    ours_s, ours_n = timed(ours_decode, path, 1.0)
    assert naive_n == ours_n
    lines = [
        "# Image analyzers on video frames: speed",
        "",
        f"Produced by `.venv/bin/python -m bench.video_frames --seconds {args.seconds:g}`.",
        "",
        f"- Input: generated {media.video.width}×{media.video.height} clip, {duration:.1f} s at "
        f"{media.video.fps:g} fps, codec {media.video.codec}",
        f"- Machine: {platform.machine()}, {cv2.getNumberOfCPUs()} logical CPUs, OpenCV {cv2.__version__}",
        "",
        "| step | wall s | video-seconds per second | ratio |",
        "|---|---:|---:|---:|",
        f"| decode every frame with `read()`, keep 1 per s (naive) | {naive_s:.3f} | "
        f"{duration / naive_s:.0f} × | 1.00 |",
        f"| our sampler (grab between samples, convert only kept frames) | {ours_s:.3f} | "
        f"{duration / ours_s:.0f} × | {naive_s / ours_s:.2f} × faster |",
        "",
        "| analyzer at 1 frame/s (decoding included) | wall s | video-seconds per second | status |",
        "|---|---:|---:|---|",
    ]
    for analyzer_id, analyzer in registry.analyzers().items():
        if analyzer.models or not runs_on_frames(analyzer):
            continue  # learned (weights may be missing), or reads the video itself
        seconds, result = timed(run_analyzer, PerFrame(analyzer), media, analyzer.params_from({}), RunContext())
        lines.append(f"| {analyzer_id} | {seconds:.2f} | {duration / seconds:.1f} × | {result.status.value} |")
        print(lines[-1], flush=True)
    publish("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
