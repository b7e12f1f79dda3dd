"""numpy ↔ Qt image conversion for the widgets."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def to_qimage(array: np.ndarray) -> QImage:
    """RGB, RGBA or grey uint8 array → QImage (copied, so the array may be freed)."""
    array = np.ascontiguousarray(array)
    if array.ndim == 2:
        array = np.ascontiguousarray(np.stack([array] * 3, axis=-1))
    h, w, c = array.shape
    fmt = QImage.Format.Format_RGBA8888 if c == 4 else QImage.Format.Format_RGB888
    return QImage(array.data, w, h, c * w, fmt).copy()


def to_pixmap(array: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(to_qimage(array))
