"""Durations in words, for reasons and emails a person reads: pure helpers, no I/O."""

from __future__ import annotations


def in_words(seconds: float) -> str:
    """``"5 day(s)"``, ``"1.5 hour(s)"``, ``"12 minute(s)"`` or ``"30 s"`` (days and hours to a tenth)."""
    if seconds >= 86400:
        return f"{round(seconds / 86400, 1):g} day(s)"
    if seconds >= 3600:
        return f"{round(seconds / 3600, 1):g} hour(s)"
    if seconds >= 60:
        return f"{round(seconds / 60):g} minute(s)"
    return f"{seconds:g} s"
