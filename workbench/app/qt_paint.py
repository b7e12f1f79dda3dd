"""Painting HTML with figures to PDF using Qt's non-widget modules only (QtGui).

QTextDocument and QPdfWriter paint on any thread (Qt draws the document's images from QImage, not
QPixmap, off the GUI thread), but need a QGuiApplication: the GUI's, or one made here when the CLI
paints on its main thread. Qt cannot make one on another thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _gui_app() -> object:
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance()
    if app is None:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("painting the PDF off the main thread needs the application's QGuiApplication")
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QGuiApplication(["workbench"])
    return app


def to_qimage(rgb: np.ndarray) -> object:
    from PySide6.QtGui import QImage

    rgb = np.ascontiguousarray(rgb[..., :3] if rgb.ndim == 3 else np.stack([rgb] * 3, -1))
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _without_ligatures(font: object) -> object:
    """No ligatures: a hash or file name copied out of the PDF must read "ff", not "ﬀ"."""
    from PySide6.QtGui import QFont

    if hasattr(font, "setFeature"):  # Qt >= 6.7
        for tag in ("liga", "clig"):
            font.setFeature(QFont.Tag(tag), 0)
    return font


PageDone = Callable[[int, int], None]
"""Called after each page with (pages painted, pages in all); it may raise to stop painting."""

TEXT_WIDTH = 680
"""Document pixels (96 per inch) across the text of an A4 page with 15 mm margins: 180 mm."""
MARGIN_MM = 15
FOOTER_PT = 7


def paint_pdf(html: str, figures: dict[str, np.ndarray], path: Path, title: str, footer: str = "",
              page_done: PageDone | None = None) -> int:
    """Paint the document page by page (the footer and "page i of n" at the foot of each) and
    return the number of pages. QTextDocument.print_ would add its own 2 cm margins inside the
    page's and report no progress."""
    from PySide6.QtCore import QMarginsF, QRectF, QSizeF, Qt, QUrl
    from PySide6.QtGui import QFont, QPageLayout, QPageSize, QPainter, QPdfWriter, QTextDocument

    _gui_app()
    if not path.parent.is_dir():
        raise OSError(f"cannot write the report: folder {path.parent} does not exist")
    writer = QPdfWriter(str(path))
    writer.setTitle(title)
    writer.setCreator("Forensic Workbench")
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(*[MARGIN_MM] * 4), QPageLayout.Unit.Millimeter)
    scale = writer.width() / TEXT_WIDTH  # device pixels per document pixel
    footer_font = _without_ligatures(QFont("DejaVu Sans"))
    footer_font.setPointSizeF(FOOTER_PT)
    footer_height = 2.5 * FOOTER_PT / 72 * writer.resolution()
    page_height = (writer.height() - footer_height) / scale

    doc = QTextDocument()
    doc.setDefaultFont(_without_ligatures(doc.defaultFont()))
    doc.setDocumentMargin(0)
    doc.setPageSize(QSizeF(TEXT_WIDTH, page_height))
    for name, image in figures.items():
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), to_qimage(image))
    doc.setHtml(html)
    pages = doc.pageCount()
    painter = QPainter(writer)
    try:
        for page in range(pages):
            if page:
                writer.newPage()
            painter.save()
            painter.scale(scale, scale)
            painter.translate(0, -page * page_height)
            doc.drawContents(painter, QRectF(0, page * page_height, TEXT_WIDTH, page_height))
            painter.restore()
            painter.setFont(footer_font)
            foot = QRectF(0, writer.height() - footer_height / 2, writer.width(), footer_height / 2)
            painter.drawText(foot, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, footer)
            painter.drawText(foot, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
                             f"page {page + 1} of {pages}")
            if page_done is not None:
                page_done(page + 1, pages)
    finally:
        painter.end()
        del writer  # flushes and closes the file
    if not path.is_file() or path.stat().st_size == 0:
        raise OSError(f"cannot write the report to {path}")
    return pages
