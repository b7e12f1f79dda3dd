"""What the CLI writes on stderr: messages of one line each (`say`), and progress: one updating line
on a terminal, a few coarse lines otherwise.

Stderr piped to a file or a CI log is read afterwards: a line per progress callback (hundreds per
item) buried the warnings and the error line there, so only each quarter of a task is written.
Everything written passes through `one_line`: file names reach stderr, and a name can hold a newline
or a terminal's escape sequence.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO

from workbench.core.names import one_line

STEPS = 4
"""Lines per task when stderr is not a terminal: at 25, 50, 75 and 100 % (and one at the start)."""
REDRAW_S = 0.1
"""Shortest time between two redraws of the terminal line (callbacks can come every millisecond)."""


def say(message: str) -> None:
    """One line on stderr, whatever the file names in `message` hold; written at once (print writes the
    line's end apart, and a warning from an analyzer's thread would end up inside a progress line)."""
    sys.stderr.write(one_line(message) + "\n")
    sys.stderr.flush()


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
    """`warnings.showwarning` for the CLI: a library's warning (Pillow's "Corrupt EXIF data" on a damaged
    file, PyTorch's on an old pickle) as one `warning:` line, not the library's file name and code."""
    say(f"warning: {message}")


class ProgressLine:
    """Callbacks (fraction, message) for a sequence of tasks. They must not be called from two threads
    at once (`analysis.run_plan` reports its parallel analyses under one lock)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty()
        self._open = False
        """A terminal line is drawn and not yet ended."""
        self._step = -1
        self._drawn_at = 0.0

    def task(self, label: str) -> Callable[[float, str], None]:
        """The progress callback of the next task; `label` leads each of its lines."""
        self.end()
        self._step = -1

        def report(fraction: float, message: str = "") -> None:
            text = one_line(f"{label}: {message} ({fraction:.0%})" if message else f"{label} ({fraction:.0%})")
            if self.terminal:
                self._redraw(text, fraction)
            else:
                self._coarse(text, fraction)

        return report

    def end(self) -> None:
        """End the terminal line, so that the next message starts on a line of its own."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

    def _redraw(self, text: str, fraction: float) -> None:
        now = time.monotonic()
        if self._open and fraction < 1.0 and now - self._drawn_at < REDRAW_S:
            return
        self._drawn_at = now
        width = max(20, shutil.get_terminal_size().columns - 1)
        self.stream.write("\r" + text[:width] + "\x1b[K")  # erase what a longer previous text left
        self.stream.flush()
        self._open = True

    def _coarse(self, text: str, fraction: float) -> None:
        step = int(min(max(fraction, 0.0), 1.0) * STEPS + 1e-9)
        if step > self._step:
            self._step = step
            self.stream.write(text + "\n")
            self.stream.flush()
