"""Waiting on a condition with a generous deadline, instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], timeout: float = 30.0, what: str = "", every: float = 0.05) -> float:
    """Poll ``predicate`` until it holds; returns the seconds it took, fails after ``timeout``."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or 'the condition'}")
        time.sleep(every)
