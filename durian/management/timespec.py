"""Points in time and durations as operators type them: ``7d``, ``12h``, ``90s``, ISO 8601."""

from __future__ import annotations

import datetime
import re

from django.utils import timezone

_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")


def parse_duration(text: str) -> datetime.timedelta:
    """``"7d"``, ``"12h"``, ``"1h30m"``, ``"45s"``, ``"2w"`` as a timedelta; ``ValueError`` otherwise."""
    cleaned = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError(f"not a duration: {text!r} (use e.g. 7d, 12h, 30m, 1h30m)")
    return datetime.timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def parse_moment(text: str, now: datetime.datetime | None = None) -> datetime.datetime:
    """A point in time: an ISO 8601 date or datetime (naive means the current time zone), or a
    duration meaning that long ago (``"2h"`` is two hours before ``now``)."""
    now = now or timezone.now()
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (use an ISO date/time such as 2026-11-24T08:00, or 12h for 12 hours ago)"
        ) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment
