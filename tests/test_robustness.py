"""The robustness campaign, kept: the generated corpus (`tests.robustness_corpus`: a few hundred
malformed and odd files in 14 categories) run through the CLI in a process of its own, watched for
network use (`tests.offline_cli`), with a time limit; and a model file that would run code when
unpickled, given to `models install`.

A run passes when it exits 0 or 1 with one-line messages (never a traceback), accounts for every path
in the corpus (an item, a duplicate, or skipped with the reason), leaves the corpus exactly as it was
(contents, times, permissions, no new entry), reaches no network, and no analyzer fails on an
exception it did not word for the analyst. Analyzers refuse what they cannot use with a worded
`ValueError` (an image smaller than their window): any other exception is a bug.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import re
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.offline_cli import MARK
from tests.robustness_corpus import paths_to_account, unlock, write_corpus
from workbench.core.names import shown

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 600
"""A hang fails the run (the whole corpus takes about a minute on two shared cores)."""

PRESET_SUBSET = (
    "odd_valid/1x1.png", "odd_valid/1x10000.png", "odd_valid/10000x1.jpg", "odd_valid/7x5_odd.jpg",
    "odd_valid/grey16.png", "odd_valid/rgb48.tif", "odd_valid/float32.tif", "odd_valid/cmyk.jpg",
    "odd_valid/palette_alpha.png", "odd_valid/animated.gif", "odd_valid/orientation6.jpg",
    "exif/exif_many_entries.jpg", "videos/one_frame.mp4", "videos/avi_zero_rate.avi",
)  # fmt: skip
"""The files the default preset (triage: metadata, the fusion localiser and the signals it fuses, faces)
runs on: the shapes, depths and colour models that analyzers with windows, blocks and networks meet
least, and two odd videos (the whole corpus would take minutes)."""

STDERR_LINE = re.compile(r"(case|skipped|duplicate|warning|note|json|workbench: error): |\[\d+/\d+\] "
                         r"|\[ ?(WARN|ERROR|INFO):\d|\[[\w,]+ @ 0x[0-9a-f]+\] ")
"""What each line on the CLI's stderr starts with: its own messages, its progress lines, and the
one-line logs of the native video libraries (OpenCV's, FFmpeg's), which print past Python."""

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")

LISTING = ("import json, sys; from pathlib import Path; from tests.robustness_corpus import paths_to_account; "
           "print(json.dumps(sorted(map(str, paths_to_account(Path(sys.argv[1]))))))")
"""`paths_to_account(argv[1])` as JSON, for a process with the CLI's privileges."""

UNWORDED = re.compile(r"^(?!ValueError: )\w+: .* \(at [\w.]+\.py:\d+\)$", re.DOTALL)
"""An analyzer's error message made from an exception other than a worded ValueError."""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("robustness").resolve() / "corpus"
    write_corpus(root)
    yield root
    unlock(root)


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    connections: int
    """Connections made to the proxy that the run's proxy variables point at."""


@functools.cache
def without_root_reads() -> tuple[str, ...]:
    """A command prefix that takes from root its power to read any file (setpriv dropping the DAC
    capabilities), so that `chmod 000` is unreadable for the CLI as for an investigator's account;
    empty when not root, or where setpriv cannot (then root reads those files: they become items)."""
    prefix = ("setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search")
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("setpriv"):
        return ()
    return prefix if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0 else ()


def run_cli(tmp_path: Path, *args: str | os.PathLike[str]) -> CliRun:
    """Run `tests.offline_cli` (the CLI, network refused) in a process of its own, with the proxy
    variables pointing at a port watched here and no power to read unreadable files; a hang fails the test."""
    trap = socket.create_server(("127.0.0.1", 0))
    proxy = f"http://127.0.0.1:{trap.getsockname()[1]}"
    env = {k: v for k, v in os.environ.items() if k.lower() != "no_proxy"}
    env |= dict.fromkeys(PROXY_VARIABLES, proxy) | {"WORKBENCH_DATA_DIR": str(tmp_path / "data")}
    try:
        done = subprocess.run([*without_root_reads(), sys.executable, "-m", "tests.offline_cli", *map(str, args)],
                              cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT_S)
        connections = _pending(trap)
    finally:
        trap.close()
    decoded = (done.stdout.decode("utf-8", "backslashreplace"), done.stderr.decode("utf-8", "backslashreplace"))
    return CliRun(done.returncode, *decoded, connections)


