"""A tiny progress bar for management commands: drawn on a terminal, silent otherwise."""

from __future__ import annotations

import time
from typing import TextIO


class ProgressBar:
    """``bar.update(fraction, note)`` redraws at most ten times a second; ``bar.close()`` ends the line."""

    width = 30

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream, self.label = stream, label
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self._drawn = 0.0

    def update(self, fraction: float, note: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn < 0.1:
            return
        self._drawn = now
        fraction = min(1.0, max(0.0, fraction))
        filled = int(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {fraction * 100:5.1f}% {note}\x1b[K")
        self.stream.flush()

    def close(self, note: str = "") -> None:
        if self.enabled:
            self.update(1.0, note, force=True)
            self.stream.write("\n")
            self.stream.flush()
