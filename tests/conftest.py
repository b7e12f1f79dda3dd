"""Shared fixtures: real test images written to tmp_path, bad files of every kind, isolation.

Qt: one QApplication (pytest-qt's `qapp`) is made before any test, with QtWebEngine imported
before it as QtWebEngine requires. No test writes to the user's data folder:
`WORKBENCH_DATA_DIR` points at a temporary folder for every test.
"""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
try:  # QtWebEngine must be imported before any QApplication exists (the map panel's web view)
    import PySide6.QtWebEngineWidgets  # noqa: E402, F401
except ImportError:
    pass

from workbench.app.case import Case  # noqa: E402
from workbench.app.sample import jpeg_bytes, load_photo, make_splice  # noqa: E402

SPLICE_AT = (300, 330)
"""(row, col) where `spliced_jpeg` pastes a 140×160 patch of coffee.png into astronaut.png."""

BOMB_SIZE = (30000, 30000)

# kind -> (file name, words the MediaError message must contain, case-insensitive)
BAD_FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "empty": ("empty.jpg", ("empty", "0 bytes")),
    "truncated": ("truncated.jpg", ("truncated",)),
    "bomb": ("bomb.png", ("30000×30000", "900 megapixels", "limit of 100 megapixels", "decompression bomb")),
    "text_as_jpg": ("notes.jpg", ("not a supported image format",)),
    "pdf": ("document.pdf", ("not a supported image format",)),
    "random_bytes": ("random.bin", ("not a supported image format",)),
    "missing": ("does_not_exist.jpg", ("no such file",)),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking `bad_kind` runs once for each kind of unusable file in BAD_FILES."""
    if "bad_kind" in metafunc.fixturenames:
        metafunc.parametrize("bad_kind", list(BAD_FILES))


_GC: list = []  # the session's collector (pyqtgraph's GarbageCollector)


@pytest.fixture(scope="session", autouse=True)
def _widgets_application(qapp: object) -> Iterator[object]:
    """One QApplication for the whole run, made first: the PDF painter would otherwise make a
    QGuiApplication (QtGui only, as in the CLI), after which no widget test could run. Garbage is
    collected in the GUI thread only, as in the app (a job thread collecting widgets crashes Qt)."""
    from workbench.ui.app import collect_garbage_in_gui_thread

    _GC.append(collect_garbage_in_gui_thread())
    yield qapp
    _GC.pop().timer.stop()


@pytest.fixture(autouse=True)
def _collect_garbage_between_tests(_widgets_application: object) -> Iterator[None]:
    """With automatic collection off, Python's usual generational policy is applied here after each
    test, on the main thread (a full collection every test would cost ~0.1 s each)."""
    yield
    _GC[0].check()


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The application's own data folder (CLI cases, sample case) lives in a temporary folder."""
    path = tmp_path_factory.mktemp("workbench-data")
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut.png, RGB uint8 512×512 (read-only)."""
    rgb = load_photo("astronaut.png")
    rgb.setflags(write=False)
    return rgb


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    """scikit-image's coffee.png, RGB uint8 400×600 (read-only)."""
    rgb = load_photo("coffee.png")
    rgb.setflags(write=False)
    return rgb


def _png_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(rgb)).save(buf, "PNG")
    return buf.getvalue()


def _bomb_png_bytes(width: int, height: int) -> bytes:
    """A tiny valid 1-bit PNG whose IHDR claims width×height (with a correct CRC)."""
    buf = io.BytesIO()
    Image.new("1", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.fixture
def evidence_dir(tmp_path: Path) -> Path:
    """An empty evidence folder (kept apart from cases and outputs)."""
    folder = tmp_path / "evidence"
    folder.mkdir()
    return folder


@pytest.fixture
def jpeg_photo(evidence_dir: Path, astronaut: np.ndarray) -> Path:
    """A real photo saved as a quality-90 JPEG (512×512)."""
    path = evidence_dir / "photo.jpg"
    path.write_bytes(jpeg_bytes(np.asarray(astronaut), 90))
    return path


@pytest.fixture
def zero_qtable_jpeg(evidence_dir: Path, astronaut: np.ndarray) -> Path:
    """A quality-90 JPEG (128×128) whose quantisation tables were patched to zeros: decoders still
    read it, but a zero step is invalid in JPEG (a damaged or crafted file)."""
    data = bytearray(jpeg_bytes(np.asarray(astronaut)[:128, :128], 90))
    for segment in re.finditer(rb"\xff\xdb", bytes(data)):  # every DQT segment: its tables after the length
        at, end = segment.end() + 2, segment.start() + 2 + int.from_bytes(data[segment.end() : segment.end() + 2])
        while at < end:
            size = 128 if data[at] >> 4 else 64  # 16- or 8-bit steps
            data[at + 1 : at + 1 + size] = bytes(size)
            at += 1 + size
    path = evidence_dir / "zero_qtable.jpg"
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def png_image(evidence_dir: Path, coffee: np.ndarray) -> Path:
    """A real photo saved as PNG (600 wide × 400 high)."""
    path = evidence_dir / "coffee.png"
    path.write_bytes(_png_bytes(coffee))
    return path


@pytest.fixture
def spliced_jpeg(evidence_dir: Path, astronaut: np.ndarray, coffee: np.ndarray) -> tuple[Path, np.ndarray]:
    """A quality-90 JPEG with a pasted region, and its exact boolean mask (H×W)."""
    data, mask = make_splice(np.asarray(astronaut), np.asarray(coffee)[90:230, 190:350], SPLICE_AT)
    path = evidence_dir / "spliced.jpg"
    path.write_bytes(data)
    return path, mask


@pytest.fixture
def make_bad_file(tmp_path: Path, astronaut: np.ndarray) -> Callable[[str], tuple[Path, tuple[str, ...]]]:
    """Factory: `make_bad_file(kind)` writes an unusable file of that kind (see BAD_FILES) into
    tmp_path/"bad" and returns its path and the words its error message must contain."""
    folder = tmp_path / "bad"
    folder.mkdir(exist_ok=True)

    def make(kind: str) -> tuple[Path, tuple[str, ...]]:
        name, words = BAD_FILES[kind]
        path = folder / name
        if kind == "empty":
            path.write_bytes(b"")
        elif kind == "truncated":
            data = jpeg_bytes(np.asarray(astronaut), 90)
            path.write_bytes(data[: len(data) // 2])
        elif kind == "bomb":
            path.write_bytes(_bomb_png_bytes(*BOMB_SIZE))
        elif kind == "text_as_jpg":
            path.write_text("These are case notes, not a photo.\n" * 20, encoding="utf-8")
        elif kind == "pdf":
            path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n"
                             b"trailer << /Root 1 0 R >>\n%%EOF\n")
        elif kind == "random_bytes":
            path.write_bytes(np.random.default_rng(1234).bytes(4096))
        elif kind != "missing":
            raise KeyError(kind)
        return path, words

    return make


@pytest.fixture
def case(tmp_path: Path) -> Iterator[Case]:
    """A new, empty case in tmp_path/"case", closed after the test."""
    c = Case.create(tmp_path / "case", name="Test case", analyst="Test Analyst")
    yield c
    try:
        c.close()
    except Exception:  # noqa: BLE001 - the test may have closed it already
        pass