def _pending(server: socket.socket) -> int:
    """Connections waiting on a listening socket that nothing accepted."""
    server.setblocking(False)
    count = 0
    while True:
        try:
            server.accept()[0].close()
        except BlockingIOError:
            return count
        count += 1


def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under `root`, links not followed: type and permissions, size, modification time,
    a link's target, a readable regular file's SHA-256; a folder's time changes when an entry is added."""
    state: dict[str, tuple[Any, ...]] = {}
    for top, dirs, files in os.walk(root):
        for path in [Path(top)] + [Path(top) / name for name in dirs + files]:
            info = path.lstat()
            digest = target = None
            if stat.S_ISLNK(info.st_mode):
                target = os.readlink(path)
            elif stat.S_ISREG(info.st_mode) and os.access(path, os.R_OK):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            state[str(path)] = (info.st_mode, info.st_size, info.st_mtime_ns, target, digest)
    return state


def paths_the_cli_must_account_for(root: Path) -> set[Path]:
    """`paths_to_account`, listed with the CLI's privileges (without root's reads, a locked folder is
    one path, its contents unseen)."""
    listing = subprocess.run([*without_root_reads(), sys.executable, "-c", LISTING, str(root)], cwd=ROOT,
                             capture_output=True, text=True, check=True, timeout=TIMEOUT_S)
    return set(map(Path, json.loads(listing.stdout)))


def check_messages(run: CliRun) -> None:
    """Exit code 0, or 1 with a last line `workbench: error: ...`; every stderr line one of the CLI's
    (never a traceback, never a line broken by a file name); no network use."""
    tail = run.stderr[-3000:]
    assert "Traceback (most recent call last)" not in run.stderr, tail
    assert run.returncode in (0, 1), tail
    lines = run.stderr.splitlines()
    assert run.returncode == 0 or lines[-1].startswith("workbench: error: "), tail
    assert [line for line in lines if not STDERR_LINE.match(line)] == []
    assert not [line for line in lines if line.startswith(MARK)] and run.connections == 0, "network use"


def analyze(tmp_path: Path, *args: str | os.PathLike[str]) -> tuple[CliRun, dict[str, Any]]:
    """`workbench analyze ARGS` into a case and a JSON file of tmp_path: the run and its JSON."""
    json_path = tmp_path / "out.json"
    run = run_cli(tmp_path, "analyze", *args, "--case", tmp_path / "case", "--json", json_path)
    check_messages(run)
    return run, json.loads(json_path.read_text(encoding="utf-8"))


def check_account(doc: dict[str, Any], expected: set[Path]) -> None:
    """Every path expected is named once (an item, a duplicate, skipped) and no other; no analyzer
    failed on an exception it did not word; no stored run is damaged."""
    named = ([e["path"] for e in doc["evidence"]] + [d["path"] for d in doc["duplicates"]]
             + [s["path"] for s in doc["skipped"]])
    assert sorted(set(named)) == sorted(named), "a path is named twice"
    assert sorted(set(named) ^ {shown(p) for p in expected}) == [], "paths given and paths accounted for differ"
    assert [(e["path"], r["analyzer"], r["message"]) for e in doc["evidence"] for r in e["results"]
            if r["status"] == "error" and UNWORDED.match(r["message"])] == []
    assert doc["damaged_runs"] == []


