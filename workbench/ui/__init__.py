"""The Qt GUI: the only layer that imports PySide6 widgets and pyqtgraph."""
