"""Painting HTML with figures to PDF using Qt's non-widget modules only (QtGui)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _gui_app() -> object:
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance()
    if app is None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QGuiApplication(["workbench"])
    return app


def to_qimage(rgb: np.ndarray) -> object:
    from PySide6.QtGui import QImage

    rgb = np.ascontiguousarray(rgb[..., :3] if rgb.ndim == 3 else np.stack([rgb] * 3, -1))
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def paint_pdf(html: str, figures: dict[str, np.ndarray], path: Path, title: str) -> None:
    from PySide6.QtCore import QMarginsF, QUrl
    from PySide6.QtGui import QFont, QPageLayout, QPageSize, QPdfWriter, QTextDocument

    _gui_app()
    doc = QTextDocument()
    font = doc.defaultFont()
    if hasattr(font, "setFeature"):  # Qt >= 6.7
        # No ligatures: a hash or file name copied out of the PDF must read "ff", not "ﬀ".
        for tag in ("liga", "clig"):
            font.setFeature(QFont.Tag(tag), 0)
        doc.setDefaultFont(font)
    for name, image in figures.items():
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), to_qimage(image))
    doc.setHtml(html)
    writer = QPdfWriter(str(path))
    writer.setTitle(title)
    writer.setCreator("Forensic Workbench")
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter)
    if not path.parent.is_dir():
        raise OSError(f"cannot write the report: folder {path.parent} does not exist")
    doc.print_(writer)
    del writer  # flushes and closes the file
    if not path.is_file() or path.stat().st_size == 0:
        raise OSError(f"cannot write the report to {path}")
