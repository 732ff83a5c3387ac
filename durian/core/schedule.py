"""The retry schedule: pure helpers, no I/O."""

from __future__ import annotations

import email.utils
import json
import math
import random
import time
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError

#: A listener's own retry schedule (``Listener.retry_schedule``): how many delays, and their bounds (s).
MAX_RETRIES = 20
SHORTEST_DELAY = 1
LONGEST_DELAY = 7 * 24 * 3600


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


def validate_retry_schedule(value: Any) -> None:
    """Raise ``ValidationError`` unless ``value`` is ``None`` (the site's ``DURIAN_RETRY_SCHEDULE``) or
    a list of 1 to ``MAX_RETRIES`` delays in seconds, each a number between 1 s and 7 days.

    The messages say what is wrong, in the JSON the admin form shows: ``0.5``, ``true``, ``"10"``.
    """
    if value is None:
        return
    if not isinstance(value, list | tuple):
        raise ValidationError(
            "The retry schedule must be a list of delays in seconds, such as [10, 60, 300]; %(value)s is not.",
            code="not_a_list",  # not "invalid": a model field puts its own message in place of that code's
            params={"value": _shown(value)},
        )
    if not 1 <= len(value) <= MAX_RETRIES:
        raise ValidationError(
            "The retry schedule needs 1 to %(most)d delays; it has %(count)d. "
            "Leave it empty (null) for the site's schedule.",
            code="length",
            params={"most": MAX_RETRIES, "count": len(value)},
        )
    errors = []
    for delay in value:
        if isinstance(delay, bool) or not isinstance(delay, int | float):
            errors.append(
                ValidationError(
                    "Each delay must be a number of seconds; %(value)s is not.",
                    code="not_a_number",
                    params={"value": _shown(delay)},
                )
            )
        elif not (math.isfinite(delay) and SHORTEST_DELAY <= delay <= LONGEST_DELAY):
            errors.append(
                ValidationError(
                    "Each delay must be between 1 s and 7 days; %(value)s is not.",
                    code="out_of_range",
                    params={"value": _shown(delay)},
                )
            )
    if errors:
        raise ValidationError(errors)


def _shown(value: Any) -> str:
    """``value`` as JSON (as typed in a form), cut short."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"