def test_the_corpus_has_every_category_and_stays_small(corpus: Path) -> None:
    counts = {folder.name: len(paths_to_account(folder)) for folder in corpus.iterdir()}
    assert set(counts) == {"truncated", "bit_flips", "zeroed_headers", "wrong_extensions", "bombs", "exif", "gps",
                           "xmp", "iptc", "icc", "c2pa", "odd_valid", "videos", "filesystem"}
    assert min(counts.values()) >= 10 and 300 <= sum(counts.values()) <= 600, counts
    size = sum(p.lstat().st_size for p in paths_to_account(corpus) if stat.S_ISREG(p.lstat().st_mode))
    assert size < 10_000_000, f"{size:,} bytes"


def test_the_corpus_is_made_again_byte_for_byte(corpus: Path, tmp_path: Path) -> None:
    """Fixed seeds: a failure found in one run is found again. Only the signed C2PA manifests differ
    (the SDK stamps fresh ids and a random nonce)."""
    again = tmp_path / "corpus"
    write_corpus(again)
    try:
        first, second = contents(corpus), contents(again)
    finally:
        unlock(again)
    assert set(first) == set(second)
    assert [name for name in first if first[name] != second[name] and "c2pa_signed" not in name] == []


def contents(root: Path) -> dict[str, tuple[Any, ...]]:
    """Each entry's link target and SHA-256 (`snapshot` without times), by path relative to `root`."""
    return {os.path.relpath(path, root): entry[3:] for path, entry in snapshot(root).items()}


def test_cheap_analyzers_survive_the_whole_corpus(corpus: Path, tmp_path: Path) -> None:
    before = snapshot(corpus)
    run, doc = analyze(tmp_path, corpus, "--analyzers", "metadata,ela")
    check_account(doc, paths_the_cli_must_account_for(corpus))
    assert snapshot(corpus) == before, "the evidence changed"
    assert run.returncode == 1  # the corpus holds files that cannot be evidence
    kinds = {e["kind"] for e in doc["evidence"]}
    assert kinds == {"image", "video"} and len(doc["evidence"]) >= 150
    assert len(doc["skipped"]) >= 100 and doc["duplicates"]
    credentials = {Path(e["path"]).name: r["claims"]["state"] for e in doc["evidence"] for r in e["results"]
                   if r["analyzer"] == "metadata" and Path(e["path"]).parent.name == "c2pa"}
    assert len(credentials) >= 15 and "absent" not in credentials.values(), credentials  # each holds a JUMBF box
    if without_root_reads() or os.geteuid() != 0:
        reasons = {Path(s["path"]).name: s["reason"] for s in doc["skipped"]}
        assert "permission denied" in reasons["unreadable.jpg"] and "cannot list" in reasons["locked folder"]


def test_the_default_preset_survives_odd_images_and_videos(corpus: Path, tmp_path: Path) -> None:
    given = [corpus / name for name in PRESET_SUBSET]
    before = snapshot(corpus)
    _, doc = analyze(tmp_path, *given)
    check_account(doc, set(given))
    assert snapshot(corpus) == before, "the evidence changed"
    assert len(doc["evidence"]) == len(given)


class Payload:
    """Unpickled, it creates `marker`: the shape of a model file that runs code when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("model_id", ["deepfake_xception_dfb", "s2vs_dns"])  # the second allows a pickled class
@pytest.mark.parametrize("container", ["pickle", "torch"])
def test_a_model_file_that_runs_code_is_refused_unrun(tmp_path: Path, model_id: str, container: str) -> None:
    marker, weights = tmp_path / "code ran", tmp_path / f"weights.{'pkl' if container == 'pickle' else 'pth'}"
    if container == "pickle":
        weights.write_bytes(pickle.dumps({"state_dict": Payload(marker)}))
    else:
        import torch

        torch.save({"state_dict": Payload(marker)}, weights)
    pickle.loads(pickle.dumps(Payload(tmp_path / "live")))
    assert (tmp_path / "live").exists(), "the payload runs when unpickled"
    installed = run_cli(tmp_path, "models", "install", model_id, weights)
    assert not marker.exists(), "installing the model ran its code"
    check_messages(installed)
    assert installed.returncode == 1
    assert "cannot be loaded safely" in installed.stderr and "not kept" in installed.stderr
    assert f"{model_id}\tmissing\t" in run_cli(tmp_path, "models", "list").stdout
