"""The retry schedule: pure helpers, no I/O."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Sequence


def retry_delay(attempt: int, schedule: Sequence[float], jitter: float = 0.2) -> float | None:
    """Seconds to wait after failed ``attempt`` (1-based), or ``None`` when retries are exhausted.

    ``schedule[i]`` is the delay before attempt ``i + 2``; each delay is spread by ``±jitter``.
    """
    if attempt < 1 or attempt > len(schedule):
        return None
    base = float(schedule[attempt - 1])
    return max(0.0, base * (1 + random.uniform(-jitter, jitter))) if jitter else base


def max_attempts(schedule: Sequence[float]) -> int:
    """How many attempts a delivery gets in all."""
    return len(schedule) + 1


def retry_after(value: str, limit: float, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait, between 0 and ``limit``; ``None`` if unreadable.

    The header holds either seconds (``120``) or an HTTP date (``Wed, 21 Oct 2026 07:28:00 GMT``).
    """
    value = value.strip()
    if value.isascii() and value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(0.0, seconds), max(0.0, limit))
