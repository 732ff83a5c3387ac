"""The retry schedule: pure helpers, no I/O."""

from __future__ import annotations

import random
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
